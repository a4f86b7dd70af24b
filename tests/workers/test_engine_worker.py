"""EngineWorker / start_job / LatestOnlyRunner against a fake engine (tests/workers/worker_fake_engine.py)."""
from __future__ import annotations

import logging
import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage

from ganstudio.core.errors import user_message
from ganstudio.workers.engine_worker import (
    EngineJob,
    LatestOnlyRunner,
    active_jobs,
    cancel_and_join_all,
    start_job,
)

FAKE = "worker_fake_engine"


class Recorder:
    """Collects every signal of one job, in arrival order."""

    def __init__(self, handle):
        self.events: list[tuple] = []
        w = handle.worker
        w.progress.connect(lambda p: self.events.append(("progress", p)))
        w.preview.connect(lambda img: self.events.append(("preview", img)))
        w.finished.connect(lambda r: self.events.append(("finished", r)))
        w.failed.connect(lambda m, tb: self.events.append(("failed", m, tb)))
        w.cancelled.connect(lambda: self.events.append(("cancelled",)))

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]

    def terminal(self):
        return [e for e in self.events if e[0] in ("finished", "failed", "cancelled")]


def run_job(qtbot, job, before_wait=None):
    handle = start_job(job)
    rec = Recorder(handle)
    with qtbot.waitSignal(handle.thread.finished, timeout=10000):
        if before_wait is not None:
            before_wait(handle)
    # the thread's `finished` is queued after the worker's own signals, so all of them have arrived
    assert not handle.is_running()
    return handle, rec


def test_progress_in_order_preview_as_qimage_and_result(qtbot):
    _, rec = run_job(qtbot, EngineJob(f"{FAKE}:count", {"n": 5, "preview": True}, name="count"))
    progress = [e[1] for e in rec.of("progress")]
    assert [p.done for p in progress] == [1, 2, 3, 4, 5]
    assert all(p.total == 5 for p in progress)
    assert [p.message for p in progress][-1] == "step 5"
    assert all(p.preview is None for p in progress)  # the preview travels as a QImage instead
    previews = [e[1] for e in rec.of("preview")]
    assert len(previews) == 5 and all(isinstance(img, QImage) for img in previews)
    assert (previews[0].width(), previews[0].height()) == (6, 4)
    assert previews[2].pixelColor(0, 0) == QColor(30, 100, 200)  # RGB order kept
    # each preview arrives before the progress of the same step
    kinds = [e[0] for e in rec.events]
    assert kinds[:2] == ["preview", "progress"]
    assert rec.terminal() == [("finished", 50)]
    assert active_jobs() == []


def test_plain_function_result(qtbot):
    _, rec = run_job(qtbot, EngineJob(f"{FAKE}:plain", {"x": 41}))
    assert rec.terminal() == [("finished", 42)]
    assert rec.of("progress") == []


def test_cancel_stops_within_one_step(qtbot):
    steps: list[int] = []
    reached, gate = threading.Event(), threading.Event()
    job = EngineJob(f"{FAKE}:gated", {"steps": steps, "reached": reached, "gate": gate, "n": 50, "stop_at": 2})

    def cancel_at_step_2(handle):
        qtbot.waitUntil(reached.is_set, timeout=10000)
        handle.cancel()
        gate.set()

    _, rec = run_job(qtbot, job, before_wait=cancel_at_step_2)
    # steps 0, 1, 2 ran; step 2 was under way when cancel came; step 3 must never start
    assert steps == [0, 1, 2]
    assert rec.terminal() == [("cancelled",)]


def test_cancel_while_paused_wakes_and_cancels(qtbot):
    steps: list[int] = []
    reached, gate = threading.Event(), threading.Event()
    job = EngineJob(f"{FAKE}:gated", {"steps": steps, "reached": reached, "gate": gate, "n": 50, "stop_at": 0})

    def pause_then_cancel(handle):
        qtbot.waitUntil(reached.is_set, timeout=10000)
        handle.pause()
        gate.set()
        handle.cancel()

    _, rec = run_job(qtbot, job, before_wait=pause_then_cancel)
    assert steps == [0]
    assert rec.terminal() == [("cancelled",)]


def test_exception_becomes_failed_with_traceback_and_is_logged(qtbot, caplog):
    caplog.set_level(logging.ERROR, logger="ganstudio.workers.engine_worker")
    _, rec = run_job(qtbot, EngineJob(f"{FAKE}:fail", name="failing job"))
    terminal = rec.terminal()
    assert len(terminal) == 1 and terminal[0][0] == "failed"
    _, exc, tb = terminal[0]
    assert isinstance(exc, RuntimeError) and str(exc) == "boom 42"
    assert exc.__traceback__ is None  # the frames (and the job's locals) are not kept alive by the GUI
    assert user_message(exc) == "RuntimeError: boom 42"  # a bug keeps its type as a hint
    assert "Traceback" in tb and "worker_fake_engine.py" in tb and 'raise RuntimeError("boom 42")' in tb
    assert [p.done for _, p in rec.of("progress")] == [1]
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and "failing job" in logged[0].getMessage() and "boom 42" in logged[0].getMessage()


def test_unknown_target_fails_cleanly(qtbot):
    _, rec = run_job(qtbot, EngineJob(f"{FAKE}:no_such_function"))
    terminal = rec.terminal()
    assert len(terminal) == 1 and terminal[0][0] == "failed"
    assert "no_such_function" in str(terminal[0][1])


def test_cancel_and_join_all_stops_every_job(qtbot):
    gates = []
    handles = []
    for _ in range(3):
        steps, reached, gate = [], threading.Event(), threading.Event()
        gates.append((reached, gate))
        handles.append(start_job(EngineJob(f"{FAKE}:gated", {"steps": steps, "reached": reached, "gate": gate})))
    qtbot.waitUntil(lambda: all(r.is_set() for r, _ in gates), timeout=10000)
    for _, gate in gates:
        gate.set()
    assert cancel_and_join_all(timeout_ms=10000)
    assert not any(h.is_running() for h in handles)


def test_latest_only_runner_runs_newest_and_drops_stale(qtbot):
    runner = LatestOnlyRunner(debounce_ms=5)
    ran: list[int] = []
    results: list[tuple[int, object]] = []
    started: list[int] = []
    runner.result.connect(lambda rid, res: results.append((rid, res)))
    runner.started.connect(started.append)
    gate = threading.Event()

    first = runner.submit(EngineJob(f"{FAKE}:value_after_gate", {"value": 0, "ran": ran, "gate": gate}))
    qtbot.waitUntil(lambda: ran == [0], timeout=10000)  # the first render is running (blocked on gate)
    ids = [runner.submit(EngineJob(f"{FAKE}:value_after_gate", {"value": v, "ran": ran})) for v in range(1, 8)]
    qtbot.wait(30)  # let the debounce timer fire while the first job still runs (it must not start a 2nd)
    assert started == [first] and runner.is_busy()
    gate.set()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=10000)
    assert results == [(first, 0), (ids[-1], 7)]
    assert ran == [0, 7]  # values 1..6 were stale and never ran
    assert started == [first, ids[-1]] and runner.started_count == 2
    runner.shutdown()


def test_latest_only_runner_reports_failure_with_request_id(qtbot):
    runner = LatestOnlyRunner(debounce_ms=1)
    with qtbot.waitSignal(runner.failed, timeout=10000) as blocker:
        rid = runner.submit(EngineJob(f"{FAKE}:fail"))
    assert blocker.args[0] == rid and "boom 42" in str(blocker.args[1])
    qtbot.waitUntil(lambda: not runner.is_busy(), timeout=10000)


class _Blob:
    """Stands in for a big array passed to a job (weak-referenceable, unlike ndarray)."""


def test_finished_jobs_are_freed(qtbot):
    import gc
    import weakref

    refs = []
    for _ in range(3):
        blob = _Blob()
        refs.append(weakref.ref(blob))
        handle = start_job(EngineJob(f"{FAKE}:plain", {"x": 1}))
        handle.worker.job.kwargs["big"] = blob  # as if the job had been given an image
        with qtbot.waitSignal(handle.thread.finished, timeout=10000):
            pass
        del handle, blob
    active_jobs()
    gc.collect()
    assert [r() for r in refs] == [None, None, None]


def test_latest_only_runner_emits_idle_once_after_the_newest_job(qtbot):
    """`idle` fires when the last job has ended and nothing is pending, not after each stale job."""
    from ganstudio.workers.engine_worker import EngineJob, LatestOnlyRunner

    runner = LatestOnlyRunner(debounce_ms=5)
    idles = []
    results = []
    runner.idle.connect(lambda: idles.append(True))
    runner.result.connect(lambda rid, res: results.append(rid))
    with qtbot.waitSignal(runner.idle, timeout=10000):
        for _ in range(3):
            runner.submit(EngineJob(f"{FAKE}:plain", {"x": 1}))
    assert not runner.is_busy()
    assert idles == [True]
    assert results and results[-1] == 3  # the newest request id is the one that ran last


def test_a_job_cancelled_before_its_thread_starts_never_runs(qtbot):
    """cancel_and_join_all() in the same moment as start_job(): the job must not run after the close."""
    from ganstudio.workers.engine_worker import EngineJob, cancel_and_join_all, start_job

    ran = []
    handle = start_job(EngineJob(f"{FAKE}:value_after_gate", {"value": 1, "ran": ran}))
    assert not handle.thread.isRunning()  # start_job starts the thread on the next event-loop turn
    cancelled = []
    handle.worker.cancelled.connect(lambda: cancelled.append(True), Qt.ConnectionType.DirectConnection)
    assert cancel_and_join_all()  # starts the not-yet-started thread so that the join is real
    assert handle.thread.isFinished()
    assert cancelled == [True]
    qtbot.wait(20)  # the deferred start fires now: it must not run the job a second time
    handle.wait()
    assert ran == [] and cancelled == [True]
