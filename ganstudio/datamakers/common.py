"""Shared helpers of the data makers: seeding, noise, the resumable folder writer, source photos.

Determinism: every image ``i`` of a data set is made from ``rng_for(seed, i, stream)`` alone, so a
folder can be generated in chunks, in parallel, or extended later, and the same seed always gives
byte-identical files (PNG via :func:`ganstudio.core.imageio.write_image`, which adds no time stamps).

Only numpy, OpenCV, Pillow, the standard library and ``ganstudio.core`` are imported here (the
datamakers layer rule). The scikit-image sample photos are read as plain files from the installed
``skimage/data`` folder (located with ``importlib.util.find_spec``, without importing scikit-image).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ganstudio.core.files import write_text_atomic
from ganstudio.core.imageio import write_image


class DataMakerError(RuntimeError):
    """A data maker cannot do what was asked; the message is meant for the user."""


# ----------------------------------------------------------------------------------------- seeding
def _stream_key(stream: str) -> int:
    return zlib.crc32(stream.encode("utf-8")) & 0xFFFFFFFF


def rng_for(seed: int, index: int = 0, stream: str = "") -> np.random.Generator:
    """The generator of item ``index`` of data set ``seed`` (``stream`` separates independent uses)."""
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be >= 0")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(index), _stream_key(stream)])))


def as_rng(rng_or_seed) -> np.random.Generator:
    """An ``np.random.Generator`` from a Generator (returned as is), an int seed, or None (seed 0)."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return rng_for(int(rng_or_seed or 0), 0)


# ------------------------------------------------------------------------------------------- noise
def value_noise(rng: np.random.Generator, h: int, w: int, cells: float, octaves: int = 4,
                persistence: float = 0.5) -> np.ndarray:
    """Fractal value noise in about [-1, 1], (h, w) float32: ``octaves`` layers of random grids
    (``cells`` cells across the shorter side for the first, doubling) upsampled bicubically."""
    out = np.zeros((h, w), np.float32)
    amp, total, c = 1.0, 0.0, float(cells)
    for _ in range(max(1, octaves)):
        cell = max(min(h, w) / c, 1.0)
        gh, gw = int(np.ceil(h / cell)) + 3, int(np.ceil(w / cell)) + 3
        grid = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
        big = cv2.resize(grid, (round(float(gw * cell)), round(float(gh * cell))), interpolation=cv2.INTER_CUBIC)
        o = int(cell)
        out += amp * big[o:o + h, o:o + w]
        total += amp
        amp *= persistence
        c *= 2.0
    return out / total


def noise1d(rng: np.random.Generator, n: int = 256, smooth: int = 1) -> np.ndarray:
    """A periodic random table of ``n`` values in [-1, 1] (box-smoothed ``smooth`` times)."""
    t = rng.uniform(-1.0, 1.0, n).astype(np.float32)
    for _ in range(smooth):
        t = (np.roll(t, 1) + t + np.roll(t, -1)) / 3.0
    t /= max(float(np.abs(t).max()), 1e-6)
    return t


def sample1d(table: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Periodic linear interpolation of ``table`` at real positions ``x`` (any shape)."""
    n = len(table)
    i0 = np.floor(x)
    f = (x - i0).astype(np.float32)
    i0 = i0.astype(np.int64) % n
    return table[i0] * (1 - f) + table[(i0 + 1) % n] * f


def smoothstep(e0: float, e1: float, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 (rounded, clipped)."""
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def downscale(img: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Area-average downscale to ``size`` (int = square) or (w, h)."""
    wh = (size, size) if isinstance(size, int) else size
    if img.shape[1] == wh[0] and img.shape[0] == wh[1]:
        return img
    return cv2.resize(img, wh, interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------------------- source photos
@dataclass(frozen=True)
class SourcePhoto:
    name: str          # stable id, e.g. "skimage:astronaut"
    path: str          # file name inside its origin
    origin: str        # "scikit-image" or a Debian package name
    license: str
    credit: str
    kind: str = "photo"  # "photo" or "texture"
    package: str = ""    # the Debian .deb it came from, if any


# Licences as stated in each skimage.data function's docstring (scikit-image 0.26), read one by one.
# Left out on purpose: motorcycle_left/right (Middlebury stereo set: no licence statement in the
# docstring), camera/coins/clock/page/text (grey), retina/immunohistochemistry/cells and
# hubble_deep_field (not everyday scenes).
SKIMAGE_PHOTOS: dict[str, SourcePhoto] = {
    p.name: p for p in [
        SourcePhoto("skimage:astronaut", "astronaut.png", "scikit-image",
                    "Public domain (NASA; 'No known copyright restrictions, released into the public domain')",
                    "NASA Great Images database: Eileen Collins"),
        SourcePhoto("skimage:coffee", "coffee.png", "scikit-image", "CC0",
                    "Rachel Michetti, courtesy of Pikolo Espresso Bar"),
        SourcePhoto("skimage:chelsea", "chelsea.png", "scikit-image", "CC0", "Stefan van der Walt"),
        SourcePhoto("skimage:rocket", "rocket.jpg", "scikit-image", "Public domain (released by SpaceX)",
                    "SpaceX: DSCOVR launch on Falcon 9"),
    ]
}
SKIMAGE_TEXTURES: dict[str, SourcePhoto] = {
    p.name: p for p in [
        SourcePhoto("skimage:grass", "grass.png", "scikit-image", "CC0",
                    "DeviantArt linolafett 'Grass-01' (cropped, grey, by scikit-image)", "texture"),
        SourcePhoto("skimage:gravel", "gravel.png", "scikit-image", "CC0",
                    "CC0Textures Gravel04 (rescaled, cropped, grey, by scikit-image)", "texture"),
        SourcePhoto("skimage:brick", "brick.png", "scikit-image", "CC0",
                    "CC0Textures Bricks25 (perspective-corrected, cropped, grey, by scikit-image)", "texture"),
    ]
}


def skimage_data_dir() -> Path:
    """The installed ``skimage/data`` folder (scikit-image is not imported)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DataMakerError("scikit-image is not installed; its sample photos and CC0 textures are the data "
                             "source here (pip install scikit-image)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not folder.is_dir():
        raise DataMakerError(f"scikit-image has no data folder at {folder}")
    return folder


_IMAGE_CACHE: dict[str, np.ndarray] = {}


def read_rgb(path: Path | str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (grey is expanded), cached per process."""
    key = str(path)
    img = _IMAGE_CACHE.get(key)
    if img is None:
        data = np.fromfile(str(path), np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if img is None:
            raise DataMakerError(f"cannot read the image {path}")
        img = np.ascontiguousarray(img[:, :, ::-1])
        _IMAGE_CACHE[key] = img
    return img


def read_grey(path: Path | str) -> np.ndarray:
    key = "grey:" + str(path)
    img = _IMAGE_CACHE.get(key)
    if img is None:
        img = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DataMakerError(f"cannot read the image {path}")
        _IMAGE_CACHE[key] = img
    return img


def skimage_texture(name: str) -> np.ndarray:
    """A 512x512 grey CC0 texture from skimage.data: "grass", "gravel" or "brick"."""
    return read_grey(skimage_data_dir() / SKIMAGE_TEXTURES[f"skimage:{name}"].path)


# ------------------------------------------------------------------------------------------ output
def file_name(index: int, ext: str = ".png") -> str:
    return f"{index:06d}{ext}"


def write_png(path: Path | str, img: np.ndarray) -> None:
    """Atomic, deterministic PNG (no time stamps)."""
    write_image(Path(path), np.ascontiguousarray(img))


def check_meta(out_dir: Path, meta: dict) -> None:
    """Write ``meta.json`` into a new folder, or refuse to add to a folder made with other settings."""
    path = out_dir / "meta.json"
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataMakerError(f"{path} is unreadable ({exc}); use a new output folder") from exc
        diff = [k for k in meta if k != "count" and old.get(k) != meta[k]]
        if diff:
            listed = ", ".join(f"{k}: folder has {old.get(k)!r}, asked {meta[k]!r}" for k in diff)
            raise DataMakerError(f"{out_dir} was made with other settings ({listed}); "
                                 "use a new output folder or the same settings")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def merge_jsonl(path: Path, records: Iterable[dict], key: str = "file") -> list[dict]:
    """Merge ``records`` into a JSON-lines file (by ``key``; new ones win), sorted by key; atomic."""
    merged = {r[key]: r for r in read_jsonl(path)}
    for r in records:
        merged[r[key]] = r
    rows = [merged[k] for k in sorted(merged)]
    write_text_atomic(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return rows


def run_items(job: Callable[[int], object], indices: Sequence[int], *, workers: int = 1,
              desc: str = "", progress: bool = True) -> list:
    """``[job(i) for i in indices]``, in order, on ``workers`` processes, with a tqdm bar.

    ``job`` must be picklable for workers > 1 (a module-level function or a functools.partial of one).
    """
    indices = list(indices)
    bar = None
    if progress and indices:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(indices), desc=desc, unit="img", dynamic_ncols=True)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            bar = None
    results: list = []
    try:
        if workers <= 1 or len(indices) < 2:
            for i in indices:
                results.append(job(i))
                if bar is not None:
                    bar.update(1)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork" if hasattr(os, "fork") else "spawn")
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for r in pool.imap(job, indices, chunksize=max(1, min(64, len(indices) // (workers * 8)))):
                    results.append(r)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results


def _worker_init() -> None:
    cv2.setNumThreads(1)


def contact_sheet(images: Sequence[np.ndarray], cols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Same-height RGB tiles in rows of ``cols`` with ``pad`` pixels between them."""
    h = max(im.shape[0] for im in images)
    w = max(im.shape[1] for im in images)
    rows = (len(images) + cols - 1) // cols
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), fill, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        if im.ndim == 2:
            im = np.repeat(im[:, :, None], 3, 2)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + im.shape[0], x:x + im.shape[1]] = im
    return out


# ---------------------------------------------------------------------------------- Debian packages
def default_cache_dir() -> Path:
    """Where fetched Debian packages are unpacked: ``<user cache>/datamakers``."""
    from ganstudio.core.paths import user_cache_dir

    return user_cache_dir() / "datamakers"


def fetch_deb(package: str, cache_dir: Path | str | None = None) -> Path:
    """Unpack the Debian package ``package`` into ``cache_dir/package`` (once) and return that folder.

    A ``package_*.deb`` already in ``cache_dir`` is used as it is (offline); otherwise it is fetched with
    ``apt-get download`` (no root needed) into a temporary folder and unpacked with ``dpkg -x``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / package
    marker = root / ".unpacked"
    if marker.exists():
        return root
    dpkg = shutil.which("dpkg-deb") or shutil.which("dpkg")
    if dpkg is None:
        raise DataMakerError(f"cannot unpack {package}: dpkg is not installed (a Debian/Ubuntu system is needed)")
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{package}.") as tmp:
        debs = sorted(cache.glob(f"{package}_*.deb"))
        if not debs:
            apt = shutil.which("apt-get")
            if apt is None:
                raise DataMakerError(f"cannot fetch {package}: apt-get is not installed; put {package}_*.deb "
                                     f"into {cache} by hand")
            try:
                r = subprocess.run([apt, "download", package], cwd=tmp, capture_output=True, text=True,
                                   timeout=900, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise DataMakerError(f"apt-get download {package} failed: {exc}") from exc
            debs = sorted(Path(tmp).glob(f"{package}_*.deb"))
            if r.returncode != 0 or not debs:
                msg = (r.stderr or r.stdout).strip().splitlines()
                raise DataMakerError(f"apt-get download {package} failed: {' / '.join(msg[-3:]) or 'no .deb'}; "
                                     f"put {package}_*.deb into {cache} by hand to work offline")
        out = Path(tmp) / "root"
        try:
            subprocess.run([dpkg, "-x", str(debs[0]), str(out)], check=True, capture_output=True, timeout=900)
        except (OSError, subprocess.SubprocessError) as exc:
            raise DataMakerError(f"cannot unpack {debs[0].name}: {exc}") from exc
        (out / ".unpacked").write_text(debs[0].name + "\n", encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        os.replace(out, root)
    return root
