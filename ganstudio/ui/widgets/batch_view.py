"""``BatchView``: the batch part every batch panel shares (Stylize, Upscale, ...).

What it shows and owns, the same on every tab:

* a row of **Start batch / Pause (Resume) / Cancel**, a progress bar with ``done/total`` and the ETA;
* a status line: the current file, counts written / skipped / failed, "Paused", "Cancelling…" (at once,
  when Cancel is pressed) and "Cancelled" (when the job has really stopped);
* a **thumbnail grid** of finished files (the newest ``max_thumbs`` are kept so a 10 000-file batch does
  not hold 10 000 icons; hover shows the path, double-click emits ``open_requested(path)``);
* the **final report**: the summary (written / skipped / failed / renamed) and one line per failed file
  with its reason and per renamed file (a name clash resolved before the batch started).

It runs the job in its own ``workers.jobs.JobSlot`` (policy "exclusive": a second Start while a batch
runs is refused). It understands the reports of ``core.batch.run_batch``: ``Progress.extra`` carries
``input``, ``output``, ``thumb`` (small uint8 array), ``eta_s`` and the ``done`` / ``skipped`` / ``failed``
counts; the job returns a ``core.batch.BatchReport`` (and raises ``Cancelled`` when cancelled).

How a panel uses it::

    self.batch_view = BatchView(self, name="stylize batch", label="Stylize batch")
    layout.addWidget(self.batch_view)                      # below the panel's own folder / option fields
    self.batch_view.start_requested.connect(self.start_batch)   # the Start batch button
    self.batch_view.finished.connect(self._on_batch_done)       # BatchReport, or None (cancelled / failed)
    self.batch_view.state_changed.connect(self.job_state)       # "Stylize batch 3/10", "" when idle

    def start_batch(self) -> bool:
        if not self.in_edit.text():
            self.batch_view.show_message("Choose an input folder.")   # shown where the report goes
            return False
        return self.batch_view.start("ganstudio.engines.stylize.batch:stylize_batch", {...kwargs...})

    def shutdown(self):
        self.batch_view.shutdown()                        # cancel and join (the window's close)

Everything here runs on the GUI thread (the JobSlot relays the worker's signals); no torch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.progress import Progress, format_eta
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.engine_worker import array_to_qimage
from ganstudio.workers.jobs import JobSlot

THUMB = 128
BAR_STEPS = 1000  # the bar runs on fractions: progress within a file moves it too


class BatchView(QWidget):
    """See the module docstring."""

    start_requested = Signal()  # the Start batch button: the panel gathers its options and calls start()
    finished = Signal(object)  # the job's BatchReport, or None when it was cancelled or failed
    state_changed = Signal(str)  # a short line for the window's status bar; "" when idle
    open_requested = Signal(str)  # a thumbnail double-clicked: its output file

    def __init__(self, parent: Optional[QWidget] = None, *, name: str = "batch", label: str = "Batch",
                 thumb_size: int = THUMB, max_thumbs: int = 400, slot: Optional[JobSlot] = None) -> None:
        super().__init__(parent)
        self.label = label
        self.thumb_size = thumb_size
        self.max_thumbs = max(1, max_thumbs)
        self.slot = slot if slot is not None else JobSlot(self, name, policy="exclusive")
        self.slot.progress.connect(self._on_progress)
        self.slot.finished.connect(self._on_finished)
        self.slot.failed.connect(self._on_failed)
        self.slot.cancelled.connect(self._on_cancelled)
        self.slot.running_changed.connect(self._on_running_changed)
        self.last_report = None  # the BatchReport of the last batch that finished
        self.failures: list[str] = []  # "path: reason" of the last report
        self._counts = {"done": 0, "skipped": 0, "failed": 0}
        self._build()
        self._update_buttons()

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        ctl = QHBoxLayout()
        self.start_btn = QPushButton("Start batch", self)
        self.start_btn.clicked.connect(self.start_requested)
        self.pause_btn = QPushButton("Pause", self)
        self.pause_btn.setCheckable(True)
        self.pause_btn.setToolTip("Pause after the current file; Resume goes on where it stopped")
        self.pause_btn.toggled.connect(self._toggle_pause)
        self.cancel_btn = QPushButton("Cancel", self)
        self.cancel_btn.setToolTip("Stop the batch; files already written are kept and skipped on the next run")
        self.cancel_btn.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, BAR_STEPS)
        self.progress.setVisible(False)  # an empty bar before any batch looks like a text field
        self.eta_label = QLabel("", self)
        for w in (self.start_btn, self.pause_btn, self.cancel_btn):
            ctl.addWidget(w)
        ctl.addWidget(self.progress, 1)
        ctl.addWidget(self.eta_label)
        root.addLayout(ctl)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)  # a file's path and an error can be long: wrap, never clip
        root.addWidget(self.status)
        self.grid = QListWidget(self)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(self.thumb_size, self.thumb_size))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setUniformItemSizes(True)
        self.grid.setWordWrap(True)
        self.grid.setToolTip("Results appear here as the batch writes them (hover for the file)")
        self.grid.itemDoubleClicked.connect(self._on_thumb_activated)
        self.report_box = QPlainTextEdit(self)
        self.report_box.setReadOnly(True)
        self.report_box.setPlaceholderText("The batch report: files that could not be processed are listed here.")
        # beside the thumbnails rather than under them: panels keep their main view's height
        results = QHBoxLayout()
        results.addWidget(self.grid, 3)
        results.addWidget(self.report_box, 1)
        root.addLayout(results, 1)

    # ------------------------------------------------------------------------------------------ control
    def start(self, target: str, kwargs: dict) -> bool:
        """Start the batch job ``target`` ("module:function") with ``kwargs``. False while one runs."""
        if self.slot.is_running():
            return False
        self.grid.clear()
        self.report_box.clear()
        self.failures = []
        self.last_report = None
        self._counts = {"done": 0, "skipped": 0, "failed": 0}
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress.setVisible(True)
        self.eta_label.setText("")
        self.status.setText("Starting…")
        self._set_paused_button(False)
        if self.slot.start(target, kwargs, name=self.slot.name) is None:
            return False
        self._update_buttons()
        return True

    @Slot()
    def cancel(self) -> None:
        """Ask the batch to stop: "Cancelling…" at once, "Cancelled" when it has stopped."""
        if self.slot.cancel():
            self.eta_label.setText("")
            self.status.setText("Cancelling…")
            self._update_buttons()
            self.state_changed.emit(f"{self.label}: cancelling…")

    def pause(self) -> None:
        if self.is_running() and not self.pause_btn.isChecked():
            self.pause_btn.setChecked(True)

    def resume(self) -> None:
        if self.pause_btn.isChecked():
            self.pause_btn.setChecked(False)

    @property
    def paused(self) -> bool:
        return self.slot.paused

    def is_running(self) -> bool:
        return self.slot.is_running()

    def show_message(self, text: str) -> None:
        """A line where the report goes (e.g. why Start did not start)."""
        self.report_box.setPlainText(text)
        self.status.setText(text)

    def shutdown(self) -> bool:
        """Cancel and join the batch (the window's close). True if it stopped."""
        running = self.slot.is_running()
        ok = self.slot.shutdown()
        if running:  # the slot drops the job's late signals after shutdown: say how it ended here
            self._show_cancelled()
            self.finished.emit(None)
        self._set_paused_button(False)
        self._update_buttons()
        return ok

    # ------------------------------------------------------------------------------------------ slots
    @Slot(bool)
    def _toggle_pause(self, paused: bool) -> None:
        if not self.slot.is_running():
            return
        if paused:
            self.slot.pause()
            self.pause_btn.setText("Resume")
            self.eta_label.setText("Paused")
            self.status.setText("Paused after the current file; press Resume to go on.")
        else:
            self.slot.resume()
            self.pause_btn.setText("Pause")
            self.eta_label.setText("")
        self.state_changed.emit(self.state_text())

    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        extra = p.extra or {}
        for k in self._counts:
            if isinstance(extra.get(k), int):
                self._counts[k] = extra[k]
        total = max(1, int(round(p.total)))
        self.progress.setValue(int(round(p.fraction * BAR_STEPS)))
        self.progress.setFormat(f"{int(p.done)}/{int(round(p.total))}" if p.total else "%p%")
        if self.slot.cancelling:
            return  # "Cancelling…" stays until the job has stopped
        if self.pause_btn.isChecked():
            self.eta_label.setText("Paused")
        elif extra.get("eta_s") is not None:
            self.eta_label.setText(f"ETA {format_eta(extra['eta_s'])}")
        line = p.message or ""
        counts = self._counts_text()
        self.status.setText(f"{line} · {counts}" if line and counts else (line or counts))
        out, thumb = extra.get("output"), extra.get("thumb")
        if out and thumb is not None:
            self._add_thumb(str(out), thumb)
        self.state_changed.emit(f"{self.label} {min(int(p.done), total)}/{total}")

    @Slot(object)
    def _on_finished(self, report) -> None:
        self.last_report = report
        self.failures = [f"{f['input']}: {f['reason']}" for f in getattr(report, "failed", [])]
        text = report.text() if hasattr(report, "text") else str(report)
        if getattr(report, "total", 1) == 0:
            text = "No images found. " + text
        self.report_box.setPlainText(text)
        self.status.setText(report.summary() if hasattr(report, "summary") else "Done.")
        self.progress.setValue(BAR_STEPS)
        self.eta_label.setText("Done")
        self.finished.emit(report)

    @Slot(object)
    def _on_failed(self, exc) -> None:
        msg = f"The batch stopped: {user_message(exc)}"
        self.report_box.setPlainText(msg)
        self.status.setText(msg)
        self.eta_label.setText("")
        self.finished.emit(None)

    @Slot()
    def _on_cancelled(self) -> None:
        self._show_cancelled()
        self.finished.emit(None)

    @Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        if not running:
            self._set_paused_button(False)
        self._update_buttons()
        self.state_changed.emit(self.state_text())

    @Slot(QListWidgetItem)
    def _on_thumb_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path:
            self.open_requested.emit(str(path))

    # ------------------------------------------------------------------------------------------ helpers
    def _show_cancelled(self) -> None:
        counts = self._counts_text()
        self.eta_label.setText("Cancelled")
        self.status.setText("Cancelled" + (f" ({counts})" if counts else "") + ".")
        self.report_box.setPlainText("Cancelled" + (f" after {counts}" if counts else "") +
                                     ". Start again to finish: files already written are skipped.")

    def _counts_text(self) -> str:
        c = self._counts
        if not any(c.values()):
            return ""
        return f"{c['done']} written, {c['skipped']} skipped, {c['failed']} failed"

    def _add_thumb(self, path: str, thumb) -> None:
        try:
            icon = QIcon(QPixmap.fromImage(array_to_qimage(thumb)))
        except ValueError:  # not a uint8 image: show the name without a picture rather than fail
            icon = QIcon()
        item = QListWidgetItem(icon, Path(path).name)
        item.setToolTip(path)
        item.setData(Qt.ItemDataRole.UserRole, path)
        self.grid.addItem(item)
        while self.grid.count() > self.max_thumbs:
            self.grid.takeItem(0)

    def _set_paused_button(self, paused: bool) -> None:
        self.pause_btn.blockSignals(True)
        self.pause_btn.setChecked(paused)
        self.pause_btn.setText("Resume" if paused else "Pause")
        self.pause_btn.blockSignals(False)

    def _update_buttons(self) -> None:
        running = self.slot.is_running()
        self.start_btn.setEnabled(not running)
        self.pause_btn.setEnabled(running and not self.slot.cancelling)
        self.cancel_btn.setEnabled(running and not self.slot.cancelling)

    def state_text(self) -> str:
        if not self.slot.is_running():
            return ""
        if self.slot.cancelling:
            return f"{self.label}: cancelling…"
        return f"{self.label} paused" if self.pause_btn.isChecked() else f"{self.label} running"
