"""LabelPalette: the model's labels with their colours, searchable, recently used labels on top."""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap, QPalette
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

ID_ROLE = Qt.ItemDataRole.UserRole
MAX_RECENT = 8
RECENT_ROWS = 5  # the recent list shows at most this many rows (it scrolls beyond)


def swatch(rgb, size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(*[int(c) for c in rgb]))
    return QIcon(pm)


class LabelPalette(QWidget):
    """``set_labels(names, colors)``; emits ``label_selected(id)`` when the user picks one."""

    label_selected = Signal(int)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.colors: list = []
        self.hidden_ids: set[int] = set()
        self.trained_ids: Optional[set[int]] = None  # None: the model does not say which labels it learned
        self.recent: list[int] = []
        self._current = -1
        self.title = QLabel("Labels")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search labels…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._rebuild)
        self.recent_list = QListWidget()
        self.recent_list.setSizeAdjustPolicy(QListWidget.SizeAdjustPolicy.AdjustIgnored)
        self.recent_list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.recent_list.setToolTip("Recently used labels")
        self.list = QListWidget()
        for lw in (self.recent_list, self.list):
            lw.itemClicked.connect(self._on_clicked)
            lw.itemActivated.connect(self._on_clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.search)
        self.recent_label = QLabel("Recent")
        lay.addWidget(self.recent_label)
        lay.addWidget(self.recent_list)
        self.all_label = QLabel("All labels")  # says so when the search matches nothing
        lay.addWidget(self.all_label)
        lay.addWidget(self.list, 1)

    def set_labels(self, names, colors, title: str = "", hidden_ids=(), trained_ids=None) -> None:
        """``trained_ids``: the labels the model was trained on, where it says (the others are marked
        "not trained" and greyed: the model draws undefined texture there); None marks nothing."""
        self.names = list(names)
        self.colors = [tuple(int(v) for v in c) for c in colors]
        self.hidden_ids = set(hidden_ids)
        self.trained_ids = None if trained_ids is None else {int(i) for i in trained_ids}
        self.recent = [i for i in self.recent if i < len(self.names)]
        if title:
            self.title.setText(title)
        self._rebuild()

    def _item(self, i: int) -> QListWidgetItem:
        color = self.colors[i] if i < len(self.colors) else (0, 0, 0)
        item = QListWidgetItem(swatch(color), f"{i}: {self.names[i]}")
        item.setData(ID_ROLE, i)
        item.setToolTip(f"label {i}: {self.names[i]}  rgb{tuple(color)}")
        if not self.is_trained(i):
            item.setText(f"{i}: {self.names[i]}  (not trained)")
            item.setForeground(QBrush(self.palette().color(QPalette.ColorGroup.Disabled,
                                                           QPalette.ColorRole.Text)))
            item.setToolTip(f"label {i}: {self.names[i]}: this model was not trained on it, so it draws "
                            "undefined texture there")
        return item

    def is_trained(self, label: int) -> bool:
        """Whether the model learned ``label`` (True when the model does not say)."""
        return self.trained_ids is None or int(label) in self.trained_ids

    def _rebuild(self, *_args) -> None:
        text = self.search.text().strip().lower()
        self.list.clear()
        for i, name in enumerate(self.names):
            if i in self.hidden_ids:
                continue
            if text and text not in name.lower() and text != str(i):
                continue
            self.list.addItem(self._item(i))
        if text and self.list.count() == 0:
            self.all_label.setText(f"No label matches “{self.search.text().strip()}”")
        else:
            self.all_label.setText("All labels" if not text else f"Labels matching “{self.search.text().strip()}”")
        self.recent_list.clear()
        for i in self.recent:
            self.recent_list.addItem(self._item(i))
        self.recent_label.setVisible(bool(self.recent))
        self.recent_list.setVisible(bool(self.recent))
        self._fit_recent()
        self._highlight()

    def _fit_recent(self) -> None:
        """The recent list is as tall as its rows (at most RECENT_ROWS), not a fixed block."""
        lw = self.recent_list
        rows = min(lw.count(), RECENT_ROWS)
        if rows == 0:
            return
        row_h = max(lw.sizeHintForRow(0), 1)
        lw.setFixedHeight(rows * row_h + 2 * lw.frameWidth() + (1 if rows else 0))

    def visible_ids(self) -> list[int]:
        return [self.list.item(r).data(ID_ROLE) for r in range(self.list.count())]

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.select(int(item.data(ID_ROLE)))

    def select(self, label: int, emit: bool = True) -> None:
        """Make ``label`` current and put it at the top of the recent list."""
        label = int(label)
        self._current = label
        if 0 <= label < len(self.names):
            self.recent = [label] + [i for i in self.recent if i != label]
            self.recent = self.recent[:MAX_RECENT]
            self._rebuild()
        if emit:
            self.label_selected.emit(label)

    def current(self) -> int:
        return self._current

    def _highlight(self) -> None:
        for lw in (self.list, self.recent_list):
            lw.blockSignals(True)
            lw.clearSelection()
            for r in range(lw.count()):
                if lw.item(r).data(ID_ROLE) == self._current:
                    lw.setCurrentRow(r)
                    break
            lw.blockSignals(False)
