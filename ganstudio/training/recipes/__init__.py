"""One training recipe per network family (see training/recipe.py for the contract)."""
