"""The GUI entry point: QApplication, logging, the main window, and an orderly shutdown.

``run_gui(argv, files=None)`` is what ``ganstudio`` / ``ganstudio gui FILE...`` / ``python -m ganstudio``
call. Before any Qt GUI library is loaded, ``startup_problem()`` checks what Qt's display plugin needs (on
Linux with the xcb plugin: a display, and the system libraries the plugin links to) and, where something
is missing, the app says in one line what to install (an ``apt install`` line) or how to work without a
display, and exits with code 2 — instead of Qt's abort ("could not load the Qt platform plugin xcb"),
whose advice does not name a package.

Shutdown: closing the window calls every panel's ``shutdown()`` and then ``cancel_and_join_all()``
(cancel every worker, join its thread); ``aboutToQuit`` runs the same join again as a safety net for jobs
started after the window closed. No QThread is ever terminated.
"""
from __future__ import annotations

import ctypes
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from ganstudio import __version__

log = logging.getLogger("ganstudio")

EXIT_NO_DISPLAY = 2  # the exit code of every command that is refused before it starts (commands/common.py)

# What Qt 6's GUI libraries and its xcb platform plugin link to (readelf -d of libQt6Gui.so.6,
# libQt6XcbQpa.so.6 and platforms/libqxcb.so in the PySide6 6.11 wheel), with the Debian / Ubuntu package
# that ships each. Libraries the wheel bundles itself are not checked.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
HEADLESS_HINT = ("the headless commands need none: `ganstudio --help` lists them; or run the window without a "
                 "screen with QT_QPA_PLATFORM=offscreen")


def install_line(packages: Sequence[str]) -> str:
    """``sudo apt install a b c`` (each package once, in the given order)."""
    return "sudo apt install " + " ".join(dict.fromkeys(packages))


def _bundled_qt_libraries() -> set[str]:
    """File names of the libraries the PySide6 wheel ships itself (found by Qt, not by the system)."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("PySide6")  # the package's location, without loading Qt
        if spec is None or not spec.submodule_search_locations:
            return set()
        lib = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "lib"
        return {p.name for p in lib.iterdir()} if lib.is_dir() else set()
    except OSError:
        return set()


def can_load(library: str) -> bool:
    """True if the dynamic loader finds ``library`` (a soname, e.g. libxcb-cursor.so.0)."""
    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def _platform_name(env: Mapping[str, str], argv: Sequence[str]) -> str:
    """The Qt platform plugin Qt will pick: ``-platform NAME`` on the command line, QT_QPA_PLATFORM, else
    on Linux wayland in a Wayland session (Qt 6 does so) and xcb otherwise."""
    args = list(argv)
    if "-platform" in args[:-1]:
        return args[args.index("-platform") + 1].split(":")[0].split(";")[0].strip().lower()
    forced = env.get("QT_QPA_PLATFORM", "").strip().lower()
    if forced:
        return forced.split(";")[0].split(":")[0].strip()
    if env.get("XDG_SESSION_TYPE", "").lower() == "wayland" and env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def startup_problem(env: Optional[Mapping[str, str]] = None, argv: Sequence[str] = (),
                    loadable: Optional[Callable[[str], bool]] = None, platform: str = sys.platform) -> Optional[str]:
    """One line saying why the window cannot open here, or None. Checked before Qt is loaded: on Linux, when
    Qt will use its xcb plugin, that there is a display (DISPLAY) and that the system libraries the plugin
    needs can be loaded (``loadable(soname)``)."""
    env = os.environ if env is None else env
    loadable = loadable or can_load
    if not platform.startswith("linux") or _platform_name(env, argv) != "xcb":
        return None
    if not env.get("DISPLAY"):
        where = " (only WAYLAND_DISPLAY is set: try QT_QPA_PLATFORM=wayland)" if env.get("WAYLAND_DISPLAY") else ""
        return (f"GAN Studio's window needs a display, and DISPLAY is not set{where}; {HEADLESS_HINT}")
    bundled = _bundled_qt_libraries()
    missing = [pkg for lib, pkg in XCB_LIBRARIES.items() if lib not in bundled and not loadable(lib)]
    if missing:
        return (f"GAN Studio's window needs system libraries that are not installed; on Debian / Ubuntu: "
                f"{install_line(missing)} (other systems: the packages providing "
                f"{', '.join(lib for lib, pkg in XCB_LIBRARIES.items() if pkg in missing)}); {HEADLESS_HINT}")
    return None


def setup_logging(level: int = logging.INFO) -> Optional[str]:
    """Log to stderr (if nothing is configured yet) and to ``<user data>/logs/ganstudio.log``
    (rotating, 1 MB x 3). Returns the log file path, or None if it could not be opened."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        from ganstudio.core.paths import user_data_dir

        folder = user_data_dir() / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "ganstudio.log"
        if not any(isinstance(h, logging.handlers.RotatingFileHandler) and getattr(h, "baseFilename", "") == str(path)
                   for h in root.handlers):
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"))
            root.addHandler(handler)
        return str(path)
    except OSError as exc:
        log.warning("cannot open the log file: %s", exc)
        return None


def _log_uncaught(exc_type, exc, tb) -> None:
    # an exception escaping a Qt slot would otherwise only be printed; keep it in the log file too
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("uncaught exception", exc_info=(exc_type, exc, tb))


def create_app(argv: Sequence[str]):
    """The QApplication (reused if one exists), named so QSettings is per-app."""
    from PySide6.QtWidgets import QApplication

    from ganstudio.ui.settings import APP_NAME, ORG_NAME

    QApplication.setOrganizationName(ORG_NAME)
    QApplication.setApplicationName(APP_NAME)
    QApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationDisplayName(APP_NAME)
    return app


def run_gui(argv: Sequence[str], files: Optional[Sequence[str]] = None) -> int:
    """Open the main window (optionally with ``files``) and run the event loop; returns the exit code.
    Where the window cannot open here (``startup_problem``), says why in one line and returns 2."""
    widgets = sys.modules.get("PySide6.QtWidgets")  # not imported yet: loading it needs the libraries checked
    if widgets is None or widgets.QApplication.instance() is None:  # a running app (tests) has its platform
        problem = startup_problem(argv=argv)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_NO_DISPLAY
    from ganstudio.ui import theme
    from ganstudio.ui.main_window import MainWindow
    from ganstudio.ui.settings import Settings
    from ganstudio.workers.engine_worker import cancel_and_join_all

    app = create_app(argv)
    log_path = setup_logging()
    sys.excepthook = _log_uncaught
    settings = Settings()
    theme.apply_theme(settings.theme, app)
    window = MainWindow(settings)
    window.show()
    log.info("GAN Studio %s started (log: %s)", __version__, log_path)
    if files:
        window.open_paths([str(f) for f in files])
    app.aboutToQuit.connect(lambda: cancel_and_join_all())
    return int(app.exec())
