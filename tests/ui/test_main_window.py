"""The main window: tabs, placeholders, routing of opened / dropped files, status bar, settings, theme,
About, and the orderly close. Fake panels (tests/ui/ui_fake_panels.py) stand in for the task panels."""
from __future__ import annotations

import platform
import threading
from pathlib import Path

import numpy as np
import PySide6
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl, qVersion
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QPalette
from PySide6.QtWidgets import QApplication

from ganstudio import __version__
from ganstudio.ui import main_window as mw
from ganstudio.ui import theme
from ganstudio.ui.placeholder_panel import PlaceholderPanel
from ganstudio.ui.settings import Settings
from ganstudio.workers.engine_worker import EngineJob, start_job

FAKE_TABS = [
    ("Latent", "ui_fake_panels", "ImagePanel"),
    ("Paint", "ui_fake_panels", "RefusingPanel"),
    ("Stylize", "ui_fake_panels", "BarePanel"),
    ("Upscale", "ui_fake_panels", "FolderPanel"),
    ("Train", None, None),
]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private GANSTUDIO_HOME: settings.ini and the model library live here."""
    h = tmp_path / "home"
    monkeypatch.setenv("GANSTUDIO_HOME", str(h))
    return h


@pytest.fixture
def fake_tabs(monkeypatch):
    monkeypatch.setattr(mw, "TABS", FAKE_TABS)


@pytest.fixture
def make_window(qtbot, home):
    windows = []

    def make(probe_device=False):
        w = mw.MainWindow(Settings(), probe_device=probe_device)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        if w.isVisible():
            w.close()


@pytest.fixture(autouse=True)
def _restore_app_look(qapp):
    """Themes change the whole QApplication: give other tests back the look they started with."""
    app = qapp
    saved = (app.style().name(), QPalette(app.palette()), app.styleSheet(), app.property("ganstudio_theme"))
    yield
    app.setStyle(saved[0])
    app.setPalette(saved[1])
    app.setStyleSheet(saved[2])
    app.setProperty("ganstudio_theme", saved[3])


def _png(path: Path) -> str:
    img = QImage(8, 6, QImage.Format.Format_RGB888)
    img.fill(Qt.GlobalColor.darkCyan)
    assert img.save(str(path))
    return str(path)


def _drop(window, paths) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    event = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    if enter.isAccepted():
        window.dropEvent(event)
    event._enter_accepted = enter.isAccepted()
    event._mime = mime  # keep the QMimeData alive as long as the event
    return event


# ----------------------------------------------------------------------------------------- tabs
def test_five_tabs_in_order_with_real_panels_or_placeholders(make_window):
    w = make_window()
    titles = [w.tabs.tabText(i) for i in range(w.tabs.count())]
    assert titles == ["Latent", "Paint", "Stylize", "Upscale", "Train"]
    assert type(w.panels["Train"]).__name__ == "TrainPanel" and w.panel_status["Train"] == "ok"
    for title in titles[:4]:  # a landed panel or a placeholder that says its engine has not landed
        panel = w.panels[title]
        assert w.panel_status[title] in ("ok", "pending"), (title, getattr(panel, "message", ""))
        if w.panel_status[title] == "pending":
            assert isinstance(panel, PlaceholderPanel) and "has not landed yet" in panel.message
    for i, title in enumerate(titles):
        w.switch_to(title)
        assert w.tabs.currentIndex() == i and w.current_title() == title


def test_missing_module_is_a_placeholder_but_a_broken_panel_is_an_error(monkeypatch, make_window):
    monkeypatch.setattr(mw, "TABS", [
        ("Latent", "ui_fake_panels_not_written_yet", "X"),
        ("Paint", "ui_fake_broken_panel", "BrokenPanel"),
        ("Stylize", "ui_fake_panels", "ExplodingPanel"),
        ("Upscale", "ui_fake_panels", "FolderPanel"),
        ("Train", None, None),
    ])
    w = make_window()
    assert w.panel_status == {"Latent": "pending", "Paint": "error", "Stylize": "error", "Upscale": "ok",
                              "Train": "pending"}
    assert "has not landed yet" in w.panels["Latent"].message
    # a missing dependency inside a panel module is a bug to report, not "not landed"
    assert "ganstudio_no_such_dependency" in w.panels["Paint"].message
    assert "panel constructor bug" in w.panels["Stylize"].message


# ----------------------------------------------------------------------------------------- files
def test_dropped_image_reaches_current_tab_and_recent_files(fake_tabs, make_window, tmp_path):
    w = make_window()
    w.switch_to("Latent")
    img = _png(tmp_path / "drop me.png")
    event = _drop(w, [img])
    assert event._enter_accepted and event.isAccepted()
    assert w.panels["Latent"].opened == [img]
    assert w.panels["Upscale"].opened == []
    assert w.current_title() == "Latent"
    assert w.settings.recent_files[0] == str(Path(img).resolve())
    recent = [a.text() for a in w.recent_menu.actions()]
    assert "drop me.png" in recent


def test_drop_on_an_image_view_inside_a_panel_propagates_to_the_window(fake_tabs, make_window, tmp_path):
    w = make_window()
    w.switch_to("Latent")
    img = _png(tmp_path / "on view.png")
    target = w.panels["Latent"].view.viewport()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(img)])
    pos = QPointF(target.width() / 2, target.height() / 2)
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(pos.toPoint(), *args)  # QPoint: the C++ signature
    QApplication.sendEvent(target, enter)  # QApplication walks up to the first widget accepting drops
    assert enter.isAccepted()
    drop = QDropEvent(pos, *args)
    QApplication.sendEvent(target, drop)
    assert w.panels["Latent"].opened == [img]


def test_drop_switches_to_a_tab_that_accepts(fake_tabs, make_window, tmp_path):
    w = make_window()
    w.switch_to("Stylize")  # BarePanel: no open_image / open_folder
    img = _png(tmp_path / "a.png")
    _drop(w, [img])
    assert w.current_title() == "Latent" and w.panels["Latent"].opened == [img]

    folder = tmp_path / "batch"
    folder.mkdir()
    w.switch_to("Train")
    _drop(w, [folder])
    assert w.current_title() == "Upscale" and w.panels["Upscale"].folders == [str(folder)]
    assert w.settings.last_dir("folder") == str(folder)


def test_file_menu_dialogs_route_and_remember_folders(fake_tabs, make_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    w = make_window()
    img = _png(tmp_path / "picked.png")
    asked = {}

    def fake_open(parent, caption, folder, filters):
        asked["open"] = (caption, folder, filters)
        return img, filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(fake_open))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: str(tmp_path)))
    w.switch_to("Latent")
    w.open_image_action.trigger()
    assert w.panels["Latent"].opened == [img]
    assert "*.png" in asked["open"][2] and "*.jpg" in asked["open"][2]
    w.open_image_action.trigger()  # the dialog now starts in the folder last used
    assert asked["open"][1] == str(tmp_path)
    w.open_folder_action.trigger()
    assert w.current_title() == "Upscale" and w.panels["Upscale"].folders == [str(tmp_path)]


def test_current_tab_that_declines_keeps_the_file_out_of_recent(fake_tabs, make_window, tmp_path):
    w = make_window()
    w.switch_to("Paint")  # RefusingPanel
    img = _png(tmp_path / "b.png")
    assert not w.open_paths([img])
    assert w.panels["Paint"].tried == [img]
    assert w.current_title() == "Paint" and w.settings.recent_files == []


def test_non_images_are_not_accepted(fake_tabs, make_window, tmp_path):
    w = make_window()
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    event = _drop(w, [txt])
    assert not event._enter_accepted
    assert w.panels["Latent"].opened == []


def test_export_follows_the_current_tab(fake_tabs, make_window):
    w = make_window()
    w.switch_to("Latent")
    assert w.export_action.isEnabled()
    w.export_action.trigger()
    assert w.panels["Latent"].exported == 1
    w.switch_to("Stylize")
    assert not w.export_action.isEnabled()
    shortcuts = {a.text(): a.shortcut().toString() for a in (w.open_image_action, w.open_folder_action,
                                                             w.export_action, w.quit_action)}
    assert shortcuts == {"&Open image…": "Ctrl+O", "Open &folder…": "Ctrl+Shift+O", "&Export…": "Ctrl+E",
                         "&Quit": "Ctrl+Q"}


def test_edit_undo_redo_forward_to_the_panel(monkeypatch, make_window):
    monkeypatch.setattr(mw, "TABS", [("Latent", "ui_fake_panels", "ImagePanel"),
                                     ("Paint", "ui_fake_panels", "OwnUndoPanel"),
                                     ("Stylize", "ui_fake_panels", "BarePanel"), ("Upscale", None, None),
                                     ("Train", None, None)])
    w = make_window()
    w.switch_to("Latent")
    assert w.undo_action.isEnabled() and w.undo_action.shortcut().toString() == "Ctrl+Z"
    w.undo_action.trigger()
    w.redo_action.trigger()
    w.redo_action.trigger()
    assert (w.panels["Latent"].undone, w.panels["Latent"].redone) == (1, 2)
    w.switch_to("Stylize")
    assert not w.undo_action.isEnabled() and not w.redo_action.isEnabled()
    w.switch_to("Paint")  # it binds Ctrl+Z itself: the window gives the key up (else neither fires)
    assert w.undo_action.isEnabled() and w.undo_action.shortcut().isEmpty()
    assert w.redo_action.shortcut().toString() == "Ctrl+Shift+Z"


# ----------------------------------------------------------------------------------------- status bar
def test_job_indicator_shows_panel_states_and_running_jobs(fake_tabs, make_window, qtbot):
    w = make_window()
    assert not w.job_bar.isVisibleTo(w)
    w.panels["Latent"].job_state.emit("rendering 3/8")
    assert w.job_label.text() == "Latent: rendering 3/8" and w.job_bar.isVisibleTo(w)
    w.panels["Latent"].job_state.emit("")
    assert w.job_label.text() == "" and not w.job_bar.isVisibleTo(w)

    reached, gate = threading.Event(), threading.Event()
    handle = start_job(EngineJob("ui_fake_panels:gated", {"steps": [], "reached": reached, "gate": gate}))
    qtbot.waitUntil(reached.is_set, timeout=10000)
    qtbot.waitUntil(lambda: w.job_label.text() == "1 job running", timeout=5000)  # the indicator polls
    assert w.job_bar.isVisibleTo(w)
    handle.cancel()
    gate.set()
    assert handle.wait(10000)
    qtbot.waitUntil(lambda: w.job_label.text() == "", timeout=5000)


def test_device_text_and_about_from_the_sysinfo_job(fake_tabs, make_window, qtbot, monkeypatch):
    monkeypatch.setattr(mw, "SYSINFO_TARGET", "ui_fake_panels:fake_sysinfo")
    w = make_window(probe_device=False)
    with qtbot.waitSignal(w.sysinfo_changed, timeout=10000):
        w.refresh_sysinfo()
    assert w.device_label.text() == "CPU, 3 threads"
    assert list(w.device_actions) == ["auto", "cpu", "cuda:0"]
    assert not w.precision_actions["fp16"].isEnabled() and w.precision_actions["bf16"].isEnabled()
    about = w.show_about()
    text = about.text()
    for expected in (f"GAN Studio: {__version__}", f"Python: {platform.python_version()}", f"Qt: {qVersion()}",
                     f"PySide6: {PySide6.__version__}", "torch: 9.9.9-fake", "Device: Fake device description"):
        assert expected in text
    assert "9.9.9-fake" in about.versions.text()
    # choosing a device re-runs the job with it
    with qtbot.waitSignal(w.sysinfo_changed, timeout=10000):
        w.device_actions["cuda:0"].trigger()
    assert w.settings.device == "cuda:0" and w.device_label.text() == "Fake GPU"
    about.close()


def test_sysinfo_failure_is_shown_not_raised(fake_tabs, make_window, qtbot, monkeypatch):
    monkeypatch.setattr(mw, "SYSINFO_TARGET", "ui_fake_panels:failing_sysinfo")
    w = make_window()
    with qtbot.waitSignal(w.sysinfo_changed, timeout=10000):
        w.refresh_sysinfo()
    assert w.device_label.text() == "Device: unknown"
    assert "torch is broken here" in w.device_label.toolTip()
    assert "torch: unavailable" in w.show_about().text()


def test_real_sysinfo_job_fills_the_status_bar(fake_tabs, make_window, qtbot):
    torch = pytest.importorskip("torch")  # the test may import torch; the UI itself never does
    w = make_window()
    with qtbot.waitSignal(w.sysinfo_changed, timeout=120000):
        w.refresh_sysinfo()
    if torch.cuda.is_available():
        assert w.device_label.text() == torch.cuda.get_device_name(torch.cuda.current_device())
    else:
        n = torch.get_num_threads()
        assert w.device_label.text() == f"CPU, {n} thread{'s' if n != 1 else ''}"
    assert torch.__version__ in w.show_about().text()


# ----------------------------------------------------------------------------------------- settings
def test_settings_persist_across_two_windows(fake_tabs, make_window, home, tmp_path):
    w1 = make_window()
    w1.resize(700, 520)  # inside the offscreen platform's 800x600 screen
    w1.switch_to("Stylize")
    w1.set_theme("dark")
    w1.set_device("cpu")
    w1.set_precision("bf16")
    img = _png(tmp_path / "remember.png")
    w1.switch_to("Latent")
    w1.open_paths([img])
    w1.switch_to("Stylize")
    w1.close()
    assert (home / "settings.ini").is_file()  # GANSTUDIO_HOME keeps the user's real settings untouched

    w2 = make_window()
    assert w2.current_title() == "Stylize"
    assert (w2.width(), w2.height()) == (700, 520)
    assert w2.settings.theme == "dark" and w2.theme_actions["dark"].isChecked()
    assert w2.settings.device == "cpu" and w2.device_actions["cpu"].isChecked()
    assert w2.settings.precision == "bf16" and w2.precision_actions["bf16"].isChecked()
    assert w2.settings.recent_files == [str(Path(img).resolve())]
    assert w2.settings.last_dir("open") == str(tmp_path)


def test_settings_ignore_garbage_values(home):
    s = Settings()
    s.set_value("compute/device", "quantum:7")
    s.set_value("compute/precision", "fp8")
    s.set_value("view/theme", "neon")
    assert (s.device, s.precision, s.theme) == ("auto", "auto", "light")  # the defaults
    with pytest.raises(ValueError):
        s.precision = "fp64"
    for i in range(15):
        s.add_recent_file(f"/tmp/f{i}.png")
    assert len(s.recent_files) == 10 and s.recent_files[0].endswith("f14.png")


def test_theme_switch_changes_the_palette(fake_tabs, make_window):
    w = make_window()
    app = QApplication.instance()
    w.set_theme("dark")
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 100
    assert theme.current_theme() == "dark" and "QTabBar" in app.styleSheet()
    w.set_theme("light")
    assert app.palette().color(QPalette.ColorRole.Window).lightness() > 150
    assert w.theme_actions["light"].isChecked()


# ----------------------------------------------------------------------------------------- close
def test_close_shuts_panels_down_and_joins_jobs(fake_tabs, make_window, qtbot):
    w = make_window()
    reached, gate = threading.Event(), threading.Event()
    steps: list[int] = []
    handle = start_job(EngineJob("ui_fake_panels:gated",
                                 {"steps": steps, "reached": reached, "gate": gate, "stop_at": 1}))
    qtbot.waitUntil(reached.is_set, timeout=10000)
    w.close()  # the job waits at step 1 until its gate opens or it is cancelled
    assert not handle.is_running()
    assert steps == [0, 1]  # cancelled: step 2 never ran
    assert w.panels["Latent"].shut_down == 1 and w.panels["Upscale"].shut_down == 1


def test_model_manager_opens_from_the_menu(fake_tabs, make_window, qtbot):
    w = make_window()
    w.model_manager_action.trigger()
    dlg = w._model_manager
    assert dlg is not None and dlg.isVisible()
    assert dlg.table.columnCount() == 6
    dlg.close()


def test_image_suffixes_follow_core_imageio():
    assert mw.is_image_path("x.PNG") and mw.is_image_path("y.tiff") and not mw.is_image_path("z.txt")


# ----------------------------------------------------------------------------------------- start-up
def test_startup_does_not_import_torch(home):
    """The window (with the real panels) opens without torch in the GUI thread: it is imported only inside
    workers (the Latent tab loads the bundled model in one as soon as it shows, so torch may well be in
    sys.modules by then; an import hook records which thread imported it)."""
    import subprocess
    import sys

    code = (
        "import sys, threading\n"
        "seen = []\n"
        "class Spy:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch':\n"
        "            seen.append(threading.current_thread() is threading.main_thread())\n"
        "        return None\n"
        "sys.meta_path.insert(0, Spy())\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from ganstudio.ui.main_window import MainWindow\n"
        "w = MainWindow(probe_device=False)\n"
        "w.show(); app.processEvents()\n"
        "print('TORCH-IN-GUI-THREAD' if any(seen) else 'NO-TORCH', w.panel_status)\n"
        "w.close()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "NO-TORCH" in out.stdout, out.stdout


def test_run_gui_opens_files_and_exits_cleanly(fake_tabs, home, tmp_path, monkeypatch, qtbot):
    from PySide6.QtCore import QTimer

    from ganstudio import app as app_module

    monkeypatch.setattr(mw, "SYSINFO_TARGET", "ui_fake_panels:fake_sysinfo")
    monkeypatch.setattr(app_module.sys, "excepthook", app_module.sys.excepthook)  # restored after the test
    img = _png(tmp_path / "cli.png")
    seen = {}

    def close_when_ready():
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, mw.MainWindow) and w.isVisible()]
        if wins and wins[0].sysinfo is not None:
            seen["opened"] = list(wins[0].panels["Latent"].opened)
            seen["device"] = wins[0].device_label.text()
            wins[0].close()
        else:
            QTimer.singleShot(20, close_when_ready)

    QTimer.singleShot(0, close_when_ready)
    rc = app_module.run_gui(["ganstudio"], files=[img])
    assert rc == 0
    assert seen == {"opened": [img], "device": "CPU, 3 threads"}
    assert QApplication.applicationName() == "GAN Studio" and QApplication.organizationName() == "GANStudio"
    assert (home / "data" / "logs" / "ganstudio.log").is_file()
    import logging

    root = logging.getLogger()
    for h in [h for h in root.handlers if str(home) in getattr(h, "baseFilename", "")]:
        root.removeHandler(h)
        h.close()


def test_alt_digit_goes_to_a_tab_and_tabs_have_tooltips(fake_tabs, make_window):
    w = make_window()
    w.switch_to("Latent")
    # Alt, not Ctrl: the image views own Ctrl+0 / Ctrl+1 (two actions on one key would make Qt fire neither)
    assert [a.shortcut().toString() for a in w.tab_actions] == [f"Alt+{i + 1}" for i in range(w.tabs.count())]
    w.tab_actions[2].trigger()
    assert w.current_title() == w.tabs.tabText(2)
    assert all(w.tabs.tabToolTip(i) for i in range(w.tabs.count()))


# ----------------------------------------------------------------------------------------- Edit menu + Paint keys
@pytest.fixture
def paint_window(monkeypatch, make_window, qtbot):
    """The real Paint panel beside a fake tab (no model needed: painting and undo work without one)."""
    monkeypatch.setattr(mw, "TABS", [("Paint", "ganstudio.ui.paint_panel", "PaintPanel"),
                                     ("Latent", "ui_fake_panels", "ImagePanel"), ("Train", None, None)])
    w = make_window()
    w.switch_to("Paint")
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    yield w
    w.panels["Paint"].shutdown()


def _stroke(qtbot, canvas, y=10):
    canvas.set_view(4.0, (0.0, 0.0))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=canvas.image_to_widget(5, y))
    qtbot.mouseMove(canvas, canvas.image_to_widget(30, y))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=canvas.image_to_widget(30, y))


def _text(action) -> str:
    return action.text().replace("&", "")


def test_edit_undo_redo_follow_the_paint_undo_stack_and_work_from_any_widget(paint_window, qtbot):
    w = paint_window
    paint = w.panels["Paint"]
    assert not w.undo_action.isEnabled() and not w.redo_action.isEnabled()  # nothing to undo yet
    before = paint.canvas.label_map.copy()
    _stroke(qtbot, paint.canvas)
    assert w.undo_action.isEnabled() and _text(w.undo_action) == "Undo Brush stroke"  # before: always greyed
    assert not w.redo_action.isEnabled()
    painted = paint.canvas.label_map.copy()
    assert not np.array_equal(painted, before)
    # Ctrl+Z with the focus on a widget that is not the canvas (before: only the canvas took it)
    other = paint.palette_view.list
    other.setFocus()
    qtbot.waitUntil(other.hasFocus, timeout=5000)
    qtbot.keyClick(other, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(paint.canvas.label_map, before)
    assert not w.undo_action.isEnabled() and w.redo_action.isEnabled()
    assert _text(w.redo_action) == "Redo Brush stroke"
    qtbot.keyClick(paint.full_button, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(paint.canvas.label_map, painted)
    # another tab: the menu follows it (this fake panel has undo() and no stack), then Paint's again
    w.switch_to("Latent")
    assert w.undo_action.isEnabled() and _text(w.undo_action) == "Undo"
    w.undo_action.trigger()
    assert w.panels["Latent"].undone == 1
    np.testing.assert_array_equal(paint.canvas.label_map, painted)  # not Paint's stack
    w.switch_to("Paint")
    assert _text(w.undo_action) == "Undo Brush stroke" and not w.redo_action.isEnabled()


def test_paint_tool_keys_work_wherever_the_focus_is_while_paint_is_shown(paint_window, qtbot):
    w = paint_window
    paint = w.panels["Paint"]
    target = paint.palette_view.list  # not the canvas (before: the keys worked only with the canvas focused)
    target.setFocus()
    qtbot.waitUntil(target.hasFocus, timeout=5000)
    for key, tool in ((Qt.Key.Key_E, "eraser"), (Qt.Key.Key_F, "fill"), (Qt.Key.Key_R, "rect"),
                      (Qt.Key.Key_G, "fill"), (Qt.Key.Key_B, "brush")):
        qtbot.keyClick(target, key)
        assert paint.canvas.tool == tool, key
        assert paint.tool_actions[tool].isChecked()
    qtbot.keyClick(w, Qt.Key.Key_E)  # sent to the window itself
    assert paint.canvas.tool == "eraser"
    # a text field keeps its letters
    paint.palette_view.search.setFocus()
    qtbot.waitUntil(paint.palette_view.search.hasFocus, timeout=5000)
    qtbot.keyClick(paint.palette_view.search, Qt.Key.Key_B)
    assert paint.palette_view.search.text() == "b" and paint.canvas.tool == "eraser"
    # another tab is shown: Paint's keys are off there
    w.switch_to("Latent")
    qtbot.keyClick(w.panels["Latent"].view, Qt.Key.Key_R)
    assert paint.canvas.tool == "eraser"


# ----------------------------------------------------------------------------------------- precision auto
def test_precision_auto_is_the_default_offered_and_persisted(fake_tabs, make_window, qtbot, monkeypatch):
    import ganstudio.runtime as runtime
    from ganstudio.ui.settings import PRECISIONS

    assert PRECISIONS == runtime.PRECISION_CHOICES  # the UI's copy (it never imports torch) agrees
    monkeypatch.setattr(mw, "SYSINFO_TARGET", "ganstudio.engines.sysinfo:system_info")
    w = make_window()
    assert w.settings.precision == "auto" and w.precision_actions["auto"].isChecked()
    assert list(w.precision_actions) == ["auto", "fp32", "fp16", "bf16"]
    with qtbot.waitSignal(w.sysinfo_changed, timeout=120000):
        w.refresh_sysinfo()
    assert w.precision_actions["auto"].isEnabled()
    expected = runtime.resolve_runtime(w.sysinfo["device"], "auto").precision
    assert w.sysinfo["precision"] == expected and w.sysinfo["precision_setting"] == "auto"
    assert f"Precision: {expected} (automatic)" in w.show_about().text()
    with qtbot.waitSignal(w.sysinfo_changed, timeout=120000):  # a new choice is shown at once
        w.precision_actions["fp32"].trigger()
    assert "Precision: fp32" in w.show_about().text() and "automatic" not in w.show_about().text()
    w.close()
    assert Settings().precision == "fp32"
    w2 = make_window()
    assert w2.precision_actions["fp32"].isChecked()
    w2.set_precision("auto")
    assert Settings().precision == "auto"


# ----------------------------------------------------------------------------------------- start-up check
def test_startup_check_names_the_missing_packages():
    from ganstudio.app import startup_problem

    missing = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    msg = startup_problem({"DISPLAY": ":0"}, loadable=lambda lib: lib not in missing, platform="linux")
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 " in msg  # exactly those, once each
    assert "libxcb-image0" not in msg and "\n" not in msg and "ganstudio --help" in msg
    assert startup_problem({"DISPLAY": ":0"}, loadable=lambda lib: True, platform="linux") is None
    # another platform plugin, or another system: nothing to check
    for env in ({"QT_QPA_PLATFORM": "offscreen"}, {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "w"},
                {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}):
        assert startup_problem(env, loadable=lambda lib: False, platform="linux") is None, env
    assert startup_problem({}, loadable=lambda lib: False, platform="darwin") is None
    # no display: said first, with the way to work without one
    for env in ({}, {"QT_QPA_PLATFORM": "xcb"}):
        msg = startup_problem(env, loadable=lambda lib: False, platform="linux")
        assert "DISPLAY is not set" in msg and "QT_QPA_PLATFORM=offscreen" in msg and "ganstudio --help" in msg
    assert startup_problem({}, argv=["ganstudio", "-platform", "offscreen"], loadable=lambda lib: False,
                           platform="linux") is None


@pytest.mark.parametrize("case", ["no display", "missing library"])
def test_app_start_says_what_is_missing_and_exits_2_without_a_qt_abort(case, home):
    """The real entry point in a fresh interpreter (no QApplication yet), as a user starts it."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    code = "import sys\nfrom ganstudio.cli import main\n"
    if case == "missing library":  # the display is there; libxcb-cursor is faked away
        env["DISPLAY"] = ":97"
        code += ("import ganstudio.app as app\n_real = app.can_load\n"
                 "app.can_load = lambda lib: lib != 'libxcb-cursor.so.0' and _real(lib)\n")
    code += ("rc = main([])\n"
             "print('QT-LOADED' if 'PySide6.QtWidgets' in sys.modules else 'QT-NOT-LOADED')\n"
             "sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])  # before: SIGABRT (-6) inside Qt
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    if case == "no display":
        assert "DISPLAY is not set" in lines[0]
    else:
        assert "sudo apt install libxcb-cursor0" in lines[0]
    assert "QT-NOT-LOADED" in out.stdout
