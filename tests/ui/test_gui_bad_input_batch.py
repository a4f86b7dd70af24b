"""A demanding user on the Upscale and Stylize tabs and the main window: several files dropped at once,
broken / unusual images, wrong or truncated model files, cancelling, closing the window mid-batch, output
folders inside the input or under a file. Every case must show a clear message in the panel, leave no
thread running (the autouse guard in conftest checks) and lose nothing (inputs untouched, no half files).

Fast: tiny seeded models from tiny_models.py, images of a few pixels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from ganstudio.ui.settings import Settings
from ganstudio.ui.stylize_panel import StylizePanel
from ganstudio.ui.upscale_panel import UpscalePanel

from tiny_models import tiny_cyclegan_file, tiny_srvgg_file

WAIT = 30000


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("GANSTUDIO_HOME", str(h))
    return h


@pytest.fixture(scope="module")
def sr_model(tmp_path_factory):
    return str(tiny_srvgg_file(tmp_path_factory.mktemp("sr") / "tiny_srvgg_x2.pth", seed=1))


@pytest.fixture(scope="module")
def cyclegan_model(tmp_path_factory):
    return tiny_cyclegan_file(tmp_path_factory.mktemp("cg") / "tiny_G.pth", seed=3)


def _png(path: Path, size=(10, 12), mode="RGB", seed=0) -> Path:
    rng = np.random.default_rng(seed)
    h, w = size
    channels = {"RGB": 3, "RGBA": 4}[mode]
    arr = rng.integers(0, 255, (h, w, channels), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr, mode).save(path)
    return path


def _folder(root: Path, n=3) -> Path:
    for i in range(n):
        _png(root / f"img{i}.png", seed=i)
    return root


@pytest.fixture
def up(qtbot, sr_model):
    p = UpscalePanel()
    p.settings = None  # auto device (CPU here), fp32: keep the user's settings out of it
    qtbot.addWidget(p)
    p.add_model_path(sr_model)
    p.scale_spin.setValue(2.0)  # the tiny model's own scale
    yield p
    p.shutdown()


@pytest.fixture
def sty(qtbot, cyclegan_model):
    p = StylizePanel()
    p.settings = None
    qtbot.addWidget(p)
    p.add_model_path(cyclegan_model)
    yield p
    p.shutdown()
    _idle(qtbot, p)


def _state(panel):
    s, b = getattr(panel, "_single", None), getattr(panel, "_batch", None)
    return {k: (h, h.thread.isRunning(), h.thread.isFinished()) if h is not None else None
            for k, h in (("single", s), ("batch", b))} if not hasattr(panel, "_jobs") else dict(panel._jobs)


def _idle(qtbot, panel):
    try:
        qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    except Exception:
        raise AssertionError(f"still busy: {_state(panel)}") from None


def _drop_event(paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    ev._mime = mime
    return ev


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ several files dropped
def test_upscale_drop_of_several_files_and_a_folder(qtbot, up, tmp_path):
    a, b = _png(tmp_path / "a.png"), _png(tmp_path / "b.png", seed=1)
    folder = _folder(tmp_path / "pics")
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT) as sig:
        up.dropEvent(_drop_event([a, b, folder]))
    assert sig.args[0] == str(a)
    assert up.in_edit.text() == str(folder)  # the folder is the batch input, nothing started
    assert not up.batch_view.is_running()
    _idle(qtbot, up)
    status = up.status.text()
    assert "a.png" in status and "1 other dropped item not opened" in status and "Batch" in status
    assert "Start batch" in up.batch_status.text()


def test_upscale_drop_of_several_files_says_what_happened(qtbot, up, tmp_path):
    files = [_png(tmp_path / f"f{i}.png", seed=i) for i in range(3)]
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT):
        msg = up.open_many(files)
    assert "2 other dropped items not opened" in msg
    _idle(qtbot, up)
    assert "2 other dropped items" in up.status.text() and up.in_edit.text() == ""
    assert up.open_many([tmp_path / "nothing.txt"]) == ""
    assert "Nothing to open" in up.status.text()


def test_stylize_drop_of_several_files_and_a_folder(qtbot, sty, tmp_path):
    a, b = _png(tmp_path / "a.png", size=(16, 16)), _png(tmp_path / "b.png", seed=1)
    folder = _folder(tmp_path / "pics")
    with qtbot.waitSignal(sty.image_finished, timeout=WAIT):
        msg = sty.open_many([a, b, folder])
    assert sty.in_edit.text() == str(folder) and not sty.batch_view.is_running()  # nothing started
    assert "a.png" in msg and "1 other dropped item not opened" in msg
    assert sty.drop_note.isVisibleTo(sty) and sty.drop_note.text() == msg


def test_main_window_routes_several_dropped_files_to_the_current_tab(qtbot, tmp_path, sr_model):
    from ganstudio.ui.main_window import MainWindow

    w = MainWindow(Settings(), probe_device=False)
    qtbot.addWidget(w)
    w.switch_to("Upscale")
    panel = w.panels["Upscale"]
    panel.add_model_path(sr_model)
    files = [_png(tmp_path / f"f{i}.png", seed=i) for i in range(3)]
    with qtbot.waitSignal(panel.image_loaded, timeout=WAIT) as sig:
        assert w.open_paths([str(f) for f in files] + [str(tmp_path / "notes.txt")])
    assert sig.args[0] == str(files[0])
    assert "2 other dropped items not opened" in w.statusBar().currentMessage()
    assert w.current_title() == "Upscale"
    _idle(qtbot, panel)
    w.close()


# ------------------------------------------------------------------------- Upscale: the new controls
def test_upscale_batch_bar_hidden_until_a_batch_starts(qtbot, up, tmp_path):
    assert up.batch_progress.isHidden()
    up.open_folder(str(_folder(tmp_path / "in", n=1)))
    up.out_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(up.batch_finished, timeout=WAIT):
        assert up.start_batch()
        assert not up.batch_progress.isHidden()
    _idle(qtbot, up)


def test_upscale_precision_follows_settings_unless_overridden(qtbot, up, home):
    s = Settings()
    s.precision = "bf16"
    up.settings = s
    assert up.precision_combo.currentData() is None  # "As in Settings"
    assert up._job_common()["precision"] == "bf16"
    s.precision = "fp16"  # changed in Settings > Precision later: the tab follows
    assert up._job_common()["precision"] == "fp16"
    up.precision_combo.setCurrentIndex(up.precision_combo.findData("fp32"))
    assert up._job_common()["precision"] == "fp32"
    assert "Settings" in up.precision_combo.toolTip()
    up.precision_combo.setCurrentIndex(up.precision_combo.findData("auto"))  # offered, as everywhere
    assert up._job_common()["precision"] == "auto"
    up.settings = None
    up.precision_combo.setCurrentIndex(0)
    assert up._job_common()["precision"] == "auto"  # the default without settings


def test_upscale_alpha_method_reaches_the_engine(qtbot, up, tmp_path):
    img = tmp_path / "rgba.png"
    arr = np.zeros((8, 8, 4), np.uint8)
    arr[..., :3] = 200
    arr[:, :4, 3] = 255  # half transparent
    Image.fromarray(arr, "RGBA").save(img)
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT):
        up.open_image(str(img))
    _idle(qtbot, up)
    results = {}
    for method in ("bicubic", "network"):
        up.alpha_combo.setCurrentIndex(up.alpha_combo.findData(method))
        assert up._job_common()["alpha"] == method
        with qtbot.waitSignal(up.upscale_finished, timeout=WAIT) as sig:
            assert up.upscale()
        _idle(qtbot, up)
        results[method] = sig.args[0].image.alpha
    assert results["bicubic"].shape == results["network"].shape == (16, 16)
    assert not np.array_equal(results["bicubic"], results["network"])  # the choice changes the result


# ------------------------------------------------------------------------------- Upscale: bad images
@pytest.mark.parametrize("content, expect", [
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "broken.png"),    # corrupt PNG
    (b"just some notes, not a picture\n", "broken.png"),   # text file renamed .png
])
def test_upscale_unreadable_image_says_so(qtbot, up, tmp_path, content, expect):
    bad = tmp_path / "broken.png"
    bad.write_bytes(content)
    with qtbot.waitSignal(up.failed, timeout=WAIT) as sig:
        assert up.open_image(str(bad))
    _idle(qtbot, up)
    assert expect in sig.args[0]
    assert up.status.text().startswith("Could not open the image:") and expect in up.status.text()
    assert "Error" not in up.status.text()  # no exception class names for a user's bad file
    assert up.source is None and not up.run_btn.isEnabled()
    assert bad.read_bytes() == content


def _cmyk_jpeg(path):
    Image.fromarray(np.full((8, 10, 4), 60, np.uint8), "CMYK").save(path, "JPEG")
    return path


def _png16(path):
    arr = (np.arange(8 * 10, dtype=np.uint16).reshape(8, 10) * 800)
    Image.fromarray(arr).save(path)  # mode I;16
    return path


@pytest.mark.parametrize("make, bit_depth, has_alpha", [
    (_png16, 16, False),
    (lambda p: _png(p, size=(8, 10), mode="RGBA"), 8, True),
    (_cmyk_jpeg, 8, False),
])
def test_upscale_unusual_images_open_and_upscale(qtbot, up, tmp_path, make, bit_depth, has_alpha):
    suffix = ".jpg" if make is _cmyk_jpeg else ".png"
    src = make(tmp_path / f"odd{suffix}")
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT):
        up.open_image(str(src))
    _idle(qtbot, up)
    assert f"{bit_depth}-bit" in up.status.text()
    with qtbot.waitSignal(up.upscale_finished, timeout=WAIT) as sig:
        assert up.upscale()
    _idle(qtbot, up)
    res = sig.args[0]
    assert res.image.pixels.shape[:2] == (16, 20) and res.image.bit_depth == bit_depth
    assert (res.image.alpha is not None) == has_alpha
    out = tmp_path / "saved.png"
    with qtbot.waitSignal(up.saved, timeout=WAIT):
        assert up.export(str(out))
    _idle(qtbot, up)
    with Image.open(out) as im:
        assert im.size == (20, 16)


# ------------------------------------------------------------------------------- Upscale: bad models
def test_upscale_wrong_family_and_truncated_model_files(qtbot, up, tmp_path, cyclegan_model, sr_model):
    src = _png(tmp_path / "p.png")
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT):
        up.open_image(str(src))
    _idle(qtbot, up)
    truncated = tmp_path / "cut_x2.pth"
    truncated.write_bytes(Path(sr_model).read_bytes()[:300])
    for model, name in ((cyclegan_model, "tiny_G.pth"), (str(truncated), "cut_x2.pth")):
        with qtbot.waitSignal(up.failed, timeout=WAIT) as sig:
            up.add_model_path(model)  # checked when picked
        _idle(qtbot, up)
        assert name in sig.args[0] and up.status.text().startswith("This model file cannot be used:")
        with qtbot.waitSignal(up.failed, timeout=WAIT) as sig:
            assert up.upscale()  # and Upscale anyway says the same, clearly
        _idle(qtbot, up)
        assert name in sig.args[0], sig.args[0]
        assert "Traceback" not in sig.args[0]
        assert up.status.text().startswith("Upscale failed:") and up.result is None
        assert up.run_btn.isEnabled()  # the user can pick another model and go again


# ------------------------------------------------------------------------------ Upscale: batch cases
def test_upscale_batch_output_inside_the_input_folder(qtbot, up, tmp_path):
    src = _folder(tmp_path / "in", n=2)
    out = src / "big"
    up.open_folder(str(src))
    up.out_edit.setText(str(out))
    with qtbot.waitSignal(up.batch_finished, timeout=WAIT) as sig:
        assert up.start_batch()
    _idle(qtbot, up)
    assert len(sig.args[0].done) == 2 and not sig.args[0].failed
    # a rerun must not feed its own outputs back in (no big/big/...), and skips what is done
    with qtbot.waitSignal(up.batch_finished, timeout=WAIT) as sig:
        assert up.start_batch()
    _idle(qtbot, up)
    assert len(sig.args[0].done) == 0 and len(sig.args[0].skipped) == 2
    assert _files(src) == ["big/img0.png", "big/img1.png", "img0.png", "img1.png"]
    # the input folder itself is refused with a message, before anything starts
    before = {p: (src / p).read_bytes() for p in _files(src)}
    up.out_edit.setText(str(src) + "/")
    assert not up.start_batch() and "must differ from the input" in up.batch_status.text()
    assert {p: (src / p).read_bytes() for p in _files(src)} == before


def test_upscale_batch_to_an_unwritable_output(qtbot, up, tmp_path):
    src = _folder(tmp_path / "in", n=2)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    up.open_folder(str(src))
    up.out_edit.setText(str(blocker / "out"))
    with qtbot.waitSignal(up.failed, timeout=WAIT) as sig:
        assert up.start_batch()
    _idle(qtbot, up)
    msg = up.batch_status.text()
    assert msg.startswith("The batch stopped:") and "cannot create the output folder" in sig.args[0], msg
    assert str(blocker / "out") in msg
    assert _files(src) == ["img0.png", "img1.png"]


def test_upscale_cancel_mid_batch_leaves_no_partial_files(qtbot, up, tmp_path):
    src = _folder(tmp_path / "in", n=4)
    out = tmp_path / "out"
    up.open_folder(str(src))
    up.out_edit.setText(str(out))
    assert up.start_batch()
    slot = up.batch_view.slot
    with qtbot.waitSignal(slot.progress, timeout=WAIT):
        pass
    with qtbot.waitSignal(slot.cancelled, timeout=WAIT):
        up.cancel_batch()
    _idle(qtbot, up)
    assert "cancelled" in up.batch_status.text().lower()
    written = _files(out) if out.exists() else []
    assert all(not n.startswith(".") and not n.endswith(".tmp") for n in written), written
    for n in written:  # what is there is complete
        with Image.open(out / n) as im:
            im.load()
            assert im.size == (24, 20)


def test_closing_the_window_mid_batch_stops_promptly(qtbot, tmp_path, sr_model):
    from ganstudio.ui.main_window import MainWindow
    from ganstudio.workers import engine_worker

    w = MainWindow(Settings(), probe_device=False)
    qtbot.addWidget(w)
    w.show()
    panel = w.panels["Upscale"]
    panel.add_model_path(sr_model)
    src = _folder(tmp_path / "in", n=30)
    out = tmp_path / "out"
    panel.open_folder(str(src))
    panel.out_edit.setText(str(out))
    assert panel.start_batch()
    handle = panel.batch_view.slot.handle()
    with qtbot.waitSignal(handle.worker.progress, timeout=WAIT):
        pass
    assert w.close()
    # close() returned: shutdown cancelled and joined the batch (no waiting for 30 files)
    assert not handle.thread.isRunning() and engine_worker.cancel_and_join_all()
    _idle(qtbot, panel)
    written = _files(out) if out.exists() else []
    assert len(written) < 30  # it stopped, it did not finish the batch first
    assert all(not Path(n).name.startswith(".") for n in written), written
    for n in written:
        with Image.open(out / n) as im:
            im.load()


def test_upscale_cancel_mid_upscale(qtbot, up, tmp_path):
    src = _png(tmp_path / "big.png", size=(96, 96))
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT):
        up.open_image(str(src))
    _idle(qtbot, up)
    up.tile_combo.setCurrentIndex(up.tile_combo.findData(128))
    assert up.upscale()
    with qtbot.waitSignal(up.upscale_job.cancelled, timeout=WAIT):
        up.cancel()
        assert up.status.text() == "Cancelling…"  # at once
    _idle(qtbot, up)
    assert up.status.text() == "Cancelled." and up.result is None and up.progress.value() == 0
    assert up.run_btn.isEnabled() and not up.save_btn.isEnabled()


# ------------------------------------------------------------------------------------ Stylize cases
def test_stylize_unreadable_image_says_so(qtbot, sty, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"a text file renamed .png\n")
    assert sty.open_image(str(bad))
    qtbot.waitUntil(lambda: sty.single_status.text().startswith("Failed"), timeout=WAIT)
    _idle(qtbot, sty)
    assert "notes.png" in sty.single_status.text()
    assert not sty.export_btn.isEnabled()
    assert not sty.open_image(str(tmp_path / "readme.txt"))  # not an image name: refused at once


def test_stylize_wrong_family_and_truncated_model(qtbot, sty, tmp_path, sr_model, cyclegan_model):
    src = _png(tmp_path / "p.png", size=(16, 16))
    truncated = tmp_path / "cut_G.pth"
    truncated.write_bytes(Path(cyclegan_model).read_bytes()[:300])
    sty.open_image(str(src))
    for model, name in ((sr_model, "tiny_srvgg_x2.pth"), (str(truncated), "cut_G.pth")):
        sty.add_model_path(model)  # re-renders the open photo with it
        qtbot.waitUntil(lambda: sty.single_status.text().startswith("Failed"), timeout=WAIT)
        _idle(qtbot, sty)
        assert name in sty.single_status.text(), sty.single_status.text()
        assert "CheckpointError" not in sty.single_status.text()
        assert sty.result_image is None and not sty.export_btn.isEnabled()


def test_stylize_batch_output_inside_input_and_under_a_file(qtbot, sty, tmp_path):
    """The one rule of every batch (core.batch): output == input refused, an output folder inside the input
    allowed and never read back as input (before: Stylize refused it, Upscale allowed it)."""
    src = _folder(tmp_path / "in", n=2)
    sty.open_folder(str(src))
    report_box = sty.batch_view.report_box
    for out, expect in ((src, "is the input folder"), (src / "img0.png" / "out", "is a file, not a folder")):
        sty.out_edit.setText(str(out))
        with qtbot.waitSignal(sty.batch_finished, timeout=WAIT) as sig:
            assert sty.start_batch()
        _idle(qtbot, sty)
        text = report_box.toPlainText()
        assert sig.args[0] is None and text.startswith("The batch stopped: ") and expect in text, text
    sty.out_edit.setText(str(src / "styled"))
    for run in range(2):  # the second run must not stylize the first run's results
        with qtbot.waitSignal(sty.batch_finished, timeout=WAIT) as sig:
            assert sty.start_batch()
        _idle(qtbot, sty)
        assert sig.args[0] is not None and sig.args[0].total == 2, report_box.toPlainText()
    assert _files(src) == ["img0.png", "img1.png", "styled/img0_tiny_G.png", "styled/img1_tiny_G.png"]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    sty.out_edit.setText(str(blocker / "out"))
    with qtbot.waitSignal(sty.batch_finished, timeout=WAIT) as sig:
        assert sty.start_batch()
    _idle(qtbot, sty)
    text = report_box.toPlainText()
    assert "cannot create the output folder" in text and str(blocker / "out") in text, text
    assert sty.batch_view.progress.value() == 0 or sty.batch_view.progress.isHidden()


def test_stylize_cancel_mid_batch_and_close(qtbot, sty, tmp_path):
    src = _folder(tmp_path / "in", n=12)
    out = tmp_path / "out"
    sty.open_folder(str(src))
    sty.out_edit.setText(str(out))
    assert sty.start_batch()
    handle = sty.batch_view.slot.handle()
    with qtbot.waitSignal(handle.worker.progress, timeout=WAIT):
        pass
    with qtbot.waitSignal(sty.batch_finished, timeout=WAIT) as sig:
        sty.shutdown()  # what the window's close does
        assert not handle.thread.isRunning()  # joined before shutdown returned
    assert sig.args[0] is None
    _idle(qtbot, sty)
    written = _files(out) if out.exists() else []
    assert len(written) < 12 and all(not Path(n).name.startswith(".") for n in written), written
    assert "Cancelled" in sty.batch_view.report_box.toPlainText()


def test_stylize_changing_a_choice_right_after_opening_runs_one_job_and_shows_the_new_choice(qtbot, sty,
                                                                                            tmp_path):
    from ganstudio.workers import engine_worker

    src = _png(tmp_path / "p.png", size=(16, 20))
    assert sty.open_image(str(src))
    sty.official_check.setChecked(True)  # before the first job's thread has even started
    running = [h for h in engine_worker.active_jobs() if "stylize image" in h.thread.objectName()
               and not h.thread.isFinished() and not h.worker.token.cancelled]
    assert len(running) == 1, running  # the old one was cancelled before it ran; only the new choice runs
    with qtbot.waitSignal(sty.image_finished, timeout=WAIT) as sig:
        pass
    _idle(qtbot, sty)
    assert sig.args[0]["size"] == (256, 256)  # the official 256x256 run, not the stale native-size one
    assert sty.result_image.shape[:2] == (256, 256) and sty.export_btn.isEnabled()


def test_upscale_cancelled_model_browse_keeps_the_chosen_model(qtbot, up, sr_model, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    assert up.current_model() == sr_model
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: ("", "")))
    browse = up._model_index("__browse__")
    up.model_combo.setCurrentIndex(browse)  # keyboard / wheel onto "Other model file…"
    assert up.current_model() == sr_model  # never "__browse__" as a model name
    up._model_activated(browse)  # the dialog is cancelled
    assert up.current_model() == sr_model and up.model_combo.currentIndex() == up._model_index(sr_model)


def test_upscale_batch_of_a_folder_without_images_says_so(qtbot, up, tmp_path):
    src = tmp_path / "empty"
    src.mkdir()
    (src / "notes.txt").write_text("x")
    up.open_folder(str(src))
    up.out_edit.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(up.batch_finished, timeout=WAIT):
        assert up.start_batch()
    _idle(qtbot, up)
    assert f"no images found in {src}" in up.batch_status.text().lower()


def test_user_message_drops_the_type_of_user_facing_errors_only():
    from ganstudio.ui.widgets import user_message

    from ganstudio.checkpoints.reader import CheckpointError
    from ganstudio.core.imageio import ImageReadError

    assert user_message(CheckpointError("x.pth is truncated")) == "x.pth is truncated"
    assert user_message(ImageReadError("a.png: not an image")) == "a.png: not an image"
    assert user_message(PermissionError(13, "Permission denied")) == "[Errno 13] Permission denied"
    assert user_message(KeyError("conv")) == "KeyError: conv"  # a bug keeps its type as a hint
    assert user_message(ValueError("bad")) == "ValueError: bad"


def test_main_window_several_files_on_a_one_image_tab_open_the_first_and_say_so(qtbot, tmp_path, monkeypatch):
    from ganstudio.ui import main_window as mw

    monkeypatch.setattr(mw, "TABS", [("Latent", "ui_fake_panels", "ImagePanel"),
                                     ("Upscale", "ui_fake_panels", "FolderPanel")])
    w = mw.MainWindow(Settings(), probe_device=False)
    qtbot.addWidget(w)
    w.switch_to("Latent")
    files = [str(_png(tmp_path / f"f{i}.png", seed=i)) for i in range(3)]
    assert w.open_paths(files)
    assert w.panels["Latent"].opened == [files[0]] and w.current_title() == "Latent"  # no jump to Upscale
    assert "2 other dropped items not opened" in w.statusBar().currentMessage()
    w.close()


def test_upscale_picked_model_file_is_checked_at_once(qtbot, tmp_path, sr_model, cyclegan_model):
    p = UpscalePanel()
    p.settings = None
    qtbot.addWidget(p)
    p.scale_spin.setValue(4.0)
    with qtbot.waitSignal(p.model_checked, timeout=WAIT) as sig:
        p.add_model_path(sr_model)  # "Other model file…" -> a x2 SRVGG file
    assert sig.args[0]["scale"] == 2 and sig.args[0]["family"] == "srvgg"
    assert p.scale_spin.value() == 2.0  # its own scale, not the x4 left from the list's first model
    assert "(x2)" in p.model_combo.currentText()
    _idle(qtbot, p)
    with qtbot.waitSignal(p.failed, timeout=WAIT) as sig:
        p.add_model_path(cyclegan_model)  # wrong family: said when picked, not at Upscale time
    _idle(qtbot, p)
    assert p.status.text().startswith("This model file cannot be used:") and "super-resolution" in sig.args[0]
    p.shutdown()


def test_save_under_a_file_says_so_in_both_tabs(qtbot, up, sty, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    src = _png(tmp_path / "p.png", size=(16, 16))
    with qtbot.waitSignal(up.image_loaded, timeout=WAIT):
        up.open_image(str(src))
    _idle(qtbot, up)
    with qtbot.waitSignal(up.upscale_finished, timeout=WAIT):
        up.upscale()
    _idle(qtbot, up)
    with qtbot.waitSignal(up.failed, timeout=WAIT):
        assert up.export(str(blocker / "big.png"))
    _idle(qtbot, up)
    assert up.status.text().startswith("Save failed:") and "a_file" in up.status.text()
    assert up.save_btn.isEnabled() and blocker.read_text() == "x"  # the result is kept: save elsewhere

    with qtbot.waitSignal(sty.image_finished, timeout=WAIT):
        sty.open_image(str(src))
    _idle(qtbot, sty)
    handle = sty.export(str(blocker / "styled.png"))
    with qtbot.waitSignal(handle.worker.failed, timeout=WAIT):
        pass
    qtbot.waitUntil(lambda: sty.single_status.text().startswith("Export failed:"), timeout=WAIT)
    handle.wait()
    assert "a_file" in sty.single_status.text() and sty.export_btn.isEnabled()


def test_stylize_model_file_picked_before_a_photo_is_checked_at_once(qtbot, tmp_path, sr_model, cyclegan_model,
                                                                     monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    p = StylizePanel()
    p.settings = None
    qtbot.addWidget(p)
    picked = {"path": sr_model}
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (picked["path"], "")))
    p.browse_model_btn.click()  # a super-resolution file: wrong family
    qtbot.waitUntil(lambda: p.single_status.text().startswith("This model file cannot be used:"), timeout=WAIT)
    _idle(qtbot, p)
    assert "tiny_srvgg_x2.pth" in p.single_status.text() and "Error" not in p.single_status.text()
    picked["path"] = cyclegan_model
    with qtbot.waitSignal(p.model_checked, timeout=WAIT):
        p.browse_model_btn.click()
    _idle(qtbot, p)
    assert "is ready" in p.single_status.text() and p.current_model() == cyclegan_model
    p.shutdown()
