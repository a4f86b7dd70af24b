"""`ganstudio train` as a user runs it: kill -9 then --resume, Ctrl-C, refusals, the last line."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402

ARGS = ["--size", "16", "--batch", "2", "--holdout", "0", "--no-metrics", "--precision", "fp32", "--device", "cpu",
        "--arch", "ngf=4", "--arch", "ndf=4", "--sample-every", "0"]


def _cli(*args, timeout=300, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "ganstudio", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


def _start(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "ganstudio", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_for(path_glob: Path, pattern: str, proc, timeout=120) -> None:
    t0 = time.monotonic()
    while not list(path_glob.glob(pattern)):
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.stderr.read()[-2000:]}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError("no checkpoint appeared")
        time.sleep(0.05)


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    data = td.blobs(tmp_path / "d")
    straight = tmp_path / "straight"
    res = _cli("train", "dcgan", "--data", data, "-o", straight, "--steps", "12", "--checkpoint-every", "3", *ARGS)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == str(straight / "final")  # the last line is the final folder

    # The killed run is asked for far more steps than it will live to make (a 12-step run can finish between
    # two polls on a fast machine); resuming it with --steps 12 makes the same 12-step run.
    killed = tmp_path / "killed"
    proc = _start("train", "dcgan", "--data", data, "-o", killed, "--steps", "100000", "--checkpoint-every", "3",
                  "--keep", "100000", *ARGS)
    _wait_for(killed / "checkpoints", "step_0000006.pt", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert not (killed / "final").exists()
    # Keep the state as if the kill came right after step 6's checkpoint, whatever the run made since.
    for later in (killed / "checkpoints").glob("step_*.pt"):
        if int(later.stem.split("_")[1]) > 6:
            later.unlink()
    res = _cli("train", "--resume", killed, "--steps", "12")
    assert res.returncode == 0, res.stderr[-2000:]
    a = torch.load(straight / "final" / "netG.pth", weights_only=True)
    b = torch.load(killed / "final" / "netG.pth", weights_only=True)
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) <= 1e-6


def test_ctrl_c_writes_a_checkpoint_and_says_how_to_continue(tmp_path):
    data = td.blobs(tmp_path / "d")
    run = tmp_path / "run"
    proc = _start("train", "dcgan", "--data", data, "-o", run, "--steps", "100000", "--checkpoint-every", "100000",
                  *ARGS)
    _wait_for(run, "metrics.jsonl", proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"ganstudio train --resume {run}" in err
    ckpts = list((run / "checkpoints").glob("step_*.pt"))
    assert len(ckpts) == 1 and int(ckpts[0].stem.split("_")[1]) > 0


def test_refusals_are_one_line_with_exit_code_2(tmp_path):
    res = _cli("train")
    assert res.returncode == 2 and res.stderr.strip().startswith("error:") and "Traceback" not in res.stderr
    res = _cli("train", "--resume", tmp_path / "nothing")
    assert res.returncode == 2 and "not a training run folder" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "empty").mkdir()
    res = _cli("train", "dcgan", "--data", tmp_path / "empty", "-o", tmp_path / "r")
    assert res.returncode == 2 and "holds no images" in res.stderr and "Traceback" not in res.stderr
    if not torch.cuda.is_available():
        res = _cli("train", "dcgan", "--data", tmp_path / "empty", "-o", tmp_path / "r", "--device", "cuda")
        assert res.returncode == 2 and "CUDA is not available" in res.stderr


def test_config_file_and_flags(tmp_path):
    """--config supplies settings; flags given on the command line win."""
    import json

    data = td.blobs(tmp_path / "d")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"task": "dcgan", "data": str(data), "steps": 2, "size": 16, "batch": 2,
                               "arch": {"ngf": 4, "ndf": 4}, "metrics": False, "holdout": 0}))
    run = tmp_path / "run"
    res = _cli("train", "--config", cfg, "--steps", "3", "-o", run, "--precision", "fp32")
    assert res.returncode == 0, res.stderr[-2000:]
    saved = json.loads((run / "config.json").read_text())
    assert saved["steps"] == 3 and saved["size"] == 16 and saved["arch"]["ngf"] == 4


def test_progress_json_reports_steps_and_obeys_stop_on_stdin(tmp_path):
    """The Train tab's process runner: JSON lines out, 'stop' in -> a checkpoint and exit 130."""
    import json

    data = td.blobs(tmp_path / "d")
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "ganstudio", "train", "dcgan", "--data", str(data), "-o", str(run),
                             "--steps", "100000", "--progress-json", *ARGS], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    steps = []
    for line in proc.stdout:
        msg = json.loads(line)
        if msg["extra"].get("phase") == "train" and msg["extra"].get("step", 0) > 0:
            steps.append(msg["extra"]["step"])
            assert "losses" in msg["extra"] and msg["total"] == 100000
            if len(steps) == 3:
                proc.stdin.write("stop\n")
                proc.stdin.flush()
    proc.wait(60)
    assert proc.returncode == 130 and steps[:3] == [1, 2, 3]
    assert list((run / "checkpoints").glob("step_*.pt"))
