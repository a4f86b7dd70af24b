"""Training data: the folder checks that run before step 1, the datasets, and the resumable sample order.

Checks (``check_images`` / ``match_pairs`` / the recipes' ``check_data``), each a clear message before any
training step, never a crash later: an empty folder, too few images, unreadable or non-image files (listed,
then skipped), mixed modes and sizes (converted, and said), A/B or label/photo pairs that do not match
(listed), label ids outside the label set, images smaller than the crop.

Order and randomness. The n-th sample a run ever draws (its *position*) decides everything about it: the
epoch's permutation comes from (seed, epoch) and the augmentation (crop, flip) from (seed, position). So a
resumed run, a run with a different number of DataLoader workers, and a multi-process run all see exactly
the samples an uninterrupted single-process run sees; the checkpoint stores only the step.

Small folders are decoded once and kept in memory (resized to at most twice the training size); larger ones
are decoded in DataLoader worker processes.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ganstudio.core.batch import gather_inputs
from ganstudio.core.errors import InputError, UserError
from ganstudio.core.imageio import read_image

log = logging.getLogger(__name__)

# decode a folder into memory when its images, stored at up to 2x the training size, fit in this
CACHE_BYTES = 1_500_000_000


class DataError(UserError, ValueError):
    """Training data that cannot be used, said in plain words (and listing the files concerned)."""


@dataclass
class DataReport:
    """What the data check found, for the CLI, the Train tab and the run's config."""

    files: list = field(default_factory=list)  # usable files (Path), in order
    unreadable: list = field(default_factory=list)  # (path, reason)
    notes: list = field(default_factory=list)  # e.g. "12 grey images converted to RGB"
    unmatched: list = field(default_factory=list)  # pair problems: (path, reason)
    sizes: tuple = (0, 0)  # smallest (width, height) seen

    def summary(self, what: str = "images") -> str:
        s = f"{len(self.files)} {what}"
        if self.unreadable:
            names = ", ".join(Path(p).name for p, _ in self.unreadable[:3])
            more = f" and {len(self.unreadable) - 3} more" if len(self.unreadable) > 3 else ""
            s += f", {len(self.unreadable)} unreadable: {names}{more} (skipped)"
        if self.unmatched:
            s += f", {len(self.unmatched)} without a partner (skipped)"
        return s


def _stable_int(*parts) -> int:
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(h, "little")


def sample_rng(seed: int, position: int) -> np.random.Generator:
    """The random stream of one sample (its crop, flip, degradation): a function of (seed, position) only."""
    return np.random.default_rng(_stable_int("sample", seed, position))


def list_files(folder, what: str = "images") -> list[Path]:
    """Image files under ``folder`` (recursive, sorted), through the batch runner's input rules."""
    p = Path(folder) if folder else None
    if p is None or not str(folder):
        raise DataError(f"no folder of {what} given")
    if not p.exists():
        raise DataError(f"the {what} folder {p} does not exist")
    if not p.is_dir():
        raise DataError(f"{p} is not a folder (give the folder that holds the {what})")
    try:
        return [f for f, _rel in gather_inputs([p], recursive=True)]
    except InputError as exc:
        raise DataError(str(exc)) from exc


# folders up to this many images are decoded completely by the check (a truncated file is found before step
# 1); larger ones have their headers read, and a file that fails to decode later is replaced by another
DECODE_CHECK_LIMIT = 5000


def check_images(folder, *, min_count: int = 1, min_side: int = 0, what: str = "images",
                 decode: Optional[bool] = None, cancel=None) -> DataReport:
    """Read every image's header (and decode it when ``decode``; default: for folders up to
    DECODE_CHECK_LIMIT images): unreadable files are listed and skipped. Raises DataError for an empty
    folder, too few usable images, or every image smaller than ``min_side``."""
    files = list_files(folder, what)
    if decode is None:
        decode = len(files) <= DECODE_CHECK_LIMIT
    if not files:
        raise DataError(f"the {what} folder {folder} holds no images (png, jpg, webp, tif, bmp, gif)")
    report = DataReport()
    modes: dict[str, int] = {}
    sizes: dict[tuple, int] = {}
    small: list[Path] = []
    for f in files:
        if cancel is not None:
            cancel.check()
        try:
            if decode:
                img = read_image(f)
                w, h, mode = img.width, img.height, img.source_mode or "?"
            else:
                from PIL import Image

                with Image.open(f) as im:
                    (w, h), mode = im.size, im.mode
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one line in the report
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            report.unreadable.append((f, reason.replace(f"{f}: ", "")))
            continue
        if min_side and min(w, h) < min_side:
            small.append(f)
            continue
        modes[mode] = modes.get(mode, 0) + 1
        sizes[(w, h)] = sizes.get((w, h), 0) + 1
        report.files.append(f)
    if small:
        report.unreadable += [(f, f"smaller than {min_side} px on a side (the training crop)") for f in small]
    if len(report.files) < min_count:
        detail = f"; {report.summary(what)}" if report.unreadable else ""
        raise DataError(f"the {what} folder {folder} has {len(report.files)} usable image(s); this task needs at "
                        f"least {min_count}{detail}")
    if len(modes) > 1:
        report.notes.append("mixed image modes (" + ", ".join(f"{n} {m}" for m, n in sorted(modes.items()))
                            + "): all are converted")
    if len(sizes) > 1:
        report.notes.append(f"{len(sizes)} different image sizes: resized and cropped to the training size")
    if sizes:
        report.sizes = (min(w for w, _ in sizes), min(h for _, h in sizes))
    return report


def match_pairs(a_files: Sequence[Path], b_files: Sequence[Path], what_a: str, what_b: str,
                min_count: int = 1) -> tuple[list[tuple[Path, Path]], list]:
    """Pair files by stem (the name without folder and suffix). Returns (pairs, unmatched) where
    unmatched lists (path, reason); raises DataError when fewer than ``min_count`` pairs match."""
    b_by_stem: dict[str, Path] = {}
    for b in b_files:
        b_by_stem.setdefault(b.stem, b)
    pairs, unmatched, used = [], [], set()
    for a in a_files:
        b = b_by_stem.get(a.stem)
        if b is None:
            unmatched.append((a, f"no {what_b} named {a.stem}.*"))
        else:
            pairs.append((a, b))
            used.add(b.stem)
    unmatched += [(b, f"no {what_a} named {b.stem}.*") for b in b_files if b.stem not in used]
    if len(pairs) < min_count:
        listed = "; ".join(f"{Path(p).name}: {r}" for p, r in unmatched[:5])
        raise DataError(f"only {len(pairs)} {what_a}/{what_b} pair(s) match by file name (need {min_count})"
                        + (f": {listed}" if listed else ""))
    return pairs, unmatched


def split_holdout(items: list, holdout: int, seed: int) -> tuple[list, list]:
    """(train, held out): ``holdout`` items chosen by the seed, never trained on (samples, metrics)."""
    holdout = max(0, min(holdout, len(items) // 5))  # never more than a fifth of the data
    if holdout == 0:
        return list(items), []
    order = np.random.default_rng(_stable_int("holdout", seed)).permutation(len(items))
    held = sorted(order[:holdout].tolist())
    held_set = set(held)
    return [it for i, it in enumerate(items) if i not in held_set], [items[i] for i in held]


# ---------------------------------------------------------------------------------------------- decoding
def load_rgb(path, channels: int = 3, max_side: int = 0) -> np.ndarray:
    """(H, W, channels) uint8; grey repeated / RGB reduced to luma; alpha composited on white;
    16-bit reduced to 8; downscaled (area) so the shorter side is at most ``max_side`` when given."""
    img = read_image(path)
    rgb = img.rgb8()
    if img.alpha is not None:
        a = (img.rgba8()[..., 3:4].astype(np.float32) / 255.0)
        rgb = (rgb.astype(np.float32) * a + 255.0 * (1 - a)).round().astype(np.uint8)
    if max_side:
        h, w = rgb.shape[:2]
        s = max_side / min(h, w)
        if s < 1:
            rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if channels == 1:
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        return grey[:, :, None]
    return np.ascontiguousarray(rgb)


def load_label_map(path, max_side: int = 0) -> np.ndarray:
    """(H, W) uint8/uint16 ids from an indexed or grey PNG (colour-coded maps go through the palette
    import in the Paint tab; training takes id maps, as the official datasets ship them)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("P", "L", "I;16", "I"):
            ids = np.asarray(im if im.mode != "P" else im.convert("P"))
        else:
            raise DataError(f"{Path(path).name}: a label map must be an indexed or grey PNG of label ids "
                            f"(this one is {im.mode}); convert colour maps in the Paint tab (File > Export label map)")
    ids = np.array(ids)
    if ids.dtype.kind == "i":
        ids = ids.astype(np.int64)
    if max_side:
        h, w = ids.shape
        s = max_side / min(h, w)
        if s < 1:
            ids = cv2.resize(ids.astype(np.uint16), (max(1, round(w * s)), max(1, round(h * s))),
                             interpolation=cv2.INTER_NEAREST)
    return ids


# ---------------------------------------------------------------------------------------------- transforms
def resize_short(img: np.ndarray, side: int, nearest: bool = False) -> np.ndarray:
    h, w = img.shape[:2]
    if min(h, w) == side:
        return img
    s = side / min(h, w)
    size = (max(side, round(w * s)), max(side, round(h * s)))
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    out = cv2.resize(img, size, interpolation=interp)
    return out[:, :, None] if img.ndim == 3 and out.ndim == 2 else out


def random_crop_box(h: int, w: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    y = int(rng.integers(0, h - size + 1)) if h > size else 0
    x = int(rng.integers(0, w - size + 1)) if w > size else 0
    return y, x


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, C) uint8 -> (C, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


# ---------------------------------------------------------------------------------------------- datasets
class _Cache:
    """Decoded items kept in memory (the process that builds it; forked workers share it copy-on-write).

    A file that fails to decode during training (a large folder is only header-checked) is logged once
    and replaced by the next decodable item, so one bad file never ends a long run."""

    def __init__(self, loader: Callable[[int], object], n: int, enabled: bool) -> None:
        self.loader, self.items = loader, [None] * n
        self.enabled = enabled
        self.bad: set[int] = set()

    def _load(self, i: int):
        n = len(self.items)
        for k in range(n):
            j = (i + k) % n
            if j in self.bad:
                continue
            try:
                return self.loader(j)
            except Exception as exc:  # noqa: BLE001 - any undecodable file: skip it, say so once
                self.bad.add(j)
                log.warning("training data: skipping an unreadable item (%s)", str(exc).splitlines()[0][:200])
        raise DataError("none of the training images can be decoded")

    def get(self, i: int):
        if not self.enabled:
            return self._load(i)
        item = self.items[i]
        if item is None:
            item = self.items[i] = self._load(i)
        return item


def cache_fits(n: int, side: int, channels: int = 3) -> bool:
    return n * (2 * side) ** 2 * channels * 2 <= CACHE_BYTES  # x2: aspect ratios other than square


class ImageFolderDataset(Dataset):
    """One folder of images (stylegan2 / dcgan / esrgan). Item: {"image": (C, S, S) in [-1, 1]}.

    ``crop``: "center" (resize the shorter side to ``size``, centre crop: the usual GAN data set) or
    "random" (random ``size`` crops of images kept at up to 2x size: patches for super-resolution)."""

    def __init__(self, files: Sequence[Path], size: int, seed: int, channels: int = 3, flip: bool = True,
                 crop: str = "center") -> None:
        self.files, self.size, self.seed = list(files), int(size), int(seed)
        self.channels, self.flip, self.crop = channels, flip, crop
        keep_side = size if crop == "center" else 2 * size
        self.cache = _Cache(lambda i: self._decode(i, keep_side), len(self.files),
                            cache_fits(len(self.files), size, channels))

    def _decode(self, i: int, keep_side: int) -> np.ndarray:
        img = load_rgb(self.files[i], self.channels, max_side=keep_side)
        if self.crop == "center":
            img = resize_short(img, self.size)
        elif min(img.shape[:2]) < self.size:
            img = resize_short(img, self.size)
        return img

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key):
        position, index = key
        rng = sample_rng(self.seed, position)
        img = self.cache.get(index)
        h, w = img.shape[:2]
        if self.crop == "center":
            y, x = (h - self.size) // 2, (w - self.size) // 2
        else:
            y, x = random_crop_box(h, w, self.size, rng)
        img = img[y:y + self.size, x:x + self.size]
        if self.flip and rng.random() < 0.5:
            img = img[:, ::-1]
        return {"image": to_tensor(img), "index": index}


class PairedDataset(Dataset):
    """Aligned A/B images (pix2pix): the same crop and flip on both. Item: {"a", "b"}."""

    def __init__(self, pairs: Sequence[tuple], size: int, seed: int, load_size: int = 0, flip: bool = True,
                 side_by_side: bool = False) -> None:
        self.pairs, self.size, self.seed = list(pairs), int(size), int(seed)
        self.load_size, self.flip, self.side_by_side = load_size or size, flip, side_by_side
        self.cache = _Cache(self._decode, len(self.pairs), cache_fits(len(self.pairs), self.load_size, 6))

    def _decode(self, i: int):
        if self.side_by_side:  # the official AB format: A left, B right, in one image
            ab = load_rgb(self.pairs[i][0])
            half = ab.shape[1] // 2
            a, b = ab[:, :half], ab[:, half:2 * half]
        else:
            a, b = load_rgb(self.pairs[i][0]), load_rgb(self.pairs[i][1])
        # the official pix2pix resizes both to load_size x load_size, then crops (aligned data)
        a = cv2.resize(a, (self.load_size, self.load_size), interpolation=cv2.INTER_AREA)
        b = cv2.resize(b, (self.load_size, self.load_size), interpolation=cv2.INTER_AREA)
        return a, b

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key):
        position, index = key
        rng = sample_rng(self.seed, position)
        a, b = self.cache.get(index)
        y, x = random_crop_box(self.load_size, self.load_size, self.size, rng)
        a, b = a[y:y + self.size, x:x + self.size], b[y:y + self.size, x:x + self.size]
        if self.flip and rng.random() < 0.5:
            a, b = a[:, ::-1], b[:, ::-1]
        return {"a": to_tensor(a), "b": to_tensor(b), "index": index}


class UnpairedDataset(Dataset):
    """Two unaligned domains (CycleGAN): A in order, B drawn at random, each with its own crop and flip
    (resize to ``load_size``, random ``size`` crop, flip: the official 'resize_and_crop')."""

    def __init__(self, files_a: Sequence[Path], files_b: Sequence[Path], size: int, seed: int,
                 load_size: int = 0, flip: bool = True) -> None:
        self.files_a, self.files_b = list(files_a), list(files_b)
        self.size, self.seed, self.flip = int(size), int(seed), flip
        self.load_size = load_size or int(round(size * 286 / 256))
        fits = cache_fits(len(self.files_a) + len(self.files_b), self.load_size)
        self.cache_a = _Cache(lambda i: self._decode(self.files_a[i]), len(self.files_a), fits)
        self.cache_b = _Cache(lambda i: self._decode(self.files_b[i]), len(self.files_b), fits)

    def _decode(self, path) -> np.ndarray:
        img = load_rgb(path)
        return cv2.resize(img, (self.load_size, self.load_size), interpolation=cv2.INTER_AREA)

    def __len__(self) -> int:
        return len(self.files_a)

    def _crop(self, img, rng):
        y, x = random_crop_box(img.shape[0], img.shape[1], self.size, rng)
        img = img[y:y + self.size, x:x + self.size]
        return img[:, ::-1] if self.flip and rng.random() < 0.5 else img

    def __getitem__(self, key):
        position, index = key
        rng = sample_rng(self.seed, position)
        j = int(rng.integers(0, len(self.files_b)))  # serial_batches off: a random B for every A
        a = self._crop(self.cache_a.get(index), rng)
        b = self._crop(self.cache_b.get(j), rng)
        return {"a": to_tensor(a), "b": to_tensor(b), "index": index}


class LabelPhotoDataset(Dataset):
    """SPADE: label maps + photos (+ instance maps), matched by stem; the same crop / flip on all.
    Item: {"label": (1, S, S) int64 ids, "image": (3, S, S), "instance": (1, S, S) int64 or absent}."""

    def __init__(self, triples: Sequence[tuple], size: int, seed: int, flip: bool = True, load_size: int = 0) -> None:
        """``load_size`` (default ``size``): maps and photos are resized to it (shorter side), then cropped
        to ``size``: training on crops of larger scenes is cheaper per step and keeps their scale."""
        self.triples, self.size, self.seed, self.flip = list(triples), int(size), int(seed), flip
        self.load_size = int(load_size or size)
        self.cache = _Cache(self._decode, len(self.triples), cache_fits(len(self.triples), self.load_size, 5))

    def _decode(self, i: int):
        lab_path, img_path, inst_path = self.triples[i]
        ids = load_label_map(lab_path)
        img = load_rgb(img_path)
        h, w = ids.shape
        if img.shape[:2] != (h, w):  # the photo follows the label map's size
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        ids = resize_short(ids[:, :, None].astype(np.uint16), self.load_size, nearest=True)[:, :, 0]
        img = resize_short(img, self.load_size)
        inst = None
        if inst_path is not None:
            inst = load_label_map(inst_path).astype(np.uint16)
            inst = cv2.resize(inst, (ids.shape[1], ids.shape[0]), interpolation=cv2.INTER_NEAREST)
        return ids, img, inst

    def __len__(self) -> int:
        return len(self.triples)

    def __getitem__(self, key):
        position, index = key
        rng = sample_rng(self.seed, position)
        ids, img, inst = self.cache.get(index)
        y, x = random_crop_box(ids.shape[0], ids.shape[1], self.size, rng)
        sl = (slice(y, y + self.size), slice(x, x + self.size))
        ids, img = ids[sl], img[sl]
        inst = inst[sl] if inst is not None else None
        if self.flip and rng.random() < 0.5:
            ids, img = ids[:, ::-1], img[:, ::-1]
            inst = inst[:, ::-1] if inst is not None else None
        item = {"label": torch.from_numpy(np.ascontiguousarray(ids).astype(np.int64))[None],
                "image": to_tensor(img), "index": index}
        if inst is not None:
            item["instance"] = torch.from_numpy(np.ascontiguousarray(inst).astype(np.int64))[None]
        return item


# ---------------------------------------------------------------------------------------------- order
class PositionSampler(Sampler):
    """Yields (position, index) forever, from ``start`` on, for this process's share of every global batch.

    Global batch s holds positions [s*B, (s+1)*B); with ``world`` processes each takes a contiguous
    B/world of them (rank 0 the first). The index at position p is epoch (p // n)'s permutation of the data
    (seeded by (seed, epoch)) at p % n."""

    def __init__(self, n: int, seed: int, global_batch: int, start_step: int = 0, rank: int = 0,
                 world: int = 1) -> None:
        if n <= 0:
            raise DataError("no training samples")
        if global_batch % world:
            raise InputError(f"the batch ({global_batch}) must be a multiple of the number of processes ({world})")
        self.n, self.seed, self.batch = n, seed, global_batch
        self.local = global_batch // world
        self.start_step, self.rank = start_step, rank
        self._perms: dict[int, np.ndarray] = {}

    def index_at(self, position: int) -> int:
        epoch, i = divmod(position, self.n)
        perm = self._perms.get(epoch)
        if perm is None:
            self._perms = {epoch: np.random.default_rng(_stable_int("epoch", self.seed, epoch)).permutation(self.n)}
            perm = self._perms[epoch]
        return int(perm[i])

    def __iter__(self):
        step = self.start_step
        while True:
            base = step * self.batch + self.rank * self.local
            for p in range(base, base + self.local):
                yield (p, self.index_at(p))
            step += 1

    def __len__(self) -> int:  # infinite; DataLoader only needs it for len(), which the loop never asks
        return 2 ** 62


def make_loader(dataset: Dataset, sampler: PositionSampler, workers: int, pin: bool = False):
    """An endless iterator of batches (dicts of stacked tensors) in the sampler's order."""
    from torch.utils.data import DataLoader

    cached = all(getattr(c, "enabled", False) for c in _caches_of(dataset))
    # a cached set is decoded once in this process; worker processes would each decode it again
    n_workers = 0 if cached else int(workers)
    # its own generator: making the iterator draws a base seed, which must not come from (and shift) the
    # training's global random stream, or a resumed run would draw different noise than an uninterrupted one
    loader = DataLoader(dataset, batch_size=sampler.local, sampler=sampler, num_workers=n_workers,
                        pin_memory=pin, drop_last=True, persistent_workers=n_workers > 0,
                        prefetch_factor=2 if n_workers > 0 else None, generator=torch.Generator().manual_seed(0))
    return iter(loader)


def _caches_of(dataset) -> list:
    return [v for v in vars(dataset).values() if isinstance(v, _Cache)]
