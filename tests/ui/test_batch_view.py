"""ui/widgets/batch_view.py: the batch part shared by the batch panels, driven through its real buttons and
a real worker running the real ``core.batch`` runner (a trivial no-torch ``process``)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from ganstudio.ui.widgets import BatchView

JOB = "ui_fake_batch_engine:copy_batch"
WAIT = 30000


def _png(path, seed=0, suffix_fmt=None):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(path, format=suffix_fmt)
    return path


@pytest.fixture
def view(qtbot):
    v = BatchView(name="test batch", label="Test batch")
    qtbot.addWidget(v)
    yield v
    v.shutdown()


def test_thumbnails_and_the_final_report(qtbot, view, tmp_path):
    src = tmp_path / "in"
    _png(src / "a.png")
    _png(src / "a.jpg", seed=1, suffix_fmt="JPEG")  # same stem: both would be a.png -> renamed
    _png(src / "b.png", seed=2)
    (src / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    _png(out / "b.png", seed=3)  # already done: skipped
    states = []
    view.state_changed.connect(states.append)
    assert view.progress.isHidden()  # no empty bar before any batch
    with qtbot.waitSignal(view.finished, timeout=WAIT) as sig:
        view.start_requested.connect(lambda: view.start(JOB, {"inputs": [str(src)], "output": str(out)}))
        view.start_btn.click()
        assert not view.start_btn.isEnabled() and view.cancel_btn.isEnabled() and view.pause_btn.isEnabled()
        assert not view.start(JOB, {"inputs": [str(src)], "output": str(out)})  # one batch at a time
    report = sig.args[0]
    assert report is view.last_report and len(report.done) == 2 and len(report.skipped) == 1
    assert view.grid.count() == 2  # one thumbnail per written file
    for i in range(view.grid.count()):
        item = view.grid.item(i)
        assert not item.icon().isNull() and (out / item.text()).is_file()
        assert item.toolTip().startswith(str(out))
    text = view.report_box.toPlainText()
    assert "2 written, 1 skipped" in text and "1 failed" in text and "2 renamed" in text
    assert f"failed: {src / 'broken.png'}:" in text  # the path once, then the reason
    assert "renamed:" in text and "a_jpg.png" in text
    assert view.failures and "broken.png" in view.failures[0]
    assert view.eta_label.text() == "Done" and view.progress.value() == view.progress.maximum()
    assert view.start_btn.isEnabled() and not view.cancel_btn.isEnabled() and not view.pause_btn.isEnabled()
    assert states and states[-1] == ""  # idle again: the window's status bar is cleared
    with qtbot.waitSignal(view.open_requested, timeout=WAIT) as opened:
        view.grid.itemDoubleClicked.emit(view.grid.item(0))
    assert opened.args[0] == view.grid.item(0).toolTip()


def test_pause_resume_then_cancelling_at_once_and_cancelled_at_the_end(qtbot, view, tmp_path):
    src = tmp_path / "in"
    for i in range(6):
        _png(src / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    reached, gate = threading.Event(), threading.Event()
    assert view.start(JOB, {"inputs": [str(src)], "output": str(out), "hold_at": 1, "reached": reached,
                            "gate": gate})
    qtbot.waitUntil(reached.is_set, timeout=WAIT)
    view.pause_btn.click()
    assert view.paused and view.pause_btn.text() == "Resume" and "Paused" in view.eta_label.text()
    view.pause_btn.click()
    assert not view.paused and view.pause_btn.text() == "Pause"
    view.pause_btn.click()  # paused again, then cancelled while paused
    view.cancel_btn.click()
    assert view.status.text() == "Cancelling…"  # at once, before the job has stopped
    assert not view.cancel_btn.isEnabled() and not view.pause_btn.isEnabled() and view.is_running()
    with qtbot.waitSignal(view.finished, timeout=WAIT) as sig:
        gate.set()
    assert sig.args[0] is None
    assert view.status.text().startswith("Cancelled") and view.eta_label.text() == "Cancelled"
    assert "Cancelled" in view.report_box.toPlainText() and "skipped" in view.report_box.toPlainText()
    assert view.pause_btn.text() == "Pause" and not view.pause_btn.isChecked() and view.start_btn.isEnabled()
    assert len(list(out.glob("*.png"))) < 6


def test_a_refused_batch_says_why(qtbot, view, tmp_path):
    src = tmp_path / "in"
    _png(src / "a.png")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with qtbot.waitSignal(view.finished, timeout=WAIT) as sig:
        view.start(JOB, {"inputs": [str(src)], "output": str(blocker / "out")})
    assert sig.args[0] is None
    text = view.report_box.toPlainText()
    assert text.startswith("The batch stopped: cannot create the output folder") and "Error" not in text
    view.show_message("Choose an input folder.")
    assert view.report_box.toPlainText() == "Choose an input folder."


def test_shutdown_mid_batch_joins_and_reports_cancelled(qtbot, view, tmp_path):
    src = tmp_path / "in"
    for i in range(4):
        _png(src / f"p{i}.png", seed=i)
    reached, gate = threading.Event(), threading.Event()
    view.start(JOB, {"inputs": [str(src)], "output": str(tmp_path / "out"), "hold_at": 0, "reached": reached,
                     "gate": gate})
    qtbot.waitUntil(reached.is_set, timeout=WAIT)
    gate.set()
    with qtbot.waitSignal(view.finished, timeout=WAIT) as sig:
        assert view.shutdown()
    assert sig.args[0] is None and not view.is_running() and "Cancelled" in view.report_box.toPlainText()
