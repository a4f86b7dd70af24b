"""`ganstudio upscale`: folders (recursive, mirrored), globs, single files, skip on rerun, failures, errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganstudio.cli import main

FAST = "animevideov3-x2"


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 255, (16, 12, 3), dtype=np.uint8)).save(src / "sub" / "b.jpg")
    (src / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return tmp_path, src


def test_folder_recursive_mirrors_reports_failure_and_skips_on_rerun(tree, capsys):
    tmp, src = tree
    out = tmp / "out"
    rc = main(["upscale", str(src), "-o", str(out), "--model", FAST, "--recursive", "--device", "cpu"])
    assert rc == 1  # one bad file
    with Image.open(out / "a.png") as im:
        assert im.size == (48, 40)
    with Image.open(out / "sub" / "b.jpg") as im:
        assert im.size == (24, 32)
    captured = capsys.readouterr()
    assert "2 written" in captured.out and "broken.png" in captured.err
    rc = main(["upscale", str(src), "-o", str(out), "--model", FAST, "--recursive", "--device", "cpu"])
    assert rc == 1
    assert "0 written, 2 skipped" in capsys.readouterr().out


def test_not_recursive_takes_only_the_top_folder(tree, capsys):
    tmp, src = tree
    out = tmp / "flat"
    assert main(["upscale", str(src), "-o", str(out), "--model", FAST, "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["a.png"]


def test_glob_and_scale(tree):
    tmp, src = tree
    out = tmp / "globbed"
    rc = main(["upscale", str(src / "**" / "*.jpg"), "-o", str(out), "--model", FAST, "--scale", "3",
               "--tile", "8", "--device", "cpu"])
    assert rc == 0
    with Image.open(out / "b.jpg") as im:
        assert im.size == (36, 48)


def test_single_file_to_file_and_refuses_the_input(tree, capsys):
    tmp, src = tree
    dst = tmp / "single.png"
    assert main(["upscale", str(src / "a.png"), "-o", str(dst), "--model", FAST, "--device", "cpu", "--half"]) == 0
    with Image.open(dst) as im:
        assert im.size == (48, 40)
    before = (src / "a.png").read_bytes()
    rc = main(["upscale", str(src / "a.png"), "-o", str(src / "a.png"), "--model", FAST, "--device", "cpu",
               "--overwrite"])
    assert rc == 2 and "overwrite the input" in capsys.readouterr().err
    assert (src / "a.png").read_bytes() == before


def test_errors_are_clear(tree, capsys):
    tmp, src = tree
    assert main(["upscale", str(tmp / "nope.png"), "-o", str(tmp / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["upscale", str(src), "-o", str(tmp / "o"), "--model", "no-such-model", "--device", "cpu"]) == 2
    assert "no-such-model" in capsys.readouterr().err
