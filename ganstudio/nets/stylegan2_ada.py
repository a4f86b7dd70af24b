"""StyleGAN2 generator in the StyleGAN2-ADA layout (NVIDIA's PyTorch ``.pkl`` files), rebuilt as plain modules.

Papers: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020) and "Training
Generative Adversarial Networks with Limited Data" (NeurIPS 2020, StyleGAN2-ADA).
Checkpoints: NVlabs/stylegan2-ada-pytorch (and the StyleGAN2 configs of NVlabs/stylegan3) publish generators
as network pickles; ``ganstudio.checkpoints.nvlabs_pickle`` reads them without running their code and hands
``G_ema``'s tensors here under their official ``state_dict()`` names. NVIDIA's code and the pickles are under
the NVIDIA Source Code License-NC (non-commercial). Written from ../shared/parity/stylegan2_ada/SPEC.md and the
papers; nothing of NVIDIA's code is imported or copied.

Tensors: ``z`` (N, z_dim) standard normal; ``c`` (N, c_dim) class labels (one-hot) or None when c_dim = 0;
``w`` (N, w_dim); W+ / ``ws`` (N, num_ws, w_dim); image (N, img_channels, R, R) raw, nominally in [-1, 1]
(not clamped).

Precision: blocks named in ``fp16_resolutions`` run in float16 upstream. Here they do so on CUDA only; on the
CPU (and with ``force_fp32=True``) every block runs in float32, the exact function of the weights (see the
SPEC §5 for the size of the fp16 difference). ``force_fp32=False`` runs them in float16 on the CPU too, with
the official op sequence (SPEC §3.5 / §3.8: the float16 pre-normalisation, the scaled path for batches > 1,
the casts); the shared fixture has no float16 block, so that path is checked here only for being float16 and
within rounding of float32.

Two calling conventions share one set of weights:
* NVIDIA's: ``G.sample(z, c, truncation_psi, truncation_cutoff, noise_mode, force_fp32)`` (their
  ``G(z, c, ...)``), ``G.mapping(z, c, psi, cutoff)`` -> ws, ``G.synthesis(ws, noise_mode=..., force_fp32=...)``
  with noise modes 'const' / 'random' / 'none';
* rosinality's, which the latent engine speaks (``nets/stylegan2.py``): ``forward(styles, truncation=...,
  truncation_latent=..., input_is_latent=..., noise=[...], randomize_noise=..., c=...)``, ``get_latent(z, c)``,
  ``mean_latent`` (= ``w_avg``), ``stored_noise``, ``noise_shapes``, ``make_noise``, ``n_latent``,
  ``style_dim``, ``size``, ``num_layers`` and ``synthesis(wplus, noise_list)``; plus ``style_layers()`` (the
  affine weights SeFa factorises), ``forward_blocks()`` (for progress / Cancel) and ``class_vector(c, n)``.
"""
from __future__ import annotations

import math
import random
import re
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.errors import InputError

FAMILY = "stylegan2_ada"

SQRT2 = math.sqrt(2.0)
ARCHITECTURES = ("skip", "orig", "resnet")
NOISE_MODES = ("const", "random", "none")

# sanity bounds for a file's claims (a hostile file must not make us build a monster): the largest official
# generator is 1024 px with 512 channels and 8 mapping layers
MAX_RESOLUTION = 8192
MAX_FEATURES = 8192
MAX_MAPPING_LAYERS = 64


# ---------------------------------------------------------------------------------------------- ops
def fir_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """The normalised 2-D FIR kernel: outer(taps, taps) / sum (no up-sampling gain)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = f[:, None] * f[None, :]
    return f / f.sum()


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def bias_act(x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float = 1.0,
             clamp: float | None = None) -> torch.Tensor:
    """act(x + b[channel]) * gain, then clamp to [-clamp, clamp]; in that order (SPEC §3.1)."""
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    elif act != "linear":
        raise ValueError(f"unsupported activation {act!r}")
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, pad: Sequence[int] = (0, 0, 0, 0),
              gain: float = 1.0) -> torch.Tensor:
    """Zero-insertion up-sampling, pad (left, right, top, bottom; negative crops), then a depthwise
    convolution with ``f * gain`` (a true convolution: the kernel is flipped; f is symmetric anyway)."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0): x.shape[2] - max(-y1, 0), max(-x0, 0): x.shape[3] - max(-x1, 0)]
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype).flip([0, 1])
    f = f[None, None].repeat([c, 1, 1, 1])
    return F.conv2d(x, f, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """FIR up-sampling of an image by ``up`` (the skip image path)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    padding: int = 0, groups: int = 1) -> torch.Tensor:
    """Convolution with optional 2x FIR up-sampling. ``w`` (O, I/groups, k, k) is applied as a correlation
    (``F.conv2d``); with up = 2 as a stride-2 transposed convolution with the same, unflipped kernel, then
    the FIR filter (gain up²), as in SPEC §3.5."""
    out_ch, in_per_group, kh, kw = w.shape
    if up == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2
    p1 = padding + (fw - up) // 2
    if kw == 1 and kh == 1:  # 1x1: convolve first, then up-sample
        x = F.conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)
    p0 -= kw - 1
    p1 -= kw - up
    pt = max(min(-p0, -p1), 0)
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=up, padding=pt, groups=groups)
    return upfirdn2d(x, f, pad=(p0 + pt, p1 + pt, p0 + pt, p1 + pt), gain=up * up)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, fused_modconv: bool = True) -> torch.Tensor:
    """The StyleGAN2 modulated convolution, in the op order of SPEC §3.5 (which matters for float16).

    ``fused_modconv``: per-sample kernels as one grouped convolution; otherwise scale the activations before
    and after a convolution with the shared kernel (same function, different rounding)."""
    n = x.shape[0]
    _, in_ch, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:  # pre-normalise so float16 does not overflow
        weight = weight * (1 / math.sqrt(in_ch * kh * kw)
                           / torch.linalg.vector_norm(weight, float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / torch.linalg.vector_norm(styles, float("inf"), dim=1, keepdim=True)
    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # (N, O, I, k, k)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(n, -1, 1, 1, 1)
    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
        if demodulate and noise is not None:
            return torch.addcmul(noise.to(x.dtype), x, dcoefs.to(x.dtype).reshape(n, -1, 1, 1))
        if demodulate:
            return x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        if noise is not None:
            return x.add_(noise.to(x.dtype))
        return x
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), resample_filter, up=up, padding=padding, groups=n)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x.add_(noise)
    return x


# ---------------------------------------------------------------------------------------------- layers
class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer: W·lr/√in, b·lr (the stored W is randn / lr)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())  # one fused GEMM, as upstream (bit-exact parity)
        x = x.matmul(w.t())
        return bias_act(x, b, act=self.activation, gain=SQRT2 if self.activation == "lrelu" else 1.0)


class MappingNetwork(nn.Module):
    """z (and class c) -> w: 2nd-moment normalisation, ``num_layers`` lrelu FC layers (the last one too),
    broadcast to ``num_ws`` rows, truncation towards the tracked average ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                        lr_multiplier=lr_multiplier))
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def map(self, z: torch.Tensor | None, c: torch.Tensor | None = None) -> torch.Tensor:
        """z (N, z_dim), c (N, c_dim) -> w (N, w_dim); in training mode also tracks ``w_avg``."""
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.w_avg_beta is not None and self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        return x

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """ws rows [0, cutoff) (all rows when cutoff is None) pulled towards w_avg: lerp(w_avg, w, psi)."""
        if psi == 1:
            return ws
        if self.w_avg_beta is None:
            raise InputError("this generator has no w_avg: truncation is not available")
        if cutoff is None:
            return self.w_avg.lerp(ws, psi)
        ws = ws.clone()
        ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """NVIDIA's mapping call: -> ws (N, num_ws, w_dim), broadcast and truncated."""
        x = self.map(z, c)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return self.truncate(x, truncation_psi, truncation_cutoff)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (optionally 2x up-sampling), noise, bias + lrelu·√2, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.activation = "lrelu"
        self.padding = kernel_size // 2
        self.act_gain = SQRT2
        # parameters, then buffers, then the child: the official state_dict() order
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("resample_filter", fir_filter())
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                noise: torch.Tensor | None = None, fused_modconv: bool = True, gain: float = 1.0) -> torch.Tensor:
        """``noise``: an explicit unit noise map (broadcastable to (N, 1, H, W)); it wins over ``noise_mode``."""
        styles = self.affine(w)
        n = None
        if self.use_noise:
            if noise is not None:
                n = noise * self.noise_strength
            elif noise_mode == "random":
                n = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) \
                    * self.noise_strength
            elif noise_mode == "const":
                n = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=n, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """1x1 modulated conv without demodulation or noise; the 1/√(I·k²) gain goes on the styles."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """Plain equalised-lr conv; only the 'resnet' architecture's 1x1 up-sampling skip uses it here."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, bias: bool = False,
                 up: int = 1, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.up, self.conv_clamp, self.padding = up, conv_clamp, kernel_size // 2
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.register_buffer("resample_filter", fir_filter())
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), self.resample_filter, up=self.up, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, gain=gain, clamp=clamp)


class SynthesisBlock(nn.Module):
    """One resolution: [const] or (conv0 with 2x up-sampling), conv1, and a ToRGB feeding the image path."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", use_fp16: bool = False, conv_clamp: float | None = None,
                 use_noise: bool = True, conv_kernel: int = 3, rgb_kernel: int = 1,
                 fused_modconv_default: str | bool | None = None) -> None:
        super().__init__()
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.architecture = img_channels, is_last, architecture
        self.use_fp16 = use_fp16
        # None: StyleGAN2-ADA's rule (fused unless float16 with a batch > 1); "inference_only": the StyleGAN3
        # repository's StyleGAN2, always fused outside training; True / False: always / never
        self.fused_modconv_default = fused_modconv_default
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        self.register_buffer("resample_filter", fir_filter())
        layer = dict(w_dim=w_dim, kernel_size=conv_kernel, use_noise=use_noise, conv_clamp=conv_clamp)
        if in_channels != 0:
            self.conv0 = SynthesisLayer(in_channels, out_channels, resolution=resolution, up=2, **layer)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, resolution=resolution, **layer)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, kernel_size=rgb_kernel, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2)

    def layers(self) -> list[SynthesisLayer]:
        return [self.conv0, self.conv1] if self.in_channels != 0 else [self.conv1]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random", noise: Sequence[torch.Tensor | None] | None = None,
                force_fp32: bool = False, fused_modconv: bool | None = None):
        w_iter = iter(ws.unbind(dim=1))
        dtype = torch.float16 if self.use_fp16 and not force_fp32 else torch.float32
        if fused_modconv is None:
            if isinstance(self.fused_modconv_default, bool):
                fused_modconv = self.fused_modconv_default
            elif self.fused_modconv_default == "inference_only":
                fused_modconv = not self.training
            else:
                fused_modconv = (not self.training) and (dtype == torch.float32 or int(ws.shape[0]) == 1)
        noise = list(noise) if noise is not None else [None] * self.num_conv
        kw = dict(noise_mode=noise_mode, fused_modconv=fused_modconv)
        if self.in_channels == 0:
            x = self.const.to(dtype=dtype)
            x = x.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise=noise[0], **kw)
        else:
            x = x.to(dtype=dtype)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, next(w_iter), noise=noise[0], **kw)
                x = self.conv1(x, next(w_iter), noise=noise[1], gain=math.sqrt(0.5), **kw)
                x = y.add_(x)
            else:
                x = self.conv0(x, next(w_iter), noise=noise[0], **kw)
                x = self.conv1(x, next(w_iter), noise=noise[1], **kw)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv)
            y = y.to(dtype=torch.float32)
            img = img.add_(y) if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ (N, num_ws, w_dim) -> image, block by block (4x4 up to img_resolution)."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channels: Sequence[int],
                 architecture: str = "skip", fp16_resolutions: Sequence[int] = (), conv_clamp: float | None = None,
                 use_noise: bool = True, conv_kernel: int = 3, rgb_kernel: int = 1,
                 fused_modconv_default: str | None = None) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution != 2 ** log2 or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        if len(channels) != len(self.block_resolutions):
            raise ValueError(f"need {len(self.block_resolutions)} channel counts, got {len(channels)}")
        self.num_ws = 0
        in_ch = 0
        for res, out_ch in zip(self.block_resolutions, channels):
            is_last = res == img_resolution
            block = SynthesisBlock(in_ch, int(out_ch), w_dim, res, img_channels, is_last, architecture,
                                   use_fp16=res in set(fp16_resolutions), conv_clamp=conv_clamp, use_noise=use_noise,
                                   conv_kernel=conv_kernel, rgb_kernel=rgb_kernel,
                                   fused_modconv_default=fused_modconv_default)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)
            in_ch = int(out_ch)

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layers(self) -> list[SynthesisLayer]:
        """The styled convs in noise / W+ order: b4.conv1, b8.conv0, b8.conv1, ..."""
        return [layer for block in self.blocks() for layer in block.layers()]

    def forward(self, ws: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None,
                noise_mode: str = "random", force_fp32: bool | None = None,
                fused_modconv: bool | None = None) -> torch.Tensor:
        """``noise``: one unit noise map per styled conv (``noise_layers`` order), None entries drawn fresh
        (rosinality's convention); when given it replaces ``noise_mode``. ``force_fp32`` None: the fp16
        blocks run in float16 on CUDA only."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if force_fp32 is None:
            force_fp32 = ws.device.type != "cuda"
        ws = ws.to(torch.float32)
        if noise is not None:
            noise = list(noise)
            if len(noise) != sum(b.num_conv for b in self.blocks()):
                raise ValueError(f"noise needs one map per styled conv ({len(self.noise_layers())}), "
                                 f"got {len(noise)}")
            noise_mode = "random"  # only None entries are left to it
        x = img = None
        w_idx = n_idx = 0
        for block in self.blocks():
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            block_noise = noise[n_idx:n_idx + block.num_conv] if noise is not None else None
            x, img = block(x, img, block_ws, noise_mode=noise_mode, noise=block_noise, force_fp32=force_fp32,
                           fused_modconv=fused_modconv)
            w_idx += block.num_conv
            n_idx += block.num_conv
        return img


# ---------------------------------------------------------------------------------------------- generator
class Generator(nn.Module):
    """StyleGAN2-ADA ``G``: ``mapping`` (z, c -> ws) then ``synthesis`` (ws -> image).

    Built from plain hyperparameters (``detect`` reads them from a state dict's keys and shapes; the pickle
    reader adds what the keys cannot say: conv_clamp, the float16 resolutions, the mapping lr multiplier).
    ``channels``: output channels per block, 4x4 first."""

    prefers_channels_last = False  # the modulated weights are per sample; activations are small

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 channels: Sequence[int], mapping_layers: int = 8, embed_features: int | None = None,
                 layer_features: int | None = None, mapping_lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.995, architecture: str = "skip",
                 fp16_resolutions: Sequence[int] = (), conv_clamp: float | None = None, use_noise: bool = True,
                 conv_kernel: int = 3, rgb_kernel: int = 1, fused_modconv_default: str | None = None,
                 num_ws: int | None = None) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        # synthesis first: the official state_dict() names start with "synthesis."
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channels, architecture,
                                          fp16_resolutions, conv_clamp, use_noise, conv_kernel, rgb_kernel,
                                          fused_modconv_default)
        self.num_ws = self.synthesis.num_ws
        if num_ws is not None and num_ws != self.num_ws:
            raise ValueError(f"num_ws {num_ws} does not match the synthesis network ({self.num_ws})")
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, mapping_layers, embed_features,
                                      layer_features, mapping_lr_multiplier, w_avg_beta)

    # -- names the latent engine knows from rosinality's generator ---------------------------------------
    @property
    def style_dim(self) -> int:
        return self.w_dim

    @property
    def n_latent(self) -> int:
        return self.num_ws

    @property
    def size(self) -> int:
        return self.img_resolution

    @property
    def num_layers(self) -> int:
        """Number of noise maps (styled convs)."""
        return len(self.synthesis.noise_layers())

    # -- class labels -------------------------------------------------------------------------------------
    def class_vector(self, c, batch: int) -> torch.Tensor | None:
        """``c`` as the (batch, c_dim) float tensor the mapping wants: an int class index (one-hot, as the
        official generate.py's ``--class``), a list of indices (one per sample), or a (c_dim,) / (batch, c_dim)
        tensor. None for an unconditional model; a conditional one refuses a missing label."""
        if self.c_dim == 0:
            return None
        dev = self.mapping.fc0.weight.device
        if c is None:
            raise InputError(f"this generator is class-conditional ({self.c_dim} classes): choose a class "
                             f"(0-{self.c_dim - 1})")
        if isinstance(c, torch.Tensor) or hasattr(c, "__array__"):  # a tensor or a numpy array / scalar
            c = torch.as_tensor(c)
            if c.is_floating_point():  # label vectors, used as given (the embed is a real linear layer)
                c = c.to(dev, torch.float32)
                if c.ndim == 1:
                    c = c.unsqueeze(0).repeat(batch, 1)
                if c.shape != (batch, self.c_dim):
                    raise InputError(f"class labels must be ({batch}, {self.c_dim}), got {tuple(c.shape)}")
                return c
            c = c.reshape(-1).tolist() if c.ndim else int(c)
        labels = [int(v) for v in c] if isinstance(c, (list, tuple)) else [int(c)] * batch
        if len(labels) != batch:
            raise InputError(f"{len(labels)} class labels for {batch} samples")
        bad = [v for v in labels if not 0 <= v < self.c_dim]
        if bad:
            raise InputError(f"class {bad[0]} does not exist: this generator has classes 0-{self.c_dim - 1}")
        out = torch.zeros(batch, self.c_dim, device=dev)
        out[torch.arange(batch), torch.tensor(labels)] = 1
        return out

    # -- latents ------------------------------------------------------------------------------------------
    def get_latent(self, z: torch.Tensor, c=None) -> torch.Tensor:
        """Mapping network: z (N, z_dim) [+ class c] -> w (N, w_dim), before truncation."""
        return self.mapping.map(z, self.class_vector(c, z.shape[0]))

    @property
    def w_avg(self) -> torch.Tensor:
        """(w_dim,) the truncation centre tracked during training."""
        return self.mapping.w_avg

    @torch.no_grad()
    def mean_latent(self, n_latent: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """(1, w_dim): the file's own truncation centre ``w_avg`` (what NVIDIA's code truncates towards). The
        arguments of rosinality's sampled mean are accepted so callers written for it work unchanged."""
        return self.mapping.w_avg.detach().reshape(1, -1).clone()

    def stored_noise(self) -> list[torch.Tensor]:
        """The file's constant noise maps, (1, 1, r, r) each (noise mode 'const' / rosinality 'stored')."""
        return [layer.noise_const[None, None] for layer in self.synthesis.noise_layers()]

    def noise_shapes(self) -> list[tuple[int, int, int, int]]:
        return [(1, 1, layer.resolution, layer.resolution) for layer in self.synthesis.noise_layers()]

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        dev = self.mapping.fc0.weight.device
        return [torch.randn(batch, 1, s[2], s[3], generator=generator).to(dev) for s in self.noise_shapes()]

    def style_layers(self) -> list[tuple[int, torch.Tensor]]:
        """(W+ row, affine weight (in_channels, w_dim)) for each styled conv: the matrices SeFa factorises
        (rosinality's ``conv.modulation.weight``)."""
        return [(row, layer.affine.weight) for row, layer in enumerate(self.synthesis.noise_layers())]

    def forward_blocks(self) -> list[nn.Module]:
        """The synthesis layers in the order a forward runs them (b4.conv1, b4.torgb, b8.conv0, ...): what
        progress reporting and Cancel hook into (rosinality's ``[conv1, to_rgb1, *convs, *to_rgbs]``)."""
        out: list[nn.Module] = []
        for block in self.synthesis.blocks():
            out += block.layers() + ([block.torgb] if hasattr(block, "torgb") else [])
        return out

    # -- NVIDIA's call ------------------------------------------------------------------------------------
    def sample(self, z: torch.Tensor, c=None, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
               noise_mode: str = "random", force_fp32: bool | None = None) -> torch.Tensor:
        """``G(z, c, truncation_psi, truncation_cutoff, noise_mode)`` as upstream -> image (N, C, R, R)."""
        ws = self.mapping(z, self.class_vector(c, z.shape[0]), truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32)

    # -- rosinality's call (what the latent engine uses) -------------------------------------------------
    def forward(self, styles, return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                input_is_latent: bool = False, noise: Sequence[torch.Tensor | None] | None = None,
                randomize_noise: bool = True, c=None):
        """rosinality's ``Generator.forward`` semantics -> (image, W+ or None). ``truncation_latent``
        defaults to ``w_avg``; ``c`` is the class label of a conditional model (see ``class_vector``)."""
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not input_is_latent:
            styles = [self.get_latent(s, c) for s in styles]
        if noise is None and not randomize_noise:
            noise = self.stored_noise()
        if truncation < 1:
            centre = truncation_latent if truncation_latent is not None else self.mapping.w_avg
            styles = [centre + truncation * (s - centre) for s in styles]
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


# ---------------------------------------------------------------------------------------------- family contract
def _blocks(sd: Mapping[str, torch.Tensor]) -> list[int]:
    return sorted(int(m.group(1)) for k in sd if (m := re.match(r"synthesis\.b(\d+)\.conv1\.weight$", k)))


def detect(state_dict: Mapping[str, torch.Tensor]) -> dict | None:
    """Build kwargs from a StyleGAN2-ADA ``G`` / ``G_ema`` state dict (official names), or None.

    Keys and shapes say everything but conv_clamp, the float16 resolutions and the mapping lr multiplier:
    those take the defaults of a file without them (no clamp, float32 blocks, 0.01); a network pickle adds
    its real values (``ganstudio.checkpoints.nvlabs_pickle``)."""
    sd = state_dict
    if "synthesis.b4.const" not in sd or "mapping.fc0.weight" not in sd or "synthesis.b4.conv1.weight" not in sd:
        return None
    res = _blocks(sd)
    if not res or res != [2 ** i for i in range(2, 2 + len(res))] or res[-1] > MAX_RESOLUTION:
        return None
    last = res[-1]
    n_fc = 0
    while f"mapping.fc{n_fc}.weight" in sd:
        n_fc += 1
    if not 1 <= n_fc <= MAX_MAPPING_LAYERS:
        return None
    conv_w = sd["synthesis.b4.conv1.weight"]
    rgb_key = f"synthesis.b{last}.torgb.weight"
    if conv_w.ndim != 4 or rgb_key not in sd or sd[rgb_key].ndim != 4:
        return None
    w_dim = int(sd["synthesis.b4.conv1.affine.weight"].shape[1])
    c_dim = int(sd["mapping.embed.weight"].shape[1]) if "mapping.embed.weight" in sd else 0
    embed = int(sd["mapping.embed.weight"].shape[0]) if c_dim else 0
    fc0 = sd["mapping.fc0.weight"]
    z_dim = int(fc0.shape[1]) - embed
    if z_dim < 0 or (z_dim == 0 and c_dim == 0) or int(sd[f"mapping.fc{n_fc - 1}.weight"].shape[0]) != w_dim:
        return None
    if last > 4 and f"synthesis.b{last // 2}.torgb.weight" not in sd:
        architecture = "resnet" if "synthesis.b8.skip.weight" in sd else "orig"
    else:
        architecture = "skip"
    channels = [int(sd[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in res]
    if max(channels + [w_dim, z_dim, c_dim]) > MAX_FEATURES:
        return None
    num_ws = 2 * len(res)  # one conv per block and two from 8x8 on, plus the last ToRGB
    return {
        "z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": last,
        "img_channels": int(sd[rgb_key].shape[0]), "num_ws": num_ws, "channels": channels,
        "mapping_layers": n_fc, "embed_features": embed or None,
        "layer_features": int(fc0.shape[0]) if n_fc > 1 else None,
        "architecture": architecture, "use_noise": "synthesis.b4.conv1.noise_const" in sd,
        "conv_kernel": int(conv_w.shape[-1]), "rgb_kernel": int(sd[rgb_key].shape[-1]),
        "w_avg_beta": 0.995 if "mapping.w_avg" in sd else None,
        "mapping_lr_multiplier": 0.01, "conv_clamp": None, "fp16_resolutions": [],
        "fused_modconv_default": None,
    }


def prepare_state_dict(state_dict: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return dict(state_dict)  # already the official names


def build(**hparams) -> nn.Module:
    return Generator(**hparams)


def extras(net: Generator) -> dict:
    """What the engines need beside the hparams: the truncation centre, under the name the latent engine
    reads for rosinality checkpoints (``latent_avg``, (1, w_dim))."""
    if net.mapping.w_avg_beta is None:
        return {}
    return {"latent_avg": net.mean_latent()}
