"""Tiny generated training data for the trainer tests (named so it cannot clash with other helpers)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def blobs(folder: Path, n: int = 12, size: int = 40, seed: int = 0) -> Path:
    """Coloured squares on dark backgrounds."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = np.zeros((size, size, 3), np.uint8)
        img[:] = rng.integers(0, 60, 3)
        y, x = rng.integers(2, size // 2, 2)
        img[y:y + size // 3, x:x + size // 3] = (220, int(rng.integers(0, 255)), 40)
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def smooth_images(folder: Path, n: int = 8, size: int = 32, seed: int = 0, prefix: str = "") -> Path:
    """Smooth random colour fields (gradients): natural-ish images for translation tasks."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        c = rng.uniform(0, 1, (3, 3))
        img = np.stack([c[k, 0] + c[k, 1] * yy + c[k, 2] * xx for k in range(3)], -1)
        img = (np.clip(img / img.max(), 0, 1) * 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{prefix}{i:03d}.png")
    return folder


def inverted_pairs(root: Path, n: int = 10, size: int = 32, seed: int = 0) -> tuple[Path, Path]:
    """A/ and B/ folders where B is the colour inversion of A (matched by file name)."""
    a = smooth_images(root / "A", n, size, seed)
    b = root / "B"
    b.mkdir(parents=True, exist_ok=True)
    for f in sorted(a.glob("*.png")):
        Image.fromarray(255 - np.asarray(Image.open(f))).save(b / f.name)
    return a, b


def label_photo_pairs(root: Path, n: int = 6, size: int = 64, labels: tuple = (3, 5, 10), seed: int = 0):
    """labels/ (grey PNG of ids) and images/ (a colour per label) matched by stem."""
    rng = np.random.default_rng(seed)
    lab_dir, img_dir = root / "labels", root / "images"
    lab_dir.mkdir(parents=True, exist_ok=True)
    img_dir.mkdir(parents=True, exist_ok=True)
    colours = {3: (80, 160, 230), 5: (30, 120, 40), 10: (90, 200, 60)}
    for i in range(n):
        ids = np.full((size, size), labels[0], np.uint8)
        h = int(rng.integers(size // 4, size // 2))
        ids[h:] = labels[2]
        x = int(rng.integers(0, size // 2))
        ids[h - 8:, x:x + 10] = labels[1]
        img = np.zeros((size, size, 3), np.uint8)
        for k, c in colours.items():
            img[ids == k] = c
        Image.fromarray(ids, mode="L").save(lab_dir / f"{i:03d}.png")
        Image.fromarray(img).save(img_dir / f"{i:03d}.png")
    return lab_dir, img_dir
