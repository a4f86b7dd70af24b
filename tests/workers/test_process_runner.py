"""ProcessRunner: a training child process followed through files, steered through its stdin.

The child is a torch-free stand-in speaking the same protocol as ``ganstudio train --progress-json``
(worker_fake_ganstudio_train.py), whose steps advance only as far as a gate file allows, so nothing here
depends on speed. The real trainer behind the runner is exercised by tests/ui/test_train_panel.py."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from ganstudio.core.progress import Progress
from ganstudio.training import runs
from ganstudio.workers.process_runner import ProcessRunner, TrainProcessError, parse_line, train_command

CHILD = str(Path(__file__).with_name("worker_fake_ganstudio_train.py"))
TIMEOUT = 30000


class Recorder:
    def __init__(self, runner: ProcessRunner) -> None:
        self.progress: list[Progress] = []
        self.logs: list[str] = []
        runner.progress.connect(self.progress.append)
        runner.log_line.connect(self.logs.append)

    def steps(self) -> list[int]:
        return [int(p.extra["step"]) for p in self.progress if p.extra.get("phase") == "train"]

    def control_words(self) -> list[str]:
        return [p.extra["word"] for p in self.progress if p.extra.get("phase") == "control"]


@pytest.fixture
def runner(qtbot):
    r = ProcessRunner()
    yield r
    if r.is_running():  # never leave a child behind
        if r.proc is not None:
            r.proc.kill()
            r.proc.wait(10)
        r.detach()


def _start(runner, run: Path, steps: int, *extra, gate: Path | None = None) -> int:
    cmd = [sys.executable, CHILD, str(run), str(steps), *extra]
    if gate is not None:
        cmd += ["--gate", str(gate)]
    return runner.start([], run, command=cmd)


def _open_gate(gate: Path, step: int) -> None:
    gate.write_text(str(step))


def test_progress_lines_arrive_and_a_clean_end_is_finished(qtbot, runner, tmp_path):
    run = tmp_path / "run"
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=TIMEOUT) as sig:
        pid = _start(runner, run, 3)
        assert runner.is_running() and runs.read_pid(run)["pid"] == pid
    assert rec.steps() == [1, 2, 3]
    assert rec.progress[0].extra == {"phase": "data", "data": "3 images"} and rec.progress[1].total == 3
    assert sig.args[0]["final"] == str(run / "final") and sig.args[0]["step"] == 3
    assert not runner.is_running() and runs.read_pid(run) is None  # a clean end removes the pid file


def test_pause_resume_and_stop_reach_the_child_and_stop_is_cancelled(qtbot, runner, tmp_path):
    run, gate = tmp_path / "run", tmp_path / "gate"
    _open_gate(gate, 2)
    rec = Recorder(runner)
    _start(runner, run, 100, gate=gate)
    qtbot.waitUntil(lambda: rec.steps()[-1:] == [2], timeout=TIMEOUT)
    assert runner.pause() and runner.paused
    qtbot.waitUntil(lambda: rec.control_words() == ["pause"], timeout=TIMEOUT)
    _open_gate(gate, 5)  # paused: the child must not take these steps
    assert runner.resume() and not runner.paused
    qtbot.waitUntil(lambda: rec.steps()[-1:] == [5], timeout=TIMEOUT)
    with qtbot.waitSignal(runner.cancelled, timeout=TIMEOUT):
        assert runner.stop()
    assert rec.control_words() == ["pause", "resume", "stop"]
    assert (run / "checkpoints" / "step_0000005.pt").is_file()
    assert runs.read_pid(run) is None and not runner.is_running()


def test_paused_child_takes_no_step_until_resumed(qtbot, runner, tmp_path):
    run, gate = tmp_path / "run", tmp_path / "gate"
    _open_gate(gate, 1)
    rec = Recorder(runner)
    _start(runner, run, 100, gate=gate)
    qtbot.waitUntil(lambda: rec.steps() == [1], timeout=TIMEOUT)
    runner.pause()
    qtbot.waitUntil(lambda: rec.control_words() == ["pause"], timeout=TIMEOUT)
    _open_gate(gate, 3)
    runner.stop()  # stop while paused: the child wakes up to stop, without taking the allowed steps
    qtbot.waitUntil(lambda: not runner.is_running(), timeout=TIMEOUT)
    assert rec.steps() == [1] and (run / "checkpoints" / "step_0000001.pt").is_file()


def test_a_refusal_fails_with_the_childs_error_line(qtbot, runner, tmp_path):
    run = tmp_path / "run"
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT) as sig:
        _start(runner, run, 3, "--refuse")
    exc = sig.args[0]
    assert isinstance(exc, TrainProcessError)
    assert str(exc) == "the training images folder /nowhere does not exist"
    assert "some warning before the error" in rec.logs
    assert runs.read_pid(run) is None


def test_a_crash_fails_with_the_end_of_its_log_and_the_run_is_listed_as_crashed(qtbot, runner, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "dcgan", "steps": 10}))
    with qtbot.waitSignal(runner.failed, timeout=TIMEOUT) as sig:
        _start(runner, run, 10, "--fail-at", "2")
    assert "exit code 1" in str(sig.args[0]) and "RuntimeError: boom" in str(sig.args[0])
    state = runs.run_state(run)
    assert state["state"] == "crashed" and state["resumable"]


def test_detach_leaves_the_child_training_and_another_runner_follows_and_stops_it(qtbot, runner, tmp_path):
    run, gate = tmp_path / "run", tmp_path / "gate"
    _open_gate(gate, 1)
    rec = Recorder(runner)
    pid = _start(runner, run, 100, gate=gate)
    qtbot.waitUntil(lambda: rec.steps() == [1], timeout=TIMEOUT)
    proc = runner.proc
    runner.detach()  # the window closed with "keep training"
    assert not runner.is_running() and proc.poll() is None and proc.stdin.closed
    assert runs.read_pid(run)["pid"] == pid and runs.running_pid(run) == pid

    follower = ProcessRunner()
    rec2 = Recorder(follower)
    assert follower.attach(run) and follower.attached and not follower.can_pause()
    _open_gate(gate, 4)  # the child trains on without its stdin
    qtbot.waitUntil(lambda: rec2.steps()[-1:] == [4], timeout=TIMEOUT)
    assert 1 not in rec2.steps()  # followed from the end of the file, not replayed
    if os.name == "nt":  # pragma: no cover
        proc.kill()
        return
    with qtbot.waitSignal(follower.cancelled, timeout=TIMEOUT):
        assert follower.stop()  # SIGINT: the CLI's Ctrl-C
    proc.wait(10)
    assert proc.returncode == 130 and (run / "checkpoints" / "step_0000004.pt").is_file()
    assert runs.read_pid(run) is None


def test_attach_refuses_a_run_no_process_trains(qtbot, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    assert not ProcessRunner().attach(run)
    runs.write_pid(run, 2 ** 22 + 12345, ["x"])  # a pid no process has
    assert not ProcessRunner().attach(run)


def test_command_lines_and_progress_parsing():
    assert train_command(["--resume", "R"], 1, python="py") == ["py", "-m", "ganstudio", "train", "--resume", "R",
                                                                  "--progress-json"]
    multi = train_command(["dcgan"], 4, python="py")
    # torchrun through the launcher that exits with the ranks' own code (130 for a stop)
    assert multi[:3] == ["py", "-m", "ganstudio.training.launch"] and "--nproc_per_node=4" in multi
    assert multi[-5:] == ["-m", "ganstudio", "train", "dcgan", "--progress-json"]
    p = parse_line('[default0]:{"done": 3, "total": 9, "message": "m", "extra": {"step": 3}}')
    assert (p.done, p.total, p.message, p.extra) == (3, 9, "m", {"step": 3})
    assert parse_line("/runs/x/final") is None and parse_line("{not json") is None
