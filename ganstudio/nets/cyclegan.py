"""CycleGAN / pix2pix generators and the PatchGAN discriminator, with the official state-dict key names.

Papers: Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks" (ICCV 2017) and Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial
Networks" (CVPR 2017). Checkpoints loaded: those of junyanz/pytorch-CycleGAN-and-pix2pix (``latest_net_G.pth``,
``<epoch>_net_G_A.pth`` / ``_net_G_B.pth`` / ``_net_D_A.pth``), released under the repository's BSD licence (its LICENSE file).

Written from ../shared/parity/cyclegan/SPEC.md (no code copied). Layouts:

* ``ResnetGenerator`` (``resnet_6blocks`` / ``resnet_9blocks``): one ``nn.Sequential`` called ``model``;
  reflection pads and parameter-free layers still use up an index, so the keys are ``model.1``, ``model.4``, ...
* ``UnetGenerator`` (``unet_128`` / ``unet_256``): recursive skip blocks, each owning a Sequential ``model``.
* ``NLayerDiscriminator``: the 70x70 PatchGAN (``n_layers=3``) and its variants.

Tensors: generator input and output are ``(B, C, H, W)`` in [-1, 1] (RGB for C=3).

Old public CycleGAN files (saved before PyTorch 0.4) carry InstanceNorm ``running_mean`` / ``running_var`` /
``num_batches_tracked`` entries that InstanceNorm(track_running_stats=False) never uses; ``prepare_state_dict``
drops them, as the official loader does.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

FAMILY = "cyclegan"

NORMS = ("instance", "batch")


class PatchableBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d (same keys) that can be told to normalise with the statistics of the current batch
    without touching its stored running statistics.

    The official pix2pix ``test.py`` never calls ``eval()`` unless ``--eval`` is given, so its BatchNorm
    layers use batch statistics at test time. ``use_batch_stats = True`` reproduces that while the module
    stays in eval mode (so nothing else, e.g. dropout, changes and the checkpoint is not modified).
    """

    use_batch_stats = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_batch_stats and not self.training:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return PatchableBatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")


# ----------------------------------------------------------------------------------------- ResNet


class ResnetBlock(nn.Module):
    """``out = x + conv_block(x)``; conv_block = pad, conv, norm, ReLU, [dropout], pad, conv, norm."""

    def __init__(self, dim: int, norm: str, use_dropout: bool, use_bias: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, padding=0, bias=use_bias),
            _norm_layer(norm, dim),
            nn.ReLU(True),
        ]
        if use_dropout:  # shifts the second conv from conv_block.5 to conv_block.6 (official quirk)
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=use_bias), _norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN generator: c7s1-ngf, two stride-2 downsamplings, ``n_blocks`` residual blocks, two transposed
    upsamplings, c7s1-output_nc, tanh. Output size is ``4 * ceil(ceil(H / 2) / 2)`` (equal to the input when
    H and W are multiples of 4)."""

    # measured (bench/stylize.py --precision-table): channels_last is slower here, 19.6 -> 25.2 ms for
    # 4x512px fp32 on an H100 (the reflection pads), and no faster on a 16-core CPU
    prefers_channels_last = False

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", use_dropout: bool = False) -> None:
        super().__init__()
        use_bias = norm == "instance"  # official rule: conv bias exactly when the norm is InstanceNorm
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, padding=0, bias=use_bias),
            _norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        mult = 1
        for _ in range(2):  # downsampling: zero padding (implicit), stride 2
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=use_bias),
                       _norm_layer(norm, ngf * mult * 2), nn.ReLU(True)]
            mult *= 2
        for _ in range(n_blocks):
            layers.append(ResnetBlock(ngf * mult, norm, use_dropout, use_bias))
        for _ in range(2):
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=use_bias),
                       _norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
            mult //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, input_nc, H, W) in [-1, 1]
        return self.model(x)


# ------------------------------------------------------------------------------------------- U-Net


class UnetSkipBlock(nn.Module):
    """One level of the pix2pix U-Net. Non-outermost blocks return ``cat([x, model(x)], 1)``."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        use_bias = norm == "instance"
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        if outermost:
            # the final transposed conv always has a bias
            layers = [downconv, submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1), nn.Tanh()]
        elif innermost:
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=use_bias),
                      _norm_layer(norm, outer_nc)]
        else:
            layers = [nn.LeakyReLU(0.2, True), downconv, _norm_layer(norm, inner_nc), submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=use_bias),
                      _norm_layer(norm, outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        # The official in-place LeakyReLU also rewrites x for the skip; every parent applies ReLU right after
        # the concatenation and ReLU(LeakyReLU(x)) == ReLU(x), so skipping that side effect changes nothing.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix U-Net generator; H and W must be multiples of ``2 ** num_downs`` (256 for ``unet_256``)."""

    # measured: channels_last 1.3 -> 1.1 ms (fp32) and 2.0 -> 1.3 ms (fp16) for 4x256px on an H100
    prefers_channels_last = True

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "batch", use_dropout: bool = True) -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError("UnetGenerator needs num_downs >= 5")
        self.num_downs = num_downs
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, input_nc, H, W) in [-1, 1]
        return self.model(x)


# ------------------------------------------------------------------------------------ PatchGAN (D)


class NLayerDiscriminator(nn.Module):
    """PatchGAN discriminator (``--netD basic`` is ``n_layers=3``, the 70x70 PatchGAN). Output: one logit per
    overlapping patch, ``(B, 1, H', W')``."""

    def __init__(self, input_nc: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        use_bias = norm == "instance"
        layers: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=use_bias),
                       _norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=use_bias),
                   _norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# ------------------------------------------------------------------------- test-time behaviour


def set_official_test_behaviour(net: nn.Module, batch_stats: bool = True, dropout: bool = False) -> nn.Module:
    """Make an eval-mode network behave like the official ``test.py`` without ``--eval``.

    ``batch_stats``: BatchNorm normalises with the current batch's statistics (running stats untouched).
    ``dropout``: keep Dropout(0.5) active (random output, as the official pix2pix test does).
    ``set_official_test_behaviour(net, False, False)`` restores plain eval behaviour. CycleGAN
    (InstanceNorm, no dropout) gives the same output either way.
    """
    for m in net.modules():
        if isinstance(m, PatchableBatchNorm2d):
            m.use_batch_stats = batch_stats
        elif isinstance(m, nn.Dropout):
            m.train(dropout)
    return net


# ------------------------------------------------------------------------ registry functions

_RESNET_BLOCK = re.compile(r"^model\.(\d+)\.conv_block\.")
_INSTNORM_STALE = ("running_mean", "running_var", "num_batches_tracked")


def _shape(sd: Mapping[str, torch.Tensor], key: str):
    t = sd.get(key)
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


def _detect_resnet(sd) -> dict | None:
    w = _shape(sd, "model.1.weight")
    if w is None or len(w) != 4 or w[2:] != (7, 7):
        return None
    blocks = sorted({int(m.group(1)) for k in sd if (m := _RESNET_BLOCK.match(k))})
    if not blocks or blocks != list(range(10, 10 + len(blocks))):
        return None
    n_blocks = len(blocks)
    last = _shape(sd, f"model.{17 + n_blocks}.weight")
    if last is None or len(last) != 4:
        return None
    norm = "batch" if "model.2.weight" in sd else "instance"
    use_dropout = "model.10.conv_block.6.weight" in sd
    return {"arch": "resnet", "input_nc": w[1], "output_nc": last[0], "ngf": w[0], "n_blocks": n_blocks,
            "norm": norm, "use_dropout": use_dropout}


def _detect_unet(sd) -> dict | None:
    w = _shape(sd, "model.model.0.weight")
    if w is None or len(w) != 4 or w[2:] != (4, 4):
        return None
    prefix = "model.model.1."
    depth = 1  # the outermost block
    while f"{prefix}model.1.weight" in sd:
        depth += 1
        prefix += "model.3."
    if depth < 5:
        return None
    out = _shape(sd, "model.model.3.weight")  # ConvTranspose: [in, out, kh, kw]
    if out is None:
        return None
    norm = "batch" if "model.model.1.model.2.weight" in sd else "instance"
    return {"arch": "unet", "input_nc": w[1], "output_nc": out[1], "ngf": w[0], "num_downs": depth,
            "norm": norm, "use_dropout": True}


def _detect_patchgan(sd) -> dict | None:
    w = _shape(sd, "model.0.weight")
    if w is None or len(w) != 4 or w[2:] != (4, 4):
        return None
    if any(not re.match(r"^model\.\d+\.", k) for k in sd):
        return None
    convs = sorted({int(k.split(".")[1]) for k in sd if k.endswith(".weight") and len(sd[k].shape) == 4})
    if len(convs) < 3 or _shape(sd, f"model.{convs[-1]}.weight")[0] != 1:
        return None
    norm = "batch" if f"model.{convs[1] + 1}.weight" in sd else "instance"
    return {"arch": "patchgan", "role": "discriminator", "input_nc": w[1], "ndf": w[0],
            "n_layers": len(convs) - 2, "norm": norm}


def detect(state_dict: Mapping[str, torch.Tensor]) -> dict | None:
    """Hyperparameters (``arch`` = "resnet" | "unet" | "patchgan", channels, ngf/ndf, depth, norm).

    A PatchGAN (``latest_net_D.pth``, ``*_net_D_A.pth``) also gets ``role = "discriminator"``, the convention of
    every family: generator hparams carry no ``role`` key."""
    for fn in (_detect_resnet, _detect_unet, _detect_patchgan):
        hp = fn(state_dict)
        if hp is not None:
            return hp
    return None


def build(arch: str | None = None, role: str | None = None, **hp) -> nn.Module:
    """``arch`` "resnet" / "unet" (generators) or "patchgan" (the discriminator; also what ``role =
    "discriminator"`` builds when no arch is given)."""
    if role not in (None, "generator", "discriminator"):
        raise ValueError(f"unknown role {role!r}; expected 'generator' or 'discriminator'")
    if arch is None:
        arch = "patchgan" if role == "discriminator" else "resnet"
    if role is not None and (role == "discriminator") != (arch == "patchgan"):
        raise ValueError(f"cyclegan arch {arch!r} is not a {role}")
    if arch == "resnet":
        return ResnetGenerator(**hp)
    if arch == "unet":
        return UnetGenerator(**hp)
    if arch == "patchgan":
        return NLayerDiscriminator(**hp)
    raise ValueError(f"unknown cyclegan arch {arch!r}")


def prepare_state_dict(state_dict: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    """Drop ``_metadata`` and stale InstanceNorm buffers (keys the built network does not have)."""
    sd = {k: v for k, v in state_dict.items() if k != "_metadata" and isinstance(v, torch.Tensor)}
    if hparams.get("norm") != "instance":
        return sd
    expected = set(build(**{**hparams, "ngf": 1} if "ngf" in hparams else {**hparams, "ndf": 1}).state_dict())
    # InstanceNorm(track_running_stats=False) owns no buffers: any running stat key that the network does
    # not have is a pre-0.4 leftover. Keys the network does have (none for instance norm) are kept.
    return {k: v for k, v in sd.items() if not (k.rsplit(".", 1)[-1] in _INSTNORM_STALE and k not in expected)}
