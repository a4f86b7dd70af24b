"""The Arithmetic tool: A - B + C of the mean latents of picked tiles (the DCGAN paper's vector arithmetic),
with eight slightly perturbed results below."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.errors import InputError
from ganstudio.core.imageio import compose_grid
from ganstudio.ui.latent.job_progress import JobProgressRow
from ganstudio.ui.latent.session import ARITHMETIC, LatentSession
from ganstudio.ui.widgets.image_view import ImageView
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot

GRID_FILL = 32  # dark grey behind the empty cells of the result grids


class ArithmeticTool(QWidget):
    status = Signal(str)

    def __init__(self, session: LatentSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.result: dict | None = None
        self.job = JobSlot(self, "arithmetic")
        self.job.finished.connect(self._on_result)
        self.job.failed.connect(self._on_failed)
        v = QVBoxLayout(self)
        row = QHBoxLayout()
        self.group_labels: dict[str, QLabel] = {}
        for g in ("A", "B", "C"):
            b = QPushButton(f"{g} ← picked", self)
            b.setToolTip(f"group {g}: the tiles picked in the grid now")
            b.clicked.connect(lambda _c=False, gg=g: self.set_group(gg, self.session.picked))
            lab = QLabel("—", self)
            self.group_labels[g] = lab
            row.addWidget(b)
            row.addWidget(lab)
        self.space = QComboBox(self)
        self.space.addItems(["z", "w"])
        self.arith_btn = QPushButton("A − B + C", self)
        self.arith_btn.clicked.connect(self.run)
        row.addWidget(self.space)
        row.addWidget(self.arith_btn)
        row.addStretch(1)
        v.addLayout(row)
        hint = QLabel("Top: mean A, mean B, mean C, result. Below: the result with small perturbations.", self)
        hint.setWordWrap(True)
        v.addWidget(hint)
        self.progress = JobProgressRow("Cancel", self)
        self.progress.bind(self.job)
        v.addWidget(self.progress)
        self.view = ImageView(self)
        self.view.set_placeholder("Pick tiles and set groups A, B and C, then A − B + C.")
        v.addWidget(self.view, 1)

    def slots(self) -> list[JobSlot]:
        return [self.job]

    def set_model_loaded(self, loaded: bool) -> None:
        self.arith_btn.setEnabled(loaded)

    def set_group(self, name: str, seeds: list[int]) -> None:
        self.session.set_group(name, seeds)
        self.group_labels[name].setText(", ".join(str(s) for s in seeds) or "—")

    def run(self) -> None:
        try:
            kwargs = self.session.arithmetic_job(self.space.currentText())
        except InputError as exc:
            self.status.emit(str(exc))
            return
        self.job.start(ARITHMETIC, kwargs)

    @Slot(object)
    def _on_result(self, res: dict) -> None:
        self.result = res
        top = list(res["means"]) + [res["result"]]
        self.view.set_image(np.concatenate([compose_grid(top, 4, fill=GRID_FILL),
                                            compose_grid(list(res["perturbed"]), 4, fill=GRID_FILL)]))

    @Slot(object)
    def _on_failed(self, exc) -> None:
        self.status.emit(f"Arithmetic failed: {user_message(exc)}")
