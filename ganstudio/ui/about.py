"""Help > About: the app version, Python / Qt / PySide6 versions, and torch + the device in use.

Torch's side (version, device) comes from the worker job ``ganstudio.engines.sysinfo:system_info`` (the
UI never imports torch); until it has answered the dialog says "checking…" and ``set_info`` fills it in.
"""
from __future__ import annotations

import html
import platform
import sys
from typing import Optional

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget


def app_version() -> str:
    # The package is necessarily imported already (this module lives in it). Importing the name from
    # `ganstudio` would make import-linter follow ganstudio.load_model's lazy torch import into the ui.
    return getattr(sys.modules.get("ganstudio"), "__version__", "?")


def version_lines(info: Optional[dict]) -> list[tuple[str, str]]:
    """(name, value) pairs shown in the dialog; ``info`` is system_info()'s dict or None (pending)."""
    lines = [
        ("GAN Studio", app_version()),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", PySide6.__version__),
    ]
    if info is None:
        lines += [("torch", "checking…"), ("Device", "checking…")]
    elif info.get("failed"):
        lines += [("torch", "unavailable"), ("Device", info["failed"])]
    else:
        torch_text = info.get("torch", "?")
        if info.get("cuda"):
            torch_text += f" (CUDA {info['cuda']})"
        precision = info.get("precision", "fp32")
        if info.get("precision_setting") == "auto":  # say what the automatic choice is on this device
            precision = f"{precision} (automatic)"
        lines += [("torch", torch_text),
                  ("Device", info.get("device_description") or info.get("device_text", "?")),
                  ("Precision", precision)]
    return lines


class AboutDialog(QDialog):
    def __init__(self, info: Optional[dict] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About GAN Studio")
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "<h2>GAN Studio</h2><p>GAN engines (SPADE, StyleGAN2 / DCGAN, CycleGAN / pix2pix, "
            "ESRGAN / Real-ESRGAN) behind one desktop interface.</p>", self)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.versions = QLabel(self)
        self.versions.setObjectName("aboutVersions")
        self.versions.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.versions)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.set_info(info)

    def set_info(self, info: Optional[dict]) -> None:
        self._info = info
        rows = "".join(f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(str(v))}</td></tr>"
                       for k, v in version_lines(info))
        self.versions.setText(f"<table>{rows}</table>")

    def text(self) -> str:
        """The versions as plain text (for tests and for copying into a bug report)."""
        return "\n".join(f"{k}: {v}" for k, v in version_lines(self._info))
