"""`ganstudio models` (table, import, download) and the library jobs the GUI runs through the worker."""
from __future__ import annotations

import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from model_home import isolated_model_home
from tiny_models import tiny_srvgg_file

from ganstudio.cli import main
from ganstudio.core import manifest, paths
from ganstudio.core.progress import CancelToken, run_to_completion


@pytest.fixture
def home(tmp_path, monkeypatch):
    return isolated_model_home(tmp_path, monkeypatch)


@pytest.fixture
def http_file():
    """A one-file HTTP server on 127.0.0.1 serving `payload` at /w.pth."""
    state = {"payload": b""}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = state["payload"]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    state["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/w.pth"
    yield state
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


def test_models_table(home, capsys):
    (home / "models" / "a.pth").write_bytes(b"x" * 2_500_000)
    (home / "models" / "manifest" / "upscale.json").write_text(json.dumps({"models": [
        {"id": "rrdbnet_x4.demo", "task": "upscale", "arch": "rrdbnet", "file": "a.pth", "license": "BSD-3-Clause"},
        {"id": "srvgg_x2.remote", "task": "upscale", "arch": "srvgg", "file": "b.pth", "size_bytes": 1_200_000,
         "license": "BSD-3-Clause", "url": "http://example.invalid/b.pth"},
    ]}))
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "aliases", "task", "arch", "size", "license", "present"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["rrdbnet_x4.demo"] == ["rrdbnet_x4.demo", "-", "upscale", "rrdbnet", "2.5", "MB", "BSD-3-Clause",
                                       "yes"]
    assert rows["srvgg_x2.remote"] == ["srvgg_x2.remote", "-", "upscale", "srvgg", "1.2", "MB", "BSD-3-Clause",
                                       "no"]
    assert main(["models", "list", "--task", "latent"]) == 0
    assert "no models" in capsys.readouterr().out


def test_models_import_recognises_the_architecture(home, tmp_path, capsys):
    src = tiny_srvgg_file(tmp_path / "my sr.pth")
    assert main(["models", "import", str(src)]) == 0
    out = capsys.readouterr().out
    assert "user.my-sr" in out and "srvgg" in out and "upscale" in out
    entry = manifest.find_model("user.my-sr")
    assert entry.arch == "srvgg" and entry.task == "upscale" and entry.arch_kwargs["upscale"] == 2
    assert manifest.entry_path(entry).parent == paths.user_models_dir()
    assert src.exists()
    assert main(["models"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("user.my-sr")][0]
    assert row.split()[-1] == "yes"
    copy = manifest.entry_path(entry)
    assert main(["models", "remove", "user.my-sr"]) == 0
    assert not copy.exists() and src.exists()
    assert main(["models", "remove", "user.my-sr"]) == 1


def test_models_import_refuses_a_malicious_file(home, tmp_path, capsys):
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch '{marker}'",))

    torch.save({"w": torch.zeros(1), "p": Payload()}, tmp_path / "evil.pth")
    assert main(["models", "import", str(tmp_path / "evil.pth")]) == 1
    err = capsys.readouterr().err
    assert "os.system" in err
    assert not marker.exists()
    assert manifest.load_library() == []


def test_models_download_by_id(home, http_file, capsys):
    data = b"weights" * 5000
    http_file["payload"] = data
    (home / "models" / "manifest" / "upscale.json").write_text(json.dumps({"models": [
        {"id": "up.remote", "task": "upscale", "arch": "srvgg", "file": "remote.pth", "url": http_file["url"],
         "sha256": hashlib.sha256(data).hexdigest()},
        {"id": "up.badsum", "task": "upscale", "file": "bad.pth", "url": http_file["url"], "sha256": "1" * 64},
    ]}))
    assert main(["models", "download", "up.remote"]) == 0
    assert (paths.user_models_dir() / "remote.pth").read_bytes() == data
    assert "present" in capsys.readouterr().out
    assert main(["models", "download", "up.badsum"]) == 1
    assert "sha256" in capsys.readouterr().err
    assert not (paths.user_models_dir() / "bad.pth").exists()
    assert main(["models", "download", "no.such.model"]) == 1


def test_download_job_from_a_url_imports_into_the_library(home, tmp_path, http_file):
    from ganstudio.checkpoints.library_jobs import download_model

    http_file["payload"] = tiny_srvgg_file(tmp_path / "src.pth").read_bytes()
    events = []
    entry = run_to_completion(download_model(cancel=CancelToken(), url=http_file["url"]), events.append)
    assert entry.arch == "srvgg" and entry.url == http_file["url"] and entry.source == "library"
    assert manifest.entry_path(entry).read_bytes() == http_file["payload"]
    assert events and events[-1].message.startswith("imported")


def test_import_job_runs_in_the_engine_worker(home, tmp_path, qtbot):
    from ganstudio.workers.engine_worker import EngineJob, start_job

    src = tiny_srvgg_file(tmp_path / "w.pth")
    handle = start_job(EngineJob("ganstudio.checkpoints.library_jobs:import_checkpoint", {"path": str(src)}))
    with qtbot.waitSignal(handle.worker.finished, timeout=30000) as blocker:
        pass
    handle.wait()
    entry = blocker.args[0]
    assert entry.arch == "srvgg" and manifest.entry_path(entry) is not None


def test_models_table_shows_the_short_names(home, capsys):
    """Issue 15.9: x4plus and the other aliases appear in `ganstudio models` (before: only the long ids)."""
    (home / "models" / "manifest" / "upscale.json").write_text(json.dumps({"models": [
        {"id": "rrdbnet_x4.realesrgan", "task": "upscale", "arch": "rrdbnet", "aliases": ["x4plus", "realesrgan-x4plus"]},
        {"id": "srvgg_x4.animevideov3", "task": "upscale", "arch": "srvgg", "aliases": ["animevideov3"]},
    ]}))
    assert main(["models"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["rrdbnet_x4.realesrgan"][1] == "x4plus,realesrgan-x4plus"
    assert rows["srvgg_x4.animevideov3"][1] == "animevideov3"


@pytest.mark.parametrize("text,words", [('{"models": [', "is not valid JSON"),
                                        ("[" * 100_000 + "]" * 100_000, "nested thousands of levels deep")])
def test_a_broken_library_file_is_one_line_everywhere(home, tmp_path, capsys, text, words):
    """Before: `models` hid the broken library silently (and crashed with RecursionError on deep JSON),
    `models import` ended in a ManifestError traceback."""
    lib = paths.library_manifest_path()
    lib.parent.mkdir(parents=True, exist_ok=True)
    lib.write_text(text)
    assert main(["models"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: your model library") and words in err and len(err.splitlines()) == 1
    src = tiny_srvgg_file(tmp_path / "w.pth")
    assert main(["models", "import", str(src)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("ganstudio models import: your model library") and words in err
    assert main(["models", "remove", "user.w"]) == 1
    assert words in capsys.readouterr().err
    assert lib.read_text() == text  # never overwritten


def test_a_refused_url_download_leaves_nothing_behind(home, http_file):
    """A downloaded file the import refuses (here: not a checkpoint) is removed from the cache (before: kept);
    a URL ending in %2e%2e saves as download.bin (before: a '...part' file in the cache folder)."""
    from ganstudio.checkpoints.library_jobs import download_model
    from ganstudio.checkpoints.reader import CheckpointError

    http_file["payload"] = b"not weights at all\n" * 100
    cache = paths.user_cache_dir() / "downloads"
    for url in (http_file["url"], http_file["url"].replace("/w.pth", "/x/%2e%2e")):
        with pytest.raises(CheckpointError, match="not a PyTorch"):
            run_to_completion(download_model(cancel=CancelToken(), url=url))
        assert not cache.exists() or list(cache.iterdir()) == []
    assert manifest.load_library() == []


def test_a_manifest_download_is_held_to_its_recorded_size(home, http_file, capsys):
    http_file["payload"] = b"w" * 300_000
    (home / "models" / "manifest" / "upscale.json").write_text(json.dumps({"models": [
        {"id": "up.small", "task": "upscale", "file": "small.pth", "url": http_file["url"], "size_bytes": 100_000}]}))
    assert main(["models", "download", "up.small"]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert "more than the 0.1 MB this model has" in err
    assert list(paths.user_models_dir().glob("small.pth*")) == []


def test_models_import_refuses_a_file_claiming_more_than_it_holds(home, tmp_path, capsys):
    """Issue 14 item 1 at the import entry point. Before: a file describing an over-wide network was built,
    failed, and was filed as 'unknown'; one whose tensors are zero-stride views was imported as a valid model."""
    z = torch.zeros
    wide = {"body.0.weight": z(1100, 3, 3, 3), "body.0.bias": z(1100), "body.1.weight": z(1100),
            "body.2.weight": z(1, 1, 3, 3), "body.2.bias": z(1), "body.3.weight": z(1),
            "body.4.weight": z(12, 1, 3, 3), "body.4.bias": z(12)}
    torch.save(wide, tmp_path / "wide.pth")
    hollow = {k: z(1).expand(*s) for k, s in {
        "body.0.weight": (512, 3, 3, 3), "body.0.bias": (512,), "body.1.weight": (512,),
        "body.2.weight": (512, 512, 3, 3), "body.2.bias": (512,), "body.3.weight": (512,),
        "body.4.weight": (12, 512, 3, 3), "body.4.bias": (12,)}.items()}
    torch.save(hollow, tmp_path / "hollow.pth")
    assert main(["models", "import", str(tmp_path / "wide.pth")]) == 1
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == ("ganstudio models import: wide.pth claims 1100 feature channels (at most 1024 for "
                   "SRVGGNetCompact): it is damaged or not a real model, and was not built")
    assert main(["models", "import", str(tmp_path / "hollow.pth")]) == 1
    assert "hollow.pth claims 2.4 M parameters but the file holds 32 bytes" in capsys.readouterr().err
    assert manifest.load_library() == []
