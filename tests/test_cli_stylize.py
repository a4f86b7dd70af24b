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
    text = capsys.readouterr().out
    assert "broken.png" in text and "2 written" in text
    # again: everything done is skipped
    rc = main(["stylize", str(src), "-o", str(out), "--model", str(model), "--recursive", "--format", "webp",
               "--pattern", "{stem}-{model}"])
    assert "2 already done" in capsys.readouterr().out


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
    assert Image.open(out).size == (256, 256)


def test_unknown_model_is_a_clear_error(setup, capsys):
    tmp, _model, src = setup
    rc = main(["stylize", str(src), "-o", str(tmp / "x"), "--model", "not_a_model_id"])
    assert rc == 2
    assert "unknown model" in capsys.readouterr().err
