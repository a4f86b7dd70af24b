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
    r = run_to_completion(latent.arithmetic_job(sg2, [1, 2], [3], [4, 5, 6], n_perturb=4))
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
    from ganstudio.engines.latent import projection

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
    from ganstudio.engines.latent import projection

    a, b = projection.RandomFeatures(), projection.RandomFeatures()
    assert all(torch.equal(x.weight, y.weight) for x, y in zip(a.convs, b.convs))
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert projection.feature_distance(a, x, x).item() == 0.0
    assert projection.feature_distance(a, x, x.flip(-1)).item() > 0.0


# ------------------------------------------------------------------------------------------------ runtime, cache
def test_device_and_precision_are_resolved_once_per_job_and_reported(sg2, monkeypatch):
    from ganstudio.engines.latent import model as M

    calls = []
    real = M.resolve_runtime
    monkeypatch.setattr(M, "resolve_runtime", lambda *a, **k: calls.append(a) or real(*a, **k))
    res = run_to_completion(latent.sample_grid(sg2, [1, 2], device="cpu", precision="bf16"))
    assert calls == [("cpu", "bf16")] and res["runtime"] == {"device": "cpu", "precision": "bf16"}
    fp32 = run_to_completion(latent.sample_grid(sg2, [1, 2], device="cpu", precision="fp32"))
    assert not np.array_equal(res["images"], fp32["images"])  # bf16 really ran
    # "auto" is fp32 for the latent engine (bench/latent.py: bf16 is not a clear win for StyleGAN2)
    assert latent.render_state({"seeds": [1], "model": sg2})["runtime"]["precision"] == "fp32"


def test_the_model_comes_from_the_one_cache(sg2):
    """The latent engine kept a second cache of its own on top of checkpoints.cache."""
    from ganstudio.checkpoints import cache

    a = latent.open_model(sg2)
    assert a.net is cache.get_model(sg2)[0]
    cache.clear_cache()
    b = latent.open_model(sg2)
    assert b.net is not a.net and b.net is cache.get_model(sg2)[0]  # nothing held on to the dropped network
    assert b.sha256 == a.sha256 and torch.equal(b.latent_avg, a.latent_avg)


def test_projection_leaves_the_shared_network_read_only(sg2):
    from ganstudio.checkpoints import cache
    from ganstudio.engines.latent import projection

    net = cache.get_model(sg2)[0]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    run_to_completion(projection.project(sg2, image=np.zeros((32, 32, 3), np.uint8), steps=3))
    # before: projection switched requires_grad back *on* for the shared module when it ended
    assert not any(p.requires_grad for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_dcgan_noise_shape_from_pytorch_examples(dc):
    lm = latent.open_model(dc)
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    flat = latent.render_state({"z": z}, model=lm)["images"]
    # pytorch/examples' DCGAN draws noise as (N, nz, 1, 1); before: "z has 1 values; this model takes 8"
    assert np.array_equal(latent.render_state({"z": z[:, :, None, None]}, model=lm)["images"], flat)
    with pytest.raises(latent.LatentError, match=r"rows of 8 values"):
        latent.render_state({"z": np.zeros((3, 8, 2, 1), np.float32)}, model=lm)


# ------------------------------------------------------------------------------------------------ progress, cancel
def _listen(token):
    got = []
    token.set_listener(got.append)
    return got


def test_a_long_forward_reports_progress_with_eta_and_cancels_between_blocks(sg2, monkeypatch):
    from ganstudio.core.progress import Cancelled, CancelToken
    from ganstudio.engines.latent import progress

    monkeypatch.setattr(progress, "REPORT_EVERY_S", 0.0)  # every block reports: no dependence on speed
    token = CancelToken()
    inside = _listen(token)
    gen = latent.sample_grid(sg2, list(range(16)), batch=16, cancel=token)  # one forward for all 16
    first = next(gen)
    assert first.done == 16 and "eta_s" in first.extra
    # reports from inside the forward, moving through the batch, each with an ETA
    assert len(inside) >= 5 and all("eta_s" in p.extra for p in inside)
    assert [p.done for p in inside] == sorted(p.done for p in inside) and 0 < inside[0].done < 16

    token = CancelToken()
    token.set_listener(lambda p: token.cancel())  # Cancel pressed while the first forward runs
    with pytest.raises(Cancelled):
        next(latent.sample_grid(sg2, list(range(16)), batch=16, cancel=token))


def test_directions_jobs_report_progress_and_cancel(sg2, monkeypatch):
    from ganstudio.core.progress import Cancelled, CancelToken
    from ganstudio.engines.latent import directions as D

    monkeypatch.setattr(D, "MAP_CHUNK", 64)
    token = CancelToken()
    reports = list(_collect(D.pca_job(sg2, k=3, n_samples=512, cancel=token)))
    assert len(reports) >= 512 // 64 and all("eta_s" in p.extra for p in reports)
    assert reports[-1].done == reports[-1].total
    gen = D.pca_job(sg2, k=3, n_samples=512, cancel=token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        next(gen)
    # supervised fitting: the optimiser's evaluations report and check Cancel from inside LBFGS.step
    token = CancelToken()
    inside = _listen(token)
    run_to_completion(D.supervised_job(sg2, [1, 2, 3], [4, 5, 6], cancel=token))
    assert any(p.message == "fitting the boundary" for p in inside)
    token = CancelToken()
    token.set_listener(lambda p: token.cancel())
    with pytest.raises(Cancelled):
        run_to_completion(D.supervised_job(sg2, [1, 2, 3], [4, 5, 6], cancel=token))


def _collect(gen):
    try:
        while True:
            yield next(gen)
    except StopIteration:
        return


def test_projection_cancels_inside_the_backward_pass():
    from ganstudio.core.progress import Cancelled, CancelToken
    from ganstudio.engines.latent import projection

    token = CancelToken()
    x = torch.randn(4, 4, requires_grad=True)
    with projection._backward_watch(token, lambda: None):
        y = (x @ x).relu().sum()
        token.cancel()  # pressed once the forward is done
        with pytest.raises(Cancelled):
            y.backward()


def test_projection_reports_eta(sg2):
    from ganstudio.core.progress import CancelToken
    from ganstudio.engines.latent import projection

    reports = list(_collect(projection.project(sg2, image=np.zeros((32, 32, 3), np.uint8), steps=5,
                                               cancel=CancelToken())))
    assert reports and all("eta_s" in p.extra for p in reports) and reports[-1].done == 5


def test_recipe_module_stands_alone():
    """latent <-> recipe imported each other; the recipe side now imports nothing of the engine."""
    import ast
    import inspect

    from ganstudio.engines.latent import model, recipe

    def imports(mod):
        names = set()
        for node in ast.walk(ast.parse(inspect.getsource(mod))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return names

    assert not {n for n in imports(recipe) if n.startswith("ganstudio.engines")} and "torch" not in imports(recipe)
    assert not {n for n in imports(model) if n.startswith("ganstudio.engines")}


def test_reading_a_recipe_loads_no_model(sg2, tmp_path):
    from ganstudio.checkpoints import cache
    from ganstudio.engines.latent import recipe

    lm = latent.open_model(sg2)
    img = latent.render_state({"seeds": [3]}, model=lm)["images"][0]
    out = recipe.export_png_job(str(tmp_path / "r.png"), img, {"seeds": [3], "model": lm.path}, lm.sha256,
                                lm.family)
    cache.clear_cache()
    state = recipe.read_state_job(out)
    assert state["model"] == lm.path and state["model_sha256"] == lm.sha256 and state["seeds"] == [3]
    assert cache.cache_info()["size"] == 0  # before: read_state_job / export_png_job opened the model


def test_interpolation_and_frames_export_report_eta_and_cancel(sg2, tmp_path):
    from ganstudio.core.progress import CancelToken, Cancelled
    from ganstudio.engines.latent import recipe

    token = CancelToken()
    frames = list(_collect(latent.interpolate(sg2, [1, 2], steps=4, batch=2, cancel=token)))
    assert [p.done for p in frames] == [2, 4, 5] and all("eta_s" in p.extra for p in frames)
    images = np.zeros((4, 8, 8, 3), np.uint8)
    out = tmp_path / "frames"
    out.mkdir()
    gen = recipe.export_frames_job(str(out), list(images), {"seeds": [1, 2]}, "a" * 64, cancel=token)
    first = next(gen)
    assert first.message == "frame 1/4" and "eta_s" in first.extra
    token.cancel()  # Cancel acts before the next frame is written
    with pytest.raises(Cancelled):
        next(gen)
    assert sorted(p.name for p in out.iterdir()) == ["frame_0000.png"]
