"""IDX parsing (round trip, clear errors) and the Fashion-MNIST folder export."""
from __future__ import annotations

import gzip
import json
import shutil
import struct

import numpy as np
import pytest

from ganstudio.core.imageio import read_image
from ganstudio.datamakers import fashion_mnist as fm
from ganstudio.datamakers.common import DataMakerError


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte.gz", "imgs-idx3-ubyte"])
def test_idx_round_trip(tmp_path, name):
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    fm.write_idx(tmp_path / name, x)
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    assert raw[:4] == b"\x00\x00\x08\x03" and struct.unpack(">3I", raw[4:16]) == (5, 28, 28)
    y = fm.read_idx(tmp_path / name)
    assert y.dtype == np.uint8 and np.array_equal(x, y)
    labels = np.array([9, 0, 3], np.uint8)
    fm.write_idx(tmp_path / "l.gz", labels)
    assert np.array_equal(fm.read_idx(tmp_path / "l.gz"), labels)
    f32 = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    fm.write_idx(tmp_path / "f", f32)
    assert np.array_equal(fm.read_idx(tmp_path / "f"), f32)


def test_idx_errors_are_clear(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    fm.write_idx(tmp_path / "ok", x)
    data = (tmp_path / "ok").read_bytes()
    (tmp_path / "short").write_bytes(data[:-10])
    with pytest.raises(fm.IdxError, match=r"truncated.*shape \(4, 28, 28\) needs 3136 data bytes, the file has 3126"):
        fm.read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x12\x34\x08\x03" + data[4:])
    with pytest.raises(fm.IdxError, match="bad magic number 0x12340803"):
        fm.read_idx(tmp_path / "magic")
    (tmp_path / "long").write_bytes(data + b"\x00")
    with pytest.raises(fm.IdxError, match="trailing bytes"):
        fm.read_idx(tmp_path / "long")
    (tmp_path / "head").write_bytes(data[:9])
    with pytest.raises(fm.IdxError, match="truncated header"):
        fm.read_idx(tmp_path / "head")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(data)[:-20])
    with pytest.raises(fm.IdxError, match="gzip"):
        fm.read_idx(tmp_path / "bad.gz")
    assert issubclass(fm.IdxError, DataMakerError)


def test_find_files_and_export(tmp_path):
    rng = np.random.default_rng(1)
    pkg = tmp_path / "pkg" / fm.DATA_DIR
    pkg.mkdir(parents=True)
    arrays = {"x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), "y_train": np.arange(6, dtype=np.uint8),
              "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), "y_test": np.array([9, 8, 7], np.uint8)}
    for key, name in fm.FILES.items():
        fm.write_idx(pkg / name, arrays[key])
    files = fm.find_files(tmp_path / "pkg")
    loaded = tuple(fm.read_idx(files[k]) for k in ("x_train", "y_train", "x_test", "y_test"))
    out = fm.make_fashion_mnist(tmp_path / "out", size=32, arrays=loaded, progress=False)
    assert len(list((out / "train").glob("*.png"))) == 6 and len(list((out / "test").glob("*.png"))) == 3
    rows = [json.loads(s) for s in (out / "test" / "labels.jsonl").read_text().splitlines()]
    assert rows[0] == {"file": "000000.png", "label": 9, "class_name": "Ankle boot"}
    img = read_image(out / "train" / "000002.png").pixels
    assert img.shape[:2] == (32, 32)
    assert np.array_equal(img.reshape(32, 32)[2:30, 2:30], arrays["x_train"][2])
    assert img.reshape(32, 32)[:2].max() == 0
    classes = json.loads((out / "classes.json").read_text())["classes"]
    assert [c["name"] for c in classes] == list(fm.CLASSES)


def test_real_package_if_it_can_be_fetched(tmp_path):
    """Fetches dataset-fashion-mnist (30 MB) once into the test cache; skipped where apt-get cannot."""
    from ganstudio.datamakers.common import default_cache_dir

    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        pytest.skip("apt-get / dpkg not available")
    try:
        x_tr, y_tr, x_te, y_te = fm.load_arrays(default_cache_dir())
    except DataMakerError as exc:
        pytest.skip(f"dataset-fashion-mnist could not be fetched: {exc}")
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert np.bincount(y_tr).tolist() == [6000] * 10 and np.bincount(y_te).tolist() == [1000] * 10
    assert y_tr[:5].tolist() == [9, 0, 0, 3, 0]  # the published first training labels
    assert "Expat" in fm.license_text(default_cache_dir())
