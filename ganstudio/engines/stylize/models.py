"""Which generator file a Stylize model reference means, and loading it.

A reference may be
* a generator file: ``latest_net_G.pth`` (one direction), or ``<epoch>_net_G_A.pth`` / ``_net_G_B.pth`` from
  training (the sibling file gives the other direction);
* a training folder holding ``latest_net_G_A.pth`` and ``latest_net_G_B.pth`` (or ``latest_net_G.pth``);
* a manifest or library id (``checkpoints.cache.resolve_model`` finds the file and names the next step when
  it is not on this machine). An entry with ``files`` {"AtoB": ..., "BtoA": ...} gives both directions; an
  official one-direction entry names its ``reverse`` entry for BtoA.

The network comes from the shared model cache: it is shared and read-only (several jobs may run it at
once). Whatever Stylize changes per call (InstanceNorm statistics, the official BatchNorm mode) is done by
thread-local hooks (``norms``), never by changing the module.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ganstudio.checkpoints.cache import get_model, verify_sha256
from ganstudio.checkpoints.cache import resolve_model as resolve_checkpoint
from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.core.errors import InputError

DIRECTIONS = ("AtoB", "BtoA")


@dataclass(frozen=True)
class GeneratorRef:
    """A resolved reference: the file, the name outputs are labelled with, the digest to check ("")."""

    path: Path
    name: str
    sha256: str = ""


def resolve_model(model: str | os.PathLike, direction: str = "AtoB") -> tuple[Path, str]:
    """(generator file, display name) for ``model`` and ``direction`` (see the module docstring)."""
    ref = resolve_generator(model, direction)
    return ref.path, ref.name


def resolve_generator(model, direction: str = "AtoB") -> GeneratorRef:
    if direction not in DIRECTIONS:
        raise InputError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    p = Path(model).expanduser()
    if p.is_dir():
        return _from_training_folder(p, direction)
    if p.is_file():
        return _from_file(p, direction)
    return _from_id(str(model), direction)


def _from_training_folder(p: Path, direction: str) -> GeneratorRef:
    pair = p / f"latest_net_G_{direction[0]}.pth"
    if pair.is_file():
        return GeneratorRef(pair, p.name)
    if (p / "latest_net_G.pth").is_file():
        if direction == "BtoA":
            raise InputError(f"{p} holds a one-direction model (latest_net_G.pth): use AtoB")
        return GeneratorRef(p / "latest_net_G.pth", p.name)
    raise InputError(f"no CycleGAN generator (latest_net_G*.pth) in {p}")


def _from_file(p: Path, direction: str) -> GeneratorRef:
    m = re.match(r"^(.*_net_G_)([AB])(\.\w+)$", p.name)
    if m:  # one of a training pair: the direction picks the sibling
        want = "A" if direction == "AtoB" else "B"
        target = p.with_name(f"{m.group(1)}{want}{m.group(3)}")
        if not target.is_file():
            raise InputError(f"{direction} needs {target.name} next to {p.name}")
        return GeneratorRef(target, p.parent.name or p.stem)
    if direction == "BtoA":
        raise InputError(f"{p.name} holds one direction only; BtoA needs a G_B file or a model pair")
    return GeneratorRef(p, p.stem)


def _from_id(model_id: str, direction: str) -> GeneratorRef:
    from ganstudio.core import manifest as mf

    try:
        entry = mf.find_model(model_id)
    except mf.UnknownModelError as exc:
        raise InputError(f"unknown model {model_id!r}: not a file, a folder or a known model id ({exc})") from exc
    files = _entry_key(entry, "files")
    if isinstance(files, dict) and direction in files:
        from ganstudio.core import paths

        path = Path(files[direction]).expanduser()
        tries = [path] if path.is_absolute() else [paths.user_models_dir() / path, paths.bundled_models_dir() / path]
        for cand in tries:
            if cand.is_file():
                return GeneratorRef(cand, entry.id)  # the entry's sha256 is for its "file", not these
        raise InputError(f"model {entry.id}: the {direction} file {path} is missing")
    if direction == "BtoA":
        reverse = _entry_key(entry, "reverse")
        if reverse:
            return _from_id(reverse, "AtoB")
        raise InputError(f"model {entry.id} has one direction only (AtoB)")
    found = resolve_checkpoint(entry.id)  # names the next step (download / import) when it is missing
    return GeneratorRef(found.path, entry.id, found.sha256)


def _entry_key(entry, key: str):
    """A manifest entry's own key (``reverse``, ``files``): ModelEntry keeps unknown JSON keys in ``extra``."""
    for d in (entry.arch_kwargs, entry.metrics, entry.extra):
        if key in d:
            return d[key]
    return None


def load_generator(model, direction: str = "AtoB", device="cpu"):
    """(net, ModelDescription, display name). ``net`` is the model cache's shared module: read-only."""
    ref = resolve_generator(model, direction)
    try:
        if ref.sha256:  # a manifest id with a known digest: refuse a damaged download even if cached by path
            verify_sha256(ref.path, ref.sha256)
        net, desc = get_model(str(ref.path), device=device, family="cyclegan")
    except CheckpointError as exc:
        msg = str(exc)
        raise CheckpointError(msg if ref.path.name in msg else f"{ref.path.name}: {msg}") from exc
    if desc.hparams.get("arch") == "patchgan":
        raise InputError(f"{ref.path.name} is a PatchGAN discriminator, not a generator")
    return net, desc, ref.name
