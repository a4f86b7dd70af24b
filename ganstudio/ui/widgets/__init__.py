"""Widgets shared by the task panels (image views with zoom / pan / split, ...)."""
from ganstudio.ui.widgets.image_view import CompareView, ImageView, link_views, to_qimage

__all__ = ["CompareView", "ImageView", "link_views", "to_qimage"]
