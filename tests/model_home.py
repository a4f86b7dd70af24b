"""Test helper (not a test module): an isolated GAN Studio home with a private bundled models folder.

Import it from any test file (tests/ is on sys.path through tests/conftest.py):
``from model_home import isolated_model_home``.
"""
from __future__ import annotations

from pathlib import Path


def isolated_model_home(tmp_path: Path, monkeypatch) -> Path:
    """GANSTUDIO_HOME=<tmp>/home and GANSTUDIO_MODELS_DIR=<tmp>/models (with an empty manifest/ folder);
    returns ``tmp_path``."""
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    models = tmp_path / "models"
    (models / "manifest").mkdir(parents=True)
    monkeypatch.setenv("GANSTUDIO_MODELS_DIR", str(models))
    return tmp_path
