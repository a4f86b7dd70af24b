"""The seed grid: first seed, truncation, noise, the class (class-conditional models only), and 16 tiles to
pick (or to label yes / no) from.

Picking a tile makes it the image the sliders edit; in labelling mode (step 1 of a supervised direction) a
click labels the tile instead. Sampling runs in the worker through a ``JobSlot``: a newer grid (other seeds,
psi, noise or model) replaces an older one, whose result is dropped.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.latent.session import (
    GRID,
    GRID_SEEDS,
    NOISE_MODES,
    SAMPLE_GRID,
    LatentSession,
)
from ganstudio.ui.widgets.image_view import to_qimage
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot

TILE_ICON = 96  # grid icon size when there is room
TILE_MIN = 56  # the grid may shrink to this, so the tab fits a 1024x640 window


class SeedTile(QToolButton):
    """One grid cell: the image, its seed, checkable (picked), and an optional yes/no label."""

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.seed: int | None = None
        self.label: bool | None = None
        self.setCheckable(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.setIconSize(QSize(TILE_ICON, TILE_ICON))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Click to pick this seed: it becomes the image the sliders edit "
                        "(while labelling for a supervised direction, a click labels it instead)")

    def minimumSizeHint(self) -> QSize:
        return QSize(TILE_MIN, TILE_MIN + self.fontMetrics().height())

    def resizeEvent(self, event) -> None:
        side = min(self.width() - 8, self.height() - self.fontMetrics().height() - 10, TILE_ICON)
        self.setIconSize(QSize(max(24, side), max(24, side)))
        super().resizeEvent(event)

    def set_sample(self, seed: int, image: np.ndarray) -> None:
        self.seed = seed
        pix = QPixmap.fromImage(to_qimage(image))
        if pix.width() < TILE_ICON:  # small models: scale up so the tile is readable
            pix = pix.scaled(QSize(TILE_ICON, TILE_ICON), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        self.setIcon(QIcon(pix))
        self._update_text()

    def set_label(self, label: bool | None) -> None:
        self.label = label
        self._update_text()

    def _update_text(self) -> None:
        mark = {True: "  ✓ yes", False: "  ✗ no", None: ""}[self.label]
        self.setText("" if self.seed is None else f"seed {self.seed}{mark}")


class SeedGrid(QWidget):
    """Sampling settings and the 4x4 seed grid."""

    status = Signal(str)
    grid_ready = Signal()
    picked = Signal(int)  # a tile was picked (its seed): the image the sliders edit
    labels_changed = Signal()
    settings_changed = Signal()  # truncation, noise or class: the edited image follows

    def __init__(self, session: LatentSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.label_mode: bool | None = None  # None: clicks pick; True / False: clicks label yes / no
        self.job = JobSlot(self, "sampling")
        self.job.finished.connect(self._on_grid)
        self.job.failed.connect(self._on_failed)
        self._build()
        self.set_model_loaded(False)

    def _build(self) -> None:
        lv = QVBoxLayout(self)
        lv.setContentsMargins(0, 0, 0, 0)
        box = QGroupBox("Sampling", self)
        form = QFormLayout(box)
        srow = QHBoxLayout()
        self.seed_spin = QSpinBox(box)
        self.seed_spin.setRange(0, 2_000_000_000)
        prev_b = QToolButton(box)
        prev_b.setText("◀")
        prev_b.setToolTip(f"previous {GRID_SEEDS} seeds")
        next_b = QToolButton(box)
        next_b.setText("▶")
        next_b.setToolTip(f"next {GRID_SEEDS} seeds")
        prev_b.clicked.connect(lambda: self.seed_spin.setValue(max(0, self.seed_spin.value() - GRID_SEEDS)))
        next_b.clicked.connect(lambda: self.seed_spin.setValue(self.seed_spin.value() + GRID_SEEDS))
        srow.addWidget(prev_b)
        srow.addWidget(self.seed_spin, 1)
        srow.addWidget(next_b)
        form.addRow("First seed", srow)
        self.trunc_spin = QDoubleSpinBox(box)
        self.trunc_spin.setRange(0.0, 1.0)
        self.trunc_spin.setSingleStep(0.05)
        self.trunc_spin.setValue(1.0)
        self.trunc_spin.setToolTip("truncation ψ: below 1 pulls every image towards the average one "
                                   "(more typical, less varied)")
        self.noise_combo = QComboBox(box)
        self.noise_combo.addItems(list(NOISE_MODES))
        self.noise_combo.setToolTip("StyleGAN2 noise maps: the checkpoint's stored ones, none, or random "
                                    "(seeded per image)")
        tr = QHBoxLayout()
        tr.addWidget(self.trunc_spin, 1)
        tr.addWidget(self.noise_combo, 1)
        form.addRow("ψ / noise", tr)
        self.class_spin = QSpinBox(box)
        self.class_spin.setRange(0, 0)
        self.class_spin.setToolTip("this model is class-conditional: every image is drawn from the class "
                                   "chosen here (its number in the data set the model was trained on)")
        form.addRow("Class", self.class_spin)
        self.form = form
        form.setRowVisible(self.class_spin, False)  # shown for a class-conditional model only
        self.sample_btn = QPushButton("Sample grid", box)
        self.sample_btn.clicked.connect(self.sample)
        form.addRow(self.sample_btn)
        lv.addWidget(box)
        self.seed_spin.valueChanged.connect(self._on_seed)
        self.trunc_spin.valueChanged.connect(self._on_settings)
        self.noise_combo.currentIndexChanged.connect(self._on_settings)
        self.class_spin.valueChanged.connect(self._on_settings)

        gridw = QWidget(self)
        gl = QGridLayout(gridw)
        gl.setSpacing(2)
        gl.setContentsMargins(0, 0, 0, 0)
        self.tiles: list[SeedTile] = []
        for i in range(GRID_SEEDS):
            t = SeedTile(i, gridw)
            t.clicked.connect(self._on_tile)
            gl.addWidget(t, i // GRID, i % GRID)
            self.tiles.append(t)
        lv.addWidget(gridw, 1)

    # ------------------------------------------------------------------------------------------ state
    def set_model_loaded(self, loaded: bool, stylegan: bool = True) -> None:
        self.sample_btn.setEnabled(loaded)
        self.noise_combo.setEnabled(loaded and stylegan)

    def show_settings(self) -> None:
        """Show the session's truncation, noise and class (a model or a recipe set them) without re-sampling;
        the class row only for a class-conditional model."""
        widgets = (self.trunc_spin, self.noise_combo, self.class_spin)
        for w in widgets:
            w.blockSignals(True)
        self.trunc_spin.setValue(self.session.truncation)
        self.noise_combo.setCurrentText(self.session.noise)
        n = self.session.n_classes
        self.class_spin.setRange(0, max(0, n - 1))
        self.class_spin.setValue(self.session.class_index or 0)
        self.class_spin.setSuffix(f"   (of 0–{n - 1})" if n else "")
        self.form.setRowVisible(self.class_spin, n > 0)
        for w in widgets:
            w.blockSignals(False)

    def picked_seeds(self) -> list[int]:
        return list(self.session.picked)

    def pick(self, seeds: list[int]) -> None:
        for t in self.tiles:
            t.setChecked(t.seed in seeds)
        self.session.set_picked([t.seed for t in self.tiles if t.isChecked() and t.seed is not None])

    def set_label_mode(self, mode: bool | None) -> None:
        """None: a click picks a tile; True / False: a click labels it yes / no (again: clears it)."""
        self.label_mode = mode

    def clear_labels(self) -> None:
        for t in self.tiles:
            if t.seed is not None:
                self.session.label(t.seed, None)
            t.set_label(None)
        self.labels_changed.emit()

    # ------------------------------------------------------------------------------------------ sampling
    def sample(self) -> None:
        if not self.session.has_model:
            return
        self.session.first_seed = self.seed_spin.value()
        self.job.start(SAMPLE_GRID, self.session.grid_job())  # replaces an older grid

    @Slot(object)
    def _on_grid(self, res: dict) -> None:
        if not self.session.accept_grid(res):
            return  # an older grid: a newer one is on its way
        for t, seed, img in zip(self.tiles, self.session.grid_seeds, res["images"]):
            t.set_sample(seed, img)
            t.setChecked(False)
            t.set_label(None)
        seeds = self.session.grid_seeds
        self.status.emit(f"seeds {seeds[0]}–{seeds[-1]}")
        self.labels_changed.emit()
        self.grid_ready.emit()

    @Slot(object)
    def _on_failed(self, exc) -> None:
        self.status.emit(f"Sampling failed: {user_message(exc)}")

    @Slot(int)
    def _on_seed(self, _v: int) -> None:
        self.sample()

    @Slot()
    def _on_settings(self, *_a) -> None:
        self.session.truncation = self.trunc_spin.value()
        self.session.noise = self.noise_combo.currentText()
        self.session.set_class(self.class_spin.value() if self.session.n_classes else None)  # also settings_changed
        self.sample()
        self.settings_changed.emit()

    @Slot()
    def _on_tile(self) -> None:
        tile = self.sender()
        if tile.seed is None:
            tile.setChecked(False)
            return
        if self.label_mode is None:
            self.session.set_picked([t.seed for t in self.tiles if t.isChecked() and t.seed is not None])
            if tile.isChecked():
                self.picked.emit(tile.seed)
            return
        tile.setChecked(not tile.isChecked())  # labelling does not change the pick
        value = None if tile.label is self.label_mode else self.label_mode
        self.session.label(tile.seed, value)
        tile.set_label(value)
        self.labels_changed.emit()
