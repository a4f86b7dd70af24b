"""The model manager dialog: the manifest table, importing a checkpoint (real job), downloading with
progress from a local http.server (real job), offline errors, and cancelling."""
from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading

import pytest

from ganstudio.ui import model_manager as mm
from ganstudio.ui.model_manager import ModelManagerDialog

from model_home import isolated_model_home

PAYLOAD = bytes(range(256)) * 400  # 100 KB


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Private bundled models folder + GANSTUDIO_HOME with a user library."""
    isolated_model_home(tmp_path, monkeypatch)
    home, models = tmp_path / "home", tmp_path / "models"
    (models / "weights").mkdir()
    (models / "weights" / "tiny.pth").write_bytes(b"x" * 2500)
    bundled = {"models": [
        {"id": "tiny_present", "task": "upscale", "arch": "srvgg", "file": "weights/tiny.pth", "license": "MIT"},
        {"id": "big_remote", "task": "stylize", "arch": "cyclegan", "file": "big.pth", "license": "BSD",
         "size_bytes": 45_000_000, "url": "http://127.0.0.1:9/big.pth"},
    ]}
    (models / "manifest" / "test.json").write_text(json.dumps(bundled))
    lib_dir = home / "data" / "models"
    lib_dir.mkdir(parents=True)
    (lib_dir / "mine.pth").write_bytes(b"y" * 10)
    (lib_dir / "library.json").write_text(json.dumps({"models": [
        {"id": "my_own", "task": "paint", "arch": "spade", "file": "mine.pth", "license": "own"}]}))
    return {"home": home, "models": models, "manifest": models / "manifest" / "test.json"}


@pytest.fixture
def dialog(qtbot, store):
    d = ModelManagerDialog()
    qtbot.addWidget(d)
    d.show()
    yield d
    d.shutdown()


def _cells(d, model_id):
    for r in range(d.table.rowCount()):
        if d.table.item(r, 0).text() == model_id:
            return [d.table.item(r, c).text() for c in range(d.table.columnCount())]
    raise KeyError(model_id)


def _wait_idle(qtbot, d, timeout=60000):
    qtbot.waitUntil(lambda: not d.is_busy(), timeout=timeout)


def test_table_lists_bundled_and_library_models(dialog):
    assert [dialog.table.horizontalHeaderItem(c).text() for c in range(6)] == \
        ["ID", "Task", "Architecture", "Size", "License", "Present"]
    assert dialog.row_ids() == ["tiny_present", "big_remote", "my_own"]
    assert _cells(dialog, "tiny_present") == ["tiny_present", "upscale", "srvgg", "2.5 KB", "MIT", "yes"]
    assert _cells(dialog, "big_remote") == ["big_remote", "stylize", "cyclegan", "45.0 MB", "BSD", "not downloaded"]
    assert _cells(dialog, "my_own")[-1] == "yes"
    dialog.select("big_remote")
    assert dialog.download_button.isEnabled() and "127.0.0.1" in dialog.details.text()
    dialog.select("tiny_present")
    assert not dialog.download_button.isEnabled()  # already present
    assert not dialog.cancel_button.isEnabled()


def test_import_recognises_the_architecture(dialog, qtbot, tmp_path):
    torch = pytest.importorskip("torch")
    from ganstudio.nets.srvgg import build  # the test (not the UI) builds a real tiny checkpoint

    torch.manual_seed(0)
    net = build(num_feat=4, num_conv=1, upscale=2)
    path = tmp_path / "my_tiny_srvgg.pth"
    torch.save({"params": net.state_dict()}, path)
    handle = dialog.import_checkpoint(str(path))
    assert handle is not None and dialog.is_busy() and not dialog.import_button.isEnabled()
    _wait_idle(qtbot, dialog)
    assert dialog.status.property("error") is False, dialog.status.text()
    assert "architecture srvgg" in dialog.status.text()
    new_ids = [i for i in dialog.row_ids() if i not in ("tiny_present", "big_remote", "my_own")]
    assert len(new_ids) == 1 and _cells(dialog, new_ids[0])[2] == "srvgg"
    assert _cells(dialog, new_ids[0])[-1] == "yes"
    assert dialog.selected_id() == new_ids[0]


def test_import_of_a_non_checkpoint_shows_the_error(dialog, qtbot, tmp_path):
    bad = tmp_path / "holiday.pth"
    bad.write_bytes(b"this is not a checkpoint at all" * 10)
    dialog.import_checkpoint(str(bad))
    _wait_idle(qtbot, dialog)
    assert dialog.status.property("error") is True
    assert dialog.status.text().startswith("Import failed: ")
    assert dialog.row_ids() == ["tiny_present", "big_remote", "my_own"]  # nothing was added


def test_download_offline_is_a_clear_message(dialog, qtbot, store):
    # a port nobody listens on: connection refused, the same path as having no network
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = json.loads(store["manifest"].read_text())
    data["models"][1]["url"] = f"http://127.0.0.1:{port}/big.pth"
    store["manifest"].write_text(json.dumps(data))
    dialog.refresh()
    dialog.select("big_remote")
    dialog.download_button.click()
    _wait_idle(qtbot, dialog)
    assert dialog.status.property("error") is True
    assert "Download failed" in dialog.status.text() and "offline" in dialog.status.text()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


def test_download_with_progress_from_a_local_server(dialog, qtbot, store, server):
    data = json.loads(store["manifest"].read_text())
    data["models"][1].update(url=f"{server}/big.pth", size_bytes=len(PAYLOAD),
                             sha256=hashlib.sha256(PAYLOAD).hexdigest())
    store["manifest"].write_text(json.dumps(data))
    dialog.refresh()
    values = []
    dialog.progress.valueChanged.connect(values.append)
    dialog.download("big_remote")
    _wait_idle(qtbot, dialog)
    assert dialog.status.property("error") is False, dialog.status.text()
    assert dialog.status.text().startswith("Downloaded big_remote")
    assert values and values[-1] == 1000 and values == sorted(values)
    assert _cells(dialog, "big_remote")[-1] == "yes"
    assert (store["home"] / "data" / "models" / "big.pth").read_bytes() == PAYLOAD
    assert not dialog.progress.isVisible()


def test_cancel_a_download(dialog, qtbot, monkeypatch):
    monkeypatch.setattr(mm, "DOWNLOAD_TARGET", "ui_fake_panels:slow_download")
    dialog.select("big_remote")
    handle = dialog.download()
    qtbot.waitUntil(lambda: dialog.progress.value() == 300, timeout=10000)
    assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    assert "3 of 10 MB" in dialog.status.text()
    dialog.cancel_button.click()
    _wait_idle(qtbot, dialog)
    assert handle.wait(10000)
    assert "Download cancelled" in dialog.status.text() and dialog.status.property("error") is False
    assert not dialog.cancel_button.isEnabled()


def test_open_library_folder_opens_the_user_library(dialog, store, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url.toLocalFile()) or True))
    dialog.folder_button.click()
    assert opened == [str(store["home"] / "data" / "models")]


def test_details_say_what_to_do_without_a_selection(qtbot):
    from ganstudio.ui.model_manager import ModelManagerDialog

    d = ModelManagerDialog()
    qtbot.addWidget(d)
    d.table.clearSelection()
    assert "Select a model" in d.details.text()


def test_absent_models_say_so_instead_of_bundled(dialog, store):
    """Issue 15.6: before, every manifest model read '(bundled)', present or not."""
    data = json.loads(store["manifest"].read_text())
    data["models"].append({"id": "gone", "task": "upscale", "arch": "srvgg", "file": "gone.pth",
                           "aliases": ["g1", "g2"]})
    store["manifest"].write_text(json.dumps(data))
    dialog.refresh()
    assert _cells(dialog, "gone")[-1] == "missing"
    dialog.select("big_remote")
    assert "(not downloaded)" in dialog.details.text() and "bundled" not in dialog.details.text()
    dialog.select("gone")
    assert "(missing)" in dialog.details.text() and "Import checkpoint" in dialog.details.text()
    assert "also called: g1, g2" in dialog.details.text()
    dialog.select("tiny_present")
    assert "(bundled)" in dialog.details.text()
    dialog.select("my_own")
    assert "(in your library)" in dialog.details.text()


def _fail_a_download(dialog, qtbot, store):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = json.loads(store["manifest"].read_text())
    data["models"][1]["url"] = f"http://127.0.0.1:{port}/big.pth"
    store["manifest"].write_text(json.dumps(data))
    dialog.refresh()
    dialog.select("big_remote")
    dialog.download_button.click()
    _wait_idle(qtbot, dialog)
    assert dialog.status.text().startswith("Download failed") and dialog.status.property("error") is True


def test_a_download_error_goes_once_the_user_moves_on(dialog, qtbot, store):
    """Issue 15.6: before, the error stayed after picking another model and after reopening the dialog."""
    _fail_a_download(dialog, qtbot, store)
    dialog.refresh()  # the table refreshing under the same selection keeps it
    assert dialog.status.text().startswith("Download failed")
    dialog.select("tiny_present")
    assert dialog.status.text() == "" and dialog.status.property("error") is False
    _fail_a_download(dialog, qtbot, store)
    dialog.hide()
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.status.text() == ""


def test_a_broken_library_is_named_and_the_rest_listed(qtbot, store):
    (store["home"] / "data" / "models" / "library.json").write_text("[" * 50_000 + "]" * 50_000)
    d = ModelManagerDialog()
    qtbot.addWidget(d)
    assert d.row_ids() == ["tiny_present", "big_remote"]
    assert d.status.property("error") is True and "nested" in d.status.text()
    d.select("big_remote")
    assert "nested" in d.status.text()  # not a job error: picking a model does not hide it
