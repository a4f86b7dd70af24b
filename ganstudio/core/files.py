"""Small file helpers shared by the manifest, the library, the downloader and the engines.

  * :func:`iter_blocks` reads a file in fixed-size pieces (never the whole file at once), checking a
    CancelToken before each piece;
  * :func:`file_sha256` hashes a file that way; :func:`cached_sha256` remembers the digest per
    (resolved path, size, mtime), so a checkpoint is hashed once however many layers ask for it;
  * :func:`same_file` tells whether two paths name one file (also through links or `..`), so no command
    ever writes its output over its input or the model;
  * :func:`atomic_path` gives a temp path next to the destination and renames it into place only when
    the block finishes without an exception (removing it otherwise), so no half-written file ever
    appears under the real name; :func:`write_text_atomic` is the common text case.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ganstudio.core.progress import CancelToken

CHUNK = 1 << 20


def iter_blocks(path: Path | str, chunk: int = CHUNK, cancel: CancelToken | None = None) -> Iterator[bytes]:
    """The bytes of ``path`` in ``chunk``-byte pieces; ``cancel.check()`` runs before each read."""
    with open(path, "rb") as fh:
        while True:
            if cancel is not None:
                cancel.check()
            block = fh.read(chunk)
            if not block:
                return
            yield block


def file_sha256(path: Path | str, chunk: int = CHUNK, cancel: CancelToken | None = None) -> str:
    """Hex sha256 of a file, read in ``chunk``-byte pieces."""
    h = hashlib.sha256()
    for block in iter_blocks(path, chunk, cancel):
        h.update(block)
    return h.hexdigest()


_digests: dict[tuple, str] = {}
_digests_lock = threading.Lock()


def cached_sha256(path: Path | str) -> str:
    """:func:`file_sha256`, remembered by (resolved path, size, mtime): a replaced file is hashed again."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _digests_lock:
        if key in _digests:
            return _digests[key]
    digest = file_sha256(p)
    with _digests_lock:
        _digests[key] = digest
    return digest


@contextmanager
def atomic_path(dest: Path | str, suffix: str = ".tmp") -> Iterator[Path]:
    """A new empty temp file in ``dest``'s folder (``.<name>.<random><suffix>``) to write the new file to;
    on a normal exit it replaces ``dest``, on an exception it is removed and the exception goes on.
    The temp file is created like any other file (permissions from the umask, unlike ``mkstemp``'s 0600),
    so the result looks as if it had been written in place."""
    dest = Path(dest)
    while True:
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through :func:`atomic_path`, creating the folder if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def same_file(a: Path | str, b: Path | str) -> bool:
    """True when ``a`` and ``b`` are the same file: by inode where both exist, else by resolved path."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()
