"""LatentPanel with real widgets and the real worker on a tiny seeded StyleGAN2."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from model_home import isolated_model_home
from PIL import Image
from PySide6.QtCore import QSettings
from tiny_models import tiny_stylegan2_file

from ganstudio.engines import latent as L
from ganstudio.engines.latent import directions as D
from ganstudio.ui.latent_panel import LatentPanel
from ganstudio.ui.settings import Settings

T = 30000


@pytest.fixture
def panel(qtbot, tmp_path):
    p = LatentPanel()
    qtbot.addWidget(p)
    model = tiny_stylegan2_file(tmp_path / "tiny.pt")
    with qtbot.waitSignal(p.grid_ready, timeout=T):
        p.set_model(model)
    qtbot.waitUntil(lambda: p.edit.current_image is not None, timeout=T)
    yield p
    p.shutdown()


def _wait_idle(qtbot, p):
    qtbot.waitUntil(p.is_idle, timeout=T)


def _settings(tmp_path, device="auto", precision="fp32") -> Settings:
    s = Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    s.device = device
    s.precision = precision
    return s


def test_grid_shows_seeds(panel):
    assert panel.session.grid_seeds == list(range(16))
    assert [t.text() for t in panel.grid.tiles[:2]] == ["seed 0", "seed 1"]
    lm = L.open_model(panel.model_path)
    want = L.render_state({"seeds": list(range(16))}, model=lm)["images"]
    assert np.array_equal(panel.session.grid_images, want)
    # clicking a tile picks it and makes it the image the sliders edit
    panel.grid.tiles[5].click()
    assert panel.session.picked == [5] and panel.session.base == {"seeds": [5]}


def test_slider_rerenders_newest_wins(panel, qtbot):
    edit = panel.edit
    with qtbot.waitSignal(panel.directions_changed, timeout=T):
        edit.compute_directions("sefa")
    assert len(edit.rows) == edit.n_dirs.value()
    _wait_idle(qtbot, panel)
    started = edit.runner.started_count
    row = edit.rows[0]
    for v in (10, 30, 55, -20, 80):  # a quick drag: only the newest value matters
        row.slider.setValue(v)
    last = edit.last_submitted
    with qtbot.waitSignal(panel.image_rendered, timeout=T, check_params_cb=lambda rid: rid == last):
        pass
    _wait_idle(qtbot, panel)
    assert edit.last_shown == last
    assert edit.runner.started_count - started < 5  # stale requests were dropped, not queued
    assert edit.shown_strengths[row.name] == pytest.approx(0.8 * 3 * row.scale)
    lm = L.open_model(panel.model_path)
    dirs = D.DirectionSet.from_dict(panel.session.current_directions())
    want = L.render_state({"seeds": [0], "edits": dirs.edits({row.name: row.strength()})}, model=lm)["images"][0]
    assert np.array_equal(edit.current_image, want)
    base = L.render_state({"seeds": [0]}, model=lm)["images"][0]
    assert not np.array_equal(edit.current_image, base)
    # back to zero reproduces the unedited image exactly
    row.slider.setValue(0)
    last = edit.last_submitted
    qtbot.waitUntil(lambda: edit.last_shown == last, timeout=T)
    assert np.array_equal(edit.current_image, base)


def test_sefa_sliders_have_readable_names(panel, qtbot):
    with qtbot.waitSignal(panel.directions_changed, timeout=T):
        panel.edit.compute_directions("sefa")
    rows = panel.edit.rows
    # before: the sliders were called sefa_0, sefa_1, ... with no word on what they are
    assert [r.name_label.text() for r in rows[:3]] == ["SeFa 1", "SeFa 2", "SeFa 3"]
    assert "without labels" in rows[0].name_label.toolTip() and "sefa_0" in rows[0].name_label.toolTip()
    assert rows[0].name == "sefa_0"  # the engine's name (recipes, `ganstudio edit -d sefa_0=2`) is unchanged
    _wait_idle(qtbot, panel)


def test_supervised_is_two_visible_steps_with_counts(panel, qtbot):
    edit = panel.edit
    assert not edit.sup_btn.isEnabled() and edit.label_counts.text() == "0 yes · 0 no"
    edit.label_yes.click()  # step 1: while "Yes" is down, clicks label tiles
    for i in (1, 2, 3):
        panel.grid.tiles[i].click()
    assert edit.label_counts.text() == "3 yes · 0 no" and not edit.sup_btn.isEnabled()
    edit.label_no.click()
    assert not edit.label_yes.isChecked()  # one labelling mode at a time
    for i in (4, 5, 5, 6):  # clicking a labelled tile again unlabels it
        panel.grid.tiles[i].click()
    assert edit.label_counts.text() == "3 yes · 2 no" and edit.sup_btn.isEnabled()
    assert panel.session.label_lists() == ([1, 2, 3], [4, 6]) and panel.session.picked == []
    assert panel.grid.tiles[1].text() == "seed 1  ✓ yes"
    edit.label_no.click()  # back to picking
    edit.sup_name.setText("smile")
    with qtbot.waitSignal(panel.directions_changed, timeout=T):
        edit.sup_btn.click()  # step 2
    assert [r.name_label.text() for r in edit.rows] == ["smile"]
    assert "3 yes and 2 no" in edit.rows[0].name_label.toolTip()
    _wait_idle(qtbot, panel)


def test_export_png_restores_state_after_asking_for_its_model(panel, qtbot, tmp_path):
    edit = panel.edit
    with qtbot.waitSignal(panel.directions_changed, timeout=T):
        edit.compute_directions("pca")
    panel.grid.tiles[7].click()
    panel.grid.trunc_spin.setValue(0.8)
    panel.grid.noise_combo.setCurrentText("random")
    edit.rows[1].slider.setValue(40)
    edit.rows[1].stop.setValue(4)
    last = edit.last_submitted
    qtbot.waitUntil(lambda: edit.last_shown >= last, timeout=T)
    _wait_idle(qtbot, panel)
    out = tmp_path / "edit.png"
    with qtbot.waitSignal(panel.exported, timeout=T):
        edit.export_to(str(out))
    saved = np.asarray(Image.open(out).convert("RGB"))
    assert np.array_equal(saved, edit.current_image)

    fresh = LatentPanel()
    qtbot.addWidget(fresh)
    try:
        assert fresh.open_image(str(out))
        prompt = fresh.model_bar.prompt
        qtbot.waitUntil(lambda: not prompt.isHidden(), timeout=T)
        _wait_idle(qtbot, fresh)
        # asked, with the path in full, and nothing loaded before the answer
        assert prompt.text.text() == f"edit.png was made with tiny.pt ({panel.model_path}). Load it?"
        assert fresh.model_path == "" and not fresh.model_job.is_running()
        with qtbot.waitSignal(fresh.state_restored, timeout=T):
            prompt.load_btn.click()
        assert prompt.isHidden()
        assert fresh.model_path == panel.model_path
        assert fresh.grid.trunc_spin.value() == pytest.approx(0.8) and fresh.grid.noise_combo.currentText() == "random"
        assert fresh.session.base["seeds"] == [7]
        name = edit.rows[1].name
        assert fresh.session.strength_map()[name] == pytest.approx(edit.rows[1].strength())
        assert fresh.edit.rows[-1].layers() == [0, 4]
        qtbot.waitUntil(lambda: fresh.edit.last_shown >= fresh.edit.last_submitted > 0, timeout=T)
        _wait_idle(qtbot, fresh)
        assert np.array_equal(fresh.edit.current_image, saved)
    finally:
        fresh.shutdown()


def test_a_recipe_never_loads_its_model_unasked(panel, qtbot, tmp_path):
    """14.7: opening a PNG whose recipe names a checkpoint used to load that file at once."""
    out = tmp_path / "edit.png"
    with qtbot.waitSignal(panel.exported, timeout=T):
        panel.edit.export_to(str(out))
    _wait_idle(qtbot, panel)
    other = tiny_stylegan2_file(tmp_path / "other.pt", seed=4)
    with qtbot.waitSignal(panel.grid_ready, timeout=T):
        panel.set_model(other)
    _wait_idle(qtbot, panel)
    started = []
    panel.model_job.running_changed.connect(lambda on: started.append(on))
    assert panel.open_image(str(out))
    qtbot.waitUntil(lambda: not panel.model_bar.prompt.isHidden(), timeout=T)
    _wait_idle(qtbot, panel)
    assert started == [] and panel.model_path == other  # no model job ran: the open model stays
    assert str(tmp_path / "tiny.pt") in panel.status.text()
    panel.model_bar.prompt.no_btn.click()  # "Not now": nothing is loaded, nothing is applied later
    assert panel.model_bar.prompt.isHidden() and panel._restoring is None
    assert started == [] and panel.model_path == other


def test_directions_file_refused_on_other_model(panel, qtbot, tmp_path):
    other = tiny_stylegan2_file(tmp_path / "other.pt", seed=3)
    D.save_directions(tmp_path / "d.npz", D.sefa(other, 2))
    panel.edit.load_directions(str(tmp_path / "d.npz"))
    qtbot.waitUntil(lambda: "another model" in panel.status.text(), timeout=T)
    assert panel.edit.rows == []


def test_open_plain_photo_projects(panel, qtbot, tmp_path):
    photo = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    panel.projection.steps.setValue(10)
    with qtbot.waitSignal(panel.projection_done, timeout=60000):
        assert panel.open_image(str(tmp_path / "photo.png"))
    assert panel.session.base["wplus"].shape == (1, 8, 16)
    assert "PSNR" in panel.projection.result_label.text()
    last = panel.edit.last_submitted
    qtbot.waitUntil(lambda: panel.edit.last_shown >= last, timeout=T)
    _wait_idle(qtbot, panel)


def test_project_stop_is_enabled_only_while_projecting(panel, qtbot, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(photo)
    stop = panel.projection.stop_btn
    assert not stop.isEnabled()  # before: enabled with nothing running
    panel.projection.steps.setValue(5000)
    panel.projection.project(str(photo))
    qtbot.waitUntil(lambda: panel.projection.progress.bar.value() > 0, timeout=T)
    assert stop.isEnabled()
    assert "ETA" in panel.projection.progress.label.text()
    stop.click()
    assert panel.projection.progress.label.text() == "Cancelling…" and not stop.isEnabled()
    _wait_idle(qtbot, panel)
    assert panel.projection.progress.label.text() == "Cancelled" and panel.projection.progress.bar.isHidden()
    assert not stop.isEnabled()
    panel.projection.steps.setValue(10)
    with qtbot.waitSignal(panel.projection_done, timeout=T):
        panel.projection.project(str(photo))
    assert not stop.isEnabled()  # finished: nothing to stop
    _wait_idle(qtbot, panel)


def test_interpolation_and_arithmetic(panel, qtbot):
    panel.grid.pick([2, 9])
    panel.interp.steps_spin.setValue(3)
    panel.interp.slerp_check.setChecked(True)
    panel.interp.interpolate()
    qtbot.waitUntil(lambda: panel.session.frames is not None, timeout=T)
    assert panel.session.frames.shape == (4, 32, 32, 3) and panel.interp.strip.shape == (32, 128, 3)
    lm = L.open_model(panel.model_path)
    ends = L.render_state({"seeds": [2, 9]}, model=lm)["images"]
    assert np.array_equal(panel.session.frames[0], ends[0]) and np.array_equal(panel.session.frames[-1], ends[1])
    panel.arith.set_group("A", [1, 2])
    panel.arith.set_group("B", [3])
    panel.arith.set_group("C", [4, 5])
    panel.arith.run()
    qtbot.waitUntil(lambda: panel.arith.result is not None, timeout=T)
    assert panel.arith.result["perturbed"].shape == (8, 32, 32, 3)
    _wait_idle(qtbot, panel)


def test_dcgan_model(qtbot, tmp_path):
    from ganstudio.nets import dcgan

    torch.manual_seed(0)
    torch.save(dcgan.Generator(8, 8, 3).state_dict(), tmp_path / "netG_epoch_2.pth")
    p = LatentPanel()
    qtbot.addWidget(p)
    try:
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            p.set_model(str(tmp_path / "netG_epoch_2.pth"))
        assert p.model_info["family"] == "dcgan" and not p.grid.noise_combo.isEnabled()
        with qtbot.waitSignal(p.directions_changed, timeout=T):
            p.edit.compute_directions("sefa")
        _wait_idle(qtbot, p)
        before = p.edit.current_image.copy()
        p.edit.rows[0].slider.setValue(90)
        last = p.edit.last_submitted
        qtbot.waitUntil(lambda: p.edit.last_shown >= last, timeout=T)
        assert p.edit.current_image.shape == (64, 64, 3) and not np.array_equal(p.edit.current_image, before)
        _wait_idle(qtbot, p)
    finally:
        p.shutdown()


def test_style_mix(panel, qtbot):
    panel.edit.set_base({"seeds": [3]})
    panel.edit.mix_index.setValue(4)
    panel.edit.style_mix(fine_seed=11)
    qtbot.waitUntil(lambda: panel.session.base is not None and "wplus" in panel.session.base, timeout=T)
    last = panel.edit.last_submitted
    qtbot.waitUntil(lambda: panel.edit.last_shown >= last, timeout=T)
    _wait_idle(qtbot, panel)
    lm = L.open_model(panel.model_path)
    with torch.inference_mode():  # the official style-mixing call
        z = torch.as_tensor(L.z_from_seeds([3, 11], 16))
        ref, _ = lm.net([z[0:1], z[1:2]], inject_index=4, randomize_noise=False)
    assert np.array_equal(panel.edit.current_image, L.to_uint8(ref)[0])


def test_fits_a_1024x640_window(qtbot):
    """The model row, the seed grid and the tools beside it leave room for the window frame, menu, tab bar and
    status bar of a 1024x640 window."""
    p = LatentPanel()
    qtbot.addWidget(p)
    hint = p.minimumSizeHint()
    assert hint.width() <= 1000 and hint.height() <= 540, hint
    assert p.grid.tiles[0].minimumSizeHint().width() < 96  # tiles shrink below their preferred icon size


def test_model_line_is_not_clipped_at_1024x640(panel, qtbot):
    """15.9: the model text was clipped at 1024x640 (a one-line field in the narrow left column)."""
    panel.resize(1000, 540)
    panel.show()
    qtbot.waitExposed(panel)
    info = panel.model_bar.info
    assert info.text().startswith("stylegan2 · 32 px · W+ 8×16 · ")
    assert info.width() > 0 and info.height() >= info.heightForWidth(info.width())
    assert info.fontMetrics().horizontalAdvance(info.text()) <= info.width() * max(1, info.height() //
                                                                                    info.fontMetrics().lineSpacing())


def test_model_actions_disabled_until_a_model_is_loaded(qtbot, tmp_path):
    p = LatentPanel()
    qtbot.addWidget(p)
    assert not p.grid.sample_btn.isEnabled() and not p.edit.sefa_btn.isEnabled()
    assert not p.projection.project_btn.isEnabled()
    with qtbot.waitSignal(p.grid_ready, timeout=T):
        p.set_model(tiny_stylegan2_file(tmp_path / "tiny.pt"))
    assert p.grid.sample_btn.isEnabled() and p.edit.sefa_btn.isEnabled() and p.edit.mix_btn.isEnabled()
    _wait_idle(qtbot, p)
    p.shutdown()


# ------------------------------------------------------------------------------------------------ runtime
def test_settings_device_and_precision_reach_the_engine(qtbot, tmp_path):
    """Issue 10: the Latent tab ran on the CPU in fp32 whatever Settings said (open_model(device="cpu"))."""
    p = LatentPanel()
    qtbot.addWidget(p)
    p.settings = _settings(tmp_path, device="cpu", precision="bf16")
    try:
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            p.set_model(tiny_stylegan2_file(tmp_path / "tiny.pt"))
        _wait_idle(qtbot, p)
        assert p.model_job.last_kwargs["device"] == "cpu" and p.model_job.last_kwargs["precision"] == "bf16"
        # what the engine resolved, as it reports it with its results
        assert p.model_info["runtime"] == {"device": "cpu", "precision": "bf16"}
        assert p.session.last_runtime == {"device": "cpu", "precision": "bf16"}
        assert "cpu bf16" in p.model_bar.info.text()
        bf16_grid = p.session.grid_images.copy()
        p.settings.precision = "fp32"  # read again for the next job
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            p.grid.sample()
        _wait_idle(qtbot, p)
        assert p.session.last_runtime == {"device": "cpu", "precision": "fp32"}
        lm = L.open_model(p.model_path, "cpu", "fp32")
        fp32 = L.render_state({"seeds": list(range(16))}, model=lm)["images"]
        assert np.array_equal(p.session.grid_images, fp32) and not np.array_equal(bf16_grid, fp32)
    finally:
        p.shutdown()


# ------------------------------------------------------------------------------------------------ model list
def _latent_manifest(tmp_path, monkeypatch):
    """An isolated model home whose latent manifest lists a missing model, then two present ones; the second
    ships named directions next to its file."""
    isolated_model_home(tmp_path, monkeypatch)
    models = tmp_path / "models"
    (models / "latent").mkdir()
    faces = tiny_stylegan2_file(models / "latent" / "faces.pt", seed=1)
    fashion = tiny_stylegan2_file(models / "latent" / "fashion.pt", seed=2)
    sha = L.open_model(fashion).sha256
    smile = D.DirectionSet(["smile", "age"], np.eye(2, 16, dtype=np.float32), "w", sha, "supervised",
                           meta={"descriptions": {}})
    D.save_directions(models / "latent" / "fashion_directions.npz", smile)
    entries = [
        {"id": "ffhq_big", "task": "latent", "arch": "stylegan2", "file": "latent/absent.pt", "url": "",
         "description": "a model whose file is not here"},
        {"id": "faces", "task": "latent", "arch": "stylegan2", "file": "latent/faces.pt",
         "description": "bundled faces"},
        {"id": "fashion", "task": "latent", "arch": "stylegan2", "file": "latent/fashion.pt",
         "directions": "fashion_directions.npz", "description": "bundled fashion"},
        {"id": "x4", "task": "upscale", "arch": "rrdbnet", "file": "up/x4.pth"},
    ]
    (models / "manifest" / "latent.json").write_text(json.dumps({"models": entries}))
    return faces, fashion


def test_model_list_comes_from_the_manifest_and_a_fresh_tab_opens_the_first_present(qtbot, tmp_path, monkeypatch):
    """15.8: Latent had no model list; the manifest's latent models (bundled, library) belong there."""
    _latent_manifest(tmp_path, monkeypatch)
    p = LatentPanel()
    qtbot.addWidget(p)
    try:
        combo = p.model_bar.combo
        texts = [combo.itemText(i) for i in range(combo.count())]
        assert texts == ["ffhq_big  (not on this machine)", "faces", "fashion"]  # no upscale model
        assert p.model_path == ""  # nothing loads before the tab is shown
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            p.show()  # first show on a fresh profile: the first model that is here
        assert p.model_path == "faces" and combo.currentText() == "faces"
        # choosing the missing one says what to do, next to the list, and keeps the open model
        combo.setCurrentIndex(0)
        combo.activated.emit(0)
        assert "ffhq_big is not on this machine" in p.status.text() and p.model_path == "faces"
        assert combo.currentText() == "faces" and not p.model_job.is_running()
        _wait_idle(qtbot, p)
    finally:
        p.shutdown()


def test_directions_shipped_with_a_model_appear_as_named_sliders(qtbot, tmp_path, monkeypatch):
    _latent_manifest(tmp_path, monkeypatch)
    p = LatentPanel()
    qtbot.addWidget(p)
    try:
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            p.set_model("fashion")
        assert [r.name_label.text() for r in p.edit.rows] == ["smile", "age"]
        assert "Shipped with fashion" in p.edit.rows[0].name_label.toolTip()
        # another model drops them; a file tied to another model's hash is refused in one line
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            p.set_model("faces")
        assert p.edit.rows == []
        _wait_idle(qtbot, p)
    finally:
        p.shutdown()
