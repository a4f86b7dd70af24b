"""RRDBNet (ESRGAN / Real-ESRGAN) against the official parity fixtures and key tables (../shared/parity/esrgan)."""
from __future__ import annotations

import json

import pytest
import torch

import ganstudio
from ganstudio.nets import rrdbnet

FULL = dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_grow_ch=32)
KEY_TABLES = {
    "keys_full.json": dict(FULL, scale=4, num_block=23),
    "keys_full_x2plus.json": dict(FULL, scale=2, num_block=23),
    "keys_full_anime_6B.json": dict(FULL, scale=4, num_block=6),
}
# foreign namings: renamed, they must give the BasicSR table
FOREIGN_TABLES = {
    "keys_full_esrgan_repo_2019.json": "key_mapping_esrgan2019_to_basicsr.json",
    "keys_full_esrgan_old_2018.json": "key_mapping_old2018_to_basicsr.json",
}


def _json(parity_dir, name):
    return json.loads((parity_dir / "esrgan" / name).read_text())


def _fixture(parity_dir):
    return torch.load(parity_dir / "esrgan" / "fixture.pt", map_location="cpu", weights_only=True)


def _meta_state_dict(table):
    return {k: torch.empty(shape, device="meta") for k, shape in table}


def _table(net_or_sd):
    sd = net_or_sd.state_dict() if isinstance(net_or_sd, torch.nn.Module) else net_or_sd
    return [[k, list(v.shape)] for k, v in sd.items()]


def test_every_key_table_is_covered(parity_dir):
    files = {p.name for p in (parity_dir / "esrgan").glob("keys_full*.json")}
    assert files == set(KEY_TABLES) | set(FOREIGN_TABLES)


@pytest.mark.parametrize("name", sorted(KEY_TABLES))
def test_keys_and_shapes_match_official(parity_dir, name):
    expected = _json(parity_dir, name)
    with torch.device("meta"):
        net = rrdbnet.build(**KEY_TABLES[name])
    assert _table(net) == expected
    assert rrdbnet.detect(_meta_state_dict(expected)) == KEY_TABLES[name]


@pytest.mark.parametrize("name", sorted(FOREIGN_TABLES))
def test_foreign_namings_detect_and_rename_to_basicsr(parity_dir, name):
    table = _json(parity_dir, name)
    sd = _meta_state_dict(table)
    hp = rrdbnet.detect(sd)
    assert hp == KEY_TABLES["keys_full.json"]
    renamed = rrdbnet.prepare_state_dict(sd, hp)
    assert _table(renamed) == _json(parity_dir, "keys_full.json")


@pytest.mark.parametrize("mapping", sorted(FOREIGN_TABLES.values()))
def test_renaming_rules_equal_the_official_mapping(parity_dir, mapping):
    pairs = _json(parity_dir, mapping)
    sd = {old: torch.empty(0, device="meta") for old, _new in pairs}
    # the rules are written in code; the mapping file is the independent reference
    assert list(rrdbnet.rename_keys(sd, num_block=23)) == [new for _old, new in pairs]


def test_parity_params_ema_container(parity_dir, tmp_path):
    fx = _fixture(parity_dir)
    path = tmp_path / "RealESRGAN_x4plus.pth"
    torch.save(fx["checkpoint"], path)
    net, desc = ganstudio.load_model(path)
    assert (desc.family, desc.container) == ("rrdbnet", "params_ema")
    assert desc.hparams == {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 8, "num_block": 2,
                            "num_grow_ch": 4}
    assert net.scale == 4
    with torch.inference_mode():
        out = net(fx["input"])
    assert out.shape == (2, 3, 48, 64)
    torch.testing.assert_close(out, fx["output"], atol=1e-5, rtol=0)
    with torch.inference_mode():
        out64 = net.double()(fx["input"].double())
    torch.testing.assert_close(out64, fx["output_float64"], atol=1e-9, rtol=0)


@pytest.mark.parametrize("index", [0, 1])
def test_parity_pixel_unshuffle_scales(parity_dir, tmp_path, index):
    case = _fixture(parity_dir)["extra_cases"][index]
    path = tmp_path / "model.pth"
    torch.save({"params": case["state_dict"]}, path)  # the Real-ESRGAN fallback container
    net, desc = ganstudio.load_model(path)
    assert desc.container == "params"
    assert desc.hparams["scale"] == case["config"]["scale"]
    assert net.input_multiple == {2: 2, 1: 4}[case["config"]["scale"]]
    with torch.inference_mode():
        out = net(case["input"])
    torch.testing.assert_close(out, case["output"], atol=1e-5, rtol=0)


def _to_foreign(sd, mapping_pairs, num_block):
    """Rename BasicSR keys to a foreign naming with the official mapping (built for 23 blocks)."""
    inverse = {new: old for old, new in mapping_pairs}
    # the 2018 trunk conv sits after the RRDBs in the same Sequential: index 23 there, num_block here
    inverse["conv_body.weight"] = inverse["conv_body.weight"].replace(".23.", f".{num_block}.")
    inverse["conv_body.bias"] = inverse["conv_body.bias"].replace(".23.", f".{num_block}.")
    return {inverse[k]: v for k, v in sd.items()}


@pytest.mark.parametrize("mapping", sorted(FOREIGN_TABLES.values()))
def test_parity_through_old_esrgan_namings(parity_dir, tmp_path, mapping):
    fx = _fixture(parity_dir)
    foreign = _to_foreign(fx["state_dict"], _json(parity_dir, mapping), fx["config"]["num_block"])
    assert "body.0.rdb1.conv1.weight" not in foreign
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(foreign, path)  # xinntao/ESRGAN files are plain state dicts
    net, desc = ganstudio.load_model(path, family="rrdbnet")
    assert desc.container == ""
    assert desc.hparams["num_block"] == 2
    with torch.inference_mode():
        out = net(fx["input"])
    torch.testing.assert_close(out, fx["output"], atol=1e-5, rtol=0)


def test_unshuffle_needs_divisible_size():
    net = rrdbnet.build(num_feat=4, num_block=1, num_grow_ch=2, scale=2).eval()
    with pytest.raises(ValueError, match="multiples of 2"):
        net(torch.zeros(1, 3, 5, 6))


def test_detect_refuses_other_keys():
    assert rrdbnet.detect({"conv1.weight": torch.zeros(4, 3, 3, 3)}) is None
    # conv_first channels that are no pixel-unshuffle of conv_last's
    net = rrdbnet.build(num_feat=4, num_block=1, num_grow_ch=2)
    sd = dict(net.state_dict())
    sd["conv_first.weight"] = torch.zeros(4, 7, 3, 3)
    assert rrdbnet.detect(sd) is None


def test_channels_last_and_bf16_autocast_match(parity_dir):
    fx = _fixture(parity_dir)
    net = rrdbnet.build(**{k: fx["config"][k] for k in ("scale", "num_feat", "num_block", "num_grow_ch")})
    net.load_state_dict(fx["state_dict"])
    net.eval()
    with torch.inference_mode():
        ref = net(fx["input"])
        cl = net.to(memory_format=torch.channels_last)(fx["input"].to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(fx["input"])
    torch.testing.assert_close(cl, ref, atol=1e-5, rtol=0)
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.1  # bf16 keeps ~3 significant digits


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast(parity_dir, dtype):
    fx = _fixture(parity_dir)
    net, _ = ganstudio.load_model(fx["checkpoint"], device="cuda")
    x = fx["input"].cuda()
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
        out = net(x)
    assert out.dtype == dtype
    assert (out.float().cpu() - fx["output"]).abs().max() < 0.05


# ------------------------------------------------------------------------------------ U-Net discriminator

def test_unet_discriminator_shapes_and_spectral_norm_keys():
    torch.manual_seed(0)
    d = rrdbnet.UNetDiscriminatorSN(num_in_ch=3, num_feat=8)
    keys = list(d.state_dict())
    assert keys[:2] == ["conv0.weight", "conv0.bias"]
    for i in range(1, 9):  # every inner conv is spectrally normalised, without bias
        assert {f"conv{i}.weight_orig", f"conv{i}.weight_u", f"conv{i}.weight_v"} <= set(keys)
        assert f"conv{i}.bias" not in keys
    assert keys[-2:] == ["conv9.weight", "conv9.bias"]
    assert tuple(d.state_dict()["conv3.weight_orig"].shape) == (64, 32, 4, 4)
    x = torch.rand(2, 3, 32, 40)
    out = d(x)
    assert out.shape == (2, 1, 32, 40)
    out.mean().backward()  # trainable
    assert d.conv1.weight_orig.grad is not None


def test_unet_discriminator_skip_connections_matter():
    torch.manual_seed(0)
    with_skip = rrdbnet.UNetDiscriminatorSN(num_feat=4).eval()
    no_skip = rrdbnet.UNetDiscriminatorSN(num_feat=4, skip_connection=False).eval()
    no_skip.load_state_dict(with_skip.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(with_skip(x), no_skip(x))
