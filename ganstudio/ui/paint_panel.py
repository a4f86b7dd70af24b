"""Paint tab: paint a semantic layout, SPADE turns it into an image as you go.

Left: tools (brush, eraser, fill, line, rectangle, polygon, eyedropper, pan), brush size, the eraser's
background label, overlay opacity, seed. Centre: the label-map canvas drawn over the latest result.
Right: the model's labels (searchable, recent on top) and the result.

Every completed stroke submits one live render to a ``LatestOnlyRunner`` (debounced; while one render runs
only the newest request waits, stale ones are dropped). The live render is at reduced resolution
(``live_scale`` per side; SPADE is fully convolutional, so it is the same network at a smaller size, the
label map downsampled with nearest). The scale adapts to the machine: after each full-resolution render it
is the largest whose expected time (full time × scale², SPADE's cost follows the pixel count) fits
``LIVE_BUDGET_MS`` — on 2 CPU threads a 256×256 model previews at 96×96, on a GPU at full size (then no
second render is needed). Once the user pauses (``FULL_DELAY_MS`` with no edit, and the live render done)
one full-resolution render follows automatically; any edit cancels a full render in flight (the engine
checks before each layer) and a stale one's result is dropped. "Render full size" renders the label map at its own size on demand.
Engines run through EngineJob strings (``ganstudio.engines.paint``); no torch here.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core import palettes
from ganstudio.ui.label_palette import LabelPalette
from ganstudio.ui.paint_canvas import TOOLS, PaintCanvas
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.workers.engine_worker import EngineJob, JobHandle, LatestOnlyRunner, start_job

try:
    from ganstudio.ui.widgets.image_view import ImageView
except ImportError:  # pragma: no cover
    ImageView = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ENGINE = "ganstudio.engines.paint"
# Renders start only when a stroke ends, so the debounce only merges bursts (undo/redo key repeat, quick
# clicks); while a render runs, newer requests wait anyway and only the newest starts. Every ms of it is
# stroke-to-preview latency: 15 (was 40) — bench/paint.py.
DEBOUNCE_MS = 15
LIVE_SCALE = 0.5  # live preview side scale until a full render has been timed (then adaptive, see below)
# The engine time a live preview may take: with the 15 ms debounce, a few ms of thread hand-over and display
# and the jitter of a shared machine, stroke-to-preview p95 stays under 150 ms (bench/paint.py).
LIVE_BUDGET_MS = 100.0
FULL_DELAY_MS = 400  # no edit for this long (and the live render done): render at full resolution
TOOL_TEXT = {"brush": "Brush (B)", "eraser": "Eraser (E)", "fill": "Fill (G)", "line": "Line (L)",
             "rect": "Rectangle (R)", "polygon": "Polygon (P): click points, double-click / Enter to fill",
             "eyedropper": "Eyedropper (I)", "pan": "Pan (H; or middle button / space + drag)"}
HINT_NO_MODEL = ("Choose a SPADE model above (or Open checkpoint…).\nThen pick a label on the right and paint "
                 "here: B brush, R rectangle, G fill, P polygon.")
HINT_PAINT = ("Pick a label on the right and paint here:\nB brush · R rectangle · G fill · P polygon.\n"
              "The result follows every stroke.")
TOOL_KEYS = {"brush": "B", "eraser": "E", "fill": "G", "line": "L", "rect": "R", "polygon": "P",
             "eyedropper": "I", "pan": "H"}


def choose_live_scale(full_ms: float, full_side: int, multiple: int, budget_ms: float = LIVE_BUDGET_MS) -> float:
    """The live preview's side scale: 1.0 when a full-size render fits ``budget_ms``; else the largest
    k / n (n = full_side // multiple, so the preview side is k whole multiples, at least one) whose expected
    time full_ms · (k / n)² fits; one multiple when none does."""
    if full_ms <= budget_ms:
        return 1.0
    n = max(1, int(full_side) // max(1, int(multiple)))
    for k in range(n - 1, 0, -1):
        if full_ms * (k / n) ** 2 <= budget_ms:
            return k / n
    return 1.0 / n


def _settings():
    try:
        from ganstudio.ui.settings import Settings

        return Settings()
    except Exception:  # pragma: no cover
        return None


class PaintPanel(QWidget):
    job_state = Signal(str)
    rendered = Signal(object)  # the (H, W, 3) uint8 result of a live or full render
    live_rendered = Signal(object)  # a reduced-resolution live preview
    full_rendered = Signal(object)  # a full-resolution render (after a pause, or "Render full size")
    model_ready = Signal(dict)
    message = Signal(str)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.model: Optional[str] = None
        self._pending_model: Optional[tuple[str, dict]] = None  # being described (set_model)
        self._describe_worker = None  # the worker describing it: an older describe's answer is stale
        self._open_worker = None  # the worker opening the newest open_image file
        self.overrides: dict = {}
        self.info: Optional[dict] = None
        self.last_result: Optional[np.ndarray] = None
        self.last_message = ""
        self.render_requests = 0
        self.live_renders = 0  # results shown, by kind
        self.full_renders = 0
        self.full_started = 0
        self.last_result_kind = ""  # "live" | "full"
        self.last_full_ms: Optional[float] = None
        self.live_scale = LIVE_SCALE
        self.adaptive_live = True  # choose live_scale from the timed full renders
        self.live_budget_ms = LIVE_BUDGET_MS
        self._render_times: list[float] = []  # recent full-resolution render times (ms)
        self._live_clock = QElapsedTimer()
        self._newest_request = 0  # id of the newest live render asked for
        self._map_version = 0  # bumped by every edit: a full render of an older map is stale
        self._full_job: Optional[JobHandle] = None
        self._full_version = -1
        self._full_size_kind = "fit"
        self._full_wanted = False  # the pause came while the live render still ran: full render when idle
        self._full_clock = QElapsedTimer()
        self._full_timer = QTimer(self)
        self._full_timer.setSingleShot(True)
        self._full_timer.setInterval(FULL_DELAY_MS)
        self._full_timer.timeout.connect(self._on_pause)
        self._jobs: set[JobHandle] = set()
        self._touched = False  # the user has drawn or imported: a model change keeps the map
        self._quiet = False  # programmatic map changes (new map for a model) are not user edits
        self.runner = LatestOnlyRunner(DEBOUNCE_MS, self)
        self.runner.result.connect(self._on_rendered)
        self.runner.failed.connect(self._on_render_failed)
        self.runner.started.connect(self._on_live_started)
        self.runner.idle.connect(self._on_runner_idle)

        self.canvas = PaintCanvas(self)
        self.canvas.label_map_changed.connect(self._on_map_changed)
        self.canvas.label_picked.connect(self._on_picked)
        self.canvas.hovered.connect(self._on_hover)
        self.palette_view = LabelPalette(self)
        self.palette_view.label_selected.connect(self._on_label_selected)
        self.result_view = ImageView(self) if ImageView is not None else QLabel(self)

        self._build_ui()
        self._apply_palette(palettes.load_palette("ade20k"), n_labels=151, allow_dontcare=True)
        self._new_map(256, 256)
        self.palette_view.select(3 if len(self.palette_view.names) > 3 else 0)
        self._refresh_models()

    # --------------------------------------------------------------------------------------- UI
    def _build_ui(self) -> None:
        self.model_box = QComboBox()
        self.model_box.setMinimumContentsLength(24)
        self.model_box.activated.connect(self._on_model_chosen)
        open_model = QPushButton("Open checkpoint…")
        open_model.clicked.connect(self._browse_model)
        self.status = QLabel("Choose a SPADE model to render.")
        self.status.setWordWrap(True)
        self.hover_label = QLabel("")

        tools = QToolBar("Tools")
        tools.setOrientation(Qt.Orientation.Vertical)
        tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        group = QActionGroup(self)
        group.setExclusive(True)
        self.tool_actions: dict[str, QAction] = {}
        for tool in TOOLS:
            act = QAction(tool.capitalize() if tool != "rect" else "Rectangle", self)
            act.setToolTip(TOOL_TEXT[tool])
            act.setCheckable(True)
            act.setShortcut(QKeySequence(TOOL_KEYS[tool]))
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(lambda _=False, t=tool: self.set_tool(t))
            group.addAction(act)
            tools.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["brush"].setChecked(True)

        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 256)
        self.brush_size.setValue(self.canvas.brush_size)
        self.brush_size.setToolTip("Brush diameter in label-map pixels ([ and ] change it)")
        self.brush_size.valueChanged.connect(self.canvas.set_brush_size)
        self.background = QComboBox()
        self.background.setToolTip("The label the eraser paints and Clear fills with")
        self.background.currentIndexChanged.connect(
            lambda i: self.canvas.set_background_label(self.background.itemData(i) or 0))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.canvas.overlay_opacity * 100))
        self.opacity.setToolTip("Opacity of the label map over the result")
        self.opacity.valueChanged.connect(lambda v: self.canvas.set_overlay_opacity(v / 100.0))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setToolTip("Style seed (models with a latent / VAE only; the public SPADE models are "
                             "deterministic)")
        self.seed.valueChanged.connect(lambda _v: self.request_render())
        self.seed.setEnabled(False)  # the model says whether it takes a style seed
        self.instances = QCheckBox("Stroke = instance")
        self.instances.setToolTip("For models with an instance-edge channel (COCO-Stuff, Cityscapes): every stroke "
                                  "or shape is its own object, so touching objects of one label stay apart.\n"
                                  "Off: instance edges only where labels change.")
        self.instances.setEnabled(False)
        self.instances.toggled.connect(lambda _on: self.request_render())

        undo = QPushButton("Undo")
        undo.clicked.connect(self.canvas.undo_stack.undo)
        redo = QPushButton("Redo")
        redo.clicked.connect(self.canvas.undo_stack.redo)
        self.canvas.undo_stack.canUndoChanged.connect(undo.setEnabled)
        self.canvas.undo_stack.canRedoChanged.connect(redo.setEnabled)
        undo.setEnabled(False)
        redo.setEnabled(False)
        for text, seq, slot in (("Undo", QKeySequence.StandardKey.Undo, self.canvas.undo_stack.undo),
                                ("Redo", QKeySequence.StandardKey.Redo, self.canvas.undo_stack.redo)):
            act = QAction(text, self)
            act.setShortcut(seq)
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        fit = QPushButton("Fit")
        fit.clicked.connect(self.canvas.fit)
        self.full_button = QPushButton("Render full size")
        self.full_button.setToolTip("Render the label map at its own size (rounded to the model's multiple)")
        self.full_button.clicked.connect(self.render_full)
        self.full_button.setEnabled(False)  # until a model is ready
        export_map = QPushButton("Export label map…")
        export_map.setToolTip("The label map as an indexed PNG with the palette (Ctrl+E; the result is saved beside it)")
        export_map.clicked.connect(self.export)
        self.export_result_button = QPushButton("Export result…")
        self.export_result_button.setToolTip("The generated image")
        self.export_result_button.setEnabled(False)  # until something is rendered
        self.export_result_button.clicked.connect(self._export_result_dialog)
        export_result = self.export_result_button

        form = QFormLayout()
        form.addRow("Brush size", self.brush_size)
        form.addRow("Background", self.background)
        form.addRow("Overlay", self.opacity)
        form.addRow("Seed", self.seed)
        form.addRow("", self.instances)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(tools)
        lv.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(undo)
        row.addWidget(redo)
        lv.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(clear)
        row.addWidget(fit)
        lv.addLayout(row)
        lv.addWidget(self.full_button)
        lv.addWidget(export_map)
        lv.addWidget(export_result)
        lv.addStretch(1)

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.palette_view)
        right.addWidget(self.result_view)
        right.setStretchFactor(0, 1)
        right.setStretchFactor(1, 1)
        right.setSizes([360, 300])
        self.result_view.setMinimumHeight(160)
        if hasattr(self.result_view, "set_placeholder"):
            self.result_view.set_placeholder("The generated image appears here. Choose a SPADE model above "
                                             "(or Open checkpoint…), then paint labels on the canvas.")

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.canvas)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([190, 700, 300])

        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_box, 1)
        top.addWidget(open_model)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.hover_label)
        lay.addLayout(bottom)

    def _refresh_models(self) -> None:
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem("(no model)", None)
        try:
            from ganstudio.core.manifest import entry_path, load_manifest

            for e in load_manifest():
                if e.task != "paint" and e.arch != "spade":
                    continue
                present = entry_path(e) is not None
                self.model_box.addItem(e.id + ("" if present else "  (not downloaded)"), e.id if present else None)
                if not present:
                    idx = self.model_box.count() - 1
                    self.model_box.setItemData(idx, e.description, Qt.ItemDataRole.ToolTipRole)
        except Exception as exc:  # a broken manifest must not break the tab
            log.warning("paint: cannot list models: %s", exc)
        self.model_box.blockSignals(False)

    def _apply_palette(self, pal: "palettes.Palette", n_labels: int, allow_dontcare: bool) -> None:
        if getattr(self, "_palette", None) is None or self._palette.key != pal.key:
            self.palette_view.recent = []  # recent labels belong to one label set
        self._palette = pal
        self._n_labels = n_labels
        self._allow_dontcare = allow_dontcare
        self.canvas.set_palette(pal.colors)
        names = list(pal.names)[:n_labels]
        self.palette_view.set_labels(names, pal.colors[:n_labels], title=pal.name, hidden_ids=pal.unused)
        self.background.blockSignals(True)
        self.background.clear()
        for i, n in enumerate(names):
            self.background.addItem(f"{i}: {n}", i)
        self.background.blockSignals(False)
        self.background.setCurrentIndex(0)
        self.canvas.set_background_label(0)

    # ------------------------------------------------------------------------------------ models
    def _on_model_chosen(self, index: int) -> None:
        model = self.model_box.itemData(index)
        if model:
            self.set_model(model)

    def _browse_model(self) -> None:
        s = _settings()
        path, _ = QFileDialog.getOpenFileName(self, "Open a SPADE generator checkpoint",
                                              s.last_dir("open") if s else "",
                                              "Checkpoints (*.pth *.pt *.safetensors *.ckpt);;All files (*)")
        if path:
            self.set_model(path)

    def set_model(self, model: str, overrides: Optional[dict] = None) -> JobHandle:
        """Use ``model`` (a checkpoint path or manifest id); describes it in the worker, then renders."""
        # the model in use (self.model) changes only once the new one is described: a file that is no SPADE
        # generator leaves the current model rendering
        model, overrides = str(model), dict(overrides or {})
        self._pending_model = (model, overrides)
        self.status.setText(f"Loading {Path(model).name}…")
        self._select_in_box(model)
        handle = self._start(EngineJob(f"{ENGINE}:describe_model", {"model": model, "overrides": overrides},
                                       name="paint: describe model"), self._on_described, self._on_describe_failed)
        self._describe_worker = handle.worker
        return handle

    def _stale_describe(self) -> bool:
        """The answer comes from a describe_model job older than the newest set_model."""
        sender = self.sender()
        return sender is not None and self._describe_worker is not None and sender is not self._describe_worker

    def _select_in_box(self, model: Optional[str]) -> None:
        self.model_box.blockSignals(True)
        if model is not None and self.model_box.findData(model) < 0:
            self.model_box.addItem(Path(model).name, model)
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(model)) if model is not None else 0)
        self.model_box.blockSignals(False)

    @Slot(object)
    def _on_described(self, d: dict) -> None:
        if self._stale_describe():
            return  # another model was chosen meanwhile: its own answer decides
        pending = self._pending_model
        if pending is not None:
            self._pending_model = None
            self.model, self.overrides = pending
            self._render_times = []
            if self.adaptive_live:
                self.live_scale = LIVE_SCALE
        self.info = d
        n = int(d["label_nc"]) + int(bool(d["contain_dontcare_label"]))
        names, colors = list(d["label_names"]), np.asarray(d["label_colors"], np.uint8)
        if len(names) < n:  # the dontcare slot / short lists get a name of their own
            names += [f"label {i}" for i in range(len(names), n)]
            colors = np.concatenate([colors, np.zeros((n - len(colors), 3), np.uint8)]) if len(colors) < n else colors
        pal = palettes.Palette(key=d.get("palette_key", "model"), name=d.get("palette_name", "labels"), names=names,
                               colors=colors, dontcare_value=d.get("dontcare_value"),
                               unused=palettes.load_palette(d["palette_key"]).unused
                               if d.get("palette_key") in palettes.BUILTIN else frozenset())
        self._apply_palette(pal, n_labels=n, allow_dontcare=bool(d["contain_dontcare_label"]))
        self.seed.setEnabled(bool(d.get("use_vae")))
        self.instances.setEnabled(bool(d.get("use_instance")))
        self.full_button.setEnabled(True)
        h, w = d["native_size"]
        if not self._touched or self.canvas.label_map.max(initial=0) >= n:
            self._new_map(int(h), int(w))
        cur = self.palette_view.current()
        if not (0 <= cur < n) or not self.palette_view.recent:
            cur = next((i for i in range(1, n) if i not in pal.unused), 0)
        self.palette_view.select(cur)
        self.status.setText(f"{Path(d.get('path') or self.model).name}: {d['label_nc']} labels"
                            f"{' + dontcare' if d['contain_dontcare_label'] else ''}"
                            f"{', instance edges' if d['use_instance'] else ''}, {d['num_upsampling_layers']}"
                            f" upsampling, {w}×{h} (a smaller live preview while you paint, full size when you pause)")
        self.model_ready.emit(d)
        self.request_render()

    # ------------------------------------------------------------------------------------ render
    def _render_kwargs(self, size, scale: float = 1.0) -> dict:
        s = _settings()
        return {"label_map": self.canvas.label_map.copy(), "instance_map": self._instance_map(),
                "model": self.model, "seed": int(self.seed.value()), "size": size, "scale": float(scale),
                "device": s.device if s else "cpu", "precision": s.precision if s else "fp32",
                "overrides": self.overrides}

    def request_render(self) -> Optional[int]:
        """Queue a live render of the current label map (debounced; the newest request wins) at
        ``live_scale``; a full-resolution render follows once the user pauses."""
        if not self.model or self.info is None:
            return None
        self.render_requests += 1
        self._map_version += 1
        self._cancel_full()  # the map changed: a full render in flight is stale
        job = EngineJob(f"{ENGINE}:render", self._render_kwargs("fit", self.live_scale), name="paint: preview")
        self._newest_request = self.runner.submit(job)
        self._full_wanted = False
        if self.live_scale < 1.0:
            self._full_timer.start()  # (re)start: the full render waits for a pause
        else:
            self._full_timer.stop()
        return self._newest_request

    def render_full(self) -> Optional[JobHandle]:
        """On demand: the label map at its own size (rounded to the model's multiple)."""
        if not self.model or self.info is None:
            self._say("Choose a model first.")
            return None
        self._full_timer.stop()
        self._full_wanted = False
        return self._start_full("full")

    def _start_full(self, size) -> JobHandle:
        self._cancel_full()
        self.full_started += 1
        self._full_version = self._map_version
        self._full_size_kind = size
        self.job_state.emit("rendering full size…")
        self._full_clock.start()
        self._full_job = self._start(EngineJob(f"{ENGINE}:render", self._render_kwargs(size),
                                               name="paint: full render"), self._on_full_result, self._on_full_failed)
        return self._full_job

    def _cancel_full(self) -> None:
        if self._full_job is not None:
            self._full_job.cancel()
            self._full_job = None

    @Slot()
    def _on_pause(self) -> None:
        """FULL_DELAY_MS without an edit: the full-resolution render, once the live one has ended."""
        if self.runner.is_busy():
            self._full_wanted = True  # started from _on_runner_idle
        else:
            self._start_full("fit")

    @Slot()
    def _on_runner_idle(self) -> None:
        if self._full_wanted:
            self._full_wanted = False
            self._start_full("fit")
        elif self._full_job is None:
            self.job_state.emit("")

    def is_idle(self) -> bool:
        """Nothing rendering and nothing scheduled (tests, benchmarks)."""
        return not (self.runner.is_busy() or self._jobs or self._full_timer.isActive() or self._full_wanted)

    def _instance_map(self) -> Optional[np.ndarray]:
        """The painted instances when asked for (and the model takes them); None = label boundaries."""
        if self.instances.isEnabled() and self.instances.isChecked():
            return self.canvas.instance_map.copy()
        return None

    @Slot(int)
    def _on_live_started(self, _req_id: int) -> None:
        self._live_clock.start()
        self.job_state.emit("rendering…")

    @Slot(int, object)
    def _on_rendered(self, req_id: int, image) -> None:
        self.live_renders += 1
        if self.live_scale >= 1.0 and self._live_clock.isValid():  # a live render at full size is a full one
            self._adapt(float(self._live_clock.elapsed()), image.shape)
        self._show_result(image, "live")
        self.live_rendered.emit(image)

    @Slot(object)
    def _on_full_result(self, image) -> None:
        sender = self.sender()
        current = self._full_job is not None and (sender is None or sender is self._full_job.worker)
        if not current or self._full_version != self._map_version:
            return  # cancelled / the map changed since it started: a newer live preview is (or will be) shown
        on_demand = self._full_size_kind == "full"
        self._full_job = None
        self.full_renders += 1
        self.last_full_ms = float(self._full_clock.elapsed())
        if not on_demand:
            self._adapt(self.last_full_ms, image.shape)
        self._show_result(image, "full")
        if on_demand:  # an automatic one does not overwrite the status (import warnings stay readable)
            self._say(f"Full-size render: {image.shape[1]}×{image.shape[0]}")
        self.full_rendered.emit(image)
        self.job_state.emit("")

    def _adapt(self, full_ms: float, shape) -> None:
        """Keep the live preview inside the budget: median of the last three full-size render times."""
        self._render_times = (self._render_times + [full_ms])[-3:]
        if not self.adaptive_live or self.info is None:
            return
        ms = sorted(self._render_times)[len(self._render_times) // 2]
        self.live_scale = choose_live_scale(ms, max(shape[:2]), int(self.info.get("size_multiple") or 1),
                                            self.live_budget_ms)

    def _show_result(self, image: np.ndarray, kind: str) -> None:
        self.last_result = image
        self.last_result_kind = kind
        self.export_result_button.setEnabled(True)
        self.canvas.set_result(image)
        if hasattr(self.result_view, "set_image"):
            shown = image
            full = getattr(self, "_full_shape", None)
            if kind == "full":
                self._full_shape = image.shape[:2]
            elif full is not None and image.shape[:2] != full and image.shape[0] * full[1] == image.shape[1] * full[0]:
                # a live preview shown at the full render's size, so the result view keeps its zoom and place
                h, w = image.shape[:2]
                q = QImage(np.ascontiguousarray(image).data, w, h, 3 * w, QImage.Format.Format_RGB888)
                shown = q.scaled(full[1], full[0], Qt.AspectRatioMode.IgnoreAspectRatio,
                                 Qt.TransformationMode.SmoothTransformation)
            self.result_view.set_image(shown, keep_view=self.result_view.has_image())
        self.rendered.emit(image)

    @Slot(int, str)
    def _on_render_failed(self, req_id: int, msg: str) -> None:
        self._say(f"Render failed: {user_message(msg)}")
        if req_id >= self._newest_request:  # the same map would fail at full size too
            self._full_timer.stop()
            self._full_wanted = False
        self.job_state.emit("")

    # ------------------------------------------------------------------------------ canvas events
    def set_tool(self, tool: str) -> None:
        self.canvas.set_tool(tool)
        self.tool_actions[tool].setChecked(True)

    def _new_map(self, h: int, w: int) -> None:
        self._quiet = True
        try:
            self.canvas.new_map(h, w, 0)
        finally:
            self._quiet = False
        self._touched = False
        self.canvas.set_hint(HINT_NO_MODEL if self.info is None else HINT_PAINT)

    @Slot()
    def _on_map_changed(self) -> None:
        if self._quiet:
            return
        self._touched = True
        self.canvas.set_hint("")
        self.request_render()

    @Slot(int)
    def _on_label_selected(self, label: int) -> None:
        self.canvas.set_current_label(label)

    @Slot(int)
    def _on_picked(self, label: int) -> None:
        self.palette_view.select(label, emit=False)
        self._say(f"Picked {label}: {self._palette.name_of(label)}")

    @Slot(int, int, int)
    def _on_hover(self, x: int, y: int, label: int) -> None:
        self.hover_label.setText("" if label < 0 else f"({x}, {y})  {label}: {self._palette.name_of(label)}")

    # ------------------------------------------------------------------------------ files
    def open_image(self, path: str) -> bool:
        """A label-map PNG imports; a photo is converted to labels by nearest palette colour."""
        p = Path(path)
        if not p.is_file():
            self._say(f"Cannot open {path}: no such file")
            return False
        kwargs = {"path": str(p), "n_labels": self._n_labels, "allow_dontcare": self._allow_dontcare}
        if self._palette.key in palettes.BUILTIN and len(self._palette) >= self._n_labels:
            kwargs["palette"] = self._palette.key
        else:
            kwargs.update(colors=self._palette.colors.tolist(), names=list(self._palette.names))
        self.status.setText(f"Opening {p.name}…")
        self._opening = p.name
        self._opening_path = str(p)
        handle = self._start(EngineJob(f"{ENGINE}:open_for_canvas", kwargs, name="paint: open"),
                             self._on_opened, self._on_open_failed)
        self._open_worker = handle.worker  # a file opened before it and finishing later is dropped
        return True

    def _stale_open(self) -> bool:
        sender = self.sender()
        return sender is not None and self._open_worker is not None and sender is not self._open_worker

    @Slot(object)
    def _on_opened(self, res: dict) -> None:
        if self._stale_open():
            return
        name = getattr(self, "_opening", "")
        lm = np.asarray(res["label_map"])
        bad = lm >= self._n_labels
        if self._allow_dontcare:
            bad &= lm != palettes.DONTCARE
        if bad.any():  # read for another label set (the model changed while the file was being read)
            self._say(f"Cannot open {name}: it has label ids up to {int(lm[bad].max())}; this model has "
                      f"{self._n_labels} labels. Open it again.")
            return
        self._quiet = True
        try:
            # one undoable step: Undo brings back the painting the import replaced
            self.canvas.set_label_map(np.asarray(res["label_map"]), reset_history=False)
        finally:
            self._quiet = False
        self.canvas.fit()
        self._touched = True
        self.canvas.set_hint("")
        msgs = "; ".join(res.get("messages") or [])
        h, w = res["label_map"].shape
        self._say(f"Opened {name} ({res['kind']}, {w}×{h}){': ' + msgs if msgs else ''}")
        self.request_render()

    def _write(self, path: str, write) -> bool:
        """Run ``write(path)``; a folder that is missing or a file, or any write error, is one status line."""
        parent = Path(path).parent
        if not parent.is_dir():
            why = "is a file" if parent.exists() else "does not exist"
            self._say(f"Cannot export {Path(path).name}: the folder {parent} {why}")
            return False
        if Path(path).is_dir():
            self._say(f"Cannot export {Path(path).name}: {path} is a folder")
            return False
        try:
            write(path)
        except (OSError, ValueError) as exc:
            self._say(f"Cannot export {Path(path).name}: {drop_path(str(exc), path)}")
            return False
        return True

    def export_label_map(self, path: str) -> bool:
        """The label map as an indexed PNG; False (and a status message) when it cannot be written."""
        if Path(path).suffix.lower() != ".png":  # the ids must survive: an indexed PNG, never a lossy format
            self._say(f"Cannot export {Path(path).name}: a label map is saved as an indexed PNG (.png)")
            return False
        return self._write(path, lambda p: palettes.write_label_map(p, self.canvas.label_map, self._palette))

    def export_result(self, path: str) -> bool:
        if self.last_result is None:
            self._say("Nothing rendered yet.")
            return False
        from ganstudio.core.imageio import write_image

        return self._write(path, lambda p: write_image(p, self.last_result))

    def export(self) -> None:
        """File > Export: the label map as an indexed PNG with its palette (and the result beside it)."""
        s = _settings()
        start = s.last_dir("export") if s else ""
        path, _ = QFileDialog.getSaveFileName(self, "Export label map", str(Path(start) / "labels.png"),
                                              "Indexed PNG (*.png)")
        if not path:
            return
        if not path.lower().endswith(".png"):
            path += ".png"
        if not self.export_label_map(path):
            return
        extra = ""
        if self.last_result is not None:
            rp = str(Path(path).with_name(Path(path).stem + "_result.png"))
            if not self.export_result(rp):
                return
            extra = f" and {Path(rp).name}"
        if s:
            s.set_last_dir("export", str(Path(path).parent))
        self._say(f"Exported {Path(path).name}{extra}")

    def _export_result_dialog(self) -> None:
        if self.last_result is None:
            self._say("Nothing rendered yet.")
            return
        s = _settings()
        start = s.last_dir("export") if s else ""
        path, _ = QFileDialog.getSaveFileName(self, "Export result", str(Path(start) / "result.png"),
                                              "Images (*.png *.jpg *.webp *.tif)")
        if path:
            if not self.export_result(path):
                return
            if s:
                s.set_last_dir("export", str(Path(path).parent))
            self._say(f"Exported {Path(path).name}")

    # ------------------------------------------------------------------------------ plumbing
    def _say(self, text: str) -> None:
        self.last_message = text
        self.status.setText(text)
        self.message.emit(text)

    def _start(self, job: EngineJob, on_done, on_failed) -> JobHandle:
        """Start a one-off job. ``on_done`` / ``on_failed`` must be bound methods of this panel: then the
        worker's signals are queued to the GUI thread (a lambda would run in the worker thread)."""
        handle = start_job(job)
        self._jobs.add(handle)
        handle.worker.finished.connect(on_done)
        handle.worker.failed.connect(on_failed)
        handle.thread.finished.connect(self._forget_finished)
        return handle

    @Slot()
    def _forget_finished(self) -> None:
        self._jobs = {h for h in self._jobs if not h.thread.isFinished()}

    @Slot(str, str)
    def _on_open_failed(self, msg: str, _tb: str) -> None:
        if self._stale_open():
            return
        name = getattr(self, "_opening", "")
        self._say(f"Cannot open {name}: {drop_path(user_message(msg), getattr(self, '_opening_path', name))}")

    @Slot(str, str)
    def _on_describe_failed(self, msg: str, _tb: str) -> None:
        if self._stale_describe():
            return
        pending = self._pending_model
        self._pending_model = None
        name = Path(pending[0]).name if pending else "this model"
        self._select_in_box(self.model if self.info is not None else None)
        keep = f"; still using {Path(self.model).name}" if self.model and self.info is not None else ""
        msg = drop_path(user_message(msg), pending[0]) if pending else user_message(msg)
        self._say(f"Cannot use {name}: {msg}{keep}")

    @Slot(str, str)
    def _on_full_failed(self, msg: str, _tb: str) -> None:
        self._full_job = None
        self._say(f"Full-size render failed: {user_message(msg)}")
        self.job_state.emit("")

    def shutdown(self) -> None:
        self._full_timer.stop()
        self._full_wanted = False
        self.runner.shutdown()
        for h in list(self._jobs):
            h.cancel()
        for h in list(self._jobs):
            h.wait(30000)
