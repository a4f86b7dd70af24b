"""The GUI entry point: QApplication, logging, the main window, and an orderly shutdown.

``run_gui(argv, files=None)`` is what ``ganstudio`` / ``ganstudio gui FILE...`` / ``python -m ganstudio``
call. Shutdown: closing the window calls every panel's ``shutdown()`` and then
``cancel_and_join_all()`` (cancel every worker, join its thread); ``aboutToQuit`` runs the same join
again as a safety net for jobs started after the window closed. No QThread is ever terminated.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
from typing import Optional, Sequence

from PySide6.QtWidgets import QApplication

from ganstudio import __version__
from ganstudio.ui.settings import APP_NAME, ORG_NAME

log = logging.getLogger("ganstudio")


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


def create_app(argv: Sequence[str]) -> QApplication:
    """The QApplication (reused if one exists), named so QSettings is per-app."""
    QApplication.setOrganizationName(ORG_NAME)
    QApplication.setApplicationName(APP_NAME)
    QApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(list(argv))
    app.setApplicationDisplayName(APP_NAME)
    return app


def run_gui(argv: Sequence[str], files: Optional[Sequence[str]] = None) -> int:
    """Open the main window (optionally with ``files``) and run the event loop; returns the exit code."""
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
