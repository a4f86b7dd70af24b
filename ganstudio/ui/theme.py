"""Light and dark themes: the Fusion style, a palette, and a small style sheet from resources/themes/.

The palette does the heavy lifting (every standard widget follows it); the .qss files only add a few
touches (tab padding, status bar labels, placeholder text), so a missing resources folder (e.g. an
installed wheel without it) degrades to the plain palette rather than failing.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

log = logging.getLogger(__name__)

THEMES_DIR = Path(__file__).resolve().parents[2] / "resources" / "themes"
THEMES = ("light", "dark")


def _dark_palette() -> QPalette:
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(225, 225, 225)
    disabled = QColor(127, 127, 127)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor(40, 40, 43))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor(50, 50, 50))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, disabled)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.Button, window)
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    p.setColor(QPalette.ColorRole.Link, QColor(90, 160, 255))
    p.setColor(QPalette.ColorRole.Highlight, QColor(60, 120, 200))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def stylesheet(name: str) -> str:
    path = THEMES_DIR / f"{name}.qss"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        log.warning("theme style sheet %s not found; using the palette only", path)
        return ""


def apply_theme(name: str, app: QApplication | None = None) -> str:
    """Apply "light" or "dark" to the application; returns the name applied."""
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r} (one of {', '.join(THEMES)})")
    app = app or QApplication.instance()
    app.setStyle("Fusion")
    if name == "dark":
        app.setPalette(_dark_palette())
    else:
        app.setPalette(app.style().standardPalette())
    app.setStyleSheet(stylesheet(name))
    app.setProperty("ganstudio_theme", name)
    return name


def current_theme(app: QApplication | None = None) -> str:
    app = app or QApplication.instance()
    value = app.property("ganstudio_theme") if app is not None else None
    return value if value in THEMES else "light"
