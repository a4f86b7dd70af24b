"""The downloader against a real local HTTP server on 127.0.0.1 (a thread): progress, resume, checksum, offline."""
from __future__ import annotations

import hashlib
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ganstudio.core.download import ChecksumError, DownloadError, OfflineError, download
from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


class Server:
    """Serves DATA at /model.bin, honours Range, can drop the connection half way (once), logs requests."""

    def __init__(self):
        self.requests: list[dict] = []
        self.cuts_left = 0
        self.cut_at = len(DATA) // 2
        self.honour_range = True
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append({"path": self.path, "range": rng})
                if self.path != "/model.bin":
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(DATA) - start))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                body = DATA[start:]
                if outer.cuts_left > 0:
                    outer.cuts_left -= 1
                    self.wfile.write(body[: max(0, outer.cut_at - start)])
                    self.wfile.flush()
                    self.close_connection = True
                    return  # the socket closes: the client sees fewer bytes than Content-Length
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.bin"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def collect(gen):
    events = []
    result = run_to_completion(gen, events.append)
    return result, events


def test_download_reports_progress_and_verifies(server, tmp_path):
    dest = tmp_path / "model.bin"
    result, events = collect(download(server.url, dest, sha256=SHA, chunk_size=32 * 1024))
    assert result == dest and dest.read_bytes() == DATA
    assert not (tmp_path / "model.bin.part").exists()
    done = [e.done for e in events]
    assert len(events) >= 300_000 // (32 * 1024)
    assert done == sorted(done) and done[-1] == len(DATA)
    assert all(e.total == len(DATA) for e in events)
    assert server.requests == [{"path": "/model.bin", "range": None}]


def test_resume_after_the_server_cuts_the_transfer(server, tmp_path):
    server.cuts_left = 1
    dest = tmp_path / "model.bin"
    result, events = collect(download(server.url, dest, sha256=SHA, chunk_size=16 * 1024))
    assert dest.read_bytes() == DATA  # and the checksum (over both halves) matched
    assert [r["range"] for r in server.requests] == [None, f"bytes={server.cut_at}-"]
    assert any("resumed" in e.message for e in events)


def test_a_later_call_resumes_the_part_file(server, tmp_path):
    server.cuts_left = 1
    dest = tmp_path / "model.bin"
    with pytest.raises(DownloadError, match="resume"):
        collect(download(server.url, dest, sha256=SHA, retries=0))
    part = tmp_path / "model.bin.part"
    assert part.read_bytes() == DATA[: server.cut_at] and not dest.exists()
    collect(download(server.url, dest, sha256=SHA, retries=0))
    assert dest.read_bytes() == DATA and not part.exists()
    assert server.requests[-1]["range"] == f"bytes={server.cut_at}-"


def test_server_that_ignores_range_restarts_cleanly(server, tmp_path):
    server.honour_range = False
    (tmp_path / "model.bin.part").write_bytes(b"stale bytes from some other file")
    dest = tmp_path / "model.bin"
    collect(download(server.url, dest, sha256=SHA))
    assert dest.read_bytes() == DATA


def test_checksum_mismatch_is_refused_and_partial_removed(server, tmp_path):
    dest = tmp_path / "model.bin"
    with pytest.raises(ChecksumError, match="sha256") as info:
        collect(download(server.url, dest, sha256="0" * 64))
    assert "removed" in str(info.value)
    assert not dest.exists() and not (tmp_path / "model.bin.part").exists()


def test_offline_message_for_a_closed_port(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(OfflineError, match="cannot reach 127.0.0.1: you seem to be offline"):
        collect(download(f"http://127.0.0.1:{port}/model.bin", tmp_path / "m.bin", timeout=5))
    assert not (tmp_path / "m.bin").exists()


def test_http_error_and_bad_scheme(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        collect(download(server.url.replace("model.bin", "nope.bin"), tmp_path / "n.bin"))
    with pytest.raises(DownloadError, match="http"):
        collect(download("ftp://example.org/x.bin", tmp_path / "x.bin"))


def test_cancel_stops_and_keeps_the_part(server, tmp_path):
    token = CancelToken()
    dest = tmp_path / "model.bin"
    gen = download(server.url, dest, cancel=token, chunk_size=8 * 1024)
    seen = 0
    with pytest.raises(Cancelled):
        for p in gen:
            seen += 1
            if p.done >= 50_000:
                token.cancel()
    assert not dest.exists()
    kept = (tmp_path / "model.bin.part").stat().st_size
    assert 50_000 <= kept < len(DATA)


def test_existing_verified_file_is_not_fetched_again(server, tmp_path):
    dest = tmp_path / "model.bin"
    dest.write_bytes(DATA)
    collect(download(server.url, dest, sha256=SHA))
    assert server.requests == []
