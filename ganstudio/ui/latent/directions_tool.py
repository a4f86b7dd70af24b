"""The Edit tool: the picked image, attribute sliders, and where directions come from.

* Unsupervised: SeFa (from the generator's weights) and PCA (of sampled latents) find directions without labels;
  their sliders read "SeFa 1", "PCA 2", with a tooltip saying what they are.
* Supervised, as two visible steps: 1. label tiles yes / no in the grid (counts shown), 2. fit a named direction.
* Named directions shipped with a model appear by themselves (the panel adds them when the model opens).

Sliders render through a ``LatestOnlyRunner`` (debounced, newest wins, stale results dropped); the directions
jobs through a ``JobSlot`` with a progress row (ETA, Cancel); files through their own slot.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core.errors import InputError
from ganstudio.ui.latent.grid import SeedGrid
from ganstudio.ui.latent.job_progress import JobProgressRow
from ganstudio.ui.latent.session import (
    EDIT,
    EXPORT_PNG,
    LOAD_DIRECTIONS,
    PCA,
    SAVE_DIRECTIONS,
    SEFA,
    STYLE_MIX,
    SUPERVISED,
    LatentSession,
    direction_label,
    folder_problem,
)
from ganstudio.ui.widgets.image_view import ImageView
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.workers.engine_worker import EngineJob, LatestOnlyRunner
from ganstudio.workers.jobs import JobSlot

log = logging.getLogger(__name__)

SLIDER_STEPS = 100  # slider -100..100 maps to -SIGMAS..+SIGMAS standard deviations along the direction
SIGMAS = 3.0


class DirectionRow(QWidget):
    """name | slider | value | layer range | keep-fixed checkbox, for direction ``index`` of the session."""

    changed = Signal()

    def __init__(self, session: LatentSession, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.index = index
        self.name = session.names()[index]
        self.scale = session.scale(index)
        n_latent = session.n_latent
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        text, tip = direction_label(self.name)
        self.name_label = QLabel(text, self)
        self.name_label.setMinimumWidth(70)
        self.name_label.setToolTip(session.tips[index] if index < len(session.tips) else tip)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setRange(-SLIDER_STEPS, SLIDER_STEPS)
        self.slider.setToolTip(self.name_label.toolTip())
        self.value_label = QLabel("+0.00", self)
        self.value_label.setMinimumWidth(44)
        self.start = QSpinBox(self)
        self.stop = QSpinBox(self)
        for sb in (self.start, self.stop):
            sb.setRange(0, max(1, n_latent))
        self.start.setToolTip("first W+ row this slider changes")
        self.stop.setToolTip("W+ rows up to (not including) this one")
        a, b = session.layers[index]
        self.start.setValue(a)
        self.stop.setValue(b)
        self.start.setVisible(n_latent > 1)
        self.stop.setVisible(n_latent > 1)
        self.keep = QCheckBox("fixed", self)
        self.keep.setChecked(session.fixed[index])
        self.keep.setToolTip("supervised directions fitted next are conditioned to leave this one unchanged")
        for w in (self.name_label, self.slider, self.value_label, self.start, self.stop, self.keep):
            lay.addWidget(w, 1 if w is self.slider else 0)
        self.show_strength(session.strengths[index])
        self.slider.valueChanged.connect(self._on_value)
        self.start.valueChanged.connect(self._on_layers)
        self.stop.valueChanged.connect(self._on_layers)
        self.keep.toggled.connect(self._on_keep)

    def strength(self) -> float:
        return self.session.strengths[self.index]

    def show_strength(self, s: float) -> None:
        """Put the slider at ``s`` (kept exactly in the session, not rounded to a slider step)."""
        self.slider.blockSignals(True)
        self.slider.setValue(round(s / (SIGMAS * self.scale) * SLIDER_STEPS))
        self.slider.blockSignals(False)
        self.value_label.setText(f"{s:+.2f}")

    def layers(self) -> list:
        return list(self.session.layers[self.index])

    @Slot(int)
    def _on_value(self, v: int) -> None:
        s = v / SLIDER_STEPS * SIGMAS * self.scale
        self.session.strengths[self.index] = s
        self.value_label.setText(f"{s:+.2f}")
        self.changed.emit()

    @Slot(int)
    def _on_layers(self, _v: int) -> None:
        self.session.layers[self.index] = [self.start.value(), self.stop.value()]
        self.changed.emit()

    @Slot(bool)
    def _on_keep(self, on: bool) -> None:
        self.session.fixed[self.index] = on


class DirectionsTool(QWidget):
    status = Signal(str)
    image_rendered = Signal(int)  # request id of the slider render now on screen
    directions_changed = Signal()
    exported = Signal(str)

    def __init__(self, session: LatentSession, grid: SeedGrid, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.grid = grid
        self.rows: list[DirectionRow] = []
        self.current_image: np.ndarray | None = None
        self.last_submitted = 0
        self.last_shown = 0
        self.shown_strengths: dict[str, float] = {}
        self._pending: dict[int, dict[str, float]] = {}
        self._dir_detail = ""  # tooltip detail of the directions being computed ("Fitted to 3 yes and 2 no")
        self._file_action = ("", "")  # ("saved" | "loaded", path) of the directions file job
        self._export_path = ""
        self._mix_seed = 0
        # short debounce: coalesces bursts of slider events but keeps a drag rendering continuously
        self.runner = LatestOnlyRunner(debounce_ms=10, parent=self)
        self.runner.result.connect(self._on_rendered)
        self.runner.failed.connect(self._on_render_failed)
        self.dir_job = JobSlot(self, "directions")
        self.dir_job.finished.connect(self._on_directions)
        self.dir_job.failed.connect(self._on_directions_failed)
        self.file_job = JobSlot(self, "directions file")
        self.file_job.finished.connect(self._on_file_done)
        self.file_job.failed.connect(self._on_file_failed)
        self.export_job = JobSlot(self, "export")
        self.export_job.finished.connect(self._on_exported)
        self.export_job.failed.connect(self._on_export_failed)
        self.mix_job = JobSlot(self, "style mixing")
        self.mix_job.finished.connect(self._on_mixed)
        self.mix_job.failed.connect(self._on_failed)
        self._build()
        grid.labels_changed.connect(self._show_label_counts)
        self.set_model_loaded(False)

    def slots(self) -> list[JobSlot]:
        return [self.dir_job, self.file_job, self.export_job, self.mix_job]

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        v = QVBoxLayout(self)
        self.view = ImageView(self)
        self.view.set_placeholder("Open a StyleGAN2 or DCGAN generator (the Model list above), then click a seed "
                                  "tile: the picked image appears here and the direction sliders edit it.")
        v.addWidget(self.view, 3)

        src = QHBoxLayout()
        src.addWidget(QLabel("Find directions:", self))
        self.sefa_btn = QPushButton("SeFa", self)
        self.sefa_btn.setToolTip("closed-form directions from the generator's weights (no labels needed); "
                                 "rows: the W+ layer range they come from")
        self.pca_btn = QPushButton("PCA", self)
        self.pca_btn.setToolTip("GANSpace-style principal components of sampled latents (no labels needed)")
        self.sefa_btn.clicked.connect(lambda: self.compute_directions("sefa"))
        self.pca_btn.clicked.connect(lambda: self.compute_directions("pca"))
        self.n_dirs = QSpinBox(self)
        self.n_dirs.setRange(1, 64)
        self.n_dirs.setValue(6)
        self.n_dirs.setToolTip("how many directions to find")
        self.sefa_start = QSpinBox(self)
        self.sefa_stop = QSpinBox(self)
        self.sefa_stop.setRange(0, 64)
        self.sefa_stop.setValue(64)
        self.sefa_start.setToolTip("SeFa: first W+ row whose style weights are factorised")
        self.sefa_stop.setToolTip("SeFa: W+ rows up to (not including) this one")
        for w in (self.sefa_btn, self.pca_btn, QLabel("count", self), self.n_dirs, QLabel("rows", self),
                  self.sefa_start, self.sefa_stop):
            src.addWidget(w)
        src.addStretch(1)
        v.addLayout(src)
        v.addWidget(self._build_supervised())

        files = QHBoxLayout()
        self.load_btn = QPushButton("Load…", self)
        self.load_btn.setToolTip("load directions saved for this model (.npz / .safetensors)")
        self.save_btn = QPushButton("Save…", self)
        self.save_btn.setToolTip("save the directions and their layer ranges")
        reset = QPushButton("Reset", self)
        reset.setToolTip("every slider back to 0")
        self.export_btn = QPushButton("Export PNG…", self)
        self.export_btn.setToolTip("the image with its recipe (model, seed, edits) inside the PNG; opening it "
                                   "restores them")
        self.mix_btn = QPushButton("Style mix", self)
        self.mix_btn.setToolTip("W+ rows before the index from the edited seed, the rest from the last other "
                                "picked tile")
        self.mix_index = QSpinBox(self)
        self.mix_index.setRange(0, 64)
        self.mix_index.setValue(4)
        self.load_btn.clicked.connect(self._load_dialog)
        self.save_btn.clicked.connect(self._save_dialog)
        reset.clicked.connect(self.reset_sliders)
        self.export_btn.clicked.connect(self.export)
        self.mix_btn.clicked.connect(lambda: self.style_mix())
        for w in (self.load_btn, self.save_btn, reset, self.export_btn):
            files.addWidget(w)
        files.addStretch(1)
        files.addWidget(self.mix_btn)
        files.addWidget(self.mix_index)
        v.addLayout(files)
        self.progress = JobProgressRow("Cancel", self)
        self.progress.bind(self.dir_job)
        v.addWidget(self.progress)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        self.rows_host = QWidget(scroll)
        self.rows_layout = QVBoxLayout(self.rows_host)
        self.rows_layout.addStretch(1)
        scroll.setWidget(self.rows_host)
        v.addWidget(scroll, 2)

    def _build_supervised(self) -> QWidget:
        box = QGroupBox("Your own attribute (supervised)", self)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(2)
        explain = QLabel("Label grid tiles that show it (yes) and that do not (no); the boundary between them "
                         "becomes a slider.", box)
        explain.setWordWrap(True)
        lay.addWidget(explain)
        step1 = QHBoxLayout()
        step1.addWidget(QLabel("1. Label tiles:", box))
        self.label_yes = QPushButton("✓ Yes", box)
        self.label_no = QPushButton("✗ No", box)
        for b, val in ((self.label_yes, True), (self.label_no, False)):
            b.setCheckable(True)
            b.setToolTip("while down, clicking a tile labels it (click again to unlabel); up: clicks pick")
            b.toggled.connect(lambda on, val=val: self._on_label_mode(val, on))
        self.label_counts = QLabel("0 yes · 0 no", box)
        clear = QPushButton("Clear", box)
        clear.setToolTip("remove every label")
        clear.clicked.connect(self.grid.clear_labels)
        for w in (self.label_yes, self.label_no, self.label_counts, clear):
            step1.addWidget(w)
        step1.addStretch(1)
        lay.addLayout(step1)
        step2 = QHBoxLayout()
        step2.addWidget(QLabel("2. Fit:", box))
        self.sup_name = QLineEdit("attribute", box)
        self.sup_name.setToolTip("the slider's name")
        self.sup_name.setMaximumWidth(140)
        self.sup_btn = QPushButton("Fit direction", box)
        self.sup_btn.clicked.connect(lambda: self.compute_directions("supervised"))
        step2.addWidget(self.sup_name)
        step2.addWidget(self.sup_btn)
        step2.addStretch(1)
        lay.addLayout(step2)
        return box

    # ------------------------------------------------------------------------------------------ model
    def set_model_loaded(self, loaded: bool) -> None:
        stylegan = self.session.is_stylegan
        for b in (self.sefa_btn, self.pca_btn, self.load_btn, self.save_btn, self.export_btn):
            b.setEnabled(loaded)
        self.mix_btn.setEnabled(loaded and stylegan)
        if loaded:
            n = self.session.n_latent
            self.sefa_start.setRange(0, n)
            self.sefa_stop.setRange(1, n)
            self.sefa_stop.setValue(n)
            self.mix_index.setRange(1, max(1, n - 1))
        self._show_label_counts()

    def model_changed(self) -> None:
        """Another network: its directions and edited image are gone (the session dropped them)."""
        self.rebuild_rows()
        self.current_image = None
        self.directions_changed.emit()

    # ------------------------------------------------------------------------------------------ labels
    def _on_label_mode(self, value: bool, on: bool) -> None:
        other = self.label_no if value else self.label_yes
        if on and other.isChecked():
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
        self.grid.set_label_mode(value if on else None)

    def label_mode(self, mode: bool | None) -> None:
        """Labelling mode as the buttons set it: True (yes), False (no), None (clicks pick)."""
        if mode is None:
            for b in (self.label_yes, self.label_no):
                b.setChecked(False)
        else:
            (self.label_yes if mode else self.label_no).setChecked(True)

    @Slot()
    def _show_label_counts(self) -> None:
        yes, no = self.session.label_lists()
        self.label_counts.setText(f"{len(yes)} yes · {len(no)} no")
        ready = bool(yes) and bool(no) and self.session.has_model
        self.sup_btn.setEnabled(ready)
        self.sup_btn.setToolTip("fit a direction to the labelled tiles" if ready else
                                "label at least one tile yes and one tile no first (step 1)")

    # ------------------------------------------------------------------------------------------ rendering
    def set_base(self, base: dict) -> None:
        self.session.set_base(base)
        self.render()

    def render(self) -> int:
        """Queue a render of base + slider edits (debounced, newest wins). Returns the request id."""
        kwargs = self.session.edit_job()
        if kwargs is None:
            return 0
        rid = self.runner.submit(EngineJob(EDIT, kwargs, "edit"))
        self.last_submitted = rid
        self._pending[rid] = self.session.strength_map()
        return rid

    @Slot(int, object)
    def _on_rendered(self, rid: int, res: dict) -> None:
        strengths = self._pending.pop(rid, {})
        for k in [k for k in self._pending if k < rid]:
            self._pending.pop(k, None)
        if rid < self.last_shown:
            return  # never let an older render replace a newer one
        self.last_shown = rid
        self.shown_strengths = strengths
        self.session.accept_edit(res)
        self.current_image = res["images"][0]
        self.view.set_image(self.current_image, keep_view=True)
        self.image_rendered.emit(rid)

    @Slot(int, object)
    def _on_render_failed(self, _rid: int, exc) -> None:
        self.status.emit(user_message(exc))

    # ------------------------------------------------------------------------------------------ directions
    def compute_directions(self, source: str) -> None:
        if not self.session.has_model:
            self.status.emit("open a model first")
            return
        try:
            if source == "sefa":
                target = SEFA
                kwargs = self.session.sefa_job(self.n_dirs.value(), (self.sefa_start.value(), self.sefa_stop.value()))
            elif source == "pca":
                target, kwargs = PCA, self.session.pca_job(self.n_dirs.value())
            else:
                target, kwargs = SUPERVISED, self.session.supervised_job(self.sup_name.text())
        except InputError as exc:
            self.status.emit(str(exc))
            return
        self._dir_detail = ""
        if source == "supervised":
            yes, no = self.session.label_lists()
            self._dir_detail = f"Fitted to {len(yes)} yes and {len(no)} no tiles"
        self.dir_job.start(target, kwargs, f"{source} directions")

    @Slot(object)
    def _on_directions(self, d: dict) -> None:
        self.add_directions(d, self._dir_detail)

    @Slot(object)
    def _on_directions_failed(self, exc) -> None:
        self.status.emit(f"Cannot find directions: {user_message(exc)}")

    def add_directions(self, d: dict, detail: str = "") -> bool:
        """Append a DirectionSet dict (same model) as sliders."""
        try:
            self.session.add_directions(d, detail)
        except InputError as exc:
            self.status.emit(str(exc))
            return False
        self.rebuild_rows()
        self.directions_changed.emit()
        return True

    def rebuild_rows(self) -> None:
        for r in self.rows:
            r.setParent(None)
            r.deleteLater()
        self.rows = []
        for i in range(len(self.session.names())):
            row = DirectionRow(self.session, i, self.rows_host)
            row.changed.connect(self.render)
            self.rows_layout.insertWidget(self.rows_layout.count() - 1, row)
            self.rows.append(row)

    def strengths(self) -> dict[str, float]:
        return self.session.strength_map()

    def reset_sliders(self) -> None:
        self.session.strengths = [0.0] * len(self.session.strengths)
        for r in self.rows:
            r.show_strength(0.0)
        self.render()

    # ------------------------------------------------------------------------------------------ files
    def save_directions(self, path: str) -> None:
        d = self.session.current_directions()
        if d is None:
            self.status.emit("no directions to save")
            return
        problem = folder_problem(path)
        if problem:
            self.status.emit(f"Cannot save {Path(path).name}: {problem}")
            return
        self._file_action = ("saved", path)
        self.file_job.start(SAVE_DIRECTIONS, {"path": path, "dirs": d})

    def load_directions(self, path: str) -> None:
        self._file_action = ("loaded", path)
        self.file_job.start(LOAD_DIRECTIONS, self.session.load_directions_job(path))

    @Slot(object)
    def _on_file_done(self, res) -> None:
        what, path = self._file_action
        if what == "saved":
            self.status.emit(f"saved {res}")
        elif self.add_directions(res, f"Loaded from {Path(path).name}"):
            self.status.emit(f"loaded {len(res['names'])} directions from {Path(path).name}")

    @Slot(object)
    def _on_file_failed(self, exc) -> None:
        what, path = self._file_action
        verb = "save" if what == "saved" else "load"
        self.status.emit(f"Cannot {verb} {Path(path).name}: {drop_path(user_message(exc), path)}")

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save directions", "directions.npz",
                                              "Directions (*.npz *.safetensors)")
        if path:
            self.save_directions(path)

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load directions", "", "Directions (*.npz *.safetensors)")
        if path:
            self.load_directions(path)

    def export(self) -> None:
        if self.current_image is None:
            self.status.emit("nothing to export yet: pick a seed tile first")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG with recipe", "latent.png", "PNG (*.png)")
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        """Write the image on screen with its recipe (in the worker)."""
        if self.current_image is None:
            self.status.emit("nothing to export yet: pick a seed tile first")
            return
        problem = folder_problem(path, (".png",))  # the recipe lives in PNG text chunks
        if problem:
            self.status.emit(f"Cannot export {Path(path).name}: {problem}")
            return
        self._export_path = path
        self.export_job.start(EXPORT_PNG, self.session.export_job(path, self.current_image,
                                                                  self.session.current_state()))

    @Slot(object)
    def _on_exported(self, p: str) -> None:
        self.status.emit(f"exported {p}")
        self.exported.emit(p)

    @Slot(object)
    def _on_export_failed(self, exc) -> None:
        path = self._export_path
        self.status.emit(f"Cannot export {Path(path).name}: {drop_path(user_message(exc), path)}")

    # ------------------------------------------------------------------------------------------ style mixing
    def style_mix(self, fine_seed: int | None = None) -> None:
        """Coarse rows from the edited seed, fine rows (from the index on) from ``fine_seed`` (default: the
        last other picked tile)."""
        try:
            kwargs = self.session.style_mix_job(self.mix_index.value(), fine_seed)
        except InputError as exc:
            self.status.emit(str(exc))
            return
        self._mix_seed = kwargs["coarse"]
        self.mix_job.start(STYLE_MIX, kwargs)

    @Slot(object)
    def _on_mixed(self, res: dict) -> None:
        self.set_base({"wplus": res["wplus"], "noise_seeds": [self._mix_seed]})

    @Slot(object)
    def _on_failed(self, exc) -> None:
        self.status.emit(user_message(exc))

    def is_idle(self) -> bool:
        return not self.runner.is_busy() and not any(s.is_running() for s in self.slots())

    def shutdown(self) -> None:
        self.runner.shutdown()
        for s in self.slots():
            s.shutdown()
