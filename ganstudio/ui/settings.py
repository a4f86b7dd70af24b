"""Typed access to the app's persistent settings (QSettings).

Where they live: with ``GANSTUDIO_HOME`` set (the tests set it), an INI file
``$GANSTUDIO_HOME/settings.ini``, so tests never touch the user's real settings; otherwise the
platform's native store for organisation "GANStudio" / application "GAN Studio" (set in app.py).

Every getter validates what it reads: a hand-edited or stale settings file falls back to the default
instead of breaking start-up.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, QSettings

ORG_NAME = "GANStudio"
APP_NAME = "GAN Studio"
HOME_ENV = "GANSTUDIO_HOME"

# the same choices as ganstudio.runtime.PRECISION_CHOICES (the UI never imports torch, so they are written
# here; tests/ui/test_main_window.py checks they agree). "auto" is the default everywhere.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
PRECISION_LABELS = {"auto": "Automatic (fp16 on CUDA, bf16 on CPUs with bf16 units, else fp32)",
                    "fp32": "fp32 (full precision)", "fp16": "fp16", "bf16": "bf16"}
THEMES = ("light", "dark")
MAX_RECENT = 10
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def settings_file() -> Optional[Path]:
    """The INI file used when GANSTUDIO_HOME is set, else None (native store)."""
    home = os.environ.get(HOME_ENV, "").strip()
    return Path(home).expanduser() / "settings.ini" if home else None


def make_qsettings() -> QSettings:
    path = settings_file()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return QSettings(str(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, ORG_NAME, APP_NAME)


def _as_list(value) -> list[str]:
    # QSettings (INI) gives back a lone string for a one-item list and None for an empty one
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class Settings:
    """The settings the shell knows about. Panels may keep their own keys via ``value``/``set_value``
    under a group named after the panel (e.g. ``"upscale/tile"``)."""

    def __init__(self, qsettings: Optional[QSettings] = None) -> None:
        self.q = qsettings if qsettings is not None else make_qsettings()

    # -- generic -------------------------------------------------------------------------------
    def value(self, key: str, default=None):
        return self.q.value(key, default)

    def set_value(self, key: str, value) -> None:
        self.q.setValue(key, value)

    def sync(self) -> None:
        self.q.sync()

    # -- device / precision / theme ----------------------------------------------------------------
    @property
    def device(self) -> str:
        """"auto", "cpu", "mps", "cuda" or "cuda:N"."""
        v = str(self.q.value("compute/device", "auto") or "auto")
        return v if _DEVICE_RE.match(v) else "auto"

    @device.setter
    def device(self, value: str) -> None:
        if not _DEVICE_RE.match(value):
            raise ValueError(f"unknown device {value!r}")
        self.q.setValue("compute/device", value)

    @property
    def precision(self) -> str:
        """"auto" (the default: see ganstudio.runtime), "fp32", "fp16" or "bf16"."""
        v = str(self.q.value("compute/precision", "auto") or "auto")
        return v if v in PRECISIONS else "auto"

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in PRECISIONS:
            raise ValueError(f"unknown precision {value!r} (one of {', '.join(PRECISIONS)})")
        self.q.setValue("compute/precision", value)

    @property
    def theme(self) -> str:
        v = str(self.q.value("view/theme", "light") or "light")
        return v if v in THEMES else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        if value not in THEMES:
            raise ValueError(f"unknown theme {value!r}")
        self.q.setValue("view/theme", value)

    # -- folders ---------------------------------------------------------------------------------
    def last_dir(self, kind: str = "open") -> str:
        """Last folder used for ``kind`` ("open", "folder", "export", "import"), or the home folder."""
        v = str(self.q.value(f"folders/{kind}", "") or "")
        return v if v and Path(v).is_dir() else str(Path.home())

    def set_last_dir(self, kind: str, path: str | Path) -> None:
        p = Path(path)
        self.q.setValue(f"folders/{kind}", str(p if p.is_dir() else p.parent))

    # -- recent files -------------------------------------------------------------------------------
    @property
    def recent_files(self) -> list[str]:
        return _as_list(self.q.value("recent/files", []))[:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        files = [f for f in self.recent_files if f != p]
        files.insert(0, p)
        files = files[:MAX_RECENT]
        self.q.setValue("recent/files", files)
        return files

    def remove_recent_file(self, path: str) -> None:
        self.q.setValue("recent/files", [f for f in self.recent_files if f != path])

    def clear_recent_files(self) -> None:
        self.q.setValue("recent/files", [])

    # -- window ---------------------------------------------------------------------------------
    @property
    def geometry(self) -> Optional[QByteArray]:
        v = self.q.value("window/geometry")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.q.setValue("window/geometry", value)

    @property
    def window_state(self) -> Optional[QByteArray]:
        v = self.q.value("window/state")
        return v if isinstance(v, QByteArray) and not v.isEmpty() else None

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self.q.setValue("window/state", value)

    @property
    def current_tab(self) -> str:
        return str(self.q.value("window/tab", "") or "")

    @current_tab.setter
    def current_tab(self, value: str) -> None:
        self.q.setValue("window/tab", value)
