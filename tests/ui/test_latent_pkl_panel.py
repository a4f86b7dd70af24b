"""The Latent tab on StyleGAN2-ADA ``.pkl`` generators (issue 16), with real widgets and the real worker: a pickle
opens (from a drop too), a class-conditional one gets a class picker that the grid and the sliders follow, an
unconditional one shows none."""
from __future__ import annotations

import numpy as np
import pytest
from model_home import isolated_model_home
from nvlabs_pickles import tiny_ada_generator, write_snapshot
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from ganstudio.engines import latent as L
from ganstudio.ui.latent_panel import LatentPanel

T = 30000


@pytest.fixture
def pkl(tmp_path):
    return {"plain": write_snapshot(tmp_path / "plain.pkl", tiny_ada_generator(0)),
            "classes": write_snapshot(tmp_path / "classes.pkl", tiny_ada_generator(1, c_dim=3))}


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch):
    isolated_model_home(tmp_path, monkeypatch)  # no bundled model opens on first show
    p = LatentPanel()
    p.settings = None  # auto device, fp32
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


def _grid(path, class_index, seeds=range(16)):
    return L.render_state({"seeds": list(seeds), "class_index": class_index}, model=L.open_model(path))["images"]


def _class_row_shown(p) -> bool:
    return p.grid.form.isRowVisible(p.grid.class_spin) and p.grid.class_spin.isVisible()


def test_a_conditional_pickle_gets_a_class_picker_that_the_grid_and_sliders_follow(qtbot, panel, pkl):
    with qtbot.waitSignal(panel.grid_ready, timeout=T):
        panel.set_model(pkl["classes"])
    assert panel.model_info["family"] == "stylegan2_ada" and panel.session.is_stylegan
    assert _class_row_shown(panel) and panel.grid.class_spin.maximum() == 2 and panel.grid.class_spin.value() == 0
    assert "3 classes" in panel.model_bar.info.text()
    assert np.array_equal(panel.session.grid_images, _grid(pkl["classes"], 0))
    qtbot.waitUntil(lambda: panel.edit.current_image is not None, timeout=T)

    with qtbot.waitSignal(panel.grid_ready, timeout=T):
        panel.grid.class_spin.setValue(2)  # the user picks class 2
    assert panel.session.class_index == 2
    assert np.array_equal(panel.session.grid_images, _grid(pkl["classes"], 2))
    qtbot.waitUntil(panel.is_idle, timeout=T)
    # the edited image (seed 0) follows the class; SeFa sliders work in it
    qtbot.waitUntil(lambda: np.array_equal(panel.edit.current_image, _grid(pkl["classes"], 2, [0])[0]), timeout=T)
    with qtbot.waitSignal(panel.directions_changed, timeout=T):
        panel.edit.compute_directions("sefa")
    assert len(panel.edit.rows) > 0
    with qtbot.waitSignal(panel.image_rendered, timeout=T):
        panel.edit.rows[0].slider.setValue(panel.edit.rows[0].slider.maximum())
    qtbot.waitUntil(panel.is_idle, timeout=T)
    assert not np.array_equal(panel.edit.current_image, _grid(pkl["classes"], 2, [0])[0])
    assert panel.session.current_state()["class_index"] == 2  # what an exported PNG's recipe records

    # an unconditional pickle: no class row, and it renders
    with qtbot.waitSignal(panel.grid_ready, timeout=T):
        panel.set_model(pkl["plain"])
    assert not _class_row_shown(panel) and panel.session.class_index is None
    assert np.array_equal(panel.session.grid_images, _grid(pkl["plain"], None))
    qtbot.waitUntil(panel.is_idle, timeout=T)


def _mime(path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


def test_a_dropped_pickle_opens_and_the_open_dialog_offers_pkl(qtbot, panel, pkl, tmp_path):
    from ganstudio.ui.latent.model_bar import OPEN_FILTER

    assert "*.pkl" in OPEN_FILTER
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"not read")
    image_mime, model_mime = _mime(photo), _mime(pkl["plain"])  # kept: the events do not own them
    enter = QDragEnterEvent(panel.rect().center(), Qt.DropAction.CopyAction, image_mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    panel.dragEnterEvent(enter)
    assert not enter.isAccepted()  # images go on to the window (projection / recipes)
    enter = QDragEnterEvent(panel.rect().center(), Qt.DropAction.CopyAction, model_mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    panel.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, model_mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(panel.grid_ready, timeout=T):
        panel.dropEvent(drop)
    assert drop.isAccepted() and panel.model_path == str(pkl["plain"])
    assert panel.model_bar.combo.currentText() == "plain.pkl"
    qtbot.waitUntil(panel.is_idle, timeout=T)
