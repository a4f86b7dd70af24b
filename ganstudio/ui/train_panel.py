"""Train tab: fine-tune or train a GAN on your own folders, watch it learn, use the result at once.

Left: the set-up form (``ui/train/setup_form.py``: task, folders checked at once, start-from model, size /
batch / steps / lr prefilled with the recipe's defaults, an estimate) above the list of the user's runs
(``ui/train/runs_list.py``: state, Resume). Right: the live view of one run (``ui/train/live_view.py``:
step, it/s, ETA, GPU memory, Pause / Resume / Stop, the loss and metric curves, the sample grid, a log).

Every run trains in a child process (``workers.process_runner``: ``ganstudio train --progress-json``,
under torchrun for several GPUs), so the window never blocks and closing it can leave the run training:
``confirm_close()`` asks "stop (with a checkpoint) or keep training in the background", and a run kept
training is listed as running when the app opens again (and can be followed and stopped from there).
Runs live in ``user_data_dir()/runs/<name>``.

"Use in Stylize / Paint / Latent / Upscale" publishes the finished run's generator(s) to the model library
(in the worker: ``training.jobs.publish``), switches to that tab and selects the model there with the
panel's ``select_model(model_id) -> bool`` (every tab has one: it re-reads the library, so the new entry is
found, and loads it as a pick in its list would).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QPoint, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QMenu,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ganstudio.core import paths
from ganstudio.ui.settings import Settings
from ganstudio.ui.train.live_view import LiveView
from ganstudio.ui.train.runs_list import RunsList
from ganstudio.ui.train.setup_form import SetupForm
from ganstudio.ui.train.tasks import BY_TASK
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers.jobs import JobSlot, shutdown_slots
from ganstudio.workers.process_runner import ProcessRunner

log = logging.getLogger(__name__)

HISTORY_JOB = "ganstudio.training.jobs:run_history"
SAMPLE_JOB = "ganstudio.training.jobs:read_sample"
PUBLISH_JOB = "ganstudio.training.jobs:publish"
EXPORT_FINAL_JOB = "ganstudio.training.jobs:export_final"
EXPORT_ST_JOB = "ganstudio.training.jobs:export_safetensors_file"
STOP_WAIT_S = 120.0  # closing with "stop": how long the window waits for the checkpoint
OUR_FILES = ("request.json", "progress.jsonl", "train.log", "train.pid")


def runs_root() -> Path:
    return paths.user_data_dir() / "runs"


class TrainPanel(QWidget):
    """Panel contract: ``TrainPanel(parent=None)``, ``open_folder(path)``, ``export()``, ``shutdown()``,
    ``confirm_close() -> bool``, ``job_state``."""

    job_state = Signal(str)
    run_started = Signal(str)  # run folder
    run_ended = Signal(str, str)  # run folder, "finished" | "stopped" | "failed"
    sample_shown = Signal(int)  # step of the grid now shown
    published = Signal(object)  # [{"id", "task", "arch", "path"}]
    model_used = Signal(str, str, str)  # tab, model id, how it was selected there ("" = could not)
    exported = Signal(object)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings: Optional[Settings] = Settings()
        self.child_env: dict = {}  # extra environment for the training process (tests: thread counts)
        self.active_run = ""  # the run this window's runner trains or follows
        self._active_state: dict = {}
        self._close_choice = ""
        self._closing = False
        self._history_pending: Optional[list] = None  # progress that arrived while the history loads
        self._select_after_refresh = ""
        self.runner = ProcessRunner(self)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.cancelled.connect(self._on_cancelled)
        self.runner.log_line.connect(self._on_log_line)
        self.runner.running_changed.connect(self._on_running_changed)
        self.history_job = JobSlot(self, "training history")
        self.history_job.finished.connect(self._on_history)
        self.history_job.failed.connect(self._on_history_failed)
        self.sample_job = JobSlot(self, "sample grid")
        self.sample_job.finished.connect(self._on_sample)
        self.sample_job.failed.connect(self._on_sample_failed)
        self.publish_job = JobSlot(self, "publish trained model", policy="exclusive")
        self.publish_job.finished.connect(self._on_published)
        self.publish_job.failed.connect(self._on_action_failed)
        self.export_job = JobSlot(self, "export trained model", policy="exclusive")
        self.export_job.finished.connect(self._on_exported)
        self.export_job.failed.connect(self._on_action_failed)
        self._pending_use: Optional[dict] = None
        self._shown_once = False
        self._build()

    def showEvent(self, event) -> None:  # noqa: N802
        # the first time the tab is shown: the recipe defaults (the worker imports torch for them) and the
        # runs list; the window's start does not wait for either
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.setup.load_defaults()
            self.runs.refresh()

    # ------------------------------------------------------------------------------------------ layout
    def _build(self) -> None:
        root = QVBoxLayout(self)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        left = QSplitter(Qt.Orientation.Vertical, split)
        self.setup = SetupForm(self.settings, left)
        self.setup.start_requested.connect(self.start_run)
        scroll = QScrollArea(left)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.setup)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.runs = RunsList(runs_root(), left)
        self.runs.run_selected.connect(self._on_run_selected)
        self.runs.resume_requested.connect(self.resume_run)
        self.runs.refreshed.connect(self._on_runs_refreshed)
        left.addWidget(scroll)
        left.addWidget(self.runs)
        left.setStretchFactor(0, 0)
        left.setStretchFactor(1, 1)
        # the form as tall as it needs (its scroll bar takes over on small screens), the runs list the rest
        left.setSizes([self.setup.sizeHint().height() + 60, 300])
        self.live = LiveView(split)
        self.live.pause_clicked.connect(self.pause)
        self.live.resume_clicked.connect(self.resume)
        self.live.stop_clicked.connect(self.stop)
        self.live.use_clicked.connect(self.use_result)
        self.live.export_clicked.connect(self._export_menu)
        split.addWidget(left)
        split.addWidget(self.live)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 860])
        root.addWidget(split)

    # ------------------------------------------------------------------------------------------ panel contract
    def open_folder(self, path: str) -> bool:
        """A folder dropped on the window while this tab is current: the first empty folder of the task."""
        return self.setup.take_folder(path)

    def is_training(self) -> bool:
        return self.runner.is_running()

    # ------------------------------------------------------------------------------------------ start / resume
    def _new_run_dir(self, name: str) -> Path:
        root = runs_root()
        root.mkdir(parents=True, exist_ok=True)
        run, n = root / name, 2
        while run.exists():
            run, n = root / f"{name}-{n}", n + 1
        return run

    @Slot(object)
    def start_run(self, request: dict) -> bool:
        """Start a new run in a child process: ``request`` is the form's {"config", "nproc", "name"}."""
        if self.runner.is_running():
            self.live.log("A run is already training from this window: stop it first (or let it finish).")
            return False
        config = dict(request["config"])
        run = self._new_run_dir(request.get("name") or config["task"])
        run.mkdir(parents=True)
        config["output"] = str(run)
        req = run / "request.json"
        req.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        info = BY_TASK[config["task"]]
        self._begin(run, f"{run.name} · {info.label}", "starting the training process…")
        return self._spawn(["--config", str(req), "-o", str(run)], run, int(request.get("nproc") or 1))

    @Slot(object, int)
    def resume_run(self, state: dict, to_step: int = 0) -> bool:
        """Continue a stopped / crashed (or finished, with a higher total) run from its newest checkpoint."""
        if self.runner.is_running():
            self.live.log("A run is already training from this window: stop it first (or let it finish).")
            return False
        run = Path(state["path"])
        args = ["--resume", str(run)]
        if to_step and to_step != state.get("steps"):
            args += ["--steps", str(int(to_step))]
        info = BY_TASK.get(state.get("task", ""))
        self._begin(run, f"{run.name} · {info.label if info else state.get('task', '')}",
                    f"resuming from step {state.get('checkpoint', 0):,}…", load_history=True)
        return self._spawn(args, run, self.setup.nproc())

    def _begin(self, run: Path, title: str, state_text: str, load_history: bool = False) -> None:
        self.active_run = str(run)
        self._active_state = {"paused": False, "title": title, "step": 0, "total": 0}
        self.live.show_run(str(run), title, state_text)
        self.live.set_result(None)
        self._history_pending = None
        if load_history:
            self._history_pending = []
            self.history_job.start(HISTORY_JOB, {"run": str(run)})

    def _spawn(self, args: list[str], run: Path, nproc: int) -> bool:
        try:
            pid = self.runner.start(args, run, nproc=nproc, env=self.child_env)
        except OSError as exc:
            self.live.set_state(f"Could not start the training process: {user_message(exc)}")
            self.active_run = ""
            self._forget_empty_run(run)
            return False
        self.live.log(f"training process {pid} started" + (f" on {nproc} GPUs (torchrun)" if nproc > 1 else ""))
        self._select_after_refresh = str(run)
        self.runs.refresh()
        self.run_started.emit(str(run))
        return True

    def follow_run(self, state: dict) -> bool:
        """Follow a run that another (earlier) window left training: its progress, and Stop."""
        if self.runner.is_running() or not self.runner.attach(state["path"]):
            return False
        info = BY_TASK.get(state.get("task", ""))
        self._begin(Path(state["path"]), f"{state['name']} · {info.label if info else state['task']}",
                    "training in the background (started by an earlier window): following it", load_history=True)
        if state.get("sample"):
            self._load_sample(state["sample"], -1)
        return True

    # ------------------------------------------------------------------------------------------ control
    @Slot()
    def pause(self) -> None:
        if self.runner.pause():
            self._active_state["paused"] = True
            self.live.set_state(f"paused at step {self.runner.last_step:,} (Resume goes on; nothing is lost)")
            self._sync_controls()
            self._emit_job_state()

    @Slot()
    def resume(self) -> None:
        if self.runner.resume():
            self._active_state["paused"] = False
            self.live.set_state("training")
            self._sync_controls()
            self._emit_job_state()

    @Slot()
    def stop(self) -> None:
        if self.runner.stop():  # every process of a multi-GPU run stops at the same step: one checkpoint
            self.live.set_state("stopping: writing a checkpoint…")
            self.live.stop_btn.setEnabled(False)
            self.live.pause_btn.setEnabled(False)
            self.live.resume_btn.setEnabled(False)

    def _sync_controls(self) -> None:
        running = self.runner.is_running() and self.live.run_path == self.active_run
        self.live.set_controls(running, bool(self._active_state.get("paused")), self.runner.can_pause())

    def _emit_job_state(self) -> None:
        if not self.runner.is_running():
            self.job_state.emit("")
            return
        s = self._active_state
        what = "paused" if s.get("paused") else "training"
        step = f" step {s['step']:,}/{s['total']:,}" if s.get("total") else ""
        self.job_state.emit(f"{what} {Path(self.active_run).name}{step}")

    # ------------------------------------------------------------------------------------------ runner signals
    @Slot(object)
    def _on_progress(self, p) -> None:
        extra = p.extra or {}
        if isinstance(extra.get("step"), (int, float)):
            self._active_state.update(step=int(extra["step"]), total=int(p.total))
            what = "paused" if self._active_state.get("paused") else "training"
            self.runs.set_live_text(self.active_run, f"{what}: step {int(extra['step']):,} of {int(p.total):,}")
        if self.live.run_path != self.active_run:
            return  # the user is looking at another run; the runs list shows this one's progress
        if self._history_pending is not None:
            self._history_pending.append(p)
            return
        self._show_progress(p)

    def _show_progress(self, p) -> None:
        extra = p.extra or {}
        self.live.show_progress(p)
        phase = extra.get("phase")
        if phase == "data" and not extra.get("data"):
            self.live.set_state("checking the training data…")
        elif phase == "train" and not self._active_state.get("paused") and not self.runner.stop_asked:
            self.live.set_state("training")
        elif phase == "metrics":
            self.live.set_state("computing the final metrics…")
        if extra.get("sample_path"):
            self._load_sample(extra["sample_path"], int(extra.get("sample_step", extra.get("step", 0)) or 0))
        self._emit_job_state()

    @Slot(str)
    def _on_log_line(self, line: str) -> None:
        if self.live.run_path == self.active_run:
            self.live.log(line)

    @Slot(bool)
    def _on_running_changed(self, running: bool) -> None:
        self.setup.set_busy(running)
        self._sync_controls()
        self._emit_job_state()

    @Slot(object)
    def _on_finished(self, result: dict) -> None:
        run = result["run"]
        self._ended(run, "finished", f"finished at step {result.get('step', 0):,}: the model is in "
                                     f"{result.get('final', '')}")

    @Slot()
    def _on_cancelled(self) -> None:
        run = self.active_run
        self._ended(run, "stopped", f"stopped at step {self.runner.last_step:,}; a checkpoint was written "
                                    "(Resume it from the Runs list)")

    @Slot(object)
    def _on_failed(self, exc) -> None:
        run = self.active_run
        message = user_message(exc)
        if run and self.live.run_path == run:
            self.live.log(f"error: {message}")
        self._forget_empty_run(Path(run))
        self._ended(run, "failed", f"failed: {message.splitlines()[0] if message else 'see the log'}")

    def _ended(self, run: str, how: str, text: str) -> None:
        if self.live.run_path == run:
            self.live.set_state(text)
            self._flush_history_pending()
        self._active_state["paused"] = False
        self._sync_controls()
        self._emit_job_state()
        if not self._closing:
            self._select_after_refresh = run
            self.runs.refresh()
        self.run_ended.emit(run, how)

    def _forget_empty_run(self, run: Path) -> None:
        """A new run that failed before the trainer wrote its settings holds nothing to resume: remove the
        files this tab put there (the log pane showed why), so the runs list does not fill with them."""
        if not run.is_dir() or (run / "config.json").exists() or (run / "checkpoints").exists():
            return
        for name in OUR_FILES:
            (run / name).unlink(missing_ok=True)
        try:
            run.rmdir()
        except OSError:
            pass  # something else is in there: leave it

    # ------------------------------------------------------------------------------------------ runs list
    @Slot(object)
    def _on_runs_refreshed(self, found: list) -> None:
        if self._select_after_refresh:
            path, self._select_after_refresh = self._select_after_refresh, ""
            self.runs.tree.blockSignals(True)
            self.runs.select(path)
            self.runs.tree.blockSignals(False)
            self.runs._update_buttons()
        state = self.runs.state_of(self.live.run_path)
        if state is not None and not (self.runner.is_running() and self.live.run_path == self.active_run):
            self.live.set_result(state.get("tab"), state.get("final", False) and state["state"] == "finished")
        elif self.live.run_path == self.active_run and not self.runner.is_running() and state is not None:
            self.live.set_result(state.get("tab"), state["state"] == "finished")

    @Slot(object)
    def _on_run_selected(self, state: dict) -> None:
        path = state["path"]
        if path == self.active_run and self.runner.is_running():
            if self.live.run_path != path:  # back to the live run: its history, then its live steps
                paused = self._active_state.get("paused")
                self.live.show_run(path, self._active_state.get("title", state["name"]),
                                   "paused" if paused else "training")
                self._history_pending = []
                self.history_job.start(HISTORY_JOB, {"run": path})
                self._sync_controls()
            return
        if state["state"] == "running" and not self.runner.is_running() and self.follow_run(state):
            return
        info = BY_TASK.get(state["task"])
        self.live.show_run(path, f"{state['name']} · {info.label if info else state['task']}", state["text"])
        self.live.set_result(state.get("tab"), state["state"] == "finished")
        self._sync_controls()
        self.history_job.start(HISTORY_JOB, {"run": path})
        if state.get("sample"):
            self._load_sample(state["sample"], -1)

    @Slot(object)
    def _on_history(self, hist: dict) -> None:
        if hist.get("run") != self.live.run_path:
            return
        self.live.set_history(hist.get("losses") or {}, hist.get("metrics") or {})
        self._flush_history_pending()

    @Slot(object)
    def _on_history_failed(self, exc) -> None:
        self.live.log(f"cannot read the run's history: {user_message(exc)}")
        self._flush_history_pending()

    def _flush_history_pending(self) -> None:
        pending, self._history_pending = self._history_pending, None
        for p in pending or []:
            self._show_progress(p)

    # ------------------------------------------------------------------------------------------ samples
    def _load_sample(self, path: str, step: int) -> None:
        if step < 0:  # a saved grid: its step is in its name (step_0001200.png)
            try:
                step = int(Path(path).stem.split("_", 1)[1])
            except (IndexError, ValueError):
                step = 0
        self.sample_job.start(SAMPLE_JOB, {"path": str(path), "step": int(step)})

    @Slot(object)
    def _on_sample(self, result: dict) -> None:
        if Path(result["path"]).parent.parent != Path(self.live.run_path):
            return  # a grid of a run no longer shown
        self.live.show_sample(result["image"], result["step"])
        self.sample_shown.emit(int(result["step"]))

    @Slot(object)
    def _on_sample_failed(self, exc) -> None:
        log.debug("sample grid not shown: %s", user_message(exc))

    # ------------------------------------------------------------------------------------------ use the result
    def shown_state(self) -> Optional[dict]:
        return self.runs.state_of(self.live.run_path)

    @Slot()
    def use_result(self) -> bool:
        """"Use in <tab>": publish the shown run's generator(s) to the model library, then select it there."""
        state = self.shown_state()
        if state is None or state["state"] != "finished":
            self.live.log("Only a finished run can be used: let it finish, or resume it to its end.")
            return False
        self._pending_use = state
        self.live.set_state(f"adding {state['name']} to your model library…")
        return self.publish_job.start(PUBLISH_JOB, {"run": state["path"]}) is not None

    @Slot(object)
    def _on_published(self, entries: list) -> None:
        state, self._pending_use = self._pending_use, None
        self.setup.refresh_models()  # a trained model can be the start of the next run
        self.published.emit(entries)
        if state is None or not entries:
            return
        entry = entries[0]
        tab = state.get("tab") or ""
        how = self._select_in_tab(tab, entry)
        self.live.set_state(f"{entry['id']} is in your model library" + (f" and selected in {tab}" if how else
                                                                        f": pick it in the {tab} tab's model list"))
        self.model_used.emit(tab, entry["id"], how)

    def _select_in_tab(self, tab: str, entry: dict) -> str:
        """Switch the window to ``tab`` and select the model in its panel (``select_model``). Returns
        "select_model" when it was selected there, "" when not (no such tab, or the panel did not find it)."""
        win = self.window()
        switch = getattr(win, "switch_to", None)
        target = (getattr(win, "panels", None) or {}).get(tab)
        if callable(switch):
            try:
                switch(tab)
            except KeyError:
                return ""
        select = getattr(target, "select_model", None)
        if not callable(select):  # a tab that failed to load (its placeholder): the message says where to pick it
            return ""
        try:
            return "select_model" if select(entry["id"]) else ""
        except Exception:  # another panel's bug must not take this one down
            log.exception("%s.select_model(%r) failed", tab, entry["id"])
            return ""

    def export(self) -> None:
        """File > Export…: the shown run's model (official files, or one safetensors file)."""
        self._export_menu()

    def _export_menu(self) -> None:
        state = self.shown_state()
        if state is None or state["state"] != "finished":
            self.live.log("Export needs a finished run: select one in the Runs list.")
            return
        menu = QMenu(self)
        menu.addAction("Official files (generator in the official layout) to a folder…",
                       lambda: self._export_dialog("final"))
        menu.addAction("One safetensors file (fp16)…", lambda: self._export_dialog("safetensors"))
        btn = self.live.export_btn
        menu.exec(btn.mapToGlobal(QPoint(0, btn.height())))

    def _export_dialog(self, kind: str) -> None:
        state = self.shown_state()
        start = self.settings.last_dir("export") if self.settings is not None else ""
        if kind == "final":
            dest = QFileDialog.getExistingDirectory(self, "Export the trained model to a folder", start)
        else:
            dest, _ = QFileDialog.getSaveFileName(self, "Export the trained generator",
                                                  str(Path(start) / f"{state['name']}.safetensors"),
                                                  "safetensors (*.safetensors)")
        if dest:
            self.export_to(dest, kind)

    def export_to(self, dest: str, kind: str = "final") -> bool:
        state = self.shown_state()
        if state is None:
            return False
        if self.settings is not None:
            self.settings.set_last_dir("export", dest)
        target = EXPORT_FINAL_JOB if kind == "final" else EXPORT_ST_JOB
        return self.export_job.start(target, {"run": state["path"], "dest": str(dest)}) is not None

    @Slot(object)
    def _on_exported(self, result) -> None:
        files = result if isinstance(result, list) else [result]
        self.live.log("exported: " + ", ".join(files))
        self.exported.emit(files)

    @Slot(object)
    def _on_action_failed(self, exc) -> None:
        self._pending_use = None
        self.live.set_state(user_message(exc))
        self.live.log(f"error: {user_message(exc)}")

    # ------------------------------------------------------------------------------------------ closing
    def confirm_close(self) -> bool:
        """The window is closing: with a run training from here, ask whether to stop it (a checkpoint is
        written) or keep it training in the background. False: the user cancelled the close."""
        if not self.runner.is_running() or self.runner.attached:
            self._close_choice = "keep"  # a followed background run goes on as it was
            return True
        choice = self.ask_close()
        if choice == "cancel":
            return False
        self._close_choice = choice
        return True

    def ask_close(self) -> str:
        """"stop", "keep" or "cancel" (a question box; tests replace this method)."""
        s = self._active_state
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("A run is training")
        box.setText(f"{Path(self.active_run).name} is training (step {s.get('step', 0):,} of {s.get('total', 0):,}).")
        box.setInformativeText("Stop it now (a checkpoint is written; resume it any time from the Runs list), "
                               "or keep it training in the background until it is done? It shows in the Runs "
                               "list when GAN Studio opens again.")
        stop = box.addButton("Stop and save", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep training", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return "stop" if clicked is stop else "keep" if clicked is keep else "cancel"

    def shutdown(self) -> None:
        """Window closing (after ``confirm_close``): stop the run and wait for its checkpoint, or leave it
        training; then end every worker job of the tab. Without a confirmed choice the run keeps
        training: closing never loses a run."""
        self._closing = True
        if self.runner.is_running():
            if self._close_choice == "stop" and not self.runner.attached:
                self.runner.stop()
                if not self.runner.wait(STOP_WAIT_S):
                    log.warning("the training process did not stop within %.0f s; it stops on its own",
                                STOP_WAIT_S)
            if self.runner.is_running():
                self.runner.detach()
        self.setup.shutdown()
        self.runs.shutdown()
        shutdown_slots(self)
