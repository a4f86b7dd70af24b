"""ui/widgets/folder_field.py: the folder rows of the Stylize and Upscale batch sections."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from ganstudio.ui.widgets import FolderField


def test_pick_fills_the_edit_and_emits(qtbot, monkeypatch, tmp_path):
    field = FolderField("Input folder", "Pick one")
    qtbot.addWidget(field)
    asked = []

    def fake_dialog(parent, title, start):
        asked.append((title, start))
        return str(tmp_path)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", fake_dialog)
    field.edit.setText("/somewhere")
    with qtbot.waitSignal(field.chosen) as blocker:
        qtbot.mouseClick(field.button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(tmp_path)]
    assert field.edit.text() == str(tmp_path)
    assert asked == [("Pick one", "/somewhere")]
    assert field.edit.placeholderText() == "Input folder"


def test_cancelled_dialog_changes_nothing(qtbot, monkeypatch):
    field = FolderField("Output folder", "Output folder")
    qtbot.addWidget(field)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: "")
    field.edit.setText("kept")
    with qtbot.assertNotEmitted(field.chosen):
        field.browse()
    assert field.edit.text() == "kept"


def test_panels_input_pick_proposes_an_output_folder(qtbot, monkeypatch, tmp_path):
    from ganstudio.ui.stylize_panel import StylizePanel
    from ganstudio.ui.upscale_panel import UpscalePanel

    src = tmp_path / "photos"
    src.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(src))
    for cls, suffix in ((UpscalePanel, "photos_upscaled"), (StylizePanel, "photos_stylized")):
        panel = cls()
        qtbot.addWidget(panel)
        field = panel.in_edit.parentWidget()
        assert isinstance(field, FolderField)
        qtbot.mouseClick(field.button, Qt.MouseButton.LeftButton)
        assert panel.in_edit.text() == str(src)
        assert panel.out_edit.text() == str(tmp_path / suffix)
        panel.shutdown()
