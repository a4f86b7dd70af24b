"""The bundled models (issue 13) as a new user meets them: the main window on a fresh profile (empty
GANSTUDIO_HOME, the project's own models/ folder) selects each tab's bundled model without being asked, and
each tab makes a real picture with it. "Real" is the criterion of tests/test_bundled_models.py (the share of
energy in the top frequency band, which random weights of the same architecture fail; its figures are there),
plus what the tab is for: sky painted over grass comes out blue over green, a stylized photo keeps its edges,
the faces model's Smile slider changes the face."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from test_bundled_models import (
    GRASS,
    GRASS_GREENER_BY,
    SHIPPED_DIRECTIONS,
    SKY,
    SKY_BLUER_BY,
    VISIBLE_CHANGE_MIN,
    assert_picture,
    assert_stylized,
    label_id,
    manifest,
    need,
    photo,
    sky_over_grass,
    visible_change,
)

from ganstudio.ui import main_window as mw
from ganstudio.ui.settings import Settings

T = 120000  # generous: the CPU is shared with other work; nothing here depends on speed


def first_model(task: str) -> str:
    """What a fresh install should select in the task's tab: the first entry of its manifest (a bundled one,
    as tests/test_bundled_models.py checks)."""
    return manifest(task)[0]["id"]


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    """The main window as a new user first sees it: no settings, no library, the bundled models/ folder."""
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GANSTUDIO_MODELS_DIR", raising=False)
    w = mw.MainWindow(Settings(), probe_device=False)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()  # the orderly close: every panel shuts down, every job is joined


def _latent_ready(p) -> bool:
    return p.session.grid_images is not None and p.edit.current_image is not None and p.is_idle()


def test_latent_tab_starts_with_the_bundled_model_and_renders_its_grid(qtbot, window):
    assert window.current_title() == "Latent"  # a fresh profile opens on the first tab
    p = window.panels["Latent"]
    want = first_model("latent")
    assert p.model_bar.combo.currentData() == want  # nobody picked anything: shown, the tab chose it
    qtbot.waitUntil(lambda: _latent_ready(p), timeout=T)
    assert p.model_path == want and p.model_bar.combo.currentData() == want
    images = p.session.grid_images
    assert len(images) == len(p.session.grid_seeds) >= 4
    for seed, im in zip(p.session.grid_seeds, images):
        assert_picture(im, want, f"Latent grid, {want} seed {seed}")


def test_faces_ships_named_directions_and_the_smile_slider_changes_the_face(qtbot, window):
    need("faces")
    p = window.panels["Latent"]
    qtbot.waitUntil(lambda: _latent_ready(p), timeout=T)
    if p.model_path != "faces":  # another bundled model leads the list: pick faces as a user would
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            assert p.select_model("faces")
        qtbot.waitUntil(lambda: _latent_ready(p), timeout=T)
    names = [r.name for r in p.edit.rows]
    for want in SHIPPED_DIRECTIONS["faces"]:
        assert want in names, f"the edit panel lacks the shipped {want!r} slider (it has {names})"
    smile = next(r for r in p.edit.rows if r.name == "Smile")
    assert smile.name_label.text() == "Smile"
    p.grid.tiles[3].click()  # the face to edit: seed 3 of the grid
    assert p.session.base == {"seeds": [p.session.grid_seeds[3]]}
    qtbot.waitUntil(lambda: p.edit.last_shown == p.edit.last_submitted and p.is_idle(), timeout=T)
    before = p.edit.current_image.copy()
    assert_picture(before, "faces", "faces, unedited")
    smile.slider.setValue(smile.slider.maximum())  # +3 standard deviations
    last = p.edit.last_submitted
    qtbot.waitUntil(lambda: p.edit.last_shown == last and p.is_idle(), timeout=T)
    after = p.edit.current_image
    assert_picture(after, "faces", "faces, Smile moved")
    change = visible_change(before, after)
    assert change > VISIBLE_CHANGE_MIN, f"moving Smile visibly changed {change:.1%} of the face only"


def test_paint_tab_starts_with_the_bundled_model_and_paints_sky_over_grass(qtbot, window):
    window.switch_to("Paint")
    p = window.panels["Paint"]
    want = first_model("paint")
    assert p.model_box.currentData() == want  # nobody picked anything: shown, the tab chose it
    qtbot.waitUntil(lambda: p.info is not None and p.is_idle(), timeout=T)
    assert p.model == want and p.model_box.currentData() == want
    c = p.canvas
    h, w = c.label_map.shape
    c.set_view(2.0, (0.0, 0.0))  # two screen pixels per map pixel: each click lands on the pixel it names
    # grass everywhere (one fill click), then a sky rectangle over the top half
    p.palette_view.select(label_id(GRASS))
    p.set_tool("fill")
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(w // 2, h - 10))
    p.palette_view.select(label_id(SKY))
    p.set_tool("rect")
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(0, 0))
    qtbot.mouseMove(c, c.image_to_widget(w // 2, h // 4))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=c.image_to_widget(w - 1, h // 2 - 1))
    # each edit is rendered live, then at full size after a pause (a fast machine renders live at full size
    # and stops there); an edit cancels the older renders, so once idle the result is the painted map's
    qtbot.waitUntil(p.is_idle, timeout=T)
    assert (c.label_map[: h // 2] == label_id(SKY)).all() and (c.label_map[h // 2:] == label_id(GRASS)).all()
    out = p.last_result
    assert out.shape == (h, w, 3)  # the model's own size (a fresh map has it)
    assert_picture(out, want, "Paint, sky over grass")
    bluer, greener = sky_over_grass(out)
    assert bluer > SKY_BLUER_BY, f"the sky half is only {bluer:.1f} bluer (B - R) than the grass half"
    assert greener > GRASS_GREENER_BY, f"the grass half is only {greener:.1f} greener (G - B) than blue"


def test_stylize_tab_starts_with_the_bundled_model_and_stylizes_a_photo(qtbot, window, tmp_path):
    window.switch_to("Stylize")
    p = window.panels["Stylize"]
    want = first_model("stylize")
    assert p.current_model() == want and not p.model_missing()  # nobody picked anything
    src = photo()
    path = tmp_path / "astronaut.png"
    Image.fromarray(src).save(path)
    with qtbot.waitSignal(p.image_finished, timeout=T) as done:
        assert window.open_paths([str(path)])  # File > Open image, while the tab is current
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=T)
    res = done.args[0]
    assert res["direction"] == "AtoB"  # the default: photo -> painterly
    out = np.asarray(res["image"])[..., :3]
    assert_picture(out, want, "Stylize")
    assert_stylized(src, out, "Stylize")
