"""LatentPanel with real widgets and the real worker on a tiny seeded StyleGAN2."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.engines import directions as D
from ganstudio.engines import latent as L
from ganstudio.ui.latent_panel import LatentPanel

from tiny_models import tiny_stylegan2_file


@pytest.fixture
def panel(qtbot, tmp_path):
    p = LatentPanel()
    qtbot.addWidget(p)
    model = tiny_stylegan2_file(tmp_path / "tiny.pt")
    with qtbot.waitSignal(p.grid_ready, timeout=30000):
        p.set_model(model)
    qtbot.waitUntil(lambda: p.current_image is not None, timeout=30000)
    yield p
    p.shutdown()


def _wait_idle(qtbot, p):
    qtbot.waitUntil(lambda: not p._jobs and not p.runner.is_busy(), timeout=30000)


def test_grid_shows_seeds(panel):
    assert panel.grid_seeds == list(range(16))
    assert [t.text() for t in panel.tiles[:2]] == ["seed 0", "seed 1"]
    lm = L.open_model(panel.model_path)
    want = L.render_state({"seeds": list(range(16))}, model=lm)["images"]
    assert np.array_equal(panel.grid_images, want)
    # clicking a tile picks it and makes it the image the sliders edit
    panel.tiles[5].click()
    assert panel.picked_seeds() == [5] and panel.base == {"seeds": [5]}


def test_slider_rerenders_newest_wins(panel, qtbot):
    with qtbot.waitSignal(panel.directions_changed, timeout=30000):
        panel.compute_directions("sefa")
    assert len(panel.rows) == panel.n_dirs.value()
    _wait_idle(qtbot, panel)
    started = panel.runner.started_count
    row = panel.rows[0]
    for v in (10, 30, 55, -20, 80):  # a quick drag: only the newest value matters
        row.slider.setValue(v)
    last = panel.last_submitted
    with qtbot.waitSignal(panel.image_rendered, timeout=30000, check_params_cb=lambda rid: rid == last):
        pass
    _wait_idle(qtbot, panel)
    assert panel.last_shown == last
    assert panel.runner.started_count - started < 5  # stale requests were dropped, not queued
    assert panel.shown_strengths[row.name] == pytest.approx(0.8 * 3 * row.scale)
    lm = L.open_model(panel.model_path)
    dirs = D.DirectionSet.from_dict(panel.current_directions())
    want = L.render_state({"seeds": [0], "edits": dirs.edits({row.name: row.strength()})}, model=lm)["images"][0]
    assert np.array_equal(panel.current_image, want)
    base = L.render_state({"seeds": [0]}, model=lm)["images"][0]
    assert not np.array_equal(panel.current_image, base)
    # back to zero reproduces the unedited image exactly
    row.slider.setValue(0)
    last = panel.last_submitted
    qtbot.waitUntil(lambda: panel.last_shown == last, timeout=30000)
    assert np.array_equal(panel.current_image, base)


def test_supervised_from_grid_labels(panel, qtbot):
    panel.click_combo.setCurrentText("Label yes")
    for i in (1, 2, 3):
        panel.tiles[i].click()
    panel.click_combo.setCurrentText("Label no")
    for i in (4, 5):
        panel.tiles[i].click()
    assert panel.labels() == ([1, 2, 3], [4, 5]) and panel.picked_seeds() == []
    panel.sup_name.setText("smile")
    with qtbot.waitSignal(panel.directions_changed, timeout=30000):
        panel.compute_directions("supervised")
    assert [r.name for r in panel.rows] == ["smile"]


def test_export_png_restores_state(panel, qtbot, tmp_path):
    with qtbot.waitSignal(panel.directions_changed, timeout=30000):
        panel.compute_directions("pca")
    panel.tiles[7].click()
    panel.trunc_spin.setValue(0.8)
    panel.noise_combo.setCurrentText("random")
    panel.rows[1].slider.setValue(40)
    panel.rows[1].stop.setValue(4)
    last = panel.last_submitted
    qtbot.waitUntil(lambda: panel.last_shown >= last, timeout=30000)
    _wait_idle(qtbot, panel)
    out = tmp_path / "edit.png"
    with qtbot.waitSignal(panel.exported, timeout=30000):
        panel.export_to(str(out))
    saved = np.asarray(Image.open(out).convert("RGB"))
    assert np.array_equal(saved, panel.current_image)

    fresh = LatentPanel()
    qtbot.addWidget(fresh)
    try:
        with qtbot.waitSignal(fresh.state_restored, timeout=30000):
            assert fresh.open_image(str(out))
        assert fresh.model_path == panel.model_path
        assert fresh.trunc_spin.value() == pytest.approx(0.8) and fresh.noise_combo.currentText() == "random"
        assert fresh.base["seeds"] == [7]
        assert fresh.strengths()[panel.rows[1].name] == pytest.approx(panel.rows[1].strength())
        assert fresh.rows[-1].layers() == [0, 4]
        qtbot.waitUntil(lambda: fresh.last_shown >= fresh.last_submitted > 0, timeout=30000)
        _wait_idle(qtbot, fresh)
        assert np.array_equal(fresh.current_image, saved)
    finally:
        fresh.shutdown()


def test_directions_file_refused_on_other_model(panel, qtbot, tmp_path):
    other = tiny_stylegan2_file(tmp_path / "other.pt", seed=3)
    D.save_directions(tmp_path / "d.npz", D.sefa(other, 2))
    panel.load_directions(str(tmp_path / "d.npz"))
    qtbot.waitUntil(lambda: "another model" in panel.status.text(), timeout=30000)
    assert panel.rows == []


def test_open_plain_photo_projects(panel, qtbot, tmp_path):
    photo = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    panel.proj_steps.setValue(10)
    with qtbot.waitSignal(panel.projection_done, timeout=60000):
        assert panel.open_image(str(tmp_path / "photo.png"))
    assert panel.base["wplus"].shape == (1, 8, 16)
    assert "PSNR" in panel.proj_label.text()
    last = panel.last_submitted
    qtbot.waitUntil(lambda: panel.last_shown >= last, timeout=30000)
    _wait_idle(qtbot, panel)


def test_interpolation_and_arithmetic(panel, qtbot):
    panel.pick([2, 9])
    panel.steps_spin.setValue(3)
    panel.slerp_check.setChecked(True)
    panel.interpolate()
    qtbot.waitUntil(lambda: panel.frames is not None, timeout=30000)
    assert panel.frames.shape == (4, 32, 32, 3) and panel.strip.shape == (32, 128, 3)
    lm = L.open_model(panel.model_path)
    ends = L.render_state({"seeds": [2, 9]}, model=lm)["images"]
    assert np.array_equal(panel.frames[0], ends[0]) and np.array_equal(panel.frames[-1], ends[1])
    panel.set_group("A", [1, 2])
    panel.set_group("B", [3])
    panel.set_group("C", [4, 5])
    panel.run_arithmetic()
    qtbot.waitUntil(lambda: getattr(panel, "arith_result", None) is not None, timeout=30000)
    assert panel.arith_result["perturbed"].shape == (8, 32, 32, 3)
    _wait_idle(qtbot, panel)


def test_dcgan_model(qtbot, tmp_path):
    from ganstudio.nets import dcgan

    torch.manual_seed(0)
    torch.save(dcgan.Generator(8, 8, 3).state_dict(), tmp_path / "netG_epoch_2.pth")
    p = LatentPanel()
    qtbot.addWidget(p)
    try:
        with qtbot.waitSignal(p.grid_ready, timeout=30000):
            p.set_model(str(tmp_path / "netG_epoch_2.pth"))
        assert p.model_info["family"] == "dcgan" and not p.noise_combo.isEnabled()
        with qtbot.waitSignal(p.directions_changed, timeout=30000):
            p.compute_directions("sefa")
        _wait_idle(qtbot, p)
        before = p.current_image.copy()
        p.rows[0].slider.setValue(90)
        last = p.last_submitted
        qtbot.waitUntil(lambda: p.last_shown >= last, timeout=30000)
        assert p.current_image.shape == (64, 64, 3) and not np.array_equal(p.current_image, before)
        _wait_idle(qtbot, p)
    finally:
        p.shutdown()


def test_style_mix(panel, qtbot):
    panel.set_base({"seeds": [3]})
    panel.mix_index.setValue(4)
    panel.style_mix(fine_seed=11)
    qtbot.waitUntil(lambda: panel.base is not None and "wplus" in panel.base, timeout=30000)
    last = panel.last_submitted
    qtbot.waitUntil(lambda: panel.last_shown >= last, timeout=30000)
    _wait_idle(qtbot, panel)
    lm = L.open_model(panel.model_path)
    with torch.inference_mode():  # the official style-mixing call
        z = torch.as_tensor(L.z_from_seeds([3, 11], 16))
        ref, _ = lm.net([z[0:1], z[1:2]], inject_index=4, randomize_noise=False)
    assert np.array_equal(panel.current_image, L.to_uint8(ref)[0])


def test_fits_a_1280x800_window(qtbot):
    """The seed grid and the tabs beside it must leave room for the window frame, menu and status bar."""
    p = LatentPanel()
    qtbot.addWidget(p)
    hint = p.minimumSizeHint()
    assert hint.width() <= 1100 and hint.height() <= 680, hint
    assert p.tiles[0].minimumSizeHint().width() < 96  # tiles shrink below their preferred icon size


def test_model_actions_disabled_until_a_model_is_loaded(qtbot, tmp_path):
    p = LatentPanel()
    qtbot.addWidget(p)
    assert not p.sample_btn.isEnabled() and not p.sefa_btn.isEnabled() and not p.project_btn.isEnabled()
    with qtbot.waitSignal(p.grid_ready, timeout=30000):
        p.set_model(tiny_stylegan2_file(tmp_path / "tiny.pt"))
    assert p.sample_btn.isEnabled() and p.sefa_btn.isEnabled() and p.mix_btn.isEnabled()
    qtbot.waitUntil(lambda: not p._jobs and not p.runner.is_busy(), timeout=30000)
    p.shutdown()
