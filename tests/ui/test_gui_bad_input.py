"""The Latent and Paint tabs driven with bad input, as a user would: files that are no images, a decompression
bomb, wrong / truncated / discriminator checkpoints, exports to a folder that is a file, undo after an import,
closing the panel while it works. Each must end in one clear status line (no exception, no silent no-op),
keep what the user had, and leave no thread running (the autouse fixture in conftest.py checks threads)."""
from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.ui.latent_panel import LatentPanel
from ganstudio.ui.paint_panel import PaintPanel

from tiny_models import tiny_cyclegan_file, tiny_spade_file, tiny_stylegan2_file

T = 30000  # ms: generous upper bounds for waits on a busy 2-core machine; no test depends on them


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_bomb(path):
    """A valid PNG header claiming 60000 x 60000 RGB pixels (3.6 Gpx) with almost no data."""
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _png_chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------------------ latent
@pytest.fixture
def lat(qtbot, tmp_path):
    p = LatentPanel()
    qtbot.addWidget(p)
    model = tiny_stylegan2_file(tmp_path / "tiny.pt")
    with qtbot.waitSignal(p.grid_ready, timeout=T):
        p.set_model(model)
    qtbot.waitUntil(lambda: p.edit.current_image is not None, timeout=T)
    yield p
    p.shutdown()


def _lat_idle(qtbot, p):
    qtbot.waitUntil(p.is_idle, timeout=T)


@pytest.mark.parametrize("kind", ["text", "bomb"])
def test_latent_open_bad_image_says_why_once(lat, qtbot, tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "text":
        path.write_text("this is a text file renamed .png")
    else:
        write_bomb(path)
    assert lat.open_image(str(path))
    _lat_idle(qtbot, lat)
    msg = lat.status.text()
    assert msg.startswith(f"Cannot open {path.name}: ")
    # imageio's message, not the worker's class name or Pillow's wording, and the path only once
    assert "Error:" not in msg and msg.count(path.name) == 1
    assert ("not an image" in msg) if kind == "text" else ("decompression bomb" in msg and "refused" in msg)
    assert lat.session.last_projection is None and lat.projection.result_label.text() == ""  # nothing projected


def test_latent_open_missing_file_is_not_silent(lat):
    assert not lat.open_image("/nonexistent/photo.png")
    assert "no such file" in lat.status.text()


def test_latent_bad_model_keeps_the_open_one(lat, qtbot, tmp_path):
    good = lat.model_path
    sha = lat.model_info["sha256"]
    cyc = tiny_cyclegan_file(tmp_path / "latest_net_G.pth")
    data = (tmp_path / "tiny.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    for path, why in ((cyc, "cyclegan"), (str(tmp_path / "cut.pt"), "truncated")):
        lat.set_model(path)
        _lat_idle(qtbot, lat)
        msg = lat.status.text()
        assert msg.startswith("Cannot open ") and why in msg and msg.endswith("still using tiny.pt"), msg
        assert "Error:" not in msg
        # the model list shows the model still in use, not the file that failed
        assert lat.model_bar.current_ref() == good and lat.model_path == good and lat.model_info["sha256"] == sha
    # and it still renders: a slider-free re-render of the picked seed works
    rid = lat.edit.render()
    qtbot.waitUntil(lambda: lat.edit.last_shown == rid, timeout=T)


def test_latent_export_into_a_file_says_so(lat, qtbot, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    lat.edit.export_to(str(blocker / "out.png"))
    _lat_idle(qtbot, lat)
    assert lat.status.text() == f"Cannot export out.png: the folder {blocker} is a file"
    assert blocker.read_text() == "x"


def test_latent_stop_and_close_during_projection(lat, qtbot, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(photo)
    proj = lat.projection
    proj.steps.setValue(5000)
    proj.project(str(photo))
    assert not proj.progress.bar.isHidden()
    qtbot.waitUntil(lambda: proj.progress.bar.value() > 0, timeout=T)
    proj.stop()
    _lat_idle(qtbot, lat)
    # the progress bar goes away with the stopped job (it stayed on screen before)
    assert proj.progress.bar.isHidden() and not proj.is_running()
    assert proj.result_label.text() == "projection stopped"
    # closing the panel mid-projection joins the worker (conftest fails the test on a running thread)
    proj.project(str(photo))
    qtbot.waitUntil(lambda: proj.progress.bar.value() > 0, timeout=T)
    lat.shutdown()
    assert lat.is_idle()


# ------------------------------------------------------------------------------------------------ paint
@pytest.fixture
def spade_path(tmp_path):
    return tiny_spade_file(tmp_path / "tiny_G.pth")


@pytest.fixture
def pp(qtbot, spade_path, tmp_path_factory, monkeypatch):
    from ganstudio.ui.settings import Settings

    # a private settings file in fp32: results are compared exactly ("auto" picks bf16 on an AMX CPU, where
    # the tiny random model's saturated outputs differ between thread counts)
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path_factory.mktemp("home")))
    Settings().precision = "fp32"
    p = PaintPanel()
    p.scheduler.adaptive_live = False
    p.scheduler.live_scale = 1.0  # full-size live renders: no second render after a pause, fewer jobs
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.rendered, timeout=T):
        p.set_model(str(spade_path))
    qtbot.waitUntil(p.is_idle, timeout=T)
    yield p
    p.shutdown()


@pytest.mark.parametrize("kind", ["text", "bomb"])
def test_paint_open_bad_image_keeps_the_map(pp, qtbot, tmp_path, kind):
    pp.canvas.set_label_map(np.full((64, 64), 2, np.uint8), reset_history=False)
    qtbot.waitUntil(pp.is_idle, timeout=T)
    path = tmp_path / f"{kind}.png"
    if kind == "text":
        path.write_text("not a picture")
    else:
        write_bomb(path)
    with qtbot.waitSignal(pp.message, timeout=T, check_params_cb=lambda m: m.startswith("Cannot open")):
        assert pp.open_image(str(path))
    qtbot.waitUntil(pp.is_idle, timeout=T)
    msg = pp.last_message
    assert "Error:" not in msg and msg.count(path.name) == 1, msg
    # before: Pillow's 'DecompressionBombError: Image size (...) could be decompression bomb DOS attack.'
    assert ("not an image" in msg) if kind == "text" else msg.startswith(f"Cannot open {path.name}: refused")
    assert (pp.canvas.label_map == 2).all()


def test_paint_bad_model_keeps_rendering_with_the_open_one(pp, qtbot, tmp_path, spade_path):
    sg = tiny_stylegan2_file(tmp_path / "sg.pt")
    torch.save({"netD": 1}, tmp_path / "netD.pth")
    for path, why in ((sg, "stylegan2"), (str(tmp_path / "netD.pth"), "no tensors")):
        with qtbot.waitSignal(pp.message, timeout=T, check_params_cb=lambda m: m.startswith("Cannot use")):
            pp.set_model(path)
        qtbot.waitUntil(pp.is_idle, timeout=T)
        assert why in pp.last_message and pp.last_message.endswith("still using tiny_G.pth"), pp.last_message
        # before: panel.model pointed at the failed file and every stroke said 'Render failed'
        assert pp.model == str(spade_path)
        assert pp.model_box.currentData() == str(spade_path)
    with qtbot.waitSignal(pp.rendered, timeout=T):
        pp.canvas.set_label_map(np.full((64, 64), 1, np.uint8), reset_history=False)
    assert not pp.last_message.startswith("Render failed")


def test_paint_export_into_a_file_is_a_message_not_an_exception(pp, qtbot, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert pp.export_label_map(str(blocker / "labels.png")) is False
    assert pp.last_message == f"Cannot export labels.png: the folder {blocker} is a file"
    assert pp.export_result(str(tmp_path / "missing" / "r.png")) is False
    assert pp.last_message == f"Cannot export r.png: the folder {tmp_path / 'missing'} does not exist"
    assert pp.export_label_map(str(tmp_path / "ok.png")) is True and (tmp_path / "ok.png").is_file()


def test_paint_import_is_undoable(pp, qtbot, tmp_path):
    painted = np.zeros((64, 64), np.uint8)
    painted[:, 32:] = 3
    pp.canvas.set_label_map(painted, reset_history=False)
    qtbot.waitUntil(pp.is_idle, timeout=T)
    imported = np.ones((48, 40), np.uint8)
    imported[10:20, 5:30] = 2
    Image.fromarray(imported, "L").save(tmp_path / "map.png")
    with qtbot.waitSignal(pp.rendered, timeout=T):
        assert pp.open_image(str(tmp_path / "map.png"))
    qtbot.waitUntil(pp.is_idle, timeout=T)
    np.testing.assert_array_equal(pp.canvas.label_map, imported)
    # before: the import cleared the history, so the painting it replaced was lost
    with qtbot.waitSignal(pp.rendered, timeout=T):
        pp.canvas.undo_stack.undo()
    np.testing.assert_array_equal(pp.canvas.label_map, painted)
    qtbot.waitUntil(pp.is_idle, timeout=T)
    assert pp.last_result.shape[:2] == painted.shape  # the result follows the restored map
    with qtbot.waitSignal(pp.rendered, timeout=T):
        pp.canvas.undo_stack.redo()
    np.testing.assert_array_equal(pp.canvas.label_map, imported)


def test_paint_hammered_strokes_end_on_the_last_map(pp, qtbot):
    from ganstudio.engines import paint

    c = pp.canvas
    for i in range(12):  # a burst of edits: only the newest map matters
        lm = np.zeros((64, 64), np.uint8)
        lm[: 5 * (i + 1), :] = 1 + i % 3
        c.set_label_map(lm, reset_history=False)
    qtbot.waitUntil(pp.is_idle, timeout=T)
    assert pp.scheduler.runner.started_count < 12  # stale requests were dropped
    np.testing.assert_array_equal(pp.last_result, paint.render(c.label_map, model=str(pp.model), precision="fp32"))


def test_paint_close_while_rendering_leaves_no_thread(pp, qtbot):
    pp.canvas.set_label_map(np.full((64, 64), 3, np.uint8), reset_history=False)
    before = (pp.scheduler.full_renders, pp.last_result)
    qtbot.waitUntil(lambda: pp.scheduler.runner.is_busy(), timeout=T)  # the live render runs
    pp.render_full()
    pp.shutdown()
    assert not pp.scheduler.runner.is_busy() and not pp.is_busy()
    # a job started on the same event-loop turn starts after shutdown (start_job defers thread.start), sees
    # its cancelled token and ends by itself; nothing it made is shown
    from ganstudio.workers import engine_worker

    assert not any(h.is_running() for h in engine_worker.active_jobs())  # joined by shutdown
    assert pp.scheduler.full_renders == before[0] and pp.last_result is before[1]


def test_latent_save_directions_and_interpolation_exports_into_a_file(lat, qtbot, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with qtbot.waitSignal(lat.directions_changed, timeout=T):
        lat.edit.compute_directions("sefa")
    _lat_idle(qtbot, lat)
    lat.edit.save_directions(str(blocker / "dirs.npz"))
    # before: '[Errno 20] Not a directory: .../afile/.dirs.npz.8134b366.part.npz'
    assert lat.status.text() == f"Cannot save dirs.npz: the folder {blocker} is a file"
    lat.grid.pick([0, 1])
    lat.interp.steps_spin.setValue(3)
    lat.interp.interpolate()
    _lat_idle(qtbot, lat)
    lat.interp.export_strip_to(str(blocker / "strip.png"))
    assert lat.status.text() == f"Cannot export strip.png: the folder {blocker} is a file"
    lat.interp.export_frames_to(str(blocker))
    assert lat.is_idle()  # refused before any job (was one failing job per frame)
    assert lat.status.text() == f"Cannot export the frames: {blocker} is a file"
    # a good folder: every frame written by one job, and the status says so
    out = tmp_path / "frames"
    out.mkdir()
    with qtbot.waitSignal(lat.exported, timeout=T):
        lat.interp.export_frames_to(str(out))
    _lat_idle(qtbot, lat)
    n = len(lat.session.frames)
    assert n >= 3
    assert sorted(p.name for p in out.iterdir()) == [f"frame_{i:04d}.png" for i in range(n)]
    assert lat.status.text() == f"exported {n} frames to {out}"
    np.testing.assert_array_equal(np.asarray(Image.open(out / "frame_0002.png").convert("RGB")),
                                  lat.session.frames[2])


def test_latent_recipe_of_a_missing_model_is_a_status_line_not_a_dialog(lat, qtbot, tmp_path):
    out = tmp_path / "edit.png"
    with qtbot.waitSignal(lat.exported, timeout=T):
        lat.edit.export_to(str(out))
    _lat_idle(qtbot, lat)
    (tmp_path / "tiny.pt").unlink()
    fresh = LatentPanel()
    qtbot.addWidget(fresh)
    try:
        assert fresh.open_image(str(out))  # a modal QMessageBox here used to block until clicked
        _lat_idle(qtbot, fresh)
        msg = fresh.status.text()
        assert msg.startswith("edit.png was made with a model that is not open") and "tiny.pt is missing" in msg
    finally:
        fresh.shutdown()


def test_paint_quick_model_switch_ends_on_the_last_choice(pp, qtbot, tmp_path, spade_path):
    """A good model then at once a bad one: the good one's (older) answer must not install the bad file."""
    other = tmp_path / "other_G.pth"
    other.write_bytes(spade_path.read_bytes())
    bad = tiny_stylegan2_file(tmp_path / "sg.pt")
    pp.set_model(str(other))
    with qtbot.waitSignal(pp.message, timeout=T, check_params_cb=lambda m: m.startswith("Cannot use sg.pt")):
        pp.set_model(bad)
    qtbot.waitUntil(pp.is_idle, timeout=T)
    qtbot.waitUntil(lambda: not pp.describe_job.is_running(), timeout=T)
    # before: the first answer took the pending (bad) path as panel.model
    assert pp.model == str(spade_path) and pp.model_box.currentData() == str(spade_path)
    assert pp.last_message.endswith("still using tiny_G.pth")


def test_latent_hammered_grid_settings_end_on_the_final_state(lat, qtbot):
    from ganstudio.engines import latent as L

    for i, psi in enumerate((0.2, 0.9, 0.5, 0.7, 0.35)):  # seeds and ψ changed quickly, in turns
        lat.grid.seed_spin.setValue(16 * (i + 1))
        lat.grid.trunc_spin.setValue(psi)
    _lat_idle(qtbot, lat)
    seeds = list(range(80, 96))
    assert lat.session.grid_seeds == seeds and lat.status.text() == "seeds 80–95"  # not 'cancelled' (dropped grid)
    lm = L.open_model(lat.model_path)
    want = L.render_state({"seeds": seeds, "truncation": 0.35}, model=lm)["images"]
    np.testing.assert_array_equal(lat.session.grid_images, want)
    # the edited image follows ψ too (its base seed is still 0)
    np.testing.assert_array_equal(lat.edit.current_image,
                                  L.render_state({"seeds": [0], "truncation": 0.35}, model=lm)["images"][0])


def test_latent_quick_model_switch_ends_on_the_last_choice(lat, qtbot, tmp_path):
    first = lat.model_path
    other = tiny_stylegan2_file(tmp_path / "other.pt", seed=5)
    lat.set_model(other)
    lat.set_model(first)  # changed my mind at once
    _lat_idle(qtbot, lat)
    assert lat.model_path == first and lat.model_bar.current_ref() == first
    from ganstudio.engines import latent as L

    want = L.render_state({"seeds": list(range(16))}, model=L.open_model(first))["images"]
    np.testing.assert_array_equal(lat.session.grid_images, want)


def test_paint_export_wrong_suffix_or_onto_a_folder(pp, tmp_path):
    (tmp_path / "taken.png").mkdir()
    assert pp.export_label_map(str(tmp_path / "labels.jpg")) is False  # was written: a PNG named .jpg
    assert pp.last_message == "Cannot export labels.jpg: a label map is saved as an indexed PNG (.png)"
    assert not (tmp_path / "labels.jpg").exists()
    for export in (pp.export_label_map, pp.export_result):
        assert export(str(tmp_path / "taken.png")) is False
        assert pp.last_message == f"Cannot export taken.png: {tmp_path / 'taken.png'} is a folder"
    assert pp.export_result(str(tmp_path / "r.bmp")) is False
    assert pp.last_message.startswith("Cannot export r.bmp: cannot write .bmp; use one of")
    assert (tmp_path / "taken.png").is_dir() and not any((tmp_path / "taken.png").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png", "tiny_G.pth", "tiny_G.pth.json"]


def test_latent_export_wrong_suffix_or_onto_a_folder(lat, qtbot, tmp_path):
    (tmp_path / "taken.png").mkdir()
    lat.edit.export_to(str(tmp_path / "taken.png"))
    assert lat.status.text() == f"Cannot export taken.png: {tmp_path / 'taken.png'} is a folder"
    lat.edit.export_to(str(tmp_path / "edit.jpg"))  # the recipe needs PNG text chunks
    assert lat.status.text() == "Cannot export edit.jpg: save it as .png"
    _lat_idle(qtbot, lat)
    assert not (tmp_path / "edit.jpg").exists() and not any((tmp_path / "taken.png").iterdir())


def test_paint_two_quick_opens_end_on_the_second_file(pp, qtbot, tmp_path):
    big = np.zeros((512, 512), np.uint8)  # slower to read than the second one
    big[:, 256:] = 1
    small = np.full((32, 48), 2, np.uint8)
    Image.fromarray(big, "L").save(tmp_path / "first.png")
    Image.fromarray(small, "L").save(tmp_path / "second.png")
    pp.open_image(str(tmp_path / "first.png"))
    pp.open_image(str(tmp_path / "second.png"))
    # both jobs' answers handled (a thread's finished comes after its result), the renders done
    qtbot.waitUntil(lambda: not pp.open_job.is_running() and pp.is_idle(), timeout=T)
    np.testing.assert_array_equal(pp.canvas.label_map, small)
    assert pp.last_message.startswith("Opened second.png")


def test_latent_two_quick_opens_project_the_second_photo(lat, qtbot, tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (1024, 1024, 3), np.uint8)).save(tmp_path / "first.png")  # slower to read
    second = rng.integers(0, 255, (32, 32, 3), np.uint8)
    Image.fromarray(second).save(tmp_path / "second.png")
    lat.projection.steps.setValue(10)
    lat.open_image(str(tmp_path / "first.png"))
    lat.open_image(str(tmp_path / "second.png"))
    _lat_idle(qtbot, lat)
    # before: the first file, read last, was projected over the second one
    target = lat.session.last_projection["target"].astype(np.int16)
    assert np.abs(target - second).mean() < 2


def test_latent_load_bad_directions_names_the_file(lat, qtbot, tmp_path):
    (tmp_path / "dirs.npz").write_text("garbage")
    lat.edit.load_directions(str(tmp_path / "dirs.npz"))
    _lat_idle(qtbot, lat)
    assert lat.status.text().startswith("Cannot load dirs.npz: ") and "Error:" not in lat.status.text()
    assert lat.edit.rows == []


def test_latent_buttons_with_nothing_to_do_say_so(lat, qtbot):
    assert not lat.projection.stop_btn.isEnabled()  # nothing to stop (it was enabled and said so when clicked)
    lat.projection.stop()
    assert lat.projection.result_label.text() == "no projection is running"
    lat.interp._export_dialog(strip=True)  # the Export strip… button before any interpolation
    assert lat.status.text().startswith("nothing to export yet")
    fresh = LatentPanel()
    qtbot.addWidget(fresh)
    fresh.export()
    assert fresh.status.text() == "nothing to export yet: pick a seed tile first"
    fresh.shutdown()


def test_latent_recipe_with_a_foreign_direction_says_so(lat, qtbot, tmp_path):
    from PIL import PngImagePlugin

    from ganstudio.engines.latent import recipe as R

    out = tmp_path / "edit.png"
    with qtbot.waitSignal(lat.exported, timeout=T):
        lat.edit.export_to(str(out))
    _lat_idle(qtbot, lat)
    rec = R.read_recipe(str(out))
    rec["edits"] = [{"name": "smile", "strength": 1.0, "space": "w", "layers": [0, None],
                     "vector": R.encode_array(np.ones(5, np.float32))}]
    info = PngImagePlugin.PngInfo()
    info.add_itxt(R.KEY, json.dumps(rec))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "foreign.png", pnginfo=info)
    shown = lat.edit.current_image
    lat.open_image(str(tmp_path / "foreign.png"))
    _lat_idle(qtbot, lat)
    # before: 'RuntimeError: The size of tensor a (16) must match the size of tensor b (5) ...'
    assert lat.status.text() == ("direction 'smile' has (5,) values; this model's w space needs (16,): "
                                 "it was made for another model")
    assert lat.edit.current_image is shown and lat.edit.rows == []  # no slider row that would fail every render


def test_paint_map_read_for_another_label_set_is_refused(pp, qtbot):
    """The model changed while a file was being read: its ids no longer fit, nothing is replaced."""
    before = pp.canvas.label_map.copy()
    n = pp._n_labels
    lm = np.zeros((16, 16), np.uint8)
    lm[0, 0] = n + 2
    pp._opening = ("map.png", "map.png")
    pp._on_opened({"label_map": lm, "kind": "indexed", "messages": []})
    assert pp.last_message == f"Cannot open map.png: it has label ids up to {n + 2}; this model has {n} labels. " \
                              "Open it again."
    np.testing.assert_array_equal(pp.canvas.label_map, before)


def test_paint_label_search_without_a_match_says_so(pp):
    view = pp.palette_view
    for text in ("zzzz", "(", "[*"):  # no regex: plain text, nothing matches
        view.search.setText(text)
        assert view.visible_ids() == [] and view.all_label.text() == f"No label matches “{text}”"
    view.search.setText("2")  # an id matches too
    assert 2 in view.visible_ids() and view.all_label.text() == "Labels matching “2”"
    view.search.clear()
    assert view.all_label.text() == "All labels" and len(view.visible_ids()) == pp._n_labels
