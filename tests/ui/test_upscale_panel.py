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
    assert kw["tile"] == 0 and kw["model"] == "animevideov3-x2"
    assert kw["precision"] in ("auto", "fp32", "fp16", "bf16")


def test_cancel(qtbot, panel, photo_file):
    _open(qtbot, panel, photo_file)
    assert panel.upscale()
    assert panel.cancel_btn.isEnabled()
    with qtbot.waitSignal(panel.upscale_job.cancelled, timeout=WAIT):
        panel.cancel()
        assert panel.status.text() == "Cancelling…" and not panel.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    assert panel.result is None and panel.status.text() == "Cancelled."


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
    assert len(report.done) == 2 and len(report.failed) == 1
    assert (out / "sub" / "b.png").is_file()
    text = panel.report_text.toPlainText()
    assert "2 written" in panel.batch_status.text()
    assert text.count("broken.png") == 1  # the bad file named once, with its reason
    assert panel.batch_view.grid.count() == 2  # a thumbnail per written file
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
    assert panel.batch_cancel_btn.isEnabled()
    with qtbot.waitSignal(panel.batch_view.slot.cancelled, timeout=WAIT):
        panel.cancel_batch()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
    assert "cancelled" in panel.batch_status.text().lower() and panel.batch_btn.isEnabled()


# ------------------------------------------------------------------ issue 15.3 / 15.4: a long tile
@pytest.fixture
def deep_model(tmp_path):
    """A seeded RRDBNet x4 with 6 blocks: 90 watched convolutions in one tile."""
    import torch
    from safetensors.torch import save_file

    from ganstudio.nets import rrdbnet

    torch.manual_seed(1)
    net = rrdbnet.build(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=6, num_grow_ch=4)
    path = tmp_path / "deep_rrdb_x4.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return str(path)


def test_progress_within_one_tile_and_cancel_within_one_block(qtbot, deep_model, photo_file, monkeypatch):
    """One tile that takes long (here: held at its third RRDB block until the test lets it go) reports its
    progress several times, Cancel says "Cancelling…" at once and the job stops within one block: the
    blocks after it never run, and "Cancelled." replaces the tile's progress line."""
    import threading

    from ganstudio.checkpoints.cache import get_model
    from ganstudio.engines import tiling

    monkeypatch.setattr(tiling, "BLOCK_REPORT_S", 0.0)  # every block reports: counts, not timing
    p = UpscalePanel()
    p.settings = None
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.model_checked, timeout=WAIT):
        p.add_model_path(deep_model)
    p.tile_combo.setCurrentIndex(p.tile_combo.findData(0))  # the whole image: one tile
    p.precision_combo.setCurrentIndex(p.precision_combo.findData("fp32"))
    _open(qtbot, p, photo_file)

    net, _ = get_model(deep_model, device="cpu")  # the very module the job runs (the shared cache)
    gate, ran = threading.Event(), []
    hooks = [b.register_forward_hook(lambda *_a, i=i: ran.append(i)) for i, b in enumerate(net.body)]
    hooks.append(net.body[2].register_forward_hook(lambda *_a: gate.wait(WAIT / 1000)))
    messages = []
    p.upscale_job.progress.connect(lambda pr: messages.append(pr.message))  # GUI thread (the slot relays)
    try:
        assert p.upscale()
        # held at the end of block 3: the 45 convolutions of blocks 1-3 have each reported
        qtbot.waitUntil(lambda: len(messages) >= 45, timeout=WAIT)
        assert all(m.startswith("tile 1/1 · ") and "ETA" in m for m in messages)
        assert "tile 1/1" in p.status.text() and p.progress.value() > 0
        p.cancel()
        assert p.status.text() == "Cancelling…" and not p.cancel_btn.isEnabled()
        with qtbot.waitSignal(p.upscale_job.cancelled, timeout=WAIT):
            gate.set()
    finally:
        gate.set()
        for h in hooks:
            h.remove()
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=WAIT)
    assert ran == [0, 1, 2]  # blocks 4-6 never ran: cancelled within one block, not at the end of the tile
    assert p.status.text() == "Cancelled." and p.progress.value() == 0 and p.result is None
    assert p.run_btn.isEnabled()
    p.shutdown()


def test_a_large_image_says_what_it_will_take(qtbot, panel, photo_file, monkeypatch):
    from ganstudio.engines.upscale import cost

    monkeypatch.setattr(cost, "ANNOUNCE_OUT_PX", 100)  # as if 24x20 were 13000x13000
    _open(qtbot, panel, photo_file)
    seen = []
    panel.upscale_job.progress.connect(lambda pr: seen.append(panel.status.text()))
    with qtbot.waitSignal(panel.upscale_finished, timeout=WAIT):
        assert panel.upscale()
    assert seen and seen[0].startswith("24×20 → 96×80: about ") and seen[0].endswith("measuring the speed…")
    assert any(" of memory, about " in s for s in seen)  # then the time it will take
    assert all(s.startswith("24×20 → 96×80") for s in seen)  # kept above the progress while it runs
    assert panel.status.text().startswith("Done:")
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)


def test_batch_pause_and_resume(qtbot, panel, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(src / f"f{i}.png")
    panel.open_folder(str(src))
    panel.out_edit.setText(str(tmp_path / "out"))
    assert panel.start_batch()
    panel.batch_view.pause()
    assert panel.batch_view.paused and panel.batch_pause_btn.text() == "Resume"
    qtbot.waitUntil(lambda: "Paused" in panel.batch_status.text() or panel.batch_view.eta_label.text() == "Paused",
                    timeout=WAIT)
    with qtbot.waitSignal(panel.batch_finished, timeout=WAIT) as sig:
        panel.batch_view.resume()
    assert len(sig.args[0].done) == 3 and panel.batch_pause_btn.text() == "Pause"
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT)
