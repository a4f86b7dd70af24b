"""``FolderField``: a folder path typed in a line edit or picked with its "…" button (the batch rows of the
Stylize and Upscale panels). Picking a folder fills the edit and emits ``chosen(path)``."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class FolderField(QWidget):
    chosen = Signal(str)  # a folder picked with the "…" button

    def __init__(self, placeholder: str, dialog_title: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.dialog_title = dialog_title
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.button = QPushButton("…", self)
        self.button.setFixedWidth(32)
        self.button.clicked.connect(self.browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)

    def browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self.dialog_title, self.edit.text())
        if folder:
            self.edit.setText(folder)
            self.chosen.emit(folder)
