"""StylizePanel driven through real widgets and the real engine worker, with a tiny seeded generator."""
from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from model_home import isolated_model_home
from PIL import Image
from tiny_models import tiny_cyclegan_file

from ganstudio.ui.stylize_panel import StylizePanel


@pytest.fixture
def tiny_model(tmp_path):
    return tiny_cyclegan_file(tmp_path / "tiny_G.pth", seed=3)


@pytest.fixture
def photo_folder(tmp_path):
    root = tmp_path / "photos"
    (root / "trip").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = ["a.png", "b.png", "trip/c.jpg", "trip/d.png"]
    for n in names:
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(root / n)
    (root / "trip" / "broken.png").write_bytes(b"not an image at all")
    return root, names


@pytest.fixture
def panel(qtbot, tiny_model):
    p = StylizePanel()
    qtbot.addWidget(p)
    p.add_model_path(tiny_model)
    p.settings = None  # device "auto" (CPU here), fp32; keep the user's settings out of it
    yield p
    p.shutdown()
    qtbot.waitUntil(lambda: not p.is_busy(), timeout=30000)


def test_batch_fills_thumbnail_grid_and_reports_failures(qtbot, panel, photo_folder, tmp_path):
    root, names = photo_folder
    out = tmp_path / "out"
    assert panel.open_folder(str(root))
    panel.out_edit.setText(str(out))
    bv = panel.batch_view
    assert bv.progress.isHidden()  # no empty bar before any batch
    with qtbot.waitSignal(panel.batch_finished, timeout=60000) as sig:
        bv.start_btn.click()
        assert not bv.start_btn.isEnabled() and bv.cancel_btn.isEnabled()
        assert not bv.progress.isHidden()
    report = sig.args[0]
    assert report is not None
    assert bv.grid.count() == len(names)  # one thumbnail per written image
    for i in range(bv.grid.count()):
        item = bv.grid.item(i)
        assert not item.icon().isNull()
        assert item.toolTip().startswith(str(out)) and (out / item.toolTip()).is_file()
    assert len(panel.failures) == 1 and "broken.png" in panel.failures[0]
    assert "broken.png" in bv.report_box.toPlainText()
    assert (out / "trip" / "c_tiny_G.png").is_file()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)
    assert bv.start_btn.isEnabled() and not bv.pause_btn.isEnabled()


def test_pause_then_cancel_then_resume_later(qtbot, panel, photo_folder, tmp_path):
    root, names = photo_folder
    out = tmp_path / "out"
    panel.open_folder(str(root))
    panel.out_edit.setText(str(out))
    bv = panel.batch_view
    assert panel.start_batch()
    bv.pause_btn.click()  # paused before the worker reaches its first file
    assert bv.pause_btn.isChecked() and bv.paused
    assert bv.pause_btn.text() == "Resume"
    with qtbot.waitSignal(panel.batch_finished, timeout=60000) as sig:
        bv.cancel_btn.click()
        assert bv.status.text() == "Cancelling…"  # at once
    assert sig.args[0] is None
    assert "Cancelled" in bv.report_box.toPlainText() and bv.status.text().startswith("Cancelled")
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)
    assert bv.pause_btn.text() == "Pause" and not bv.pause_btn.isChecked()
    # start again: pause, resume, and the batch completes
    assert panel.start_batch()
    bv.pause_btn.click()
    with qtbot.waitSignal(panel.batch_finished, timeout=60000) as sig:
        bv.pause_btn.click()  # resume
    assert sig.args[0] is not None and len(sig.args[0].done) + len(sig.args[0].skipped) == len(names)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)


def test_single_image_preview_result_and_export(qtbot, panel, tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "one.png"
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(src)
    assert not panel.run_btn.isEnabled()  # nothing to stylize yet
    assert panel.view.placeholder()  # the empty view says what to do
    with qtbot.waitSignal(panel.image_finished, timeout=60000) as sig:
        assert panel.open_image(str(src))
    assert panel.run_btn.isEnabled()
    res = sig.args[0]
    assert res["image"].shape == (40, 56, 3)
    assert panel.result_image is res["image"] and panel.export_btn.isEnabled()
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=30000)
    target = tmp_path / "exported.png"
    handle = panel.export(str(target))
    with qtbot.waitSignal(handle.worker.finished, timeout=30000):
        pass
    handle.wait()
    np.testing.assert_array_equal(np.asarray(Image.open(target)), res["image"])
    assert not panel.open_image(str(tmp_path / "missing.png"))


def test_no_downloaded_model_is_not_preselected(qtbot, tmp_path, monkeypatch):
    from model_home import isolated_model_home

    isolated_model_home(tmp_path, monkeypatch)  # no bundled models: only entries that are not on disk
    import json

    (tmp_path / "models" / "manifest" / "stylize.json").write_text(json.dumps({"models": [
        {"id": "apple2orange", "task": "stylize", "arch": "cyclegan", "file": "cyclegan/apple2orange.pth",
         "url": "https://example.invalid/apple2orange.pth"}]}))
    p = StylizePanel()
    qtbot.addWidget(p)
    assert p.current_model() is None  # not "apple2orange (not downloaded)", which could only fail
    src = tmp_path / "one.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(src)
    assert p.open_image(str(src))
    assert "Choose a model first" in p.single_status.text() and not p.is_busy()


# --------------------------------------------------------------------- a model not on this machine (15.5)
class _ModelServer(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def model_server(tmp_path):
    _ModelServer.payload = Path(tiny_cyclegan_file(tmp_path / "served_G.pth", seed=4)).read_bytes()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _ModelServer.payload
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


def test_a_model_not_downloaded_says_so_when_picked_and_downloads_there(qtbot, tmp_path, monkeypatch,
                                                                         model_server):
    """Before: nothing was said when the model was picked; Start batch then showed a tiny box pointing to a
    'Models > Download' menu item that does not exist."""
    url, payload = model_server
    isolated_model_home(tmp_path, monkeypatch)
    entries = [{"id": "tiny_remote", "task": "stylize", "arch": "cyclegan", "file": "cyclegan/tiny_remote.pth",
                "url": f"{url}/tiny_remote.pth", "sha256": hashlib.sha256(payload).hexdigest(),
                "size_bytes": len(payload)},
               {"id": "tiny_nourl", "task": "stylize", "arch": "cyclegan", "file": "cyclegan/nourl.pth"}]
    (tmp_path / "models" / "manifest" / "stylize.json").write_text(json.dumps({"models": entries}))
    p = StylizePanel()
    p.settings = None
    qtbot.addWidget(p)
    assert p.current_model() is None and p.fetch_bar.isHidden()  # nothing preselected, nothing to say yet
    src = tmp_path / "one.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(src)
    assert p.open_image(str(src))
    remote = p.model_combo.findData("tiny_remote")
    assert p.model_combo.itemText(remote).endswith("(not downloaded)")
    p.model_combo.setCurrentIndex(remote)
    # said at once, next to the picker, with the button for the next step; no job that could only fail
    assert p.fetch_bar.isVisibleTo(p) and p.fetch_bar.action.text() == "Download"
    assert "tiny_remote is not on this machine" in p.fetch_bar.text.text()
    assert "press Download next to the model list" in p.single_status.text() and not p.is_busy()
    p.open_folder(str(tmp_path))
    p.out_edit.setText(str(tmp_path / "out"))
    assert not p.start_batch() and not p.batch_view.is_running()
    assert "press Download next to the model list" in p.batch_view.report_box.toPlainText()
    with qtbot.waitSignals([p.model_ready, p.image_finished], timeout=60000, order="strict"):
        p.fetch_bar.action.click()  # downloads, then stylizes the open photo with it
    assert p.model_combo.itemText(p.model_combo.findData("tiny_remote")) == "tiny_remote"
    assert p.current_model() == "tiny_remote" and p.fetch_bar.isHidden() and p.result_image is not None
    assert any((tmp_path / "home").rglob("tiny_remote.pth"))  # in the user library
    # a listed model without a download address offers Import… instead
    p.model_combo.setCurrentIndex(p.model_combo.findData("tiny_nourl"))
    assert p.fetch_bar.isVisibleTo(p) and p.fetch_bar.action.text() == "Import…"
    assert "press Import… next to the model list" in p.single_status.text()
    p.shutdown()


def test_single_image_cancel_says_cancelling_at_once_and_cancelled_at_the_end(qtbot, panel, tmp_path):
    """15.4: the single image had no Cancel; a big photo on the CPU ran to its end."""
    src = tmp_path / "one.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(src)
    assert not panel.stop_btn.isEnabled()
    assert panel.open_image(str(src))
    assert panel.stop_btn.isEnabled()
    with qtbot.waitSignal(panel.single_job.cancelled, timeout=60000):
        panel.stop_btn.click()  # before the worker has even started: deterministic
        assert panel.single_status.text() == "Cancelling…" and not panel.stop_btn.isEnabled()
    assert panel.single_status.text() == "Cancelled." and panel.result_image is None
    assert not panel.is_busy() and not panel.export_btn.isEnabled()
    with qtbot.waitSignal(panel.image_finished, timeout=60000):
        panel.run_btn.click()  # and it runs again afterwards
    assert "ETA" not in panel.single_status.text() and panel.export_btn.isEnabled()
