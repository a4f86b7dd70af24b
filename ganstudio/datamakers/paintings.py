"""Two unpaired domains for the ``painting`` CycleGAN: real photos (A) and painting-like renderings (B).

The photo pool (scikit-image's public-domain / CC0 photos, optionally the photos of the Debian
wallpaper packages ``mate-backgrounds`` and ``plasma-workspace-wallpapers``, GPL-2+) is split into two
*disjoint* halves: domain A are random crops of the first half as they are; domain B are random crops of
the other half passed through :func:`paint_filter`, so the generator never sees the same photo on both
sides. ``sources.json`` records every photo, its licence and its domain.

The painting look (numpy + OpenCV, ~20 ms for 256 px): a generalised Kuwahara filter (Papari et al. 2007:
8 Gaussian-weighted sectors, each sector's mean weighted by its inverse variance) flattens texture into
brush-sized patches while keeping edges; then soft colour quantisation of the lightness, darkened
edges, a saturation lift and a canvas (oil) or paper (watercolour) texture.

API: ``paint_filter(img, rng_or_seed, style="oil") -> (img, params)``, ``photo_pool(sources, cache_dir)``,
``split_pool(pool, seed)``, ``random_crop(photo, size, rng)``, ``make_paintings(out_dir, count, size, seed, ...)``.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import cv2
import numpy as np

from ganstudio.core.files import write_text_atomic
from ganstudio.datamakers.common import (
    SKIMAGE_PHOTOS,
    DataMakerError,
    SourcePhoto,
    as_rng,
    check_meta,
    fetch_deb,
    file_name,
    merge_jsonl,
    read_rgb,
    rng_for,
    run_items,
    skimage_data_dir,
    value_noise,
    write_png,
)

VERSION = 1
STYLES = ("oil", "watercolor")

# Photos (not artwork) of the Debian wallpaper packages, checked one by one. Licence: GPL-2+
# (each package's usr/share/doc/<package>/copyright); credits from those files.
_MATE = "usr/share/backgrounds/mate/nature/"
MATE_PHOTOS = {
    "Aqua": "Charles Barbin", "Blinds": "Lennart Poettering, Andrea Cimitan", "Dune": "Marco Cogoni, Hylke Bons",
    "FreshFlower": "Jens Ansorg", "Garden": "Charles Barbin", "GreenMeadow": "Timothy Schellhase, Lapo Calamandrei",
    "LadyBird": "Charles Barbin", "RainDrops": "blackcombwhistler07", "Storm": "Sergey Nazarov",
    "TwoWings": "Charles Barbin, Hylke Bons", "Wood": "Jean-Francois Fortin Tam", "YellowFlower": "Charles Barbin",
}
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                 "Kite", "OneStandsOut", "Path", "summer_1am")
SOURCES = ("skimage", "mate", "plasma")
_MAX_SIDE = 1600  # photos are kept at most this large in memory


@functools.cache
def _load(path: str) -> np.ndarray:
    img = read_rgb(path)
    h, w = img.shape[:2]
    s = _MAX_SIDE / max(h, w)
    if s < 1:
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    return img


def _deb_name(root: Path) -> str:
    marker = root / ".unpacked"
    return marker.read_text(encoding="utf-8").strip() if marker.exists() else ""


def photo_pool(sources=("skimage",), cache_dir=None) -> list[tuple[SourcePhoto, str]]:
    """[(SourcePhoto, file path)] of the chosen sources ("skimage", "mate", "plasma"), sorted by name.

    "mate" / "plasma" fetch the Debian packages into ``cache_dir`` (see :func:`fetch_deb`)."""
    out: list[tuple[SourcePhoto, str]] = []
    for src in sources:
        if src == "skimage":
            d = skimage_data_dir()
            out += [(p, str(d / p.path)) for p in SKIMAGE_PHOTOS.values()]
        elif src == "mate":
            root = fetch_deb("mate-backgrounds", cache_dir)
            deb = _deb_name(root)
            for name, credit in MATE_PHOTOS.items():
                f = root / _MATE / f"{name}.jpg"
                if f.exists():
                    out.append((SourcePhoto(f"mate:{name}", f"{_MATE}{name}.jpg", "mate-backgrounds (Debian)",
                                            "GPL-2+", credit, package=deb), str(f)))
        elif src == "plasma":
            root = fetch_deb("plasma-workspace-wallpapers", cache_dir)
            deb = _deb_name(root)
            for name in PLASMA_PHOTOS:
                imgs = sorted((root / "usr/share/wallpapers" / name / "contents/images").glob("*"),
                              key=lambda f: (-f.stat().st_size, f.name))
                imgs = [f for f in imgs if not f.is_symlink()]
                if imgs:
                    rel = imgs[0].relative_to(root).as_posix()
                    out.append((SourcePhoto(f"plasma:{name}", rel, "plasma-workspace-wallpapers (Debian)", "GPL-2+",
                                            "KDE Visual Design Group", package=deb), str(imgs[0])))
        else:
            raise DataMakerError(f"unknown photo source {src!r}; use {', '.join(SOURCES)}")
    if len(out) < 2:
        raise DataMakerError("need at least two source photos to make two disjoint domains")
    return sorted(out, key=lambda t: t[0].name)


def split_pool(pool, seed: int):
    """Split the pool into two disjoint halves (A: photos, B: paintings), shuffled by ``seed``.
    Each source keeps half of its photos on each side."""
    rng = rng_for(seed, 0, "paintings-split")
    a, b = [], []
    by_origin: dict[str, list] = {}
    for item in pool:
        by_origin.setdefault(item[0].origin, []).append(item)
    seq = []
    for origin in sorted(by_origin):
        items = by_origin[origin]
        seq += [items[j] for j in rng.permutation(len(items))]
    for k, item in enumerate(seq):
        (a if k % 2 == 0 else b).append(item)
    return sorted(a, key=lambda t: t[0].name), sorted(b, key=lambda t: t[0].name)


def random_crop(photo: np.ndarray, size: int, rng: np.random.Generator, max_zoom: float | None = None):
    """A square crop at a random scale (its side log-uniform from ``size`` to the photo's short side, or
    to ``max_zoom`` x ``size``), random position, random horizontal flip, area-resized to ``size``
    -> (crop, info)."""
    h, w = photo.shape[:2]
    short = min(h, w)
    lo = min(size, short)
    hi = max(lo, short if max_zoom is None else min(short, int(size * max_zoom)))
    side = round(float(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    flip = bool(rng.random() < 0.5)
    crop = photo[y:y + side, x:x + side]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC)
    if flip:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop), {"box": [x, y, side, side], "flip": int(flip)}


# ------------------------------------------------------------------------------------------ filter
@functools.lru_cache(maxsize=16)
def _sector_kernels(radius: int, n: int = 8) -> list[np.ndarray]:
    """Papari's generalised Kuwahara weights: n smooth angular sectors times a Gaussian of the radius."""
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    dist = np.sqrt(xx * xx + yy * yy)
    g = np.exp(-dist ** 2 / (2 * (r / 2.0) ** 2)) * (dist <= r + 0.5)
    ang = np.arctan2(yy, xx)
    ks = []
    for k in range(n):
        th = 2 * np.pi * k / n
        d = np.angle(np.exp(1j * (ang - th)))
        wk = np.clip(np.cos(d * n / 4.0), 0, None) ** 2 * (np.abs(d) < np.pi * 2 / n)
        wk[r, r] = 1.0 / n
        kk = (g * wk).astype(np.float32)
        ks.append(kk / kk.sum())
    return ks


def _fast_len(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (fast FFT length)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _sector_moments(x: np.ndarray, radius: int, sectors: int):
    """(mean, mean of squares) of ``x`` (H, W, 3) under each sector kernel: direct filtering for small
    kernels, batched FFTs for large ones (the sector kernels are not separable). The FFT path convolves
    (the kernel flipped, i.e. the opposite sector), which the sum over all sectors does not notice."""
    kernels = _sector_kernels(int(radius), sectors)
    x2 = x * x
    if radius <= 3:
        for k in kernels:
            yield (cv2.filter2D(x, -1, k, borderType=cv2.BORDER_REFLECT),
                   cv2.filter2D(x2, -1, k, borderType=cv2.BORDER_REFLECT))
        return
    r = int(radius)
    h, w = x.shape[:2]
    pad = cv2.copyMakeBorder(np.concatenate([x, x2], 2), r, r, r, r, cv2.BORDER_REFLECT)
    H, W = _fast_len(pad.shape[0]), _fast_len(pad.shape[1])  # zero tail: never reaches the kept window
    pad = cv2.copyMakeBorder(pad, 0, H - pad.shape[0], 0, W - pad.shape[1], cv2.BORDER_CONSTANT, value=0)
    spectra = [cv2.dft(np.ascontiguousarray(pad[:, :, c]), flags=cv2.DFT_COMPLEX_OUTPUT) for c in range(6)]
    for k in kernels:
        kp = np.zeros((H, W), np.float32)
        kp[:k.shape[0], :k.shape[1]] = k
        kf = cv2.dft(kp, flags=cv2.DFT_COMPLEX_OUTPUT)
        out = np.stack([cv2.idft(cv2.mulSpectrums(f, kf, 0), flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
                        [2 * r:2 * r + h, 2 * r:2 * r + w] for f in spectra], -1)
        yield out[:, :, :3], out[:, :, 3:]


def kuwahara(img: np.ndarray, radius: int = 5, q: float = 8.0, sectors: int = 8) -> np.ndarray:
    """Generalised (Papari) Kuwahara filter of a float32 RGB image in [0, 1]."""
    x = img.astype(np.float32)
    num = np.zeros_like(x)
    den = np.zeros(x.shape[:2], np.float32)
    for m, s in _sector_moments(x, int(radius), sectors):
        std = np.sqrt(np.maximum(s - m * m, 0).sum(-1)) * (255.0 / 2.0)  # in units of 2 grey levels
        a = 1.0 / (1.0 + std ** q)
        num += m * a[:, :, None]
        den += a
    return num / np.maximum(den, 1e-12)[:, :, None]


def paint_filter(img: np.ndarray, rng_or_seed=0, style: str = "oil") -> tuple[np.ndarray, dict]:
    """A painting-like rendering of an RGB uint8 photo -> (uint8 image, the parameters used)."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    rng = as_rng(rng_or_seed)
    h, w = img.shape[:2]
    scale = min(h, w) / 256.0
    x = img.astype(np.float32) / 255.0
    prm: dict = {"style": style}
    if style == "oil":
        r = max(3, round(float(rng.uniform(4, 7) * scale)))
        prm.update(radius=r, q=8.0)
        y = kuwahara(x, r, 8.0)
        y = kuwahara(y, max(2, r // 2), 8.0)
    else:
        r = max(3, round(float(rng.uniform(3, 5) * scale)))
        prm.update(radius=r, q=6.0)
        y = kuwahara(x, r, 6.0)
    # soft quantisation of lightness (flat paint patches), saturation lift
    lab = cv2.cvtColor(y, cv2.COLOR_RGB2Lab)
    levels = int(rng.integers(6, 12)) if style == "oil" else int(rng.integers(5, 9))
    prm["levels"] = levels
    L = lab[:, :, 0] / 100.0
    t = L * levels
    f = t - np.floor(t)
    soft = np.floor(t) + 0.5 + 0.5 * np.tanh((f - 0.5) * 6.0) / np.tanh(3.0)
    lab[:, :, 0] = np.clip(0.55 * L + 0.45 * soft / levels, 0, 1) * 100.0
    sat = float(rng.uniform(1.1, 1.35)) if style == "oil" else float(rng.uniform(0.85, 1.05))
    prm["saturation"] = round(sat, 3)
    lab[:, :, 1:] *= sat
    y = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1)
    # edges: darkened outlines where the painted image changes
    grey = cv2.cvtColor(y, cv2.COLOR_RGB2GRAY)
    sg = max(1.0, scale)
    g1 = cv2.GaussianBlur(grey, (0, 0), 1.0 * sg)
    g2 = cv2.GaussianBlur(grey, (0, 0), 2.0 * sg)
    dog = np.clip((g2 - g1) * 12.0, 0, 1)
    ink = float(rng.uniform(0.25, 0.5)) if style == "oil" else float(rng.uniform(0.4, 0.7))
    prm["edge_darkening"] = round(ink, 3)
    y = y * (1 - ink * dog)[:, :, None]
    tex_rng = rng_for(int(rng.integers(0, 2**31 - 1)), 0, "canvas")
    if style == "oil":  # canvas weave + brush-stroke relief
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        period = max(3.0 * scale, 3.0)
        weave = np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)
        relief = value_noise(tex_rng, h, w, 40.0 * scale, octaves=2)
        emb = cv2.Sobel(cv2.GaussianBlur(grey, (0, 0), 1.5 * sg), cv2.CV_32F, 1, 1, ksize=3)
        y = y * (1 + 0.015 * weave + 0.03 * relief + np.clip(emb * 1.0, -0.05, 0.05))[:, :, None]
    else:  # watercolour: lighter washes, pigment pooling at edges, paper grain
        paper = value_noise(tex_rng, h, w, 40.0 * scale, octaves=3)
        y = 1 - (1 - y) * (0.84 + 0.05 * paper[:, :, None])
        wet = cv2.GaussianBlur(dog, (0, 0), 1.5 * sg)
        y = y * (1 - 0.25 * wet)[:, :, None]
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8), prm


# ------------------------------------------------------------------------------------------ folders
def _painting_job(i: int, out_dir: str, split: str, seed: int, size: int, pool: tuple, style: str) -> dict:
    """One crop of folder ``split`` (trainA, trainB, testA, testB)."""
    path = Path(out_dir) / split / file_name(i)
    rng = rng_for(seed, i, f"paintings-{split}")
    k = int(rng.integers(0, len(pool)))
    name, fpath = pool[k]
    photo = _load(fpath)
    crop, info = random_crop(photo, size, rng)
    rec = {"file": f"{split}/{path.name}", "source": name, **info, "photo_size": [photo.shape[1], photo.shape[0]]}
    st = style if style != "mix" else ("oil" if rng.random() < 0.6 else "watercolor")
    if split.endswith("B"):
        crop, prm = paint_filter(crop, rng_for(seed, i, f"paintings-filter-{split}"), st)
        rec["filter"] = prm
    if not path.exists():
        write_png(path, crop)
    return rec


def make_paintings(out_dir, count: int, size: int = 256, seed: int = 0, start: int = 0, workers: int = 1,
                   test_count: int | None = None, sources=("skimage",), style: str = "oil", cache_dir=None,
                   progress: bool = True) -> Path:
    """Write ``trainA/ trainB/`` (``count`` crops each), ``testA/ testB/`` (``test_count`` each, default
    count // 10, at least 1), ``sources.json`` and ``crops.jsonl`` into ``out_dir``; resumable."""
    if style not in STYLES + ("mix",):
        raise DataMakerError(f"style must be one of {', '.join(STYLES + ('mix',))}")
    out = Path(out_dir)
    sources = tuple(sources)
    pool = photo_pool(sources, cache_dir)
    a, b = split_pool(pool, seed)
    check_meta(out, {"maker": "paintings", "version": VERSION, "seed": int(seed), "size": int(size),
                     "sources": list(sources), "style": style})
    doc = {
        "domains": {"A": "photos, random crops as they are", "B": f"other photos, random crops, paint_filter style={style}"},
        "filter": "generalised Kuwahara (8 sectors) + soft lightness quantisation + edge darkening + canvas/paper "
                  "texture (ganstudio.datamakers.paintings.paint_filter)",
        "photos": [{"name": p.name, "file": p.path, "origin": p.origin, "license": p.license, "credit": p.credit,
                    "domain": dom, **({"package": p.package} if p.package else {})}
                   for dom, half in (("A", a), ("B", b)) for p, _ in half],
        "crop_boxes": "x, y, side in the photo scaled to at most 1600 px on its long side (photo_size)",
    }
    write_text_atomic(out / "sources.json", json.dumps(doc, indent=2) + "\n")
    n_test = max(1, count // 10) if test_count is None else int(test_count)
    rows = []
    for split, half, n, first in (("trainA", a, count, start), ("trainB", b, count, start),
                                  ("testA", a, n_test, 0), ("testB", b, n_test, 0)):
        (out / split).mkdir(parents=True, exist_ok=True)
        if n <= 0:
            continue
        job = functools.partial(_painting_job, out_dir=str(out), split=split, seed=int(seed), size=int(size),
                                pool=tuple((p.name, f) for p, f in half), style=style)
        rows += run_items(job, range(first, first + n), workers=workers, desc=split, progress=progress)
    merge_jsonl(out / "crops.jsonl", rows)
    return out
