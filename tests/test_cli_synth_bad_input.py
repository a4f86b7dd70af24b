"""`ganstudio synth` with bad input, as the other commands (tests/test_cli_bad_input.py): a clear one-line error
naming the file once, rc 2 for a run that cannot start, a batch finished past bad files with a summary and rc 1,
and the user's label maps and model file never overwritten."""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_cyclegan_file

from ganstudio.cli import main
from ganstudio.nets import spade


@pytest.fixture(autouse=True)
def _fresh_cache():
    from ganstudio.checkpoints import cache as model_cache

    model_cache.clear_cache()
    yield
    model_cache.clear_cache()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder) -> dict:
    return {p: _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(3)
    net = spade.SPADEGenerator(5, ngf=2, label_nc=4, contain_dontcare_label=True, crop_size=64).eval()
    path = tmp_path / "models" / "latest_net_G.pth"
    path.parent.mkdir()
    torch.save(net.state_dict(), path)
    (path.parent / "latest_net_G.pth.json").write_text(json.dumps({"label_nc": 4, "crop_size": 64}))
    return path


@pytest.fixture
def maps(tmp_path):
    """A folder (spaces, non-ASCII) with two good label maps (one in a sub-folder) and two broken files."""
    src = tmp_path / "Karten ü"
    (src / "sub").mkdir(parents=True)
    a = np.zeros((64, 64), np.uint8)
    a[10:40, 5:50] = 2
    Image.fromarray(a, mode="L").save(src / "a.png")
    Image.fromarray(np.full((64, 64), 3, np.uint8), mode="L").save(src / "sub" / "b.png")
    buf = io.BytesIO()
    Image.fromarray(a, mode="L").save(buf, "PNG")
    (src / "trunc.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    Image.fromarray(np.full((64, 64), 9, np.uint8), mode="L").save(src / "range.png")  # ids above the 4 labels
    return src


def _run(argv, capsys):
    rc = main(["synth", *argv])
    cap = capsys.readouterr()
    lines = cap.err.replace("\r", "\n").splitlines()
    return rc, cap.out, [ln for ln in lines if ln.startswith(("error", "  failed"))], lines


def test_refuses_to_overwrite_the_input_image(tmp_path, maps, model, capsys):
    src = maps / "a.png"
    before = _sha(src)
    rc, _, errs, _ = _run([str(src), "-o", str(src), "-m", str(model)], capsys)  # before: rc 0, map replaced
    assert rc == 2
    assert len(errs) == 1 and "would overwrite this input" in errs[0] and "a.png" in errs[0]
    # the same file reached through another spelling of the path
    rc, _, errs, _ = _run([str(src), "-o", str(maps / "sub" / ".." / "a.png"), "-m", str(model)], capsys)
    assert rc == 2 and len(errs) == 1 and "would overwrite this input" in errs[0]
    # a loose file with its own folder as the output folder: a.png would be written over a.png
    rc, _, errs, _ = _run([str(src), "-o", str(maps), "-m", str(model)], capsys)
    assert rc == 2 and len(errs) == 1 and "overwrite" in errs[0] and "a.png" in errs[0]
    assert _sha(src) == before


def test_output_folder_equal_to_the_input_folder_is_refused(tmp_path, maps, model, capsys):
    before = _tree(maps)
    rc, _, errs, _ = _run([str(maps), "-o", str(maps), "-m", str(model)], capsys)  # before: every map replaced
    assert rc == 2
    assert len(errs) == 1 and "is the input folder" in errs[0] and "Karten ü" in errs[0]
    # several inputs where one result would land on an input: that file fails, the other is written
    rc, _, errs, _ = _run([str(maps / "sub" / "b.png"), str(maps / "a.png"), "-o", str(maps / "sub"),
                           "-m", str(model)], capsys)
    assert rc == 1
    assert len(errs) == 1 and "b.png" in errs[0] and "would overwrite this input" in errs[0], errs
    assert (maps / "sub" / "a.png").is_file()
    (maps / "sub" / "a.png").unlink()
    for p, h in before.items():
        assert _sha(p) == h, p


def test_output_folder_above_the_input_still_works(tmp_path, maps, model, capsys):
    """-o ~/maps for ~/maps/city: the output folder holds the input, which must not hide it."""
    rc, out, errs, _ = _run([str(maps), "-o", str(tmp_path), "-m", str(model)], capsys)
    assert rc == 1  # the two broken files
    assert (tmp_path / "a.png").is_file() and (tmp_path / "sub" / "b.png").is_file()
    assert "2 written, 0 skipped (already done), 2 failed" in out


def test_unwritable_output_and_the_model_file_as_output(tmp_path, maps, model, capsys):
    blocker = tmp_path / "file.txt"  # root ignores chmod: a folder under a file cannot be created either
    blocker.write_text("x")
    for inputs, out in (([str(maps)], blocker / "out"), ([str(maps / "a.png")], blocker / "out" / "x.png")):
        rc, _, errs, lines = _run([*inputs, "-o", str(out), "-m", str(model)], capsys)  # before: NotADirectoryError
        assert rc == 2
        assert len(errs) == 1 and errs[0].startswith("error: cannot create the output folder") \
            and "file.txt is a file" in errs[0], lines
    before = _sha(model)
    for inputs in ([str(maps)], [str(maps / "a.png")]):
        rc, _, errs, _ = _run([*inputs, "-o", str(model), "-m", str(model)], capsys)  # before: FileExistsError
        assert rc == 2
        assert len(errs) == 1 and "latest_net_G.pth is the model file itself" in errs[0], errs
    assert _sha(model) == before


def test_wrong_family_and_unreadable_files_are_named_once(tmp_path, maps, model, capsys):
    cyc = tiny_cyclegan_file(tmp_path / "horse2zebra.pth")
    rc, _, errs, _ = _run([str(maps / "a.png"), "-o", str(tmp_path / "o.png"), "-m", cyc], capsys)
    assert rc == 2  # before: "this is a cyclegan checkpoint, not spade" without the file
    assert len(errs) == 1 and "horse2zebra.pth" in errs[0] and "cyclegan" in errs[0]
    rc, _, errs, _ = _run([str(maps / "trunc.png"), "-o", str(tmp_path / "o.png"), "-m", str(model)], capsys)
    assert rc == 2  # before: "trunc.png: trunc.png: not a readable image"
    assert len(errs) == 1 and errs[0].count("trunc.png") == 1 and "not a readable image" in errs[0]
    noise = tmp_path / "noise.pth"
    noise.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)))
    rc, _, errs, _ = _run([str(maps / "a.png"), "-o", str(tmp_path / "o.png"), "-m", str(noise)], capsys)
    assert rc == 2
    assert len(errs) == 1 and errs[0] == "error: noise.pth is not a PyTorch (.pth/.pt) or safetensors checkpoint"


def test_batch_lists_each_bad_file_once_with_a_summary(tmp_path, maps, model, capsys):
    before = _tree(maps)
    out = tmp_path / "out"
    rc, stdout, errs, lines = _run([str(maps), "-o", str(out), "-m", str(model)], capsys)
    assert rc == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "sub/b.png"]
    assert "2 written, 0 skipped (already done), 2 failed" in stdout  # before: no summary
    # before: each bad file twice (an ERROR log line and a "skipped" line) and none in a closing list
    assert not any(ln.startswith(("skipped", "ERROR")) for ln in lines), lines
    failed = [ln for ln in errs if ln.startswith("  failed")]
    assert len(failed) == 2
    trunc = next(ln for ln in failed if "trunc.png" in ln)
    assert trunc.count("trunc.png") == 1 and "not a readable image" in trunc
    rng = next(ln for ln in failed if "range.png" in ln)
    assert "out of range" in rng and "9" in rng
    assert _tree(maps) == before


def test_a_map_given_twice_is_rendered_once_and_name_clashes_are_renamed(tmp_path, maps, model, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.png").write_bytes((maps / "sub" / "b.png").read_bytes())
    out = tmp_path / "out"
    rc, stdout, errs, lines = _run([str(maps / "a.png"), str(maps / "a.png"), str(other / "a.png"), "-o", str(out),
                                    "-m", str(model)], capsys)
    # before: other/a.png silently replaced the result of maps/a.png; then: it failed. Now (the rule of every
    # batch command): both are written under names that keep them apart, and the report says so
    assert rc == 0
    assert "2 written" in stdout and "2 renamed to avoid a name clash" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["a_png.png", "a_png_2.png"]
    assert sum("renamed:" in ln for ln in lines) == 2
    alone = tmp_path / "alone.png"
    assert main(["synth", str(maps / "a.png"), "-o", str(alone), "-m", str(model)]) == 0
    np.testing.assert_array_equal(np.array(Image.open(out / "a_png.png")), np.array(Image.open(alone)))
