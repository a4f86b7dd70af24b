"""The model manifest: what models GAN Studio knows, where their files are and whether they are present.

Sources, read in this order (an id seen twice keeps its first entry):
  * ``models/manifest/*.json`` in the project (one file per task: upscale.json, stylize.json,
    latent.json, paint.json; each task owns its file), each a JSON object ``{"models": [entry, ...]}``;
  * the user's library, ``user_models_dir()/library.json`` (imported checkpoints and URL downloads).

An entry's ``file`` is relative to the folder of the models it belongs to: bundled entries resolve
against ``bundled_models_dir()`` first, then against ``user_models_dir()`` (where downloads land);
library entries resolve against ``user_models_dir()``. ``package_resource`` ("package:relative/path")
names a file shipped inside an installed Python package instead.

The user's library is written by every GAN Studio process (the app, several ``ganstudio models import``
started together): each read-modify-write of ``library.json`` holds a file lock (``library.json.lock``,
the ``filelock`` package: an OS lock, released if the process dies) and writes atomically (temp file +
rename), so no entry is lost and no reader sees half a file.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from ganstudio.core import paths
from ganstudio.core.errors import UserError
from ganstudio.core.files import write_text_atomic

log = logging.getLogger(__name__)

LIBRARY = "library"
BUNDLED = "bundled"
_LIBRARY_LOCK = threading.RLock()  # read-modify-write of library.json from the worker and the GUI
LOCK_TIMEOUT = 60.0  # seconds to wait for another process writing the library


class ManifestError(UserError, ValueError):
    """A manifest file that cannot be read, with a message naming the file."""


class UnknownModelError(UserError, KeyError):
    """No manifest entry has the asked-for id."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else "unknown model"


@dataclass
class ModelEntry:
    id: str                                     # e.g. "rrdbnet_x4.realesrgan"
    task: str = ""                              # "upscale" | "stylize" | "latent" | "paint" | "unknown"
    arch: str = ""                              # network family, e.g. "rrdbnet"
    arch_kwargs: dict = field(default_factory=dict)
    file: str = ""                              # relative to its models folder (or absolute)
    sha256: str = ""                            # hex digest of the file, "" when unknown
    url: str = ""                               # where to download it from ("" when bundled only)
    license: str = ""
    size_bytes: int = 0
    metrics: dict = field(default_factory=dict)
    description: str = ""
    package_resource: str = ""                  # "python_package:path/inside/package"
    source: str = ""                            # "bundled" or "library" (filled in by load_manifest)
    manifest: str = ""                          # the manifest file it was read from
    extra: dict = field(default_factory=dict)   # unknown keys of the JSON entry, kept as they are

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "", manifest: str = "") -> "ModelEntry":
        if not isinstance(data, dict) or not data.get("id"):
            raise ManifestError(f"{manifest or 'manifest'}: every entry needs an 'id' (got {data!r:.80})")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known and k not in ("manifest", "extra")}
        extra = {k: v for k, v in data.items() if k not in known}
        try:
            extra.update(data.get("extra") or {})
            entry = cls(**kwargs, extra=extra)
            entry.id = str(entry.id)
            entry.size_bytes = int(entry.size_bytes or 0)
            entry.arch_kwargs = dict(entry.arch_kwargs or {})
            entry.metrics = dict(entry.metrics or {})
            entry.sha256 = (entry.sha256 or "").lower()
        except (TypeError, ValueError, AttributeError) as exc:  # e.g. "size_bytes": "big", "arch_kwargs": 3
            raise ManifestError(f"{manifest or 'manifest'}: entry {data.get('id')!r} has a value of the "
                                f"wrong type ({exc})") from exc
        if not entry.source:
            entry.source = source
        entry.manifest = manifest
        return entry

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("manifest")
        extra = data.pop("extra")
        data.update(extra)
        return data

    @property
    def path(self) -> str:
        """The present file as a string ("" when it is not on this machine)."""
        p = entry_path(self)
        return str(p) if p is not None else ""


# ------------------------------------------------------------------------------------------- reading
def _read_manifest_file(path: Path, source: str) -> list[ModelEntry]:
    what = "your model library" if source == LIBRARY else "the model manifest"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {what} {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{what} {path} is not valid JSON ({exc}); fix it or move it away") from exc
    except RecursionError as exc:  # "[[[[..." thousands deep: json gives up by recursion, not a decode error
        raise ManifestError(f"{what} {path} is not a model list (its JSON is nested thousands of levels deep); "
                            "fix it or move it away") from exc
    if isinstance(data, list):  # tolerate a bare list
        items = data
    elif isinstance(data, dict) and isinstance(data.get("models", []), list):
        items = data.get("models", [])
    else:
        raise ManifestError(f"the model manifest {path} must be a JSON object {{\"models\": [...]}}")
    return [ModelEntry.from_dict(item, source=source, manifest=str(path)) for item in items]


def load_manifest(manifest_dir: Path | str | None = None, include_library: bool = True,
                  strict: bool = False, problems: list[str] | None = None) -> list[ModelEntry]:
    """Every known model: the bundled manifests then the user library.

    A broken manifest file is logged and skipped (one task's typo must not hide every model) unless
    ``strict`` is true, in which case its ManifestError is raised. ``problems``, when given, receives one
    line per skipped file, for the caller to show.
    """
    folder = Path(manifest_dir) if manifest_dir is not None else paths.bundled_manifest_dir()
    files: list[tuple[Path, str]] = []
    if folder.is_dir():
        files += [(p, BUNDLED) for p in sorted(folder.glob("*.json"))]
    if include_library:
        lib = paths.library_manifest_path()
        if lib.is_file():
            files.append((lib, LIBRARY))
    entries: list[ModelEntry] = []
    seen: set[str] = set()
    for path, source in files:
        try:
            found = _read_manifest_file(path, source)
        except ManifestError as exc:
            if strict:
                raise
            if problems is not None:
                problems.append(str(exc))
            else:
                log.warning("%s", exc)
            continue
        for entry in found:
            if entry.id in seen:
                log.warning("model id %s appears twice; keeping the first (ignoring %s)", entry.id, path)
                continue
            seen.add(entry.id)
            entries.append(entry)
    return entries


def aliases(entry: ModelEntry) -> list[str]:
    """Short names an entry also answers to (``x4plus`` for ``rrdbnet_x4.realesrgan``)."""
    value = entry.extra.get("aliases") or []
    return [str(a) for a in value] if isinstance(value, list) else []


def find_model(model_id: str, entries: Iterable[ModelEntry] | None = None) -> ModelEntry:
    """The entry with this id (or alias); UnknownModelError (a KeyError) names close ids when there is none."""
    entries = list(entries) if entries is not None else load_manifest()
    for entry in entries:
        if entry.id == model_id:
            return entry
    for entry in entries:
        if model_id in aliases(entry):
            return entry
    import difflib

    close = difflib.get_close_matches(model_id, [e.id for e in entries], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else " (`ganstudio models` lists them)"
    raise UnknownModelError(f"no model with id {model_id!r}{hint}")


def _package_resource_path(spec: str) -> Path | None:
    package, _, rel = spec.partition(":")
    if not package:
        return None
    try:
        import importlib.resources as resources

        root = resources.files(package)
    except (ImportError, TypeError, ValueError):  # package missing or not a regular package
        return None
    target = root.joinpath(rel) if rel else root
    try:
        return Path(str(target))
    except TypeError:
        return None


def candidate_paths(entry: ModelEntry) -> list[Path]:
    """Where the entry's file may be, in the order they are tried."""
    out: list[Path] = []
    if entry.package_resource:
        p = _package_resource_path(entry.package_resource)
        if p is not None:
            out.append(p)
    if entry.file:
        f = Path(entry.file).expanduser()
        if f.is_absolute():
            out.append(f)
        elif entry.source == LIBRARY:
            out.append(paths.user_models_dir() / f)
        else:
            out.append(paths.bundled_models_dir() / f)
            out.append(paths.user_models_dir() / f)
    return out


def download_path(entry: ModelEntry) -> Path:
    """Where a download of this entry goes: user_models_dir()/<file> (or the url's file name)."""
    name = entry.file
    if not name or Path(name).is_absolute():
        from urllib.parse import urlparse

        name = Path(urlparse(entry.url).path).name or f"{entry.id}.bin"
    if ".." in Path(name).parts:
        raise ManifestError(f"model {entry.id}: its file {name!r} would land outside the model library")
    return paths.user_models_dir() / name


def entry_path(entry: ModelEntry) -> Path | None:
    """The entry's file if it is present on disk (a file or, for ncnn pairs etc., a folder), else None."""
    for p in candidate_paths(entry):
        if p.exists():
            return p
    return None


# ------------------------------------------------------------------------------------------- the user library
def load_library() -> list[ModelEntry]:
    path = paths.library_manifest_path()
    if not path.is_file():
        return []
    return _read_manifest_file(path, LIBRARY)


def save_library(entries: Iterable[ModelEntry]) -> Path:
    """Write the library manifest atomically (temp file in the same folder, then rename)."""
    path = paths.library_manifest_path()
    items = []
    for e in entries:
        d = e.to_dict()
        d["source"] = LIBRARY
        items.append(d)
    text = json.dumps({"models": items}, indent=2, sort_keys=False) + "\n"
    write_text_atomic(path, text)
    return path


class _LibraryLock:
    """The library's lock across threads (RLock) and processes (``filelock`` on ``library.json.lock``)."""

    def __enter__(self):
        from filelock import FileLock, Timeout

        _LIBRARY_LOCK.acquire()
        path = paths.library_manifest_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT)
            self._file.acquire()
        except Timeout as exc:
            _LIBRARY_LOCK.release()
            raise ManifestError(f"your model library {path} stayed locked by another GAN Studio for "
                                f"{LOCK_TIMEOUT:.0f} s; try again when it has finished") from exc
        except BaseException:
            _LIBRARY_LOCK.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._file.release()
        finally:
            _LIBRARY_LOCK.release()


def library_lock() -> _LibraryLock:
    """``with library_lock():`` around any read-modify-write of the library (see the module docstring)."""
    return _LibraryLock()


def _free_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate = f"{base}-{n}"
        n += 1
    return candidate


def add_library_entry(entry: ModelEntry, unique_id: bool = False, same_sha256: bool = False) -> ModelEntry:
    """Add (or replace, by id) one entry in the user library manifest; returns the entry recorded.

    Decided under the library lock, so processes importing at the same moment cannot undo each other:
    ``unique_id`` gives the entry a free id (``user.x-2`` ...) instead of replacing one; ``same_sha256``
    returns an existing entry with the same file hash (present on disk) instead of adding a twin.
    """
    entry.source = LIBRARY
    with library_lock():
        current = load_library()
        if same_sha256 and entry.sha256:
            twin = next((e for e in current if e.sha256 == entry.sha256 and entry_path(e) is not None), None)
            if twin is not None:
                return twin
        if unique_id:
            taken = {e.id for e in current} | {e.id for e in load_manifest(include_library=False)}
            entry.id = _free_id(entry.id, taken)
        entries = [e for e in current if e.id != entry.id]
        entries.append(entry)
        entry.manifest = str(save_library(entries))
    return entry


def remove_library_entry(model_id: str) -> bool:
    with library_lock():
        entries = load_library()
        kept = [e for e in entries if e.id != model_id]
        if len(kept) == len(entries):
            return False
        save_library(kept)
    return True


def entries_as_rows(entries: Iterable[ModelEntry]) -> list[dict[str, Any]]:
    """Plain rows for tables (CLI, model manager): id, task, arch, size, license, present, path."""
    rows = []
    for e in entries:
        p = entry_path(e)
        size = e.size_bytes
        if not size and p is not None and p.is_file():
            size = p.stat().st_size
        rows.append({"id": e.id, "task": e.task, "arch": e.arch, "size_bytes": size, "license": e.license,
                     "present": p is not None, "path": str(p) if p else "", "source": e.source,
                     "url": e.url, "description": e.description, "aliases": aliases(e),
                     "availability": availability(e, p)})
    return rows


def availability(entry: ModelEntry, present: Path | None = None) -> str:
    """In words: "bundled" (shipped with GAN Studio or installed as a package), "downloaded", "in your
    library", or, when the file is absent, "not downloaded" (it has an address) or "missing"."""
    p = present if present is not None else entry_path(entry)
    if p is None:
        return "not downloaded" if entry.url else "missing"
    if entry.source == LIBRARY:
        return "in your library"
    try:
        if paths.user_models_dir().resolve() in Path(p).resolve().parents:
            return "downloaded"
    except OSError:
        pass
    return "bundled"


def format_size(n: int) -> str:
    if not n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
