"""PaintCanvas: a label-map editor (the input of SPADE) with the rendered result beneath it.

The document is ``label_map``, a (H, W) numpy uint8 / uint16 array of label ids. Tools: round brush (size
= diameter in pixels), eraser (paints the chosen background label), fill bucket (4-connected), line,
rectangle and polygon (filled), eyedropper, pan. Zoom with the wheel (around the cursor) or
``set_zoom``; pan with the middle button, with space + drag, or the pan tool. Every completed stroke is one
QUndoCommand (only the changed bounding box is stored), so undo / redo restore pixels exactly.

Geometry: widget point p -> image pixel floor((p - offset) / zoom). A brush dab of diameter d at pixel
(cx, cy) sets every pixel with (x - cx)² + (y - cy)² <= (d / 2)² (diameter 1 = one pixel).

``instance_map`` (int32, same size) gives every stroke / shape / fill its own instance id, for SPADE models
with an instance-edge channel (objects painted side by side with one label stay apart); a loaded map has one
instance per label.

Signals: ``label_map_changed`` once per completed stroke / undo / redo / clear / import (not during a
drag), ``label_picked(int)`` from the eyedropper, ``hovered(x, y, label)`` for the status line.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
    QUndoCommand,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

FIRST_PAINTED_INSTANCE = 1 << 16
TOOLS = ("brush", "eraser", "fill", "line", "rect", "polygon", "eyedropper", "pan")
MIN_ZOOM, MAX_ZOOM = 0.05, 64.0


# ----------------------------------------------------------------------------------- pixel operations
def disk_offsets(diameter: int) -> tuple[np.ndarray, np.ndarray]:
    r = max(1, int(diameter)) / 2.0
    k = int(math.floor(r))
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    m = yy * yy + xx * xx <= r * r
    return yy[m], xx[m]


def stamp_segment(mask: np.ndarray, p0: tuple[int, int], p1: tuple[int, int], diameter: int):
    """Set ``mask`` True under a round brush moved from p0 to p1 (x, y pixels), dabs ≤ 1/2 px apart.
    Returns the touched box (y0, y1, x0, x1), or None when the brush stayed outside the map."""
    h, w = mask.shape
    dy, dx = disk_offsets(diameter)
    (x0, y0), (x1, y1) = p0, p1
    n = max(1, int(math.ceil(2 * max(abs(x1 - x0), abs(y1 - y0)))))
    t = np.arange(n + 1) / n
    centres = np.unique(np.stack([np.round(x0 + (x1 - x0) * t), np.round(y0 + (y1 - y0) * t)], 1).astype(np.int64),
                        axis=0)
    xs = (centres[:, :1] + dx[None]).reshape(-1)
    ys = (centres[:, 1:] + dy[None]).reshape(-1)
    ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    if not ok.any():
        return None
    ys, xs = ys[ok], xs[ok]
    mask[ys, xs] = True
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


def flood_region(label_map: np.ndarray, x: int, y: int) -> np.ndarray:
    """Boolean mask of the 4-connected region of label_map[y, x]'s value containing (x, y)."""
    import cv2

    same = (label_map == label_map[y, x]).astype(np.uint8)
    _, comp = cv2.connectedComponents(same, connectivity=4)
    return comp == comp[y, x]


def polygon_mask(shape: tuple[int, int], points: list[tuple[int, int]]) -> np.ndarray:
    import cv2

    mask = np.zeros(shape, np.uint8)
    if len(points) >= 3:
        cv2.fillPoly(mask, [np.array(points, np.int32)], 1)
    elif points:
        for a, b in zip(points, points[1:] or points):
            cv2.line(mask, a, b, 1)
    return mask.astype(bool)


# -------------------------------------------------------------------------------------------- undo
class StrokeCommand(QUndoCommand):
    """One completed edit: the changed box's labels and instance ids, before and after."""

    def __init__(self, canvas: "PaintCanvas", box: tuple[int, int, int, int], before: tuple, after: tuple,
                 text: str) -> None:
        super().__init__(text)
        self.canvas, self.box, self.before, self.after = canvas, box, before, after
        self._first = True

    def redo(self) -> None:
        if self._first:  # the pixels were already written while drawing
            self._first = False
            return
        self.canvas._write_box(self.box, self.after[0], inst=self.after[1])

    def undo(self) -> None:
        self.canvas._write_box(self.box, self.before[0], inst=self.before[1])


class ReplaceCommand(QUndoCommand):
    """Replace the whole map (import, new size): keeps (labels, instances) before and after."""

    def __init__(self, canvas: "PaintCanvas", before: tuple, after: tuple, text: str) -> None:
        super().__init__(text)
        self.canvas, self.before, self.after = canvas, before, after

    def redo(self) -> None:
        self.canvas._replace(self.after[0].copy(), self.after[1].copy())

    def undo(self) -> None:
        self.canvas._replace(self.before[0].copy(), self.before[1].copy())


# ------------------------------------------------------------------------------------------ widget
class PaintCanvas(QWidget):
    label_map_changed = Signal()
    label_picked = Signal(int)
    hovered = Signal(int, int, int)  # x, y, label (-1 outside)
    zoom_changed = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None, size: tuple[int, int] = (256, 256)) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 200)
        self.undo_stack = QUndoStack(self)
        self.label_map = np.zeros(size, np.uint8)
        # Instance ids: every stroke / shape / fill paints a new id, so the instance-edge channel of SPADE
        # models that take one can separate objects painted side by side with the same label.
        # A loaded map starts with one instance per label (ids = labels); painted ids start at 2^16.
        self.instance_map = np.zeros(size, np.int32)
        self._next_instance = FIRST_PAINTED_INSTANCE
        self._stroke_inst_before: Optional[np.ndarray] = None
        self.colors = np.zeros((256, 3), np.uint8)
        self.tool = "brush"
        self.current_label = 1
        self.background_label = 0
        self.brush_size = 9
        self.overlay_opacity = 0.5
        self._result: Optional[QImage] = None
        self._label_image: Optional[QImage] = None
        self._zoom = 1.0
        self._offset = QPointF(0, 0)
        self._fitted = True
        # stroke state
        self._stroke_before: Optional[np.ndarray] = None
        self._stroke_mask: Optional[np.ndarray] = None
        self._stroke_value = 0
        self._last_px: Optional[tuple[int, int]] = None
        self._drag_start: Optional[tuple[int, int]] = None
        self._drag_now: Optional[tuple[int, int]] = None
        self._polygon: list[tuple[int, int]] = []
        self._panning: Optional[QPointF] = None
        self._space = False
        self._hover_px: Optional[tuple[int, int]] = None
        self.hint = ""  # what to do, drawn over an untouched canvas (the panel sets and clears it)
        self._refresh_label_image()

    # ------------------------------------------------------------------------------- document API
    def set_palette(self, colors) -> None:
        """Label colours: (N, 3) ints, row i = label i (ids past N are drawn black)."""
        c = np.zeros((max(256, len(colors)), 3), np.uint8)
        c[: len(colors)] = np.asarray(colors, np.uint8).reshape(-1, 3)
        self.colors = c
        self._refresh_label_image()
        self.update()

    def set_label_map(self, label_map: np.ndarray, reset_history: bool = True) -> None:
        """Load a new document (import / new). ``reset_history=False`` makes it one undoable step."""
        lm = np.ascontiguousarray(label_map)
        if lm.ndim != 2 or lm.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"a label map is a (H, W) uint8/uint16 array, got {lm.dtype} {lm.shape}")
        self._cancel_stroke()
        inst = lm.astype(np.int32)
        if reset_history:
            self.undo_stack.clear()
            self._replace(lm.copy(), inst)
        else:
            self.undo_stack.push(ReplaceCommand(self, (self.label_map.copy(), self.instance_map.copy()),
                                                (lm.copy(), inst), "Replace label map"))
        if self._fitted:
            self.fit()

    def replace_map(self, label_map: np.ndarray, instance_map: np.ndarray) -> None:
        """Show this map and these instances without touching the undo history: for an undo command that
        owns the change itself (the paint panel's label-set change). Emits ``label_map_changed``."""
        self._cancel_stroke()
        self._replace(np.ascontiguousarray(label_map).copy(), np.asarray(instance_map, np.int32).copy())

    def new_map(self, height: int, width: int, label: int = 0) -> None:
        self.set_label_map(np.full((height, width), label, np.uint8 if label < 256 else np.uint16))

    def clear(self) -> None:
        """Fill everything with the background label (undoable)."""
        after = np.full_like(self.label_map, self.background_label)
        inst = np.full_like(self.instance_map, self.background_label)
        h, w = self.label_map.shape
        self.undo_stack.push(StrokeCommand(self, (0, h, 0, w), (self.label_map.copy(), self.instance_map.copy()),
                                           (after, inst), "Clear"))
        self._write_box((0, h, 0, w), after, emit=True, inst=inst)

    def set_result(self, image) -> None:
        """The rendered image shown beneath the labels (QImage or (H, W, 3) uint8); None removes it."""
        if image is None:
            self._result = None
        elif isinstance(image, QImage):
            self._result = image
        else:
            arr = np.ascontiguousarray(image, np.uint8)
            h, w = arr.shape[:2]
            self._result = QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def has_result(self) -> bool:
        return self._result is not None

    def set_overlay_opacity(self, value: float) -> None:
        self.overlay_opacity = float(min(1.0, max(0.0, value)))
        self.update()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self._cancel_stroke()
        self.tool = tool
        self.setCursor(Qt.CursorShape.OpenHandCursor if tool == "pan" else Qt.CursorShape.CrossCursor)
        self.update()

    def set_current_label(self, label: int) -> None:
        self.current_label = int(label)

    def set_background_label(self, label: int) -> None:
        self.background_label = int(label)

    def set_brush_size(self, size: int) -> None:
        self.brush_size = max(1, int(size))
        self.update()

    # ------------------------------------------------------------------------------------ geometry
    @property
    def zoom(self) -> float:
        return self._zoom

    def set_view(self, zoom: float, offset: tuple[float, float] = (0.0, 0.0)) -> None:
        """Zoom factor and the widget position of the image's top-left corner."""
        self._zoom = float(min(MAX_ZOOM, max(MIN_ZOOM, zoom)))
        self._offset = QPointF(*offset)
        self._fitted = False
        self.zoom_changed.emit(self._zoom)
        self.update()

    def set_zoom(self, zoom: float, anchor: Optional[QPointF] = None) -> None:
        """Zoom keeping the image point under ``anchor`` (default: the widget centre) in place."""
        anchor = QPointF(self.width() / 2, self.height() / 2) if anchor is None else QPointF(anchor)
        img = (anchor - self._offset) / self._zoom
        zoom = float(min(MAX_ZOOM, max(MIN_ZOOM, zoom)))
        self.set_view(zoom, (anchor.x() - img.x() * zoom, anchor.y() - img.y() * zoom))

    def fit(self) -> None:
        h, w = self.label_map.shape
        if self.width() <= 1 or self.height() <= 1:
            return
        z = min(self.width() / w, self.height() / h)
        self._zoom = float(min(MAX_ZOOM, max(MIN_ZOOM, z)))
        self._offset = QPointF((self.width() - w * self._zoom) / 2, (self.height() - h * self._zoom) / 2)
        self._fitted = True
        self.zoom_changed.emit(self._zoom)
        self.update()

    def pan_by(self, dx: float, dy: float) -> None:
        self.set_view(self._zoom, (self._offset.x() + dx, self._offset.y() + dy))

    def widget_to_image(self, pos: QPointF) -> tuple[int, int]:
        p = (QPointF(pos) - self._offset) / self._zoom
        return int(math.floor(p.x())), int(math.floor(p.y()))

    def image_to_widget(self, x: float, y: float) -> QPoint:
        """The widget point at the centre of image pixel (x, y) (for tests and tools)."""
        return QPoint(int(math.floor(self._offset.x() + (x + 0.5) * self._zoom)),
                      int(math.floor(self._offset.y() + (y + 0.5) * self._zoom)))

    def _inside(self, px: tuple[int, int]) -> bool:
        h, w = self.label_map.shape
        return 0 <= px[0] < w and 0 <= px[1] < h

    def _clamp(self, px: tuple[int, int]) -> tuple[int, int]:
        h, w = self.label_map.shape
        return min(w - 1, max(0, px[0])), min(h - 1, max(0, px[1]))

    # ------------------------------------------------------------------------------- pixel writes
    def _replace(self, lm: np.ndarray, inst: Optional[np.ndarray] = None) -> None:
        self.label_map = lm
        self.instance_map = lm.astype(np.int32) if inst is None else inst
        self._refresh_label_image()
        self.update()
        self.label_map_changed.emit()

    def _write_box(self, box, values: np.ndarray, emit: bool = True, inst: Optional[np.ndarray] = None) -> None:
        y0, y1, x0, x1 = box
        self.label_map[y0:y1, x0:x1] = values
        if inst is not None:
            self.instance_map[y0:y1, x0:x1] = inst
        self._refresh_label_image((y0, y1, x0, x1))
        self.update()
        if emit:
            self.label_map_changed.emit()

    def _refresh_label_image(self, box=None) -> None:
        lm = self.label_map
        h, w = lm.shape
        if self._label_image is None or box is None or (self._label_image.width(), self._label_image.height()) != (w, h):
            rgb = self.colors[np.minimum(lm, len(self.colors) - 1)]
            rgba = np.empty((h, w, 4), np.uint8)
            rgba[..., :3] = rgb
            rgba[..., 3] = 255
            self._rgba = rgba
            self._label_image = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
            return
        y0, y1, x0, x1 = box  # only the changed box (the QImage shares self._rgba's memory)
        self._rgba[y0:y1, x0:x1, :3] = self.colors[np.minimum(lm[y0:y1, x0:x1], len(self.colors) - 1)]

    def _apply_mask(self, mask: np.ndarray, value: int, text: str) -> bool:
        """Write ``value`` under ``mask`` as one undoable command. False if nothing changed."""
        change = mask & (self.label_map != value)
        if not change.any():
            return False
        ys, xs = np.nonzero(change)
        box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        y0, y1, x0, x1 = box
        sub = mask[y0:y1, x0:x1]
        before = self.label_map[y0:y1, x0:x1].copy()
        inst_before = self.instance_map[y0:y1, x0:x1].copy()
        after, inst_after = before.copy(), inst_before.copy()
        after[sub] = value
        inst_after[sub] = self._take_instance_id()
        self.undo_stack.push(StrokeCommand(self, box, (before, inst_before), (after, inst_after), text))
        self._write_box(box, after, emit=True, inst=inst_after)
        return True

    def _take_instance_id(self) -> int:
        i = self._next_instance
        self._next_instance += 1
        return i

    # -------------------------------------------------------------------------------- brush strokes
    def _begin_stroke(self, px: tuple[int, int], value: int) -> None:
        self._stroke_before = self.label_map.copy()
        self._stroke_inst_before = self.instance_map.copy()
        self._stroke_instance = self._take_instance_id()
        self._stroke_mask = np.zeros(self.label_map.shape, bool)
        self._stroke_value = value
        self._last_px = px
        self._stroke_to(px)

    def _stroke_to(self, px: tuple[int, int]) -> None:
        if self._stroke_mask is None or self._last_px is None:
            return
        box = stamp_segment(self._stroke_mask, self._last_px, px, self.brush_size)
        self._last_px = px
        if box is not None:  # draw live (no signal: the render starts when the stroke ends)
            y0, y1, x0, x1 = box
            sub = self._stroke_mask[y0:y1, x0:x1]  # earlier dabs in the box already hold these values
            vals = self.label_map[y0:y1, x0:x1].copy()
            vals[sub] = self._stroke_value
            inst = self.instance_map[y0:y1, x0:x1].copy()
            inst[sub] = self._stroke_instance
            self._write_box(box, vals, emit=False, inst=inst)

    def _end_stroke(self) -> None:
        if self._stroke_mask is None or self._stroke_before is None:
            return
        mask, before, inst_before = self._stroke_mask, self._stroke_before, self._stroke_inst_before
        self._stroke_mask = self._stroke_before = self._stroke_inst_before = self._last_px = None
        change = mask & (before != self.label_map)
        if not change.any():  # painting a label over itself changes nothing, instance ids included
            self.instance_map = inst_before
            return
        ys, xs = np.nonzero(mask)
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        text = "Erase" if self.tool == "eraser" else "Brush stroke"
        self.undo_stack.push(StrokeCommand(
            self, (y0, y1, x0, x1), (before[y0:y1, x0:x1].copy(), inst_before[y0:y1, x0:x1].copy()),
            (self.label_map[y0:y1, x0:x1].copy(), self.instance_map[y0:y1, x0:x1].copy()), text))
        self.label_map_changed.emit()

    def _cancel_stroke(self) -> None:
        if self._stroke_before is not None:
            self.label_map = self._stroke_before
            self.instance_map = self._stroke_inst_before
            self._refresh_label_image()
        self._stroke_mask = self._stroke_before = self._stroke_inst_before = self._last_px = None
        self._drag_start = self._drag_now = None
        self._polygon = []
        self.update()

    def finish_polygon(self) -> bool:
        """Fill the polygon clicked so far with the current label (Enter / double-click)."""
        pts, self._polygon = self._polygon, []
        self.update()
        if len(pts) < 3:
            return False
        return self._apply_mask(polygon_mask(self.label_map.shape, pts), self.current_label, "Polygon")

    def _shape_mask(self, a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
        mask = np.zeros(self.label_map.shape, bool)
        if self.tool == "line":
            stamp_segment(mask, a, b, self.brush_size)
        else:  # rect: filled, corners inclusive
            x0, x1 = sorted((a[0], b[0]))
            y0, y1 = sorted((a[1], b[1]))
            mask[y0:y1 + 1, x0:x1 + 1] = True
        return mask

    # ------------------------------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        btn = event.button()
        if btn == Qt.MouseButton.MiddleButton or (btn == Qt.MouseButton.LeftButton and
                                                  (self.tool == "pan" or self._space)):
            self._panning = pos
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if btn != Qt.MouseButton.LeftButton:
            if btn == Qt.MouseButton.RightButton and self._polygon:
                self.finish_polygon()
            return
        px = self.widget_to_image(pos)
        if self.tool in ("brush", "eraser"):
            value = self.current_label if self.tool == "brush" else self.background_label
            self._begin_stroke(px, value)
        elif self.tool == "fill":
            if self._inside(px):
                self._apply_mask(flood_region(self.label_map, *px), self.current_label, "Fill")
        elif self.tool == "eyedropper":
            if self._inside(px):
                self.current_label = int(self.label_map[px[1], px[0]])
                self.label_picked.emit(self.current_label)
        elif self.tool in ("line", "rect"):
            self._drag_start = self._drag_now = self._clamp(px)
            self.update()
        elif self.tool == "polygon":
            self._polygon.append(self._clamp(px))
            self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._panning is not None:
            d = pos - self._panning
            self._panning = pos
            self.pan_by(d.x(), d.y())
            return
        px = self.widget_to_image(pos)
        self._hover_px = px
        self.hovered.emit(px[0], px[1], int(self.label_map[px[1], px[0]]) if self._inside(px) else -1)
        if self._stroke_mask is not None:
            self._stroke_to(px)
        elif self._drag_start is not None:
            self._drag_now = self._clamp(px)
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._panning is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._panning = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self.tool == "pan" else Qt.CursorShape.CrossCursor)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if self._stroke_mask is not None:
            self._stroke_to(self.widget_to_image(event.position()))
            self._end_stroke()
        elif self._drag_start is not None:
            a, b = self._drag_start, self._clamp(self.widget_to_image(event.position()))
            self._drag_start = self._drag_now = None
            self._apply_mask(self._shape_mask(a, b), self.current_label, "Line" if self.tool == "line" else "Rectangle")
            self.update()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.tool == "polygon":
            self.finish_polygon()
        else:
            super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self._zoom * (1.25 ** steps), event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self._polygon:
            self.finish_polygon()
        elif key == Qt.Key.Key_Escape:
            self._cancel_stroke()
        elif key == Qt.Key.Key_BracketLeft:
            self.set_brush_size(max(1, self.brush_size - 2))
        elif key == Qt.Key.Key_BracketRight:
            self.set_brush_size(self.brush_size + 2)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.setCursor(Qt.CursorShape.OpenHandCursor if self.tool == "pan" else Qt.CursorShape.CrossCursor)
        else:
            super().keyReleaseEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def leaveEvent(self, event) -> None:  # noqa: N802
        self._hover_px = None
        self.update()
        super().leaveEvent(event)

    # -------------------------------------------------------------------------------------- paint
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().color(self.backgroundRole()).darker(115))
        h, w = self.label_map.shape
        target = QRectF(self._offset.x(), self._offset.y(), w * self._zoom, h * self._zoom)
        # smooth when minifying, and for a reduced-resolution live preview stretched over the map
        smaller = self._result is not None and self._result.width() < w
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self._zoom < 1.0 or smaller)
        if self._result is not None:
            p.drawImage(target, self._result)
            p.setOpacity(self.overlay_opacity)
        if self._label_image is not None and (self._result is None or self.overlay_opacity > 0):
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(target, self._label_image)
        p.setOpacity(1.0)
        pen = QPen(QColor(255, 255, 255, 220), 1, Qt.PenStyle.DashLine)
        p.setPen(pen)
        z, off = self._zoom, self._offset
        if self._drag_start is not None and self._drag_now is not None:
            a = QPointF(off.x() + (self._drag_start[0] + 0.5) * z, off.y() + (self._drag_start[1] + 0.5) * z)
            b = QPointF(off.x() + (self._drag_now[0] + 0.5) * z, off.y() + (self._drag_now[1] + 0.5) * z)
            if self.tool == "line":
                p.drawLine(a, b)
            else:
                p.drawRect(QRectF(a, b).normalized())
        if self._polygon:
            poly = QPolygonF([QPointF(off.x() + (x + 0.5) * z, off.y() + (y + 0.5) * z) for x, y in self._polygon])
            if self._hover_px is not None:
                poly.append(QPointF(off.x() + (self._hover_px[0] + 0.5) * z, off.y() + (self._hover_px[1] + 0.5) * z))
            p.drawPolyline(poly)
        if self._hover_px is not None and self.tool in ("brush", "eraser", "line"):
            r = self.brush_size / 2.0 * z
            c = QPointF(off.x() + (self._hover_px[0] + 0.5) * z, off.y() + (self._hover_px[1] + 0.5) * z)
            p.setPen(QPen(QColor(0, 0, 0, 180), 1))
            p.drawEllipse(c, r + 1, r + 1)
            p.setPen(QPen(QColor(255, 255, 255, 220), 1))
            p.drawEllipse(c, r, r)
        if self.hint:
            self._draw_hint(p)
        p.end()

    def set_hint(self, text: str) -> None:
        """A short instruction drawn in the middle of the canvas ("" hides it)."""
        self.hint = text
        self.update()

    def _draw_hint(self, p: QPainter) -> None:
        fm = p.fontMetrics()
        area = self.rect().adjusted(24, 24, -24, -24)
        flags = int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap)
        box = fm.boundingRect(area, flags, self.hint).adjusted(-12, -8, 12, 8)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 170))
        p.drawRoundedRect(QRectF(box), 6, 6)
        p.setPen(QColor(235, 235, 235))
        p.drawText(area, flags, self.hint)

    def label_image(self) -> Optional[QImage]:
        return self._label_image

    def visible_rect(self) -> QRect:
        return self.rect()
