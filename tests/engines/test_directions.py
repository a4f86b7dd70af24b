"""Directions: SeFa / PCA orthonormal, supervised recovers a known hyperplane, conditioning, files tied to a model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tiny_models import tiny_stylegan2_file

from ganstudio.engines import latent
from ganstudio.engines.latent import directions as D
from ganstudio.nets import dcgan


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
        D.load_job(str(path), latent.open_model(other).sha256)
    assert D.load_job(str(path), lm.sha256)["names"][-1] == "glasses"


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

    from ganstudio.engines.latent import directions as D

    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([{"format": "x"}], dtype=object), vectors=np.zeros((1, 4)))
    with pytest.raises(D.DirectionsError) as info:
        D.load_directions(path)
    assert "evil.npz is not a GAN Studio directions file" in str(info.value)
    assert "allow_pickle" not in str(info.value)


# ------------------------------------------------------------------------------------------------ hostile files
def _npz(path, header, vectors=None, scales=None, layers=None):
    arrays = {"header": np.array(header if isinstance(header, str) else json.dumps(header))}
    arrays["vectors"] = np.eye(2, 16, dtype=np.float32) if vectors is None else vectors
    arrays["scales"] = np.ones(2, np.float32) if scales is None else scales
    arrays["layers"] = np.array([[0, -1], [0, -1]]) if layers is None else layers
    np.savez(path, **arrays)
    return path


GOOD = {"format": "ganstudio-directions/1", "names": ["a", "b"], "space": "w", "model_sha256": "0" * 64,
        "source": "sefa", "meta": {}}


def _huge_member(path):
    """An .npz whose 'vectors' header claims 10^6 x 10^6 float32 (4 TB) over a few bytes of data."""
    import io
    import zipfile

    _npz(path, GOOD)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    members["vectors.npy"] = buf.getvalue() + b"\0" * 64  # the header (with its magic), then 64 bytes
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return path


@pytest.mark.parametrize("case, why", [
    ("list_header", "not a JSON object"),  # before: AttributeError: 'list' object has no attribute 'get'
    ("no_names", "'names'"),  # before: KeyError: 'names'
    ("huge_array", "more than the file holds"),  # before: MemoryError (numpy allocated what the header claimed)
    ("names_not_texts", "'names'"),
    ("rows_mismatch", "rows of numbers"),
    ("deep_json", "not a GAN Studio directions file"),  # before: RecursionError
    ("not_a_zip", "not a GAN Studio directions file"),
    ("nan_vectors", "NaN"),
])
def test_malformed_directions_are_one_clear_line(tmp_path, case, why):
    path = tmp_path / "d.npz"
    if case == "list_header":
        _npz(path, ["format", "names"])
    elif case == "no_names":
        _npz(path, {k: v for k, v in GOOD.items() if k != "names"})
    elif case == "huge_array":
        _huge_member(path)
    elif case == "names_not_texts":
        _npz(path, {**GOOD, "names": [1, 2]})
    elif case == "rows_mismatch":
        _npz(path, GOOD, vectors=np.ones((3, 16), np.float32))
    elif case == "deep_json":
        _npz(path, "[" * 100_000 + "]" * 100_000)
    elif case == "not_a_zip":
        path.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    elif case == "nan_vectors":
        _npz(path, GOOD, vectors=np.full((2, 16), np.nan, np.float32))
    with pytest.raises(D.DirectionsError) as info:
        D.load_directions(path)
    msg = str(info.value)
    assert msg.startswith("d.npz is not a GAN Studio directions file") and why in msg, msg
    assert "\n" not in msg and "allow_pickle" not in msg and len(msg) < 300


def test_malformed_safetensors_directions(tmp_path):
    from safetensors.numpy import save_file

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(D.DirectionsError, match="bad.safetensors is not a GAN Studio directions file"):
        D.load_directions(bad)
    plain = tmp_path / "plain.safetensors"
    save_file({"vectors": np.zeros((1, 4), np.float32)}, str(plain))
    with pytest.raises(D.DirectionsError, match="no GAN Studio header"):
        D.load_directions(plain)


def test_good_directions_still_load_after_the_checks(tmp_path):
    back = D.load_directions(_npz(tmp_path / "ok.npz", GOOD))
    assert back.names == ["a", "b"] and back.vectors.shape == (2, 16)


def test_typed_direction_names_find_the_sets_own():
    """`ganstudio edit -d smile=2` finds the shipped "Smile"; ambiguous or unknown names find nothing."""
    names = ["Smile", "Hair length", "Hair colour (dark -> light)", "Shirt -> Dress", "Sneaker -> Ankle boot"]
    dirs = D.DirectionSet(names, np.eye(len(names), 8, dtype=np.float32), "w", "0" * 64, "supervised")
    assert dirs.find("Smile") == "Smile"
    assert dirs.find("smile") == "Smile"
    assert dirs.find("hair_length") == "Hair length"
    assert dirs.find("HAIR-COLOUR") == "Hair colour (dark -> light)"  # the only name it starts
    assert dirs.find("shirt_dress") == "Shirt -> Dress"
    assert dirs.find("hair") is None  # two names start with it
    assert dirs.find("glasses") is None
    assert dirs.find("") is None


def test_a_dcgan_reports_its_own_resolution(tmp_path):
    """A 32 px DCGAN (the bundled fashion model's size) says 32, not the official script's 64."""
    torch.manual_seed(0)
    net = dcgan.Generator(nz=8, ngf=4, nc=1, size=32)
    torch.save(net.state_dict(), tmp_path / "netG_32.pth")
    lm = latent.open_model(str(tmp_path / "netG_32.pth"), device="cpu")
    assert lm.resolution == 32 and lm.describe()["resolution"] == 32


def test_a_manifest_entry_whose_directions_file_is_missing_or_foreign_says_so(tmp_path, monkeypatch):
    """describe_model reports why shipped directions cannot be used; the CLI's lookup raises the same."""
    from model_home import isolated_model_home

    from ganstudio.engines.latent.jobs import describe_model, shipped_directions

    isolated_model_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    tiny_stylegan2_file(models / "g.pt", seed=0)
    other = tiny_stylegan2_file(tmp_path / "other.pt", seed=1)
    (models / "manifest" / "latent.json").write_text(json.dumps({"models": [
        {"id": "tiny", "task": "latent", "arch": "stylegan2", "file": "g.pt", "directions": "g_dirs.npz"}]}))

    info = describe_model("tiny", device="cpu")
    assert info["directions"] is None and "g_dirs.npz is missing" in info["directions_error"]
    with pytest.raises(D.DirectionsError, match="is missing"):
        shipped_directions("tiny", latent.open_model("tiny", device="cpu"))

    # a directions file made for another model is refused against this model's sha256
    D.save_directions(models / "g_dirs.npz", D.sefa(latent.open_model(other, device="cpu"), k=2))
    info = describe_model("tiny", device="cpu")
    assert info["directions"] is None and info["directions_error"]
    # and one made for this model is shipped
    D.save_directions(models / "g_dirs.npz", D.sefa(latent.open_model("tiny", device="cpu"), k=2))
    info = describe_model("tiny", device="cpu")
    assert info["directions_error"] == "" and info["directions"]["names"] == ["sefa_0", "sefa_1"]
