"""core/files.py: block reading with cancel, sha256 (cached by path, size, mtime), atomic replace."""
from __future__ import annotations

import hashlib
import os

import pytest

from ganstudio.core.files import atomic_path, cached_sha256, file_sha256, iter_blocks, write_text_atomic
from ganstudio.core.progress import CancelToken, Cancelled


def test_blocks_and_sha256_match_hashlib(tmp_path):
    data = bytes(range(256)) * 41
    (tmp_path / "f.bin").write_bytes(data)
    blocks = list(iter_blocks(tmp_path / "f.bin", chunk=1000))
    assert [len(b) for b in blocks] == [1000] * 10 + [496]
    assert file_sha256(tmp_path / "f.bin", chunk=333) == hashlib.sha256(data).hexdigest()


def test_iter_blocks_checks_cancel(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        list(iter_blocks(tmp_path / "f.bin", chunk=4, cancel=token))


def test_cached_sha256_hashes_a_replaced_file_again(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"one")
    assert cached_sha256(p) == hashlib.sha256(b"one").hexdigest()
    p.write_bytes(b"two!")
    os.utime(p, ns=(1, 1))
    assert cached_sha256(p) == hashlib.sha256(b"two!").hexdigest()


def test_atomic_path_replaces_on_success_and_cleans_up_on_error(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert dest.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    write_text_atomic(tmp_path / "sub" / "new.txt", "fresh\n")
    assert (tmp_path / "sub" / "new.txt").read_text() == "fresh\n"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["new.txt"]


def test_atomic_path_result_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
