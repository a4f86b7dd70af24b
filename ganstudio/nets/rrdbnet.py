"""RRDBNet (ESRGAN / Real-ESRGAN generator) and the U-Net discriminator with spectral norm.

Papers:
  * Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV-W 2018.
  * Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data",
    ICCV-W 2021 (the U-Net discriminator with spectral norm, and the pixel-unshuffle front end).

Checkpoints loaded unchanged:
  * xinntao/Real-ESRGAN and XPixelGroup/BasicSR releases (``RealESRGAN_x4plus.pth``, ``RealESRNet_x4plus.pth``,
    ``RealESRGAN_x2plus.pth``, ``RealESRGAN_x4plus_anime_6B.pth``): BSD-3-Clause. The state dict sits under
    ``params_ema`` (or ``params``).
  * xinntao/ESRGAN (``RRDB_ESRGAN_x4.pth``, ``RRDB_PSNR_x4.pth``): Apache-2.0. Plain state dicts in either the
    2019+ naming (``RRDB_trunk.*``) or the original 2018 naming (``model.N.*``); :func:`prepare_state_dict`
    renames both to the BasicSR naming used by this module.

Written from ../shared/parity/esrgan/SPEC.md. Input is RGB in [0, 1], shape (B, 3, H, W); the output is the
raw network output (B, 3, H*scale, W*scale), which callers clamp to [0, 1]. For scale 2 (1) H and W must be
multiples of 2 (4): see :attr:`RRDBNet.input_multiple`.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn
from torch.nn import functional as F

FAMILY = "rrdbnet"

_SLOPE = 0.2  # every LeakyReLU in ESRGAN


def _conv(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs with dense connections; returns 0.2 * conv5(...) + x."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        nf, gc = num_feat, num_grow_ch
        self.conv1 = _conv(nf, gc)
        self.conv2 = _conv(nf + gc, gc)
        self.conv3 = _conv(nf + 2 * gc, gc)
        self.conv4 = _conv(nf + 3 * gc, gc)
        self.conv5 = _conv(nf + 4 * gc, nf)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = F.leaky_relu(self.conv1(x), _SLOPE)
        x2 = F.leaky_relu(self.conv2(torch.cat((x, x1), 1)), _SLOPE)
        x3 = F.leaky_relu(self.conv3(torch.cat((x, x1, x2), 1)), _SLOPE)
        x4 = F.leaky_relu(self.conv4(torch.cat((x, x1, x2, x3), 1)), _SLOPE)
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a scaled long skip."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator in the BasicSR layout. ``scale`` 4 feeds the image directly; 2 and 1 pixel-unshuffle it
    by 2 / 4 first, so the body always works on a grid that the x4 upsampler brings to ``scale`` x input.

    Measured (bench/nets.py, x4 23 blocks, 128x128 in): channels_last is faster on CPU (16 threads: 880 -> 617 ms)
    and on an H100 (fp32/TF32: 33 -> 20 ms), hence ``prefers_channels_last``. Autocast fp16/bf16 runs (every op
    here has half kernels); on the H100 it saved memory rather than time at batch 1.
    """

    prefers_channels_last = True

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet scale must be 1, 2 or 4, not {scale}")
        self.scale = scale
        self.unshuffle = 4 // scale  # 1, 2 or 4
        self.input_multiple = self.unshuffle  # H and W must be divisible by this
        self.num_in_ch, self.num_out_ch = num_in_ch, num_out_ch
        self.conv_first = _conv(num_in_ch * self.unshuffle ** 2, num_feat)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = _conv(num_feat, num_feat)
        self.conv_up1 = _conv(num_feat, num_feat)
        self.conv_up2 = _conv(num_feat, num_feat)
        self.conv_hr = _conv(num_feat, num_feat)
        self.conv_last = _conv(num_feat, num_out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [0, 1] -> (B, C, sH, sW), raw
        if self.unshuffle > 1:
            r = self.unshuffle
            if x.shape[-2] % r or x.shape[-1] % r:
                raise ValueError(f"RRDBNet x{self.scale}: height and width must be multiples of {r}, "
                                 f"got {tuple(x.shape[-2:])} (pad the image first)")
            x = F.pixel_unshuffle(x, r)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = F.leaky_relu(self.conv_up1(F.interpolate(feat, scale_factor=2.0, mode="nearest")), _SLOPE)
        feat = F.leaky_relu(self.conv_up2(F.interpolate(feat, scale_factor=2.0, mode="nearest")), _SLOPE)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), _SLOPE))


# --------------------------------------------------------------------------------------------- loading

# The three namings of the same tensors (SPEC.md section 3). Each rule maps a foreign key to the BasicSR key.
_RULES_2019 = [
    (re.compile(r"^RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)$"), r"body.\1.rdb\2.conv\3.\4"),
    (re.compile(r"^trunk_conv\.(weight|bias)$"), r"conv_body.\1"),
    (re.compile(r"^upconv1\.(weight|bias)$"), r"conv_up1.\1"),
    (re.compile(r"^upconv2\.(weight|bias)$"), r"conv_up2.\1"),
    (re.compile(r"^HRconv\.(weight|bias)$"), r"conv_hr.\1"),
    (re.compile(r"^(conv_first|conv_last)\.(weight|bias)$"), r"\1.\2"),
]


def _rules_2018(num_block: int):
    # model.1 is a residual wrapper whose `sub` Sequential holds the RRDBs, then the trunk conv at index num_block;
    # each dense conv is wrapped in a Sequential (the extra `.0.`).
    return [
        (re.compile(r"^model\.0\.(weight|bias)$"), r"conv_first.\1"),
        (re.compile(r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$"), r"body.\1.rdb\2.conv\3.\4"),
        (re.compile(rf"^model\.1\.sub\.{num_block}\.(weight|bias)$"), r"conv_body.\1"),
        (re.compile(r"^model\.3\.(weight|bias)$"), r"conv_up1.\1"),
        (re.compile(r"^model\.6\.(weight|bias)$"), r"conv_up2.\1"),
        (re.compile(r"^model\.8\.(weight|bias)$"), r"conv_hr.\1"),
        (re.compile(r"^model\.10\.(weight|bias)$"), r"conv_last.\1"),
    ]


def naming_of(sd: Mapping[str, torch.Tensor]) -> str | None:
    """"basicsr", "esrgan2019", "esrgan2018" or None."""
    if "conv_first.weight" in sd and "body.0.rdb1.conv1.weight" in sd:
        return "basicsr"
    if "conv_first.weight" in sd and "RRDB_trunk.0.RDB1.conv1.weight" in sd:
        return "esrgan2019"
    if "model.0.weight" in sd and "model.1.sub.0.RDB1.conv1.0.weight" in sd:
        return "esrgan2018"
    return None


_BLOCK_INDEX = {
    "basicsr": re.compile(r"^body\.(\d+)\.rdb1\.conv1\.weight$"),
    "esrgan2019": re.compile(r"^RRDB_trunk\.(\d+)\.RDB1\.conv1\.weight$"),
    "esrgan2018": re.compile(r"^model\.1\.sub\.(\d+)\.RDB1\.conv1\.0\.weight$"),
}
_FIRST_LAST = {
    "basicsr": ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_last.weight"),
    "esrgan2019": ("conv_first.weight", "RRDB_trunk.0.RDB1.conv1.weight", "conv_last.weight"),
    "esrgan2018": ("model.0.weight", "model.1.sub.0.RDB1.conv1.0.weight", "model.10.weight"),
}


def detect(sd: Mapping[str, torch.Tensor]) -> dict | None:
    """RRDBNet hparams from any of the three namings, or, for a Real-ESRGAN / BasicSR ``*_netD.pth``
    (:class:`UNetDiscriminatorSN`, under ``params``), ``{"role": "discriminator", num_in_ch, num_feat,
    skip_connection}``. Generators carry no ``role`` key (the convention of every family)."""
    naming = naming_of(sd)
    if naming is None:
        return _detect_unet_discriminator(sd)
    first, dense1, last = _FIRST_LAST[naming]
    if last not in sd:
        return None
    w_first, w_dense, w_last = sd[first], sd[dense1], sd[last]
    if w_first.ndim != 4 or w_dense.ndim != 4 or w_last.ndim != 4:
        return None
    pat = _BLOCK_INDEX[naming]
    indices = {int(m.group(1)) for k in sd if (m := pat.match(k))}
    num_block = max(indices) + 1
    num_out_ch = int(w_last.shape[0])
    num_in_first = int(w_first.shape[1])
    # conv_first sees num_in_ch * (4 / scale)^2 channels; the released models have num_in_ch == num_out_ch
    ratio, rem = divmod(num_in_first, num_out_ch)
    scale = {1: 4, 4: 2, 16: 1}.get(ratio) if rem == 0 else None
    if scale is None:
        return None
    return {
        "num_in_ch": num_out_ch,
        "num_out_ch": num_out_ch,
        "scale": scale,
        "num_feat": int(w_first.shape[0]),
        "num_block": num_block,
        "num_grow_ch": int(w_dense.shape[0]),
    }


def _rename(sd: Mapping[str, torch.Tensor], rules) -> dict:
    out = {}
    for key, value in sd.items():
        for pattern, repl in rules:
            if pattern.match(key):
                out[pattern.sub(repl, key)] = value
                break
        else:
            out[key] = value  # left as is: load_model reports it as unexpected
    return out


def rename_keys(sd: Mapping[str, torch.Tensor], num_block: int | None = None) -> dict:
    """Rename a state dict from any of the three ESRGAN namings to the BasicSR naming (order kept)."""
    naming = naming_of(sd)
    if naming == "esrgan2019":
        return _rename(sd, _RULES_2019)
    if naming == "esrgan2018":
        if num_block is None:
            num_block = detect(sd)["num_block"]
        return _rename(sd, _rules_2018(num_block))
    return dict(sd)


def prepare_state_dict(sd: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return rename_keys(sd, hparams.get("num_block"))


def build(role: str | None = None, **hparams) -> nn.Module:
    """RRDBNet, or :class:`UNetDiscriminatorSN` for ``role="discriminator"``."""
    if role == "discriminator":
        return UNetDiscriminatorSN(**hparams)
    if role not in (None, "generator"):
        raise ValueError(f"unknown role {role!r}; expected 'generator' or 'discriminator'")
    return RRDBNet(**hparams)


_UNET_D_SN = ("conv1", "conv2", "conv3", "conv4", "conv5", "conv6", "conv7", "conv8")


def _detect_unet_discriminator(sd: Mapping[str, torch.Tensor]) -> dict | None:
    """UNetDiscriminatorSN keys: conv0 / conv9 plain (weight, bias), conv1..conv8 spectral-normalised
    (weight_orig, weight_u, weight_v). ``skip_connection`` has no weights: the released models use True."""
    expected = {"conv0.weight", "conv0.bias", "conv9.weight", "conv9.bias"}
    expected |= {f"{c}.{s}" for c in _UNET_D_SN for s in ("weight_orig", "weight_u", "weight_v")}
    if set(sd) != expected:
        return None
    w0, w1, w9 = sd["conv0.weight"], sd["conv1.weight_orig"], sd["conv9.weight"]
    if w0.ndim != 4 or w1.ndim != 4 or w9.ndim != 4 or int(w9.shape[0]) != 1:
        return None
    nf = int(w0.shape[0])
    if tuple(w1.shape) != (2 * nf, nf, 4, 4) or tuple(w0.shape[-2:]) != (3, 3):
        return None
    return {"role": "discriminator", "num_in_ch": int(w0.shape[1]), "num_feat": nf, "skip_connection": True}


# ------------------------------------------------------------------------------- U-Net discriminator (SN)

class UNetDiscriminatorSN(nn.Module):
    """Real-ESRGAN's U-Net discriminator: three stride-2 encoder stages and three bilinear-upsampling decoder
    stages with skip connections, spectral norm on every inner conv, one logit per pixel.

    Key names follow the Real-ESRGAN training checkpoints (``net_d``): conv0..conv9, with ``weight_orig`` /
    ``weight_u`` / ``weight_v`` on the spectrally normalised convs.
    Input (B, num_in_ch, H, W) with H, W multiples of 8; output (B, 1, H, W) raw logits.
    """

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, skip_connection: bool = True):
        super().__init__()
        sn = nn.utils.spectral_norm
        nf = num_feat
        self.skip_connection = skip_connection
        self.conv0 = nn.Conv2d(num_in_ch, nf, 3, 1, 1)
        # encoder
        self.conv1 = sn(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        # decoder
        self.conv4 = sn(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        # head
        self.conv7 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def act(t):
            return F.leaky_relu(t, _SLOPE)

        def up(t):
            return F.interpolate(t, scale_factor=2.0, mode="bilinear", align_corners=False)

        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        x4 = act(self.conv4(up(x3)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = act(self.conv5(up(x4)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = act(self.conv6(up(x5)))
        if self.skip_connection:
            x6 = x6 + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)
