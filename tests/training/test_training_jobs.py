"""The Train tab's worker jobs (training/jobs.py) and the run-folder bookkeeping (training/runs.py)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.progress import run_to_completion
from ganstudio.training import jobs, runs
from ganstudio.training.data import DataError

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_describe_tasks_gives_the_official_defaults_and_the_cuda_count():
    info = jobs.describe_tasks()
    assert set(info["tasks"]) == {"stylegan2", "dcgan", "cyclegan", "pix2pix", "spade", "esrgan"}
    cyc, dc = info["tasks"]["cyclegan"], info["tasks"]["dcgan"]
    assert (cyc["lr"], cyc["batch"], cyc["size"]) == (2e-4, 1, 256)  # the official CycleGAN script
    assert (dc["lr"], dc["batch"], dc["size"]) == (2e-4, 64, 64)  # pytorch/examples dcgan
    assert info["cuda_devices"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)


def test_check_data_counts_and_names_problems(tmp_path):
    good = td.blobs(tmp_path / "good", n=9)
    (good / "broken.png").write_bytes(b"not an image")
    res = jobs.check_data(task="dcgan", data=str(good))
    assert res["count"] == 9 and res["summary"] == "9 images, 1 unreadable: broken.png (skipped)"
    assert res["problems"][0].startswith("broken.png: ")

    a, b = td.inverted_pairs(tmp_path / "pairs", n=4)
    (b / "003.png").unlink()
    res = jobs.check_data(task="pix2pix", data_a=str(a), data_b=str(b), size=16)
    assert res["count"] == 3 and any(p.startswith("003.png: no") for p in res["problems"])

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no images"):
        jobs.check_data(task="dcgan", data=str(empty))
    with pytest.raises(DataError, match="needs at least 8"):
        jobs.check_data(task="dcgan", data=str(td.blobs(tmp_path / "few", n=3)))


def test_estimate_times_steps_on_a_few_of_the_images(tmp_path):
    data = td.blobs(tmp_path / "d", n=12)
    (data / "zzz_broken.png").write_bytes(b"not an image")  # beyond the few it reads: never opened
    cfg = {"task": "dcgan", "data": str(data), "size": 16, "batch": 2, "steps": 500, "arch": {"ngf": 4, "ndf": 4},
           "device": "cpu", "precision": "fp32"}
    seen = []
    e = run_to_completion(jobs.estimate(config=cfg, timed_steps=2), lambda p: seen.append(p.message))
    assert e["s_per_step"] > 0 and e["total_s"] == pytest.approx(e["s_per_step"] * 500)
    assert e["gpu_memory"] is None and "CPU" in e["device"] and (e["batch"], e["size"]) == (2, 16)
    # weights + gradients + Adam's two moments of G and D: at least 16 bytes per fp32 parameter
    from ganstudio.nets.dcgan import Discriminator, Generator

    n = sum(p.numel() for m in (Generator(nz=100, ngf=4, nc=3, size=16), Discriminator(ndf=4, nc=3, size=16))
            for p in m.parameters())
    assert e["state_bytes"] >= 16 * n
    assert sum("took" in m for m in seen) == 3  # one warm-up step and two timed ones


def _fake_run(root: Path, name: str, steps: int = 100, checkpoints=(), final_step=None, config=True) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / ("config.json" if config else "request.json")).write_text(json.dumps({"task": "dcgan", "steps": steps}))
    for s in checkpoints:
        (run / "checkpoints").mkdir(exist_ok=True)
        (run / "checkpoints" / f"step_{s:07d}.pt").write_bytes(b"x")
    if final_step is not None:
        (run / "final").mkdir()
        (run / "final" / "summary.json").write_text(json.dumps({"step": final_step}))
    return run


def test_run_states(tmp_path):
    root = tmp_path / "runs"
    _fake_run(root, "done", 100, (100,), final_step=100)
    _fake_run(root, "stopped", 100, (20, 40))
    crashed = _fake_run(root, "crashed", 100, (40,))
    (crashed / "metrics.jsonl").write_text('{"step": 50, "losses": {"g": 1}}\n{"step": 5')  # killed mid-line
    runs.write_pid(crashed, 2 ** 22 + 4321, ["ganstudio", "train"])  # no such process
    _fake_run(root, "refused", 100, config=False)
    _fake_run(root, "continued", 300, (150,), final_step=100)  # finished once, resumed to 300, stopped
    live = _fake_run(root, "live", 100, (10,))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "ganstudio"])
    try:
        runs.write_pid(live, sleeper.pid, ["ganstudio", "train"])
        states = {s["name"]: s for s in runs.list_runs(root)}
    finally:
        sleeper.kill()
        sleeper.wait(10)
    assert states["done"]["state"] == "finished" and states["done"]["text"] == "finished: 100 steps"
    assert states["stopped"]["text"] == "stopped at step 40 of 100" and states["stopped"]["resumable"]
    assert states["crashed"]["state"] == "crashed" and states["crashed"]["step"] == 50
    assert states["crashed"]["text"] == "crashed at step 50 of 100; resumes from step 40"
    assert states["refused"]["state"] == "failed" and not states["refused"]["resumable"]
    assert states["continued"]["state"] == "stopped" and states["continued"]["checkpoint"] == 150
    assert states["live"]["state"] == "running" and states["live"]["pid"] == sleeper.pid
    assert not states["live"]["resumable"]
    assert runs.run_state(live)["state"] == "crashed"  # its process has gone since
    assert runs.read_history(crashed) == {"losses": {"g": [[50, 1.0]]}, "metrics": {}}
    assert runs.list_runs(tmp_path / "nowhere") == []


@pytest.fixture
def finished_cyclegan(tmp_path, home):
    from ganstudio.training.loop import train

    a = td.smooth_images(tmp_path / "a", n=6, size=24)
    b = td.smooth_images(tmp_path / "b", n=6, size=24, seed=1)
    run = home / "data" / "runs" / "summer2winter"
    cfg = {"task": "cyclegan", "data_a": str(a), "data_b": str(b), "size": 16, "batch": 1, "steps": 2,
           "metrics": False, "sample_every": 1, "device": "cpu", "precision": "fp32", "output": str(run),
           "arch": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 1}}
    run_to_completion(train(config=cfg))
    return run


def test_publish_export_and_the_stylize_engine_renders_the_published_model(finished_cyclegan, tmp_path):
    run = finished_cyclegan
    entries = jobs.publish(run=str(run))
    assert len(entries) == 1 and entries[0]["task"] == "stylize" and entries[0]["arch"] == "cyclegan"
    assert Path(entries[0]["path"]).is_file()
    assert jobs.publish(run=str(run)) == entries  # the same run again: the same model, not a copy

    from ganstudio.engines.stylize.jobs import stylize_image

    photo = tmp_path / "p.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (18, 22, 3), dtype=np.uint8)).save(photo)
    for direction in ("AtoB", "BtoA"):
        res = run_to_completion(stylize_image(None, photo, entries[0]["id"], direction=direction, device="cpu",
                                              precision="fp32", preview_size=None))
        assert res["image"].shape[:2] == (18, 22)

    written = jobs.export_final(run=str(run), dest=str(tmp_path / "out"))
    assert {Path(f).name for f in written} >= {"latest_net_G_A.pth", "latest_net_G_B.pth", "summary.json"}
    sd = torch.load(tmp_path / "out" / "latest_net_G_A.pth", weights_only=True)
    assert torch.equal(sd["model.1.weight"], torch.load(run / "final" / "latest_net_G_A.pth",
                                                        weights_only=True)["model.1.weight"])
    st = jobs.export_safetensors_file(run=str(run), dest=str(tmp_path / "g.safetensors"))
    from safetensors.torch import load_file

    assert load_file(st)["model.1.weight"].dtype == torch.float16

    sample = jobs.read_sample(path=runs.newest_sample(run))
    assert sample["image"].dtype == np.uint8 and sample["image"].ndim == 3


def test_export_of_an_unfinished_run_is_refused(tmp_path):
    run = _fake_run(tmp_path, "r", 10, (5,))
    with pytest.raises(Exception, match="no finished model"):
        jobs.export_final(run=str(run), dest=str(tmp_path / "o"))
