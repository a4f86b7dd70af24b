"""PaintCanvas and LabelPalette driven with real mouse / key events."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor

from ganstudio.ui.label_palette import LabelPalette
from ganstudio.ui.paint_canvas import PaintCanvas

COLORS = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]


@pytest.fixture
def canvas(qtbot):
    c = PaintCanvas()
    qtbot.addWidget(c)
    c.resize(200, 200)
    c.show()
    qtbot.waitExposed(c)
    c.set_palette(COLORS)
    c.set_label_map(np.zeros((32, 40), np.uint8))
    c.set_view(4.0, (0.0, 0.0))  # image pixel (x, y) covers widget [4x, 4x+4) x [4y, 4y+4)
    return c


def disk_union(shape, centres, diameter):
    """Expected brush coverage, written out independently of the widget's code."""
    r2 = (diameter / 2.0) ** 2
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    m = np.zeros(shape, bool)
    for cx, cy in centres:
        m |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r2
    return m


def drag(qtbot, c, points, button=Qt.MouseButton.LeftButton):
    qtbot.mousePress(c, button, pos=c.image_to_widget(*points[0]))
    for p in points[1:]:
        qtbot.mouseMove(c, c.image_to_widget(*p))
    qtbot.mouseRelease(c, button, pos=c.image_to_widget(*points[-1]))


def test_brush_stroke_writes_expected_pixels_and_one_change_signal(qtbot, canvas):
    changes = []
    canvas.label_map_changed.connect(lambda: changes.append(canvas.label_map.copy()))
    canvas.set_current_label(2)
    canvas.set_brush_size(5)
    drag(qtbot, canvas, [(5, 5), (10, 5), (15, 5)])
    expected = disk_union((32, 40), [(x, 5) for x in range(5, 16)], 5)
    np.testing.assert_array_equal(canvas.label_map == 2, expected)
    assert canvas.label_map[~expected].max() == 0
    assert len(changes) == 1  # one completed stroke, no signals during the drag
    assert canvas.undo_stack.count() == 1


def test_undo_redo_restore_pixels(qtbot, canvas):
    canvas.set_current_label(1)
    canvas.set_brush_size(3)
    drag(qtbot, canvas, [(3, 3), (3, 12)])
    after_first = canvas.label_map.copy()
    canvas.set_current_label(3)
    drag(qtbot, canvas, [(1, 8), (20, 8)])
    after_second = canvas.label_map.copy()
    assert not np.array_equal(after_first, after_second)
    canvas.undo_stack.undo()
    np.testing.assert_array_equal(canvas.label_map, after_first)
    canvas.undo_stack.undo()
    assert canvas.label_map.max() == 0
    canvas.undo_stack.redo()
    np.testing.assert_array_equal(canvas.label_map, after_first)
    canvas.undo_stack.redo()
    np.testing.assert_array_equal(canvas.label_map, after_second)


def test_fill_bucket_is_4_connected(qtbot, canvas):
    lm = np.zeros((32, 40), np.uint8)
    lm[10, :] = 1  # a wall splitting the map in two
    lm[20, 20] = 1
    canvas.set_label_map(lm)
    canvas.set_view(4.0, (0.0, 0.0))
    canvas.set_tool("fill")
    canvas.set_current_label(4)
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.image_to_widget(5, 3))
    expected = lm.copy()
    expected[:10, :] = 4
    np.testing.assert_array_equal(canvas.label_map, expected)
    canvas.undo_stack.undo()
    np.testing.assert_array_equal(canvas.label_map, lm)


def test_eraser_paints_the_background_label(qtbot, canvas):
    canvas.set_label_map(np.full((32, 40), 2, np.uint8))
    canvas.set_view(4.0, (0.0, 0.0))
    canvas.set_tool("eraser")
    canvas.set_background_label(4)
    canvas.set_brush_size(1)
    drag(qtbot, canvas, [(7, 7), (7, 9)])
    assert set(zip(*np.nonzero(canvas.label_map == 4))) == {(7, 7), (8, 7), (9, 7)}


def test_rectangle_line_and_polygon(qtbot, canvas):
    canvas.set_tool("rect")
    canvas.set_current_label(1)
    drag(qtbot, canvas, [(12, 4), (6, 2)])
    expected = np.zeros((32, 40), bool)
    expected[2:5, 6:13] = True  # corners inclusive
    np.testing.assert_array_equal(canvas.label_map == 1, expected)

    canvas.set_tool("line")
    canvas.set_current_label(2)
    canvas.set_brush_size(1)
    drag(qtbot, canvas, [(0, 20), (30, 20)])
    assert (canvas.label_map[20, 0:31] == 2).all() and (canvas.label_map == 2).sum() == 31

    canvas.set_tool("polygon")
    canvas.set_current_label(3)
    for p in [(20, 24), (30, 24), (30, 30), (20, 30)]:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.image_to_widget(*p))
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert (canvas.label_map[24:31, 20:31] == 3).all() and (canvas.label_map == 3).sum() == 7 * 11
    assert canvas.undo_stack.count() == 3


def test_eyedropper_picks_label(qtbot, canvas):
    lm = np.zeros((32, 40), np.uint8)
    lm[5, 6] = 4
    canvas.set_label_map(lm)
    canvas.set_view(4.0, (0.0, 0.0))
    canvas.set_tool("eyedropper")
    with qtbot.waitSignal(canvas.label_picked) as blocker:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.image_to_widget(6, 5))
    assert blocker.args == [4] and canvas.current_label == 4
    assert canvas.undo_stack.count() == 0


def test_zoom_keeps_anchor_and_pan_moves_view(qtbot, canvas):
    anchor = canvas.image_to_widget(10, 10)
    canvas.set_zoom(8.0, QPointF(anchor))
    assert canvas.zoom == 8.0
    assert canvas.widget_to_image(QPointF(anchor)) == (10, 10)
    before = canvas.widget_to_image(QPointF(100, 100))
    qtbot.mousePress(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(100, 100))
    qtbot.mouseMove(canvas, QPoint(140, 100))
    qtbot.mouseRelease(canvas, Qt.MouseButton.MiddleButton, pos=QPoint(140, 100))
    after = canvas.widget_to_image(QPointF(100, 100))
    assert after == (before[0] - 5, before[1])  # 40 px at zoom 8 = 5 image pixels
    assert canvas.label_map.max() == 0  # panning never paints


def test_clear_and_overlay_opacity(qtbot, canvas):
    canvas.set_label_map(np.full((32, 40), 1, np.uint8))  # red labels
    canvas.set_view(4.0, (0.0, 0.0))
    result = np.zeros((32, 40, 3), np.uint8)
    result[..., 2] = 200  # a blue "render"
    canvas.set_result(result)
    pt = canvas.image_to_widget(10, 10)
    canvas.set_overlay_opacity(0.0)
    assert canvas.grab().toImage().pixelColor(pt) == QColor(0, 0, 200)
    canvas.set_overlay_opacity(1.0)
    assert canvas.grab().toImage().pixelColor(pt) == QColor(255, 0, 0)
    canvas.set_overlay_opacity(0.5)
    mixed = canvas.grab().toImage().pixelColor(pt)
    assert 100 < mixed.red() < 160 and 70 < mixed.blue() < 130

    canvas.set_background_label(3)
    canvas.clear()
    assert (canvas.label_map == 3).all()
    canvas.undo_stack.undo()
    assert (canvas.label_map == 1).all()


def test_label_palette_search_and_recent(qtbot):
    pal = LabelPalette()
    qtbot.addWidget(pal)
    pal.set_labels(["other", "wall", "building", "sky", "floor"], COLORS, title="test", hidden_ids={4})
    assert pal.visible_ids() == [0, 1, 2, 3]  # hidden (unused) ids are not offered
    pal.search.setText("b")
    assert pal.visible_ids() == [2]
    pal.search.setText("3")
    assert pal.visible_ids() == [3]
    pal.search.setText("")
    with qtbot.waitSignal(pal.label_selected) as blocker:
        pal.list.itemClicked.emit(pal.list.item(3))
    assert blocker.args == [3]
    pal.select(1)
    assert pal.recent[:2] == [1, 3]
    assert [pal.recent_list.item(r).data(Qt.ItemDataRole.UserRole) for r in range(pal.recent_list.count())] == [1, 3]
    assert pal.current() == 1


def test_recent_labels_list_is_as_tall_as_its_rows_up_to_five(qtbot):
    pal = LabelPalette()
    qtbot.addWidget(pal)
    names = [f"label {i}" for i in range(12)]
    pal.set_labels(names, [(i * 20, 0, 0) for i in range(12)])
    pal.resize(240, 600)
    pal.show()
    qtbot.waitExposed(pal)
    pal.select(1)
    lw = pal.recent_list
    row = lw.sizeHintForRow(0)
    assert row > 0 and lw.count() == 1
    one = lw.height()
    assert row <= one <= row + 2 * lw.frameWidth() + 2  # one row, not a fixed block
    assert lw.visualItemRect(lw.item(0)).bottom() < lw.viewport().height()  # the row is fully visible
    for i in range(2, 9):  # 8 recent labels
        pal.select(i)
    assert lw.count() == 8
    assert lw.height() == one + 4 * row  # capped at five rows; the rest scrolls
    assert lw.verticalScrollBar().maximum() > 0


def test_strokes_paint_new_instances_and_undo_restores_them(qtbot, canvas):
    canvas.set_current_label(2)
    canvas.set_brush_size(3)
    drag(qtbot, canvas, [(5, 5), (5, 15)])
    drag(qtbot, canvas, [(7, 5), (7, 15)])  # same label, touching the first stroke
    inst = canvas.instance_map
    a, b = int(inst[10, 5]), int(inst[10, 7])
    assert a != b and a >= 1 << 16 and b >= 1 << 16  # two objects although one label
    assert inst[0, 0] == 0  # untouched pixels keep the loaded map's ids (= labels)
    assert int(inst[10, 6]) == b  # the overlap belongs to the later stroke
    canvas.undo_stack.undo()
    assert int(canvas.instance_map[10, 6]) == a and int(canvas.instance_map[10, 8]) == 0
    canvas.undo_stack.redo()
    assert int(canvas.instance_map[10, 6]) == b and int(canvas.instance_map[10, 8]) == b


def test_hint_is_drawn_and_hidden(qtbot):
    c = PaintCanvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.new_map(64, 64, 0)
    plain = c.grab().toImage()
    c.set_hint("Pick a label and paint here")
    with_hint = c.grab().toImage()
    assert with_hint != plain
    c.set_hint("")
    assert c.grab().toImage() == plain
