"""JobSlot: the one job helper every panel, dialog and the main window use."""
from __future__ import annotations

import threading

from PySide6.QtCore import QObject

from ganstudio.core.errors import InputError, user_message
from ganstudio.workers.jobs import JobSlot, shutdown_slots

FAKE = "worker_fake_engine"


class Recorder:
    def __init__(self, slot: JobSlot) -> None:
        self.events: list = []
        self.thread_ok = True
        main = threading.current_thread()
        slot.progress.connect(lambda p: self._add("progress", p.done, main))
        slot.finished.connect(lambda r: self._add("finished", r, main))
        slot.failed.connect(lambda e: self._add("failed", e, main))
        slot.cancelled.connect(lambda: self._add("cancelled", None, main))
        slot.running_changed.connect(lambda on: self._add("running", on, main))

    def _add(self, kind, value, main) -> None:
        # every handler must run on the GUI thread (where the test runs), never in the worker
        self.thread_ok = self.thread_ok and threading.current_thread() is main
        self.events.append((kind, value))

    def of(self, kind):
        return [v for k, v in self.events if k == kind]


def test_progress_and_result_arrive_on_the_gui_thread(qtbot):
    owner = QObject()
    slot = JobSlot(owner, "count")
    rec = Recorder(slot)
    with qtbot.waitSignal(slot.ended, timeout=10000):
        slot.start(f"{FAKE}:count", {"n": 3})
    assert rec.of("progress") == [1, 2, 3]
    assert rec.of("finished") == [30]
    assert rec.of("running") == [True, False]
    assert rec.thread_ok
    assert not slot.is_running()
    shutdown_slots(owner)


def test_a_replaced_job_never_delivers(qtbot):
    owner = QObject()
    slot = JobSlot(owner, "slow")
    rec = Recorder(slot)
    gate_old, gate_new, ran = threading.Event(), threading.Event(), []
    slot.start(f"{FAKE}:value_after_gate", {"value": "old", "ran": ran, "gate": gate_old})
    qtbot.waitUntil(lambda: ran == ["old"], timeout=10000)
    slot.start(f"{FAKE}:wait_for", {"value": "new", "gate": gate_new})
    gate_old.set()  # the old job now finishes first: its result must be dropped
    qtbot.wait(100)
    assert rec.of("finished") == []
    with qtbot.waitSignal(slot.finished, timeout=10000):
        gate_new.set()
    assert rec.of("finished") == ["new"]
    assert rec.of("running") == [True, False]  # one busy period, not two
    assert shutdown_slots(owner)


def test_exclusive_policy_refuses_a_second_start_and_allows_one_from_the_handler(qtbot):
    owner = QObject()
    slot = JobSlot(owner, "import", policy="exclusive")
    gate = threading.Event()
    assert slot.start(f"{FAKE}:wait_for", {"value": 1, "gate": gate}) is not None
    assert slot.start(f"{FAKE}:wait_for", {"value": 2, "gate": gate}) is None
    chained = []
    slot.finished.connect(lambda r: chained.append(slot.start(f"{FAKE}:plain", {"x": r}) is not None)
                          if r == 1 else chained.append(r))
    gate.set()
    qtbot.waitUntil(lambda: len(chained) == 2, timeout=10000)
    assert chained == [True, 2]  # started from the first one's handler, then its result (1 + 1)
    assert shutdown_slots(owner)


def test_cancel_reports_cancelled_and_cancelling_until_then(qtbot):
    owner = QObject()
    slot = JobSlot(owner, "wait")
    rec = Recorder(slot)
    slot.start(f"{FAKE}:wait_for", {"value": 1, "gate": threading.Event()})
    assert slot.cancel()
    assert slot.cancelling
    qtbot.waitUntil(lambda: not slot.is_running(), timeout=10000)
    assert rec.of("cancelled") == [None] and rec.of("finished") == []
    assert not slot.cancelling


def test_failure_travels_as_the_exception_object(qtbot):
    owner = QObject()
    slot = JobSlot(owner, "bad")
    with qtbot.waitSignal(slot.failed, timeout=10000) as blocker:
        slot.start(f"{FAKE}:fail_for_user", {"path": "model.pth"})
    exc = blocker.args[0]
    assert isinstance(exc, InputError)
    assert user_message(exc) == "model.pth is truncated"  # a user error: no type name in front
    assert shutdown_slots(owner)


def test_shutdown_joins_superseded_jobs_too(qtbot):
    owner = QObject()
    slot = JobSlot(owner, "w")
    gates = [threading.Event(), threading.Event()]
    h1 = slot.start(f"{FAKE}:wait_for", {"value": 1, "gate": gates[0]})
    h2 = slot.start(f"{FAKE}:wait_for", {"value": 2, "gate": gates[1]})
    assert shutdown_slots(owner, timeout_ms=10000)
    assert not h1.is_running() and not h2.is_running()
    assert not slot.is_running()


def test_progress_reported_from_inside_a_step_reaches_the_gui(qtbot):
    """CancelToken.report (the side channel used between network blocks) arrives like a yielded Progress."""
    owner = QObject()
    slot = JobSlot(owner, "inner")
    rec = Recorder(slot)
    with qtbot.waitSignal(slot.ended, timeout=10000):
        slot.start(f"{FAKE}:reports_inside", {"n": 3})
    assert rec.of("progress") == [0.5, 1.5, 2.5]
    assert rec.of("finished") == ["ok"] and rec.thread_ok
    assert shutdown_slots(owner)
