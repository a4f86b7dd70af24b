"""CycleGAN / pix2pix networks against the official parity fixtures and key tables (../shared/parity/cyclegan)."""
from __future__ import annotations

import json
from collections import OrderedDict

import pytest
import torch

import ganstudio
from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.nets import cyclegan as cg

KEY_TABLES = {
    "keys_full.json": dict(arch="resnet", ngf=64, n_blocks=9, norm="instance"),
    "keys_full_resnet_6blocks.json": dict(arch="resnet", ngf=64, n_blocks=6, norm="instance"),
    "keys_full_unet256_pix2pix.json": dict(arch="unet", ngf=64, num_downs=8, norm="batch"),
    "keys_full_unet128_pix2pix.json": dict(arch="unet", ngf=64, num_downs=7, norm="batch"),
}


def _fixture(parity_dir, name):
    return torch.load(parity_dir / "cyclegan" / name, map_location="cpu", weights_only=True)


def _load_via_file(tmp_path, state_dict, role="generator"):
    path = tmp_path / "latest_net_G.pth"
    torch.save(state_dict, path)  # the official container: a plain state dict
    return ganstudio.load_model(path, role=role)


def test_every_key_table_is_covered(parity_dir):
    files = sorted(p.name for p in (parity_dir / "cyclegan").glob("keys_full*.json"))
    assert set(files) - set(KEY_TABLES) == {"keys_full_legacy_with_instnorm_running_stats.json"}


@pytest.mark.parametrize("name", sorted(KEY_TABLES))
def test_keys_and_shapes_match_official(parity_dir, name):
    expected = json.loads((parity_dir / "cyclegan" / name).read_text())
    net = cg.build(**KEY_TABLES[name])
    got = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert got == expected
    # and detection recovers the configuration from those keys/shapes
    hp = cg.detect(net.state_dict())
    for k, v in KEY_TABLES[name].items():
        assert hp[k] == v


def test_resnet_parity(parity_dir, tmp_path):
    fx = _fixture(parity_dir, "fixture.pt")
    net, desc = _load_via_file(tmp_path, fx["state_dict"])
    assert desc.family == "cyclegan"
    assert desc.hparams == {"arch": "resnet", "input_nc": 3, "output_nc": 3, "ngf": 8, "n_blocks": 2,
                            "norm": "instance", "use_dropout": False}
    with torch.inference_mode():
        out = net(fx["input"])
    torch.testing.assert_close(out, fx["output"], atol=1e-5, rtol=0)
    with torch.inference_mode():
        out64 = net.double()(fx["input"].double())
    torch.testing.assert_close(out64, fx["output_float64"], atol=1e-9, rtol=0)


def test_resnet_odd_size_extra_case(parity_dir, tmp_path):
    fx = _fixture(parity_dir, "fixture.pt")
    case = fx["extra_cases"][0]
    net, _ = _load_via_file(tmp_path, fx["state_dict"])
    with torch.inference_mode():
        out = net(case["input"])
    assert out.shape == case["output"].shape == (1, 3, 32, 40)
    torch.testing.assert_close(out, case["output"], atol=1e-5, rtol=0)


def test_unet_parity_eval_and_official_test_mode(parity_dir, tmp_path):
    fx = _fixture(parity_dir, "fixture_unet.pt")
    net, desc = _load_via_file(tmp_path, fx["state_dict"])
    assert desc.hparams["arch"] == "unet"
    assert desc.hparams["num_downs"] == 6 and desc.hparams["ngf"] == 4 and desc.hparams["norm"] == "batch"
    running_mean = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    with torch.inference_mode():
        torch.testing.assert_close(net(fx["input"]), fx["output"], atol=1e-5, rtol=0)
        cg.set_official_test_behaviour(net, batch_stats=True, dropout=False)
        out_train = net(fx["input"])
    torch.testing.assert_close(out_train, fx["output_train_bn_no_dropout"], atol=1e-5, rtol=0)
    assert (out_train - fx["output"]).abs().max() > 1e-3  # the two modes really differ
    # running statistics are untouched by the batch-statistics mode
    for k, v in net.state_dict().items():
        if k in running_mean:
            assert torch.equal(v, running_mean[k])
    with torch.inference_mode():
        cg.set_official_test_behaviour(net, batch_stats=False, dropout=False)
        torch.testing.assert_close(net(fx["input"]), fx["output"], atol=1e-5, rtol=0)
    with torch.inference_mode():
        cg.set_official_test_behaviour(net, batch_stats=True, dropout=True)
        torch.manual_seed(0)
        noisy = net(fx["input"])
    assert (noisy - out_train).abs().max() > 1e-3  # dropout active, as in official pix2pix test.py


def test_legacy_instancenorm_keys_are_dropped(parity_dir, tmp_path):
    legacy = json.loads((parity_dir / "cyclegan" / "keys_full_legacy_with_instnorm_running_stats.json").read_text())
    torch.manual_seed(0)
    net = cg.build(arch="resnet", ngf=64, n_blocks=9)
    clean = net.state_dict()
    sd = OrderedDict()
    for key, shape in legacy:
        if key in clean:
            sd[key] = clean[key]
        elif key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(7, dtype=torch.long)
        else:
            sd[key] = torch.rand(shape) + 5.0  # garbage: must never be used
    assert len(sd) == 117
    loaded, desc = _load_via_file(tmp_path, sd)
    assert desc.hparams["n_blocks"] == 9 and desc.hparams["norm"] == "instance"
    assert list(loaded.state_dict()) == list(clean)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), net.eval()(x))


def test_prepare_drops_metadata_and_keeps_batchnorm_buffers():
    net = cg.build(arch="resnet", ngf=4, n_blocks=2, norm="batch")
    sd = dict(net.state_dict())
    hp = cg.detect(sd)
    assert hp["norm"] == "batch"
    sd["_metadata"] = {"": {"version": 1}}
    out = cg.prepare_state_dict(sd, hp)
    assert "_metadata" not in out
    assert "model.2.running_mean" in out and "model.2.num_batches_tracked" in out
    assert list(out) == list(net.state_dict())


def test_resnet_dropout_layout_detected(tmp_path):
    torch.manual_seed(0)
    net = cg.build(arch="resnet", ngf=4, n_blocks=3, use_dropout=True)
    assert "model.10.conv_block.6.weight" in net.state_dict()
    loaded, desc = _load_via_file(tmp_path, net.state_dict())
    assert desc.hparams["use_dropout"] is True and desc.hparams["n_blocks"] == 3


def test_patchgan_roundtrip_and_shape(tmp_path):
    torch.manual_seed(0)
    d = cg.NLayerDiscriminator(input_nc=6, ndf=8, n_layers=3, norm="batch")
    keys = list(d.state_dict())
    assert keys[:2] == ["model.0.weight", "model.0.bias"]
    assert "model.2.weight" in keys and "model.2.bias" not in keys  # no conv bias with batch norm
    assert "model.11.weight" in keys  # final 1-channel conv
    loaded, desc = _load_via_file(tmp_path, d.state_dict(), role="discriminator")
    assert desc.hparams == {"arch": "patchgan", "role": "discriminator", "input_nc": 6, "ndf": 8, "n_layers": 3,
                            "norm": "batch"}
    x = torch.randn(2, 6, 64, 64)
    with torch.inference_mode():
        out = loaded(x)
        torch.testing.assert_close(out, d.eval()(x))
    assert out.shape == (2, 1, 6, 6)  # 64 -> 32 -> 16 -> 8 -> 7 -> 6: the 70x70 PatchGAN grid


def test_wrong_family_is_a_clear_error(parity_dir, tmp_path):
    fx = _fixture(parity_dir, "fixture.pt")
    path = tmp_path / "g.pth"
    torch.save(fx["state_dict"], path)
    with pytest.raises(CheckpointError, match="cyclegan"):
        ganstudio.load_model(path, family="rrdbnet")


def test_shape_mismatch_is_reported(parity_dir, tmp_path):
    fx = _fixture(parity_dir, "fixture.pt")
    sd = OrderedDict(fx["state_dict"])
    sd["model.4.weight"] = sd["model.4.weight"][:, :3]  # damaged tensor
    with pytest.raises(CheckpointError):
        _load_via_file(tmp_path, sd)
