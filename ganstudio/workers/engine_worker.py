"""The one QThread worker that runs an engine generator for the GUI.

The GUI never imports torch: it describes a job as ``EngineJob("ganstudio.engines.x:function", kwargs)``
and the worker imports that engine inside its own thread. So start-up stays fast and a slow torch import
never freezes the window.

Exactly one of ``finished``, ``failed``, ``cancelled`` fires per job. ``failed`` carries the exception
object itself (its traceback text beside it, already logged): ``core.errors.user_message(exc)`` says it
the way the user reads it, with no list of class names to keep.

Panels do not use ``start_job`` directly: ``workers.jobs.JobSlot`` wraps it (newest replaces older, stale
signals dropped, handlers always on the GUI thread, cancel + join on shutdown).
"""
from __future__ import annotations

import importlib
import logging
import threading
import traceback
import types
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from ganstudio.core.errors import is_user_error, user_message
from ganstudio.core.progress import CancelToken, Cancelled, Progress

log = logging.getLogger(__name__)


@dataclass
class EngineJob:
    """What to run: ``target`` is "package.module:function"; it is called as ``fn(cancel=token, **kwargs)``
    and may return a value or a generator that yields Progress and returns the value."""

    target: str
    kwargs: dict = field(default_factory=dict)
    name: str = ""

    def resolve(self) -> Callable[..., Any]:
        module_name, _, attr = self.target.partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)


def array_to_qimage(arr: np.ndarray) -> QImage:
    """(H, W) or (H, W, 3|4) uint8 -> a QImage that owns its pixels (safe to send across threads)."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError(f"preview must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        h, w = arr.shape
        fmt, stride = QImage.Format.Format_Grayscale8, w
    elif arr.ndim == 3 and arr.shape[2] == 3:
        h, w, _ = arr.shape
        fmt, stride = QImage.Format.Format_RGB888, 3 * w
    elif arr.ndim == 3 and arr.shape[2] == 4:
        h, w, _ = arr.shape
        fmt, stride = QImage.Format.Format_RGBA8888, 4 * w
    else:
        raise ValueError(f"unsupported preview shape {arr.shape}")
    return QImage(arr.data, w, h, stride, fmt).copy()


class EngineWorker(QObject):
    progress = Signal(object)  # Progress (preview stripped: it travels as a QImage below)
    preview = Signal(QImage)
    finished = Signal(object)  # the engine's return value
    failed = Signal(object, str)  # the exception (without its traceback frames), the traceback text
    cancelled = Signal()
    done = Signal()  # after any of the three above: used to stop the thread

    def __init__(self, job: EngineJob, token: CancelToken | None = None) -> None:
        super().__init__()
        self.job = job
        self.token = token or CancelToken()

    @Slot()
    def run(self) -> None:
        try:
            # cancelled before the thread got to start (e.g. the window closed in the same moment):
            # end at once instead of running a job whose result nobody will see
            self.token.check()
            # progress reported from inside a network's forward (between its blocks) travels like a yield
            self.token.set_listener(self._emit_progress)
            fn = self.job.resolve()
            result = fn(cancel=self.token, **self.job.kwargs)
            if isinstance(result, types.GeneratorType):
                result = self._drive(result)
            if self.token.cancelled:
                self.cancelled.emit()
            else:
                self.finished.emit(result)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # the one place a job's exception is caught: logged, then reported
            tb = traceback.format_exc()
            if is_user_error(exc):  # the user's input or the machine, not a bug: no traceback in the log
                log.warning("job %s: %s", self.job.name or self.job.target, user_message(exc))
            else:
                log.error("job %s failed:\n%s", self.job.name or self.job.target, tb)
            # the frames would keep the job's locals (often whole images) alive as long as the GUI holds exc
            self.failed.emit(exc.with_traceback(None), tb)
        finally:
            self.token.set_listener(None)
            self.done.emit()

    def _drive(self, gen) -> Any:
        while True:
            self.token.check()
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            if isinstance(p, Progress):
                self._emit_progress(p)

    def _emit_progress(self, p: Progress) -> None:
        if p.preview is not None:
            self.preview.emit(array_to_qimage(p.preview))
            p = Progress(p.done, p.total, p.message, None, p.extra)
        self.progress.emit(p)


class JobHandle(QObject):
    """A started job: its worker, its thread, and ``cancel()``."""

    def __init__(self, worker: EngineWorker, thread: QThread) -> None:
        super().__init__()
        self.worker = worker
        self.thread = thread
        self._started = False

    @Slot()
    def start(self) -> None:
        """Start the thread once (a second call, e.g. the deferred start after wait() already started
        it, does nothing: QThread.start on a finished thread would run the job again)."""
        if not self._started:
            self._started = True
            self.thread.start()

    def cancel(self) -> None:
        self.worker.token.cancel()

    def pause(self) -> None:
        self.worker.token.pause()

    def resume(self) -> None:
        self.worker.token.resume()

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def wait(self, ms: int = 30000) -> bool:
        # a job whose deferred start has not happened yet: start it now, so that it sees its token (it
        # ends at once when cancelled) and the wait really joins it instead of returning before it runs
        self.start()
        return self.thread.wait(ms)


_active: set[JobHandle] = set()
_active_lock = threading.Lock()


def start_job(job: EngineJob, token: CancelToken | None = None) -> JobHandle:
    """Run ``job`` on a fresh QThread. Connect to ``handle.worker``'s signals right after this call:
    the worker's signals are queued to the caller's thread, so nothing is missed."""
    thread = QThread()
    thread.setObjectName(f"EngineWorker[{job.name or job.target}]")
    worker = EngineWorker(job, token)
    worker.moveToThread(thread)
    handle = JobHandle(worker, thread)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe and must not wait for the GUI thread's event loop, which is blocked
    # inside cancel_and_join_all() -> QThread.wait() when the window closes (queued, it deadlocked).
    worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)

    # No closure connected to thread.finished: PySide keeps connected callables alive, which would keep
    # every finished job (and its kwargs, often whole images) in memory. Finished handles are pruned instead.
    with _active_lock:
        _prune_locked()
        _active.add(handle)
    # start on the next event-loop turn so the caller can connect signals first
    QTimer.singleShot(0, handle.start)
    return handle


def _prune_locked() -> None:
    for h in [h for h in _active if h.thread.isFinished()]:
        _active.discard(h)


def active_jobs() -> list[JobHandle]:
    with _active_lock:
        _prune_locked()
        return list(_active)


def cancel_and_join_all(timeout_ms: int = 30000) -> bool:
    """Called on window close: cancel every job and wait for its thread. True if all stopped."""
    ok = True
    for handle in active_jobs():
        handle.cancel()
    for handle in active_jobs():
        if handle.thread.isRunning() or not handle.thread.isFinished():
            ok = handle.wait(timeout_ms) and ok
    return ok


class LatestOnlyRunner(QObject):
    """For interactive controls (sliders, painting): debounce requests, run at most one job at a time,
    and when a job ends start only the newest request that arrived meanwhile; stale ones are dropped.

    ``submit(job)`` (re)starts the debounce timer; ``result`` / ``failed`` report each completed job
    with the job's request id so callers can verify ordering.
    """

    result = Signal(int, object)  # request id, engine result
    failed = Signal(int, object)  # request id, the exception
    started = Signal(int)
    idle = Signal()  # the last job ended and nothing is pending: a status line can say "ready"

    def __init__(self, debounce_ms: int = 40, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self._start_pending)
        self._pending: tuple[int, EngineJob] | None = None
        self._running: JobHandle | None = None
        self._running_id = 0
        self._next_id = 0
        self.started_count = 0

    def submit(self, job: EngineJob) -> int:
        self._next_id += 1
        self._pending = (self._next_id, job)
        self._timer.start()
        return self._next_id

    def is_busy(self) -> bool:
        return self._running is not None or self._pending is not None

    def _start_pending(self) -> None:
        if self._running is not None or self._pending is None:
            return  # the running job will pick up the newest pending request when it ends
        req_id, job = self._pending
        self._pending = None
        handle = start_job(job)
        self._running = handle
        self._running_id = req_id
        self.started_count += 1
        self.started.emit(req_id)
        # bound methods of this QObject (GUI thread), so the calls are queued to the GUI thread
        handle.worker.finished.connect(self._on_result)
        handle.worker.failed.connect(self._on_failed)
        handle.thread.finished.connect(self._on_thread_finished)

    @Slot(object)
    def _on_result(self, res: object) -> None:
        self.result.emit(self._running_id, res)

    @Slot(object, str)
    def _on_failed(self, exc: BaseException, tb: str) -> None:
        self.failed.emit(self._running_id, exc)

    @Slot()
    def _on_thread_finished(self) -> None:
        self._running = None
        if self._pending is not None:
            self._start_pending()
        else:
            self.idle.emit()

    def shutdown(self) -> None:
        self._timer.stop()
        self._pending = None
        if self._running is not None:
            self._running.cancel()
            self._running.wait()
