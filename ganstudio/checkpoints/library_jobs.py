"""Model-library jobs the GUI runs through the worker (and the CLI drives with a tqdm bar).

    EngineJob("ganstudio.checkpoints.library_jobs:download_model", {"model_id": "rrdbnet_x4.realesrgan"})
    EngineJob("ganstudio.checkpoints.library_jobs:download_model", {"url": "https://.../net.pth"})
    EngineJob("ganstudio.checkpoints.library_jobs:import_checkpoint", {"path": "/home/me/net.pth"})

Each is a generator yielding Progress and returning a ``ModelEntry`` (plain core dataclass).
``describe_checkpoint`` is the torch-side half of an import: read the file safely and recognise its
architecture with ``load_model``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

from ganstudio.core import library, manifest, paths
from ganstudio.core.download import download, safe_file_name
from ganstudio.core.errors import InputError
from ganstudio.core.files import cached_sha256
from ganstudio.core.progress import CancelToken

log = logging.getLogger(__name__)

# which task uses each network family
FAMILY_TASKS = {
    "rrdbnet": "upscale",
    "srvgg": "upscale",
    "cyclegan": "stylize",
    "pix2pix": "stylize",
    "unet": "stylize",
    "spade": "paint",
    "stylegan2": "latent",
    "stylegan2_ada": "latent",
    "dcgan": "latent",
}


def describe_checkpoint(path) -> dict:
    """{"arch", "arch_kwargs", "task", "description"} for a checkpoint file.

    Unsafe or unreadable files raise ``CheckpointError`` (so they are never imported). A readable file
    of weights whose architecture is not recognised is described as arch "unknown".
    """
    from ganstudio.checkpoints.loader import ImplausibleCheckpoint, load_model, unwrap_state_dict
    from ganstudio.checkpoints.reader import CheckpointError, read_checkpoint

    obj, source_format = read_checkpoint(path)
    unwrap_state_dict(obj)  # a file with no tensors at all is not a model: refuse it
    try:
        _net, desc = load_model(obj, role=None, name=Path(path).name)  # discriminators are kept too (training)
    except ImplausibleCheckpoint:  # a huge claimed network: refused, not filed as "unknown"
        raise
    except CheckpointError as exc:
        log.info("%s: architecture not recognised (%s)", path, exc)
        return {"arch": "unknown", "arch_kwargs": {}, "task": "unknown",
                "description": f"weights of an unrecognised network ({source_format}): {exc}"}
    hparams = {k: v for k, v in desc.hparams.items() if isinstance(v, (int, float, str, bool, list, type(None)))}
    # a discriminator is only useful to resume training, so it is filed under "train", not the image task
    task = "train" if desc.hparams.get("role") == "discriminator" else FAMILY_TASKS.get(desc.family, "unknown")
    return {"arch": desc.family, "arch_kwargs": hparams, "task": task,
            "description": f"{desc.summary()} ({source_format})"}


def import_checkpoint(cancel: CancelToken | None = None, path: str = "", model_id: str | None = None,
                      task: str | None = None, license: str = "", description: str = ""):
    """Import a checkpoint file into the user library (hash, recognise, copy, record)."""
    if not path:
        raise InputError("import_checkpoint needs the path of a checkpoint file")
    return (yield from library.import_checkpoint_steps(
        path, describe_checkpoint, model_id=model_id, task=task, license=license, description=description,
        cancel=cancel))


def download_model(cancel: CancelToken | None = None, model_id: str | None = None, url: str | None = None,
                   sha256: str | None = None, dest: str | None = None, timeout: float = 30.0):
    """Download a manifest model (by id) or any URL.

    A manifest model lands where the manifest expects it (``download_path``), no larger than its recorded size,
    and is verified against its sha256. A bare URL is downloaded into the cache and then imported like a
    picked file; the cached copy is removed afterwards, whether the import took it or refused it.
    """
    if model_id:
        entry = manifest.find_model(model_id)
        present = manifest.entry_path(entry)
        if present is not None and (not entry.sha256 or not present.is_file()
                                    or cached_sha256(present) == entry.sha256):
            return entry
        if not entry.url:
            raise InputError(f"model {entry.id} has no download address in its manifest")
        target = Path(dest) if dest else manifest.download_path(entry)
        yield from download(entry.url, target, sha256=entry.sha256 or sha256, cancel=cancel, timeout=timeout,
                            exact_size=entry.size_bytes or None)
        return entry
    if not url:
        raise InputError("download_model needs a model id or a URL")
    name = safe_file_name(Path(unquote(urlparse(url).path)).name)  # ".../%2e%2e" must not name a folder
    target = Path(dest) if dest else paths.user_cache_dir() / "downloads" / name
    got = yield from download(url, target, sha256=sha256, cancel=cancel, timeout=timeout)
    try:
        entry = yield from library.import_checkpoint_steps(got, describe_checkpoint, url=url, cancel=cancel)
    finally:
        if not dest:
            got.unlink(missing_ok=True)  # imported: the library holds its own copy; refused: never keep it
    return entry
