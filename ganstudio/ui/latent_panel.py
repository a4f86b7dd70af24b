"""Latent tab: a seed grid, interpolation, latent arithmetic, attribute sliders, photo projection.

Everything heavy runs in the engine worker through ``EngineJob`` strings (this module never imports torch or the
engines). Sliders go through a ``LatestOnlyRunner``: debounced, at most one render at a time, the newest value
wins and stale requests are dropped, so dragging never blocks the window.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QObject, QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.imageio import compose_grid
from ganstudio.ui.widgets.image_view import ImageView, to_qimage
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.workers.engine_worker import EngineJob, JobHandle, LatestOnlyRunner, start_job

log = logging.getLogger(__name__)

LAT = "ganstudio.engines.latent"
DIRS = "ganstudio.engines.directions"
REC = "ganstudio.engines.recipe"
PROJ = "ganstudio.engines.projection"

GRID = 4
SLIDER_STEPS = 100  # slider -100..100 maps to -SIGMAS..+SIGMAS standard deviations along the direction
SIGMAS = 3.0
TILE_ICON = 96  # grid icon size when there is room
GRID_FILL = 32  # dark grey behind the empty cells of the arithmetic grids
TILE_MIN = 56  # the grid may shrink to this, so the tab fits a 1280x800 window (and smaller)


def folder_problem(path: str, suffixes: tuple[str, ...] = ()) -> Optional[str]:
    """Why ``path`` cannot be written (not one of ``suffixes``, a folder, its folder missing or a file), else
    None."""
    if suffixes and Path(path).suffix.lower() not in suffixes:
        return f"save it as {' or '.join(suffixes)}"
    parent = Path(path).parent
    if Path(path).is_dir():
        return f"{path} is a folder"
    if parent.is_dir():
        return None
    return f"the folder {parent} {'is a file' if parent.exists() else 'does not exist'}"


class _Relay(QObject):
    """Lives in the GUI thread so worker signals reach the callbacks there (queued connections)."""

    def __init__(self, panel: "LatentPanel", on_done: Callable[[Any], None],
                 on_progress: Optional[Callable[[Any], None]] = None,
                 on_failed: Optional[Callable[[str], None]] = None) -> None:
        super().__init__(panel)
        self.panel = panel
        self.on_done = on_done
        self.on_progress = on_progress
        self.on_failed = on_failed
        self.quiet_cancel = False  # superseded jobs (an older grid) end without a status line
        self.handle: Optional[JobHandle] = None

    @Slot()
    def thread_done(self) -> None:
        self.panel._job_ended(self.handle, self)

    @Slot(object)
    def finished(self, result: object) -> None:
        self.on_done(result)

    @Slot(str, str)
    def failed(self, msg: str, tb: str) -> None:
        if self.on_failed is not None:
            self.on_failed(user_message(msg))
        else:
            self.panel._report_error(user_message(msg))

    @Slot(object)
    def progress(self, p: object) -> None:
        if self.on_progress is not None:
            self.on_progress(p)

    @Slot()
    def cancelled(self) -> None:
        if not self.quiet_cancel:
            self.panel._set_status("cancelled")


class SeedTile(QToolButton):
    """One grid cell: the image, its seed, checkable (picked), and an optional yes/no label."""

    def __init__(self, index: int, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.index = index
        self.seed: Optional[int] = None
        self.label: Optional[bool] = None
        self.setCheckable(True)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self.setIconSize(QSize(TILE_ICON, TILE_ICON))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Click to pick this seed: it becomes the image the sliders edit "
                        "(or label it, see 'Click on a tile')")

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - the grid may shrink below the 96 px icons
        return QSize(TILE_MIN, TILE_MIN + self.fontMetrics().height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - the icon follows the tile's size
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

    def set_label(self, label: Optional[bool]) -> None:
        self.label = label
        self._update_text()

    def _update_text(self) -> None:
        mark = {True: "  ✓ yes", False: "  ✗ no", None: ""}[self.label]
        self.setText("" if self.seed is None else f"seed {self.seed}{mark}")


class DirectionRow(QWidget):
    """name | slider | value | layer range | keep-fixed checkbox (conditioning for supervised directions)."""

    changed = Signal()

    def __init__(self, name: str, scale: float, n_latent: int, layers: tuple[int, int],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.name = name
        self.scale = float(scale) if scale and np.isfinite(scale) and scale > 0 else 1.0
        self._exact: Optional[float] = None  # a strength set from a recipe, kept exactly until the slider moves
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.name_label = QLabel(name, self)
        self.name_label.setMinimumWidth(80)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(-SLIDER_STEPS, SLIDER_STEPS)
        self.slider.setValue(0)
        self.value_label = QLabel("0.00", self)
        self.value_label.setMinimumWidth(44)
        self.start = QSpinBox(self)
        self.stop = QSpinBox(self)
        for sb in (self.start, self.stop):
            sb.setRange(0, max(1, n_latent))
        self.start.setToolTip("first W+ row this slider changes")
        self.stop.setToolTip("W+ rows up to (not including) this one")
        a, b = layers
        self.start.setValue(max(0, a))
        self.stop.setValue(n_latent if b is None or b < 0 else min(b, n_latent))
        self.start.setVisible(n_latent > 1)
        self.stop.setVisible(n_latent > 1)
        self.keep = QCheckBox("fixed", self)
        self.keep.setToolTip("supervised directions made next are conditioned to leave this one unchanged")
        lay.addWidget(self.name_label)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.value_label)
        lay.addWidget(self.start)
        lay.addWidget(self.stop)
        lay.addWidget(self.keep)
        self.slider.valueChanged.connect(self._on_value)
        self.start.valueChanged.connect(lambda _v: self.changed.emit())
        self.stop.valueChanged.connect(lambda _v: self.changed.emit())

    def strength(self) -> float:
        if self._exact is not None:
            return self._exact
        return self.slider.value() / SLIDER_STEPS * SIGMAS * self.scale

    def set_strength(self, s: float, emit: bool = True) -> None:
        """Move the slider to ``s`` and keep ``s`` exactly (not rounded to a slider step)."""
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(s / (SIGMAS * self.scale) * SLIDER_STEPS)))
        self.slider.blockSignals(False)
        self._exact = float(s)
        self.value_label.setText(f"{self.strength():+.2f}")
        if emit:
            self.changed.emit()

    def layers(self) -> list:
        return [self.start.value(), self.stop.value()]

    def _on_value(self, v: int) -> None:
        self._exact = None
        self.value_label.setText(f"{self.strength():+.2f}")
        self.changed.emit()


class LatentPanel(QWidget):
    job_state = Signal(str)
    image_rendered = Signal(int)  # request id of the slider render now on screen
    grid_ready = Signal()
    directions_changed = Signal()
    model_ready = Signal()
    state_restored = Signal()
    exported = Signal(str)
    projection_done = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.model_path: str = ""
        self.model_info: dict = {}
        self.first_seed = 0
        self.grid_seeds: list[int] = []
        self.grid_images: Optional[np.ndarray] = None
        self.base: Optional[dict] = None  # render state of the image the sliders act on (no edits)
        self.base_wplus: Optional[np.ndarray] = None
        self.current_image: Optional[np.ndarray] = None
        self.dirs: Optional[dict] = None  # DirectionSet.to_dict() of every slider
        self.rows: list[DirectionRow] = []
        self.groups: dict[str, list[int]] = {"A": [], "B": [], "C": []}
        self.last_submitted = 0
        self.last_shown = 0
        self.shown_strengths: dict[str, float] = {}
        self.strip: Optional[np.ndarray] = None
        self.frames: Optional[np.ndarray] = None
        self._pending_strengths: dict[int, dict[str, float]] = {}
        self._restoring: Optional[dict] = None
        self._jobs: set[JobHandle] = set()
        self._proj_handle: Optional[JobHandle] = None
        self.last_projection: Optional[dict] = None
        self._model_request = ""  # the newest set_model path: an older answer is stale
        self._grid_request = 0  # the newest sample_grid: older grids (other seeds, ψ, noise or model) are dropped
        self._grid_handle: Optional[JobHandle] = None
        self._open_request = 0  # the newest open_image
        # short debounce: coalesces bursts of slider events but keeps a drag rendering continuously
        self.runner = LatestOnlyRunner(debounce_ms=10, parent=self)
        self.runner.result.connect(self._on_edit_result)
        self.runner.failed.connect(lambda _i, msg: self._report_error(user_message(msg)))
        self._build()
        # nothing to sample, edit or project without a generator: enabled once one is loaded (_on_model)
        self._needs_model = [self.sample_btn, self.sefa_btn, self.pca_btn, self.sup_btn, self.load_btn,
                             self.save_btn, self.export_btn, self.mix_btn, self.interp_btn, self.arith_btn,
                             self.project_btn]
        for b in self._needs_model:
            b.setEnabled(False)

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        outer.addWidget(split)

        left = QWidget(split)
        lv = QVBoxLayout(left)
        box = QGroupBox("Model and sampling", left)
        form = QFormLayout(box)
        mrow = QHBoxLayout()
        self.model_edit = QLineEdit(box)
        self.model_edit.setPlaceholderText("StyleGAN2 (.pt with g_ema) or DCGAN netG_*.pth, or a model id")
        self.model_edit.setToolTip("A StyleGAN2 checkpoint (.pt with g_ema) or a DCGAN netG_*.pth, or a model id "
                                   "from Models > Model manager; Enter loads it")
        self.model_edit.returnPressed.connect(lambda: self.set_model(self.model_edit.text().strip()))
        browse = QPushButton("Open…", box)
        browse.clicked.connect(self._browse_model)
        mrow.addWidget(self.model_edit, 1)
        mrow.addWidget(browse)
        form.addRow("Model", mrow)
        self.model_label = QLabel("no model", box)
        self.model_label.setWordWrap(True)
        form.addRow("", self.model_label)
        srow = QHBoxLayout()
        self.seed_spin = QSpinBox(box)
        self.seed_spin.setRange(0, 2_000_000_000)
        prev_b = QToolButton(box)
        prev_b.setText("◀")
        prev_b.setToolTip(f"previous {GRID * GRID} seeds")
        next_b = QToolButton(box)
        next_b.setText("▶")
        next_b.setToolTip(f"next {GRID * GRID} seeds")
        prev_b.clicked.connect(lambda: self.seed_spin.setValue(max(0, self.seed_spin.value() - GRID * GRID)))
        next_b.clicked.connect(lambda: self.seed_spin.setValue(self.seed_spin.value() + GRID * GRID))
        srow.addWidget(prev_b)
        srow.addWidget(self.seed_spin, 1)
        srow.addWidget(next_b)
        form.addRow("First seed", srow)
        self.trunc_spin = QDoubleSpinBox(box)
        self.trunc_spin.setRange(0.0, 1.0)
        self.trunc_spin.setSingleStep(0.05)
        self.trunc_spin.setValue(1.0)
        form.addRow("Truncation ψ", self.trunc_spin)
        self.noise_combo = QComboBox(box)
        self.noise_combo.addItems(["stored", "zero", "random"])
        form.addRow("Noise", self.noise_combo)
        self.click_combo = QComboBox(box)
        self.click_combo.addItems(["Pick", "Label yes", "Label no", "Clear label"])
        form.addRow("Click on a tile", self.click_combo)
        self.sample_btn = QPushButton("Sample grid", box)
        self.sample_btn.clicked.connect(self.sample_grid)
        form.addRow(self.sample_btn)
        lv.addWidget(box)
        self.seed_spin.valueChanged.connect(lambda _v: self.sample_grid())
        self.trunc_spin.valueChanged.connect(lambda _v: self._settings_changed())
        self.noise_combo.currentIndexChanged.connect(lambda _i: self._settings_changed())

        gridw = QWidget(left)
        gl = QGridLayout(gridw)
        gl.setSpacing(2)
        self.tiles: list[SeedTile] = []
        for i in range(GRID * GRID):
            t = SeedTile(i, gridw)
            t.clicked.connect(lambda _c=False, tile=t: self._tile_clicked(tile))
            gl.addWidget(t, i // GRID, i % GRID)
            self.tiles.append(t)
        lv.addWidget(gridw, 1)
        self.status = QLabel("", left)
        self.status.setWordWrap(True)
        self.progress = QProgressBar(left)
        self.progress.setVisible(False)
        lv.addWidget(self.progress)
        lv.addWidget(self.status)
        split.addWidget(left)

        self.tabs = QTabWidget(split)
        self.tabs.addTab(self._build_edit_tab(), "Edit")
        self.tabs.addTab(self._build_interp_tab(), "Interpolate")
        self.tabs.addTab(self._build_arith_tab(), "Arithmetic")
        self.tabs.addTab(self._build_project_tab(), "Project photo")
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([440, 840])  # room for 96 px seed tiles at 1280 wide

    def _build_edit_tab(self) -> QWidget:
        w = QWidget(self)
        v = QVBoxLayout(w)
        self.view = ImageView(w)
        self.view.set_placeholder("Open a StyleGAN2 or DCGAN generator (Model: Open…), then click a seed tile: "
                                  "the picked image appears here and the direction sliders edit it.")
        v.addWidget(self.view, 3)
        src = QHBoxLayout()
        self.sefa_btn = QPushButton("SeFa", w)
        self.sefa_btn.setToolTip("closed-form directions from the generator's weights (layer range below)")
        self.pca_btn = QPushButton("PCA", w)
        self.pca_btn.setToolTip("GANSpace-style principal components of sampled W")
        self.sup_btn = QPushButton("Supervised", w)
        self.sup_btn.setToolTip("from the yes / no labels clicked in the grid (InterFaceGAN-style)")
        self.sup_name = QLineEdit("attribute", w)
        self.sup_name.setMaximumWidth(110)
        load_b = QPushButton("Load…", w)
        load_b.setToolTip("load directions saved for this model (.npz / .safetensors)")
        save_b = QPushButton("Save…", w)
        save_b.setToolTip("save the directions and their layer ranges")
        reset_b = QPushButton("Reset", w)
        reset_b.setToolTip("every slider back to 0")
        export_b = QPushButton("Export PNG…", w)
        export_b.setToolTip("the image with its recipe (model, seed, edits) inside the PNG; opening it restores them")
        self.sefa_btn.clicked.connect(lambda: self.compute_directions("sefa"))
        self.pca_btn.clicked.connect(lambda: self.compute_directions("pca"))
        self.sup_btn.clicked.connect(lambda: self.compute_directions("supervised"))
        load_b.clicked.connect(self._load_dialog)
        save_b.clicked.connect(self._save_dialog)
        reset_b.clicked.connect(self.reset_sliders)
        export_b.clicked.connect(self.export)
        self.load_btn, self.save_btn, self.export_btn = load_b, save_b, export_b
        # two rows, so the tab fits beside the seed grid in a 1280-wide window
        src.addWidget(QLabel("Directions:", w))
        for b in (self.sefa_btn, self.pca_btn, self.sup_btn, self.sup_name):
            src.addWidget(b)
        src.addStretch(1)
        v.addLayout(src)
        files = QHBoxLayout()
        for b in (load_b, save_b, reset_b, export_b):
            files.addWidget(b)
        files.addStretch(1)
        v.addLayout(files)
        lr = QHBoxLayout()
        lr.addWidget(QLabel("SeFa layers", w))
        self.sefa_start = QSpinBox(w)
        self.sefa_stop = QSpinBox(w)
        self.sefa_stop.setRange(0, 64)
        self.sefa_stop.setValue(64)
        lr.addWidget(self.sefa_start)
        lr.addWidget(self.sefa_stop)
        lr.addWidget(QLabel("count", w))
        self.n_dirs = QSpinBox(w)
        self.n_dirs.setRange(1, 64)
        self.n_dirs.setValue(6)
        lr.addWidget(self.n_dirs)
        lr.addStretch(1)
        self.mix_btn = QPushButton("Style mix", w)
        self.mix_btn.setToolTip("W+ rows before the index from the current seed, the rest from the picked tile")
        self.mix_index = QSpinBox(w)
        self.mix_index.setRange(0, 64)
        self.mix_index.setValue(4)
        self.mix_btn.clicked.connect(self.style_mix)
        lr.addWidget(self.mix_btn)
        lr.addWidget(self.mix_index)
        v.addLayout(lr)
        scroll = QScrollArea(w)
        scroll.setWidgetResizable(True)
        self.rows_host = QWidget(scroll)
        self.rows_layout = QVBoxLayout(self.rows_host)
        self.rows_layout.addStretch(1)
        scroll.setWidget(self.rows_host)
        v.addWidget(scroll, 2)
        return w

    def _build_interp_tab(self) -> QWidget:
        w = QWidget(self)
        v = QVBoxLayout(w)
        row = QHBoxLayout()
        self.steps_spin = QSpinBox(w)
        self.steps_spin.setRange(1, 120)
        self.steps_spin.setValue(8)
        self.slerp_check = QCheckBox("slerp", w)
        self.space_combo = QComboBox(w)
        self.space_combo.addItems(["z", "w"])
        run = QPushButton("Interpolate picked", w)
        self.interp_btn = run
        run.clicked.connect(self.interpolate)
        ex1 = QPushButton("Export strip…", w)
        ex2 = QPushButton("Export frames…", w)
        ex1.clicked.connect(lambda: self._export_interp(strip=True))
        ex2.clicked.connect(lambda: self._export_interp(strip=False))
        for x in (QLabel("steps", w), self.steps_spin, self.slerp_check, QLabel("space", w), self.space_combo, run,
                  ex1, ex2):
            row.addWidget(x)
        row.addStretch(1)
        v.addLayout(row)
        self.interp_view = ImageView(w)
        self.interp_view.set_placeholder("Pick two or more seed tiles, then Interpolate picked.")
        v.addWidget(self.interp_view, 1)
        return w

    def _build_arith_tab(self) -> QWidget:
        w = QWidget(self)
        v = QVBoxLayout(w)
        row = QHBoxLayout()
        self.group_labels: dict[str, QLabel] = {}
        for g in ("A", "B", "C"):
            b = QPushButton(f"{g} ← picked", w)
            b.clicked.connect(lambda _c=False, gg=g: self.set_group(gg, self.picked_seeds()))
            lab = QLabel("—", w)
            self.group_labels[g] = lab
            row.addWidget(b)
            row.addWidget(lab)
        self.arith_space = QComboBox(w)
        self.arith_space.addItems(["z", "w"])
        run = QPushButton("A − B + C", w)
        self.arith_btn = run
        run.clicked.connect(self.run_arithmetic)
        row.addWidget(self.arith_space)
        row.addWidget(run)
        row.addStretch(1)
        v.addLayout(row)
        hint = QLabel("Top: mean A, mean B, mean C, result. Below: the result with small perturbations.", w)
        hint.setWordWrap(True)
        v.addWidget(hint)
        self.arith_view = ImageView(w)
        self.arith_view.set_placeholder("Pick tiles and set groups A, B and C, then A − B + C.")
        v.addWidget(self.arith_view, 1)
        return w

    def _build_project_tab(self) -> QWidget:
        w = QWidget(self)
        v = QVBoxLayout(w)
        row = QHBoxLayout()
        b = QPushButton("Project a photo…", w)
        self.project_btn = b
        b.clicked.connect(self._project_dialog)
        self.proj_space = QComboBox(w)
        self.proj_space.addItems(["w+", "w"])
        self.proj_steps = QSpinBox(w)
        self.proj_steps.setRange(10, 5000)
        self.proj_steps.setValue(200)
        cancel = QPushButton("Stop", w)
        self.stop_btn = cancel
        cancel.clicked.connect(self.stop_projection)
        for x in (b, QLabel("space", w), self.proj_space, QLabel("steps", w), self.proj_steps, cancel):
            row.addWidget(x)
        row.addStretch(1)
        v.addLayout(row)
        hint = QLabel("Left: the photo (resized to the model). Middle: the reconstruction. Right: |error|. "
                      "The result becomes the image the sliders edit.", w)
        hint.setWordWrap(True)
        v.addWidget(hint)
        self.proj_view = ImageView(w)
        self.proj_view.set_placeholder("Project a photo… (StyleGAN2 models): finds the latent that reproduces it.")
        v.addWidget(self.proj_view, 1)
        self.proj_label = QLabel("", w)
        v.addWidget(self.proj_label)
        return w

    # ------------------------------------------------------------------------------------------ jobs
    def _run(self, target: str, kwargs: dict, on_done: Callable[[Any], None], name: str = "",
             on_progress: Optional[Callable[[Any], None]] = None,
             on_failed: Optional[Callable[[str], None]] = None, quiet_cancel: bool = False) -> JobHandle:
        handle = start_job(EngineJob(target, kwargs, name or target))
        relay = _Relay(self, on_done, on_progress, on_failed)
        relay.quiet_cancel = quiet_cancel
        handle.worker.finished.connect(relay.finished)
        handle.worker.failed.connect(relay.failed)
        handle.worker.progress.connect(relay.progress)
        handle.worker.cancelled.connect(relay.cancelled)
        relay.handle = handle
        self._jobs.add(handle)
        handle.thread.finished.connect(relay.thread_done)
        self.job_state.emit(name or "working…")
        return handle

    def _job_ended(self, handle: JobHandle, relay: _Relay) -> None:
        self._jobs.discard(handle)
        relay.deleteLater()
        if handle is self._grid_handle:
            self._grid_handle = None
        if handle is self._proj_handle:  # stopped or failed: no progress bar left behind
            self._proj_handle = None
            self.progress.setVisible(False)
        if not self._jobs:
            self.job_state.emit("")

    def _report_error(self, msg: str) -> None:
        log.warning("latent: %s", msg)
        self._set_status(msg)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    # ------------------------------------------------------------------------------------------ model
    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a StyleGAN2 or DCGAN generator", "",
                                              "Checkpoints (*.pt *.pth *.safetensors *.ckpt);;All files (*)")
        if path:
            self.set_model(path)

    def set_model(self, path: str) -> None:
        """Load a generator (in the worker) and sample the grid."""
        if not path:
            return
        self.model_edit.setText(path)
        self.model_edit.setToolTip(path)
        self.model_edit.setCursorPosition(len(path))  # the file name, not the start of a long folder path
        self._set_status("loading model…")
        self._model_request = path
        self._run(f"{LAT}:describe_model", {"model": path}, lambda info: self._on_model(path, info), "loading model",
                  on_failed=lambda msg: self._on_model_failed(path, msg))

    def _on_model_failed(self, path: str, msg: str) -> None:
        """The model box goes back to the model still in use, and the status says both."""
        if path != self._model_request:
            return  # another model was asked for meanwhile
        self._restoring = None
        self.model_edit.setText(self.model_path)
        self.model_edit.setToolTip(self.model_path)
        keep = f"; still using {Path(self.model_path).name}" if self.model_path else ""
        self._report_error(f"Cannot open {Path(path).name}: {drop_path(msg, path)}{keep}")

    def _on_model(self, path: str, info: dict) -> None:
        if path != self._model_request:
            return  # another model was asked for meanwhile: its own answer decides
        changed = info.get("sha256") != self.model_info.get("sha256")
        self.model_path = path
        self.model_info = dict(info)
        hp = ", ".join(f"{k}={v}" for k, v in info["hparams"].items() if k != "channels")
        self.model_label.setText(f"{info['family']} {info['resolution']}px ({hp}); sha256 {info['sha256'][:12]}…")
        n = int(info["n_latent"])
        self.sefa_start.setRange(0, n)
        self.sefa_stop.setRange(1, n)
        self.sefa_stop.setValue(n)
        self.mix_index.setRange(1, max(1, n - 1))
        stylegan = info["family"] == "stylegan2"
        for b in self._needs_model:
            b.setEnabled(True)
        self.noise_combo.setEnabled(stylegan)
        self.mix_btn.setEnabled(stylegan)
        if changed:
            self._clear_directions()
            self.base = None
            self.base_wplus = None
        self.model_ready.emit()
        if self._restoring is not None:
            state, self._restoring = self._restoring, None
            self._apply_state(state)
            self.sample_grid()
        else:
            self.sample_grid()

    # ------------------------------------------------------------------------------------------ grid
    def sample_grid(self) -> None:
        if not self.model_path:
            return
        first = self.seed_spin.value()
        seeds = list(range(first, first + GRID * GRID))
        kwargs = {"model": self.model_path, "seeds": seeds, "truncation": self.trunc_spin.value(),
                  "noise": self.noise_combo.currentText(), "batch": GRID * GRID}
        if self._grid_handle is not None:
            self._grid_handle.cancel()  # superseded
        self._grid_request += 1
        req = self._grid_request
        self._grid_handle = self._run(f"{LAT}:sample_grid", kwargs, lambda res: self._on_grid(res, req), "sampling",
                                     quiet_cancel=True)

    def _on_grid(self, res: dict, req: Optional[int] = None) -> None:
        if (req is not None and req != self._grid_request) or \
                res["seeds"] != list(range(self.seed_spin.value(), self.seed_spin.value() + GRID * GRID)):
            return  # an older grid: a newer one is on its way
        self._grid_handle = None
        self.grid_seeds = list(res["seeds"])
        self.grid_images = res["images"]
        for t, seed, img in zip(self.tiles, self.grid_seeds, res["images"]):
            t.set_sample(seed, img)
            t.setChecked(False)
            t.set_label(None)
        self._set_status(f"seeds {self.grid_seeds[0]}–{self.grid_seeds[-1]}")
        if self.base is None:
            self.set_base({"seeds": [self.grid_seeds[0]]})
        self.grid_ready.emit()

    def _tile_clicked(self, tile: SeedTile) -> None:
        mode = self.click_combo.currentText()
        if mode == "Pick":
            if tile.isChecked() and tile.seed is not None:
                self.set_base({"seeds": [tile.seed]})
            return
        tile.setChecked(not tile.isChecked())  # labelling does not change the pick
        tile.set_label({"Label yes": True, "Label no": False}.get(mode))

    def picked_seeds(self) -> list[int]:
        return [t.seed for t in self.tiles if t.isChecked() and t.seed is not None]

    def pick(self, seeds: list[int]) -> None:
        for t in self.tiles:
            t.setChecked(t.seed in seeds)

    def labels(self) -> tuple[list[int], list[int]]:
        yes = [t.seed for t in self.tiles if t.label is True]
        no = [t.seed for t in self.tiles if t.label is False]
        return yes, no

    def _settings_changed(self) -> None:
        if self.base is not None and self.base.get("wplus") is None:
            self.base_wplus = None
        self.sample_grid()
        self.render_edit()

    # ------------------------------------------------------------------------------------------ editing
    def set_base(self, base: dict) -> None:
        """The image the sliders edit: {'seeds': [s]} or {'z': ...} or {'wplus': (1, L, D)}."""
        self.base = dict(base)
        self.base_wplus = None
        self.render_edit()

    def _base_state(self) -> dict:
        st = {k: v for k, v in (self.base or {}).items() if k in ("seeds", "z", "wplus")}
        if "wplus" not in st:
            st["truncation"] = self.trunc_spin.value()
        st["noise"] = self.noise_combo.currentText()
        seeds = (self.base or {}).get("seeds") or (self.base or {}).get("noise_seeds") or [0]
        st["noise_seeds"] = list(seeds)
        return st

    def strengths(self) -> dict[str, float]:
        return {r.name: r.strength() for r in self.rows}

    def edits(self) -> list[dict]:
        if not self.dirs:
            return []
        out = []
        for i, r in enumerate(self.rows):
            s = r.strength()
            if s == 0.0:
                continue
            out.append({"name": r.name, "vector": np.asarray(self.dirs["vectors"][i], np.float32),
                        "space": self.dirs["space"], "strength": s, "layers": r.layers()})
        return out

    def render_edit(self) -> int:
        """Queue a render of base + slider edits (debounced, newest wins). Returns the request id."""
        if not self.model_path or self.base is None:
            return 0
        base = self._base_state()
        if self.base_wplus is not None and "wplus" not in base:
            # the mapping was done once; sliders only run the synthesis network
            base = {**base, "wplus": self.base_wplus}
            base.pop("seeds", None)
            base.pop("z", None)
        job = EngineJob(f"{LAT}:edit", {"model": self.model_path, "base": base, "edits": self.edits()}, "edit")
        rid = self.runner.submit(job)
        self.last_submitted = rid
        self._pending_strengths[rid] = self.strengths()
        return rid

    def _on_edit_result(self, rid: int, res: dict) -> None:
        strengths = self._pending_strengths.pop(rid, {})
        for k in [k for k in self._pending_strengths if k < rid]:
            self._pending_strengths.pop(k, None)
        if rid < self.last_shown:
            return  # never let an older render replace a newer one
        self.last_shown = rid
        self.shown_strengths = strengths
        if self.base_wplus is None and res.get("wplus") is not None and self.base is not None \
                and "wplus" not in self.base:
            self.base_wplus = np.asarray(res["wplus"])
        self.current_image = res["images"][0]
        self.view.set_image(self.current_image, keep_view=True)
        self.image_rendered.emit(rid)

    def _clear_directions(self) -> None:
        for r in self.rows:
            r.setParent(None)
            r.deleteLater()
        self.rows = []
        self.dirs = None

    def compute_directions(self, source: str) -> None:
        if not self.model_path:
            self._set_status("open a model first")
            return
        if source == "sefa":
            layers = (self.sefa_start.value(), self.sefa_stop.value())
            kwargs = {"model": self.model_path, "k": self.n_dirs.value(), "layers": layers}
            target = f"{DIRS}:sefa_job"
        elif source == "pca":
            kwargs = {"model": self.model_path, "k": self.n_dirs.value()}
            target = f"{DIRS}:pca_job"
        else:
            yes, no = self.labels()
            if not yes or not no:
                self._set_status("label at least one tile yes and one tile no (Click on a tile: Label yes/no)")
                return
            cond = [np.asarray(self.dirs["vectors"][i]).tolist() for i, r in enumerate(self.rows)
                    if r.keep.isChecked()] if self.dirs else []
            kwargs = {"model": self.model_path, "yes": yes, "no": no, "name": self.sup_name.text() or "attribute",
                      "truncation": self.trunc_spin.value(), "condition_on": cond}
            target = f"{DIRS}:supervised_job"
        self._run(target, kwargs, self.add_directions, f"{source} directions")

    def add_directions(self, d: dict) -> None:
        """Append a DirectionSet dict (same model, same space) as slider rows."""
        if self.model_info and d.get("model_sha256") != self.model_info.get("sha256"):
            self._set_status("those directions belong to another model")
            return
        d = {**d, "names": list(d["names"]), "vectors": np.asarray(d["vectors"], np.float32),
             "scales": np.asarray(d["scales"], np.float32), "layers": [list(x) for x in d["layers"]]}
        if self.dirs is not None and self.dirs["space"] != d["space"]:
            self._clear_directions()
        taken = {r.name for r in self.rows}
        names = []
        for n in d["names"]:
            base, k = n, 2
            while n in taken:
                n = f"{base}_{k}"
                k += 1
            taken.add(n)
            names.append(n)
        d["names"] = names
        if self.dirs is None:
            self.dirs = d
        else:
            self.dirs = {**self.dirs, "names": self.dirs["names"] + names,
                         "vectors": np.concatenate([self.dirs["vectors"], d["vectors"]]),
                         "scales": np.concatenate([self.dirs["scales"], d["scales"]]),
                         "layers": self.dirs["layers"] + d["layers"],
                         "source": self.dirs["source"] if self.dirs["source"] == d["source"] else "mixed"}
        n_latent = int(self.model_info.get("n_latent", 1))
        for i, name in enumerate(names):
            row = DirectionRow(name, float(d["scales"][i]), n_latent, tuple(d["layers"][i]), self.rows_host)
            row.changed.connect(self.render_edit)
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            self.rows.append(row)
        self.directions_changed.emit()

    def reset_sliders(self) -> None:
        for r in self.rows:
            r.set_strength(0.0, emit=False)
        self.render_edit()

    def current_directions(self) -> Optional[dict]:
        if self.dirs is None:
            return None
        return {**self.dirs, "layers": [r.layers() for r in self.rows]}

    def save_directions(self, path: str) -> None:
        d = self.current_directions()
        if d is None:
            self._set_status("no directions to save")
            return
        problem = folder_problem(path)
        if problem:
            self._report_error(f"Cannot save {Path(path).name}: {problem}")
            return
        self._run(f"{DIRS}:save_job", {"path": path, "dirs": d}, lambda p: self._set_status(f"saved {p}"),
                  "saving directions",
                  on_failed=lambda msg: self._report_error(f"Cannot save {Path(path).name}: {drop_path(msg, path)}"))

    def load_directions(self, path: str) -> None:
        self._run(f"{DIRS}:load_job", {"path": path, "model": self.model_path}, self.add_directions,
                  "loading directions",
                  on_failed=lambda msg: self._report_error(f"Cannot load {Path(path).name}: {drop_path(msg, path)}"))

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save directions", "directions.npz",
                                              "Directions (*.npz *.safetensors)")
        if path:
            self.save_directions(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load directions", "", "Directions (*.npz *.safetensors)")
        if path:
            self.load_directions(path)

    def style_mix(self, fine_seed: Optional[int] = None) -> None:
        """Coarse rows from the current base seed, fine rows (from the index on) from ``fine_seed`` (default:
        the last other picked tile)."""
        seeds = (self.base or {}).get("seeds")
        if not seeds or self.model_info.get("family") != "stylegan2":
            self._set_status("style mixing needs a StyleGAN2 model and a seed image as the base")
            return
        if fine_seed is None:
            others = [s for s in self.picked_seeds() if s != seeds[0]]
            if not others:
                self._set_status("pick a second tile to take the fine styles from")
                return
            fine_seed = others[-1]
        kwargs = {"model": self.model_path, "coarse": seeds[0], "fine": int(fine_seed),
                  "inject_index": self.mix_index.value(), "truncation": self.trunc_spin.value()}
        self._run(f"{LAT}:style_mix", kwargs,
                  lambda res: self.set_base({"wplus": res["wplus"], "noise_seeds": [seeds[0]]}), "style mixing")

    # ------------------------------------------------------------------------------------------ interpolation
    def interpolate(self) -> None:
        seeds = self.picked_seeds()
        if len(seeds) < 2:
            self._set_status("pick two or more tiles to interpolate between")
            return
        kwargs = {"model": self.model_path, "seeds": seeds, "steps": self.steps_spin.value(),
                  "spherical": self.slerp_check.isChecked(), "space": self.space_combo.currentText(),
                  "truncation": self.trunc_spin.value(), "noise": self.noise_combo.currentText()}
        self._interp_args = kwargs
        self._run(f"{LAT}:interpolate", kwargs, self._on_interp, "interpolating")

    def _on_interp(self, res: dict) -> None:
        self.frames = res["images"]
        self.strip = np.concatenate(list(self.frames), axis=1)
        self.interp_view.set_image(self.strip)

    def _export_interp(self, strip: bool) -> None:
        if self.frames is None:
            self._set_status("nothing to export yet: pick two or more tiles, then Interpolate picked")
            return
        if strip:
            path, _ = QFileDialog.getSaveFileName(self, "Export strip", "interpolation.png", "PNG (*.png)")
            if path:
                self.export_strip_to(path)
        else:
            folder = QFileDialog.getExistingDirectory(self, "Export frames to")
            if folder:
                self.export_frames_to(folder)

    def _interp_state(self) -> dict:
        st = {k: v for k, v in self._interp_args.items() if k in ("seeds", "truncation", "noise")}
        return {**st, "model": self.model_path}

    def export_strip_to(self, path: str) -> None:
        """The interpolation strip as one PNG with its recipe (in the worker)."""
        if self.strip is None:
            self._set_status("nothing to export yet: Interpolate picked first")
            return
        problem = folder_problem(path, (".png",))  # the recipe lives in PNG text chunks
        if problem:
            self._report_error(f"Cannot export {Path(path).name}: {problem}")
            return
        self._run(f"{REC}:export_png_job", {"path": path, "image": self.strip, "state": self._interp_state()},
                  lambda p: (self._set_status(f"exported {p}"), self.exported.emit(p)), "exporting",
                  on_failed=lambda msg: self._report_error(f"Cannot export {Path(path).name}: {drop_path(msg, path)}"))

    def export_frames_to(self, folder: str) -> None:
        """Every interpolation frame as frame_NNNN.png in ``folder``: one job, one message."""
        if self.frames is None:
            self._set_status("nothing to export yet: Interpolate picked first")
            return
        if not Path(folder).is_dir():
            why = "is a file" if Path(folder).exists() else "does not exist"
            self._report_error(f"Cannot export the frames: {folder} {why}")
            return
        n = len(self.frames)
        self._run(f"{LAT}:export_frames_job", {"folder": folder, "frames": list(self.frames),
                                                "state": self._interp_state()},
                  lambda paths: (self._set_status(f"exported {len(paths)} frames to {folder}"),
                                 self.exported.emit(folder)), "exporting frames",
                  on_failed=lambda msg: self._report_error(f"Cannot export the {n} frames to {folder}: {msg}"))

    # ------------------------------------------------------------------------------------------ arithmetic
    def set_group(self, name: str, seeds: list[int]) -> None:
        self.groups[name] = list(seeds)
        self.group_labels[name].setText(", ".join(str(s) for s in seeds) or "—")

    def run_arithmetic(self) -> None:
        if not all(self.groups.values()):
            self._set_status("set A, B and C from picked tiles first")
            return
        kwargs = {"model": self.model_path, "a": self.groups["A"], "b": self.groups["B"], "c": self.groups["C"],
                  "space": self.arith_space.currentText(), "truncation": self.trunc_spin.value(),
                  "noise": self.noise_combo.currentText(), "n_perturb": 8}
        self._run(f"{LAT}:arithmetic_job", kwargs, self._on_arith, "arithmetic")

    def _on_arith(self, res: dict) -> None:
        top = list(res["means"]) + [res["result"]]
        self.arith_result = res
        self.arith_view.set_image(np.concatenate([compose_grid(top, 4, fill=GRID_FILL),
                                                  compose_grid(list(res["perturbed"]), 4, fill=GRID_FILL)]))

    # ------------------------------------------------------------------------------------------ projection
    def _project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Project a photo", "", "Images (*.png *.jpg *.jpeg *.webp)")
        if path:
            self.project(path)

    def project(self, path: str) -> None:
        if not self.model_path:
            self._set_status("open a StyleGAN2 model first, then the photo to project")
            return
        self._cancel_projection()  # one projection at a time: the newest photo wins
        self.progress.setVisible(True)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        kwargs = {"model": self.model_path, "image_path": path, "space": self.proj_space.currentText(),
                  "steps": self.proj_steps.value()}
        self._proj_handle = self._run(f"{PROJ}:project", kwargs, self._on_projected, "projecting",
                                      self._on_proj_progress, on_failed=lambda msg: self._on_proj_failed(path, msg))
        self._proj_handle.worker.preview.connect(self.proj_view.set_image)
        self.tabs.setCurrentIndex(3)

    def _on_proj_failed(self, path: str, msg: str) -> None:
        text = f"Cannot project {Path(path).name}: {drop_path(msg, path)}"
        self.proj_label.setText(text)
        self._report_error(text)

    def _on_proj_progress(self, p: Any) -> None:
        if p.total:
            self.progress.setValue(int(100 * p.done / p.total))
        self.proj_label.setText(p.message)

    def _on_projected(self, res: dict) -> None:
        self.last_projection = res  # target, image, error_image, psnr, mae, wplus
        self.progress.setVisible(False)
        self._proj_handle = None
        self.proj_view.set_image(np.concatenate([res["target"], res["image"], res["error_image"]], axis=1))
        self.proj_label.setText(f"reconstruction: PSNR {res['psnr']:.2f} dB, mean |error| {res['mae']:.4f}")
        self.set_base({"wplus": res["wplus"], "noise_seeds": [0]})
        self.projection_done.emit()

    def _cancel_projection(self) -> None:
        if self._proj_handle is not None:
            self._proj_handle.cancel()
            self.proj_label.setText("projection stopped")

    def stop_projection(self) -> None:
        """The Stop button."""
        if self._proj_handle is None:
            self.proj_label.setText("no projection is running")
        self._cancel_projection()

    # ------------------------------------------------------------------------------------------ files
    def current_state(self) -> dict:
        st = self._base_state()
        st["model"] = self.model_path
        st["edits"] = self.edits()
        return st

    def export(self) -> None:
        if self.current_image is None:
            self._set_status("nothing to export yet: pick a seed tile first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG with recipe", "latent.png", "PNG (*.png)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        """Write the image on screen with its recipe (in the worker)."""
        if self.current_image is None:
            self._set_status("nothing to export yet: pick a seed tile first")
            return
        problem = folder_problem(path, (".png",))  # the recipe lives in PNG text chunks
        if problem:
            self._report_error(f"Cannot export {Path(path).name}: {problem}")
            return
        self._run(f"{REC}:export_png_job", {"path": path, "image": self.current_image,
                                            "state": self.current_state()},
                  lambda p: (self._set_status(f"exported {p}"), self.exported.emit(p)), "exporting",
                  on_failed=lambda msg: self._report_error(f"Cannot export {Path(path).name}: {drop_path(msg, path)}"))

    def open_image(self, path: str) -> bool:
        """A PNG with a GAN Studio recipe restores that state; any other image is projected into the model."""
        if not Path(path).is_file():
            self._report_error(f"Cannot open {path}: no such file")
            return False
        self._open_request += 1
        req = self._open_request  # only the newest opened file is restored or projected
        self._run(f"{LAT}:read_state_job", {"path": path},
                  lambda st: self._on_recipe(path, st) if req == self._open_request else None, "reading",
                  on_failed=lambda msg: self._report_error(f"Cannot open {Path(path).name}: {drop_path(msg, path)}")
                  if req == self._open_request else None)
        return True

    def _on_recipe(self, path: str, state: Optional[dict]) -> None:
        if state is None:
            self.project(path)
            return
        if self.model_info.get("sha256") == state.get("model_sha256"):
            self._apply_state(state)
            return
        model = state.get("model")
        if model and Path(model).is_file():
            self._restoring = state
            self.set_model(model)
            return
        # a status line like every other refusal (a modal box here interrupted nothing worth interrupting)
        missing = f", {Path(model).name} is missing" if model else ""
        self._report_error(f"{Path(path).name} was made with a model that is not open "
                           f"(sha256 {str(state.get('model_sha256'))[:12]}…{missing}). Open that model first.")

    def _apply_state(self, state: dict) -> None:
        dims = {"w": self.model_info.get("w_dim"), "z": self.model_info.get("z_dim")}
        for e in state.get("edits") or []:
            want = dims.get(e.get("space"))
            got = np.asarray(e.get("vector")).shape
            if want and got != (int(want),):
                # refused before anything changes: a slider row of the wrong size would fail every render
                self._report_error(f"direction {e.get('name', '?')!r} has {got} values; this model's "
                                   f"{e.get('space')} space needs ({int(want)},): it was made for another model")
                return
        for w in (self.trunc_spin, self.noise_combo):
            w.blockSignals(True)
        self.trunc_spin.setValue(float(state.get("truncation", 1.0)))
        self.noise_combo.setCurrentText(state.get("noise", "stored"))
        for w in (self.trunc_spin, self.noise_combo):
            w.blockSignals(False)
        if state.get("wplus") is not None:
            base = {"wplus": state["wplus"]}
        else:
            base = {k: state[k] for k in ("seeds", "z") if state.get(k) is not None}
        if state.get("noise_seeds"):
            base["noise_seeds"] = state["noise_seeds"]
        # the recipe's directions become sliders (matching existing ones are reused)
        edits = state.get("edits") or []
        want: dict[str, float] = {}
        new = []
        for e in edits:
            idx = next((i for i, r in enumerate(self.rows) if self.dirs is not None and
                        np.allclose(self.dirs["vectors"][i], e["vector"], atol=1e-6)), None)
            if idx is None:
                new.append(e)
            else:
                want[self.rows[idx].name] = float(e["strength"])
                lay = e.get("layers") or [0, None]
                r = self.rows[idx]
                for sb, v in ((r.start, lay[0] or 0), (r.stop, r.stop.maximum() if lay[1] is None else lay[1])):
                    sb.blockSignals(True)
                    sb.setValue(int(v))
                    sb.blockSignals(False)
        if new:
            self.add_directions({"names": [e["name"] for e in new],
                                 "vectors": np.stack([np.asarray(e["vector"], np.float32) for e in new]),
                                 "space": new[0]["space"], "model_sha256": self.model_info.get("sha256"),
                                 "source": "recipe", "scales": np.ones(len(new), np.float32),
                                 "layers": [[a if a is not None else 0, b if b is not None else -1]
                                            for a, b in ((e.get("layers") or [0, -1]) for e in new)]})
            for e in new:
                want[self.rows[-len(new) + new.index(e)].name] = float(e["strength"])
        for r in self.rows:
            r.set_strength(want.get(r.name, 0.0), emit=False)
        self.base = base
        self.base_wplus = None
        self.tabs.setCurrentIndex(0)
        self.render_edit()
        self.state_restored.emit()

    # ------------------------------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        self.runner.shutdown()
        for h in list(self._jobs):
            h.cancel()
        for h in list(self._jobs):
            h.wait()
