"""core.batch: the one batch planner / runner (rules shared by upscale, stylize, synth and the trainer)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganstudio.core.batch import BatchReport, gather_inputs, plan_batch, run_batch
from ganstudio.core.errors import InputError
from ganstudio.core.progress import CancelToken, Cancelled, Progress, run_to_completion


def _img(path: Path, value: int = 0, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path, format=fmt)
    return path


def _png_name(rel: Path, src: Path) -> Path:
    return rel.with_suffix(".png")


def test_an_input_is_never_an_output_even_with_overwrite(tmp_path):
    """Issue 14.3: 'ow/*' -o ow --overwrite wrote the upscale of a.gif over the original a.png."""
    ow = tmp_path / "ow"
    _img(ow / "a.gif", 1, "GIF")
    original = _img(ow / "a.png", 2).read_bytes()
    plan = plan_batch([str(ow / "*")], ow, name=_png_name, overwrite=True)
    # both would land on a.png: the clash is resolved by name, and neither new name is an input
    assert sorted(i.output.name for i in plan.items) == ["a_gif.png", "a_png.png"]
    run_to_completion(run_batch(plan, lambda item, _d: _img(item.output, 9)))
    assert (ow / "a.png").read_bytes() == original
    # a file whose output is itself is refused, --overwrite or not
    plan = plan_batch([str(ow / "a.png")], ow, name=_png_name, overwrite=True)
    assert plan.items == [] and "would overwrite this input" in plan.report.failed[0]["reason"]
    assert (ow / "a.png").read_bytes() == original


def test_colliding_output_names_are_renamed_before_the_run_and_reported(tmp_path):
    """Issue 14.4: a.jpg, a.png and a.webp all became one a_<model>.png."""
    src = tmp_path / "in"
    for ext in ("jpg", "png", "webp"):
        _img(src / f"a.{ext}", 3)
    plan = plan_batch([src], tmp_path / "out", name=lambda rel, s: rel.with_name(f"{rel.stem}_m.png"))
    outs = sorted(i.output.name for i in plan.items)
    assert outs == ["a_jpg_m.png", "a_png_m.png", "a_webp_m.png"]
    assert len(plan.report.renamed) == 3


def test_output_inside_one_of_several_inputs_is_never_read_back(tmp_path):
    """Issue 14.5: `upscale A B -o A --recursive` made A/A/A/... on every run."""
    a, b = tmp_path / "A", tmp_path / "B"
    _img(a / "x.png"), _img(b / "y.png")
    out = a / "results"
    for _run in range(3):
        plan = plan_batch([a, b], out, name=_png_name)
        rep = run_to_completion(run_batch(plan, lambda item, _d: _img(item.output)))
        assert not any("results" in Path(d["input"]).parts for d in rep.done)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["A/x.png", "B/y.png"]


def test_output_folder_equal_to_an_input_folder_is_refused(tmp_path):
    _img(tmp_path / "in" / "x.png")
    with pytest.raises(InputError, match="is the input folder"):
        plan_batch([tmp_path / "in"], tmp_path / "in")


def test_a_name_pattern_that_leaves_the_output_folder_is_refused(tmp_path):
    _img(tmp_path / "in" / "x.png")
    with pytest.raises(InputError, match="outside the output folder"):
        plan_batch([tmp_path / "in"], tmp_path / "out", name=lambda rel, s: Path("../../x_" + rel.name))
    assert not (tmp_path / "x_x.png").exists()


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path):
    _img(tmp_path / "in" / "x.png")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".x.png.0123abcd.tmp"
    stale.write_bytes(b"half")
    unrelated = out / ".notes.txt.0123abcd.tmp"  # not a planned output's temp file: left alone
    unrelated.write_bytes(b"keep")
    plan_batch([tmp_path / "in"], out, name=_png_name)
    assert not stale.exists() and unrelated.exists()


def test_done_files_are_skipped_and_a_bad_file_is_reported_once(tmp_path):
    src = tmp_path / "in"
    _img(src / "good.png"), _img(src / "done.png")
    (src / "bad.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    _img(out / "done.png")

    def process(item, decoded):
        if item.source.name == "bad.png":
            raise InputError(f"{item.source}: not a readable image")
        _img(item.output)

    rep = run_to_completion(run_batch(plan_batch([src], out, name=_png_name), process))
    assert [Path(d["input"]).name for d in rep.done] == ["good.png"]
    assert [Path(d["input"]).name for d in rep.skipped] == ["done.png"]
    assert rep.failed == [{"input": str(src / "bad.png"), "reason": "not a readable image"}]
    assert rep.exit_code == 1
    assert rep.text().count(str(src / "bad.png")) == 1  # issue 15.9: the path is printed once


def test_read_ahead_decodes_in_another_thread_in_order(tmp_path):
    src = tmp_path / "in"
    for i in range(5):
        _img(src / f"{i}.png", i)
    threads, got = set(), []

    def read(path):
        threads.add(threading.current_thread().name)
        return np.asarray(Image.open(path))[0, 0, 0]

    run_to_completion(run_batch(plan_batch([src], tmp_path / "o", name=_png_name),
                                lambda item, v: got.append(int(v)), read=read))
    assert got == [0, 1, 2, 3, 4]
    assert all(t.startswith("batch-read") for t in threads)


def test_cancel_raises_with_the_partial_report_and_pause_blocks_between_files(tmp_path):
    src = tmp_path / "in"
    for i in range(4):
        _img(src / f"{i}.png", i)
    token = CancelToken()
    seen = []

    def process(item, _d):
        seen.append(item.source.name)
        if len(seen) == 2:
            token.cancel()

    gen = run_batch(plan_batch([src], tmp_path / "o", name=_png_name), process, cancel=token)
    with pytest.raises(Cancelled) as info:
        run_to_completion(gen)
    assert seen == ["0.png", "1.png"]
    assert info.value.report.cancelled and len(info.value.report.done) == 2


def test_inner_progress_becomes_a_fraction_of_the_batch(tmp_path):
    src = tmp_path / "in"
    for i in range(2):
        _img(src / f"{i}.png", i)

    def process(item, _d):
        yield Progress(1, 2, "tile 1/2")
        yield Progress(2, 2, "tile 2/2")
        return {"thumb": np.zeros((2, 2, 3), np.uint8)}

    reports = []
    run_to_completion(run_batch(plan_batch([src], tmp_path / "o", name=_png_name), process), reports.append)
    dones = [p.done for p in reports]
    assert 0.5 in dones and 1.5 in dones and dones == sorted(dones)
    assert any("tile 1/2" in p.message and "ETA" in p.message for p in reports)
    assert sum(1 for p in reports if p.extra.get("thumb") is not None) == 2


def test_several_folders_each_get_their_own_subfolder_and_a_file_twice_runs_once(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    _img(a / "x.png"), _img(b / "x.png")
    pairs = gather_inputs([a, b, a / "x.png"])
    assert [r.as_posix() for _, r in pairs] == ["A/x.png", "B/x.png"]


def test_single_file_output(tmp_path):
    f = _img(tmp_path / "a.png")
    plan = plan_batch([f], tmp_path / "b.png")
    assert plan.single_file and [i.output for i in plan.items] == [tmp_path / "b.png"]
    with pytest.raises(InputError, match="no images"):
        plan_batch([tmp_path / "empty"] if (tmp_path / "empty").mkdir() is None else [], tmp_path / "o")


def test_output_folder_under_a_file_is_refused_once(tmp_path):
    f = _img(tmp_path / "a.png")
    with pytest.raises(InputError, match="is a file"):
        plan_batch([f], tmp_path / "a.png" / "sub")


def test_report_summary_counts():
    rep = BatchReport(output_dir="out", total=3)
    rep.done.append({"input": "a", "output": "b"})
    rep.fail("c.png", InputError("c.png: broken"))
    assert rep.summary() == "1 written, 0 skipped (already done), 1 failed -> out"
    assert rep.failed[0]["reason"] == "broken"
