"""DCGAN (pytorch/examples layout): parity in eval and in the script's train-mode sampling, keys, detection."""
from __future__ import annotations

import json

import pytest
import torch

import ganstudio
from ganstudio.nets import dcgan

TOL = 1e-5


@pytest.fixture
def fixture_data(parity_dir):
    return torch.load(parity_dir / "dcgan" / "fixture.pt", weights_only=True)


@pytest.fixture
def loaded(fixture_data, tmp_path):
    path = tmp_path / "netG_epoch_24.pth"
    torch.save(fixture_data["state_dict"], path)  # a plain state dict, as the script writes it
    return ganstudio.load_model(path)


def test_detect(loaded):
    g, desc = loaded
    assert desc.family == "dcgan" and desc.hparams == {"nz": 8, "ngf": 8, "nc": 3}
    assert not g.training


def test_eval_output(loaded, fixture_data):
    g, _ = loaded
    with torch.inference_mode():
        out = g(fixture_data["input"])
    assert out.shape == (4, 3, 64, 64)
    assert (out - fixture_data["output"]).abs().max() < TOL


def test_train_mode_output_keeps_running_stats(loaded, fixture_data):
    g, _ = loaded
    before = {k: v.clone() for k, v in g.state_dict().items()}
    with torch.inference_mode():
        out = g(fixture_data["input"], batch_stats=True)
    assert (out - fixture_data["output_train_mode"]).abs().max() < TOL
    assert (out - fixture_data["output"]).abs().max() > 1e-3  # the two modes really differ
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k]), k
    g2 = dcgan.build(**_hp(fixture_data), batch_stats=True).eval()
    g2.load_state_dict(fixture_data["state_dict"])
    with torch.inference_mode():
        assert (g2(fixture_data["input"]) - fixture_data["output_train_mode"]).abs().max() < TOL


def _hp(f):
    return {"nz": 8, "ngf": 8, "nc": 3}


def test_float64(fixture_data):
    g = dcgan.Generator(8, 8, 3).double().eval()
    g.load_state_dict(fixture_data["state_dict"])
    with torch.inference_mode():
        out = g(fixture_data["input"].double())
    assert (out - fixture_data["output_float64"]).abs().max() < 1e-9


@pytest.mark.parametrize("name,nc", [("keys_full.json", 3), ("keys_full_mnist_nc1.json", 1)])
def test_full_config_keys(parity_dir, name, nc):
    want = [(k, list(s)) for k, s in json.loads((parity_dir / "dcgan" / name).read_text())]
    g = dcgan.Generator(100, 64, nc)
    got = [(k, list(v.shape)) for k, v in g.state_dict().items()]
    assert got == want
    assert dcgan.detect(dict(g.state_dict())) == {"nz": 100, "ngf": 64, "nc": nc}


def test_discriminator_detected(tmp_path):
    torch.manual_seed(0)
    d = dcgan.Discriminator(3, 8).eval()
    torch.save(d.state_dict(), tmp_path / "netD_epoch_1.pth")
    d2, desc = ganstudio.load_model(tmp_path / "netD_epoch_1.pth", role="discriminator")
    assert desc.hparams == {"role": "discriminator", "nc": 3, "ndf": 8}
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        y = d2(x)
    assert y.shape == (2,) and torch.equal(y, d(x)) and ((y > 0) & (y < 1)).all()


@pytest.mark.parametrize("size", [8, 32, 128])
def test_any_power_of_two_size_builds_detects_and_reloads(size):
    """The trainer trains DCGANs at any power-of-two size; 64 keeps the official layout (tested above)."""
    import torch

    from ganstudio.checkpoints.loader import load_model
    from ganstudio.nets import dcgan

    g = dcgan.Generator(nz=16, ngf=4, nc=1, size=size)
    d = dcgan.Discriminator(nc=1, ndf=4, size=size)
    img = g(torch.randn(2, 16))
    assert img.shape == (2, 1, size, size) and d(img).shape == (2,)
    net, desc = load_model(g.state_dict())
    assert desc.hparams == {"nz": 16, "ngf": 4, "nc": 1, "size": size}
    net_d, desc_d = load_model(d.state_dict(), role="discriminator")
    assert desc_d.hparams["size"] == size and desc_d.hparams["role"] == "discriminator"
    with pytest.raises(ValueError, match="power of two"):
        dcgan.Generator(size=size + 1)
