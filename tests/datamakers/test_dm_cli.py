"""The command line: writes N files, resumes without rewriting, same seed = same bytes, clear errors."""
from __future__ import annotations

import json

import numpy as np

from ganstudio.datamakers.__main__ import main
from ganstudio.datamakers.common import check_meta, merge_jsonl, rng_for


def _files(d):
    return sorted(p.name for p in d.glob("*.png"))


def test_faces_cli_writes_resumes_and_extends(tmp_path):
    out = tmp_path / "faces"
    assert main(["faces", "--count", "3", "--size", "32", "-o", str(out), "--quiet"]) == 0
    assert _files(out) == ["000000.png", "000001.png", "000002.png"]
    stamps = {p: (out / p).stat().st_mtime_ns for p in _files(out)}
    (out / "000001.png").unlink()
    assert main(["faces", "--count", "5", "--size", "32", "-o", str(out), "--quiet"]) == 0
    assert len(_files(out)) == 5
    assert (out / "000000.png").stat().st_mtime_ns == stamps["000000.png"]  # kept, not rewritten
    rows = [json.loads(s) for s in (out / "labels.jsonl").read_text().splitlines()]
    assert [r["file"] for r in rows] == _files(out) and "smile" in rows[0]
    # same seed elsewhere: byte-identical files; the regenerated 000001 too
    other = tmp_path / "again"
    assert main(["faces", "--count", "2", "--size", "32", "-o", str(other), "--quiet", "--workers", "2"]) == 0
    for name in _files(other):
        assert (other / name).read_bytes() == (out / name).read_bytes()
    third = tmp_path / "seed1"
    assert main(["faces", "--count", "1", "--size", "32", "--seed", "1", "-o", str(third), "--quiet"]) == 0
    assert (third / "000000.png").read_bytes() != (out / "000000.png").read_bytes()
    # --start extends a folder
    assert main(["faces", "--count", "2", "--start", "5", "--size", "32", "-o", str(out), "--quiet"]) == 0
    assert len(_files(out)) == 7 and len((out / "labels.jsonl").read_text().splitlines()) == 7


def test_settings_mismatch_is_refused(tmp_path, capsys):
    out = tmp_path / "faces"
    assert main(["faces", "--count", "1", "--size", "32", "-o", str(out), "--quiet"]) == 0
    assert main(["faces", "--count", "1", "--size", "32", "--seed", "4", "-o", str(out), "--quiet"]) == 2
    assert "other settings" in capsys.readouterr().err and len(_files(out)) == 1


def test_landscapes_cli_layout(tmp_path):
    out = tmp_path / "land"
    assert main(["landscapes", "--count", "2", "--size", "64", "-o", str(out), "--quiet"]) == 0
    assert _files(out / "labels") == _files(out / "images") == ["000000.png", "000001.png"]
    from ganstudio.core.imageio import read_image

    lab = read_image(out / "labels" / "000000.png")
    assert lab.pixels.ndim == 2 or lab.pixels.shape[2] == 1  # mode L
    classes = json.loads((out / "classes.json").read_text())
    assert set(np.unique(lab.pixels).tolist()) <= {c["id"] for c in classes["classes"]}
    assert len((out / "scenes.jsonl").read_text().splitlines()) == 2
    assert main(["landscapes", "--count", "2", "--size", "64", "-o", str(out), "--quiet"]) == 0


def test_paintings_cli(tmp_path):
    out = tmp_path / "paint"
    assert main(["paintings", "--count", "2", "--size", "48", "--sources", "skimage", "--test-count", "1",
                 "-o", str(out), "--quiet"]) == 0
    assert len(_files(out / "trainA")) == 2 and len(_files(out / "testB")) == 1
    assert main(["paintings", "--count", "1", "--size", "48", "--sources", "nope", "-o", str(tmp_path / "x"),
                 "--quiet"]) == 2


def test_seeding_and_labels_helpers(tmp_path):
    assert rng_for(1, 2, "a").random() == rng_for(1, 2, "a").random()
    assert rng_for(1, 2, "a").random() != rng_for(1, 3, "a").random() != rng_for(1, 2, "b").random()
    check_meta(tmp_path, {"maker": "x", "seed": 1})
    check_meta(tmp_path, {"maker": "x", "seed": 1, "count": 5})
    merge_jsonl(tmp_path / "l.jsonl", [{"file": "b", "v": 1}, {"file": "a", "v": 2}])
    rows = merge_jsonl(tmp_path / "l.jsonl", [{"file": "b", "v": 3}])
    assert rows == [{"file": "a", "v": 2}, {"file": "b", "v": 3}]
