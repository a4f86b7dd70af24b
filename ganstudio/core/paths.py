"""Where GAN Studio keeps things: the user's data, cache and model library, and the bundled models/.

The user's own models and downloads live in the platform's user data dir (platformdirs), never in the
install tree. Setting the environment variable ``GANSTUDIO_HOME`` moves everything under that one
folder (``data/``, ``cache/``); the tests set it so they never touch a real user's folders.

The ``user_*`` functions create their folder on first use; ``bundled_models_dir`` never writes.
"""
from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "GANStudio"
APP_AUTHOR = "GANStudio"
HOME_ENV = "GANSTUDIO_HOME"

# models/ at the root of the source checkout (ganstudio/core/paths.py -> ../../models)
_REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def user_data_dir() -> Path:
    """Per-user data folder (settings side files, the model library). Created if missing."""
    home = _home()
    if home is not None:
        return _ensure(home / "data")
    import platformdirs

    return _ensure(Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)))


def user_cache_dir() -> Path:
    """Per-user cache folder (converted weights, thumbnails): safe to delete. Created if missing."""
    home = _home()
    if home is not None:
        return _ensure(home / "cache")
    import platformdirs

    return _ensure(Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR)))


def user_models_dir() -> Path:
    """The user's model library: imported checkpoints, downloads, and ``library.json``. Created if missing."""
    return _ensure(user_data_dir() / "models")


def library_manifest_path() -> Path:
    """The JSON manifest of the user's library (same shape as models/manifest/*.json)."""
    return user_models_dir() / "library.json"


def bundled_models_dir() -> Path:
    """The project's own models/ folder (manifests + the small weights the project ships).

    ``GANSTUDIO_MODELS_DIR`` overrides it (useful for packaging and for tests); nothing is created.
    """
    value = os.environ.get("GANSTUDIO_MODELS_DIR", "").strip()
    return Path(value).expanduser() if value else _REPO_MODELS


def bundled_manifest_dir() -> Path:
    """models/manifest/: one JSON file per task (upscale.json, stylize.json, latent.json, paint.json)."""
    return bundled_models_dir() / "manifest"
