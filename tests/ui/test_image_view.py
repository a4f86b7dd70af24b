"""ImageView / CompareView: conversion, zoom, fit, sync, and the before/after split."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QWheelEvent

from ganstudio.ui.widgets.image_view import CompareView, ImageView, link_views, to_qimage


def _solid(h, w, rgb):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:] = rgb
    return arr


def test_to_qimage_keeps_rgb_order_and_handles_dtypes():
    arr = np.zeros((2, 3, 3), np.uint8)
    arr[0, 0] = (255, 0, 0)
    arr[1, 2] = (0, 0, 255)
    img = to_qimage(arr)
    assert (img.width(), img.height()) == (3, 2)
    assert img.pixelColor(0, 0) == QColor(255, 0, 0)
    assert img.pixelColor(2, 1) == QColor(0, 0, 255)
    arr[0, 0] = (0, 0, 0)  # the QImage owns a copy
    assert img.pixelColor(0, 0) == QColor(255, 0, 0)

    grey16 = np.full((4, 4), 0x8000, np.uint16)
    assert to_qimage(grey16).pixelColor(1, 1) == QColor(128, 128, 128)
    flt = np.full((4, 4, 3), 1.5, np.float32)  # clipped to 1.0
    assert to_qimage(flt).pixelColor(0, 0) == QColor(255, 255, 255)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    assert to_qimage(rgba).pixelColor(0, 0) == QColor(0, 200, 0)
    assert to_qimage(None) is None
    with pytest.raises(ValueError):
        to_qimage(np.zeros((2, 2, 5), np.uint8))


def _shown(qtbot, widget, width: int, height: int):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def view(qtbot):
    return _shown(qtbot, ImageView(), 400, 300)


def test_files_dropped_on_a_view_go_to_the_window(view):
    # QGraphicsView would accept (and swallow) drags; the main window routes dropped files instead
    assert not view.acceptDrops() and not view.viewport().acceptDrops()


def test_fit_zoom_and_actual_size(view):
    view.set_image(_solid(100, 200, (10, 20, 30)))
    assert view.image_size() == (200, 100)
    vp = view.viewport().rect()
    expected = min(vp.width() / 200, vp.height() / 100)
    assert view.is_fit()
    assert view.zoom() == pytest.approx(expected)
    view.actual_size()
    assert view.zoom() == pytest.approx(1.0) and not view.is_fit()
    view.zoom_in()
    assert view.zoom() == pytest.approx(1.25)
    view.zoom_out()
    view.zoom_out()
    assert view.zoom() == pytest.approx(0.8)
    view.set_zoom(1000)
    assert view.zoom() == pytest.approx(64.0)  # clamped
    view.fit()
    assert view.zoom() == pytest.approx(expected)


def test_shortcut_actions_and_wheel_zoom(view, qtbot):
    view.set_image(_solid(50, 50, (0, 0, 0)))
    view.actual_size_action.trigger()
    assert view.zoom() == pytest.approx(1.0)
    view.zoom_in_action.trigger()
    assert view.zoom() == pytest.approx(1.25)
    assert view.zoom_in_action.shortcuts()[0].toString() == "Ctrl+="
    center = QPointF(view.viewport().rect().center())
    wheel = QWheelEvent(center, view.viewport().mapToGlobal(center), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    with qtbot.waitSignal(view.view_changed, timeout=1000) as blocker:
        view.wheelEvent(wheel)
    assert view.zoom() == pytest.approx(1.25 * 1.25 ** 2)
    assert blocker.args[0] == pytest.approx(view.zoom())


def test_linked_views_follow_each_other(qtbot):
    a, b = ImageView(), ImageView()
    for v in (a, b):
        qtbot.addWidget(v)
        v.resize(300, 300)
        v.set_image(_solid(400, 400, (1, 2, 3)))
        v.show()
    link_views(a, b)
    a.set_zoom(2.0, anchor=QPointF(100, 100))
    assert b.zoom() == pytest.approx(2.0)
    assert (b.center() - a.center()).manhattanLength() < 2
    b.set_zoom(0.5)
    assert a.zoom() == pytest.approx(0.5)


def _grab_color(view, x, y) -> QColor:
    img = view.viewport().grab().toImage()
    return img.pixelColor(x, y)


def test_compare_view_split_shows_before_left_after_right(qtbot):
    v = _shown(qtbot, CompareView(), 400, 400)
    # before is 4x smaller (an upscale input): it is stretched over the after image
    v.set_images(_solid(50, 50, (255, 0, 0)), _solid(200, 200, (0, 0, 255)))
    assert v.image_size() == (200, 200)
    assert v.split() == 0.5
    xs = v.split_x_in_viewport()
    mid_y = v.viewport().height() // 2
    assert _grab_color(v, int(xs) - 20, mid_y) == QColor(255, 0, 0)
    assert _grab_color(v, int(xs) + 20, mid_y) == QColor(0, 0, 255)

    with qtbot.waitSignal(v.split_changed, timeout=1000) as blocker:
        v.set_split(0.25)
    assert blocker.args == [0.25]
    xs2 = v.split_x_in_viewport()
    assert xs2 < xs
    # the column between the old and new line now shows "after"
    assert _grab_color(v, int((xs + xs2) / 2), mid_y) == QColor(0, 0, 255)
    v.set_split(7)
    assert v.split() == 1.0


def test_compare_view_drag_moves_split(qtbot):
    v = _shown(qtbot, CompareView(), 400, 400)
    v.set_images(_solid(100, 100, (255, 0, 0)), _solid(100, 100, (0, 255, 0)))
    vp = v.viewport()
    start = QPointF(v.split_x_in_viewport(), vp.height() / 2)
    target = QPointF(start.x() + vp.width() * 0.25, start.y())

    def send(kind, pos, button, buttons):
        ev = QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
        getattr(v, {QEvent.Type.MouseButtonPress: "mousePressEvent", QEvent.Type.MouseMove: "mouseMoveEvent",
                    QEvent.Type.MouseButtonRelease: "mouseReleaseEvent"}[kind])(ev)

    left = Qt.MouseButton.LeftButton
    send(QEvent.Type.MouseButtonPress, start, left, left)
    send(QEvent.Type.MouseMove, target, Qt.MouseButton.NoButton, left)
    send(QEvent.Type.MouseButtonRelease, target, left, Qt.MouseButton.NoButton)
    # the view fits the 100 px image into the 400 px viewport: a quarter of the viewport = a quarter image
    assert v.split() == pytest.approx(0.75, abs=0.02)


def _light_pixels(widget) -> int:
    img = widget.viewport().grab().toImage()
    return sum(1 for y in range(0, img.height(), 2) for x in range(0, img.width(), 2)
               if img.pixelColor(x, y).lightness() > 150)


@pytest.mark.parametrize("cls", [ImageView, CompareView])
def test_placeholder_drawn_only_while_empty(qtbot, cls):
    view = _shown(qtbot, cls(), 300, 200)
    assert _light_pixels(view) == 0  # the dark background, nothing else
    view.set_placeholder("Open an image or drop it here")
    assert view.placeholder() == "Open an image or drop it here"
    assert _light_pixels(view) > 20  # the hint's text
    black = _solid(50, 50, (0, 0, 0))
    if cls is CompareView:
        view.set_images(black, black)
    else:
        view.set_image(black)
    with_hint = _light_pixels(view)
    view.set_placeholder("")
    assert _light_pixels(view) == with_hint  # an image hides the hint (CompareView's split line stays)
    view.set_placeholder("Open an image or drop it here")
    view.set_image(None)
    assert _light_pixels(view) > 20
