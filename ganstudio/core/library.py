"""The user's model library: importing a checkpoint file the user picked.

``import_checkpoint(path)`` hashes the file, copies it (never moves it: the user's file stays where it
was) into ``user_models_dir()`` and records a ``ModelEntry`` in the library manifest. Importing the same
bytes twice returns the existing entry.

Recognising the architecture needs torch, which core must not import; the caller passes
``describe(path) -> dict`` (checkpoints/library_jobs.py passes one built on ``load_model``) that returns
any of ``arch``, ``arch_kwargs``, ``task``, ``description`` and raises for files that must not be
imported (e.g. a pickle that would run code).
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Callable, Generator

from ganstudio.core import manifest, paths
from ganstudio.core.errors import UserError
from ganstudio.core.files import atomic_path, file_sha256, iter_blocks
from ganstudio.core.progress import CancelToken, Progress, run_to_completion


class LibraryError(UserError, ValueError):
    """An import that cannot be done, with a message for the user."""


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower()
    return s or "model"


def _hash_steps(path: Path, cancel: CancelToken | None, size: int) -> Generator[Progress, None, str]:
    h = hashlib.sha256()
    done = 0
    for block in iter_blocks(path, cancel=cancel):
        h.update(block)
        done += len(block)
        yield Progress(done, 2 * size, f"checking {path.name}")
    return h.hexdigest()


def _copy_steps(src: Path, dest: Path, cancel: CancelToken | None, size: int,
                expected: str) -> Generator[Progress, None, None]:
    h = hashlib.sha256()
    done = 0
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        for block in iter_blocks(src, cancel=cancel):
            out.write(block)
            h.update(block)
            done += len(block)
            yield Progress(size + done, 2 * size, f"copying {src.name} into the library")
        if h.hexdigest() != expected:
            raise LibraryError(f"{src.name} changed while it was being imported; try again")


def import_checkpoint_steps(path, describe: Callable[[Path], dict] | None = None, *, model_id: str | None = None,
                            task: str | None = None, license: str = "", description: str = "", url: str = "",
                            cancel: CancelToken | None = None) -> Generator[Progress, None, manifest.ModelEntry]:
    """The import as a generator (progress while hashing and copying); returns the library entry."""
    src = Path(path).expanduser()
    if src.is_dir():
        raise LibraryError(f"{src} is a folder: give the checkpoint file in it (.pth / .pt / .safetensors)")
    if not src.is_file():
        raise LibraryError(f"no such file: {src}")
    size = src.stat().st_size
    if size == 0:
        raise LibraryError(f"{src.name} is empty (0 bytes)")
    sha = yield from _hash_steps(src, cancel, size)

    library = manifest.load_library()
    for entry in library:
        if entry.sha256 == sha and manifest.entry_path(entry) is not None:
            yield Progress(2 * size, 2 * size, f"{src.name} is already in the library as {entry.id}")
            return entry

    info: dict = {}
    if describe is not None:
        info = dict(describe(src) or {})  # raises for files that must not be imported

    models_dir = paths.user_models_dir()
    file_name = f"{_slug(src.stem)}-{sha[:8]}{src.suffix.lower()}"
    dest = models_dir / file_name
    if not (dest.is_file() and file_sha256(dest) == sha):
        try:
            yield from _copy_steps(src, dest, cancel, size, sha)
        except PermissionError as exc:
            raise LibraryError(f"cannot write into the model library {models_dir}: permission denied") from exc
        except OSError as exc:
            raise LibraryError(f"cannot copy {src.name} into the model library: {exc.strerror or exc}") from exc

    entry = manifest.ModelEntry(
        id=model_id or f"user.{_slug(src.stem)}",
        task=task or info.get("task") or "unknown",
        arch=info.get("arch") or "unknown",
        arch_kwargs=dict(info.get("arch_kwargs") or {}),
        file=file_name,
        sha256=sha,
        url=url,
        license=license or info.get("license", ""),
        size_bytes=size,
        description=description or info.get("description") or f"imported from {src}",
        source=manifest.LIBRARY,
    )
    # the id and the twin check are settled under the library lock: imports running at the same moment in
    # other processes get ids of their own instead of replacing this one
    entry = manifest.add_library_entry(entry, unique_id=not model_id, same_sha256=True)
    yield Progress(2 * size, 2 * size, f"imported {src.name} as {entry.id}")
    return entry


def import_checkpoint(path, describe: Callable[[Path], dict] | None = None, **kwargs) -> manifest.ModelEntry:
    """Hash, copy into the user library and record ``path``; returns its ``ModelEntry``."""
    return run_to_completion(import_checkpoint_steps(path, describe, **kwargs))


def remove_from_library(model_id: str, delete_file: bool = True) -> bool:
    """Forget a library entry (and delete its copy in the library, never anything outside it)."""
    for entry in manifest.load_library():
        if entry.id == model_id:
            p = manifest.entry_path(entry)
            manifest.remove_library_entry(model_id)
            if delete_file and p is not None and p.is_file() and paths.user_models_dir().resolve() in p.resolve().parents:
                p.unlink()
            return True
    return False
