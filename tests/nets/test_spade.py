"""SPADE generator: official checkpoint layout, parity with the official outputs, input helpers."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import ganstudio
from ganstudio.nets import spade

# the same folder as conftest's parity_dir fixture (needed at collection time for the parametrisation)
PARITY_DIR = Path(os.environ.get("GANSTUDIO_PARITY_DIR",
                                 Path(__file__).resolve().parents[2] / ".." / "shared" / "parity")).resolve()


@pytest.fixture(scope="module")
def fixture_data():
    path = PARITY_DIR / "spade" / "fixture.pt"
    if not path.is_file():
        pytest.skip(f"parity fixture not found at {path} (../shared/parity beside the checkout)")
    return torch.load(path, map_location="cpu", weights_only=True)


def _save_and_load(tmp_path, sd):
    path = tmp_path / "latest_net_G.pth"
    torch.save(sd, path)  # the official container: a plain state dict
    return ganstudio.load_model(path)


def test_fixture_parity_normal(fixture_data, tmp_path, parity_dir):
    net, desc = _save_and_load(tmp_path, fixture_data["state_dict"])
    assert desc.family == "spade"
    assert desc.hparams["semantic_nc"] == 5 and desc.hparams["ngf"] == 1
    assert desc.hparams["num_upsampling_layers"] == "normal"
    assert not net.training
    with torch.inference_mode():
        out = net(fixture_data["input"])
    assert out.shape == fixture_data["output"].shape
    assert (out - fixture_data["output"]).abs().max().item() < 1e-4


def test_fixture_parity_float64(fixture_data, tmp_path, parity_dir):
    net, _ = _save_and_load(tmp_path, fixture_data["state_dict"])
    net = net.double()
    with torch.inference_mode():
        out = net(fixture_data["input"].double())
    assert (out - fixture_data["output_float64"]).abs().max().item() < 1e-9


def test_fixture_parity_more(fixture_data, tmp_path, parity_dir):
    case = fixture_data["extra_cases"][0]
    sd = case.get("state_dict", fixture_data["state_dict"])
    net, _ = _save_and_load(tmp_path, sd)
    cfg = case["config"]
    net.set_upsampling(cfg["num_upsampling_layers"], cfg["crop_size"], cfg["aspect_ratio"])
    assert net.latent_grid() == (2, 1)
    assert net.native_size() == tuple(case["output"].shape[-2:])
    with torch.inference_mode():
        out = net(case["input"])
    assert out.shape == case["output"].shape == (1, 3, 64, 128)
    assert (out - case["output"]).abs().max().item() < 1e-4
    # 'normal' on the same weights is a different network: the parity must depend on the mode
    net.set_upsampling("normal")
    with torch.inference_mode():
        other = net(case["input"])
    assert (other - case["output"]).abs().max().item() > 1e-3


def test_eval_uses_stored_u_v_without_power_iteration(fixture_data, tmp_path, parity_dir):
    net, _ = _save_and_load(tmp_path, fixture_data["state_dict"])
    u0 = net.head_0.conv_0.weight_u.clone()
    with torch.inference_mode():
        net(fixture_data["input"])
    assert torch.equal(net.head_0.conv_0.weight_u, u0)
    # the exact spectral norm would differ: the stored vectors are unconverged on purpose
    w = net.head_0.conv_0.weight_orig.reshape(net.head_0.conv_0.weight_orig.shape[0], -1)
    sigma_used = torch.dot(net.head_0.conv_0.weight_u, w @ net.head_0.conv_0.weight_v)
    assert torch.allclose(net.head_0.conv_0.weight(), net.head_0.conv_0.weight_orig / sigma_used)


def test_one_hot_and_instance_edges_match_official_preprocessing(fixture_data, parity_dir):
    cfg = fixture_data["config"]
    seg = spade.make_semantics(fixture_data["input_label"], cfg["label_nc"], cfg["contain_dontcare_label"],
                               fixture_data["input_instance"], use_instance=not cfg["no_instance"])
    assert torch.equal(seg, fixture_data["input"])


def test_instance_edges_marks_both_sides_and_borders():
    inst = torch.tensor([[1, 1, 2],
                         [1, 1, 2],
                         [3, 3, 3]])
    expected = torch.tensor([[0, 1, 1],
                             [1, 1, 1],
                             [1, 1, 1]], dtype=torch.float32)
    assert torch.equal(spade.instance_edges(inst)[0, 0], expected)
    assert spade.instance_edges(torch.zeros(4, 4)).sum() == 0


def test_one_hot_dontcare_and_range():
    lab = torch.tensor([[0, 2], [255, 1]])
    oh = spade.one_hot(lab, 3, dontcare=True)
    assert oh.shape == (1, 4, 2, 2)
    assert oh[0, 3, 1, 0] == 1 and oh[0, 2, 0, 1] == 1 and oh.sum() == 4
    with pytest.raises(ValueError, match="out of range"):
        spade.one_hot(torch.tensor([[0, 3]]), 3, dontcare=False)
    with pytest.raises(ValueError, match="out of range"):
        spade.one_hot(torch.tensor([[0, 255]]), 3, dontcare=False)


def _keys_file_cases():
    files = sorted((PARITY_DIR / "spade").glob("keys_full*.json")) if PARITY_DIR.is_dir() else []
    return [pytest.param(f, id=f.stem) for f in files] or [pytest.param(None, id="no-parity-dir")]


@pytest.mark.parametrize("keys_file", _keys_file_cases())
def test_full_configurations_have_official_keys(keys_file, parity_dir):
    if keys_file is None:
        pytest.skip("no keys_full*.json")
    dataset = keys_file.stem.replace("keys_full_", "").split("_use_vae")[0]
    cfg = json.loads((parity_dir / "spade" / "full_configs.json").read_text())[dataset]
    expected = [(k, list(s)) for k, s in json.loads(keys_file.read_text())]
    use_vae = "use_vae" in keys_file.stem
    with torch.device("meta"):
        net = spade.SPADEGenerator(
            semantic_nc=cfg["semantic_nc"], ngf=cfg["ngf"], num_upsampling_layers=cfg["num_upsampling_layers"],
            label_nc=cfg["label_nc"], contain_dontcare_label=cfg["contain_dontcare_label"],
            use_instance=not cfg["no_instance"], crop_size=cfg["crop_size"], aspect_ratio=cfg["aspect_ratio"],
            use_vae=use_vae)
    got = [(k, list(v.shape)) for k, v in net.state_dict().items()]
    assert got == expected
    assert net.native_size() == (cfg["crop_size"] // int(cfg["aspect_ratio"]), cfg["crop_size"])
    # and detect() reads the same configuration back from the keys and shapes alone
    sd = {k: torch.empty(s, device="meta") for k, s in expected}
    hp = spade.detect(sd)
    assert hp["semantic_nc"] == cfg["semantic_nc"] and hp["ngf"] == cfg["ngf"]
    assert hp["label_nc"] == cfg["label_nc"]
    assert hp["num_upsampling_layers"] == cfg["num_upsampling_layers"]
    assert hp.get("use_vae", False) == use_vae


def test_most_mode_adds_up_4_and_is_detected():
    torch.manual_seed(0)
    net = spade.SPADEGenerator(semantic_nc=4, ngf=4, num_upsampling_layers="most").eval()
    sd = net.state_dict()
    assert any(k.startswith("up_4.") for k in sd)
    hp = spade.detect(sd)
    assert hp["num_upsampling_layers"] == "most" and hp["ngf"] == 4
    seg = spade.one_hot(torch.zeros(128, 128, dtype=torch.long), 4, dontcare=False)
    with torch.inference_mode():
        assert net(seg).shape == (1, 3, 128, 128)


def test_bad_sizes_and_modes_are_refused():
    net = spade.SPADEGenerator(semantic_nc=3, ngf=1).eval()
    with pytest.raises(ValueError, match="multiple of 32"):
        net(torch.zeros(1, 3, 48, 64))
    with pytest.raises(ValueError):
        net.set_upsampling("most")


def test_multiscale_discriminator_shapes_and_keys():
    torch.manual_seed(0)
    d = spade.MultiscaleDiscriminator(input_nc=5 + 3, ndf=4, n_layers=4, num_D=2)
    keys = list(d.state_dict())
    assert "discriminator_0.model0.0.weight" in keys
    assert "discriminator_1.model1.0.0.weight_orig" in keys and "discriminator_1.model1.0.0.weight_u" in keys
    assert "discriminator_0.model4.0.bias" in keys
    out = d(torch.randn(2, 8, 64, 64))
    assert len(out) == 2 and len(out[0]) == 5
    assert out[0][-1].shape[:2] == (2, 1) and out[1][-1].shape[-1] < out[0][-1].shape[-1]
    # training updates u in place (one power iteration); eval does not
    u0 = d.discriminator_0.model1[0][0].weight_u.clone()
    d.eval()(torch.randn(1, 8, 64, 64))
    assert torch.equal(d.discriminator_0.model1[0][0].weight_u, u0)
    d.train()(torch.randn(1, 8, 64, 64))
    assert not torch.equal(d.discriminator_0.model1[0][0].weight_u, u0)
