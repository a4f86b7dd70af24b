"""The Latent tab's model row: a list of the latent models (bundled, then the user's library, then files opened
this session), "Open file…", one line about the open model, and the question asked before loading the model an
image's recipe names ("This image was made with X (path). Load it?"): never loaded unasked."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.latent.session import MODEL_SUFFIXES, ModelChoice, model_choices

NONE_TEXT = "(no latent model yet: Open file…, or Models > Model manager)"
OPEN_FILTER = "Generators (" + " ".join(f"*{s}" for s in MODEL_SUFFIXES) + ");;All files (*)"
KIND = Qt.ItemDataRole.UserRole + 1  # "file" (opened this session), "present" / "absent" (manifest entries)


class LoadPrompt(QFrame):
    """An inline question with the model's path in full: Load / Not now. Non-modal: nothing waits on it."""

    accepted = Signal(str)  # the model path to load

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.model = ""
        self.text = QLabel("", self)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.load_btn = QPushButton("Load it", self)
        self.no_btn = QPushButton("Not now", self)
        self.load_btn.clicked.connect(self._accept)
        self.no_btn.clicked.connect(self.dismiss)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.load_btn)
        lay.addWidget(self.no_btn)
        self.setVisible(False)

    def ask(self, model: str, question: str) -> None:
        self.model = model
        self.text.setText(question)
        self.setToolTip(model)
        self.setVisible(True)

    def dismiss(self) -> None:
        self.model = ""
        self.setVisible(False)

    @Slot()
    def _accept(self) -> None:
        model = self.model
        self.dismiss()
        if model:
            self.accepted.emit(model)


class ModelBar(QWidget):
    chosen = Signal(str)  # a model reference (manifest id or file path) the user picked
    missing = Signal(str)  # the user picked a listed model whose file is not here: what to do

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox(self)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(18)
        self.combo.setToolTip("StyleGAN2 / DCGAN generators: the bundled ones, your library (Models > Model "
                              "manager) and files you opened (or dropped on this tab)")
        self.open_btn = QPushButton("Open file…", self)
        self.open_btn.setToolTip("a StyleGAN2 checkpoint (rosinality .pt with g_ema, or NVIDIA's StyleGAN2-ADA "
                                 ".pkl, read without running the code inside) or a DCGAN netG_*.pth")
        self.open_btn.clicked.connect(self._browse)
        self.info = QLabel("no model", self)
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.prompt = LoadPrompt(self)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Model", self))
        top.addWidget(self.combo, 2)
        top.addWidget(self.open_btn)
        top.addWidget(self.info, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(self.prompt)
        self.choices: list[ModelChoice] = []
        self.refresh()
        self.combo.activated.connect(self._on_activated)

    def refresh(self) -> None:
        """(Re)list the manifest's latent models, keeping files already listed and the current choice."""
        current = self.current_ref()
        files = [(self.combo.itemText(i), self.combo.itemData(i)) for i in range(self.combo.count())
                 if self.combo.itemData(i, KIND) == "file"]
        self.choices = model_choices()
        self.combo.blockSignals(True)
        self.combo.clear()
        for text, ref in files:
            self._add_item(text, ref, "file", ref)
        for c in self.choices:
            self._add_item(c.label, c.ref, "present" if c.present else "absent", c.tooltip)
        if self.combo.count() == 0:
            self.combo.addItem(NONE_TEXT, None)
        idx = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(idx if idx >= 0 else (0 if self.combo.itemData(0) is None else -1))
        self.combo.blockSignals(False)

    def pick(self, ref: str) -> bool:
        """Re-list, then choose ``ref`` as a click in the list would (a model here is loaded; one not on this
        machine says what to do). False when the list has no such model, or it is not on this machine."""
        self.refresh()
        idx = self.combo.findData(ref)
        if idx < 0:
            return False
        self.combo.setCurrentIndex(idx)
        self._on_activated(idx)
        return self.combo.itemData(idx, KIND) != "absent"

    def _add_item(self, text: str, ref: str, kind: str, tooltip: str, at: int | None = None) -> int:
        i = self.combo.count() if at is None else at
        self.combo.insertItem(i, text, ref)
        self.combo.setItemData(i, tooltip, Qt.ItemDataRole.ToolTipRole)
        self.combo.setItemData(i, kind, KIND)
        return i

    def current_ref(self) -> str:
        i = self.combo.currentIndex()
        if i < 0 or self.combo.itemData(i, KIND) == "absent":
            return ""
        return self.combo.itemData(i) or ""

    def show_model(self, ref: str) -> None:
        """Select ``ref`` in the list (a file not listed yet is added at the top), without emitting."""
        self.combo.blockSignals(True)
        if not ref:
            self.combo.setCurrentIndex(0 if self.combo.itemData(0) is None else -1)
        else:
            idx = self.combo.findData(ref)
            if idx < 0:
                idx = self._add_item(Path(ref).name, ref, "file", ref, at=0)
            self.combo.setCurrentIndex(idx)
        self.combo.blockSignals(False)

    def set_info(self, text: str, tooltip: str = "") -> None:
        self.info.setText(text)
        self.info.setToolTip(tooltip)

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        ref = self.combo.itemData(index)
        if not ref:
            return
        if self.combo.itemData(index, KIND) == "absent":
            choice = next((c for c in self.choices if c.ref == ref), None)
            self.missing.emit(f"{ref} is not on this machine. " + (choice.tooltip.split("\n\n")[-1] if choice
                                                                   else ""))
            return
        self.chosen.emit(ref)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a StyleGAN2 or DCGAN generator", "", OPEN_FILTER)
        if path:
            self.chosen.emit(path)
