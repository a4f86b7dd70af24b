"""Load any supported checkpoint: read safely, unwrap containers, detect the family, build, load strictly.

Pipeline (DESIGN.md "Models"): safe read (``reader.read_checkpoint``) -> unwrap containers
(params_ema / params / g_ema / state_dict) -> strip ``module.`` -> ask each network family whether it
recognises the keys and shapes (``detect``) -> check the claimed hyperparameters against the family's bounds
(``nets.limits``) -> let it rename foreign namings / drop stale keys (``prepare_state_dict``) -> build the
network on the ``meta`` device (shapes only, no memory) and compare it with the file: its parameter count
against the bytes the file holds, then every key and shape -> only then ``build(**hparams)`` for real ->
``load_state_dict(strict=True)`` -> ``eval()``. A small file that describes a huge network is refused with
one line naming the claim before anything large is allocated.

Every family module in ``FAMILY_MODULES`` exposes:
    FAMILY: str                                   e.g. "rrdbnet"
    detect(state_dict) -> dict | None             build kwargs when the keys/shapes are this family's
    prepare_state_dict(state_dict, hparams) -> dict   official key names, stale entries dropped
    build(**hparams) -> torch.nn.Module
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ganstudio.checkpoints.reader import CheckpointError, read_checkpoint
from ganstudio.nets import limits

log = logging.getLogger(__name__)

class ImplausibleCheckpoint(CheckpointError):
    """A file that claims a network past its family's bounds, or more values than it holds: damaged or made to
    exhaust memory. Refused everywhere, imports included (an unrecognised file is kept as 'unknown')."""


# Order matters only where two families could claim the same keys (none do today).
FAMILY_MODULES = [
    "ganstudio.nets.rrdbnet",
    "ganstudio.nets.srvgg",
    "ganstudio.nets.cyclegan",
    "ganstudio.nets.spade",
    "ganstudio.nets.stylegan2",
    "ganstudio.nets.stylegan2_ada",
    "ganstudio.nets.dcgan",
]

# Containers seen in official files, in the order their loaders prefer them.
_CONTAINER_KEYS = ("params_ema", "params", "g_ema", "state_dict", "model_state_dict", "netG", "generator")


@dataclass
class ModelDescription:
    family: str
    hparams: dict
    source_format: str  # "safetensors", "torch (weights_only)", "state_dict object", "ncnn"
    container: str = ""  # which container key held the weights, "" for a plain state dict
    extras: dict = field(default_factory=dict)  # e.g. StyleGAN2 latent_avg
    path: str = ""

    def summary(self) -> str:
        hp = ", ".join(f"{k}={v}" for k, v in self.hparams.items())
        return f"{self.family}({hp})"


def _family_modules():
    return [importlib.import_module(name) for name in FAMILY_MODULES]


# Where training checkpoints keep the discriminator (rosinality train.py: "d"; pix2pix-style: "netD").
_DISCRIMINATOR_CONTAINER_KEYS = ("d", "netD", "discriminator")


# tensors a flat generator file may hold next to its weights (the bundled StyleGAN2 safetensors)
_FLAT_EXTRAS = ("latent_avg",)


def unwrap_state_dict(obj: Mapping[str, Any], role: str | None = "generator") -> tuple[dict, str, dict]:
    """Return (state_dict, container_key, extras) from an official checkpoint object.

    With ``role="discriminator"`` a training checkpoint's discriminator container is preferred.
    """
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"expected a dict of tensors, found {type(obj).__name__}")
    container = ""
    extras: dict = {}
    keys = _CONTAINER_KEYS
    if role == "discriminator":
        keys = _DISCRIMINATOR_CONTAINER_KEYS + _CONTAINER_KEYS
    for key in keys:
        if key in obj and isinstance(obj[key], Mapping):
            container = key
            for other, value in obj.items():
                if other != key and isinstance(value, torch.Tensor):
                    extras[other] = value  # e.g. latent_avg next to g_ema
            obj = obj[key]
            break
    sd = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        if k.startswith("module."):
            k = k[len("module."):]
        if not container and k in _FLAT_EXTRAS:
            extras[k] = v  # a flat file (safetensors cannot nest) carries the truncation centre beside the weights
            continue
        sd[k] = v
    if not sd:
        raise CheckpointError("the file holds no tensors: it is not a network checkpoint")
    return sd, container, extras


def detect_family(sd: Mapping[str, torch.Tensor]) -> tuple[Any, dict]:
    for mod in _family_modules():
        try:
            hparams = mod.detect(sd)
        except (ValueError, RuntimeError, TypeError, KeyError, IndexError, ArithmeticError) as exc:
            # a detect() that trips over a malformed tensor (wrong rank, an empty or huge shape): the file
            # looks like this family but is damaged; say so instead of a traceback
            raise CheckpointError(f"it looks like a {mod.FAMILY} checkpoint, but its tensors do not fit one "
                                  f"({type(exc).__name__}: {str(exc)[:200]})") from exc
        if hparams is not None:
            return mod, hparams
    sample = ", ".join(list(sd)[:6])
    raise CheckpointError(
        "not a recognised network: the keys match none of DCGAN, StyleGAN2, SPADE, CycleGAN/pix2pix, "
        f"RRDBNet (ESRGAN/Real-ESRGAN) or SRVGGNetCompact (first keys: {sample})"
    )


def _count(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f}"


def _bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} bytes"


def _held_bytes(sd: Mapping[str, torch.Tensor]) -> int:
    """The bytes of tensor data the checkpoint really holds: each storage once (a tensor can claim any shape
    over a tiny storage with zero strides, and several tensors can share one storage)."""
    seen: dict[int, int] = {}
    for t in sd.values():
        try:
            st = t.untyped_storage()
            seen[st.data_ptr() or id(st)] = st.nbytes()
        except (RuntimeError, NotImplementedError):  # e.g. a sparse or meta tensor: count what it shows
            seen[id(t)] = t.numel() * t.element_size()
    return sum(seen.values())


def _check_against_file(mod, hparams: dict, sd: Mapping[str, torch.Tensor], label: str) -> None:
    """Compare the network ``hparams`` describe, built on the meta device (no memory), with the checkpoint:
    parameter count against the bytes held, then keys and shapes. Raises CheckpointError on any mismatch."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in mod.build(**hparams).state_dict().items()}
    except (ValueError, TypeError, RuntimeError, KeyError, ZeroDivisionError) as exc:
        raise CheckpointError(f"{label} describes a {mod.FAMILY} network that cannot be built ({exc})") from exc
    claimed = 0
    for shape in expected.values():
        n = 1
        for d in shape:
            n *= d
        claimed += n
    held = _held_bytes(sd)
    # every value takes at least one byte in a real file (fp32 four, fp16 two)
    if claimed > held:
        raise ImplausibleCheckpoint(f"{label} claims {_count(claimed)} parameters but the file holds "
                              f"{_bytes(held)} of weights: it is damaged or not a real {mod.FAMILY} model")
    missing, unexpected = _diff_keys(expected, sd)
    if missing or unexpected:
        raise CheckpointError(
            f"{mod.FAMILY} checkpoint does not match the network it describes: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    wrong = [(k, tuple(sd[k].shape), shape) for k, shape in expected.items() if tuple(sd[k].shape) != shape]
    if wrong:
        k, got, want = wrong[0]
        raise CheckpointError(
            f"{mod.FAMILY} checkpoint has tensors of the wrong shape: {k} is {list(got)} in the file but "
            f"{list(want)} in the network its other tensors describe"
            + (f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""))


def load_model(source, family: str | None = None, device: str | torch.device = "cpu",
               role: str | None = "generator", name: str | None = None):
    """Load ``source`` (a path or an in-memory state dict / checkpoint dict).

    Returns ``(module, ModelDescription)`` with the module in eval mode on ``device``.
    ``family`` (e.g. "rrdbnet") makes a file of another family an error instead of a surprise.
    ``role`` is "generator" (what every engine needs: a discriminator file is refused with a clear
    message), "discriminator" (training; picks a training checkpoint's "d" container), or None (either,
    used to describe a file being imported into the library). ``name`` is what messages call the source
    (default: the file's name, or "the checkpoint" for an in-memory one).
    """
    path = ""
    if isinstance(source, (str, Path)):
        path = str(source)
        obj, source_format = read_checkpoint(path)
    else:
        obj, source_format = source, "state_dict object"
    label = name or (Path(path).name if path else "the checkpoint")
    sd, container, extras = unwrap_state_dict(obj, role=role)
    mod, hparams = detect_family(sd)
    hparams.update(getattr(obj, "extra_hparams", {}))  # what keys cannot say (an NVlabs pickle's conv_clamp ...)
    if family is not None and mod.FAMILY != family:
        raise CheckpointError(f"this is a {mod.FAMILY} checkpoint, not {family}")
    found_role = hparams.get("role", "generator")
    if role is not None and found_role != role:
        raise CheckpointError(
            f"this file holds a {mod.FAMILY} {found_role}, not a {role}"
            + (": image tools need the generator (files named like latest_net_G.pth or *_netG.pth)"
               if role == "generator" else "")
        )
    too_big = limits.exceeded(mod.FAMILY, hparams)
    if too_big:
        raise ImplausibleCheckpoint(f"{label} {too_big}: it is damaged or not a real model, and was not built")
    sd = mod.prepare_state_dict(sd, hparams)
    _check_against_file(mod, hparams, sd, label)
    net = mod.build(**hparams)
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:  # past the meta check this is torch's several-line report: keep it one line
        raise CheckpointError(f"{mod.FAMILY} checkpoint has tensors of the wrong shape: "
                              f"{' '.join(str(exc).split())[:300]}") from exc
    net.eval().to(device)
    desc = ModelDescription(mod.FAMILY, hparams, source_format, container, extras, path)
    desc.extras.update(getattr(mod, "extras", lambda _net: {})(net))  # e.g. StyleGAN2-ADA's w_avg
    return net, desc


def _diff_keys(expected: Mapping, given: Mapping) -> tuple[list, list]:
    e, g = set(expected), set(given)
    return sorted(e - g), sorted(g - e)
