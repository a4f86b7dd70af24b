"""DCGAN generator and discriminator in the pytorch/examples ``dcgan/main.py`` layout.

Paper: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep Convolutional Generative
Adversarial Networks" (ICLR 2016). Checkpoints: ``netG_epoch_*.pth`` / ``netD_epoch_*.pth`` written by
pytorch/examples (BSD-3-Clause code; the weights are whatever the user trained). Written from
../shared/parity/dcgan/SPEC.md.

z (B, nz, 1, 1) standard normal (a (B, nz) tensor is accepted too) -> image (B, nc, size, size) in (-1, 1).

``size`` is 64 in the official script; any power of two >= 8 works here by adding or removing one
(transposed) convolution stage per factor of two, channels doubling per stage towards the 4x4 end
(32 px: ngf*4 -> ngf*2 -> ngf; 128 px: ngf*16 -> ... -> ngf). At 64 px the layout, key names and shapes
are exactly the official ones.

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

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, batch_stats: bool = False, size: int = 64) -> None:
        super().__init__()
        stages = _stages(size)
        self.nz, self.ngf, self.nc, self.size = nz, ngf, nc, size
        self.batch_stats = batch_stats
        mult = 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, ngf * mult, 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(ngf * mult), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

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
    """pytorch/examples ``Discriminator``: image (B, nc, size, size) -> probability (B,) after a sigmoid."""

    def __init__(self, nc: int = 3, ndf: int = 64, size: int = 64) -> None:
        super().__init__()
        stages = _stages(size)
        self.nc, self.ndf, self.size = nc, ndf, size
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        mult = 1
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ndf * mult, ndf * mult * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * mult * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            mult *= 2
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 0, bias=False), nn.Sigmoid()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


def _stages(size: int) -> int:
    """Stride-2 stages between the 4x4 end and ``size`` (4 at the official 64 px)."""
    size = int(size)
    if size < 8 or size & (size - 1):
        raise ValueError(f"DCGAN size must be a power of two >= 8, got {size}")
    return size.bit_length() - 1 - 2


def _conv_indices(state_dict: Mapping[str, torch.Tensor]) -> list[int] | None:
    """Indices K of the 4-D ``main.K.weight`` tensors, in order (None if a key is not ``main.<int>...``)."""
    out = []
    for k, v in state_dict.items():
        parts = k.split(".")
        if len(parts) != 3 or parts[0] != "main" or not parts[1].isdigit():
            return None
        if parts[2] == "weight" and v.ndim == 4:
            out.append(int(parts[1]))
    return sorted(out)


def detect(state_dict: Mapping[str, torch.Tensor]) -> dict | None:
    """Generator (``netG_epoch_*.pth``): ``{nz, ngf, nc}`` (+ ``size`` when it is not 64); discriminator
    (``netD_epoch_*.pth``): ``{role: "discriminator", nc, ndf}`` (+ ``size``). Generators carry no ``role``
    key, as in every family. The layer indices must be exactly the (size-dependent) official ones."""
    convs = _conv_indices(state_dict)
    if not convs or len(convs) < 2:
        return None
    n = len(convs)  # stages + 1
    size = 2 ** (n + 1)
    first, last = state_dict[f"main.{convs[0]}.weight"], state_dict[f"main.{convs[-1]}.weight"]
    if tuple(first.shape[2:]) != (4, 4) or tuple(last.shape[2:]) != (4, 4):
        return None
    g_idx = [3 * i for i in range(n)]  # ConvT, BN, ReLU per stage; the last ConvT then Tanh
    d_idx = [0] + [2 + 3 * i for i in range(n - 1)]  # Conv, LReLU; then Conv, BN, LReLU per stage
    if convs == g_idx and f"main.{g_idx[-1] - 2}.running_mean" in state_dict:
        nz, ngf, nc = int(first.shape[0]), int(last.shape[0]), int(last.shape[1])
        if int(first.shape[1]) != ngf * 2 ** (n - 2):
            return None
        hp = {"nz": nz, "ngf": ngf, "nc": nc}
        return hp if size == 64 else {**hp, "size": size}
    if convs == d_idx and int(last.shape[0]) == 1:
        hp = {"role": "discriminator", "nc": int(first.shape[1]), "ndf": int(first.shape[0])}
        return hp if size == 64 else {**hp, "size": size}
    return None


def prepare_state_dict(state_dict: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return dict(state_dict)


def build(role: str = "generator", **hparams) -> nn.Module:
    if role == "discriminator":
        return Discriminator(**hparams)
    return Generator(**hparams)
