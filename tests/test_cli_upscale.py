"""`ganstudio upscale`: folders (recursive, mirrored), globs, single files, skip on rerun, failures, errors;
never an input overwritten (--overwrite included), name clashes renamed and reported, outputs never read
back as inputs, absurd scales and absent devices refused in one line, large images announced."""
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
    assert "--half is deprecated" in capsys.readouterr().err  # still accepted, as --precision fp16
    before = (src / "a.png").read_bytes()
    rc = main(["upscale", str(src / "a.png"), "-o", str(src / "a.png"), "--model", FAST, "--device", "cpu",
               "--overwrite"])
    err = capsys.readouterr().err
    assert rc == 2 and "overwrite the input" in err
    assert (src / "a.png").read_bytes() == before


def test_errors_are_clear(tree, capsys):
    tmp, src = tree
    assert main(["upscale", str(tmp / "nope.png"), "-o", str(tmp / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["upscale", str(src), "-o", str(tmp / "o"), "--model", "no-such-model", "--device", "cpu"]) == 2
    assert "no-such-model" in capsys.readouterr().err


def _err_lines(capsys):
    cap = capsys.readouterr()
    return cap.out, [ln for ln in cap.err.replace("\r", "\n").splitlines() if ln.startswith(("error", "  "))]


def _png(path, seed=0, size=(12, 10)):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(path)
    return path


def test_overwrite_never_writes_over_an_input(tmp_path, capsys):
    """Issue 14.3: `upscale 'ow/*' -o ow --overwrite` with a.gif and a.png replaced the original a.png with
    the upscale of a.gif."""
    ow = tmp_path / "ow"
    ow.mkdir()
    _png(ow / "a.png", seed=1)
    Image.fromarray(np.zeros((12, 10, 3), np.uint8)).save(ow / "a.gif")
    before = {p.name: p.read_bytes() for p in ow.iterdir()}
    rc = main(["upscale", str(ow / "*"), "-o", str(ow), "--overwrite", "--model", FAST, "--device", "cpu"])
    assert rc == 0
    assert {p.name: p.read_bytes() for p in ow.iterdir() if p.name in before} == before
    assert sorted(p.name for p in ow.iterdir()) == ["a.gif", "a.png", "a_gif.png", "a_png.png"]
    out, lines = _err_lines(capsys)
    assert "2 written" in out and "2 renamed" in out
    assert sum("renamed:" in ln for ln in lines) == 2


def test_colliding_output_names_are_renamed_and_reported(tmp_path, capsys):
    """Issue 14.4: a.gif, a.bmp and a.png would all be written to a.png (GIF and BMP results are PNGs)."""
    src = tmp_path / "in"
    src.mkdir()
    for i, ext in enumerate(("gif", "bmp", "png")):
        _png(src / f"a.{ext}", seed=i)
    _png(src / "b.jpg", seed=4)  # no clash: keeps its name
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "--model", FAST, "--device", "cpu"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a_bmp.png", "a_gif.png", "a_png.png", "b.jpg"]  # one file each, none lost
    text, lines = _err_lines(capsys)
    assert "4 written" in text and "3 renamed" in text and sum("renamed:" in ln for ln in lines) == 3
    assert main(["upscale", str(src), "-o", str(out), "--model", FAST, "--device", "cpu"]) == 0
    assert "0 written, 4 skipped" in capsys.readouterr().out  # the rerun knows all three are done


def test_outputs_are_never_inputs_with_several_input_folders(tmp_path, capsys):
    """Issue 14.5: `upscale A B -o A --recursive` grew A/A/A/... on every run."""
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    _png(a / "x.png")
    _png(b / "y.png", seed=1)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert main(["upscale", str(a), str(b), "-o", str(a), "--recursive", "--model", FAST, "--device", "cpu"]) == 2
    out, lines = _err_lines(capsys)
    assert len(lines) == 1 and "is the input folder" in lines[0]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == before
    # an output folder inside one of the inputs: written once, and a rerun reads nothing back from it
    inner = a / "big"
    for _ in range(2):
        assert main(["upscale", str(a), str(b), "-o", str(inner), "--recursive", "--model", FAST,
                     "--device", "cpu"]) == 0
    assert sorted(p.relative_to(a).as_posix() for p in a.rglob("*.png")) == ["big/A/x.png", "big/B/y.png", "x.png"]
    assert "0 written, 2 skipped" in capsys.readouterr().out


@pytest.mark.parametrize("scale", ["inf", "nan", "-2", "0.01", "1e9", "four"])
def test_absurd_scales_are_one_clear_line(tree, capsys, scale):
    tmp, src = tree
    out = tmp / "o"
    assert main(["upscale", str(src / "a.png"), "-o", str(out), "--scale", scale, "--model", FAST]) == 2
    _, lines = _err_lines(capsys)
    assert lines == [f"error: the scale must be a number from 0.25 to 16 (e.g. 4), not {scale}"]
    assert not out.exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_an_absent_device_is_refused_not_replaced(tree, capsys):
    """--device cuda without CUDA ran silently on the CPU before."""
    tmp, src = tree
    out = tmp / "o"
    assert main(["upscale", str(src / "a.png"), "-o", str(out / "a.png"), "--device", "cuda", "--model", FAST]) == 2
    _, lines = _err_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: cannot use cuda") and "CUDA" in lines[0]
    assert not out.exists()


def test_a_large_image_is_announced_before_it_starts(tree, capsys, monkeypatch):
    from ganstudio.engines.upscale import cost

    monkeypatch.setattr(cost, "ANNOUNCE_OUT_PX", 100)  # as if 20x24 were 13000x13000
    tmp, src = tree
    assert main(["upscale", str(src / "a.png"), "-o", str(tmp / "big.png"), "--model", FAST, "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "a.png: 24×20 → 48×40: about " in err and " of memory, about " in err
