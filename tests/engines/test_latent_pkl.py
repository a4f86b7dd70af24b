"""StyleGAN2-ADA ``.pkl`` generators in the latent engine and `ganstudio sample / interpolate / edit` (issue 16):
NVIDIA's outputs through the engine's own path (mapping, truncation, noise modes, synthesis), class-conditional
models drawn by class, directions, projection, interpolation and arithmetic on a pickle.

The small pickles are written by ``tests/nvlabs_pickles.py`` in NVIDIA's format from GAN Studio's own modules;
the parity pickle and its outputs come from NVIDIA's code (../shared/parity/stylegan2_ada).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from nvlabs_pickles import tiny_ada_generator, write_snapshot
from PIL import Image

from ganstudio.cli import main
from ganstudio.core.progress import CancelToken, run_to_completion
from ganstudio.engines import latent as L
from ganstudio.engines.latent import directions as D
from ganstudio.engines.latent import projection
from ganstudio.engines.latent import recipe as R
from ganstudio.engines.latent.progress import network_blocks
from ganstudio.engines.latent.render import synthesize_raw

CLASSES = 3


@pytest.fixture(scope="module")
def pkl(tmp_path_factory):
    """An unconditional and a 3-class conditional 16 px generator pickle."""
    d = tmp_path_factory.mktemp("pkl")
    return {"plain": write_snapshot(d / "plain.pkl", tiny_ada_generator(0)),
            "classes": write_snapshot(d / "classes.pkl", tiny_ada_generator(1, c_dim=CLASSES))}


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# ---------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("expected,psi,noise", [("expected_psi1_const.npy", 1.0, "stored"),
                                                ("expected_psi07_const.npy", 0.7, "stored"),
                                                ("expected_none.npy", 1.0, "zero")])
def test_nvidia_outputs_through_the_latent_engine(parity_dir, expected, psi, noise):
    """The engine's own path (seeded-z mapping, its truncation towards the file's w_avg, its 'stored' noise
    mode = the pickle's noise_const buffers, 'zero' = NVIDIA's 'none') gives NVIDIA's images."""
    d = parity_dir / "stylegan2_ada"
    if not d.is_dir():
        pytest.skip(f"no StyleGAN2-ADA fixtures in {parity_dir}")
    lm = L.open_model(d / "fixture_stripped.pkl", "cpu")
    assert lm.family == "stylegan2_ada" and lm.is_stylegan and lm.c_dim == 0
    assert (lm.z_dim, lm.w_dim, lm.n_latent, lm.resolution) == (64, 64, 8, 32)
    z = np.load(d / "z.npy")
    wplus = L.latents_for_state(lm, {"z": z, "truncation": psi})["wplus"]
    got = synthesize_raw(lm, wplus, noise).float()
    want = torch.from_numpy(np.load(d / expected))
    diff = (got - want).abs()
    assert got.shape == want.shape and bool((diff <= 1e-4 + 1e-5 * want.abs()).all()), diff.max().item()


# ---------------------------------------------------------------------------------------------- engine
def test_a_pickle_opens_for_the_latent_tools(pkl):
    lm = L.open_model(pkl["plain"])
    info = lm.describe()
    assert info["family"] == "stylegan2_ada" and info["c_dim"] == 0 and info["n_latent"] == 6
    assert torch.equal(lm.latent_avg[0], lm.net.mapping.w_avg)  # truncation centre: the file's w_avg
    # progress / Cancel follow the pickle's synthesis layers; SeFa factorises its affine weights, row by row
    assert network_blocks(lm) == lm.net.forward_blocks()
    rows = D.sefa_layer_rows(lm)
    assert [r for r, _ in rows] == list(range(lm.net.num_layers))
    assert all(w is layer.affine.weight for (_, w), layer in zip(rows, lm.net.synthesis.noise_layers()))
    # a grid with a cancel token runs through the block watch of the pickle's network
    res = run_to_completion(L.sample_grid(pkl["plain"], [1, 2, 3], truncation=0.7, cancel=CancelToken()))
    assert res["images"].shape == (3, 16, 16, 3)
    with torch.inference_mode():  # NVIDIA's call on the same z: G(z, None, psi, noise_mode='const')
        want = lm.net.sample(torch.from_numpy(res["z"]), None, truncation_psi=0.7, noise_mode="const")
    got = synthesize_raw(lm, torch.from_numpy(res["wplus"]), "stored")
    assert torch.allclose(got, want, atol=1e-5)
    with pytest.raises(L.LatentError, match="not class-conditional"):
        L.render_state({"seeds": [1], "class_index": 0}, model=lm)


def test_a_class_conditional_pickle_draws_the_chosen_class(pkl):
    lm = L.open_model(pkl["classes"])
    assert lm.c_dim == CLASSES and lm.describe()["c_dim"] == CLASSES
    with pytest.raises(L.LatentError, match=f"draws one of {CLASSES} classes: choose a class 0-{CLASSES - 1}"):
        L.render_state({"seeds": [1]}, model=lm)
    with pytest.raises(L.LatentError, match="class 3 does not exist"):
        L.render_state({"seeds": [1], "class_index": 3}, model=lm)
    z = L.z_from_seeds([4, 5], lm.z_dim)
    by_class = []
    for k in range(CLASSES):
        wplus = L.latents_for_state(lm, {"z": z, "class_index": k})["wplus"]
        got = synthesize_raw(lm, wplus, "stored")
        onehot = torch.zeros(2, CLASSES)
        onehot[:, k] = 1
        with torch.inference_mode():  # NVIDIA's call with the one-hot label generate.py makes of --class
            want = lm.net.sample(torch.from_numpy(z), onehot, noise_mode="const")
        assert torch.allclose(got, want, atol=1e-5)
        by_class.append(got)
    assert (by_class[0] - by_class[2]).abs().max() > 1e-2  # the class changes the image


def test_directions_projection_interpolation_and_arithmetic_on_a_pickle(pkl):
    plain, classes = pkl["plain"], pkl["classes"]
    sefa = D.sefa(plain, k=4)
    assert sefa.vectors.shape == (4, 16) and sefa.space == "w" and np.all(sefa.scales > 0)
    with pytest.raises(L.LatentError, match="choose a class"):
        D.sefa(classes, k=4)
    in_class = D.sefa(classes, k=4, class_index=1)
    assert in_class.vectors.shape == (4, 16)
    pca = D.pca(classes, k=3, n_samples=256, class_index=2)
    assert pca.vectors.shape == (3, 16) and pca.source == "pca"
    smile = D.supervised(classes, [1, 2, 3], [4, 5, 6], name="smile", class_index=0)
    edited = L.render_state({"seeds": [7], "class_index": 0, "edits": smile.edits({"smile": 3.0})},
                            model=L.open_model(classes))["images"]
    plain_7 = L.render_state({"seeds": [7], "class_index": 0}, model=L.open_model(classes))["images"]
    assert not np.array_equal(edited, plain_7)

    frames = run_to_completion(L.interpolate(classes, [1, 2], steps=3, space="w", class_index=1))
    assert frames["images"].shape == (4, 16, 16, 3)
    ends = L.render_state({"seeds": [1, 2], "class_index": 1, "noise_seeds": [1, 1]},
                          model=L.open_model(classes))["images"]
    assert np.array_equal(frames["images"][0], ends[0]) and np.array_equal(frames["images"][-1], ends[1])
    ar = run_to_completion(L.arithmetic_job(classes, [1], [2], [3], space="w", n_perturb=2, class_index=2))
    assert ar["result"].shape == (16, 16, 3) and ar["perturbed"].shape == (2, 16, 16, 3)

    target = L.render_state({"seeds": [9], "class_index": 1}, model=L.open_model(classes))["images"][0]
    res = run_to_completion(projection.project(classes, image=target, steps=4, cancel=CancelToken()))
    assert res["wplus"].shape == (1, 6, 16) and len(res["losses"]) == 4 and np.isfinite(res["losses"]).all()


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_sample_interpolate_edit_take_a_class(pkl, tmp_path, capsys):
    classes = pkl["classes"]
    out = tmp_path / "grid"
    assert main(["sample", "--model", classes, "--seeds", "1-2", "--class", "2", "-o", str(out)]) == 0
    lm = L.open_model(classes)
    want = L.render_state({"seeds": [1, 2], "class_index": 2}, model=lm)["images"]
    other = L.render_state({"seeds": [1, 2], "class_index": 0}, model=lm)["images"]
    assert np.array_equal(_png(out / "seed0002.png"), want[1]) and not np.array_equal(want, other)
    rec = R.read_recipe(out / "seed0002.png")
    assert rec["class_index"] == 2 and rec["family"] == "stylegan2_ada"
    again = L.render_state({**R.recipe_to_state(rec), "model": classes}, model=lm)["images"][0]
    assert np.array_equal(again, want[1])  # the recipe alone reproduces the image, class included

    assert main(["interpolate", "--model", classes, "--seeds", "1,2", "--steps", "2", "--class", "2",
                 "-o", str(tmp_path / "strip.png")]) == 0
    strip = _png(tmp_path / "strip.png")
    assert strip.shape == (16, 3 * 16, 3) and np.array_equal(strip[:, :16], want[0])
    assert main(["edit", "--model", classes, "--seed", "1", "--class", "2", "--direction", "sefa_0=0",
                 "-o", str(tmp_path / "edit.png")]) == 0
    assert np.array_equal(_png(tmp_path / "edit.png"), want[0])
    capsys.readouterr()

    for args, words in ((["--model", classes], "draws one of 3 classes: choose one with --class N (0-2)"),
                        (["--model", classes, "--class", "3"], "--class 3 does not exist"),
                        (["--model", pkl["plain"], "--class", "0"], "is not class-conditional")):
        assert main(["sample", *args, "--seeds", "1", "-o", str(tmp_path / "x.png")]) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:") or "Traceback" in ln]
        assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "x.png").exists()
    assert main(["sample", "--model", pkl["plain"], "--seeds", "3", "-o", str(tmp_path / "p.png")]) == 0
    assert np.array_equal(_png(tmp_path / "p.png"),
                          L.render_state({"seeds": [3]}, model=L.open_model(pkl["plain"]))["images"][0])
