"""The main window: one tab per task, menus, status bar, drag and drop, persistent settings.

Panel contract
--------------
Each task tab is a QWidget subclass found through ``TABS`` (title, module, class name) and imported
with importlib, so a task whose panel module has not landed yet shows a ``PlaceholderPanel`` saying so
(only a ModuleNotFoundError naming exactly that module counts as "not landed"; any other import or
constructor error is logged with its traceback and shown in the tab, so one broken panel never stops
the app from starting).

    class XPanel(QWidget):
        def __init__(self, parent=None): ...         # required; must be quick: no torch, no model loading
        # all optional:
        def open_image(self, path: str) -> bool      # File > Open image, drops, recent files, command line
        def open_folder(self, path: str) -> bool     # File > Open folder, dropped folders
        def open_many(self, paths: list[str]) -> str # several files / folders dropped while the tab is current;
                                                     # returns what it did for the status bar ("" = nothing)
                                                     # (without it: the first opens, the rest are named as not opened)
        def export(self) -> None                     # File > Export… (enabled only where it exists)
        def shutdown(self) -> None                   # on window close, before every worker is joined
        def confirm_close(self) -> bool              # on window close, first: False keeps the window open
        def undo_stack(self) -> QUndoStack          # Edit > Undo / Redo follow it while the tab is current:
                                                     # enabled, and named ("Undo Brush stroke"), as it changes
        def undo(self) -> None / def redo(self) -> None   # without a stack: Edit > Undo / Redo call these
        job_state = Signal(str)                      # "" when idle, else a short text for the status bar

The window owns Ctrl+Z / Ctrl+Shift+Z (window-wide: they work whatever widget has the focus, except a
text field's own undo) and applies them to the current panel's undo stack (a ``QUndoGroup`` whose
active stack follows the tab), or calls its undo() / redo(). A panel that binds those keys itself keeps
them (the window then drops its own, since two actions on one key would make Qt fire neither). A panel's
own single-key shortcuts (Paint's tools) use the window context on a widget inside the tab, so they work
while that tab is shown and are inactive (hidden) while another tab is current.

Files go to the current tab when it has the matching method; otherwise the window switches to the
first tab (in TABS order) that has it. Panels read the user's device / precision choice from
``ganstudio.ui.settings.Settings()`` (``.device``, ``.precision``) when they start a job, keep their
file dialogs in step with ``Settings().last_dir("export")`` / ``set_last_dir("export", path)``, and run
every engine through ``ganstudio.workers.engine_worker`` (EngineJob strings: the UI never imports torch).
Shared widgets: ``ganstudio.ui.widgets`` (ImageView with zoom / pan, CompareView with a split line).
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
    QUndoGroup,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QTabWidget,
    QWidget,
)

from ganstudio.core.imageio import IMAGE_SUFFIXES
from ganstudio.ui import theme
from ganstudio.ui.placeholder_panel import PlaceholderPanel
from ganstudio.ui.settings import PRECISION_LABELS, PRECISIONS, Settings
from ganstudio.ui.widgets.messages import user_message
from ganstudio.workers import engine_worker
from ganstudio.workers.jobs import JobSlot

log = logging.getLogger(__name__)

# (tab title, panel module or None, panel class name or None), in the order the tabs appear
TABS: list[tuple[str, Optional[str], Optional[str]]] = [
    ("Latent", "ganstudio.ui.latent_panel", "LatentPanel"),
    ("Paint", "ganstudio.ui.paint_panel", "PaintPanel"),
    ("Stylize", "ganstudio.ui.stylize_panel", "StylizePanel"),
    ("Upscale", "ganstudio.ui.upscale_panel", "UpscalePanel"),
    ("Train", "ganstudio.ui.train_panel", "TrainPanel"),
]

NOT_LANDED = {
    "Latent": "The latent explorer (StyleGAN2 / DCGAN sampling, interpolation and editing) has not landed yet.",
    "Paint": "The semantic painter (SPADE) has not landed yet.",
    "Stylize": "Image-to-image translation (CycleGAN / pix2pix) has not landed yet.",
    "Upscale": "Super-resolution (ESRGAN / Real-ESRGAN) has not landed yet.",
    "Train": "Training lands in a later release.",
}

TAB_TIPS = {
    "Latent": "Sample, blend and edit StyleGAN2 / DCGAN generators: seed grid, interpolation, directions",
    "Paint": "Paint a semantic layout; SPADE turns it into an image as you go",
    "Stylize": "CycleGAN / pix2pix style transfer, one photo or whole folders",
    "Upscale": "Real-ESRGAN / ESRGAN super-resolution, one image or whole folders",
    "Train": "Train or fine-tune a GAN on your own folders, watch it learn, use the result",
}

SYSINFO_TARGET = "ganstudio.engines.sysinfo:system_info"

IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"


def load_panel(title: str, module: Optional[str], cls_name: Optional[str]) -> tuple[QWidget, str]:
    """Build one tab's panel. Returns (widget, state) with state "ok", "pending" or "error"."""
    if module is None or cls_name is None:
        return PlaceholderPanel(title, NOT_LANDED.get(title, f"{title} lands in a later release.")), "pending"
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return PlaceholderPanel(title, NOT_LANDED.get(title, f"The {title} engine has not landed yet.")), "pending"
        log.exception("the %s panel could not be imported", title)
        return PlaceholderPanel(f"{title}: failed to load", f"{type(exc).__name__}: {exc}\n(see the log)"), "error"
    except Exception as exc:  # a bug in one panel must not keep the app from starting
        log.exception("the %s panel could not be imported", title)
        return PlaceholderPanel(f"{title}: failed to load", f"{type(exc).__name__}: {exc}\n(see the log)"), "error"
    try:
        return getattr(mod, cls_name)(), "ok"
    except Exception as exc:
        log.exception("the %s panel could not be created", title)
        return PlaceholderPanel(f"{title}: failed to load", f"{type(exc).__name__}: {exc}\n(see the log)"), "error"


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


class MainWindow(QMainWindow):
    """``probe_device``: start the system-info job at once (off in tests that do not need torch)."""

    sysinfo_changed = Signal(object)  # the system_info() dict, or {"failed": message}
    file_opened = Signal(str, str)  # path, tab title

    def __init__(self, settings: Optional[Settings] = None, probe_device: bool = True,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.settings = settings or Settings()
        self.sysinfo: Optional[dict] = None
        self.sysinfo_job = JobSlot(self, "system info")
        self.sysinfo_job.finished.connect(self._on_sysinfo)
        self.sysinfo_job.failed.connect(self._on_sysinfo_failed)
        self._panel_states: dict[str, str] = {}
        self._about = None
        self._model_manager = None
        # Edit > Undo / Redo follow the current tab's undo stack (its active stack is set on tab changes)
        self.undo_group = QUndoGroup(self)
        self.setWindowTitle("GAN Studio")
        self.setAcceptDrops(True)

        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.panels: dict[str, QWidget] = {}
        self.panel_status: dict[str, str] = {}
        for title, module, cls_name in TABS:
            panel, state = load_panel(title, module, cls_name)
            self.panels[title] = panel
            self.panel_status[title] = state
            index = self.tabs.addTab(panel, title)
            self.tabs.setTabToolTip(index, f"{TAB_TIPS.get(title, title)} (Alt+{index + 1})")
            signal = getattr(panel, "job_state", None)
            if signal is not None and hasattr(signal, "connect"):
                signal.connect(lambda text, t=title: self._on_panel_job_state(t, text))
        self.tabs.currentChanged.connect(self._on_tab_changed)

        self._build_menus()
        for signal in (self.undo_group.canUndoChanged, self.undo_group.canRedoChanged,
                       self.undo_group.undoTextChanged, self.undo_group.redoTextChanged):
            signal.connect(self._sync_edit_actions)
        self._build_status_bar()
        self._restore()
        self._on_tab_changed(self.tabs.currentIndex())
        if probe_device:
            self.refresh_sysinfo()

    # ------------------------------------------------------------------------------- menus
    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.open_image_action = self._action(file_menu, "&Open image…", QKeySequence.StandardKey.Open,
                                              self.choose_image)
        self.open_image_action.setShortcut(QKeySequence("Ctrl+O"))
        self.open_folder_action = self._action(file_menu, "Open &folder…", "Ctrl+Shift+O", self.choose_folder)
        self.export_action = self._action(file_menu, "&Export…", "Ctrl+E", self.export_current)
        self.recent_menu = file_menu.addMenu("&Recent files")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", "Ctrl+Q", self.close)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = mb.addMenu("&Edit")
        self.undo_action = self._action(edit_menu, "&Undo", "Ctrl+Z", self.undo)
        self.redo_action = self._action(edit_menu, "&Redo", "Ctrl+Shift+Z", self.redo)

        models_menu = mb.addMenu("&Models")
        self.model_manager_action = self._action(models_menu, "&Model manager…", None, self.open_model_manager)

        view_menu = mb.addMenu("&View")
        self.tab_actions: list[QAction] = []
        # Alt+1 … Alt+9 go to a tab (Ctrl+digits belong to the image views: Ctrl+0 fit, Ctrl+1 actual size)
        for i, (title, _m, _c) in enumerate(TABS[:9]):
            act = self._action(view_menu, f"&{i + 1} {title}", f"Alt+{i + 1}",
                               lambda i=i: self.tabs.setCurrentIndex(i))
            self.tab_actions.append(act)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in theme.THEMES:
            act = QAction(name.capitalize(), self, checkable=True)
            act.setData(name)
            act.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            self.theme_group.addAction(act)
            theme_menu.addAction(act)
            self.theme_actions[name] = act
        self.theme_actions[self.settings.theme].setChecked(True)

        settings_menu = mb.addMenu("&Settings")
        self.device_menu = settings_menu.addMenu("&Device")
        self.device_group = QActionGroup(self)
        self.device_actions: dict[str, QAction] = {}
        self._fill_device_menu([("auto", "Automatic (CUDA, then Apple MPS, then CPU)"), ("cpu", "CPU")])
        self.precision_menu = settings_menu.addMenu("&Precision")
        self.precision_group = QActionGroup(self)
        self.precision_actions: dict[str, QAction] = {}
        for name in PRECISIONS:
            act = QAction(PRECISION_LABELS.get(name, name), self, checkable=True)
            act.setData(name)
            act.triggered.connect(lambda _=False, n=name: self.set_precision(n))
            self.precision_group.addAction(act)
            self.precision_menu.addAction(act)
            self.precision_actions[name] = act
        self.precision_actions[self.settings.precision].setChecked(True)

        help_menu = mb.addMenu("&Help")
        self.about_action = self._action(help_menu, "&About GAN Studio", None, self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)

    def _action(self, menu: QMenu, text: str, shortcut, slot) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.triggered.connect(lambda _=False: slot())
        menu.addAction(act)
        return act

    def _fill_device_menu(self, devices: list[tuple[str, str]]) -> None:
        for act in self.device_actions.values():
            self.device_group.removeAction(act)
            self.device_menu.removeAction(act)
        self.device_actions.clear()
        current = self.settings.device
        ids = [d for d, _ in devices]
        if current not in ids:  # a saved choice this machine lacks (e.g. cuda:1): still show it
            devices = devices + [(current, f"{current} (not available here)")]
        for dev, label in devices:
            act = QAction(label, self, checkable=True)
            act.setData(dev)
            act.setChecked(dev == current)
            act.triggered.connect(lambda _=False, d=dev: self.set_device(d))
            self.device_group.addAction(act)
            self.device_menu.addAction(act)
            self.device_actions[dev] = act

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files
        for path in files:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.setStatusTip(path)
            act.triggered.connect(lambda _=False, p=path: self._open_recent(p))
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear recent files", self._clear_recent)
        else:
            empty = self.recent_menu.addAction("(none)")
            empty.setEnabled(False)

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._fill_recent_menu()

    def _open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.statusBar().showMessage(f"{path} no longer exists", 5000)
            self.settings.remove_recent_file(path)
            self._fill_recent_menu()
            return
        self.open_paths([path])

    # ------------------------------------------------------------------------------- status bar
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.job_label = QLabel("", self)
        self.job_label.setObjectName("jobLabel")
        self.job_bar = QProgressBar(self)
        self.job_bar.setRange(0, 0)  # busy: an indeterminate bar is the spinner
        self.job_bar.setMaximumWidth(120)
        self.job_bar.setMaximumHeight(14)
        self.job_bar.setTextVisible(False)
        self.job_bar.hide()
        self.device_label = QLabel("Device: checking…", self)
        self.device_label.setObjectName("deviceLabel")
        sb.addPermanentWidget(self.job_label)
        sb.addPermanentWidget(self.job_bar)
        sb.addPermanentWidget(self.device_label)
        # jobs are started by panels, dialogs and the window itself: poll the registry (cheap)
        self._job_timer = QTimer(self)
        self._job_timer.setInterval(200)
        self._job_timer.timeout.connect(self.update_job_indicator)
        self._job_timer.start()

    def busy_text(self) -> str:
        """What the job indicator says ("" when idle)."""
        states = [f"{t}: {s}" for t, s in self._panel_states.items() if s]
        if states:
            return " · ".join(states)
        n = sum(1 for h in engine_worker.active_jobs() if h.is_running())
        if n:
            return "1 job running" if n == 1 else f"{n} jobs running"
        return ""

    @Slot()
    def update_job_indicator(self) -> None:
        text = self.busy_text()
        self.job_label.setText(text)
        self.job_bar.setVisible(bool(text))

    def _on_panel_job_state(self, title: str, text: str) -> None:
        self._panel_states[title] = text or ""
        self.update_job_indicator()

    # ------------------------------------------------------------------------------- device info
    def refresh_sysinfo(self) -> None:
        """Ask the worker for torch's version, the devices and the precisions (never blocks)."""
        # a newer request replaces an older one (the device may have changed in between)
        self.sysinfo_job.start(SYSINFO_TARGET, {"device": self.settings.device, "precision": self.settings.precision})

    @Slot(object)
    def _on_sysinfo(self, info: object) -> None:
        if not isinstance(info, dict):
            return
        self.sysinfo = info
        self.device_label.setText(info.get("device_text", "?"))
        self.device_label.setToolTip(f"{info.get('device_description', '')}\ntorch {info.get('torch', '?')}")
        self._fill_device_menu([tuple(d) for d in info.get("devices", [])] or [("auto", "Automatic"), ("cpu", "CPU")])
        supported = set(info.get("precisions", ["fp32"])) | {"auto"}  # auto always means something here
        for name, act in self.precision_actions.items():
            act.setEnabled(name in supported)
            act.setToolTip("" if name in supported else f"not supported on {info.get('device', 'this device')}")
        if info.get("precision"):
            self.device_label.setToolTip(self.device_label.toolTip() + f"\nprecision: {info['precision']}"
                                         + (" (auto)" if self.settings.precision == "auto" else ""))
        if info.get("error"):
            self.statusBar().showMessage(info["error"], 8000)
        if self._about is not None:
            self._about.set_info(info)
        self.sysinfo_changed.emit(info)

    @Slot(object)
    def _on_sysinfo_failed(self, exc: BaseException) -> None:
        message = user_message(exc)
        self.sysinfo = {"failed": message}
        self.device_label.setText("Device: unknown")
        self.device_label.setToolTip(message)
        if self._about is not None:
            self._about.set_info(self.sysinfo)
        self.sysinfo_changed.emit(self.sysinfo)

    def set_device(self, device: str) -> None:
        self.settings.device = device
        if device in self.device_actions:
            self.device_actions[device].setChecked(True)
        self.device_label.setText("Device: checking…")
        self.refresh_sysinfo()

    def set_precision(self, precision: str) -> None:
        self.settings.precision = precision
        self.precision_actions[precision].setChecked(True)
        if self.sysinfo is not None:  # About / the status bar say what "auto" means on this device
            self.refresh_sysinfo()

    # ------------------------------------------------------------------------------- theme / dialogs
    def set_theme(self, name: str) -> None:
        theme.apply_theme(name)
        self.settings.theme = name
        self.theme_actions[name].setChecked(True)

    def show_about(self):
        from ganstudio.ui.about import AboutDialog

        if self._about is None:
            self._about = AboutDialog(self.sysinfo, self)
        else:
            self._about.set_info(self.sysinfo)
        self._about.show()
        self._about.raise_()
        return self._about

    def open_model_manager(self):
        from ganstudio.ui.model_manager import ModelManagerDialog

        if self._model_manager is None:
            self._model_manager = ModelManagerDialog(self.settings, self)
        self._model_manager.refresh()
        self._model_manager.show()
        self._model_manager.raise_()
        return self._model_manager

    # ------------------------------------------------------------------------------- files
    def current_title(self) -> str:
        return self.tabs.tabText(self.tabs.currentIndex())

    def current_panel(self) -> QWidget:
        return self.tabs.currentWidget()

    def switch_to(self, title: str) -> None:
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)
                return
        raise KeyError(title)

    def _target_for(self, method: str) -> Optional[str]:
        """The tab that should take a file: the current one if it can, else the first that can."""
        if callable(getattr(self.current_panel(), method, None)):
            return self.current_title()
        for title, _, _ in TABS:
            if callable(getattr(self.panels.get(title), method, None)):
                return title
        return None

    def open_paths(self, paths: list[str]) -> bool:
        """Route the first usable path (image file or folder) to a tab. True if a panel took it.

        Several usable paths (a multi-file drop): the current tab, when it has ``open_many(paths) -> str``
        (Upscale, Stylize), gets them all and says what it did (first image in the view, first folder as the batch
        input); elsewhere the first is opened and the status bar says how many others were not."""
        usable = [str(p) for p in paths if Path(p).is_dir() or (Path(p).is_file() and is_image_path(p))]
        if len(usable) > 1:
            return self._open_several(usable, len(paths))
        for raw in paths:
            p = Path(raw)
            if p.is_dir():
                return self._route(str(p), "open_folder", "folder")
            if p.is_file() and is_image_path(p):
                return self._route(str(p), "open_image", "open")
        if paths:
            self.statusBar().showMessage(f"Not an image or folder: {paths[0]}", 5000)
        return False

    def _open_several(self, usable: list[str], n_given: int) -> bool:
        # only the current tab: several files dropped on Paint must not jump to Upscale
        title = self.current_title() if callable(getattr(self.current_panel(), "open_many", None)) else None
        if title is not None:
            try:
                msg = self.panels[title].open_many(usable)
            except Exception as exc:  # a panel bug must not take the window down
                log.exception("%s.open_many failed", title)
                self.statusBar().showMessage(f"Could not open the dropped files: {exc}", 8000)
                return False
            if msg:
                skipped = n_given - len(usable)
                extra = f" ({skipped} dropped item{'s' if skipped != 1 else ''} not images or folders)" \
                    if skipped else ""
                self.statusBar().showMessage(f"{title}: {msg}{extra}", 10000)
                return True
            self.statusBar().showMessage(f"{title} could not open the dropped files", 8000)
            return False
        first = usable[0]
        ok = self._route(first, "open_folder" if Path(first).is_dir() else "open_image",
                         "folder" if Path(first).is_dir() else "open")
        if ok:
            rest = n_given - 1
            self.statusBar().showMessage(f"Opened {Path(first).name} in {self.current_title()}; {rest} other "
                                         f"dropped item{'s' if rest != 1 else ''} not opened (one at a time)",
                                         10000)
        return ok

    def _route(self, path: str, method: str, kind: str) -> bool:
        title = self._target_for(method)
        if title is None:
            what = "folders" if kind == "folder" else "images"
            self.statusBar().showMessage(f"No task that opens {what} has landed yet", 5000)
            return False
        if title != self.current_title():
            self.switch_to(title)
        try:
            ok = bool(getattr(self.panels[title], method)(path))
        except Exception as exc:  # a panel bug must not take the window down
            log.exception("%s.%s(%r) failed", title, method, path)
            self.statusBar().showMessage(f"Could not open {Path(path).name}: {exc}", 8000)
            return False
        if ok:
            self.settings.set_last_dir(kind, path)
            if kind == "open":
                self.settings.add_recent_file(path)
                self._fill_recent_menu()
            self.statusBar().showMessage(f"Opened {Path(path).name} in {title}", 4000)
            self.file_opened.emit(path, title)
        return ok

    def choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", self.settings.last_dir("open"), IMAGE_FILTER)
        if path:
            self.open_paths([path])

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder", self.settings.last_dir("folder"))
        if path:
            self.open_paths([path])

    def export_current(self) -> None:
        self._panel_call("export")

    def undo(self) -> None:
        """Edit > Undo: the current tab's undo stack, or its undo() method."""
        stack = self.undo_group.activeStack()
        if stack is not None:
            stack.undo()
        else:
            self._panel_call("undo")

    def redo(self) -> None:
        stack = self.undo_group.activeStack()
        if stack is not None:
            stack.redo()
        else:
            self._panel_call("redo")

    @staticmethod
    def _panel_stack(panel) -> Optional[QUndoStack]:
        fn = getattr(panel, "undo_stack", None)
        if not callable(fn):
            return None
        try:
            stack = fn()
        except Exception:  # a panel bug must not take the window down
            log.exception("undo_stack() failed")
            return None
        return stack if isinstance(stack, QUndoStack) else None

    @Slot()
    def _sync_edit_actions(self) -> None:
        """Edit > Undo / Redo: enabled and named after the current tab's stack ("Undo Brush stroke")."""
        stack = self.undo_group.activeStack()
        panel = self.current_panel()
        for act, verb, method in ((self.undo_action, "Undo", "undo"), (self.redo_action, "Redo", "redo")):
            if stack is not None:
                can = stack.canUndo() if method == "undo" else stack.canRedo()
                what = (stack.undoText() if method == "undo" else stack.redoText()) if can else ""
                act.setEnabled(can)
                act.setText(f"&{verb} {what}".rstrip())
            else:
                act.setEnabled(callable(getattr(panel, method, None)))
                act.setText(f"&{verb}")

    def _panel_call(self, method: str) -> None:
        fn = getattr(self.current_panel(), method, None)
        if callable(fn):
            try:
                fn()
            except Exception as exc:  # a panel bug must not take the window down
                log.exception("%s.%s() failed", self.current_title(), method)
                self.statusBar().showMessage(f"{method} failed: {exc}", 8000)

    @Slot(int)
    def _on_tab_changed(self, index: int) -> None:
        panel = self.tabs.widget(index)
        self.export_action.setEnabled(callable(getattr(panel, "export", None)))
        panel_keys = set()
        if panel is not None:
            panel_keys = {a.shortcut().toString() for a in panel.findChildren(QAction)}
            panel_keys |= {sc.key().toString() for sc in panel.findChildren(QShortcut)}
        for act, key in ((self.undo_action, "Ctrl+Z"), (self.redo_action, "Ctrl+Shift+Z")):
            act.setShortcut(QKeySequence() if key in panel_keys else QKeySequence(key))
        stack = self._panel_stack(panel)
        if stack is not None and stack not in self.undo_group.stacks():
            self.undo_group.addStack(stack)
        self.undo_group.setActiveStack(stack)
        self._sync_edit_actions()
        self.settings.current_tab = self.tabs.tabText(index)

    # ------------------------------------------------------------------------------- drag and drop
    @staticmethod
    def _local_paths(mime) -> list[str]:
        if mime is None or not mime.hasUrls():
            return []
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]

    def _acceptable(self, paths: list[str]) -> bool:
        return any(Path(p).is_dir() or is_image_path(p) for p in paths)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self._acceptable(self._local_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if self._acceptable(self._local_paths(event.mimeData())):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = self._local_paths(event.mimeData())
        if not self._acceptable(paths):
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_paths(paths)

    # ------------------------------------------------------------------------------- persistence
    def _restore(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            w, h = 1280, 800
            screen = self.screen()
            if screen is not None:  # a small laptop screen: start inside it
                avail = screen.availableGeometry()
                if avail.width() >= 640 and avail.height() >= 480:
                    w, h = min(w, avail.width()), min(h, avail.height())
            self.resize(w, h)
        state = self.settings.window_state
        if state is not None:
            self.restoreState(state)
        saved_tab = self.settings.current_tab
        if saved_tab:
            for i in range(self.tabs.count()):
                if self.tabs.tabText(i) == saved_tab:
                    self.tabs.setCurrentIndex(i)

    def save_settings(self) -> None:
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.current_tab = self.current_title()
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        # a panel may ask first (the Train tab: stop a run, or keep it training in the background)
        for panel in self.panels.values():
            confirm = getattr(panel, "confirm_close", None)
            if callable(confirm) and not confirm():
                event.ignore()
                return
        self.save_settings()
        self._job_timer.stop()
        for title, panel in self.panels.items():
            fn = getattr(panel, "shutdown", None)
            if callable(fn):
                try:
                    fn()
                except Exception:
                    log.exception("the %s panel failed to shut down", title)
        if self._model_manager is not None:
            self._model_manager.shutdown()
        if not engine_worker.cancel_and_join_all():
            log.warning("some jobs did not stop in time")
        event.accept()
