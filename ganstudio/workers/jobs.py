"""``JobSlot``: the one way a panel, dialog or window runs engine jobs.

Every job-owning widget used to repeat the same machinery: start a job, connect its signals, drop the
results of a job that was replaced, keep the handle, cancel and join on shutdown. A ``JobSlot`` is that
machinery, once. A widget makes one slot per kind of job ("open", "render", "batch") and connects the
slot's signals to its own methods:

    self.open_job = JobSlot(self, "open image")
    self.open_job.finished.connect(self._on_opened)
    self.open_job.failed.connect(self._on_open_failed)       # receives the exception object
    ...
    self.open_job.start("ganstudio.engines.upscale:open_image", {"path": path})

Rules it keeps for every user:
* handlers run on the GUI thread: the worker's signals reach the slot through a small relay QObject that
  lives in the GUI thread (bound methods only; a lambda connected to a worker signal runs in the worker
  thread, where touching a widget is a crash waiting to happen);
* at most one job per slot is current. ``policy="replace"`` (default): a new start cancels the older job;
  ``"exclusive"``: a start while a job runs is refused (returns None). Signals of a job that is no longer
  current are dropped, so a slow older job can never overwrite a newer result;
* ``shutdown()`` cancels the current and every superseded job of the slot and waits for their threads
  (``shutdown_slots(widget)`` does it for every slot a widget owns).
"""
from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from ganstudio.core.errors import user_message
from ganstudio.core.progress import CancelToken
from ganstudio.workers.engine_worker import EngineJob, JobHandle, start_job

log = logging.getLogger(__name__)

POLICIES = ("replace", "exclusive")


class _Relay(QObject):
    """Lives in the GUI thread; receives one job's worker signals (queued) and hands them to the slot
    tagged with the job's number, so the slot can drop a superseded job's signals."""

    def __init__(self, slot: "JobSlot", job_id: int) -> None:
        super().__init__(slot)
        self.slot = slot
        self.job_id = job_id

    @Slot(object)
    def on_progress(self, p) -> None:
        self.slot._deliver(self.job_id, "progress", p)

    @Slot(QImage)
    def on_preview(self, img: QImage) -> None:
        self.slot._deliver(self.job_id, "preview", img)

    @Slot(object)
    def on_finished(self, result) -> None:
        self.slot._deliver(self.job_id, "finished", result)

    @Slot(object, str)
    def on_failed(self, exc, tb: str) -> None:
        self.slot._deliver(self.job_id, "failed", exc)

    @Slot()
    def on_cancelled(self) -> None:
        self.slot._deliver(self.job_id, "cancelled", None)

    @Slot()
    def on_thread_finished(self) -> None:
        self.slot._thread_ended(self.job_id)
        self.deleteLater()


class JobSlot(QObject):
    """One kind of job a widget runs; see the module docstring."""

    progress = Signal(object)  # Progress (current job only)
    preview = Signal(QImage)
    finished = Signal(object)  # the engine's return value
    failed = Signal(object)  # the exception; ``user_message(exc)`` is its text for the user
    cancelled = Signal()
    ended = Signal()  # after finished / failed / cancelled of the current job
    running_changed = Signal(bool)

    def __init__(self, parent: QObject, name: str = "", policy: str = "replace") -> None:
        super().__init__(parent)
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}")
        self.name = name
        self.policy = policy
        self._next_id = 0
        self._current_id = 0
        self._current: Optional[JobHandle] = None
        self._handles: dict[int, JobHandle] = {}  # every job of this slot whose thread has not ended
        self._cancel_asked = False
        self.last_kwargs: dict = {}

    # ------------------------------------------------------------------------------------------ control
    def start(self, target: str, kwargs: Optional[dict] = None, name: str = "",
              token: Optional[CancelToken] = None) -> Optional[JobHandle]:
        """Start ``target`` ("package.module:function") with ``kwargs`` in a worker thread.
        Returns the handle, or None when the policy is "exclusive" and a job is running."""
        if self.is_running():
            if self.policy == "exclusive":
                return None
            self._current.cancel()  # replaced: its late signals are dropped by job number
        kwargs = dict(kwargs or {})
        self._next_id += 1
        job_id = self._next_id
        handle = start_job(EngineJob(target, kwargs, name=name or self.name or target), token)
        relay = _Relay(self, job_id)
        w = handle.worker
        w.progress.connect(relay.on_progress)
        w.preview.connect(relay.on_preview)
        w.finished.connect(relay.on_finished)
        w.failed.connect(relay.on_failed)
        w.cancelled.connect(relay.on_cancelled)
        handle.thread.finished.connect(relay.on_thread_finished)
        was_running = self._current is not None
        self._current, self._current_id = handle, job_id
        self._handles[job_id] = handle
        self._cancel_asked = False
        self.last_kwargs = kwargs
        if not was_running:
            self.running_changed.emit(True)
        return handle

    def cancel(self) -> bool:
        """Ask the current job to stop (it ends with ``cancelled``). True if one was running."""
        if self._current is None:
            return False
        self._cancel_asked = True
        self._current.cancel()
        return True

    def pause(self) -> None:
        if self._current is not None:
            self._current.pause()

    def resume(self) -> None:
        if self._current is not None:
            self._current.resume()

    @property
    def paused(self) -> bool:
        return self._current is not None and self._current.worker.token.paused

    @property
    def cancelling(self) -> bool:
        """True between ``cancel()`` and the job's end (the UI says "Cancelling…")."""
        return self._current is not None and self._cancel_asked

    def is_running(self) -> bool:
        """True from ``start`` until the current job has finished, failed or been cancelled."""
        return self._current is not None

    def handle(self) -> Optional[JobHandle]:
        return self._current

    def forget(self) -> None:
        """Drop the current job's remaining signals without waiting for it (it is cancelled)."""
        if self._current is not None:
            self._current.cancel()
            self._current = None
            self._current_id = 0
            self.running_changed.emit(False)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job of this slot and wait for their threads. True if all stopped."""
        handles = list(self._handles.values())
        for h in handles:
            h.cancel()
        ok = True
        for h in handles:
            ok = h.wait(timeout_ms) and ok
        self._handles.clear()
        if self._current is not None:
            self._current = None
            self._current_id = 0
            self.running_changed.emit(False)
        return ok

    # ------------------------------------------------------------------------------------------ relay
    def _deliver(self, job_id: int, kind: str, payload) -> None:
        if job_id != self._current_id:
            return  # a superseded job: its results are stale
        if kind == "progress":
            self.progress.emit(payload)
            return
        if kind == "preview":
            self.preview.emit(payload)
            return
        # a terminal signal: the job is over for the widget (its thread may need a moment to end, which
        # shutdown() still waits for). The slot is idle *before* the handler runs, so a handler may start
        # the next job at once, even with the "exclusive" policy.
        self._set_idle()
        if kind == "finished":
            self.finished.emit(payload)
        elif kind == "failed":
            log.debug("%s failed: %s", self.name, user_message(payload))
            self.failed.emit(payload)
        else:
            self.cancelled.emit()
        self.ended.emit()

    def _set_idle(self) -> None:
        self._current = None
        self._current_id = 0
        self._cancel_asked = False
        self.running_changed.emit(False)

    def _thread_ended(self, job_id: int) -> None:
        self._handles.pop(job_id, None)
        if job_id == self._current_id and self._current is not None:
            self._set_idle()  # no terminal signal arrived (cannot happen with EngineWorker; kept safe)


def shutdown_slots(owner: QObject, timeout_ms: int = 30000) -> bool:
    """Cancel and join every ``JobSlot`` ``owner`` holds (its children, recursively)."""
    ok = True
    for slot in owner.findChildren(JobSlot):
        ok = slot.shutdown(timeout_ms) and ok
    return ok
