"""Stopping a multi-process (torchrun / DDP) run, on the CPU with the gloo backend: every rank stops at the same
step, rank 0 writes one checkpoint of that step, every rank exits 130 (and so does the launcher), and the run
resumes from it. Through the Train tab's process runner ('pause' / 'stop' on stdin, which only rank 0 reads)
and by SIGTERM to the launcher (torchrun passes it on to every rank)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ganstudio.workers.process_runner import ProcessRunner

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402

T = 240000  # ms: two processes each import torch and start a process group on a shared 2-core machine

pytestmark = pytest.mark.skipif(os.name == "nt", reason="torchrun's CPU rendezvous and signals: POSIX here")


def _args(data: Path, steps: int) -> list[str]:
    # the tiny ESRGAN of test_distributed.py; no periodic checkpoint: the stop's is the only one
    return ["esrgan", "--data", str(data), "--size", "32", "--batch", "2", "--steps", str(steps), "--holdout", "0",
            "--checkpoint-every", "0", "--sample-every", "0", "--no-metrics", "--from", "none", "--precision", "fp32",
            "--device", "cpu", "--arch", "num_feat=8", "--arch", "num_block=1", "--arch", "num_grow_ch=4",
            "--arch", "d_feat=8", "--option", "perceptual=0"]


def _checkpoints(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").glob("step_*.pt"))


@pytest.fixture
def runner(qtbot):
    r = ProcessRunner()
    yield r
    if r.is_running():  # never leave a torchrun behind
        if r.proc is not None:
            os.killpg(r.proc.pid, signal.SIGKILL)
            r.proc.wait(30)
        r.detach()


def test_stop_on_rank0_stdin_stops_every_rank_at_one_step_with_one_checkpoint_then_resume(qtbot, runner, tmp_path):
    data = td.smooth_images(tmp_path / "data", n=8, size=48)
    run = tmp_path / "run"
    steps: list[int] = []
    runner.progress.connect(lambda p: steps.append(int(p.extra["step"])) if p.extra.get("phase") == "train"
                            else None)
    env = {"OMP_NUM_THREADS": "1"}
    runner.start([*_args(data, 100000), "-o", str(run)], run, nproc=2, env=env)  # as the Train tab starts it
    proc = runner.proc
    assert runner.can_pause()  # rank 0 reads the words for every rank
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=T)
    assert runner.pause()
    with qtbot.waitSignal(runner.cancelled, timeout=T):  # exit 130: a stop, not a crash
        assert runner.stop()  # stop while paused: every rank wakes up to stop
    assert proc.returncode == 130
    last = runner.last_step
    assert last >= 3 and steps[-1] == last
    assert _checkpoints(run) == [f"step_{last:07d}.pt"]  # one checkpoint, of the last step taken
    log = (run / "train.log").read_text()
    assert f"stopped at step {last}; checkpoint written" in log and "Traceback" not in log

    resumed: list[int] = []
    ended: list[str] = []
    runner.progress.connect(lambda p: resumed.append(int(p.extra["step"])) if p.extra.get("phase") == "train"
                            else None)
    runner.finished.connect(lambda _r: ended.append("finished"))
    runner.failed.connect(lambda exc: ended.append(f"failed: {exc}"))
    runner.start(["--resume", str(run), "--steps", str(last + 2)], run, nproc=2, env=env)
    qtbot.waitUntil(lambda: bool(ended), timeout=T)
    assert ended == ["finished"], (run / "train.log").read_text()[-3000:]
    assert [s for s in resumed if s > 0] == [last + 1, last + 2]
    summary = json.loads((run / "final" / "summary.json").read_text())
    assert summary["step"] == last + 2 and (run / "final" / "net_g.pth").is_file()


def test_sigterm_to_the_launcher_stops_every_rank_with_a_checkpoint(tmp_path):
    data = td.smooth_images(tmp_path / "data", n=8, size=48)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganstudio.training.launch", "--standalone", "--nproc_per_node=2",
           "--local-ranks-filter=0", "-m", "ganstudio", "train", *_args(data, 100000), "-o", str(run),
           "--progress-json"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    last = 0
    try:
        for line in proc.stdout:  # the progress lines of rank 0, as they come
            i = line.find("{")
            extra = json.loads(line[i:]).get("extra", {}) if i >= 0 else {}
            if extra.get("phase") == "train" and extra.get("step", 0) > 0:
                last = int(extra["step"])
                if last == 3:
                    os.kill(proc.pid, signal.SIGTERM)
        err = proc.stderr.read()
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    assert code == 128 + signal.SIGTERM, err[-3000:]  # the launcher was stopped by SIGTERM ...
    assert last >= 3 and _checkpoints(run) == [f"step_{last:07d}.pt"]  # ... and the ranks kept their work
    assert f"stopped at step {last}; checkpoint written" in err and "FutureWarning" not in err
