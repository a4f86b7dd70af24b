"""`ganstudio stylize` command line: folders (recursive, pattern, format, failure report), single files, errors."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganstudio.cli import main

from tiny_models import tiny_cyclegan_file


@pytest.fixture
def setup(tmp_path):
    model = tmp_path / "latest_net_G.pth"
    tiny_cyclegan_file(model, seed=0)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "sub/b.jpg"):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(src / name)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return tmp_path, model, src


def test_folder_recursive_reports_failure_and_exit_code(setup, capsys):
    tmp, model, src = setup
    out = tmp / "out"
    rc = main(["stylize", str(src), "-o", str(out), "--model", str(model), "--recursive",
               "--pattern", "{stem}-{model}", "--format", "webp"])
    assert rc == 1  # one bad file
    assert (out / "a-latest_net_G.webp").is_file()
    assert (out / "sub" / "b-latest_net_G.webp").is_file()
    captured = capsys.readouterr()
    assert "2 written" in captured.out and "1 failed" in captured.out
    assert "failed:" in captured.err and "broken.png" in captured.err  # one line per failure, on stderr
    # again: everything done is skipped
    rc = main(["stylize", str(src), "-o", str(out), "--model", str(model), "--recursive", "--format", "webp",
               "--pattern", "{stem}-{model}"])
    assert "2 skipped (already done)" in capsys.readouterr().out


def test_folder_not_recursive(setup):
    tmp, model, src = setup
    out = tmp / "flat"
    main(["stylize", str(src), "-o", str(out), "--model", str(model)])
    assert (out / "a_latest_net_G.png").is_file()
    assert not (out / "sub").exists()


def test_single_file_official(setup):
    tmp, model, src = setup
    out = tmp / "one.png"
    assert main(["stylize", str(src / "a.png"), "-o", str(out), "--model", str(model), "--official"]) == 0
    with Image.open(out) as im:
        assert im.size == (256, 256)


def test_unknown_model_is_a_clear_error(setup, capsys):
    tmp, _model, src = setup
    rc = main(["stylize", str(src), "-o", str(tmp / "x"), "--model", "not_a_model_id"])
    assert rc == 2
    assert "unknown model" in capsys.readouterr().err


def _err_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_several_inputs_files_folders_and_globs(setup, capsys):
    tmp, model, src = setup
    other = tmp / "more"
    other.mkdir()
    rng = np.random.default_rng(1)
    for name in ("x.png", "y.png"):
        Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(other / name)
    out = tmp / "many"
    rc = main(["stylize", str(src / "a.png"), str(other / "x*.png"), str(src / "sub"), "-o", str(out),
               "--model", str(model), "--device", "cpu"])
    assert rc == 0
    assert sorted(p.name for p in out.rglob("*.png")) == ["a_latest_net_G.png", "b_latest_net_G.png",
                                                         "x_latest_net_G.png"]
    assert "3 written" in capsys.readouterr().out


@pytest.mark.parametrize("pattern, says", [("{0}", "uses {0}"), ("{stem", "is not valid"),
                                           ("../../x_{stem}", "outside the output folder")])
def test_a_bad_pattern_is_one_error_line(setup, capsys, pattern, says):
    """14.9: `--pattern "{0}"` was a traceback; `../../x_{stem}` wrote outside the output folder."""
    tmp, model, src = setup
    out = tmp / "deep" / "er" / "out"
    rc = main(["stylize", str(src), "-o", str(out), "--model", str(model), "--pattern", pattern, "--device", "cpu"])
    assert rc == 2
    errs = _err_lines(capsys)
    assert len(errs) == 1 and errs[0].startswith("error: ") and says in errs[0], errs
    assert not list(tmp.rglob("x_*")) and not out.exists()


def test_tiny_and_strip_images_work(setup, capsys):
    """14.9: a 1x20000 strip (padding RuntimeError) and a 4 px image ("Expected more than 1 spatial element")."""
    tmp, model, _src = setup
    for h, w in ((1, 20000), (4, 4)):
        p = tmp / f"strip_{h}x{w}.png"
        Image.fromarray(np.full((h, w, 3), 120, np.uint8)).save(p)
        out = tmp / f"out_{h}x{w}.png"
        assert main(["stylize", str(p), "-o", str(out), "--model", str(model), "--device", "cpu"]) == 0, \
            capsys.readouterr().err
        with Image.open(out) as im:
            assert im.size == (w, h)


def test_colliding_names_are_renamed_and_listed_and_stale_temp_files_cleaned(setup, capsys):
    """14.4 (a.jpg, a.png, a.webp -> one file) and 14.9 (a killed run's hidden temp files stayed for good)."""
    tmp, model, _src = setup
    src = tmp / "clash"
    src.mkdir()
    for i, (suffix, fmt) in enumerate(((".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"))):
        Image.fromarray(np.full((12, 12, 3), 40 * i, np.uint8)).save(src / f"a{suffix}", format=fmt)
    out = tmp / "clash_out"
    out.mkdir()
    stale = out / ".a_png_latest_net_G.png.0123abcd.tmp"  # what an interrupted atomic write leaves
    stale.write_bytes(b"half a file")
    assert main(["stylize", str(src), "-o", str(out), "--model", str(model), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["a_jpg_latest_net_G.png", "a_png_latest_net_G.png",
                                                     "a_webp_latest_net_G.png"]
    assert "3 written" in captured.out and "3 renamed" in captured.out
    assert captured.err.count("renamed:") == 3
    assert main(["stylize", str(src), "-o", str(out), "--model", str(model), "--device", "cpu"]) == 0
    assert "0 written, 3 skipped" in capsys.readouterr().out


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_refused(setup, capsys):
    tmp, model, src = setup
    rc = main(["stylize", str(src), "-o", str(tmp / "o"), "--model", str(model), "--device", "cuda"])
    assert rc == 2
    errs = _err_lines(capsys)
    assert len(errs) == 1 and "cuda" in errs[0] and "not available" in errs[0]
    assert not (tmp / "o").exists()
