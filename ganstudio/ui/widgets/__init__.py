"""Widgets shared by the task panels (image views with zoom / pan / split, folder fields, ...)."""
from ganstudio.ui.widgets.batch_view import BatchView
from ganstudio.ui.widgets.folder_field import FolderField
from ganstudio.ui.widgets.image_view import CompareView, ImageView, link_views, to_qimage
from ganstudio.ui.widgets.messages import user_message

__all__ = ["BatchView", "CompareView", "FolderField", "ImageView", "link_views", "to_qimage", "user_message"]
