"""PaintPanel: a small seeded SPADE model, strokes -> debounced live renders at half size, then one
full-resolution render after a pause; import / export."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from ganstudio.nets import spade
from ganstudio.ui.paint_panel import PaintPanel

from tiny_models import tiny_spade_file


@pytest.fixture(autouse=True)
def fp32_settings(tmp_path, monkeypatch):
    """A private settings file with fp32: results are compared exactly with the network in fp32 (the default,
    "auto", picks bf16 on a CPU with AMX units)."""
    from ganstudio.ui.settings import Settings

    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    Settings().precision = "fp32"


@pytest.fixture
def model_path(tmp_path):
    return tiny_spade_file(tmp_path / "tiny_G.pth")


@pytest.fixture
def panel(qtbot, model_path):
    p = PaintPanel()
    p.scheduler.adaptive_live = False  # a fixed half-size live preview (the tiny model would otherwise go to full size)
    qtbot.addWidget(p)
    p.resize(1000, 700)
    p.show()
    qtbot.waitExposed(p)
    with qtbot.waitSignal(p.full_rendered, timeout=30000):  # described, first preview, then full size
        p.set_model(str(model_path))
    qtbot.waitUntil(p.is_idle, timeout=30000)
    yield p
    p.shutdown()


def _idle(qtbot, p):
    """Nothing rendering or scheduled: the live render and the full-resolution one after the pause are done."""
    qtbot.waitUntil(p.is_idle, timeout=30000)


def _net(model_path):
    net = spade.SPADEGenerator(5, ngf=2, label_nc=3, contain_dontcare_label=True, use_instance=True,
                               crop_size=64, nhidden=8)
    net.load_state_dict(torch.load(model_path, weights_only=True))
    return net.eval()


def _direct(net, lm):
    """The network applied directly (label map as its own instance map, as the engine does for paintings)."""
    seg = spade.make_semantics(torch.from_numpy(lm.astype(np.int64)), 3, True,
                               torch.from_numpy(lm.astype(np.int64)), True)
    with torch.inference_mode():
        net = net.to(memory_format=torch.channels_last)
        out = net(seg.contiguous(memory_format=torch.channels_last))
    return np.clip((out[0].permute(1, 2, 0).numpy() + 1) / 2 * 255, 0, 255).astype(np.uint8)


def test_model_sets_palette_and_canvas(panel, model_path):
    assert panel.info["label_nc"] == 3 and panel.info["native_size"] == (64, 64)
    assert panel.canvas.label_map.shape == (64, 64)
    assert len(panel.palette_view.names) == 4  # 3 labels + the dontcare slot
    assert panel.last_result.shape == (64, 64, 3)


def test_one_stroke_one_live_render_then_one_full_render(qtbot, panel, model_path):
    c = panel.canvas
    c.set_view(6.0, (0.0, 0.0))
    panel.palette_view.select(2)
    panel.brush_size.setValue(7)
    sch = panel.scheduler
    requests, started = sch.render_requests, sch.runner.started_count
    lives, fulls, full_started = sch.live_renders, sch.full_renders, sch.full_started
    with qtbot.waitSignal(panel.live_rendered, timeout=30000) as live:
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(10, 10))
        for x in range(12, 50, 4):
            qtbot.mouseMove(c, c.image_to_widget(x, 12))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(50, 12))
    assert sch.full_renders == fulls  # the live preview comes first, the full one waits for the pause
    assert live.args[0].shape == (32, 32, 3)  # half of the 64×64 map on each side
    with qtbot.waitSignal(panel.full_rendered, timeout=30000) as full:
        pass
    assert full.args[0].shape == (64, 64, 3)
    _idle(qtbot, panel)
    assert sch.render_requests == requests + 1
    assert sch.runner.started_count == started + 1 and sch.live_renders == lives + 1
    assert sch.full_started == full_started + 1 and sch.full_renders == fulls + 1
    assert (c.label_map == 2).sum() > 100
    net = _net(model_path)
    np.testing.assert_array_equal(live.args[0], _direct(net, c.label_map[1::2, 1::2]))  # nearest, not blended
    np.testing.assert_array_equal(panel.last_result, _direct(net, c.label_map))
    assert panel.last_result_kind == "full"

    # undo is an edit too: one more live render and one more full render, of the restored map
    with qtbot.waitSignal(panel.full_rendered, timeout=30000):
        c.undo_stack.undo()
    _idle(qtbot, panel)
    assert sch.runner.started_count == started + 2 and sch.full_renders == fulls + 2 and c.label_map.max() == 0


def test_an_edit_cancels_a_pending_full_render(qtbot, panel):
    panel.canvas.set_label_map(np.ones((100, 70), np.uint8))
    _idle(qtbot, panel)
    assert panel.last_result.shape == (64, 64, 3)  # after the pause: the map's aspect at the native pixel count
    fulls, full_started = panel.scheduler.full_renders, panel.scheduler.full_started
    shown = []
    panel.full_rendered.connect(lambda im: shown.append(im.shape))
    panel.render_full()  # "Render full size" (96×64)...
    lm = np.ones((100, 70), np.uint8)
    lm[:50] = 2
    panel.canvas.set_label_map(lm)  # ...then an edit before it could finish: it is cancelled, never shown
    with qtbot.waitSignal(panel.full_rendered, timeout=30000):
        pass
    _idle(qtbot, panel)
    assert shown == [(64, 64, 3)]  # only the automatic full render of the new map
    assert panel.scheduler.full_started == full_started + 2 and panel.scheduler.full_renders == fulls + 1
    assert not panel.last_message.startswith("Full-size render")


def test_choose_live_scale():
    from ganstudio.ui.paint_render_scheduler import choose_live_scale

    assert choose_live_scale(40, 256, 32, 100) == 1.0  # the full render fits: live at full size
    assert choose_live_scale(460, 256, 32, 100) == 3 / 8  # 460·(4/8)² = 115 > 100, 460·(3/8)² = 64.7: 96 px
    assert choose_live_scale(800, 256, 32, 100) == 2 / 8  # 800·(3/8)² = 112.5 > 100: 64 px
    assert choose_live_scale(5000, 256, 32, 100) == 1 / 8  # never below one multiple
    assert choose_live_scale(300, 512, 64, 100) == 4 / 8  # 300·(5/8)² = 117 > 100, 300·(4/8)² = 75


def test_fast_model_adapts_to_full_size_live_renders(qtbot, model_path):
    p = PaintPanel()
    qtbot.addWidget(p)
    p.scheduler.live_budget_ms = 60000.0  # any machine renders the tiny model inside this
    with qtbot.waitSignal(p.full_rendered, timeout=30000) as first:
        p.set_model(str(model_path))
    qtbot.waitUntil(p.is_idle, timeout=30000)
    assert first.args[0].shape == (64, 64, 3)
    assert p.scheduler.live_scale == 1.0  # timed once: fast enough for full-size live renders
    started, fulls = p.scheduler.runner.started_count, p.scheduler.full_started
    with qtbot.waitSignal(p.live_rendered, timeout=30000) as live:
        p.canvas.set_label_map(np.full((64, 64), 2, np.uint8), reset_history=False)
    qtbot.waitUntil(p.is_idle, timeout=30000)
    assert live.args[0].shape == (64, 64, 3)
    assert p.scheduler.runner.started_count == started + 1 and p.scheduler.full_started == fulls  # no second
    p.shutdown()


def test_quick_strokes_coalesce(qtbot, panel):
    c = panel.canvas
    c.set_view(6.0, (0.0, 0.0))
    started, fulls = panel.scheduler.runner.started_count, panel.scheduler.full_renders
    for y in (5, 20, 35):  # three strokes inside one debounce window
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(5, y))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(30, y))
    with qtbot.waitSignal(panel.full_rendered, timeout=30000):
        pass
    _idle(qtbot, panel)
    assert 1 <= panel.scheduler.runner.started_count - started <= 2  # never one per stroke when they come fast
    assert panel.scheduler.full_renders == fulls + 1
    from ganstudio.engines import paint

    np.testing.assert_array_equal(panel.last_result, paint.render(c.label_map, model=str(panel.model), precision="fp32"))


def test_open_label_map_png_and_bad_indices(qtbot, panel, tmp_path):
    ids = np.zeros((48, 80), np.uint8)
    ids[10:30, 20:60] = 2
    ids[40:, :] = 255  # dontcare is allowed for this model
    Image.fromarray(ids, mode="L").save(tmp_path / "map.png")
    with qtbot.waitSignal(panel.rendered, timeout=30000):
        assert panel.open_image(str(tmp_path / "map.png"))
    np.testing.assert_array_equal(panel.canvas.label_map, ids)
    assert "Opened map.png" in panel.last_message
    _idle(qtbot, panel)

    bad = ids.copy()
    bad[0, 0] = 7
    Image.fromarray(bad, mode="L").save(tmp_path / "bad.png")
    with qtbot.waitSignal(panel.message, timeout=30000, check_params_cb=lambda m: "Cannot open" in m):
        assert panel.open_image(str(tmp_path / "bad.png"))
    assert "out of range" in panel.last_message and "7 (1 px)" in panel.last_message
    np.testing.assert_array_equal(panel.canvas.label_map, ids)  # unchanged
    assert not panel.open_image(str(tmp_path / "missing.png"))
    _idle(qtbot, panel)


def test_open_photo_converts_by_palette(qtbot, panel, tmp_path):
    colors = np.asarray(panel.palette_view.colors, np.uint8)
    truth = np.zeros((40, 40), np.uint8)
    truth[:20] = 1
    truth[20:, 20:] = 2
    photo = colors[truth].astype(np.int16) + 3  # slightly off the palette, like a photo
    Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=98)
    with qtbot.waitSignal(panel.rendered, timeout=30000):
        assert panel.open_image(str(tmp_path / "photo.jpg"))
    assert "photo" in panel.last_message
    got = panel.canvas.label_map
    assert got.shape == (40, 40)
    assert (got == truth).mean() > 0.95  # JPEG edges may blur a few pixels
    _idle(qtbot, panel)


def test_export_label_map_and_result(qtbot, panel, tmp_path):
    lm = np.zeros((64, 64), np.uint8)
    lm[5:9, 5:9] = 3
    panel.canvas.set_label_map(lm)
    panel.export_label_map(str(tmp_path / "out.png"))
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.array(im), lm)
        pal = np.array(im.getpalette()[:12]).reshape(4, 3)
    np.testing.assert_array_equal(pal, np.asarray(panel.palette_view.colors[:4]))
    _idle(qtbot, panel)
    assert panel.export_result(str(tmp_path / "res.png"))
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "res.png")), panel.last_result)


def test_full_size_render_and_eyedropper(qtbot, panel):
    panel.canvas.set_label_map(np.ones((100, 70), np.uint8))
    _idle(qtbot, panel)
    with qtbot.waitSignal(panel.full_rendered, timeout=30000) as blocker:
        panel.render_full()
    assert blocker.args[0].shape == (96, 64, 3)  # the map's own size, rounded to the multiple 32
    assert panel.last_message == "Full-size render: 64×96"
    _idle(qtbot, panel)
    panel.set_tool("eyedropper")
    c = panel.canvas
    c.set_view(2.0, (0.0, 0.0))
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(3, 3))
    assert panel.palette_view.current() == 1 and c.current_label == 1


def test_stroke_instances_reach_the_render(qtbot, panel):
    from ganstudio.engines import paint

    assert panel.instances.isEnabled()  # the tiny model has an instance-edge channel
    c = panel.canvas
    c.set_view(6.0, (0.0, 0.0))
    panel.palette_view.select(1)
    panel.brush_size.setValue(5)
    for x in (20, 24):  # two touching strokes of one label
        with qtbot.waitSignal(panel.full_rendered, timeout=30000):
            qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(x, 10))
            qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(x, 40))
        _idle(qtbot, panel)
    plain = panel.last_result.copy()
    with qtbot.waitSignal(panel.full_rendered, timeout=30000):
        panel.instances.setChecked(True)
    _idle(qtbot, panel)
    expected = paint.render(c.label_map, c.instance_map, model=str(panel.model), precision="fp32")
    np.testing.assert_array_equal(panel.last_result, expected)
    assert not np.array_equal(plain, expected)  # the edge between the two strokes changes the image


def test_status_bar_text_cleared_after_the_last_render(qtbot, panel):
    states = []
    panel.job_state.connect(states.append)
    c = panel.canvas
    c.set_view(6.0, (0.0, 0.0))
    with qtbot.waitSignal(panel.rendered, timeout=30000):
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(5, 5))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(30, 5))
    _idle(qtbot, panel)
    assert "rendering…" in states and "rendering full size…" in states
    assert states.index("rendering…") < states.index("rendering full size…")
    assert states[-1] == ""  # the window's "Paint: rendering…" must not stay after the result is shown


def test_buttons_that_cannot_work_start_disabled(qtbot, model_path):
    p = PaintPanel()
    qtbot.addWidget(p)
    assert not p.full_button.isEnabled() and not p.export_result_button.isEnabled()
    assert p.result_view.placeholder()  # the empty result view says what to do
    with qtbot.waitSignal(p.rendered, timeout=30000):
        p.set_model(str(model_path))
    assert p.full_button.isEnabled() and p.export_result_button.isEnabled()
    qtbot.waitUntil(p.is_idle, timeout=30000)
    p.shutdown()


def test_canvas_hint_until_the_first_edit(qtbot, model_path):
    from ganstudio.ui.paint_panel import HINT_NO_MODEL, HINT_PAINT

    p = PaintPanel()
    qtbot.addWidget(p)
    assert p.canvas.hint == HINT_NO_MODEL  # an empty black canvas says what to do
    with qtbot.waitSignal(p.rendered, timeout=30000):
        p.set_model(str(model_path))
    assert p.canvas.hint == HINT_PAINT
    qtbot.waitUntil(p.is_idle, timeout=30000)
    c = p.canvas
    c.set_view(6.0, (0.0, 0.0))
    with qtbot.waitSignal(p.rendered, timeout=30000):
        qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(5, 5))
        qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(20, 5))
    assert c.hint == ""
    qtbot.waitUntil(p.is_idle, timeout=30000)
    p.shutdown()


# ------------------------------------------------------------------ another label set (issue 15.2)
def _named_model(path, names, seed=0):
    """A tiny SPADE file (3 labels + dontcare + instance edges) whose sidecar names its labels."""
    import json

    tiny_spade_file(path, seed=seed)
    side = path.with_name(path.name + ".json")
    meta = json.loads(side.read_text())
    meta["label_names"] = list(names)
    side.write_text(json.dumps(meta))
    return path


def _switch(qtbot, p, model):
    """set_model(model) and wait for the question about the painting's label set."""
    with qtbot.waitSignal(p.label_set_question, timeout=30000) as asked:
        p.set_model(str(model))
    return asked.args[0]


def test_a_model_with_another_label_set_keeps_the_painting_mapped_and_undoable(qtbot, tmp_path):
    from ganstudio.ui.paint_panel import PaintPanel

    a = _named_model(tmp_path / "a_G.pth", ["other", "sky", "grass"])
    b = _named_model(tmp_path / "b_G.pth", ["unlabeled", "grass", "water"], seed=1)
    p = PaintPanel()
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.model_ready, timeout=30000):
        p.set_model(str(a))
    qtbot.waitUntil(p.is_idle, timeout=30000)
    painted = np.zeros((64, 64), np.uint8)
    painted[:, :32] = 1  # sky: model b has no sky
    painted[:, 32:] = 2  # grass: b's id 1
    p.canvas.set_label_map(painted, reset_history=False)  # as a stroke would: one undoable edit
    qtbot.waitUntil(p.is_idle, timeout=30000)

    # cancel: nothing changes, the model in use stays
    box = _switch(qtbot, p, b)
    assert "b_G.pth" in box.text() and "2048 px" in box.informativeText()
    qtbot.mouseClick(box.cancel_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(p.canvas.label_map, painted)
    assert p.model == str(a) and p.model_box.currentData() == str(a)
    assert p.palette_view.names[:3] == ["other", "sky", "grass"]

    # keep: the painting is mapped by name (before: replaced by an empty map, with Undo greyed out)
    box = _switch(qtbot, p, b)
    with qtbot.waitSignal(p.rendered, timeout=30000):
        qtbot.mouseClick(box.keep_button, Qt.MouseButton.LeftButton)
    expected = np.zeros((64, 64), np.uint8)  # sky -> "unlabeled" (0), grass -> 1, written out here
    expected[:, 32:] = 1
    np.testing.assert_array_equal(p.canvas.label_map, expected)
    assert p.model == str(b) and p.palette_view.names[:3] == ["unlabeled", "grass", "water"]
    assert "2048 px had no counterpart" in p.last_message and "unlabeled" in p.last_message
    stack = p.undo_stack()
    assert stack.canUndo() and stack.undoText().startswith("Change label set")
    qtbot.waitUntil(p.is_idle, timeout=30000)

    # one undo: the painting, the label set and the model it was painted for
    with qtbot.waitSignal(p.rendered, timeout=30000):
        stack.undo()
    np.testing.assert_array_equal(p.canvas.label_map, painted)
    assert p.model == str(a) and p.palette_view.names[:3] == ["other", "sky", "grass"]
    assert p.model_box.currentData() == str(a)
    qtbot.waitUntil(p.is_idle, timeout=30000)
    with qtbot.waitSignal(p.rendered, timeout=30000):
        stack.redo()
    np.testing.assert_array_equal(p.canvas.label_map, expected)
    assert p.model == str(b)
    qtbot.waitUntil(p.is_idle, timeout=30000)
    p.shutdown()


def test_the_same_label_set_keeps_the_painting_without_asking(qtbot, panel, tmp_path):
    other = tiny_spade_file(tmp_path / "same_labels_G.pth", seed=5)
    painted = np.zeros((64, 64), np.uint8)
    painted[10:20] = 3
    panel.canvas.set_label_map(painted, reset_history=False)
    qtbot.waitUntil(panel.is_idle, timeout=30000)
    asked = []
    panel.label_set_question.connect(asked.append)
    with qtbot.waitSignal(panel.model_ready, timeout=30000):
        panel.set_model(str(other))
    qtbot.waitUntil(panel.is_idle, timeout=30000)
    assert asked == [] and panel.model == str(other)
    np.testing.assert_array_equal(panel.canvas.label_map, painted)


# ------------------------------------------------------------------ cancel a full-size render (15.4)
def test_cancel_full_size_render_says_cancelling_then_cancelled(qtbot, panel, monkeypatch):
    import ui_fake_paint
    from ganstudio.ui import paint_render_scheduler as prs

    monkeypatch.setattr(prs, "RENDER_TARGET", "ui_fake_paint:gated_render")
    ui_fake_paint.reset()
    assert not panel.cancel_button.isEnabled()
    panel.render_full()
    qtbot.waitUntil(ui_fake_paint.FULL_REACHED.is_set, timeout=30000)
    qtbot.waitUntil(panel.cancel_button.isEnabled, timeout=30000)
    states = []
    panel.job_state.connect(states.append)
    with qtbot.waitSignal(panel.message, timeout=30000, check_params_cb=lambda m: m == "Cancelled"):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
        assert panel.last_message == "Cancelling…"  # at once
    assert states == ["cancelling…", ""] and not panel.cancel_button.isEnabled()
    assert panel.is_idle()


# ------------------------------------------------------------------ a model that is not downloaded (15.5)
@pytest.fixture
def manifest_dir(tmp_path, monkeypatch, model_path):
    """A bundled-models folder with two paint entries whose files are missing: one with a direct address,
    one whose file comes in an archive from a web page."""
    import json

    root = tmp_path / "models"
    (root / "manifest").mkdir(parents=True)
    entries = [{"id": "spade.tiny", "task": "paint", "arch": "spade", "file": "tiny/tiny_G.pth",
                "url": "https://example.invalid/tiny_G.pth", "size_bytes": 4096,
                "test_source": str(model_path)},
               {"id": "spade.manual", "task": "paint", "arch": "spade", "file": "manual/latest_net_G.pth",
                "url": "https://example.invalid/page", "archive": "checkpoints.tar.gz"}]
    (root / "manifest" / "paint.json").write_text(json.dumps({"models": entries}))
    monkeypatch.setenv("GANSTUDIO_MODELS_DIR", str(root))
    return root


def _pick(p, model_id):
    i = p.model_box.findData(model_id)
    assert i > 0, [p.model_box.itemText(k) for k in range(p.model_box.count())]
    p.model_box.setCurrentIndex(i)
    p.model_box.activated.emit(i)


def test_picking_a_missing_model_offers_download_with_progress(qtbot, manifest_dir, monkeypatch):
    from ganstudio.ui.paint_panel import PaintPanel
    from ganstudio.ui.widgets import model_fetch

    monkeypatch.setattr(model_fetch, "DOWNLOAD_TARGET", "ui_fake_paint:fake_download")
    p = PaintPanel()
    qtbot.addWidget(p)
    p.show()
    assert p.model_box.itemText(p.model_box.findData("spade.tiny")).endswith("(not downloaded)")
    assert p.fetch_bar.isHidden()
    _pick(p, "spade.tiny")  # before: nothing happened at all
    bar = p.fetch_bar
    assert bar.isVisible() and "spade.tiny is not on this machine" in bar.text.text()
    assert bar.action.text() == "Download" and "not on this machine" in p.last_message
    progress = []
    bar.job.progress.connect(lambda pr: progress.append(bar.progress.value()))
    with qtbot.waitSignal(p.model_ready, timeout=30000):
        qtbot.mouseClick(bar.action, Qt.MouseButton.LeftButton)
        assert bar.progress.isVisible() and bar.cancel_button.isVisible()
    assert progress and max(progress) > 0  # the bar moved
    assert p.model == "spade.tiny" and bar.isHidden()
    assert p.model_box.itemText(p.model_box.currentIndex()) == "spade.tiny"  # present now
    qtbot.waitUntil(p.is_idle, timeout=30000)
    p.shutdown()


def test_a_download_can_be_cancelled(qtbot, manifest_dir, monkeypatch):
    import ui_fake_paint
    from ganstudio.ui.paint_panel import PaintPanel
    from ganstudio.ui.widgets import model_fetch

    monkeypatch.setattr(model_fetch, "DOWNLOAD_TARGET", "ui_fake_paint:stuck_download")
    ui_fake_paint.DOWNLOAD_REACHED.clear()
    p = PaintPanel()
    qtbot.addWidget(p)
    p.show()
    _pick(p, "spade.tiny")
    bar = p.fetch_bar
    qtbot.mouseClick(bar.action, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(ui_fake_paint.DOWNLOAD_REACHED.is_set, timeout=30000)
    with qtbot.waitSignal(bar.job.cancelled, timeout=30000):
        qtbot.mouseClick(bar.cancel_button, Qt.MouseButton.LeftButton)
        assert bar.text.text() == "Cancelling…"
    assert bar.text.text() == "Cancelled" and bar.action.isEnabled() and not bar.progress.isVisible()
    assert p.model is None
    p.shutdown()


def test_a_missing_model_without_a_direct_address_offers_import(qtbot, manifest_dir, model_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from ganstudio.ui.paint_panel import PaintPanel

    p = PaintPanel()
    qtbot.addWidget(p)
    p.show()
    _pick(p, "spade.manual")
    bar = p.fetch_bar
    assert bar.action.text() == "Import…" and "checkpoints.tar.gz" in bar.text.text()
    assert "https://example.invalid/page" in bar.text.text()  # a link to where it comes from
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(model_path), "")))
    with qtbot.waitSignal(p.model_ready, timeout=30000):
        qtbot.mouseClick(bar.action, Qt.MouseButton.LeftButton)  # the real import job: hash, check, copy
    assert p.model.startswith("user.") and p.info["semantic_nc"] == 5  # the library copy is in use
    assert p.model_box.currentData() == p.model and bar.isHidden()
    qtbot.waitUntil(p.is_idle, timeout=30000)
    p.shutdown()


# ------------------------------------------------------------------ labels the model was not trained on (13)
def test_labels_the_model_was_not_trained_on_are_marked(qtbot, tmp_path, monkeypatch, model_path):
    """A manifest entry's ``trained_labels`` (the bundled landscapes model has one) reaches the palette:
    the other labels say "(not trained)" and are greyed, and the first label selected is a trained one."""
    import json
    import shutil

    root = tmp_path / "models"
    (root / "manifest").mkdir(parents=True)
    shutil.copy(model_path, root / "tiny_G.pth")
    shutil.copy(str(model_path) + ".json", root / "tiny_G.pth.json")
    entry = {"id": "spade.partly", "task": "paint", "arch": "spade", "file": "tiny_G.pth",
             "arch_kwargs": {"trained_labels": [2, 3]}}
    (root / "manifest" / "paint.json").write_text(json.dumps({"models": [entry]}))
    monkeypatch.setenv("GANSTUDIO_MODELS_DIR", str(root))
    p = PaintPanel()
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.full_rendered, timeout=30000):
        p.set_model("spade.partly")
    qtbot.waitUntil(p.is_idle, timeout=30000)
    try:
        view = p.palette_view
        texts = {view.list.item(r).data(Qt.ItemDataRole.UserRole): view.list.item(r).text()
                 for r in range(view.list.count())}
        assert texts[1].endswith("(not trained)")
        assert not texts[2].endswith("(not trained)") and not texts[3].endswith("(not trained)")
        grey = {view.list.item(r).data(Qt.ItemDataRole.UserRole): view.list.item(r).foreground().color()
                for r in range(view.list.count())}
        assert grey[1] != grey[2]
        assert view.current() == 2  # label 1 comes first but was not trained on
    finally:
        p.shutdown()


def test_a_model_that_does_not_say_marks_nothing(panel):
    view = panel.palette_view
    assert not any(view.list.item(r).text().endswith("(not trained)") for r in range(view.list.count()))
