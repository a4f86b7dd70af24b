"""StyleGAN2 (rosinality layout): parity with the official outputs, key layout, detection, discriminator."""
from __future__ import annotations

import json

import pytest
import torch

import ganstudio
from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.nets import stylegan2

TOL = 1e-4


@pytest.fixture
def fixture_data(parity_dir):
    return torch.load(parity_dir / "stylegan2" / "fixture.pt", weights_only=True)


@pytest.fixture
def loaded(fixture_data, tmp_path):
    path = tmp_path / "stylegan2-32.pt"
    latent_avg = torch.randn(32)
    torch.save({"g_ema": fixture_data["state_dict"], "latent_avg": latent_avg}, path)
    g, desc = ganstudio.load_model(path)
    return g, desc, latent_avg


def test_detects_custom_channel_table(loaded, fixture_data):
    g, desc, latent_avg = loaded
    assert desc.family == "stylegan2" and desc.container == "g_ema"
    assert desc.hparams["size"] == 32 and desc.hparams["style_dim"] == 32 and desc.hparams["n_mlp"] == 3
    assert desc.hparams["channels"] == {4: 32, 8: 32, 16: 16, 32: 16}
    assert torch.equal(desc.extras["latent_avg"], latent_avg)
    assert g.n_latent == 8 and g.num_layers == 7


@pytest.mark.parametrize("fused", [False, True])
def test_main_case(loaded, fixture_data, fused):
    g = loaded[0].set_fused_modconv(fused)
    with torch.inference_mode():
        out, lat = g([fixture_data["input"]], randomize_noise=False, return_latents=True)
        w = g.get_latent(fixture_data["input"])
    assert out.shape == (2, 3, 32, 32)
    assert (out - fixture_data["output"]).abs().max() < TOL
    assert (lat - fixture_data["latent_wplus"]).abs().max() < TOL
    assert (w - fixture_data["mapping_output"]).abs().max() < TOL


@pytest.mark.parametrize("fused", [False, True])
def test_float64(loaded, fixture_data, fused):
    g = loaded[0]
    g64 = stylegan2.build(**loaded[1].hparams).double().set_fused_modconv(fused)
    g64.load_state_dict(g.state_dict())
    with torch.inference_mode():
        out, _ = g64([fixture_data["input"].double()], randomize_noise=False)
    assert (out - fixture_data["output_float64"]).abs().max() < 1e-9


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("case", range(5))
def test_extra_cases(loaded, fixture_data, case, fused):
    g = loaded[0].set_fused_modconv(fused)
    c = fixture_data["extra_cases"][case]
    kw: dict = {}
    if "noise" in c:
        kw["noise"] = c["noise"]
    else:
        kw["randomize_noise"] = False
    if "truncation" in c:
        kw.update(truncation=c["truncation"], truncation_latent=c["truncation_latent"])
    styles = [c["input"]]
    if "input2" in c:
        styles.append(c["input2"])
        kw["inject_index"] = c["inject_index"]
    if c["input"].ndim == 3:
        kw["input_is_latent"] = True
    with torch.inference_mode():
        out, _ = g(styles, **kw)
    assert (out - c["output"]).abs().max() < TOL, c["description"]


def test_random_noise_differs_and_zero_noise_is_deterministic(loaded, fixture_data):
    g = loaded[0]
    z = fixture_data["input"]
    with torch.inference_mode():
        a, _ = g([z])
        b, _ = g([z])
        zeros = [torch.zeros(s) for s in g.noise_shapes()]
        c, _ = g([z], noise=zeros)
        d, _ = g([z], noise=zeros)
    assert (a - b).abs().max() > 1e-3
    assert torch.equal(c, d)


def _keys(parity_dir, name):
    return [(k, list(s)) for k, s in json.loads((parity_dir / "stylegan2" / name).read_text())]


@pytest.mark.parametrize("size,name", [(256, "keys_full_256.json"), (1024, "keys_full_1024.json")])
def test_full_config_keys(parity_dir, size, name):
    with torch.device("meta"):
        g = stylegan2.Generator(size, 512, 8, channel_multiplier=2)
    got = [(k, list(v.shape)) for k, v in g.state_dict().items()]
    assert got == _keys(parity_dir, name)
    # detection from the same shapes gives back config-f
    sd = {k: torch.empty(s, device="meta") for k, s in _keys(parity_dir, name)}
    assert stylegan2.detect(sd) == {"size": size, "style_dim": 512, "n_mlp": 8, "channel_multiplier": 2}


def test_sizes_and_config_e_detected():
    for size in (64, 512):
        with torch.device("meta"):
            g = stylegan2.Generator(size, 64, 2, channel_multiplier=1)
        sd = {k: v for k, v in g.state_dict().items()}
        assert stylegan2.detect(sd) == {"size": size, "style_dim": 64, "n_mlp": 2, "channel_multiplier": 1}


def test_discriminator_roundtrip(tmp_path):
    torch.manual_seed(0)
    ch = {4: 16, 8: 16, 16: 8, 32: 8}
    d = stylegan2.Discriminator(32, channels=ch)
    keys = list(d.state_dict())
    assert keys[:3] == ["convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight"]
    assert "convs.1.conv2.0.kernel" in keys and "convs.1.skip.1.weight" in keys
    assert keys[-4:] == ["final_linear.0.weight", "final_linear.0.bias", "final_linear.1.weight",
                         "final_linear.1.bias"]
    torch.save(d.state_dict(), tmp_path / "d.pt")
    d2, desc = ganstudio.load_model(tmp_path / "d.pt", role="discriminator")
    assert desc.hparams["role"] == "discriminator" and desc.hparams["size"] == 32
    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(d.eval()(x), d2(x))
        assert d2(x).shape == (4, 1)


def test_refuses_wrong_family(tmp_path, fixture_data):
    torch.save({"g_ema": fixture_data["state_dict"]}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="stylegan2"):
        ganstudio.load_model(tmp_path / "g.pt", family="dcgan")
