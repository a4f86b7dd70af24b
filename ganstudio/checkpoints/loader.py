"""Load any supported checkpoint: read safely, unwrap containers, detect the family, build, load strictly.

Pipeline (DESIGN.md "Models"): safe read (``checkpoint_io.read_checkpoint``) -> unwrap containers
(params_ema / params / g_ema / state_dict) -> strip ``module.`` -> ask each network family whether it
recognises the keys and shapes (``detect``) -> let it rename foreign namings / drop stale keys
(``prepare_state_dict``) -> ``build(**hparams)`` -> ``load_state_dict(strict=True)`` -> ``eval()``.

Every family module in ``FAMILY_MODULES`` exposes:
    FAMILY: str                                   e.g. "rrdbnet"
    detect(state_dict) -> dict | None             build kwargs when the keys/shapes are this family's
    prepare_state_dict(state_dict, hparams) -> dict   official key names, stale entries dropped
    build(**hparams) -> torch.nn.Module
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from ganstudio.checkpoints.reader import CheckpointError, read_checkpoint

# Order matters only where two families could claim the same keys (none do today).
FAMILY_MODULES = [
    "ganstudio.nets.rrdbnet",
    "ganstudio.nets.srvgg",
    "ganstudio.nets.cyclegan",
    "ganstudio.nets.spade",
    "ganstudio.nets.stylegan2",
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
        sd[k] = v
    if not sd:
        raise CheckpointError("the file holds no tensors: it is not a network checkpoint")
    return sd, container, extras


def detect_family(sd: Mapping[str, torch.Tensor]) -> tuple[Any, dict]:
    for mod in _family_modules():
        hparams = mod.detect(sd)
        if hparams is not None:
            return mod, hparams
    sample = ", ".join(list(sd)[:6])
    raise CheckpointError(
        "not a recognised network: the keys match none of DCGAN, StyleGAN2, SPADE, CycleGAN/pix2pix, "
        f"RRDBNet (ESRGAN/Real-ESRGAN) or SRVGGNetCompact (first keys: {sample})"
    )


def load_model(source, family: str | None = None, device: str | torch.device = "cpu",
               role: str | None = "generator"):
    """Load ``source`` (a path or an in-memory state dict / checkpoint dict).

    Returns ``(module, ModelDescription)`` with the module in eval mode on ``device``.
    ``family`` (e.g. "rrdbnet") makes a file of another family an error instead of a surprise.
    ``role`` is "generator" (what every engine needs: a discriminator file is refused with a clear
    message), "discriminator" (training; picks a training checkpoint's "d" container), or None (either,
    used to describe a file being imported into the library).
    """
    path = ""
    if isinstance(source, (str, Path)):
        path = str(source)
        obj, source_format = read_checkpoint(path)
    else:
        obj, source_format = source, "state_dict object"
    sd, container, extras = unwrap_state_dict(obj, role=role)
    mod, hparams = detect_family(sd)
    if family is not None and mod.FAMILY != family:
        raise CheckpointError(f"this is a {mod.FAMILY} checkpoint, not {family}")
    found_role = hparams.get("role", "generator")
    if role is not None and found_role != role:
        raise CheckpointError(
            f"this file holds a {mod.FAMILY} {found_role}, not a {role}"
            + (": image tools need the generator (files named like latest_net_G.pth or *_netG.pth)"
               if role == "generator" else "")
        )
    sd = mod.prepare_state_dict(sd, hparams)
    net = mod.build(**hparams)
    missing, unexpected = _diff_keys(net.state_dict(), sd)
    if missing or unexpected:
        raise CheckpointError(
            f"{mod.FAMILY} checkpoint does not match the network it describes: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{mod.FAMILY} checkpoint has tensors of the wrong shape: {exc}") from exc
    net.eval().to(device)
    desc = ModelDescription(mod.FAMILY, hparams, source_format, container, extras, path)
    return net, desc


def _diff_keys(expected: Mapping, given: Mapping) -> tuple[list, list]:
    e, g = set(expected), set(given)
    return sorted(e - g), sorted(g - e)
