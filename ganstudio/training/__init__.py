"""Training: one loop, one recipe per network family (see README Architecture)."""
