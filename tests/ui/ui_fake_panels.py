"""Small fake task panels (and a fake system-info job) for the main-window tests.

The tests point ``main_window.TABS`` at these classes to check how files are routed, what is called
on close, and how job states reach the status bar. Named so it cannot clash with another test
folder's helper module (the tests folders have no __init__.py)."""
from __future__ import annotations

import threading

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget


class ImagePanel(QWidget):
    """Takes images, exports, reports job state."""

    job_state = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        from PySide6.QtWidgets import QVBoxLayout

        from ganstudio.ui.widgets.image_view import ImageView

        self.view = ImageView(self)  # a real view: files dropped on it must still reach the window
        QVBoxLayout(self).addWidget(self.view)
        self.opened: list[str] = []
        self.exported = 0
        self.shut_down = 0

    def open_image(self, path: str) -> bool:
        self.opened.append(path)
        return True

    def export(self) -> None:
        self.exported += 1

    def undo(self) -> None:
        self.undone = getattr(self, "undone", 0) + 1

    def redo(self) -> None:
        self.redone = getattr(self, "redone", 0) + 1

    def shutdown(self) -> None:
        self.shut_down += 1


class FolderPanel(ImagePanel):
    """Takes images and folders (like Upscale's batch mode)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folders: list[str] = []

    def open_folder(self, path: str) -> bool:
        self.folders.append(path)
        return True


class RefusingPanel(QWidget):
    """Has open_image but declines every file (e.g. it could not read it)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tried: list[str] = []

    def open_image(self, path: str) -> bool:
        self.tried.append(path)
        return False


class BarePanel(QWidget):
    """Implements none of the optional methods."""


class OwnUndoPanel(QWidget):
    """Has undo() and binds Ctrl+Z itself (e.g. a QUndoStack action)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        from PySide6.QtGui import QAction, QKeySequence

        self.own_undo = QAction("Undo stroke", self)
        self.own_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.addAction(self.own_undo)

    def undo(self) -> None:
        pass


class ExplodingPanel(QWidget):
    def __init__(self, parent=None):
        raise RuntimeError("panel constructor bug")


def fake_sysinfo(cancel=None, device="auto", precision="fp32"):
    return {
        "torch": "9.9.9-fake", "cuda": "", "devices": [("auto", "Automatic"), ("cpu", "CPU"), ("cuda:0", "CUDA 0: Fake GPU")],
        "device": "cpu" if device != "cuda:0" else "cuda:0",
        "device_text": "Fake GPU" if device == "cuda:0" else "CPU, 3 threads",
        "device_description": "Fake device description", "precisions": ["fp32", "bf16"],
        "precision": precision if precision in ("fp32", "bf16") else "fp32", "threads": 3,
        "python": "3.x", "platform": "test", "error": "",
    }


def failing_sysinfo(cancel=None, device="auto", precision="fp32"):
    raise ImportError("torch is broken here")


def gated(cancel, steps: list, reached: threading.Event, gate: threading.Event, n=50, stop_at=0):
    """A job that records its steps and waits at ``stop_at`` for ``gate`` (from the test) or a cancel."""
    from ganstudio.core.progress import Progress

    for i in range(n):
        steps.append(i)
        if i == stop_at:
            reached.set()
            while not gate.wait(0.01) and not cancel.cancelled:
                pass
        yield Progress(i + 1, n)
    return n


def slow_download(cancel, model_id: str = "", reached: threading.Event | None = None, **_):
    """A download that reports 3 of 10 steps, then waits until it is cancelled."""
    from ganstudio.core.progress import Progress

    for i in range(1, 4):
        yield Progress(i, 10, f"{model_id}: {i} of 10 MB")
    if reached is not None:
        reached.set()
    while not cancel.cancelled:
        threading.Event().wait(0.01)
    yield Progress(4, 10)
    return {"id": model_id}
