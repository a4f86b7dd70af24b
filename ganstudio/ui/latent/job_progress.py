"""A job's progress row: bar, message with ETA, and a Cancel / Stop button that is enabled only while the job runs.

Bound to one or more ``JobSlot``s (the row follows whichever started last). Cancel says "Cancelling…" at once
and "Cancelled" when the job has ended; the bar goes away with the job, whatever way it ended.
"""
from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ganstudio.core.progress import format_eta
from ganstudio.workers.jobs import JobSlot


class JobProgressRow(QWidget):
    def __init__(self, cancel_text: str = "Cancel", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.label = QLabel("", self)
        self.button = QPushButton(cancel_text, self)
        self.button.setEnabled(False)
        self.button.setToolTip("Stop the running job (it stops within about a second)")
        self.button.clicked.connect(self.cancel)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.label, 2)
        lay.addWidget(self.button)
        self.bar.setVisible(False)
        self._slots: list[JobSlot] = []
        self._current: JobSlot | None = None

    def bind(self, slot: JobSlot) -> None:
        self._slots.append(slot)
        slot.running_changed.connect(self._on_running)
        slot.progress.connect(self._on_progress)
        slot.cancelled.connect(self._on_cancelled)

    def current(self) -> JobSlot | None:
        return self._current

    @Slot()
    def cancel(self) -> None:
        slot = self._current
        if slot is not None and slot.cancel():
            self.label.setText("Cancelling…")
            self.button.setEnabled(False)

    @Slot(bool)
    def _on_running(self, running: bool) -> None:
        slot = self.sender()
        if running:
            self._current = slot
            self.bar.setValue(0)
            self.bar.setVisible(True)
            self.label.setText("starting…")
            self.button.setEnabled(True)
        elif slot is self._current:
            self._current = None
            self.bar.setVisible(False)
            self.button.setEnabled(False)
            if self.label.text() != "Cancelling…":
                self.label.setText("")

    @Slot(object)
    def _on_progress(self, p) -> None:
        if self.sender() is not self._current or self.label.text() == "Cancelling…":
            return
        if p.total:
            self.bar.setValue(int(1000 * p.fraction))
        eta = (p.extra or {}).get("eta_s")
        text = p.message or ""
        if eta is not None:
            text = f"{text} · ETA {format_eta(eta)}" if text else f"ETA {format_eta(eta)}"
        self.label.setText(text)

    @Slot()
    def _on_cancelled(self) -> None:
        if self._current is None or self.sender() is self._current:
            self.label.setText("Cancelled")
