"""Painting filter (flattens texture, keeps edges) and the two disjoint photo domains."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from ganstudio.datamakers import paintings
from ganstudio.datamakers.common import rng_for


@pytest.fixture(scope="module")
def crop():
    pool = {p.name: f for p, f in paintings.photo_pool(("skimage",))}
    img = paintings._load(pool["skimage:chelsea"])  # the cat: fur texture and strong edges
    return np.ascontiguousarray(img[20:276, 60:316])


def _local_var(img, k=5):
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    m = cv2.blur(g, (k, k))
    return cv2.blur(g * g, (k, k)) - m * m


def _edges(img):
    g = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 2.0)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))


@pytest.mark.parametrize("style", paintings.STYLES)
def test_filter_flattens_texture_but_keeps_edges(crop, style):
    out, prm = paintings.paint_filter(crop, 5, style)
    assert out.shape == crop.shape and out.dtype == np.uint8 and prm["style"] == style
    # texture: the median local variance (fur, noise) falls a lot
    assert np.median(_local_var(out)) < 0.6 * np.median(_local_var(crop))
    # edges: the large-scale edge maps still agree
    corr = np.corrcoef(_edges(crop).ravel(), _edges(out).ravel())[0, 1]
    assert corr > 0.6


def test_kuwahara_keeps_a_step_edge_and_smooths_noise():
    img = np.zeros((40, 40, 3), np.float32)
    img[:, 20:] = 1.0
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 0.08, img.shape), 0, 1).astype(np.float32)
    out = paintings.kuwahara(noisy, 4)
    assert out[:, 22:].std() < 0.5 * noisy[:, 22:].std()
    assert out[:, :17].mean() < 0.15 and out[:, 23:].mean() > 0.85  # no blur across the edge


def test_filter_is_deterministic(crop):
    a, pa = paintings.paint_filter(crop, rng_for(1, 2), "oil")
    b, pb = paintings.paint_filter(crop, rng_for(1, 2), "oil")
    assert np.array_equal(a, b) and pa == pb


def test_split_is_disjoint_and_covers_the_pool():
    pool = paintings.photo_pool(("skimage",))
    a, b = paintings.split_pool(pool, 0)
    na, nb = {p.name for p, _ in a}, {p.name for p, _ in b}
    assert na and nb and not (na & nb)
    assert na | nb == {p.name for p, _ in pool}
    assert paintings.split_pool(pool, 0) == (a, b)


def test_random_crop_scale_and_flip():
    img = np.arange(300 * 400 * 3, dtype=np.uint32).reshape(300, 400, 3).astype(np.uint8)
    for i in range(5):
        c, info = paintings.random_crop(img, 64, rng_for(0, i))
        assert c.shape == (64, 64, 3)
        x, y, w, h = info["box"]
        assert w == h and 64 <= w <= 300 and x + w <= 400 and y + h <= 300
        assert paintings.random_crop(img, 64, rng_for(0, i), max_zoom=2)[1]["box"][2] <= 128


def test_make_paintings_writes_both_domains_and_sources(tmp_path):
    out = paintings.make_paintings(tmp_path / "p", count=3, size=48, seed=0, test_count=1, progress=False)
    for split, n in (("trainA", 3), ("trainB", 3), ("testA", 1), ("testB", 1)):
        assert len(list((out / split).glob("*.png"))) == n
    doc = json.loads((out / "sources.json").read_text())
    doms = {p["name"]: p["domain"] for p in doc["photos"]}
    assert set(doms.values()) == {"A", "B"}
    assert all(p["license"] for p in doc["photos"])
    crops = [json.loads(line) for line in (out / "crops.jsonl").read_text().splitlines()]
    for rec in crops:
        dom = rec["file"].split("/")[0][-1]
        assert doms[rec["source"]] == dom  # every crop comes from a photo of its own domain
        assert ("filter" in rec) == (dom == "B")


def test_fft_sector_moments_match_direct_filtering():
    x = np.random.default_rng(2).random((40, 52, 3)).astype(np.float32)
    kernels = paintings._sector_kernels(5, 8)
    for (m, s), k in zip(paintings._sector_moments(x, 5, 8), kernels):
        flipped = np.ascontiguousarray(k[::-1, ::-1])  # the FFT path convolves
        assert np.allclose(m, cv2.filter2D(x, -1, flipped, borderType=cv2.BORDER_REFLECT), atol=1e-5)
        assert np.allclose(s, cv2.filter2D(x * x, -1, flipped, borderType=cv2.BORDER_REFLECT), atol=1e-5)
    assert paintings._fast_len(268) == 270 and paintings._fast_len(512) == 512
