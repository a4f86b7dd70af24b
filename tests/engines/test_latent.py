"""Latent engine: seeds, truncation, noise modes, Z/W/W+, slerp/lerp, arithmetic, edits, on tiny seeded models."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstudio.core.progress import run_to_completion
from ganstudio.engines import latent
from ganstudio.nets import dcgan, stylegan2


def make_stylegan(path, size=32, seed=0):
    torch.manual_seed(seed)
    ch = {4: 16, 8: 16, 16: 8, 32: 8, 64: 8}
    g = stylegan2.Generator(size, 16, 2, channels=ch)
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, stylegan2.NoiseInjection):
                m.weight.fill_(0.3)  # official init is 0: make the noise visible
    torch.save({"g_ema": g.state_dict()}, path)
    return path


def make_dcgan(path, seed=0):
    torch.manual_seed(seed)
    torch.save(dcgan.Generator(8, 8, 3).state_dict(), path)
    return path


@pytest.fixture
def sg2(tmp_path):
    return str(make_stylegan(tmp_path / "sg2.pt"))


@pytest.fixture
def dc(tmp_path):
    return str(make_dcgan(tmp_path / "netG_epoch_1.pth"))


def test_slerp_known_vectors():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    mid = latent.slerp(a, b, 0.5)
    assert np.allclose(mid, [np.sqrt(0.5), np.sqrt(0.5)])  # on the unit circle, not [0.5, 0.5]
    assert np.allclose(latent.slerp(a, b, 1 / 3), [np.cos(np.pi / 6), np.sin(np.pi / 6)])
    assert np.allclose(latent.slerp(a, 2 * b, 0.5), 1.5 * np.array([np.sqrt(0.5), np.sqrt(0.5)]))
    assert np.allclose(latent.slerp(a, a * 3, 0.5), [2.0, 0.0])  # parallel: plain lerp
    assert np.allclose(latent.lerp(a, b, 0.25), [0.75, 0.25])


def test_interpolation_path_counts_and_ends():
    keys = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 8.0]])
    frames = latent.interpolation_path(keys, 4)
    assert frames.shape == (9, 2)
    assert np.allclose(frames[[0, 4, 8]], keys)
    assert np.allclose(frames[2], [2.0, 0.0]) and np.allclose(frames[6], [4.0, 4.0])


def test_arithmetic_known_vectors():
    a = np.array([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    b = np.array([[1.0, 1.0]])
    c = np.array([[0.0, 10.0], [2.0, 0.0], [1.0, 5.0]])  # mean (1, 5)
    r = latent.arithmetic(a, b, c)
    assert np.allclose(r["mean_a"], [2, 3]) and np.allclose(r["result"], [2.0, 7.0])


def test_parse_seeds():
    assert latent.parse_seeds("1-4,9, 12-13") == [1, 2, 3, 4, 9, 12, 13]
    with pytest.raises(ValueError):
        latent.parse_seeds("5-2")


def test_seed_grid_deterministic(sg2):
    res = run_to_completion(latent.sample_grid(sg2, [1, 2, 3], noise="random", batch=2))
    assert res["images"].shape == (3, 32, 32, 3) and res["images"].dtype == np.uint8
    again = run_to_completion(latent.sample_grid(sg2, [3, 1], noise="random"))
    assert np.array_equal(again["images"][0], res["images"][2])  # same seed, same image, whatever the batch
    assert np.array_equal(res["z"][0], torch.randn(1, 16, generator=torch.Generator().manual_seed(1))[0].numpy())
    assert not np.array_equal(res["images"][0], res["images"][1])


def test_noise_modes_and_truncation(sg2):
    lm = latent.open_model(sg2)
    base = {"seeds": [7]}
    stored = latent.render_state({**base, "noise": "stored"}, model=lm)["images"]
    zero = latent.render_state({**base, "noise": "zero"}, model=lm)["images"]
    rnd = latent.render_state({**base, "noise": "random"}, model=lm)["images"]
    assert not np.array_equal(stored, zero) and not np.array_equal(rnd, zero)
    with torch.inference_mode():  # zero noise equals the network run with explicit zero maps
        z = torch.as_tensor(latent.z_from_seed(7, 16))[None]
        ref, _ = lm.net([z], noise=[torch.zeros(s) for s in lm.net.noise_shapes()])
    assert np.array_equal(zero, latent.to_uint8(ref))
    w1 = latent.map_z(lm, z.numpy())
    w0 = latent.map_z(lm, z.numpy(), truncation=0.0)
    assert np.allclose(w0, lm.latent_avg.numpy(), atol=1e-6)
    wh = latent.map_z(lm, z.numpy(), truncation=0.5)
    assert np.allclose(wh, (w0 + w1) / 2, atol=1e-5)
    with pytest.raises(latent.LatentError):
        latent.render_state({**base, "noise": "loud"}, model=lm)


def test_wplus_rows_matter(sg2):
    lm = latent.open_model(sg2)
    res = latent.render_state({"seeds": [3, 4]}, model=lm)
    wp = res["wplus"].copy()
    assert wp.shape == (2, lm.n_latent, 16)
    same = latent.render_state({"wplus": wp}, model=lm)["images"]
    assert np.array_equal(same, res["images"])
    mixed = wp[:1].copy()
    mixed[0, 4:] = wp[1, 4:]  # style mixing by rows
    out = latent.render_state({"wplus": mixed}, model=lm)["images"][0]
    assert not np.array_equal(out, res["images"][0]) and not np.array_equal(out, res["images"][1])


def test_edit_strength_zero_is_exact_and_layer_range(sg2):
    lm = latent.open_model(sg2)
    base = latent.render_state({"seeds": [11]}, model=lm)
    vec = np.ones(16, np.float32) / 4
    e0 = latent.render_state({"wplus": base["wplus"], "edits": [
        {"name": "a", "vector": vec, "space": "w", "strength": 0.0}]}, model=lm)
    assert np.array_equal(e0["images"], base["images"])
    e1 = latent.render_state({"wplus": base["wplus"], "edits": [
        {"name": "a", "vector": vec, "space": "w", "strength": 3.0, "layers": [0, 4]}]}, model=lm)
    assert np.abs(e1["images"].astype(int) - base["images"]).mean() > 1
    e_late = latent.render_state({"wplus": base["wplus"], "edits": [
        {"name": "a", "vector": vec, "space": "w", "strength": 3.0, "layers": [4, None]}]}, model=lm)
    assert not np.array_equal(e_late["images"], e1["images"])


def test_interpolate_z_and_w(sg2):
    res = run_to_completion(latent.interpolate(sg2, [1, 5, 9], steps=4, spherical=True, space="z"))
    assert res["images"].shape == (9, 32, 32, 3)
    ends = run_to_completion(latent.sample_grid(sg2, [1, 5, 9]))["images"]
    assert np.array_equal(res["images"][[0, 4, 8]], ends)
    resw = run_to_completion(latent.interpolate(sg2, [1, 5], steps=3, space="w"))
    assert resw["latents"].shape == (4, 8, 16) and np.array_equal(resw["images"][-1], ends[1])


def test_arithmetic_job(sg2):
    r = latent.arithmetic_job(sg2, [1, 2], [3], [4, 5, 6], n_perturb=4)
    assert r["means"].shape == (3, 32, 32, 3) and r["perturbed"].shape == (4, 32, 32, 3)
    assert np.allclose(r["latents"]["result"], r["latents"]["mean_a"] - r["latents"]["mean_b"]
                       + r["latents"]["mean_c"], atol=1e-6)


def test_dcgan_sampling(dc):
    lm = latent.open_model(dc)
    assert lm.family == "dcgan" and lm.z_dim == 8 and lm.n_latent == 1
    res = run_to_completion(latent.sample_grid(dc, range(4)))
    assert res["images"].shape == (4, 64, 64, 3)
    with torch.inference_mode():
        ref = lm.net(torch.as_tensor(latent.z_from_seeds([2], 8))[:, :, None, None])
    assert np.array_equal(res["images"][2], latent.to_uint8(ref)[0])
    bs = run_to_completion(latent.sample_grid(dc, range(4), batch_stats=True))
    assert not np.array_equal(bs["images"], res["images"])


def test_refuses_a_non_generator(tmp_path):
    torch.save(dcgan.Discriminator(3, 8).state_dict(), tmp_path / "netD.pth")
    with pytest.raises(latent.LatentError, match="generator"):
        latent.open_model(tmp_path / "netD.pth")


def test_projection_reduces_error(sg2):
    from ganstudio.engines import projection

    lm = latent.open_model(sg2)
    target = latent.render_state({"seeds": [21]}, model=lm)["images"][0]  # reachable by construction
    start = latent.render_state({"wplus": lm.latent_avg.numpy()[None].repeat(lm.n_latent, 1)}, model=lm)
    err0 = np.mean((start["images"][0].astype(float) - target) ** 2)
    res = run_to_completion(projection.project(sg2, image=target, space="w+", steps=30, lr=0.1))
    assert res["wplus"].shape == (1, lm.n_latent, 16)
    err1 = np.mean((res["image"].astype(float) - target) ** 2)
    assert err1 < 0.5 * err0, (err0, err1)
    assert res["losses"][-1] < res["losses"][0]
    again = latent.render_state({"wplus": res["wplus"], "noise": "stored"}, model=lm)["images"][0]
    assert np.array_equal(again, res["image"])  # the result is a usable latent for the sliders


def test_random_features_fixed():
    from ganstudio.engines import projection

    a, b = projection.RandomFeatures(), projection.RandomFeatures()
    assert all(torch.equal(x.weight, y.weight) for x, y in zip(a.convs, b.convs))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert projection.feature_distance(a, x, x).item() == 0.0
    assert projection.feature_distance(a, x, x.flip(-1)).item() > 0.0
