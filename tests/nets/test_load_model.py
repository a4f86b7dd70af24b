"""Generic ganstudio.load_model behaviour: what a user sees for files it cannot or must not use."""
from __future__ import annotations

import pytest
import torch

import ganstudio
from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.nets import rrdbnet, srvgg


def _tiny_rrdb_checkpoint():
    torch.manual_seed(0)
    return {"params_ema": rrdbnet.build(num_feat=4, num_block=1, num_grow_ch=2).state_dict()}


def test_round_trip_of_a_good_file(tmp_path):
    path = tmp_path / "good.pth"
    torch.save(_tiny_rrdb_checkpoint(), path)
    net, desc = ganstudio.load_model(path)
    assert isinstance(net, rrdbnet.RRDBNet) and not net.training
    assert desc.path == str(path) and desc.summary().startswith("rrdbnet(")


def test_unrecognised_keys(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"encoder.layer1.weight": torch.zeros(3, 3), "head.bias": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a recognised network"):
        ganstudio.load_model(path)


def test_file_without_tensors(tmp_path):
    path = tmp_path / "empty_dict.pth"
    torch.save({"epoch": 3, "note": "no weights here"}, path)
    with pytest.raises(CheckpointError, match="no tensors"):
        ganstudio.load_model(path)


def test_not_a_checkpoint_at_all(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("these are not weights\n" * 20)
    with pytest.raises(CheckpointError):
        ganstudio.load_model(path)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_truncated_file(tmp_path, suffix):
    full = tmp_path / f"full{suffix}"
    sd = _tiny_rrdb_checkpoint()
    if suffix == ".pth":
        torch.save(sd, full)
    else:
        from safetensors.torch import save_file

        save_file(sd["params_ema"], str(full))
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated|damaged|cut short"):
        ganstudio.load_model(cut)


def test_wrong_family_asked(tmp_path):
    path = tmp_path / "RealESRGAN.pth"
    torch.save(_tiny_rrdb_checkpoint(), path)
    with pytest.raises(CheckpointError, match="rrdbnet.*not srvgg"):
        ganstudio.load_model(path, family="srvgg")
    net, _ = ganstudio.load_model(path, family="rrdbnet")  # asking for the right one works
    assert isinstance(net, rrdbnet.RRDBNet)


def test_srvgg_file_asked_as_rrdbnet():
    torch.manual_seed(0)
    sd = srvgg.build(num_feat=4, num_conv=1).state_dict()
    with pytest.raises(CheckpointError, match="srvgg"):
        ganstudio.load_model({"params": sd}, family="rrdbnet")


def test_missing_and_wrong_shape_tensors_are_reported():
    sd = dict(_tiny_rrdb_checkpoint()["params_ema"])
    del sd["conv_hr.bias"]
    with pytest.raises(CheckpointError, match="missing.*conv_hr.bias"):
        ganstudio.load_model(sd)
    sd = dict(_tiny_rrdb_checkpoint()["params_ema"])
    sd["conv_up1.weight"] = torch.zeros(4, 4, 1, 1)
    with pytest.raises(CheckpointError, match="wrong shape"):
        ganstudio.load_model(sd)
    sd = dict(_tiny_rrdb_checkpoint()["params_ema"])
    sd["body.0.rdb1.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected.*extra"):
        ganstudio.load_model(sd)


def test_module_prefix_is_stripped():
    sd = {f"module.{k}": v for k, v in _tiny_rrdb_checkpoint()["params_ema"].items()}
    net, desc = ganstudio.load_model(sd)
    assert desc.family == "rrdbnet"


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        ganstudio.load_model(tmp_path / "absent.pth")
