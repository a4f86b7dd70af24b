"""Directions: SeFa / PCA orthonormal, supervised recovers a known hyperplane, conditioning, files tied to a model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganstudio.engines import directions as D
from ganstudio.engines import latent
from ganstudio.nets import dcgan

from tiny_models import tiny_stylegan2_file


@pytest.fixture
def sg2(tmp_path):
    return tiny_stylegan2_file(tmp_path / "a.pt")


def _orthonormal(v, atol=1e-5):
    return np.allclose(v @ v.T, np.eye(len(v)), atol=atol)


def test_sefa_orthonormal_and_matches_eigenvectors(sg2):
    d = D.sefa(sg2, k=6)
    assert d.vectors.shape == (6, 16) and d.space == "w" and _orthonormal(d.vectors)
    ev = d.meta["eigenvalues"]
    assert ev == sorted(ev, reverse=True)
    # independent check: the first direction maximises |A v| over unit v
    g = latent.open_model(sg2).net
    mats = [g.conv1.conv.modulation.weight] + [c.conv.modulation.weight for c in g.convs]
    a = torch.cat([m / m.norm(dim=1, keepdim=True) for m in mats]).detach().numpy().astype(np.float64)
    top = np.linalg.svd(a)[2][0]
    assert abs(float(top @ d.vectors[0])) > 0.999
    # a layer range uses fewer layers and gives other directions
    d2 = D.sefa(sg2, k=3, layers=(0, 3))
    assert _orthonormal(d2.vectors) and d2.layers[0] == (0, 3)
    assert abs(float(d2.vectors[0] @ d.vectors[0])) < 0.999


def test_sefa_dcgan(tmp_path):
    torch.manual_seed(0)
    torch.save(dcgan.Generator(8, 8, 3).state_dict(), tmp_path / "g.pth")
    d = D.sefa(str(tmp_path / "g.pth"), k=8)
    assert d.space == "z" and _orthonormal(d.vectors)


def test_pca_orthonormal_sorted(sg2):
    d = D.pca(sg2, k=5, n_samples=1000)
    assert _orthonormal(d.vectors) and np.all(np.diff(d.scales) <= 1e-6)
    lm = latent.open_model(sg2)
    w = latent.map_z(lm, torch.randn(1000, 16, generator=torch.Generator().manual_seed(0)).numpy())
    proj_std = np.std((w - w.mean(0)) @ d.vectors[0])
    assert np.isclose(proj_std, d.scales[0], rtol=1e-3)


def test_supervised_recovers_known_hyperplane_in_z(sg2):
    rng = np.random.default_rng(1)
    truth = rng.standard_normal(16)
    truth /= np.linalg.norm(truth)
    z = rng.standard_normal((400, 16)).astype(np.float32)
    labels = z @ truth + 0.2 > 0
    d = D.supervised(sg2, z[labels], z[~labels], name="smile", space="z")
    assert d.space == "z" and d.names == ["smile"]
    cos = float(d.vectors[0] @ truth)
    assert cos >= 0.9, cos


def test_supervised_from_seeds_in_w(sg2):
    d = D.supervised(sg2, [1, 2, 3, 4], [5, 6, 7, 8])
    assert d.space == "w" and np.isclose(np.linalg.norm(d.vectors[0]), 1, atol=1e-5)
    with pytest.raises(D.DirectionsError):
        D.supervised(sg2, [1, 2], [])


def test_conditioning_projects_out():
    v = np.array([1.0, 1.0, 0.0])
    c = D.condition(v, [np.array([1.0, 0.0, 0.0])])
    assert np.allclose(c, [0, 1, 0])
    c2 = D.condition(np.array([1.0, 2.0, 3.0]), np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]))
    assert np.allclose(c2, [0, 0, 1])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_load_tied_to_model(sg2, tmp_path, suffix):
    d = D.sefa(sg2, k=3).extend(D.supervised(sg2, [1, 2, 3], [4, 5, 6], name="glasses"))
    path = D.save_directions(tmp_path / f"dirs{suffix}", d)
    lm = latent.open_model(sg2)
    back = D.load_directions(path, lm.sha256)
    assert back.names == ["sefa_0", "sefa_1", "sefa_2", "glasses"] and back.source == "mixed"
    assert np.array_equal(back.vectors, d.vectors) and np.array_equal(back.scales, d.scales)
    other = tiny_stylegan2_file(tmp_path / "b.pt", seed=1)
    with pytest.raises(D.DirectionsError, match="another model"):
        D.load_job(str(path), other)
    assert D.load_job(str(path), sg2)["names"][-1] == "glasses"


def test_not_a_directions_file(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    with pytest.raises(D.DirectionsError, match="not a GAN Studio"):
        D.load_directions(tmp_path / "x.npz")


def test_edits_apply_strengths(sg2):
    d = D.sefa(sg2, k=2)
    lm = latent.open_model(sg2)
    base = latent.render_state({"seeds": [5]}, model=lm)
    same = latent.render_state({"wplus": base["wplus"], "edits": d.edits({"sefa_0": 0.0})}, model=lm)
    moved = latent.render_state({"wplus": base["wplus"], "edits": d.edits({"sefa_0": 5.0})}, model=lm)
    assert np.array_equal(same["images"], base["images"])
    assert not np.array_equal(moved["images"], base["images"])


def test_a_pickled_npz_is_refused_without_advising_allow_pickle(tmp_path):
    import numpy as np
    import pytest

    from ganstudio.engines import directions as D

    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([{"format": "x"}], dtype=object), vectors=np.zeros((1, 4)))
    with pytest.raises(D.DirectionsError) as info:
        D.load_directions(path)
    assert "evil.npz is not a GAN Studio directions file" in str(info.value)
    assert "allow_pickle" not in str(info.value)
