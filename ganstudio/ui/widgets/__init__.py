"""Widgets shared by the task panels (image views with zoom / pan / split, folder fields, ...)."""
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.image_view import CompareView, ImageView, link_views, to_qimage

__all__ = ["CompareView", "FolderField", "ImageView", "link_views", "to_qimage"]
