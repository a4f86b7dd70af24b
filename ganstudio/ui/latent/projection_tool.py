"""The Project-photo tool: find the latent that reproduces a photo (StyleGAN2: W or W+), by optimisation in
the worker; the result becomes the image the sliders edit. Stop is enabled only while a projection runs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
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
from ganstudio.ui.latent.session import PROJECT, LatentSession
from ganstudio.ui.widgets.image_view import ImageView
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.workers.jobs import JobSlot


class ProjectionTool(QWidget):
    status = Signal(str)
    projected = Signal(object)  # the result dict (target, image, error_image, psnr, mae, wplus)

    def __init__(self, session: LatentSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.job = JobSlot(self, "projecting")  # a new photo replaces (cancels) the one being projected
        self.job.finished.connect(self._on_projected)
        self.job.failed.connect(self._on_failed)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.preview.connect(self._on_preview)
        self._path = ""
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.project_btn = QPushButton("Project a photo…", self)
        self.project_btn.clicked.connect(self._dialog)
        self.space = QComboBox(self)
        self.space.addItems(["w+", "w"])
        self.space.setToolTip("w+: one style vector per layer (closer fit); w: one for all (easier to edit)")
        self.steps = QSpinBox(self)
        self.steps.setRange(10, 5000)
        self.steps.setValue(200)
        self.steps.setToolTip("optimisation steps")
        for w in (self.project_btn, QLabel("space", self), self.space, QLabel("steps", self), self.steps):
            row.addWidget(w)
        row.addStretch(1)
        v.addLayout(row)
        self.progress = JobProgressRow("Stop", self)
        self.progress.bind(self.job)
        self.stop_btn = self.progress.button  # enabled only while a projection runs
        self.stop_btn.setToolTip("stop the projection (within about a second)")
        v.addWidget(self.progress)
        hint = QLabel("Left: the photo (resized to the model). Middle: the reconstruction. Right: |error|. "
                      "The result becomes the image the sliders edit.", self)
        hint.setWordWrap(True)
        v.addWidget(hint)
        self.view = ImageView(self)
        self.view.set_placeholder("Project a photo… (StyleGAN2 models): finds the latent that reproduces it.")
        v.addWidget(self.view, 1)
        self.result_label = QLabel("", self)
        self.result_label.setWordWrap(True)
        v.addWidget(self.result_label)

    def slots(self) -> list[JobSlot]:
        return [self.job]

    def set_model_loaded(self, loaded: bool) -> None:
        self.project_btn.setEnabled(loaded)

    def is_running(self) -> bool:
        return self.job.is_running()

    def _dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Project a photo", "", "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.project(path)

    def project(self, path: str) -> bool:
        try:
            kwargs = self.session.projection_job(path, self.space.currentText(), self.steps.value())
        except InputError as exc:
            self.status.emit(str(exc))
            return False
        self._path = path
        self.result_label.setText(f"projecting {Path(path).name}…")
        self.job.start(PROJECT, kwargs)
        return True

    def stop(self) -> None:
        if not self.job.is_running():
            self.result_label.setText("no projection is running")
            return
        self.progress.cancel()

    @Slot(object)
    def _on_preview(self, img) -> None:
        self.view.set_image(img, keep_view=True)

    @Slot(object)
    def _on_projected(self, res: dict) -> None:
        self.session.last_projection = res
        self.session.note_runtime(res)
        self.view.set_image(np.concatenate([res["target"], res["image"], res["error_image"]], axis=1))
        self.result_label.setText(f"reconstruction: PSNR {res['psnr']:.2f} dB, mean |error| {res['mae']:.4f}")
        self.projected.emit(res)

    @Slot()
    def _on_cancelled(self) -> None:
        self.result_label.setText("projection stopped")

    @Slot(object)
    def _on_failed(self, exc) -> None:
        text = f"Cannot project {Path(self._path).name}: {drop_path(user_message(exc), self._path)}"
        self.result_label.setText(text)
        self.status.emit(text)
