"""Manifest reading, user paths and the user library (core only: no torch)."""
from __future__ import annotations

import hashlib
import json

import pytest

from ganstudio.core import library, manifest, paths

from model_home import isolated_model_home


@pytest.fixture
def home(tmp_path, monkeypatch):
    return isolated_model_home(tmp_path, monkeypatch)


def write_manifest(home, name, entries):
    (home / "models" / "manifest" / name).write_text(json.dumps({"models": entries}))


def test_paths_follow_ganstudio_home(home):
    assert paths.user_data_dir() == home / "home" / "data"
    assert paths.user_cache_dir() == home / "home" / "cache"
    assert paths.user_models_dir() == home / "home" / "data" / "models"
    assert paths.user_models_dir().is_dir()
    assert paths.bundled_models_dir() == home / "models"


def test_load_find_and_present(home):
    (home / "models" / "weights").mkdir()
    (home / "models" / "weights" / "a.pth").write_bytes(b"abc")
    write_manifest(home, "upscale.json", [
        {"id": "up.a", "task": "upscale", "arch": "rrdbnet", "file": "weights/a.pth", "license": "BSD-3-Clause",
         "arch_kwargs": {"scale": 4}, "metrics": {"psnr": 30.1}, "homepage": "kept as extra"},
        {"id": "up.b", "task": "upscale", "arch": "srvgg", "file": "b.pth", "url": "http://x/b.pth"},
    ])
    write_manifest(home, "stylize.json", [{"id": "st.c", "task": "stylize"}])
    write_manifest(home, "zz_extra.json", [{"id": "up.a", "task": "stylize"}])
    entries = manifest.load_manifest()
    assert [e.id for e in entries] == ["st.c", "up.a", "up.b"]  # files in name order; the duplicate id dropped
    a = manifest.find_model("up.a")
    assert a.task == "upscale" and a.arch_kwargs == {"scale": 4} and a.extra == {"homepage": "kept as extra"}
    assert a.source == "bundled"
    assert manifest.entry_path(a) == home / "models" / "weights" / "a.pth"
    b = manifest.find_model("up.b")
    assert manifest.entry_path(b) is None
    assert manifest.download_path(b) == paths.user_models_dir() / "b.pth"
    (paths.user_models_dir() / "b.pth").write_bytes(b"downloaded")
    assert manifest.entry_path(b) == paths.user_models_dir() / "b.pth"  # downloads count as present
    with pytest.raises(KeyError, match="did you mean up.a"):
        manifest.find_model("up.aa")


def test_broken_manifest_is_skipped_not_fatal(home):
    (home / "models" / "manifest" / "latent.json").write_text("{ not json")
    write_manifest(home, "paint.json", [{"id": "p.1", "task": "paint"}])
    assert [e.id for e in manifest.load_manifest()] == ["p.1"]
    with pytest.raises(manifest.ManifestError, match="latent.json"):
        manifest.load_manifest(strict=True)


def test_manifest_with_a_wrongly_typed_value_is_skipped_not_fatal(home):
    write_manifest(home, "latent.json", [{"id": "l.1", "task": "latent", "size_bytes": "big"}])
    write_manifest(home, "paint.json", [{"id": "p.1", "task": "paint"}])
    assert [e.id for e in manifest.load_manifest()] == ["p.1"]
    with pytest.raises(manifest.ManifestError, match="latent.json.*'l.1'.*wrong type"):
        manifest.load_manifest(strict=True)
    write_manifest(home, "latent.json", [{"id": "l.2", "arch_kwargs": 3}])
    assert [e.id for e in manifest.load_manifest()] == ["p.1"]


def test_package_resource_entries(home):
    e = manifest.ModelEntry(id="x", package_resource="ganstudio.core:imageio.py")
    assert manifest.entry_path(e).name == "imageio.py"
    assert manifest.entry_path(manifest.ModelEntry(id="y", package_resource="no_such_pkg_xyz:a.bin")) is None


def test_import_copies_hashes_and_records(home, tmp_path):
    src = tmp_path / "My Net (v2).pth"
    data = b"\x00weights\x01" * 1000
    src.write_bytes(data)
    calls = []

    def describe(path):
        calls.append(path)
        return {"arch": "srvgg", "arch_kwargs": {"upscale": 2}, "task": "upscale"}

    entry = library.import_checkpoint(src, describe)
    assert src.read_bytes() == data  # the user's file is copied, never moved
    sha = hashlib.sha256(data).hexdigest()
    assert entry.sha256 == sha and entry.size_bytes == len(data)
    assert entry.id == "user.my-net-v2" and entry.arch == "srvgg" and entry.task == "upscale"
    copy = manifest.entry_path(entry)
    assert copy.parent == paths.user_models_dir() and copy.read_bytes() == data
    assert copy.name == f"my-net-v2-{sha[:8]}.pth"
    listed = {e.id: e for e in manifest.load_manifest()}
    assert listed["user.my-net-v2"].source == "library"
    # the same bytes again: the same entry, no second copy, describe not needed
    again = library.import_checkpoint(src, describe)
    assert again.id == entry.id and len(calls) == 1
    assert len([p for p in paths.user_models_dir().iterdir() if p.suffix == ".pth"]) == 1
    # other bytes with the same name: a new id
    src.write_bytes(b"other")
    other = library.import_checkpoint(src)
    assert other.id == "user.my-net-v2-2" and other.arch == "unknown"
    assert library.remove_from_library(other.id)
    assert manifest.entry_path(other) is None and src.exists()


def test_refused_import_leaves_library_untouched(home, tmp_path):
    src = tmp_path / "evil.pth"
    src.write_bytes(b"bad")

    def describe(path):
        raise ValueError("evil.pth refused: unpickling it would call os.system")

    with pytest.raises(ValueError, match="os.system"):
        library.import_checkpoint(src, describe)
    assert manifest.load_library() == []
    assert [p.name for p in paths.user_models_dir().iterdir()] == []


def test_import_missing_or_empty_file(home, tmp_path):
    with pytest.raises(library.LibraryError, match="no such file"):
        library.import_checkpoint(tmp_path / "absent.pth")
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(library.LibraryError, match="empty"):
        library.import_checkpoint(tmp_path / "empty.pth")


# ---------------------------------------------------------------------------------- issue 14 items 8 and 9
_IMPORTER = """
import sys, time
from pathlib import Path
from ganstudio.core import library
go = Path(sys.argv[1])
while not go.exists():  # start together: every process imports in the same moment
    time.sleep(0.005)
for src in sys.argv[2:]:
    library.import_checkpoint(src, lambda p: {"arch": "srvgg", "task": "upscale"})
"""


def test_eight_processes_importing_at_once_keep_every_entry(home, tmp_path):
    """Eight real processes, five imports each, all started together (two files in each process share their
    name with files of other processes). Before: the lock worked within one process only and the last
    writer won (5 of 8 entries in the issue)."""
    import os
    import subprocess
    import sys

    go = tmp_path / "go"
    jobs, files = [], []
    for p in range(8):
        mine = []
        for i in range(5):
            folder = tmp_path / f"p{p}"
            folder.mkdir(exist_ok=True)
            name = f"shared{i}.pth" if i < 2 else f"p{p}_{i}.pth"  # shared0/1.pth exist in every folder
            f = folder / name
            f.write_bytes(f"{p}-{i}".encode() * 100)
            mine.append(str(f))
        files += mine
        jobs.append(subprocess.Popen([sys.executable, "-c", _IMPORTER, str(go), *mine], env=os.environ.copy(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    go.write_text("go")
    for job in jobs:
        _out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err.decode()[-2000:]
    entries = manifest.load_library()
    assert len(entries) == 40 and len({e.id for e in entries}) == 40
    assert {e.sha256 for e in entries} == {hashlib.sha256(open(f, "rb").read()).hexdigest() for f in files}
    assert all(manifest.entry_path(e) is not None for e in entries)
    assert sum(e.id.startswith("user.shared0") for e in entries) == 8  # user.shared0, user.shared0-2 ...
    assert not list(paths.user_models_dir().glob(".*.tmp"))  # no half-written library left behind


def test_a_broken_or_absurd_library_file_is_one_line(home, tmp_path):
    lib = paths.library_manifest_path()
    lib.parent.mkdir(parents=True, exist_ok=True)
    write_manifest(home, "upscale.json", [{"id": "up.a", "task": "upscale"}])
    (tmp_path / "x.pth").write_bytes(b"x")
    for text, words in (('{"models": [', "is not valid JSON"), ("[" * 100_000 + "]" * 100_000, "nested")):
        lib.write_text(text)
        problems: list[str] = []
        assert [e.id for e in manifest.load_manifest(problems=problems)] == ["up.a"]  # the rest still listed
        assert len(problems) == 1 and words in problems[0] and str(lib) in problems[0]
        with pytest.raises(manifest.ManifestError, match=words):  # an import must not overwrite it
            library.import_checkpoint(tmp_path / "x.pth")
        assert lib.read_text() == text


def test_availability_words(home):
    (home / "models" / "w.pth").write_bytes(b"x")
    write_manifest(home, "upscale.json", [
        {"id": "here", "file": "w.pth"},
        {"id": "remote", "file": "r.pth", "url": "http://x/r.pth"},
        {"id": "gone", "file": "g.pth"},
        {"id": "fetched", "file": "f.pth", "url": "http://x/f.pth", "aliases": ["f1", "f2"]},
    ])
    (paths.user_models_dir() / "f.pth").write_bytes(b"y")
    rows = {r["id"]: r for r in manifest.entries_as_rows(manifest.load_manifest())}
    assert {k: r["availability"] for k, r in rows.items()} == {
        "here": "bundled", "remote": "not downloaded", "gone": "missing", "fetched": "downloaded"}
    assert rows["fetched"]["aliases"] == ["f1", "f2"] and rows["here"]["aliases"] == []
