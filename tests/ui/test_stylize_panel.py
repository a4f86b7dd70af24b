"""StylizePanel driven through real widgets and the real engine worker, with a tiny seeded generator."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganstudio.ui.stylize_panel import StylizePanel

from tiny_models import tiny_cyclegan_file


@pytest.fixture
def tiny_model(tmp_path):
    return tiny_cyclegan_file(tmp_path / "tiny_G.pth", seed=3)


@pytest.fixture
def photo_folder(tmp_path):
    root = tmp_path / "photos"
    (root / "trip").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["a.png", "b.png", "trip/c.jpg", "trip/d.png"]
    for n in names:
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(root / n)
    (root / "trip" / "broken.png").write_bytes(b"not an image at all")
    return root, names


@pytest.fixture
def panel(qtbot, tiny_model):
    p = StylizePanel()
    qtbot.addWidget(p)
    p.add_model_path(tiny_model)
    p.settings = None  # device "auto" (CPU here), fp32; keep the user's settings out of it
    yield p
    p.shutdown()
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=30000)


def test_batch_fills_thumbnail_grid_and_reports_failures(qtbot, panel, photo_folder, tmp_path):
    root, names = photo_folder
    out = tmp_path / "out"
    assert panel.open_folder(str(root))
    panel.out_edit.setText(str(out))
    assert panel.progress.isHidden()  # no empty bar before any batch
    with qtbot.waitSignal(panel.batch_finished, timeout=60000) as sig:
        assert panel.start_batch()
        assert not panel.start_btn.isEnabled() and panel.cancel_btn.isEnabled()
        assert not panel.progress.isHidden()
    report = sig.args[0]
    assert report is not None
    assert panel.grid.count() == len(names)  # one thumbnail per written image
    for i in range(panel.grid.count()):
        item = panel.grid.item(i)
        assert not item.icon().isNull()
        assert item.toolTip().startswith(str(out)) and (out / item.toolTip()).is_file()
    assert len(panel.failures) == 1 and "broken.png" in panel.failures[0]
    assert "broken.png" in panel.report_box.toPlainText()
    assert (out / "trip" / "c_tiny_G.png").is_file()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)
    assert panel.start_btn.isEnabled() and not panel.pause_btn.isEnabled()


def test_pause_then_cancel_then_resume_later(qtbot, panel, photo_folder, tmp_path):
    root, names = photo_folder
    out = tmp_path / "out"
    panel.open_folder(str(root))
    panel.out_edit.setText(str(out))
    assert panel.start_batch()
    panel.pause_btn.click()  # paused before the worker reaches its first file
    assert panel.pause_btn.isChecked() and panel._batch.worker.token.paused
    assert panel.pause_btn.text() == "Resume"
    with qtbot.waitSignal(panel.batch_finished, timeout=60000) as sig:
        panel.cancel_btn.click()
    assert sig.args[0] is None
    assert "Cancelled" in panel.report_box.toPlainText()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)
    assert panel.pause_btn.text() == "Pause" and not panel.pause_btn.isChecked()
    # start again: pause, resume, and the batch completes
    assert panel.start_batch()
    panel.pause_btn.click()
    with qtbot.waitSignal(panel.batch_finished, timeout=60000) as sig:
        panel.pause_btn.click()  # resume
    assert sig.args[0] is not None and len(sig.args[0].written) + len(sig.args[0].skipped) == len(names)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)


def test_single_image_preview_result_and_export(qtbot, panel, tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "one.png"
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(src)
    assert not panel.run_btn.isEnabled()  # nothing to stylize yet
    assert panel.view.placeholder()  # the empty view says what to do
    with qtbot.waitSignal(panel.image_finished, timeout=60000) as sig:
        assert panel.open_image(str(src))
    assert panel.run_btn.isEnabled()
    res = sig.args[0]
    assert res["image"].shape == (40, 56, 3)
    assert panel.result_image is res["image"] and panel.export_btn.isEnabled()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)
    target = tmp_path / "exported.png"
    handle = panel.export(str(target))
    with qtbot.waitSignal(handle.worker.finished, timeout=30000):
        pass
    handle.wait()
    np.testing.assert_array_equal(np.asarray(Image.open(target)), res["image"])
    assert not panel.open_image(str(tmp_path / "missing.png"))


def test_no_downloaded_model_is_not_preselected(qtbot, tmp_path):
    p = StylizePanel()
    qtbot.addWidget(p)
    assert p.current_model() is None  # not "apple2orange (not downloaded)", which could only fail
    src = tmp_path / "one.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(src)
    assert p.open_image(str(src))
    assert "Choose a model first" in p.single_status.text() and not p.is_busy()
