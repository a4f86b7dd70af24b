"""Models > Model manager: the known models (bundled manifests + the user's library), import, download.

Reading the manifest is a few small JSON files, so it happens on the GUI thread; importing (hashing and
copying a checkpoint, recognising its architecture) and downloading run as worker jobs:
``ganstudio.checkpoints.library_jobs:import_checkpoint`` and ``…:download_model``. Every error (offline,
sha256 mismatch, an unrecognised or unsafe checkpoint) is shown in the dialog's status line, never as a
crash or a modal box.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core import manifest, paths
from ganstudio.core.progress import Progress
from ganstudio.ui.settings import Settings
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.engine_worker import JobHandle
from ganstudio.workers.jobs import JobSlot

log = logging.getLogger(__name__)

IMPORT_TARGET = "ganstudio.checkpoints.library_jobs:import_checkpoint"
DOWNLOAD_TARGET = "ganstudio.checkpoints.library_jobs:download_model"
COLUMNS = ("ID", "Task", "Architecture", "Size", "License", "Present")
NO_SELECTION = ("Select a model to see its description, where its file is or where to get it. "
                "Import checkpoint… adds a file of your own to the library.")
CHECKPOINT_FILTER = ("Checkpoints (*.pth *.pt *.ckpt *.pkl *.safetensors *.bin *.param);;All files (*)")


class ModelManagerDialog(QDialog):
    def __init__(self, settings: Optional[Settings] = None, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.setWindowTitle("Model manager")
        self.resize(1000, 520)
        self.rows: list[dict] = []
        # one library job at a time (import or download): a second one is refused while it runs
        self.job = JobSlot(self, "model library", policy="exclusive")
        self.job.progress.connect(self._on_progress)
        self.job.finished.connect(self._on_finished)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job_kind = ""
        self.job_model = ""  # the model a download is for
        # a failed job's message stays until the user moves on: another model picked, or the dialog reopened
        self._job_error_for: Optional[str] = None

        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        # licences can be a sentence long: that column takes what is left and elides (full text in the tooltip)
        header.setSectionResizeMode(COLUMNS.index("License"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_selection)
        layout.addWidget(self.table, 1)

        self.details = QLabel(NO_SELECTION, self)
        self.details.setWordWrap(True)
        self.details.setObjectName("modelDetails")
        layout.addWidget(self.details)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.hide()
        self.status = QLabel("", self)
        self.status.setObjectName("managerStatus")
        self.status.setWordWrap(True)
        progress_row.addWidget(self.status, 1)
        progress_row.addWidget(self.progress, 1)
        layout.addLayout(progress_row)

        buttons = QHBoxLayout()
        self.import_button = QPushButton("Import checkpoint…", self)
        self.import_button.setToolTip("Copy a checkpoint into your library (its architecture is recognised "
                                      "and its sha256 recorded)")
        self.import_button.clicked.connect(lambda: self.import_checkpoint())
        self.download_button = QPushButton("Download", self)
        self.download_button.clicked.connect(lambda: self.download())
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_job)
        self.folder_button = QPushButton("Open library folder", self)
        self.folder_button.clicked.connect(self.open_library_folder)
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.refresh)
        close = QPushButton("Close", self)
        close.clicked.connect(self.hide)  # a running download goes on (the status bar shows it)
        for b in (self.import_button, self.download_button, self.cancel_button, self.folder_button,
                  self.refresh_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.refresh()

    # ------------------------------------------------------------------------------- the table
    def refresh(self) -> None:
        selected = self.selected_id()
        problems: list[str] = []
        try:
            entries = manifest.load_manifest(problems=problems)  # a broken file is skipped and named
            self.rows = manifest.entries_as_rows(entries)
        except Exception as exc:  # noqa: BLE001 - whatever the files hold, the dialog stays usable
            log.exception("cannot read the model manifest")
            self.rows = []
            problems.append(f"cannot read the model list: {exc}")
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.rows))
        for r, row in enumerate(self.rows):
            # absent: "not downloaded" (it has an address) or "missing" (import it), never "no" alone
            values = (row["id"], row["task"], row["arch"], manifest.format_size(row["size_bytes"]),
                      row["license"], "yes" if row["present"] else row["availability"])
            for c, value in enumerate(values):
                item = QTableWidgetItem(str(value or ""))
                if c == 0:
                    item.setToolTip(row.get("description") or row["id"])
                elif COLUMNS[c] == "License":
                    item.setToolTip(str(value or ""))
                self.table.setItem(r, c, item)
        if selected:
            self.select(selected)
        if problems:  # after select(): picking a row clears only job errors, not these
            self._set_status("Some models are not listed: " + problems[0], error=True)
        self._update_buttons()

    def row_ids(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())]

    def selected_id(self) -> str:
        items = self.table.selectedItems()
        if not items:
            return ""
        return self.table.item(items[0].row(), 0).text()

    def selected_row(self) -> Optional[dict]:
        mid = self.selected_id()
        return next((row for row in self.rows if row["id"] == mid), None)

    def select(self, model_id: str) -> bool:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() == model_id:
                self.table.selectRow(r)
                # centred: the details line grows with the selection and shrinks the table afterwards
                self.table.scrollToItem(self.table.item(r, 0), QAbstractItemView.ScrollHint.PositionAtCenter)
                return True
        return False

    def _on_selection(self) -> None:
        row = self.selected_row()
        if row is None:
            self.details.setText(NO_SELECTION)
        else:
            where = row["path"] or (row["url"] and f"download from {row['url']}") or \
                "import the file with Import checkpoint…"
            also = row.get("aliases") or []
            text = row.get("description") or ""
            self.details.setText(f"<b>{row['id']}</b> ({row['availability']}) — {where}"
                                 + (f"<br>also called: {', '.join(also)}" if also else "")
                                 + (f"<br>{text}" if text else ""))
        if self._job_error_for is not None and self.selected_id() != self._job_error_for:
            self._clear_job_error()
        self._update_buttons()

    def _clear_job_error(self) -> None:
        if not self.job.is_running():
            self._job_error_for = None
            self._set_status("")

    def showEvent(self, event) -> None:  # noqa: N802 - Qt: reopening the dialog starts with a clean status line
        if self._job_error_for is not None:
            self._clear_job_error()
        super().showEvent(event)

    def _update_buttons(self) -> None:
        busy = self.job.is_running()
        row = self.selected_row()
        can_download = row is not None and bool(row.get("url")) and not row["present"]
        self.download_button.setEnabled(can_download and not busy)
        self.download_button.setToolTip(
            "" if can_download else "select a model that is not present and has a download address")
        self.import_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c0392b;" if error else "")
        self.status.setProperty("error", error)

    # ------------------------------------------------------------------------------- jobs
    def _start(self, kind: str, target: str, kwargs: dict, name: str) -> Optional[JobHandle]:
        handle = self.job.start(target, kwargs, name=name)
        if handle is None:
            return None
        self.job_kind = kind
        self._job_error_for = None
        self.progress.setValue(0)
        self.progress.setRange(0, 0)  # busy until the first progress report says how much
        self.progress.show()
        self._update_buttons()
        return handle

    def import_checkpoint(self, path: Optional[str] = None) -> Optional[JobHandle]:
        """Import a checkpoint file (asks for one when ``path`` is None) into the user library."""
        if self.job.is_running():
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Import checkpoint", self.settings.last_dir("import"),
                                                  CHECKPOINT_FILTER)
            if not path:
                return None
        self.settings.set_last_dir("import", path)
        self._set_status(f"Importing {Path(path).name}…")
        return self._start("import", IMPORT_TARGET, {"path": str(path)}, f"import {Path(path).name}")

    def download(self, model_id: Optional[str] = None) -> Optional[JobHandle]:
        """Download a listed model (the selected one when ``model_id`` is None)."""
        if self.job.is_running():
            return None
        model_id = model_id or self.selected_id()
        if not model_id:
            self._set_status("Select a model to download first", error=True)
            return None
        self._set_status(f"Downloading {model_id}…")
        self.job_model = model_id
        return self._start("download", DOWNLOAD_TARGET, {"model_id": model_id}, f"download {model_id}")

    @Slot()
    def cancel_job(self) -> None:
        if self.job.cancel():
            self._set_status("Cancelling…")

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if p.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(p.fraction * 1000)))
        if p.message:
            self._set_status(p.message)

    def _job_ended(self) -> None:
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.refresh()

    @Slot(object)
    def _on_finished(self, entry: manifest.ModelEntry) -> None:
        """Both library jobs return the library / manifest ``ModelEntry``."""
        kind = self.job_kind
        self._job_ended()
        mid = entry.id
        if kind == "import":
            self._set_status(f"Imported {mid}: architecture {entry.arch or 'not recognised yet'}")
        else:
            where = entry.path
            self._set_status(f"Downloaded {mid} {('to ' + where) if where else ''}".strip())
        self.select(mid)

    @Slot(object)
    def _on_failed(self, exc: BaseException) -> None:
        kind = self.job_kind
        self._job_ended()
        if kind == "download":
            self.select(self.job_model)  # the message is about this row: it stays while this row is picked
        self._set_status(f"{'Import' if kind == 'import' else 'Download'} failed: {user_message(exc)}", error=True)
        self._job_error_for = self.selected_id()

    @Slot()
    def _on_cancelled(self) -> None:
        kind = self.job_kind
        self._job_ended()
        extra = " (the partial file is kept, so the next download resumes)" if kind == "download" else ""
        self._set_status(f"{'Import' if kind == 'import' else 'Download'} cancelled{extra}")

    def is_busy(self) -> bool:
        return self.job.is_running()

    # ------------------------------------------------------------------------------- misc
    def open_library_folder(self) -> bool:
        folder = paths.user_models_dir()
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def shutdown(self) -> None:
        """Cancel a running job and wait for it (window close)."""
        self.job.shutdown()
