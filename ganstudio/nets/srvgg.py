"""SRVGGNetCompact: the small, fast VGG-style super-resolution network of Real-ESRGAN.

Paper: Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data",
ICCV-W 2021 (the compact network was released later with the ``realesr-animevideov3`` and
``realesr-general-x4v3`` models). Official repo whose checkpoints load unchanged: xinntao/Real-ESRGAN
(``realesr-animevideov3.pth`` etc., key ``params``), BSD-3-Clause.

Layout (key names as in the official files): ``body`` is one flat list
``[conv_in, act, (conv, act) * num_conv, conv_out]`` with 3x3 convs (zero padding 1, bias) and PReLU
activations (one slope per channel). ``conv_out`` produces ``num_out_ch * upscale**2`` channels, a PixelShuffle
turns them into the high-resolution residual, and the output is that residual plus the input upsampled
by nearest-neighbour.

The x2 and x3 animevideov3 models that ship in ncnn form are the x4 network followed by a bicubic
downscale; ``out_scale`` (2 or 3) reproduces that step and is stored in our converted files as the 0-dim
buffer ``out_scale`` (absent when the output scale equals ``upscale``, as in the official ``.pth`` files).

Input (B, 3, H, W) RGB in [0, 1]; output (B, 3, H*scale, W*scale), raw (callers clamp to [0, 1]).
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn
from torch.nn import functional as F

FAMILY = "srvgg"

_ACTS = ("prelu", "relu", "leakyrelu")


def _act(kind: str, num_feat: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)
    raise ValueError(f"unknown activation {kind!r}; expected one of {_ACTS}")


class SRVGGNetCompact(nn.Module):
    """See the module docstring. channels_last measured faster (bench/nets.py: CPU 26 -> 19 ms, H100 1.6 -> 1.3 ms
    at 128x128 in), hence ``prefers_channels_last``."""

    prefers_channels_last = True

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_conv: int = 16,
                 upscale: int = 4, act_type: str = "prelu", out_scale: int | None = None):
        super().__init__()
        self.upscale = upscale
        self.scale = out_scale or upscale
        self.input_multiple = 1
        self.num_in_ch, self.num_out_ch = num_in_ch, num_out_ch
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _act(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _act(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * upscale * upscale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(upscale)
        if out_scale is not None and out_scale != upscale:
            self.register_buffer("out_scale", torch.tensor(float(out_scale)))
            self._resize = int(out_scale)
        else:
            self._resize = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [0, 1] -> (B, C, sH, sW), raw
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        out = out + F.interpolate(x, scale_factor=float(self.upscale), mode="nearest")
        if self._resize:
            h, w = x.shape[-2:]
            out = F.interpolate(out, size=(h * self._resize, w * self._resize), mode="bicubic",
                                align_corners=False)
        return out


_BODY_KEY = re.compile(r"^body\.(\d+)\.(weight|bias)$")


def detect(sd: Mapping[str, torch.Tensor]) -> dict | None:
    extra = set(sd) - {"out_scale"}
    if not extra or "body.0.weight" not in sd:
        return None
    idx: dict[int, dict[str, torch.Tensor]] = {}
    for key in extra:
        m = _BODY_KEY.match(key)
        if not m:
            return None
        idx.setdefault(int(m.group(1)), {})[m.group(2)] = sd[key]
    last = max(idx)
    # conv_in at 0, conv_out at last, with (act, conv) pairs between: the conv indices are even
    if last % 2 or last < 2:
        return None
    convs = [idx.get(i, {}).get("weight") for i in range(0, last + 1, 2)]
    if any(w is None or w.ndim != 4 or tuple(w.shape[-2:]) != (3, 3) for w in convs):
        return None
    acts = [idx.get(i, {}).get("weight") for i in range(1, last, 2)]
    if all(a is not None and a.ndim == 1 for a in acts):
        act_type = "prelu"
    else:
        return None  # parameter-free activations cannot be told apart from the keys
    num_feat = int(convs[0].shape[0])
    num_in_ch = int(convs[0].shape[1])
    num_out_ch = num_in_ch
    up2, rem = divmod(int(convs[-1].shape[0]), num_out_ch)
    upscale = int(round(up2 ** 0.5))
    if rem or upscale * upscale != up2 or upscale < 1:
        return None
    hp = {"num_in_ch": num_in_ch, "num_out_ch": num_out_ch, "num_feat": num_feat, "num_conv": len(convs) - 2,
          "upscale": upscale, "act_type": act_type}
    if "out_scale" in sd:
        hp["out_scale"] = int(round(float(sd["out_scale"])))
    return hp


def prepare_state_dict(sd: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return dict(sd)


def build(**hparams) -> SRVGGNetCompact:
    return SRVGGNetCompact(**hparams)
