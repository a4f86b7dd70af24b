"""A generator opened for the latent tools: the shared cached network plus what the tools need to know about it.

``open_model(ref, device="auto", precision="auto")`` is the one way in. It resolves the runtime once
(``runtime.resolve_runtime``), takes the network from the one model cache (``checkpoints.cache.get_model``:
shared, eval mode, read-only; nothing here changes it) and wraps it in a ``LatentModel``. The wrapper is
cheap and built per job; the only thing derived from a network and kept is the truncation centre of a
checkpoint that stores none (``mean_latent(4096)``), remembered per network object and forgotten with it.

Precision: "auto" means fp32 for the latent engine, on every device. Measured here (bench/latent.py, 2-core
AMX CPU, random-init StyleGAN2, fp32 and bf16 renders interleaved on a heavily shared machine), bf16 autocast
of the synthesis network was 1.6-1.8x faster at 64 px (one image or a 16-image grid), 1.3x for one 256 px
image, and no faster at 1024 px (0.95x; 0.4x in a sequential run: upfirdn2d and the modulation arithmetic are
not AMX matrix products), at 42-47 dB PSNR against fp32. No clear win at the sizes real checkpoints have,
and a recipe re-rendered in another precision would not give back the same pixels, so fp32 it is; fp16 / bf16
stay one setting away (Settings > Precision, ``--precision``: worth it for small models). The mapping network
always runs in fp32, so W / W+ latents (and the recipes that store them) do not depend on the precision.
Projection optimises in fp32 whatever is asked (see projection.py).
"""
from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.core.errors import UserError
from ganstudio.core.files import cached_sha256
from ganstudio.runtime import Runtime, resolve_runtime


class LatentError(UserError, ValueError):
    """A latent request that cannot be served, with a user-facing message."""


@dataclass
class LatentModel:
    """A loaded generator plus what the latent tools need to know about it. ``net`` is the shared cached
    module: read-only (an engine that must change it asks the cache for a private copy)."""

    net: torch.nn.Module
    family: str  # "stylegan2" (rosinality .pt) | "stylegan2_ada" (NVlabs .pkl) | "dcgan"
    hparams: dict
    sha256: str
    path: str
    z_dim: int
    w_dim: int
    n_latent: int  # rows of W+ (1 for DCGAN)
    resolution: int
    latent_avg: torch.Tensor | None = None  # (1, D) truncation centre (StyleGAN2), on the model's device
    runtime: Runtime = field(default_factory=lambda: Runtime(torch.device("cpu"), "fp32"))
    # Class-conditional generators (NVlabs StyleGAN2-ADA .pkl with c_dim > 0) take a class label as well as z;
    # a render state names it as "class_index". 0 = unconditional.
    c_dim: int = 0

    @property
    def is_stylegan(self) -> bool:
        """A StyleGAN2 generator, in either layout: both nets speak rosinality's generator API (get_latent,
        synthesis, stored_noise, ...), so every tool treats them alike."""
        return self.family in STYLEGAN_FAMILIES

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def describe(self) -> dict:
        return {"family": self.family, "hparams": dict(self.hparams), "sha256": self.sha256, "path": self.path,
                "z_dim": self.z_dim, "w_dim": self.w_dim, "n_latent": self.n_latent,
                "resolution": self.resolution, "c_dim": self.c_dim, "runtime": self.runtime.as_kwargs()}


STYLEGAN_FAMILIES = ("stylegan2", "stylegan2_ada")
LATENT_FAMILIES = (*STYLEGAN_FAMILIES, "dcgan")

# CheckpointError messages about the file itself (not about its network), which need no hint about families
_FILE_DAMAGE = ("truncated", "not a PyTorch", "damaged", "checksum", "cannot read", "empty", "not on this machine",
                "neither a file", "no such")

# truncation centres computed for checkpoints that store none, per shared network (dropped with it)
_centres: weakref.WeakKeyDictionary[torch.nn.Module, torch.Tensor] = weakref.WeakKeyDictionary()


def latent_runtime(device="auto", precision="auto") -> Runtime:
    """The one ``resolve_runtime`` call of a latent job; "auto" precision is fp32 here (module docstring)."""
    if isinstance(device, Runtime):
        return device
    prec = precision if precision not in (None, "", "auto") else "fp32"
    return resolve_runtime(device, prec)


def _load(ref, device: torch.device):
    from ganstudio.checkpoints.cache import get_model

    name = Path(str(ref)).name
    try:
        return get_model(ref, device=device)
    except CheckpointError as exc:  # e.g. a discriminator file: say what the latent tools need
        msg = str(exc)
        if name not in msg:
            msg = f"{name}: {msg}"
        if not any(w in msg for w in _FILE_DAMAGE):
            msg += "; the latent tools need a StyleGAN2 or DCGAN generator"
        raise LatentError(msg) from exc


def _centre(net: torch.nn.Module, desc, device: torch.device) -> torch.Tensor:
    """The truncation centre: the file's own (rosinality's latent_avg, a pickle's w_avg, both handed over as
    ``extras["latent_avg"]``), else a seeded mean of 4096 mapped z, computed once per network."""
    avg = desc.extras.get("latent_avg")
    if avg is not None:
        return avg.reshape(1, -1).float().to(device)
    hit = _centres.get(net)
    if hit is None:
        gen = torch.Generator().manual_seed(0)
        with torch.inference_mode():
            if desc.family == "stylegan2_ada":  # a pickle without w_avg: mean over z and every class
                c_dim = int(getattr(net, "c_dim", 0))
                z = torch.randn(4096, net.z_dim, generator=gen).to(device)
                hit = net.get_latent(z, [i % c_dim for i in range(4096)] if c_dim else None)
                hit = hit.mean(0, keepdim=True).float()
            else:  # deterministic stand-in for the official (random) mean_latent(4096)
                hit = net.mean_latent(4096, generator=gen).float()
        _centres[net] = hit
    return hit.to(device)


def open_model(model: str | os.PathLike | LatentModel, device="auto", precision="auto") -> LatentModel:
    """A StyleGAN2 (rosinality .pt, or NVlabs StyleGAN2-ADA .pkl) or DCGAN generator for the latent tools, from
    a file path or a manifest / library id."""
    if isinstance(model, LatentModel):
        return model
    rt = latent_runtime(device, precision)
    net, desc = _load(model if not isinstance(model, Path) else str(model), rt.device)
    path = Path(desc.path) if getattr(desc, "path", "") else Path(str(model))
    if desc.family not in LATENT_FAMILIES or desc.hparams.get("role") == "discriminator":
        raise LatentError(f"{path.name} is a {desc.family} {desc.hparams.get('role', 'network')}; the latent "
                          "tools need a StyleGAN2 or DCGAN generator")
    sha = cached_sha256(path)  # hashed once per (path, size, mtime), shared with the model cache
    if desc.family in STYLEGAN_FAMILIES:
        w_dim = net.style_dim
        # a pickle's z and w may differ in size, and it may be class-conditional; rosinality's may not
        return LatentModel(net, desc.family, dict(desc.hparams), sha, str(path), int(getattr(net, "z_dim", w_dim)),
                           w_dim, net.n_latent, net.size, _centre(net, desc, rt.device), rt,
                           c_dim=int(getattr(net, "c_dim", 0)))
    nz = net.nz
    return LatentModel(net, "dcgan", dict(desc.hparams), sha, str(path), nz, nz, 1, int(net.size), None, rt)
