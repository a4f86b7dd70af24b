"""Latent tab: a thin panel that assembles the tools of ``ganstudio.ui.latent`` over one ``LatentSession``.

The panel owns what the tools share: the open model (loaded in the worker when the user picks it, opens or
drops a generator file on the tab, never because a file names it), the status line, the image a file opens (a recipe is applied, or its model offered,
"Load it?"; a plain photo is projected), and shutdown. Every job carries Settings' device and precision.
"""
from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ganstudio.ui.latent.arithmetic_tool import ArithmeticTool
from ganstudio.ui.latent.directions_tool import DirectionsTool
from ganstudio.ui.latent.grid import SeedGrid
from ganstudio.ui.latent.interpolation_tool import InterpolationTool
from ganstudio.ui.latent.model_bar import ModelBar
from ganstudio.ui.latent.projection_tool import ProjectionTool
from ganstudio.ui.latent.session import (
    DESCRIBE,
    READ_RECIPE,
    LatentSession,
    first_present,
    is_model_file,
)
from ganstudio.ui.settings import Settings
from ganstudio.ui.widgets.messages import drop_path, user_message
from ganstudio.workers.jobs import JobSlot

log = logging.getLogger(__name__)

EDIT_TAB, INTERP_TAB, ARITH_TAB, PROJECT_TAB = range(4)


class LatentPanel(QWidget):
    job_state = Signal(str)  # "" when idle, else a short text for the status bar
    model_ready = Signal()
    grid_ready = Signal()
    image_rendered = Signal(int)
    directions_changed = Signal()
    state_restored = Signal()
    exported = Signal(str)
    projection_done = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)  # generator files (images and folders go on to the window)
        self.settings: Settings | None = Settings()  # None: auto device and precision
        self.session = LatentSession(self._runtime)
        self._restoring: dict | None = None  # a recipe to apply once its model (asked for) has loaded
        self._default_chosen = False
        self.model_job = JobSlot(self, "loading model")
        self.model_job.finished.connect(self._on_model)
        self.model_job.failed.connect(self._on_model_failed)
        self.open_job = JobSlot(self, "reading")  # only the newest opened file is restored or projected
        self.open_job.finished.connect(self._on_opened)
        self.open_job.failed.connect(self._on_open_failed)
        self._build()
        for slot in self.slots():
            slot.running_changed.connect(self._update_job_state)
        self.edit.runner.started.connect(self._update_job_state)
        self.edit.runner.idle.connect(self._update_job_state)
        self._set_loaded(False)

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.model_bar = ModelBar(self)
        self.model_bar.chosen.connect(self.set_model)
        self.model_bar.missing.connect(self._on_model_missing)
        self.model_bar.prompt.accepted.connect(self._load_recipe_model)
        self.model_bar.prompt.no_btn.clicked.connect(self._drop_recipe)
        self.grid = SeedGrid(self.session, self)
        self.edit = DirectionsTool(self.session, self.grid, self)
        self.interp = InterpolationTool(self.session, self)
        self.arith = ArithmeticTool(self.session, self)
        self.projection = ProjectionTool(self.session, self)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        for tool in (self.grid, self.edit, self.interp, self.arith, self.projection):
            tool.status.connect(self._set_status)
        self.grid.grid_ready.connect(self._on_grid)
        self.grid.picked.connect(lambda seed: self.edit.set_base({"seeds": [seed]}))
        self.grid.settings_changed.connect(self.edit.render)
        self.edit.image_rendered.connect(self.image_rendered)
        self.edit.directions_changed.connect(self.directions_changed)
        self.edit.exported.connect(self.exported)
        self.interp.exported.connect(self.exported)
        self.projection.projected.connect(self._on_projected)

        split = QSplitter(self)
        left = QWidget(split)
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.grid, 1)
        lv.addWidget(self.status)
        self.tabs = QTabWidget(split)
        self.tabs.addTab(self.edit, "Edit")
        self.tabs.addTab(self.interp, "Interpolate")
        self.tabs.addTab(self.arith, "Arithmetic")
        self.tabs.addTab(self.projection, "Project photo")
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 2)
        split.setSizes([420, 860])  # room for 96 px seed tiles at 1280 wide
        outer = QVBoxLayout(self)
        outer.addWidget(self.model_bar)
        body = QHBoxLayout()
        body.addWidget(split)
        outer.addLayout(body, 1)

    def slots(self) -> list[JobSlot]:
        return [self.model_job, self.open_job, self.grid.job, *self.edit.slots(), *self.interp.slots(),
                *self.arith.slots(), *self.projection.slots()]

    def _runtime(self) -> dict:
        """Settings' device and precision, read when a job is built (so a change applies to the next job)."""
        s = self.settings
        if s is None:
            return {"device": "auto", "precision": "auto"}
        return {"device": s.device, "precision": s.precision}

    def _set_status(self, text: str) -> None:
        if text:
            log.info("latent: %s", text)
        self.status.setText(text)

    @Slot()
    def _update_job_state(self, *_a) -> None:
        running = [s.name for s in self.slots() if s.is_running()]
        self.job_state.emit(running[0] if running else ("rendering" if self.edit.runner.is_busy() else ""))

    def is_idle(self) -> bool:
        return self.edit.is_idle() and not any(s.is_running() for s in self.slots())

    # ------------------------------------------------------------------------------------------ model
    def dragEnterEvent(self, event) -> None:
        """A generator file dropped on the tab opens it; images and folders go on to the window."""
        if self._dropped_model(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        path = self._dropped_model(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.set_model(path)

    @staticmethod
    def _dropped_model(event) -> str | None:
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
        return paths[0] if len(paths) == 1 and is_model_file(paths[0]) and Path(paths[0]).is_file() else None

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.model_bar.refresh()  # models imported or downloaded meanwhile (a quick manifest read)
        if not self._default_chosen:
            # a fresh tab starts with the first latent model on this machine (bundled, then the library); on
            # first show, not at construction, so starting the app on another tab loads nothing here
            self._default_chosen = True
            ref = first_present(self.model_bar.choices)
            if ref and not self.session.has_model and not self.model_job.is_running():
                self.set_model(ref)

    def set_model(self, ref: str) -> None:
        """Load a generator (in the worker), then sample the grid. The one way a model gets opened here."""
        if not ref:
            return
        self._default_chosen = True
        self._restoring = None  # a recipe waiting for its model is dropped when another model is chosen
        self.model_bar.show_model(ref)
        self.model_bar.prompt.dismiss()
        self._set_status("loading model…")
        self.model_job.start(DESCRIBE, self.session.describe_job(ref))

    def refresh_models(self) -> None:
        """Re-read the manifest and the user's library: models added meanwhile are listed."""
        self.model_bar.refresh()

    def select_model(self, model_id: str) -> bool:
        """Select a manifest / library model by id, re-reading the list first (a model added meanwhile, e.g.
        by the Train tab's "Use in Latent", is found), and load it as picking it in the list would. False
        when no latent model has that id (or its file is not on this machine: the status line says so)."""
        return self.model_bar.pick(model_id)

    @Slot(str)
    def _on_model_missing(self, message: str) -> None:
        """A listed model whose file is not here: say what to do, and the list shows the model in use."""
        self.model_bar.show_model(self.session.model)
        self._set_status(message)

    @property
    def model_path(self) -> str:
        return self.session.model

    @property
    def model_info(self) -> dict:
        return self.session.info

    @Slot(object)
    def _on_model_failed(self, exc) -> None:
        """The list goes back to the model still in use, and the status says both."""
        ref = self.model_job.last_kwargs.get("model", "")
        self._restoring = None
        self.model_bar.show_model(self.session.model)
        keep = f"; still using {Path(self.session.model).name}" if self.session.model else ""
        self._set_status(f"Cannot open {Path(ref).name}: {drop_path(user_message(exc), ref)}{keep}")

    @Slot(object)
    def _on_model(self, info: dict) -> None:
        ref = self.model_job.last_kwargs.get("model", "")
        changed = self.session.accept_model(ref, info)
        self.model_bar.show_model(ref)
        self.model_bar.set_info(self.session.describe_model(), self.session.model_tooltip())
        self.grid.show_settings()  # the class picker: shown for a class-conditional model only
        self._set_loaded(True)
        if changed:
            self.edit.model_changed()
            if info.get("directions"):  # named directions shipped with the model
                self.edit.add_directions(info["directions"], f"Shipped with {info.get('name') or Path(ref).name}")
        self.model_ready.emit()
        if info.get("directions_error"):
            self._set_status(info["directions_error"])
        if self._restoring is not None:
            state, self._restoring = self._restoring, None
            self._apply_state(state)
        self.grid.sample()

    def _set_loaded(self, loaded: bool) -> None:
        self.grid.set_model_loaded(loaded, self.session.is_stylegan)
        self.edit.set_model_loaded(loaded)
        self.interp.set_model_loaded(loaded)
        self.arith.set_model_loaded(loaded)
        self.projection.set_model_loaded(loaded)

    @Slot()
    def _on_grid(self) -> None:
        if self.session.base is None and self.session.grid_seeds:
            self.edit.set_base({"seeds": [self.session.grid_seeds[0]]})
        self.grid_ready.emit()

    # ------------------------------------------------------------------------------------------ files
    def open_image(self, path: str) -> bool:
        """A PNG with a GAN Studio recipe restores that state (asking first if it names a model that is not
        open); any other image is projected into the open model."""
        if not Path(path).is_file():
            self._set_status(f"Cannot open {path}: no such file")
            return False
        self.open_job.start(READ_RECIPE, {"path": path})
        return True

    @Slot(object)
    def _on_opened(self, state: dict | None) -> None:
        path = self.open_job.last_kwargs["path"]
        if state is None:
            if self.projection.project(path):
                self.tabs.setCurrentIndex(PROJECT_TAB)
            return
        decision = self.session.recipe_decision(state, Path(path).name)
        if decision.kind == "apply":
            self._apply_state(state)
        elif decision.kind == "ask":
            self._restoring = state  # applied if the user loads the model
            self.model_bar.prompt.ask(decision.model, decision.message)
            self._set_status(decision.message)
        else:
            self._set_status(decision.message)

    @Slot(object)
    def _on_open_failed(self, exc) -> None:
        path = self.open_job.last_kwargs["path"]
        self._set_status(f"Cannot open {Path(path).name}: {drop_path(user_message(exc), path)}")

    @Slot(str)
    def _load_recipe_model(self, model: str) -> None:
        restoring = self._restoring
        self.set_model(model)
        self._restoring = restoring

    @Slot()
    def _drop_recipe(self) -> None:
        self._restoring = None
        self._set_status("")

    def _apply_state(self, state: dict) -> None:
        if self.session.info.get("sha256") != state.get("model_sha256"):
            self._set_status("the model that loaded is not the one the image was made with (its sha256 differs): "
                             "the recipe was not applied")
            return
        problem = self.session.recipe_problem(state)
        if problem:  # refused before anything changes: a slider of the wrong size would fail every render
            self._set_status(problem)
            return
        self.session.apply_recipe(state)
        self.grid.show_settings()
        self.edit.rebuild_rows()
        self.tabs.setCurrentIndex(EDIT_TAB)
        self.edit.render()
        self.state_restored.emit()

    def export(self) -> None:
        """File > Export…: the edited image with its recipe."""
        self.edit.export()

    @Slot(object)
    def _on_projected(self, res: dict) -> None:
        self.edit.set_base({"wplus": res["wplus"], "noise_seeds": [0]})
        self.projection_done.emit()

    # ------------------------------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        self.edit.shutdown()
        for slot in self.slots():
            slot.shutdown()
