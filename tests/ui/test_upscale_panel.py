"""The Upscale tab driven through real widgets: open, upscale with a tiny model in the worker, compare,
save (never over the input), cancel, batch with a failure report."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganstudio.ui.upscale_panel import UpscalePanel

WAIT = 60000


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A seeded tiny RRDBNet x4 saved as safetensors: the panel loads it like any user file."""
    import torch
    from safetensors.torch import save_file

    from ganstudio.nets import rrdbnet

    torch.manual_seed(0)
    net = rrdbnet.build(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4)
    path = tmp_path_factory.mktemp("models") / "tiny_rrdb_x4.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return str(path)


@pytest.fixture
def photo_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def panel(qtbot, tiny_model):
    p = UpscalePanel()
    qtbot.addWidget(p)
    p.add_model_path(tiny_model)
    p.scale_spin.setValue(4.0)
    yield p
    p.shutdown()


def _open(qtbot, panel, path):
    with qtbot.waitSignal(panel.image_loaded, timeout=WAIT):
        assert panel.open_image(str(path))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)


def test_open_upscale_compare_and_save(qtbot, panel, photo_file, tmp_path):
    assert not panel.run_btn.isEnabled() and not panel.save_btn.isEnabled()
    _open(qtbot, panel, photo_file)
    assert panel.compare.image_size() == (24, 20)
    assert panel.run_btn.isEnabled()
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT) as blocker:
        assert panel.upscale()
    res = blocker.args[0]
    assert res.image.pixels.shape == (80, 96, 3)
    # the result is in the views: the compare view now spans the 4x image, side by side shows it too
    assert panel.compare.image_size() == (96, 80)
    assert panel.after_view.image_size() == (96, 80)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    assert panel.save_btn.isEnabled()
    assert panel.default_save_name() == "photo_x4.png"

    # the split slider and the view's split line stay in step
    panel.split_slider.setValue(250)
    assert panel.compare.split() == pytest.approx(0.25)
    panel.compare.set_split(0.8)
    assert panel.split_slider.value() == 800

    out = tmp_path / "saved.png"
    with qtbot.waitSignal(panel.saved, timeout=WAIT):
        assert panel.export(str(out))
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    with Image.open(out) as im:
        assert im.size == (96, 80)
    before = photo_file.read_bytes()
    with qtbot.waitSignal(panel.failed, timeout=WAIT) as blocker:
        assert panel.export(str(photo_file))
    assert "overwrite the input" in blocker.args[0]
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    assert photo_file.read_bytes() == before


def test_model_choice_sets_native_scale_and_tile_reaches_the_job(qtbot, panel):
    panel.model_combo.setCurrentIndex(2)  # animevideov3-x2
    assert panel.current_model() == "animevideov3-x2" and panel.scale_spin.value() == 2.0
    panel.tile_combo.setCurrentIndex(1)
    kw = panel._job_common()
    assert kw["tile"] == 0 and kw["model"] == "animevideov3-x2" and kw["precision"] in ("fp32", "fp16", "bf16")


def test_cancel(qtbot, panel, photo_file):
    _open(qtbot, panel, photo_file)
    assert panel.upscale()
    handle = panel._jobs["upscale"]
    assert panel.cancel_btn.isEnabled()
    with qtbot.waitSignal(handle.worker.cancelled, timeout=WAIT):
        panel.cancel()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    assert panel.result is None and "Cancelled" in panel.status.text()


def test_batch_reports_failures_and_finishes_the_rest(qtbot, panel, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(src / "sub" / "b.png")
    (src / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n nope")
    assert panel.open_folder(str(src))
    assert panel.out_edit.text().endswith("in_upscaled")
    out = tmp_path / "out"
    panel.out_edit.setText(str(out))
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT) as blocker:
        assert panel.start_batch()
    report = blocker.args[0]
    assert len(report["done"]) == 2 and len(report["failed"]) == 1
    assert (out / "sub" / "b.png").is_file()
    assert "broken.png" in panel.report_text.toPlainText()
    assert "2 written" in panel.batch_status.text()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    panel.out_edit.setText(str(src))
    assert not panel.start_batch()  # output == input is refused


def test_library_upscale_models_are_offered_and_run(qtbot, tiny_model, photo_file, tmp_path, monkeypatch):
    from ganstudio.core import library

    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    entry = library.import_checkpoint(tiny_model, lambda _p: {"arch": "rrdbnet", "arch_kwargs": {"scale": 4}},
                                      task="upscale", model_id="user.tiny_sr")
    p = UpscalePanel()
    qtbot.addWidget(p)
    assert p.select_model("user.tiny_sr")
    assert p.current_model() == entry.id and p.scale_spin.value() == 4.0
    _open(qtbot, p, photo_file)
    with qtbot.waitSignal(p.upscale_finished, timeout=WAIT) as blocker:
        assert p.upscale()
    assert blocker.args[0].image.pixels.shape == (80, 96, 3)
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=WAIT)
    p.shutdown()


def test_dropping_an_image_opens_it(qtbot, panel, photo_file):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_file))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.image_loaded, timeout=WAIT) as blocker:
        panel.dropEvent(event)
    assert blocker.args[0] == str(photo_file)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)


def test_batch_can_be_cancelled(qtbot, panel, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(src / "a.png")
    panel.open_folder(str(src))
    assert panel.start_batch()
    handle = panel._jobs["batch"]
    assert panel.batch_cancel_btn.isEnabled()
    with qtbot.waitSignal(handle.worker.cancelled, timeout=WAIT):
        panel.cancel_batch()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    assert "cancelled" in panel.batch_status.text().lower() and panel.batch_btn.isEnabled()
