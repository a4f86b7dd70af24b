"""``ModelFetchBar``: "this model is not on this machine" next to a model picker, with the button that does
the next step — Download (with progress and Cancel) where the manifest has a direct address, Import… (pick
the file) where it has none or the release is an archive to fetch in a browser.

A panel puts the bar under its model picker, calls ``show_entry(entry)`` when the user picks a model whose
file is missing (``core.manifest.entry_path(entry) is None``) and ``clear()`` when they pick a present one,
and connects ``fetched(model_id)`` to use the model once it is there. The work runs as the model library's
worker jobs (``ganstudio.checkpoints.library_jobs``), so the window never waits.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from ganstudio.core.manifest import ModelEntry, format_size
from ganstudio.core.progress import Progress
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot

DOWNLOAD_TARGET = "ganstudio.checkpoints.library_jobs:download_model"
IMPORT_TARGET = "ganstudio.checkpoints.library_jobs:import_checkpoint"
CHECKPOINT_FILTER = "Checkpoints (*.pth *.pt *.ckpt *.safetensors *.bin);;All files (*)"


def can_download(entry: ModelEntry) -> bool:
    """A direct address: the manifest's URL is the file itself (not a page or an archive to unpack)."""
    return bool(entry.url) and not entry.extra.get("archive")


class ModelFetchBar(QWidget):
    fetched = Signal(str)  # the id of the model that is now on this machine
    message = Signal(str)  # what happened, for the panel's status line

    def __init__(self, parent: Optional[QWidget] = None, task: str = "") -> None:
        super().__init__(parent)
        self.task = task
        self.entry: Optional[ModelEntry] = None
        self.job = JobSlot(self, "get model", policy="exclusive")
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.running_changed.connect(self._on_running)
        self.text = QLabel(self)
        self.text.setWordWrap(True)
        self.text.setOpenExternalLinks(True)
        self.action = QPushButton(self)
        self.action.clicked.connect(self._on_action)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setMaximumWidth(160)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.progress)
        row.addWidget(self.action)
        row.addWidget(self.cancel_button)
        self.hide()

    # ------------------------------------------------------------------------------------------ state
    def show_entry(self, entry: ModelEntry) -> None:
        """Say that ``entry`` is missing and offer the next step."""
        if self.job.is_running():
            return  # one fetch at a time: its progress stays on screen
        self.entry = entry
        size = f" ({format_size(entry.size_bytes)})" if entry.size_bytes else ""
        if can_download(entry):
            self.text.setText(f"{html.escape(entry.id)} is not on this machine yet{size}: download it here.")
            self.action.setText("Download")
            self.action.setToolTip(entry.url)
        else:
            where = ""
            if entry.url:
                archive = entry.extra.get("archive")
                what = f"it comes in {html.escape(str(archive))}, " if archive else ""
                where = (f" {what}from <a href=\"{html.escape(entry.url, quote=True)}\">its download page</a> "
                         "(a browser download);")
            self.text.setText(f"{html.escape(entry.id)} is not on this machine{size}:{where} "
                              "import the checkpoint file once you have it.")
            self.action.setText("Import…")
            self.action.setToolTip("Pick the checkpoint file; it is copied into your model library")
        self.action.setEnabled(True)
        self.progress.hide()
        self.show()

    def clear(self) -> None:
        """A present model was picked: nothing to say (a fetch in progress stays visible)."""
        if not self.job.is_running():
            self.entry = None
            self.hide()

    def is_busy(self) -> bool:
        return self.job.is_running()

    def shutdown(self) -> None:
        self.job.shutdown()

    # ------------------------------------------------------------------------------------------ actions
    @Slot()
    def _on_action(self) -> None:
        if self.entry is None:
            return
        if can_download(self.entry):
            self.download()
        else:
            self.import_file()

    def download(self) -> bool:
        if self.entry is None:
            return False
        if self.job.start(DOWNLOAD_TARGET, {"model_id": self.entry.id}, name=f"download {self.entry.id}") is None:
            return False
        self._set_text(f"Downloading {self.entry.id}…")
        return True

    def import_file(self, path: Optional[str] = None) -> bool:
        """Import ``path`` (asked for with a file dialog when None) into the model library."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, f"Import the file of {self.entry.id if self.entry else 'a model'}",
                                                  "", CHECKPOINT_FILTER)
            if not path:
                return False
        kwargs = {"path": str(path)}
        if self.task:
            kwargs["task"] = self.task
        if self.entry is not None:
            kwargs["description"] = f"{self.entry.id} (imported from {Path(path).name})"
        if self.job.start(IMPORT_TARGET, kwargs, name=f"import {Path(path).name}") is None:
            return False
        self._set_text(f"Importing {Path(path).name}…")
        return True

    @Slot()
    def cancel(self) -> None:
        if self.job.cancel():
            self._set_text("Cancelling…")

    # ------------------------------------------------------------------------------------------ job
    def _set_text(self, text: str) -> None:
        self.text.setText(html.escape(text))
        self.message.emit(text)

    @Slot(bool)
    def _on_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.action.setEnabled(not running)
        if running:
            self.progress.setValue(0)

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        self.progress.setValue(int(round(p.fraction * 1000)))
        if p.message and not self.job.cancelling:
            self.text.setText(html.escape(p.message))

    @Slot(object)
    def _on_finished(self, entry) -> None:
        model_id = getattr(entry, "id", "") or (self.entry.id if self.entry else "")
        self.entry = None
        self.hide()
        self.message.emit(f"{model_id} is ready")
        self.fetched.emit(model_id)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        self._set_text(f"Failed: {user_message(exc)}")

    @Slot()
    def _on_cancelled(self) -> None:
        self._set_text("Cancelled")
