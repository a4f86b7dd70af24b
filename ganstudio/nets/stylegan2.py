"""StyleGAN2 generator and residual discriminator in the rosinality/stylegan2-pytorch layout.

Paper: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020).
Checkpoints: rosinality/stylegan2-pytorch (``train.py`` output, or ``convert_weight.py`` from the official
NVlabs TF pickles): a dict with ``g_ema`` (and ``latent_avg``, ``g``, ``d`` ...). The code of that repo is MIT;
the converted FFHQ/cars/cats weights inherit NVIDIA's license for StyleGAN2 (NVIDIA Source Code License-NC,
non-commercial). Written from ../shared/parity/stylegan2/SPEC.md; the fused CUDA ops are replaced by plain
PyTorch (upfirdn by zero insertion + depthwise conv, modulated conv as a grouped conv).

Tensors: ``z`` (B, style_dim) standard normal; ``w`` (B, style_dim); W+ (B, n_latent, style_dim);
image (B, 3, size, size) raw, roughly in [-1, 1] (not clamped).
"""
from __future__ import annotations

import math
import random
import re
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

FAMILY = "stylegan2"

SQRT2 = math.sqrt(2.0)


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm, 512: 32 * cm,
            1024: 16 * cm}


def make_kernel(k: Sequence[float]) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def fused_lrelu(x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """leaky_relu(x + bias, 0.2) * sqrt(2); bias broadcast over the channel axis (dim 1)."""
    if bias is not None:
        shape = [1, bias.shape[0]] + [1] * (x.ndim - 2)
        x = x + bias.view(shape)
    return F.leaky_relu(x, 0.2) * SQRT2


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, FIR-filter (true convolution: flipped kernel), downsample.

    ``x`` (B, C, H, W); ``pad`` = (before, after), the same on both axes; negative pads crop.
    """
    b, c, h, w = x.shape
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(b, c, h * up, w * up)
    p0, p1 = pad
    x = F.pad(x, (max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)))
    if p0 < 0 or p1 < 0:
        hh, ww = x.shape[2], x.shape[3]
        x = x[:, :, max(-p0, 0): hh - max(-p1, 0), max(-p0, 0): ww - max(-p1, 0)]
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(x.dtype).view(1, 1, kh, kw).expand(c, 1, kh, kw)
    x = F.conv2d(x, weight, groups=c)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


class PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate: weight * lr_mul / sqrt(in), bias * lr_mul."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            out = F.linear(x, self.weight * self.scale)
            return fused_lrelu(out, self.bias * self.lr_mul if self.bias is not None else None)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)


class Blur(nn.Module):
    def __init__(self, kernel: Sequence[int], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * upsample_factor ** 2
        self.register_buffer("kernel", k)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel: Sequence[int], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor ** 2)
        p = len(kernel) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Weight modulated per sample by the style, optionally demodulated; run as one grouped conv."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.upsample = upsample
        self.demodulate = demodulate
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel_size, kernel_size))
        if upsample:
            factor = 2
            p = len(blur_kernel) - factor - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.fused = False  # True: rosinality's grouped-conv formulation (same results within float rounding)

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """(B, out, in, k, k) per-sample weights from (B, style_dim) styles."""
        s = self.modulation(style)  # (B, in)
        weight = self.scale * self.weight * s[:, None, :, None, None]
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4)) + 1e-8)
            weight = weight * demod[:, :, None, None, None]
        return weight

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return self._forward_grouped(x, style)
        return self._forward_scaled(x, style)

    def _forward_grouped(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """rosinality's formulation: build per-sample weights, run one grouped conv over the batch."""
        b, c, h, w = x.shape
        k = self.kernel_size
        weight = self.modulated_weight(style)
        x = x.reshape(1, b * c, h, w)
        if self.upsample:
            # transposed conv expects (in, out, k, k) per group
            weight = weight.transpose(1, 2).reshape(b * self.in_ch, self.out_ch, k, k)
            out = F.conv_transpose2d(x, weight, stride=2, padding=0, groups=b)
            out = out.reshape(b, self.out_ch, out.shape[2], out.shape[3])
            return self.blur(out)
        weight = weight.reshape(b * self.out_ch, self.in_ch, k, k)
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.reshape(b, self.out_ch, out.shape[2], out.shape[3])

    def _forward_scaled(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The same maths with the shared weight: scale the input channels by s, convolve, scale the output
        channels by the demodulation factor (it and the blur are linear per channel, so they commute).
        Avoids building a (B, out, in, k, k) tensor: much faster for interactive single images."""
        s = self.modulation(style)  # (B, in)
        x = x * s[:, :, None, None]
        weight = self.weight[0]
        if self.demodulate:
            w2 = weight.square().sum(dim=(2, 3))  # (out, in)
            coef = torch.rsqrt((s * s) @ w2.t() * self.scale ** 2 + 1e-8) * self.scale  # (B, out)
        else:
            coef = None
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1).contiguous(), stride=2, padding=0)
        else:
            out = F.conv2d(x, weight, padding=self.padding)
        out = out * (coef[:, :, None, None] if coef is not None else self.scale)
        return self.blur(out) if self.upsample else out


class NoiseInjection(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            b, _, h, w = x.shape
            noise = x.new_empty(b, 1, h, w).normal_()
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_lrelu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[int] = (1, 3, 3, 1), demodulate: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, kernel_size, style_dim, demodulate=demodulate,
                                    upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    """rosinality ``Generator``: ``forward(styles, return_latents, inject_index, truncation, truncation_latent,
    input_is_latent, noise, randomize_noise)`` -> (image, W+ or None), with the official semantics.

    ``channels`` overrides the resolution -> channel table (small models, the parity fixture).
    """

    # channels_last brings nothing on the CPU here (tiny-model check, size 64, 128 channels, 1 thread, median of
    # 10 interleaved runs: 15.4 ms either way; the input is a latent and the modulated weights are 5-D, so only
    # the activations change layout), hence False.
    prefers_channels_last = False

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 blur_kernel: Sequence[int] = (1, 3, 3, 1), lr_mlp: float = 0.01,
                 channels: Mapping[int, int] | None = None) -> None:
        super().__init__()
        log_size = int(math.log2(size))
        if 2 ** log_size != size or size < 8:
            raise ValueError(f"StyleGAN2 size must be a power of two >= 8, got {size}")
        self.size, self.style_dim, self.n_mlp = size, style_dim, n_mlp
        self.log_size = log_size
        table = default_channels(channel_multiplier)
        if channels is not None:
            table.update({int(k): int(v) for k, v in channels.items()})
        self.channels = table

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True) for _ in range(n_mlp)])
        self.input = ConstantInput(table[4])
        self.conv1 = StyledConv(table[4], table[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(table[4], style_dim, upsample=False)

        self.num_layers = (log_size - 2) * 2 + 1
        self.n_latent = log_size * 2 - 2
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()  # empty, kept so the module tree matches the official one
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        in_ch = table[4]
        for i in range(3, log_size + 1):
            out_ch = table[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_ch, style_dim))
            in_ch = out_ch

    def set_fused_modconv(self, fused: bool) -> "Generator":
        """Use rosinality's grouped-conv modulated convolution (True) or the faster input/output-scaling
        formulation (False, the default). Both compute the same function."""
        for m in self.modules():
            if isinstance(m, ModulatedConv2d):
                m.fused = bool(fused)
        return self

    # -- latents --------------------------------------------------------------------------------------
    def get_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Mapping network: z (B, D) -> w (B, D)."""
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n_latent: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of the mapped outputs of ``n_latent`` random z: (1, D). Seed ``generator`` to make it
        reproducible (the official code does not)."""
        dev = self.input.input.device
        z = torch.randn(n_latent, self.style_dim, generator=generator, device="cpu").to(dev)
        return self.style(z).mean(0, keepdim=True)

    def stored_noise(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def noise_shapes(self) -> list[tuple[int, int, int, int]]:
        return [tuple(n.shape) for n in self.stored_noise()]

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        dev = self.input.input.device
        return [torch.randn(batch, 1, s[2], s[3], generator=generator).to(dev) for s in self.noise_shapes()]

    # -- forward --------------------------------------------------------------------------------------
    def forward(self, styles, return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                input_is_latent: bool = False, noise: Sequence[torch.Tensor | None] | None = None,
                randomize_noise: bool = True):
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else self.stored_noise()
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. mean_latent())")
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]

        if len(styles) < 2:
            s = styles[0]
            latent = s if s.ndim == 3 else s.unsqueeze(1).repeat(1, self.n_latent, 1)
        else:
            if inject_index is None:
                inject_index = random.randint(1, self.n_latent - 1)
            a, b = styles[0], styles[1]
            a = a[:, :inject_index] if a.ndim == 3 else a.unsqueeze(1).repeat(1, inject_index, 1)
            b = b[:, inject_index:] if b.ndim == 3 else b.unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
            latent = torch.cat([a, b], 1)

        image = self.synthesis(latent, noise)
        return image, (latent if return_latents else None)

    def synthesis(self, latent: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """W+ (B, n_latent, D) -> image (B, 3, size, size); ``noise`` a list of num_layers tensors or None
        entries (None = fresh random noise for that layer)."""
        if noise is None:
            noise = [None] * self.num_layers
        out = self.input(latent.shape[0])
        out = self.conv1(out, latent[:, 0], noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for j, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * j](out, latent[:, i], noise[2 * j + 1])
            out = self.convs[2 * j + 1](out, latent[:, i + 1], noise[2 * j + 2])
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip


# -- discriminator ---------------------------------------------------------------------------------------
class EqualConv2d(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size ** 2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU]; keys ``{i}.kernel``, ``{i}.weight``, ``{i}.bias``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[int] = (1, 3, 3, 1), bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            factor = 2
            p = len(blur_kernel) - factor + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_ch) if bias else _ScaledLeakyReLU())
        super().__init__(*layers)


class _ScaledLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x, 0.2) * SQRT2


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, blur_kernel: Sequence[int] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_ch, out_ch, 1, downsample=True, activate=False, bias=False,
                              blur_kernel=blur_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return (out + self.skip(x)) / SQRT2


class Discriminator(nn.Module):
    """rosinality residual ``Discriminator`` (keys ``convs.*``, ``final_conv.*``, ``final_linear.*``):
    image (B, 3, size, size) -> logits (B, 1), with the minibatch-stddev layer (group 4, 1 feature)."""

    def __init__(self, size: int, channel_multiplier: int = 2, blur_kernel: Sequence[int] = (1, 3, 3, 1),
                 channels: Mapping[int, int] | None = None) -> None:
        super().__init__()
        table = default_channels(channel_multiplier)
        if channels is not None:
            table.update({int(k): int(v) for k, v in channels.items()})
        self.size = size
        log_size = int(math.log2(size))
        convs: list[nn.Module] = [ConvLayer(3, table[size], 1)]
        in_ch = table[size]
        for i in range(log_size, 2, -1):
            out_ch = table[2 ** (i - 1)]
            convs.append(ResBlock(in_ch, out_ch, blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group = 4
        self.stddev_feat = 1
        self.final_conv = ConvLayer(in_ch + 1, table[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(table[4] * 4 * 4, table[4], activation=True),
                                          EqualLinear(table[4], 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.convs(x)
        b, c, h, w = out.shape
        group = min(b, self.stddev_group)
        if b % group:
            group = 1  # the official code needs B divisible by the group; fall back rather than crash
        sd = out.view(group, -1, self.stddev_feat, c // self.stddev_feat, h, w)
        sd = torch.sqrt(sd.var(0, unbiased=False) + 1e-8)
        sd = sd.mean([2, 3, 4], keepdim=True).squeeze(2)
        sd = sd.repeat(group, 1, h, w)
        out = self.final_conv(torch.cat([out, sd], 1))
        return self.final_linear(out.view(b, -1))


# -- family contract ---------------------------------------------------------------------------------------
def _channel_hparams(table: dict[int, int], size: int) -> dict:
    for cm in (2, 1, 4):
        ref = default_channels(cm)
        if all(ref.get(r) == c for r, c in table.items()):
            return {"channel_multiplier": cm}
    return {"channel_multiplier": 2, "channels": {int(r): int(c) for r, c in sorted(table.items()) if r <= size}}


def detect(state_dict: Mapping[str, torch.Tensor]) -> dict | None:
    if "input.input" in state_dict and "conv1.conv.weight" in state_dict and "style.1.weight" in state_dict:
        conv_ids = {int(m.group(1)) for k in state_dict if (m := re.match(r"convs\.(\d+)\.conv\.weight$", k))}
        n_convs = len(conv_ids)
        if n_convs % 2:
            return None
        size = 2 ** (n_convs // 2 + 2)
        style_dim = int(state_dict["style.1.weight"].shape[0])
        n_mlp = len({k for k in state_dict if re.match(r"style\.\d+\.weight$", k)})
        table = {4: int(state_dict["conv1.conv.weight"].shape[1])}
        for j in range(n_convs // 2):
            table[2 ** (j + 3)] = int(state_dict[f"convs.{2 * j}.conv.weight"].shape[1])
        return {"size": size, "style_dim": style_dim, "n_mlp": n_mlp, **_channel_hparams(table, size)}
    if "convs.0.0.weight" in state_dict and "final_linear.0.weight" in state_dict and \
            "final_conv.0.weight" in state_dict:
        n_blocks = len({int(m.group(1)) for k in state_dict if (m := re.match(r"convs\.(\d+)\.conv1\.", k))})
        size = 2 ** (n_blocks + 2)
        table = {size: int(state_dict["convs.0.0.weight"].shape[0])}
        for i in range(1, n_blocks + 1):
            table[size // 2 ** i] = int(state_dict[f"convs.{i}.conv2.1.weight"].shape[0])
        return {"role": "discriminator", "size": size, **_channel_hparams(table, size)}
    return None


def prepare_state_dict(state_dict: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return dict(state_dict)


def build(role: str = "generator", **hparams) -> nn.Module:
    if role == "discriminator":
        return Discriminator(**hparams)
    return Generator(**hparams)
