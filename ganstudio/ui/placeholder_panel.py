"""The tab shown for a task whose engine has not landed yet: it says so plainly."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class PlaceholderPanel(QWidget):
    """A centred title and one sentence. Has none of the optional panel methods, so the window never
    routes files here."""

    def __init__(self, title: str, message: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.title = title
        self.message = message
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        head = QLabel(title, self)
        head.setObjectName("placeholderTitle")
        head.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QLabel(message, self)
        body.setObjectName("placeholderText")
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body.setWordWrap(True)
        layout.addWidget(head)
        layout.addWidget(body)
        layout.addStretch(2)
