"""The Interpolate tool: frames between the picked tiles (lerp or slerp, in Z or W), shown as a strip and
exported as one PNG or as numbered frames, each with its recipe. Both the interpolation and the frames export
are long jobs with progress, ETA and Cancel."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.errors import InputError
from ganstudio.ui.latent.job_progress import JobProgressRow
from ganstudio.ui.latent.session import (
    EXPORT_FRAMES,
    EXPORT_PNG,
    INTERPOLATE,
    LatentSession,
    folder_problem,
)
from ganstudio.ui.widgets.image_view import ImageView
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.workers.jobs import JobSlot


class InterpolationTool(QWidget):
    status = Signal(str)
    exported = Signal(str)

    def __init__(self, session: LatentSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.strip: np.ndarray | None = None
        self._target = ("", "")  # (path or folder, message prefix) of the export job
        self.job = JobSlot(self, "interpolating")
        self.job.finished.connect(self._on_frames)
        self.job.failed.connect(self._on_failed)
        self.export_job = JobSlot(self, "exporting frames")
        self.export_job.finished.connect(self._on_exported)
        self.export_job.failed.connect(self._on_export_failed)
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.steps_spin = QSpinBox(self)
        self.steps_spin.setRange(1, 120)
        self.steps_spin.setValue(8)
        self.steps_spin.setToolTip("frames per segment between two picked tiles")
        self.slerp_check = QCheckBox("slerp", self)
        self.slerp_check.setToolTip("spherical interpolation (stays on the shell where Gaussian z live)")
        self.space_combo = QComboBox(self)
        self.space_combo.addItems(["z", "w"])
        self.interp_btn = QPushButton("Interpolate picked", self)
        self.interp_btn.clicked.connect(self.interpolate)
        strip_b = QPushButton("Export strip…", self)
        frames_b = QPushButton("Export frames…", self)
        strip_b.clicked.connect(lambda: self._export_dialog(strip=True))
        frames_b.clicked.connect(lambda: self._export_dialog(strip=False))
        for w in (QLabel("steps", self), self.steps_spin, self.slerp_check, QLabel("space", self), self.space_combo,
                  self.interp_btn, strip_b, frames_b):
            row.addWidget(w)
        row.addStretch(1)
        v.addLayout(row)
        self.progress = JobProgressRow("Cancel", self)
        self.progress.bind(self.job)
        self.progress.bind(self.export_job)
        v.addWidget(self.progress)
        self.view = ImageView(self)
        self.view.set_placeholder("Pick two or more seed tiles, then Interpolate picked.")
        v.addWidget(self.view, 1)

    def slots(self) -> list[JobSlot]:
        return [self.job, self.export_job]

    def set_model_loaded(self, loaded: bool) -> None:
        self.interp_btn.setEnabled(loaded)

    @property
    def frames(self) -> np.ndarray | None:
        return self.session.frames

    def interpolate(self) -> None:
        try:
            kwargs = self.session.interpolation_job(self.steps_spin.value(), self.slerp_check.isChecked(),
                                                    self.space_combo.currentText())
        except InputError as exc:
            self.status.emit(str(exc))
            return
        self.job.start(INTERPOLATE, kwargs)

    @Slot(object)
    def _on_frames(self, res: dict) -> None:
        self.session.frames = res["images"]
        self.session.note_runtime(res)
        self.strip = np.concatenate(list(res["images"]), axis=1)
        self.view.set_image(self.strip)

    @Slot(object)
    def _on_failed(self, exc) -> None:
        self.status.emit(f"Interpolation failed: {user_message(exc)}")

    def _export_dialog(self, strip: bool) -> None:
        if self.session.frames is None:
            self.status.emit("nothing to export yet: pick two or more tiles, then Interpolate picked")
            return
        if strip:
            path, _ = QFileDialog.getSaveFileName(self, "Export strip", "interpolation.png", "PNG (*.png)")
            if path:
                self.export_strip_to(path)
        else:
            folder = QFileDialog.getExistingDirectory(self, "Export frames to")
            if folder:
                self.export_frames_to(folder)

    def export_strip_to(self, path: str) -> None:
        """The interpolation strip as one PNG with its recipe (in the worker)."""
        if self.strip is None:
            self.status.emit("nothing to export yet: Interpolate picked first")
            return
        problem = folder_problem(path, (".png",))  # the recipe lives in PNG text chunks
        if problem:
            self.status.emit(f"Cannot export {Path(path).name}: {problem}")
            return
        self._target = (path, f"Cannot export {Path(path).name}")
        self.export_job.start(EXPORT_PNG, self.session.export_job(path, self.strip,
                                                                  self.session.export_frames_state()))

    def export_frames_to(self, folder: str) -> None:
        """Every interpolation frame as frame_NNNN.png in ``folder``: one job (progress, ETA, Cancel)."""
        if self.session.frames is None:
            self.status.emit("nothing to export yet: Interpolate picked first")
            return
        if not Path(folder).is_dir():
            why = "is a file" if Path(folder).exists() else "does not exist"
            self.status.emit(f"Cannot export the frames: {folder} {why}")
            return
        n = len(self.session.frames)
        self._target = (folder, f"Cannot export the {n} frames to {folder}")
        self.export_job.start(EXPORT_FRAMES, {"folder": folder, "frames": list(self.session.frames),
                                              **self.session.recipe_kwargs(self.session.export_frames_state())})

    @Slot(object)
    def _on_exported(self, res) -> None:
        where, _ = self._target
        if isinstance(res, list):
            self.status.emit(f"exported {len(res)} frames to {where}")
            self.exported.emit(where)
        else:
            self.status.emit(f"exported {res}")
            self.exported.emit(res)

    @Slot(object)
    def _on_export_failed(self, exc) -> None:
        where, prefix = self._target
        self.status.emit(f"{prefix}: {drop_path(user_message(exc), where)}")
