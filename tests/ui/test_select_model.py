"""``select_model(model_id)`` on every image tab (what the Train tab's "Use in …" calls): a library entry added
after the tab was built is found by id, becomes the tab's model and renders; an unknown id is refused."""
from __future__ import annotations

import numpy as np
import pytest
from model_home import isolated_model_home
from PIL import Image
from tiny_models import (
    tiny_cyclegan_file,
    tiny_spade_file,
    tiny_srvgg_file,
    tiny_stylegan2_file,
)

from ganstudio.core.manifest import ModelEntry, add_library_entry

T = 60000


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private home (settings, library) and bundled-models folder; fp32 so nothing depends on bf16 support."""
    from ganstudio.ui.settings import Settings

    isolated_model_home(tmp_path, monkeypatch)
    s = Settings()
    s.device, s.precision = "cpu", "fp32"
    s.sync()
    return tmp_path


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 28, 3), dtype=np.uint8)).save(path)
    return str(path)


def _add(model_id: str, task: str, arch: str, file, **kw) -> str:
    return add_library_entry(ModelEntry(id=model_id, task=task, arch=arch, file=str(file), **kw)).id


def test_latent_selects_a_library_model_added_after_it_was_built(qtbot, home):
    from ganstudio.engines import latent as L
    from ganstudio.ui.latent_panel import LatentPanel

    p = LatentPanel()
    qtbot.addWidget(p)
    try:
        assert not p.select_model("user.faces")
        path = tiny_stylegan2_file(home / "faces.pt", seed=3)
        mid = _add("user.faces", "latent", "stylegan2", path)
        with qtbot.waitSignal(p.grid_ready, timeout=T):
            assert p.select_model(mid)
        assert p.model_path == mid and p.model_bar.combo.currentData() == mid
        want = L.render_state({"seeds": list(range(16))}, model=L.open_model(path))["images"]
        assert np.array_equal(p.session.grid_images, want)
        qtbot.waitUntil(p.is_idle, timeout=T)
    finally:
        p.shutdown()


def test_paint_selects_a_library_model_added_after_it_was_built(qtbot, home):
    from ganstudio.ui.paint_panel import PaintPanel

    p = PaintPanel()
    qtbot.addWidget(p)
    p.resize(900, 600)
    p.show()
    try:
        assert not p.select_model("user.scenes")
        mid = _add("user.scenes", "paint", "spade", tiny_spade_file(home / "scenes_G.pth"))
        with qtbot.waitSignal(p.full_rendered, timeout=T) as done:
            assert p.select_model(mid)
        assert p.model == mid and p.model_box.currentData() == mid
        assert done.args[0].ndim == 3 and done.args[0].shape[2] == 3
        qtbot.waitUntil(p.is_idle, timeout=T)
    finally:
        p.shutdown()


def test_stylize_selects_a_library_model_added_after_it_was_built(qtbot, home, photo):
    from ganstudio.ui.stylize_panel import StylizePanel

    p = StylizePanel()
    qtbot.addWidget(p)
    try:
        assert not p.select_model("user.style")
        mid = _add("user.style", "stylize", "cyclegan", tiny_cyclegan_file(home / "style_G.pth"))
        assert p.select_model(mid)
        assert p.current_model() == mid and not p.model_missing()
        with qtbot.waitSignal(p.image_finished, timeout=T) as done:
            assert p.open_image(photo)
        assert done.args[0]["image"].shape[:2] == (20, 28)
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=T)
    finally:
        p.shutdown()


def test_upscale_selects_a_library_model_added_after_it_was_built(qtbot, home, photo):
    from ganstudio.ui.upscale_panel import UpscalePanel

    p = UpscalePanel()
    qtbot.addWidget(p)
    try:
        assert not p.select_model("user.sr")
        mid = _add("user.sr", "upscale", "srvgg", tiny_srvgg_file(home / "sr_x2.pth"), arch_kwargs={"scale": 2})
        assert p.select_model(mid)
        assert p.current_model() == mid and p.scale_spin.value() == 2.0
        with qtbot.waitSignal(p.image_loaded, timeout=T):
            assert p.open_image(photo)
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=T)
        with qtbot.waitSignal(p.upscale_finished, timeout=T) as done:
            assert p.upscale()
        assert done.args[0].image.pixels.shape == (40, 56, 3)
        qtbot.waitUntil(lambda: not p.is_busy(), timeout=T)
    finally:
        p.shutdown()
