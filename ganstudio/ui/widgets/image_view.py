"""Image views shared by the task panels.

``ImageView``: a QGraphicsView that shows one image (QImage or numpy array) with zoom (mouse wheel
around the cursor, Ctrl+= / Ctrl+-, Ctrl+0 fit, Ctrl+1 for 1:1) and pan (drag). It emits
``view_changed(zoom, center)`` whenever the zoom or the visible area changes, so two views can be kept
in step with ``link_views(a, b)``.

``CompareView``: an ImageView that shows two images of the same scene (before / after) in one view
with a draggable vertical split line. Left of the line shows ``before``, right of it ``after``. The
split is a fraction 0..1 of the image width (so it stays on the same image column while zooming and
panning). When the two images differ in size (e.g. a low-resolution input against its 4x upscale) the
before image is stretched over the after image's rectangle, which is what a reader of an upscale wants
to compare.

Usage::

    view = ImageView()
    view.set_image(array_uint8_hxwx3)      # or a QImage; None clears
    view.fit() / view.actual_size() / view.set_zoom(2.0)

    cmp = CompareView()
    cmp.set_images(before, after)
    cmp.set_split(0.3)                     # split_changed(float) fires when the user drags the line
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from ganstudio.workers.engine_worker import array_to_qimage

ImageLike = Union[QImage, QPixmap, np.ndarray, None]

MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
ZOOM_STEP = 1.25


def to_qimage(image: ImageLike) -> Optional[QImage]:
    """QImage, QPixmap or numpy array -> a QImage that owns its pixels (None stays None).

    Arrays: (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA; uint8, uint16 (shown as its top 8
    bits), bool, or float in [0, 1]. The array is copied, so the caller may change it afterwards.
    """
    if image is None:
        return None
    if isinstance(image, QImage):
        return image
    if isinstance(image, QPixmap):
        return image.toImage()
    arr = np.asarray(image)
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        arr = (np.clip(np.nan_to_num(arr), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ValueError(f"cannot show an array of dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"cannot show an array of shape {arr.shape}")
    return array_to_qimage(arr)


class ImageView(QGraphicsView):
    """One image with zoom and pan. ``zoom()`` is the scale factor (1.0 = one image pixel per screen
    pixel). In "fit" mode (the default after ``set_image``) the view refits when it is resized."""

    view_changed = Signal(float, QPointF)  # zoom, scene point at the centre of the viewport

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self._item = self._make_item()
        self._scene.addItem(self._item)
        self._zoom = 1.0
        self._fit_mode = True
        self._syncing = False
        self._placeholder = ""
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # QGraphicsView accepts drags by default (its scene swallows them even with no item taking
        # them): files dropped on a view must reach the main window, which routes them to the panel
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)
        self.horizontalScrollBar().valueChanged.connect(self._emit_view_changed)
        self.verticalScrollBar().valueChanged.connect(self._emit_view_changed)
        self._add_shortcuts()

    # -- content -----------------------------------------------------------------------------
    def _make_item(self) -> QGraphicsItem:
        item = QGraphicsPixmapItem()
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        return item

    def set_image(self, image: ImageLike, keep_view: bool = False) -> None:
        """Show ``image`` (None clears). ``keep_view`` keeps zoom and position when the size is
        unchanged (for live previews); otherwise the view fits the new image."""
        qimg = to_qimage(image)
        old = self._image_rect()
        self._item.setPixmap(QPixmap.fromImage(qimg) if qimg is not None else QPixmap())
        self._after_content_changed(old, keep_view)

    def _after_content_changed(self, old_rect: QRectF, keep_view: bool) -> None:
        rect = self._image_rect()
        self._scene.setSceneRect(rect)
        if not (keep_view and rect == old_rect) or self._fit_mode:
            self.fit()
        if self._placeholder:
            self.viewport().update()

    def set_placeholder(self, text: str) -> None:
        """A hint drawn in the middle of the view while it shows no image ("Open an image or drop it here")."""
        self._placeholder = text
        self.viewport().update()

    def placeholder(self) -> str:
        return self._placeholder

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 (Qt naming)
        super().drawForeground(painter, rect)
        if not self._placeholder or self.has_image():
            return
        painter.save()
        painter.resetTransform()  # viewport pixels, not scene units
        painter.setPen(QColor(200, 200, 200))
        area = self.viewport().rect().adjusted(16, 16, -16, -16)
        painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), self._placeholder)
        painter.restore()

    def _image_rect(self) -> QRectF:
        return self._item.boundingRect()

    def has_image(self) -> bool:
        return not self._image_rect().isEmpty()

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the image shown, (0, 0) when empty."""
        r = self._image_rect()
        return int(r.width()), int(r.height())

    # -- zoom --------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self._zoom

    def is_fit(self) -> bool:
        return self._fit_mode

    def set_zoom(self, zoom: float, anchor: Optional[QPointF] = None) -> None:
        """Scale to ``zoom`` (clamped to 1/64..64); leaves fit mode. ``anchor``: scene point that stays
        under the mouse / centre."""
        self._fit_mode = False
        self._apply_zoom(zoom)
        if anchor is not None:
            self.centerOn(anchor)
        self._emit_view_changed()

    def _apply_zoom(self, zoom: float) -> None:
        zoom = float(min(MAX_ZOOM, max(MIN_ZOOM, zoom)))
        self._zoom = zoom
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._update_smoothing()

    def _update_smoothing(self) -> None:
        # pixel-peeping above 2x wants crisp pixels, not a blur
        smooth = self._zoom < 2.0
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        if isinstance(self._item, QGraphicsPixmapItem):
            self._item.setTransformationMode(
                Qt.TransformationMode.SmoothTransformation if smooth else Qt.TransformationMode.FastTransformation
            )

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def actual_size(self) -> None:
        """1:1, one image pixel per screen pixel."""
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Scale so the whole image fills the view (small images are scaled up: a 64 px preview is
        worth seeing large)."""
        self._fit_mode = True
        rect = self._image_rect()
        vp = self.viewport().rect()
        if rect.isEmpty() or vp.width() < 2 or vp.height() < 2:
            self._apply_zoom(1.0)
        else:
            z = min(vp.width() / rect.width(), vp.height() / rect.height())
            self._apply_zoom(z)
            self.centerOn(rect.center())
        self._emit_view_changed()

    # -- syncing -----------------------------------------------------------------------------
    def center(self) -> QPointF:
        """Scene point at the centre of the viewport."""
        return self.mapToScene(self.viewport().rect().center())

    def set_view(self, zoom: float, center: QPointF) -> None:
        """Apply another view's zoom and centre without echoing ``view_changed`` back."""
        if self._syncing:
            return
        self._syncing = True
        try:
            self._fit_mode = False
            self._apply_zoom(zoom)
            self.centerOn(center)
        finally:
            self._syncing = False

    def _emit_view_changed(self, *_args) -> None:
        if not self._syncing:
            self.view_changed.emit(self._zoom, self.center())

    # -- events ------------------------------------------------------------------------------
    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        delta = event.angleDelta().y()
        if delta == 0:
            return super().wheelEvent(event)
        factor = ZOOM_STEP ** (delta / 120.0)
        self._fit_mode = False
        self._apply_zoom(self._zoom * factor)  # AnchorUnderMouse keeps the pixel under the cursor
        self._emit_view_changed()
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def _add_shortcuts(self) -> None:
        def add(text: str, keys: list, slot) -> QAction:
            act = QAction(text, self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.zoom_in_action = add("Zoom in", ["Ctrl+=", "Ctrl++"], self.zoom_in)
        self.zoom_out_action = add("Zoom out", ["Ctrl+-"], self.zoom_out)
        self.fit_action = add("Fit", ["Ctrl+0"], self.fit)
        self.actual_size_action = add("Actual size (1:1)", ["Ctrl+1"], self.actual_size)


def link_views(a: ImageView, b: ImageView) -> None:
    """Keep two views at the same zoom and position (both ways)."""
    a.view_changed.connect(b.set_view)
    b.view_changed.connect(a.set_view)


def _to_pixmap(image: ImageLike) -> Optional[QPixmap]:
    if image is None or isinstance(image, QPixmap):
        return image
    qimg = to_qimage(image)
    return QPixmap.fromImage(qimg) if qimg is not None and not qimg.isNull() else None


class _CompareItem(QGraphicsItem):
    """Paints ``before`` left of the split column and ``after`` right of it, plus the split line."""

    def __init__(self) -> None:
        super().__init__()
        # pixmaps, converted once: drawing a big RGB888 QImage converts it again on every repaint
        self.before: Optional[QPixmap] = None
        self.after: Optional[QPixmap] = None
        self.split = 0.5
        self.smooth = True

    def rect(self) -> QRectF:
        ref = self.after if self.after is not None else self.before
        if ref is None or ref.isNull():
            return QRectF()
        return QRectF(0, 0, ref.width(), ref.height())

    def boundingRect(self) -> QRectF:  # noqa: N802
        return self.rect()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        rect = self.rect()
        if rect.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.smooth)
        x = rect.width() * self.split
        if self.before is not None and x > 0:
            left = QRectF(0, 0, x, rect.height())
            sx = self.before.width() / rect.width()
            sy = self.before.height() / rect.height()
            painter.drawPixmap(left, self.before, QRectF(0, 0, x * sx, rect.height() * sy))
        if self.after is not None and x < rect.width():
            right = QRectF(x, 0, rect.width() - x, rect.height())
            painter.drawPixmap(right, self.after, right)
        # the split line: cosmetic (1 screen pixel whatever the zoom), light with a dark edge
        pen = QPen(QColor(255, 255, 255, 230), 0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(QPointF(x, 0), QPointF(x, rect.height()))


class CompareView(ImageView):
    """Before / after in one view with a vertical split line the user drags (``split_changed``)."""

    split_changed = Signal(float)
    GRAB_PX = 6  # how close (screen pixels) a press must be to the line to drag it

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self._dragging_split = False
        self.setMouseTracking(True)

    def _make_item(self) -> QGraphicsItem:
        return _CompareItem()

    def set_image(self, image: ImageLike, keep_view: bool = False) -> None:
        """Show one image on both sides (e.g. before the result exists)."""
        self.set_images(image, image, keep_view)

    def set_images(self, before: ImageLike, after: ImageLike, keep_view: bool = False) -> None:
        old = self._image_rect()
        self._item.prepareGeometryChange()
        self._item.before = _to_pixmap(before)
        self._item.after = _to_pixmap(after)
        self._item.update()
        self._after_content_changed(old, keep_view)

    def set_after(self, after: ImageLike, keep_view: bool = True) -> None:
        """Replace the after image (a live preview or the result); the before image stays."""
        self.set_images(self._item.before, after, keep_view)

    def split(self) -> float:
        return self._item.split

    def set_split(self, fraction: float) -> None:
        fraction = float(min(1.0, max(0.0, fraction)))
        if fraction == self._item.split:
            return
        self._item.split = fraction
        self._item.update()
        self.viewport().update()
        self.split_changed.emit(fraction)

    def split_x_in_viewport(self) -> float:
        """Where the split line is drawn, in viewport pixels."""
        rect = self._image_rect()
        return self.mapFromScene(QPointF(rect.width() * self._item.split, rect.height() / 2)).x()

    def _update_smoothing(self) -> None:
        super()._update_smoothing()
        self._item.smooth = self._zoom < 2.0

    def _near_split(self, pos) -> bool:
        return self.has_image() and abs(pos.x() - self.split_x_in_viewport()) <= self.GRAB_PX

    def _split_from_pos(self, pos) -> None:
        rect = self._image_rect()
        if rect.width() > 0:
            self.set_split(self.mapToScene(pos).x() / rect.width())

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self._near_split(event.position().toPoint()):
            self._dragging_split = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        pos = event.position().toPoint()
        if self._dragging_split:
            self._split_from_pos(pos)
            event.accept()
            return
        if event.buttons() == Qt.MouseButton.NoButton:
            self.viewport().setCursor(
                Qt.CursorShape.SplitHCursor if self._near_split(pos) else Qt.CursorShape.OpenHandCursor
            )
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._dragging_split and event.button() == Qt.MouseButton.LeftButton:
            self._dragging_split = False
            event.accept()
            return
        super().mouseReleaseEvent(event)
