"""A panel module whose own import fails on a missing dependency (not the panel module itself)."""
import ganstudio_no_such_dependency  # noqa: F401

class BrokenPanel:  # pragma: no cover - never reached
    pass
