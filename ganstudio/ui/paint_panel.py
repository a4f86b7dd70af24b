"""Paint tab: paint a semantic layout, SPADE turns it into an image as you go.

Left: tools (brush, eraser, fill, line, rectangle, polygon, eyedropper, pan), brush size, the eraser's
background label, overlay opacity, seed. Centre: the label-map canvas drawn over the latest result.
Right: the model's labels (searchable, recent on top) and the result.

What happens when (render scheduling) is ``paint_render_scheduler.PaintRenderScheduler``: a live preview per
edit, a full-size render after a pause, stale renders dropped; this panel only says that the map changed and
shows what comes back. The other jobs (describe a model, open a file, fetch a missing model) each run in a
``workers.jobs.JobSlot``: a newer request replaces an older one and the older one's answer is dropped.
Engines run through EngineJob strings (``ganstudio.engines.paint``); no torch here.

Nothing painted is lost when the model changes: a model with another label set keeps the painting, mapped by
label names (``core.label_sets``), after asking; the change is one step on the canvas's undo stack, so
Ctrl+Z brings back the painting and the label set (and the model) it was painted for. The window's
Edit > Undo / Redo follow that stack (``undo_stack()``), and the tool keys (B, E, G / F, L, R, P, I, H) work
wherever the focus is while the tab is shown.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QImage, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core import palettes
from ganstudio.core.label_sets import map_label_sets
from ganstudio.ui.label_palette import LabelPalette
from ganstudio.ui.paint_canvas import TOOLS, PaintCanvas
from ganstudio.ui.paint_render_scheduler import PaintRenderScheduler, choose_live_scale  # noqa: F401
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.ui.widgets.model_fetch import ModelFetchBar
from ganstudio.workers.jobs import JobSlot

try:
    from ganstudio.ui.widgets.image_view import ImageView
except ImportError:  # pragma: no cover
    ImageView = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

# the jobs this tab runs (resolved in the worker: the UI never imports the engine); renders are the scheduler's
DESCRIBE_TARGET = "ganstudio.engines.paint:describe_model"
OPEN_TARGET = "ganstudio.engines.paint:open_for_canvas"
TOOL_TEXT = {"brush": "Brush (B)", "eraser": "Eraser (E)", "fill": "Fill (G or F)", "line": "Line (L)",
             "rect": "Rectangle (R)", "polygon": "Polygon (P): click points, double-click / Enter to fill",
             "eyedropper": "Eyedropper (I)", "pan": "Pan (H; or middle button / space + drag)"}
HINT_NO_MODEL = ("Choose a SPADE model above (or Open checkpoint…).\nThen pick a label on the right and paint "
                 "here: B brush, R rectangle, G fill, P polygon.")
HINT_PAINT = ("Pick a label on the right and paint here:\nB brush · R rectangle · G fill · P polygon.\n"
              "The result follows every stroke.")
TOOL_KEYS = {"brush": ("B",), "eraser": ("E",), "fill": ("G", "F"), "line": ("L",), "rect": ("R",),
             "polygon": ("P",), "eyedropper": ("I",), "pan": ("H",)}
PRESENT_ROLE = Qt.ItemDataRole.UserRole + 1  # model list: False for a known model whose file is missing


def _settings():
    try:
        from ganstudio.ui.settings import Settings

        return Settings()
    except Exception:  # pragma: no cover
        return None


@dataclass
class ModelState:
    """Everything that comes with a model: what renders and the label set the map is painted in."""

    model: Optional[str]
    overrides: dict
    info: Optional[dict]
    palette: "palettes.Palette"
    n_labels: int
    allow_dontcare: bool


class LabelSetCommand(QUndoCommand):
    """A model change that mapped the painting to another label set: one undoable step. Undo brings back
    the painting as it was and the model and label set it was painted for; redo the mapped one."""

    def __init__(self, panel: "PaintPanel", before: tuple, after: tuple, text: str) -> None:
        super().__init__(text)
        self.panel, self.before, self.after = panel, before, after

    def redo(self) -> None:
        self.panel._restore(*self.after)

    def undo(self) -> None:
        self.panel._restore(*self.before)


class PaintPanel(QWidget):
    job_state = Signal(str)
    rendered = Signal(object)  # the (H, W, 3) uint8 result of a live or full render
    live_rendered = Signal(object)  # a reduced-resolution live preview
    full_rendered = Signal(object)  # a full-resolution render (after a pause, or "Render full size")
    model_ready = Signal(dict)
    message = Signal(str)
    label_set_question = Signal(object)  # the QMessageBox asking before a painting is mapped to a new label set

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.model: Optional[str] = None
        self.overrides: dict = {}
        self.info: Optional[dict] = None
        self._pending_model: Optional[tuple[str, dict]] = None  # being described (set_model)
        self.label_set_box: Optional[QMessageBox] = None
        self.last_result: Optional[np.ndarray] = None
        self.last_message = ""
        self.last_result_kind = ""  # "live" | "full"
        self._touched = False  # the user has drawn or imported: a model change keeps the map
        self._quiet = False  # programmatic map changes (new map for a model) are not user edits
        self._opening = ("", "")  # (name, path) of the file being opened
        self._default_chosen = False  # a model was set, or the first show picked the default

        self.scheduler = PaintRenderScheduler(self._render_kwargs, self)
        self.scheduler.live_rendered.connect(self._on_live_rendered)
        self.scheduler.full_rendered.connect(self._on_full_rendered)
        self.scheduler.failed.connect(self._on_render_failed)
        self.scheduler.state.connect(self.job_state)
        self.scheduler.cancelled.connect(self._on_full_cancelled)
        self.describe_job = JobSlot(self, "paint: describe model")
        self.describe_job.finished.connect(self._on_described)
        self.describe_job.failed.connect(self._on_describe_failed)
        self.open_job = JobSlot(self, "paint: open")
        self.open_job.finished.connect(self._on_opened)
        self.open_job.failed.connect(self._on_open_failed)

        self.canvas = PaintCanvas(self)
        self.canvas.label_map_changed.connect(self._on_map_changed)
        self.canvas.label_picked.connect(self._on_picked)
        self.canvas.hovered.connect(self._on_hover)
        self.palette_view = LabelPalette(self)
        self.palette_view.label_selected.connect(self._on_label_selected)
        self.result_view = ImageView(self) if ImageView is not None else QLabel(self)
        self.fetch_bar = ModelFetchBar(self, task="paint")
        self.fetch_bar.fetched.connect(self._on_model_fetched)
        self.fetch_bar.message.connect(self._say)

        self._build_ui()
        self.scheduler.full_running.connect(self.cancel_button.setEnabled)
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

        self.tools = QToolBar("Tools")
        self.tools.setOrientation(Qt.Orientation.Vertical)
        self.tools.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        group = QActionGroup(self)
        group.setExclusive(True)
        self.tool_actions: dict[str, QAction] = {}
        for tool in TOOLS:
            act = QAction(tool.capitalize() if tool != "rect" else "Rectangle", self)
            act.setToolTip(TOOL_TEXT[tool])
            act.setCheckable(True)
            act.setShortcuts([QKeySequence(k) for k in TOOL_KEYS[tool]])
            # the window's keys while the tab is shown, whatever has the focus: the tool bar lives in this
            # tab, so it is hidden (and its keys inactive) while another tab is current. Text fields keep
            # their letters (they take plain keys before any shortcut).
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _=False, t=tool: self.set_tool(t))
            group.addAction(act)
            self.tools.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["brush"].setChecked(True)

        self.brush_size = QSpinBox()
        self.brush_size.setRange(1, 256)
        self.brush_size.setValue(self.canvas.brush_size)
        self.brush_size.setToolTip("Brush diameter in label-map pixels ([ and ] change it)")
        self.brush_size.valueChanged.connect(self.canvas.set_brush_size)
        self.background = QComboBox()
        self.background.setToolTip("The label the eraser paints and Clear fills with")
        self.background.currentIndexChanged.connect(self._on_background)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.canvas.overlay_opacity * 100))
        self.opacity.setToolTip("Opacity of the label map over the result")
        self.opacity.valueChanged.connect(self._on_opacity)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2 ** 31 - 1)
        self.seed.setToolTip("Style seed (models with a latent / VAE only; the public SPADE models are "
                             "deterministic)")
        self.seed.valueChanged.connect(self.request_render)
        self.seed.setEnabled(False)  # the model says whether it takes a style seed
        self.instances = QCheckBox("Stroke = instance")
        self.instances.setToolTip("For models with an instance-edge channel (COCO-Stuff, Cityscapes): every stroke "
                                  "or shape is its own object, so touching objects of one label stay apart.\n"
                                  "Off: instance edges only where labels change.")
        self.instances.setEnabled(False)
        self.instances.toggled.connect(self.request_render)

        stack = self.canvas.undo_stack
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip("Undo (Ctrl+Z, also Edit > Undo)")
        self.undo_button.clicked.connect(stack.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip("Redo (Ctrl+Shift+Z, also Edit > Redo)")
        self.redo_button.clicked.connect(stack.redo)
        stack.canUndoChanged.connect(self.undo_button.setEnabled)
        stack.canRedoChanged.connect(self.redo_button.setEnabled)
        self.undo_button.setEnabled(False)
        self.redo_button.setEnabled(False)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        fit = QPushButton("Fit")
        fit.clicked.connect(self.canvas.fit)
        self.full_button = QPushButton("Render full size")
        self.full_button.setToolTip("Render the label map at its own size (rounded to the model's multiple)")
        self.full_button.clicked.connect(self.render_full)
        self.full_button.setEnabled(False)  # until a model is ready
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the full-size render")
        self.cancel_button.clicked.connect(self.cancel_render)
        self.cancel_button.setEnabled(False)  # while a full-size render runs
        export_map = QPushButton("Export label map…")
        export_map.setToolTip("The label map as an indexed PNG with the palette (Ctrl+E; the result is saved beside it)")
        export_map.clicked.connect(self.export)
        self.export_result_button = QPushButton("Export result…")
        self.export_result_button.setToolTip("The generated image")
        self.export_result_button.setEnabled(False)  # until something is rendered
        self.export_result_button.clicked.connect(self._export_result_dialog)

        form = QFormLayout()
        form.addRow("Brush size", self.brush_size)
        form.addRow("Background", self.background)
        form.addRow("Overlay", self.opacity)
        form.addRow("Seed", self.seed)
        form.addRow("", self.instances)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.addWidget(self.tools)
        lv.addLayout(form)
        for pair in ((self.undo_button, self.redo_button), (clear, fit), (self.full_button, self.cancel_button)):
            row = QHBoxLayout()
            for b in pair:
                row.addWidget(b)
            lv.addLayout(row)
        lv.addWidget(export_map)
        lv.addWidget(self.export_result_button)
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
        lay.addWidget(self.fetch_bar)
        lay.addWidget(split, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.hover_label)
        lay.addLayout(bottom)

    @Slot(int)
    def _on_background(self, index: int) -> None:
        self.canvas.set_background_label(self.background.itemData(index) or 0)

    @Slot(int)
    def _on_opacity(self, value: int) -> None:
        self.canvas.set_overlay_opacity(value / 100.0)

    def undo_stack(self) -> QUndoStack:
        """The stack Edit > Undo / Redo follow while this tab is current (the window's panel contract)."""
        return self.canvas.undo_stack

    def _refresh_models(self) -> None:
        """Every known paint model; one whose file is missing is listed too ("not downloaded"): picking it
        says so next to the picker and offers the next step (Download / Import…)."""
        self._entries = {}
        current = self.model_box.currentData()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        self.model_box.addItem("(no model)", None)
        try:
            from ganstudio.core.manifest import entry_path, load_manifest

            for e in load_manifest():
                if e.task != "paint" and e.arch != "spade":
                    continue
                present = entry_path(e) is not None
                self._entries[e.id] = e
                self.model_box.addItem(e.id + ("" if present else "  (not downloaded)"), e.id)
                idx = self.model_box.count() - 1
                self.model_box.setItemData(idx, present, PRESENT_ROLE)
                if not present:
                    self.model_box.setItemData(idx, e.description, Qt.ItemDataRole.ToolTipRole)
        except Exception as exc:  # a broken manifest must not break the tab
            log.warning("paint: cannot list models: %s", exc)
        if current is not None and self.model_box.findData(current) < 0:
            self.model_box.addItem(Path(current).name, current)
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(current)) if current is not None else 0)
        self.model_box.blockSignals(False)

    def _apply_palette(self, pal: "palettes.Palette", n_labels: int, allow_dontcare: bool,
                       trained_ids=None) -> None:
        if getattr(self, "_palette", None) is None or self._palette.key != pal.key:
            self.palette_view.recent = []  # recent labels belong to one label set
        self._palette = pal
        self._n_labels = n_labels
        self._allow_dontcare = allow_dontcare
        self.canvas.set_palette(pal.colors)
        names = list(pal.names)[:n_labels]
        self.palette_view.set_labels(names, pal.colors[:n_labels], title=pal.name, hidden_ids=pal.unused,
                                     trained_ids=trained_ids)
        self.background.blockSignals(True)
        self.background.clear()
        for i, n in enumerate(names):
            self.background.addItem(f"{i}: {n}", i)
        self.background.blockSignals(False)
        self.background.setCurrentIndex(0)
        self.canvas.set_background_label(0)

    # ------------------------------------------------------------------------------------ models
    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        model = self.model_box.itemData(index)
        if not model:
            return
        entry = self._entries.get(model)
        if entry is not None and self.model_box.itemData(index, PRESENT_ROLE) is False:
            self.fetch_bar.show_entry(entry)
            keep = f" Still using {Path(self.model).name}." if self.model else ""
            self._say(f"{model} is not on this machine yet.{keep}")
            return
        self.fetch_bar.clear()
        self.set_model(model)

    def refresh_models(self) -> None:
        """Re-read the manifest and the user's library: models added meanwhile are listed."""
        self._refresh_models()

    def select_model(self, model_id: str) -> bool:
        """Select a manifest / library model by id, re-reading the list first (a model added meanwhile, e.g.
        by the Train tab's "Use in Paint", is found), and load it as picking it in the list would. False when
        no paint model has that id (or its file is not on this machine: the tab says so beside the list)."""
        self._refresh_models()
        idx = self.model_box.findData(model_id)
        if idx < 0:
            return False
        self.model_box.setCurrentIndex(idx)
        self._on_model_chosen(idx)
        return self.model_box.itemData(idx, PRESENT_ROLE) is not False

    @Slot(str)
    def _on_model_fetched(self, model_id: str) -> None:
        self._refresh_models()
        self.set_model(model_id)

    def _browse_model(self) -> None:
        s = _settings()
        path, _ = QFileDialog.getOpenFileName(self, "Open a SPADE generator checkpoint",
                                              s.last_dir("open") if s else "",
                                              "Checkpoints (*.pth *.pt *.safetensors *.ckpt);;All files (*)")
        if path:
            self.fetch_bar.clear()
            self.set_model(path)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._default_chosen:
            # a fresh tab starts with the first paint model on this machine (the bundled one leads the
            # manifest), as the Latent tab does; on first show, so starting on another tab loads nothing here
            self._default_chosen = True
            first = next((self.model_box.itemData(i) for i in range(self.model_box.count())
                          if self.model_box.itemData(i) and self.model_box.itemData(i, PRESENT_ROLE) is True), None)
            if first and self.model is None and self._pending_model is None:
                self.set_model(first)

    def set_model(self, model: str, overrides: Optional[dict] = None):
        """Use ``model`` (a checkpoint path or manifest id); describes it in the worker, then renders.
        Returns the job handle."""
        # the model in use (self.model) changes only once the new one is described: a file that is no SPADE
        # generator leaves the current model rendering
        model, overrides = str(model), dict(overrides or {})
        self._default_chosen = True
        self._pending_model = (model, overrides)
        self.status.setText(f"Loading {Path(model).name}…")
        self._select_in_box(model)
        s = _settings()
        return self.describe_job.start(DESCRIBE_TARGET,
                                       {"model": model, "overrides": overrides,
                                        "device": s.device if s else "auto"})

    def _select_in_box(self, model: Optional[str]) -> None:
        self.model_box.blockSignals(True)
        if model is not None and self.model_box.findData(model) < 0:
            self.model_box.addItem(Path(model).name, model)
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(model)) if model is not None else 0)
        self.model_box.blockSignals(False)

    def _state_from(self, model: str, overrides: dict, d: dict) -> ModelState:
        n = int(d["label_nc"]) + int(bool(d["contain_dontcare_label"]))
        names, colors = list(d["label_names"]), np.asarray(d["label_colors"], np.uint8)
        if len(names) < n:  # the dontcare slot / short lists get a name of their own
            names += [f"label {i}" for i in range(len(names), n)]
            colors = np.concatenate([colors, np.zeros((n - len(colors), 3), np.uint8)]) if len(colors) < n else colors
        pal = palettes.Palette(key=d.get("palette_key", "model"), name=d.get("palette_name", "labels"), names=names,
                               colors=colors, dontcare_value=d.get("dontcare_value"),
                               unused=palettes.load_palette(d["palette_key"]).unused
                               if d.get("palette_key") in palettes.BUILTIN else frozenset())
        return ModelState(model, overrides, d, pal, n, bool(d["contain_dontcare_label"]))

    def _current_state(self) -> ModelState:
        return ModelState(self.model, dict(self.overrides), self.info, self._palette, self._n_labels,
                          self._allow_dontcare)

    def _label_names(self, state: ModelState) -> list[str]:
        return list(state.palette.names)[: state.n_labels]

    @Slot(object)
    def _on_described(self, d: dict) -> None:
        pending, self._pending_model = self._pending_model, None
        model, overrides = pending if pending is not None else (self.model, self.overrides)
        new = self._state_from(model, overrides, d)
        if not self._touched:  # nothing painted: a fresh map at the model's own size
            self._install(new)
            h, w = d["native_size"]
            self._new_map(int(h), int(w))
            self._model_ready()
            return
        old = self._current_state()
        if self._label_names(old) == self._label_names(new) and old.allow_dontcare == new.allow_dontcare:
            self._install(new)  # the same label set: the painting means the same
            self._model_ready()
            return
        mapping = map_label_sets(self._label_names(old), self._label_names(new), old.allow_dontcare,
                                 new.allow_dontcare)
        mapped, lost = mapping.apply(self.canvas.label_map)
        self._ask_label_set_change(old, new, mapped, mapping, lost)

    def _ask_label_set_change(self, old: ModelState, new: ModelState, mapped: np.ndarray, mapping,
                              lost: int) -> None:
        """Ask before the painting changes label set (window-modal, not blocking: the answer comes back to
        ``_on_label_set_answer`` with the box, which carries what it asks about)."""
        stale, self.label_set_box = self.label_set_box, None
        if stale is not None:  # an older question is void: its answer is ignored
            stale.done(QMessageBox.StandardButton.Cancel)
        name = Path(new.model or "").name
        used = np.unique(self.canvas.label_map)
        kept = sum(1 for i in used if int(i) < len(mapping.lut) and (int(i), int(mapping.lut[int(i)])) in mapping.matched)
        box = QMessageBox(QMessageBox.Icon.Question, "Another label set",
                          f"{name} uses the {new.palette.name} labels; the painting is in the {old.palette.name} "
                          "labels.", QMessageBox.StandardButton.NoButton, self)
        fallback = new.palette.name_of(mapping.fallback)
        detail = (f"Keep the painting, mapped to the new labels by name: {kept} of its {len(used)} labels have a "
                  f"counterpart")
        detail += f"; {lost} px have none and become “{fallback}”." if lost else "; no pixel loses its meaning."
        box.setInformativeText(detail + " Undo (Ctrl+Z) goes back to the painting and the model it was painted for.")
        box.keep_button = box.addButton("Keep the painting", QMessageBox.ButtonRole.AcceptRole)
        box.cancel_button = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(box.keep_button)
        box.pending = (new, mapped, mapping, lost)
        box.finished.connect(self._on_label_set_answer)
        self.label_set_box = box
        box.open()
        self.label_set_question.emit(box)

    @Slot(int)
    def _on_label_set_answer(self, _result: int) -> None:
        box = self.sender()
        if not isinstance(box, QMessageBox):
            return
        box.deleteLater()
        if box is not self.label_set_box:
            return  # a question made void by a newer one (or by shutdown)
        self.label_set_box = None
        keep = box.clickedButton() is box.keep_button
        new, mapped, mapping, lost = box.pending
        if not keep:
            self._select_in_box(self.model if self.info is not None else None)
            self._say(f"Kept {Path(self.model).name if self.model else 'the painting'}: "
                      f"{Path(new.model or '').name} was not loaded")
            return
        before = (self._current_state(), self.canvas.label_map.copy(), self.canvas.instance_map.copy())
        after = (new, mapped, mapped.astype(np.int32))
        self.canvas.undo_stack.push(LabelSetCommand(self, before, after, f"Change label set to {new.palette.name}"))
        kept = f"{len(mapping.matched)} labels matched by name"
        lost_text = f"; {lost} px had no counterpart and became “{new.palette.name_of(mapping.fallback)}”" if lost else ""
        self._model_ready()
        self._say(f"Mapped the painting to the {new.palette.name} labels of {Path(new.model or '').name} "
                  f"({kept}{lost_text}). Ctrl+Z goes back.")

    def _restore(self, state: ModelState, label_map: np.ndarray, instance_map: np.ndarray) -> None:
        """Install ``state`` and show ``label_map`` (the label-set change and its undo), then one render."""
        self._install(state)
        if state.info is None:
            self.canvas.set_result(None)  # the painting from before any model: no result belongs to it
        self._quiet = True
        try:
            self.canvas.replace_map(label_map, instance_map)
        finally:
            self._quiet = False
        self.canvas.set_hint("" if self._touched else (HINT_NO_MODEL if self.info is None else HINT_PAINT))
        self.request_render()

    def _install(self, state: ModelState) -> None:
        """Make ``state`` the panel's model and label set (no render, no map change)."""
        if state.model != self.model or state.info is not self.info:
            self.scheduler.reset(int((state.info or {}).get("size_multiple") or 1))
        self.model, self.overrides, self.info = state.model, dict(state.overrides), state.info
        d = state.info or {}
        self._apply_palette(state.palette, n_labels=state.n_labels, allow_dontcare=state.allow_dontcare,
                            trained_ids=d.get("trained_labels"))
        self.seed.setEnabled(bool(d.get("use_vae")))
        self.instances.setEnabled(bool(d.get("use_instance")))
        self.full_button.setEnabled(state.info is not None)
        self._select_in_box(state.model if state.info is not None else None)
        cur = self.palette_view.current()
        if not (0 <= cur < state.n_labels) or not self.palette_view.recent:
            cur = next((i for i in range(1, state.n_labels)
                        if i not in state.palette.unused and self.palette_view.is_trained(i)), 0)
        self.palette_view.select(cur)
        if state.info is not None:
            h, w = d["native_size"]
            self.status.setText(f"{Path(d.get('path') or state.model).name}: {d['label_nc']} labels"
                                f"{' + dontcare' if d['contain_dontcare_label'] else ''}"
                                f"{', instance edges' if d['use_instance'] else ''}, {d['num_upsampling_layers']}"
                                f" upsampling, {w}×{h} (a smaller live preview while you paint, full size when "
                                "you pause)")

    def _model_ready(self) -> None:
        self.model_ready.emit(self.info)
        self.request_render()

    # ------------------------------------------------------------------------------------ render
    def _render_kwargs(self, size, scale: float = 1.0) -> dict:
        s = _settings()
        return {"label_map": self.canvas.label_map.copy(), "instance_map": self._instance_map(),
                "model": self.model, "seed": int(self.seed.value()), "size": size, "scale": float(scale),
                "device": s.device if s else "auto", "precision": s.precision if s else "auto",
                "overrides": self.overrides}

    @Slot()
    def request_render(self) -> Optional[int]:
        """Queue a live render of the current label map; a full-resolution render follows once the user
        pauses (see ``PaintRenderScheduler``)."""
        if not self.model or self.info is None:
            return None
        return self.scheduler.request()

    def render_full(self) -> bool:
        """On demand: the label map at its own size (rounded to the model's multiple)."""
        if not self.model or self.info is None:
            self._say("Choose a model first.")
            return False
        self.scheduler.render_full()
        return True

    @Slot()
    def cancel_render(self) -> None:
        """The Cancel button: stop the full-size render; the status says so at once, and when it ended."""
        if self.scheduler.cancel():
            self._say("Cancelling…")

    def is_idle(self) -> bool:
        """Nothing rendering and nothing scheduled (tests, benchmarks)."""
        return self.scheduler.is_idle()

    def _instance_map(self) -> Optional[np.ndarray]:
        """The painted instances when asked for (and the model takes them); None = label boundaries."""
        if self.instances.isEnabled() and self.instances.isChecked():
            return self.canvas.instance_map.copy()
        return None

    @Slot(object)
    def _on_live_rendered(self, image) -> None:
        self._show_result(image, "live")
        self.live_rendered.emit(image)

    @Slot(object, bool)
    def _on_full_rendered(self, image, on_demand: bool) -> None:
        self._show_result(image, "full")
        if on_demand:  # an automatic one does not overwrite the status (import warnings stay readable)
            self._say(f"Full-size render: {image.shape[1]}×{image.shape[0]}")
        self.full_rendered.emit(image)

    @Slot()
    def _on_full_cancelled(self) -> None:
        self._say("Cancelled")

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

    @Slot(str, object)
    def _on_render_failed(self, kind: str, exc: BaseException) -> None:
        self._say(f"{'Full-size render' if kind == 'full' else 'Render'} failed: {user_message(exc)}")

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
        self._opening = (p.name, str(p))
        self.open_job.start(OPEN_TARGET, kwargs)  # a file opened before it is dropped
        return True

    @Slot(object)
    def _on_opened(self, res: dict) -> None:
        name = self._opening[0]
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
            self.canvas.set_label_map(lm, reset_history=False)
        finally:
            self._quiet = False
        self.canvas.fit()
        self._touched = True
        self.canvas.set_hint("")
        msgs = "; ".join(res.get("messages") or [])
        h, w = lm.shape
        self._say(f"Opened {name} ({res['kind']}, {w}×{h}){': ' + msgs if msgs else ''}")
        self.request_render()

    @Slot(object)
    def _on_open_failed(self, exc: BaseException) -> None:
        name, path = self._opening
        self._say(f"Cannot open {name}: {drop_path(user_message(exc), path)}")

    @Slot(object)
    def _on_describe_failed(self, exc: BaseException) -> None:
        pending, self._pending_model = self._pending_model, None
        name = Path(pending[0]).name if pending else "this model"
        self._select_in_box(self.model if self.info is not None else None)
        keep = f"; still using {Path(self.model).name}" if self.model and self.info is not None else ""
        msg = drop_path(user_message(exc), pending[0]) if pending else user_message(exc)
        self._say(f"Cannot use {name}: {msg}{keep}")

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
    @Slot(str)
    def _say(self, text: str) -> None:
        self.last_message = text
        self.status.setText(text)
        self.message.emit(text)

    def is_busy(self) -> bool:
        """Any job of this tab running or scheduled."""
        return not self.is_idle() or self.describe_job.is_running() or self.open_job.is_running() \
            or self.fetch_bar.is_busy()

    def shutdown(self) -> None:
        box, self.label_set_box = self.label_set_box, None
        if box is not None:
            box.done(QMessageBox.StandardButton.Cancel)
        self.scheduler.shutdown()
        self.describe_job.shutdown()
        self.open_job.shutdown()
        self.fetch_bar.shutdown()
