"""`ganstudio sample / interpolate / edit` end to end on a tiny seeded StyleGAN2, recipes included."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from tiny_models import tiny_stylegan2_file

from ganstudio.cli import main
from ganstudio.engines import latent as L
from ganstudio.engines.latent import directions as D
from ganstudio.engines.latent import recipe as R


@pytest.fixture
def model(tmp_path):
    return tiny_stylegan2_file(tmp_path / "tiny.pt")


def _png(path):
    return np.asarray(Image.open(path).convert("RGB"))


def test_sample_seeds_folder_and_recipe(model, tmp_path):
    out = tmp_path / "out"
    assert main(["sample", "--model", model, "--seeds", "1-3", "-o", str(out), "--truncation", "0.7",
                 "--noise", "random"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["seed0001.png", "seed0002.png", "seed0003.png"]
    lm = L.open_model(model)
    want = L.render_state({"seeds": [2], "truncation": 0.7, "noise": "random"}, model=lm)["images"][0]
    assert np.array_equal(_png(out / "seed0002.png"), want)
    rec = R.read_recipe(out / "seed0002.png")
    assert rec["seeds"] == [2] and rec["truncation"] == pytest.approx(0.7) and rec["noise"] == "random"
    assert rec["model_sha256"] == lm.sha256
    # the recipe alone reproduces the image
    state = R.recipe_to_state(rec)
    again = L.render_state({**state, "model": model}, model=lm)["images"][0]
    assert np.array_equal(again, want)


def test_sample_from_latent_file(model, tmp_path):
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    assert main(["sample", "--model", model, "--latent", str(tmp_path / "z.npy"), "-o", str(tmp_path / "o"),
                 "--noise", "zero"]) == 0
    lm = L.open_model(model)
    want = L.render_state({"z": z, "noise": "zero"}, model=lm)["images"]
    assert np.array_equal(_png(tmp_path / "o" / "latent0001.png"), want[1])


def test_interpolate_strip_and_frames(model, tmp_path):
    assert main(["interpolate", "--model", model, "--seeds", "1,5,9", "--steps", "4", "--slerp",
                 "-o", str(tmp_path / "strip.png")]) == 0
    strip = _png(tmp_path / "strip.png")
    assert strip.shape == (32, 9 * 32, 3)
    assert main(["interpolate", "--model", model, "--seeds", "1,5", "--steps", "3", "--space", "w",
                 "-o", str(tmp_path / "frames")]) == 0
    frames = sorted((tmp_path / "frames").iterdir())
    assert [p.name for p in frames] == [f"frame_{i:04d}.png" for i in range(4)]
    ends = L.render_state({"seeds": [1, 5], "noise_seeds": [1, 1]}, model=L.open_model(model))["images"]
    assert np.array_equal(_png(frames[0]), ends[0]) and np.array_equal(_png(frames[-1]), ends[1])


def test_edit_with_directions_file(model, tmp_path):
    dirs = D.supervised(model, [1, 2, 3], [4, 5, 6], name="smile")
    D.save_directions(tmp_path / "d.npz", dirs)
    args = ["edit", "--model", model, "--seed", "4", "--directions", str(tmp_path / "d.npz")]
    assert main(args + ["--direction", "smile=0", "-o", str(tmp_path / "e0.png")]) == 0
    assert main(args + ["--direction", "smile=3", "-o", str(tmp_path / "e3.png")]) == 0
    base = L.render_state({"seeds": [4]}, model=L.open_model(model))["images"][0]
    assert np.array_equal(_png(tmp_path / "e0.png"), base)
    assert not np.array_equal(_png(tmp_path / "e3.png"), base)
    rec = R.read_recipe(tmp_path / "e3.png")
    assert rec["edits"][0]["name"] == "smile" and rec["edits"][0]["strength"] == 3.0
    assert main(args + ["--direction", "frown=1", "-o", str(tmp_path / "x.png")]) == 2


def test_edit_sefa_without_file_and_wrong_model(model, tmp_path):
    assert main(["edit", "--model", model, "--seed", "1", "--direction", "sefa_0=2", "--layers", "sefa_0=0:4",
                 "-o", str(tmp_path / "s.png")]) == 0
    other = tiny_stylegan2_file(tmp_path / "other.pt", seed=1)
    D.save_directions(tmp_path / "d.npz", D.sefa(other, 2))
    assert main(["edit", "--model", model, "--seed", "1", "--direction", "sefa_0=2", "--directions",
                 str(tmp_path / "d.npz"), "-o", str(tmp_path / "t.png")]) == 2
    assert not (tmp_path / "t.png").exists()


def test_sample_accepts_the_dcgan_noise_shape_of_pytorch_examples(tmp_path):
    """15.10: `--latent z.npy` with (N, 100, 1, 1), what pytorch/examples' DCGAN draws and saves, was refused
    with "z has 1 values; this model takes 100"."""
    import torch

    from ganstudio.nets import dcgan

    torch.manual_seed(0)
    torch.save(dcgan.Generator(100, 4, 3).state_dict(), tmp_path / "netG_epoch_24.pth")
    noise = torch.randn(3, 100, 1, 1, generator=torch.Generator().manual_seed(7)).numpy()  # as main.py draws it
    np.save(tmp_path / "z.npy", noise)
    out = tmp_path / "out"
    assert main(["sample", "-m", str(tmp_path / "netG_epoch_24.pth"), "--latent", str(tmp_path / "z.npy"),
                 "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["latent0000.png", "latent0001.png", "latent0002.png"]
    lm = L.open_model(tmp_path / "netG_epoch_24.pth")
    with torch.inference_mode():
        ref = L.to_uint8(lm.net(torch.as_tensor(noise)))  # the official call, on the (N, 100, 1, 1) noise
    assert np.array_equal(_png(out / "latent0002.png"), ref[2])


def test_device_and_precision_flags_reach_the_engine(model, tmp_path, capsys):
    """Issue 10: `sample` / `interpolate` / `edit` always ran on the CPU in fp32; the flags are the shared
    ones, checked strictly, and what the engine ran with is written into each PNG's recipe."""
    import torch

    for cmd in (["sample", "--seeds", "1"], ["interpolate", "--seeds", "1,2", "--steps", "1"],
                ["edit", "--seed", "1", "-d", "sefa_0=1"]):
        out = tmp_path / f"{cmd[0]}.png"
        assert main([cmd[0], "-m", model, *cmd[1:], "-o", str(out), "--device", "cpu", "--precision", "bf16"]) == 0
        assert R.read_recipe(out)["runtime"] == {"device": "cpu", "precision": "bf16"}, cmd
    assert main(["sample", "-m", model, "--seeds", "1", "-o", str(tmp_path / "auto.png")]) == 0
    assert R.read_recipe(tmp_path / "auto.png")["runtime"]["precision"] == "fp32"  # the latent engine's auto
    assert not np.array_equal(_png(tmp_path / "auto.png"), _png(tmp_path / "sample.png"))  # bf16 really ran
    capsys.readouterr()
    if not torch.cuda.is_available():
        assert main(["sample", "-m", model, "--seeds", "1", "-o", str(tmp_path / "c.png"), "--device", "cuda"]) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and err[0].startswith("error: ") and "CUDA is not available" in err[0]
        assert not (tmp_path / "c.png").exists()
