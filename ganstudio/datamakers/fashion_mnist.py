"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package, as PNG folders (``fashion`` DCGAN).

70 000 real 28x28 grey product photos of Zalando articles in 10 classes (MIT / Expat licence, see the
package's ``usr/share/doc/dataset-fashion-mnist/copyright``, copied into ``LICENSE-data.txt``).

The package is fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into a cache folder (no
root needed; see :func:`ganstudio.datamakers.common.fetch_deb`). The IDX files are parsed here
(gzip + struct), checking magic numbers, dimensions and sizes.

API: ``read_idx(path) -> ndarray``, ``write_idx(path, array)``, ``load_arrays(cache_dir) -> (x_train,
y_train, x_test, y_test)``, ``make_fashion_mnist(out_dir, size=28, cache_dir=None, ...)``.
"""
from __future__ import annotations

import functools
import gzip
import json
import struct
from pathlib import Path

import numpy as np

from ganstudio.core.files import write_text_atomic
from ganstudio.datamakers.common import (
    DataMakerError,
    check_meta,
    fetch_deb,
    file_name,
    merge_jsonl,
    run_items,
    write_png,
)

VERSION = 1
PACKAGE = "dataset-fashion-mnist"
DATA_DIR = "usr/share/datasets/fashion-mnist"
COPYRIGHT = f"usr/share/doc/{PACKAGE}/copyright"
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = {
    "x_train": "train-images-idx3-ubyte.gz", "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz", "y_test": "t10k-labels-idx1-ubyte.gz",
}

# IDX type codes -> numpy big-endian dtypes
_IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IdxError(DataMakerError):
    """A file that is not a valid IDX file (message names the file and what is wrong)."""


def _read_bytes(path: Path) -> bytes:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, ValueError) as exc:
            raise IdxError(f"{path}: the gzip stream is damaged or truncated ({exc})") from exc
    return raw


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse the bytes of an IDX file (magic 0x0000 <type> <ndim>, ndim big-endian uint32 sizes, data)."""
    if len(data) < 4:
        raise IdxError(f"{name}: too short for an IDX header ({len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _IDX_TYPES or ndim == 0:
        raise IdxError(f"{name}: bad magic number 0x{data[:4].hex()} (expected 0x0000 <type> <ndim>, e.g. "
                       f"0x00000803 for images, 0x00000801 for labels)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header ({len(data)} bytes, {header} needed for {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(data) - header
    if have != expected:
        what = "truncated" if have < expected else "has trailing bytes"
        raise IdxError(f"{name}: {what}: shape {tuple(dims)} needs {expected} data bytes, the file has {have}")
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or .gz) into a numpy array, validating magic number and sizes."""
    path = Path(path)
    if not path.is_file():
        raise IdxError(f"{path}: no such file")
    return parse_idx(_read_bytes(path), str(path))


def write_idx(path, arr: np.ndarray, compress: bool | None = None) -> None:
    """Write ``arr`` as an IDX file (gzip-compressed when the name ends in .gz or ``compress``)."""
    arr = np.asarray(arr)
    codes = {v.newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot hold {arr.dtype}")
    head = struct.pack(">HBB", 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + arr.astype(_IDX_TYPES[code]).tobytes()
    path = Path(path)
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def find_files(root) -> dict[str, Path]:
    """The four Fashion-MNIST files under an unpacked package root (or a folder holding them)."""
    root = Path(root)
    out = {}
    for key, name in FILES.items():
        hits = [p for p in (root / DATA_DIR / name, root / name) if p.is_file()] or sorted(root.rglob(name))
        if not hits:
            raise DataMakerError(f"{name} not found under {root}")
        out[key] = hits[0]
    return out


def load_arrays(cache_dir=None):
    """(x_train (60000, 28, 28) uint8, y_train (60000,) uint8, x_test (10000, 28, 28), y_test (10000,)),
    fetching the Debian package into ``cache_dir`` on first use."""
    files = find_files(fetch_deb(PACKAGE, cache_dir))
    arrs = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        x, y = arrs[f"x_{split}"], arrs[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.ndim != 1 or len(x) != len(y):
            raise IdxError(f"Fashion-MNIST {split}: unexpected shapes images {x.shape}, labels {y.shape}")
        if y.size and int(y.max()) >= len(CLASSES):
            raise IdxError(f"Fashion-MNIST {split}: label {int(y.max())} is out of range 0..9")
    return (arrs["x_train"].astype(np.uint8), arrs["y_train"].astype(np.uint8),
            arrs["x_test"].astype(np.uint8), arrs["y_test"].astype(np.uint8))


def license_text(cache_dir=None) -> str:
    root = fetch_deb(PACKAGE, cache_dir)
    f = root / COPYRIGHT
    text = f.read_text(encoding="utf-8") if f.is_file() else "(copyright file missing from the package)\n"
    return ("Fashion-MNIST (Zalando Research), from the Debian package dataset-fashion-mnist.\n"
            "Licence: MIT (Expat). The package's copyright file follows.\n\n" + text)


def to_size(img: np.ndarray, size: int) -> np.ndarray:
    """28x28 -> ``size`` x ``size``: 28 as is, larger by zero padding (black, the data set's background)."""
    if size == 28:
        return img
    if size < 28:
        raise ValueError("size must be >= 28")
    p0 = (size - 28) // 2
    out = np.zeros((size, size), np.uint8)
    out[p0:p0 + 28, p0:p0 + 28] = img
    return out


_SHARED: dict = {}  # split -> (x, y); set before the worker processes fork, so they inherit it


def _write_job(i: int, out_dir: str, split: str, size: int) -> dict:
    x, y = _SHARED[split]
    path = Path(out_dir) / split / file_name(i)
    if not path.exists():
        write_png(path, to_size(x[i], size))
    c = int(y[i])
    return {"file": path.name, "label": c, "class_name": CLASSES[c]}


def make_fashion_mnist(out_dir, size: int = 28, cache_dir=None, count: int | None = None, workers: int = 1,
                       progress: bool = True, arrays=None) -> Path:
    """Write ``train/`` and ``test/`` PNG folders (each with ``labels.jsonl``), ``classes.json`` and
    ``LICENSE-data.txt``; ``count`` limits each split (default all); existing files are kept."""
    out = Path(out_dir)
    check_meta(out, {"maker": "fashion-mnist", "version": VERSION, "size": int(size)})
    x_tr, y_tr, x_te, y_te = arrays if arrays is not None else load_arrays(cache_dir)
    if arrays is None:
        write_text_atomic(out / "LICENSE-data.txt", license_text(cache_dir))
    write_text_atomic(out / "classes.json", json.dumps(
        {"classes": [{"index": i, "name": n} for i, n in enumerate(CLASSES)]}, indent=2) + "\n")
    for split, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        (out / split).mkdir(parents=True, exist_ok=True)
        n = len(x) if count is None else min(int(count), len(x))
        _SHARED[split] = (x, y)
        job = functools.partial(_write_job, out_dir=str(out), split=split, size=int(size))
        try:
            rows = run_items(job, range(n), workers=workers, desc=f"fashion-mnist {split}", progress=progress)
        finally:
            _SHARED.pop(split, None)
        merge_jsonl(out / split / "labels.jsonl", rows)
    return out
