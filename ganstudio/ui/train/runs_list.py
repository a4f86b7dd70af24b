"""The Train tab's list of the user's runs (``user_data_dir()/runs``) with their state, and Resume.

The list is read in the worker (``training.jobs.list_runs``: every run folder's config, checkpoints, pid
file). It refreshes when the panel asks (a run started or ended) and every ``REFRESH_MS`` while some run is
training, so a run left training in the background shows its progress here too."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot

LIST_JOB = "ganstudio.training.jobs:list_runs"
REFRESH_MS = 5000
STATE_COLOURS = {"running": "#2e7d32", "finished": "#1565c0", "stopped": "#8d6e00", "crashed": "#c62828",
                 "failed": "#757575"}


def _age(t: float) -> str:
    d = max(0.0, time.time() - t)
    if d < 60:
        return "just now"
    if d < 3600:
        return f"{int(d // 60)} min ago"
    if d < 86400:
        return f"{int(d // 3600)} h ago"
    return time.strftime("%Y-%m-%d", time.localtime(t))


class RunsList(QWidget):
    run_selected = Signal(object)  # the run's state dict
    resume_requested = Signal(object, int)  # state dict, the total steps to train to
    refreshed = Signal(object)  # the list of state dicts

    def __init__(self, root: Path, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.root = Path(root)
        self.runs: list[dict] = []
        self._again = False
        self.list_job = JobSlot(self, "list training runs")
        self.list_job.finished.connect(self._on_listed)
        self.list_job.failed.connect(self._on_list_failed)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        title = QLabel("<b>Runs</b>", self)
        self.count_label = QLabel("", self)
        head.addWidget(title)
        head.addWidget(self.count_label, 1)
        self.folder_btn = QPushButton("Folder", self)
        self.folder_btn.setToolTip(f"Open the selected run's folder (runs live in {self.root})")
        self.folder_btn.clicked.connect(self._open_folder)
        head.addWidget(self.folder_btn)
        lay.addLayout(head)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Run", "State", "Updated"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.currentItemChanged.connect(self._on_current_changed)
        lay.addWidget(self.tree, 1)
        row = QHBoxLayout()
        self.resume_btn = QPushButton("Resume", self)
        self.resume_btn.setToolTip("Continue the selected run from its newest checkpoint (optimisers, schedules, "
                                   "random state and data order included)")
        self.resume_btn.clicked.connect(self._on_resume_clicked)
        self.to_step_spin = QSpinBox(self)
        self.to_step_spin.setRange(1, 100_000_000)
        self.to_step_spin.setSingleStep(1000)
        self.to_step_spin.setGroupSeparatorShown(True)
        self.to_step_spin.setPrefix("to step ")
        self.to_step_spin.setToolTip("The run's total: raise it to train a finished run further")
        row.addWidget(self.resume_btn)
        row.addWidget(self.to_step_spin, 1)
        lay.addLayout(row)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._update_buttons()

    # ------------------------------------------------------------------------------------------ data
    @Slot()
    def refresh(self) -> None:
        """List the runs again (a refresh asked while one is reading runs right after it: the folder may
        have changed since that one started)."""
        if self.list_job.is_running():
            self._again = True
            return
        self._again = False
        self.list_job.start(LIST_JOB, {"root": str(self.root)})

    @Slot(object)
    def _on_listed(self, found: list) -> None:
        if self._again:
            self.refresh()
        current = self.current_path()
        self.runs = list(found)
        self.tree.blockSignals(True)
        self.tree.clear()
        select = None
        for r in self.runs:
            item = QTreeWidgetItem([r["name"], r["text"], _age(r["updated"])])
            item.setData(0, 256, r["path"])
            item.setToolTip(0, f"{r['path']}\n{r['task']}" + (f" · {r['data']}" if r.get("data") else ""))
            item.setToolTip(1, r["text"])
            item.setForeground(1, QBrush(QColor(STATE_COLOURS.get(r["state"], "#555"))))
            self.tree.addTopLevelItem(item)
            if r["path"] == current:
                select = item
        if select is not None:
            self.tree.setCurrentItem(select)
        self.tree.blockSignals(False)
        n = len(self.runs)
        running = sum(r["state"] == "running" for r in self.runs)
        self.count_label.setText(f"{n} run{'s' if n != 1 else ''}" + (f", {running} training" if running else ""))
        if running:
            self._timer.start()
        else:
            self._timer.stop()
        self._update_buttons()
        self.refreshed.emit(self.runs)

    @Slot(object)
    def _on_list_failed(self, exc) -> None:
        self.count_label.setText(f"cannot list the runs: {user_message(exc)}")

    def set_live_text(self, path: str, text: str) -> None:
        """The state column of a run this window trains (between two list refreshes)."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, 256) == str(path):
                if item.text(1) != text:
                    item.setText(1, text)
                    item.setToolTip(1, text)
                return

    def state_of(self, path: str) -> Optional[dict]:
        return next((r for r in self.runs if r["path"] == str(path)), None)

    def current_path(self) -> str:
        item = self.tree.currentItem()
        return item.data(0, 256) if item is not None else ""

    def current(self) -> Optional[dict]:
        return self.state_of(self.current_path())

    def select(self, path: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.data(0, 256) == str(path):
                self.tree.setCurrentItem(item)
                return True
        return False

    # ------------------------------------------------------------------------------------------ actions
    def _on_current_changed(self, *_args) -> None:
        self._update_buttons()
        run = self.current()
        if run is not None:
            self.to_step_spin.setValue(max(run["steps"], 1))
            self.run_selected.emit(run)

    def _update_buttons(self) -> None:
        run = self.current()
        can = run is not None and run["resumable"]
        self.resume_btn.setEnabled(can)
        self.to_step_spin.setEnabled(can)
        self.folder_btn.setEnabled(run is not None)

    @Slot()
    def _on_resume_clicked(self) -> None:
        run = self.current()
        if run is not None and run["resumable"]:
            self.resume_requested.emit(run, self.to_step_spin.value())

    @Slot()
    def _open_folder(self) -> None:
        run = self.current()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(run["path"]))

    def shutdown(self) -> None:
        self._timer.stop()
        self.list_job.shutdown()
