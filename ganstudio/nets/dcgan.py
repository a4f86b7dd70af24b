"""DCGAN generator and discriminator in the pytorch/examples ``dcgan/main.py`` layout.

Paper: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks" (ICLR 2016). Checkpoints: ``netG_epoch_*.pth`` / ``netD_epoch_*.pth`` written by
pytorch/examples (BSD-3-Clause code; the weights are whatever the user trained). Written from
../shared/parity/dcgan/SPEC.md.

z (B, nz, 1, 1) standard normal (a (B, nz) tensor is accepted too) -> image (B, nc, 64, 64) in (-1, 1).

The official script never calls ``eval()``: its sample grids are made with BatchNorm using the statistics of
the batch. ``Generator(batch_stats=True)`` (or ``forward(z, batch_stats=True)``) reproduces that without
touching the stored running statistics; the default uses the running statistics (``eval()`` semantics).
"""
from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

FAMILY = "dcgan"


class Generator(nn.Module):
    # channels_last measured faster on the CPU here (tiny-model check, ngf 64, batch 1, 1 thread, median of 20
    # interleaved runs: 8.1 -> 5.2 ms per forward), hence ``prefers_channels_last``.
    prefers_channels_last = True

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, batch_stats: bool = False) -> None:
        super().__init__()
        self.nz, self.ngf, self.nc = nz, ngf, nc
        self.batch_stats = batch_stats
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, batch_stats: bool | None = None) -> torch.Tensor:
        if z.ndim == 2:
            z = z[:, :, None, None]
        use_batch = self.batch_stats if batch_stats is None else batch_stats
        if self.training or not use_batch:
            return self.main(z)
        # official sampling: normalise with this batch's statistics (biased variance), running stats untouched
        x = z
        for layer in self.main:
            if isinstance(layer, nn.BatchNorm2d):
                x = F.batch_norm(x, None, None, layer.weight, layer.bias, training=True, eps=layer.eps)
            else:
                x = layer(x)
        return x


class Discriminator(nn.Module):
    """pytorch/examples ``Discriminator``: image (B, nc, 64, 64) -> probability (B,) after a sigmoid."""

    def __init__(self, nc: int = 3, ndf: int = 64) -> None:
        super().__init__()
        self.nc, self.ndf = nc, ndf
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


_G_KEYS = {"main.0.weight", "main.1.running_mean", "main.12.weight", "main.10.weight"}
_D_KEYS = {"main.0.weight", "main.3.running_mean", "main.11.weight", "main.9.weight"}


def detect(state_dict: Mapping[str, torch.Tensor]) -> dict | None:
    """Generator (``netG_epoch_*.pth``): ``{nz, ngf, nc}``; discriminator (``netD_epoch_*.pth``): ``{role:
    "discriminator", nc, ndf}`` (generators carry no ``role`` key, as in every family)."""
    if not all(k.startswith("main.") for k in state_dict):
        return None
    if _G_KEYS <= set(state_dict) and "main.13.weight" not in state_dict:
        w0, w12 = state_dict["main.0.weight"], state_dict["main.12.weight"]
        if w0.ndim != 4 or w12.ndim != 4 or tuple(w0.shape[2:]) != (4, 4):
            return None
        nz, ngf8 = int(w0.shape[0]), int(w0.shape[1])
        ngf, nc = int(w12.shape[0]), int(w12.shape[1])
        if ngf8 != 8 * ngf:
            return None
        return {"nz": nz, "ngf": ngf, "nc": nc}
    if _D_KEYS <= set(state_dict) and "main.12.weight" not in state_dict:
        w0, w11 = state_dict["main.0.weight"], state_dict["main.11.weight"]
        if w0.ndim != 4 or w11.ndim != 4 or int(w11.shape[0]) != 1:
            return None
        return {"role": "discriminator", "nc": int(w0.shape[1]), "ndf": int(w0.shape[0])}
    return None


def prepare_state_dict(state_dict: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return dict(state_dict)


def build(role: str = "generator", **hparams) -> nn.Module:
    if role == "discriminator":
        return Discriminator(**hparams)
    return Generator(**hparams)
