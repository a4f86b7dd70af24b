"""Safe checkpoint reading: code-running pickles are refused without running, damaged files are named."""
from __future__ import annotations

import hashlib
import os
import pickle

import numpy as np
import pytest
import torch

from ganstudio.checkpoints.reader import CheckpointError, file_sha256, read_checkpoint, scan_pickle_globals


class _Payload:
    """Unpickling this would create the marker file (it never must)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _Opener:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):  # a second flavour: builtins.open(marker, "w") would create the file
        return (open, (self.marker, "w"))


def test_malicious_torch_save_is_refused_and_payload_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "x": _Payload(marker)}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    msg = str(info.value)
    assert "evil.pth" in msg and "os.system" in msg and "run" in msg
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_raw_pickle_is_refused(tmp_path, protocol):
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"a": _Opener(marker)}, protocol=protocol))
    with pytest.raises(CheckpointError, match=r"(io|builtins)\.open"):
        read_checkpoint(path)
    assert not marker.exists()


def test_nvlabs_stylegan_pickle_is_explained(tmp_path):
    # what an NVlabs stylegan2-ada .pkl starts with: a dnnlib/torch_utils class rebuilt by unpickling (here with
    # an empty record, which the safe NVlabs reader, checkpoints/nvlabs_pickle.py, refuses with the reason)
    data = (b"\x80\x03ctorch_utils.persistence\n_reconstruct_persistent_obj\nq\x00}q\x01X\x04\x00\x00\x00metaq\x02"
            b"}q\x03s\x85q\x04Rq\x05.")
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    msg = str(info.value)
    assert "NVlabs" in msg and "StyleGAN2-ADA format" in msg and "torch_utils.persistence" in msg


def test_whole_model_object_is_named(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(torch.nn.Conv2d(1, 1, 1), path)
    with pytest.raises(CheckpointError, match=r"torch\.nn\.modules\.conv\.Conv2d.*state_dict"):
        read_checkpoint(path)


def test_scan_names_stack_global_without_running(tmp_path):
    data = pickle.dumps(_Payload(tmp_path / "m"), protocol=4)  # protocol 4 uses STACK_GLOBAL + MEMOIZE
    assert scan_pickle_globals(data) == ["os.system"]
    assert not (tmp_path / "m").exists()


def test_plain_state_dicts_load(tmp_path):
    sd = {"conv.weight": torch.arange(6.0).reshape(1, 1, 2, 3), "conv.bias": torch.tensor([0.5])}
    torch.save(sd, tmp_path / "new.pth")
    torch.save(sd, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"params_ema": sd, "iter": np.int64(7)}, tmp_path / "with_numpy.pth")
    from safetensors.torch import save_file

    save_file(sd, tmp_path / "w.safetensors")
    for name in ("new.pth", "legacy.pth", "w.safetensors"):
        obj, fmt = read_checkpoint(tmp_path / name)
        assert torch.equal(obj["conv.weight"], sd["conv.weight"]), name
        assert fmt == ("safetensors" if name.endswith("safetensors") else "torch (weights_only)")
    obj, _ = read_checkpoint(tmp_path / "with_numpy.pth")
    assert int(obj["iter"]) == 7 and torch.equal(obj["params_ema"]["conv.bias"], sd["conv.bias"])


@pytest.mark.parametrize("name", ["cut.pth", "cut.safetensors"])
def test_truncated_files_are_named(tmp_path, name):
    sd = {"w": torch.randn(64, 64)}
    full = tmp_path / ("full.safetensors" if name.endswith("safetensors") else "full.pth")
    if name.endswith("safetensors"):
        from safetensors.torch import save_file

        save_file(sd, full)
    else:
        torch.save(sd, full)
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        read_checkpoint(tmp_path / name)
    assert name in str(info.value)


def test_empty_missing_and_garbage(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    (tmp_path / "text.pth").write_text("not a checkpoint at all")
    with pytest.raises(CheckpointError, match="empty"):
        read_checkpoint(tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="no such file"):
        read_checkpoint(tmp_path / "absent.pth")
    with pytest.raises(CheckpointError, match="not a PyTorch"):
        read_checkpoint(tmp_path / "text.pth")


def test_file_sha256_matches_hashlib_in_small_chunks(tmp_path):
    data = os.urandom(10_000)
    (tmp_path / "f.bin").write_bytes(data)
    assert file_sha256(tmp_path / "f.bin", chunk=333) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name,data", [
    ("random.pth", bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8))),
    ("notes.pth", b"hello\n"),  # before: "(101)"
    ("photo.pt", b"\x89PNG\r\n\x1a\n" + bytes(200)),
    ("random.safetensors", b"\xff" * 500),  # before: "is truncated" (the header length read from noise)
    ("random.pkl", b"not a pickle"),
])
def test_a_file_that_is_no_checkpoint_says_so_plainly(tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(tmp_path / name)
    msg = str(info.value)
    # before: torch's "Weights only load failed. In PyTorch 2.6, we changed the default value ..." paragraph
    assert msg == f"{name} is not a PyTorch (.pth/.pt) or safetensors checkpoint"


def test_zip_and_pickle_that_are_no_torch_files(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "photos.pth", "w") as zf:
        zf.writestr("a.txt", "hi")
    (tmp_path / "plain.pth").write_bytes(pickle.dumps({"a": 1}, protocol=2))
    for name in ("photos.pth", "plain.pth"):  # before: "is truncated or damaged ([enforce fail at ...])"
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(tmp_path / name)
        msg = str(info.value)
        assert msg.startswith(f"{name} is not a PyTorch (.pth/.pt) or safetensors checkpoint")
        assert "truncated" not in msg and "enforce" not in msg and "magic" not in msg
