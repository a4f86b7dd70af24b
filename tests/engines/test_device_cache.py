"""engines/device.py (selection, fallback, precision) and engines/model_cache.py (LRU by path or id)."""
from __future__ import annotations

import hashlib
import json
import logging
import os

import pytest
import torch
from model_home import isolated_model_home
from tiny_models import tiny_srvgg_file

from ganstudio import runtime as dv
from ganstudio.checkpoints import cache as model_cache
from ganstudio.checkpoints.reader import CheckpointError


def test_cpu_and_auto():
    assert dv.select_device("cpu") == torch.device("cpu")
    auto = dv.select_device("auto")
    if torch.cuda.is_available():
        assert auto.type == "cuda"
    elif dv._mps_available():
        assert auto.type == "mps"
    else:
        assert auto == torch.device("cpu")
    assert dv.available_devices()[-1] == "cpu"


def test_unavailable_device_falls_back_or_raises(caplog, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING):
        got = dv.select_device("cuda:3")
    assert got.type in ("cpu", "mps")
    assert "cuda:3" in caplog.text
    with pytest.raises(dv.DeviceError, match="CUDA is not available"):
        dv.select_device("cuda", strict=True)
    with pytest.raises(dv.DeviceError, match="unknown device"):
        dv.select_device("tpu")
    with pytest.raises(dv.DeviceError, match="unknown device"):
        dv.select_device("cuda:x")


def test_describe_and_precisions():
    desc = dv.describe_device(torch.device("cpu"))
    assert desc.startswith("CPU (") and str(torch.get_num_threads()) in desc
    assert dv.describe_device("mps") == "Apple MPS"
    assert dv.supported_precisions("cpu") == ["fp32", "bf16"]
    assert "fp16" not in dv.supported_precisions("cpu")


def test_autocast_changes_the_compute_dtype_on_cpu():
    a = torch.randn(8, 8)
    with dv.autocast("cpu", "fp32"):
        assert (a @ a).dtype == torch.float32
    with dv.autocast("cpu", "bf16"):
        assert (a @ a).dtype == torch.bfloat16
    with dv.autocast("cpu", "fp16"):  # not offered on CPU: runs in fp32 rather than failing
        assert (a @ a).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown precision"):
        dv.autocast("cpu", "int8")


@pytest.fixture
def home(tmp_path, monkeypatch):
    isolated_model_home(tmp_path, monkeypatch)
    model_cache.clear_cache()
    yield tmp_path
    model_cache.clear_cache()
    model_cache.set_capacity(4)


def test_cache_by_path_and_id(home):
    path = home / "models" / "tiny.pth"
    tiny_srvgg_file(path, 0)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    (home / "models" / "manifest" / "upscale.json").write_text(json.dumps({"models": [
        {"id": "tiny", "task": "upscale", "arch": "srvgg", "file": "tiny.pth", "sha256": sha},
        {"id": "absent", "task": "upscale", "file": "nope.pth", "url": "http://example.invalid/nope.pth"},
    ]}))
    m1, d1 = model_cache.get_model(path)
    m2, _ = model_cache.get_model(str(path))
    m3, _ = model_cache.get_model("tiny")
    assert m1 is m2 is m3 and d1.family == "srvgg"
    # a replaced file is loaded again (and the manifest checksum now refuses it)
    tiny_srvgg_file(path, 1)
    os.utime(path, ns=(1, 1))
    m4, _ = model_cache.get_model(path)
    assert m4 is not m1
    assert not torch.equal(m4.state_dict()["body.0.weight"], m1.state_dict()["body.0.weight"])
    with pytest.raises(CheckpointError, match="checksum"):
        model_cache.get_model("tiny")
    with pytest.raises(CheckpointError, match="ganstudio models download absent"):
        model_cache.get_model("absent")
    with pytest.raises(CheckpointError, match="neither a file nor a known model"):
        model_cache.get_model("nothing-like-this")


def test_cache_evicts_least_recently_used(home):
    paths = []
    for i in range(3):
        p = home / f"m{i}.pth"
        tiny_srvgg_file(p, i)
        paths.append(p)
    model_cache.set_capacity(2)
    a, _ = model_cache.get_model(paths[0])
    model_cache.get_model(paths[1])
    model_cache.get_model(paths[0])  # touch 0: 1 is now the oldest
    model_cache.get_model(paths[2])
    assert model_cache.cache_info()["size"] == 2
    assert model_cache.get_model(paths[0])[0] is a
    keys = model_cache.cache_info()["keys"]
    assert str(paths[1].resolve()) not in keys


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_cuda_selection_description_and_autocast():
    dev = dv.select_device("auto")
    assert dev.type == "cuda" and dv.select_device("cuda") == torch.device("cuda", 0)
    desc = dv.describe_device(dev)
    assert desc.startswith("CUDA: ") and torch.cuda.get_device_name(0) in desc
    precisions = dv.supported_precisions(dev)
    assert precisions[:2] == ["fp32", "fp16"]
    a = torch.randn(16, 16, device=dev)
    with dv.autocast(dev, "fp16"):
        assert (a @ a).dtype == torch.float16
    if "bf16" in precisions:
        with dv.autocast(dev, "bf16"):
            assert (a @ a).dtype == torch.bfloat16


@needs_cuda
def test_cache_keeps_cpu_and_cuda_copies_apart(home):
    path = home / "tiny.pth"
    tiny_srvgg_file(path, 0)
    cpu_net, _ = model_cache.get_model(path, device="cpu")
    gpu_net, _ = model_cache.get_model(path, device="cuda")
    assert next(cpu_net.parameters()).device.type == "cpu"
    assert next(gpu_net.parameters()).device.type == "cuda"
    assert model_cache.get_model(path, device=torch.device("cuda", 0))[0] is gpu_net


def test_block_watch_cancels_inside_a_forward_and_reports_blocks_per_thread():
    """The hooks live on a shared module but act only for the job (thread) inside block_watch."""
    import threading

    import torch

    from ganstudio.core.progress import CancelToken, Cancelled
    from ganstudio.runtime import block_watch, watch_blocks

    net = torch.nn.Sequential(*[torch.nn.Linear(4, 4) for _ in range(6)])
    assert watch_blocks(net) == 6 and watch_blocks(net) == 6  # idempotent: hooks installed once
    x = torch.zeros(1, 4)
    seen = []
    token = CancelToken()
    with block_watch(token, on_block=seen.append, every_s=0.0):
        net(x)
    assert seen == [1, 2, 3, 4, 5, 6]

    ran = []
    hooked = net[3]
    hooked.register_forward_hook(lambda *_: ran.append(3))
    token = CancelToken()
    with block_watch(token, on_block=lambda n: token.cancel() if n == 2 else None, every_s=0.0):
        with pytest.raises(Cancelled):
            net(x)
    assert ran == []  # stopped before block 3 ran

    # another thread's forward of the same module is not affected by this thread's cancelled watch
    token = CancelToken()
    token.cancel()
    errors = []
    with block_watch(token):
        t = threading.Thread(target=lambda: errors.append(None) if net(x) is not None else None)
        t.start()
        t.join()
    assert errors == [None]
