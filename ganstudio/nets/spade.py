"""SPADE / GauGAN generator and the multiscale PatchGAN discriminator used to train it.

Paper: Park, Liu, Wang, Zhu, "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019.
Checkpoints: NVlabs/SPADE (https://github.com/NVlabs/SPADE) ``checkpoints/{ade20k,coco,cityscapes}_pretrained/
latest_net_G.pth`` load unchanged (plain state dicts, official key names). The official code and pretrained
models are licensed CC BY-NC-SA 4.0 (non-commercial). This module is written from the project's own
specification (shared/parity/spade/SPEC.md); no official code is copied.

Smaller configurations: any ngf, any semantic_nc, and (for the project's own small models, not upstream)
a narrower SPADE hidden width ``nhidden`` (upstream hard-codes 128), all read back from the shapes.

Tensors: ``seg`` is the one-hot semantic map (B, semantic_nc, H, W) float, where
semantic_nc = label_nc + (1 if dontcare) + (1 if instance edges); the output is (B, 3, H', W') in [-1, 1].

Hyperparameters that the keys do not tell
-----------------------------------------
* ``num_upsampling_layers``: 'normal' and 'more' have identical keys; only the forward pass differs
  ('more' doubles once more between G_middle_0 and G_middle_1). 'most' adds the block ``up_4`` and is read
  from the keys. :func:`detect` defaults to 'normal' except for the one official file that needs 'more':
  semantic_nc 36 with ngf 64 is the official Cityscapes generator, so it gets 'more', crop 512, aspect 2.
  Callers override with their own metadata (a manifest entry's ``arch_kwargs`` or a ``.json`` sidecar, see
  ``ganstudio.engines.paint``) and can switch an already-loaded module with :meth:`SPADEGenerator.set_upsampling`
  since no weights change.
* ``label_nc`` / ``contain_dontcare_label`` / ``use_instance``: only their sum (semantic_nc) is in the keys.
  detect() recognises the three official sizes (151 ade20k, 184 coco, 36 cityscapes); for any other size it
  assumes label_nc = semantic_nc (no dontcare slot, no instance channel) unless told otherwise.
* The latent grid: officially sw = crop_size // 2^L and sh = round(sw / aspect_ratio). Here the grid is taken
  from the input itself (sh = H // 2^L, sw = W // 2^L), which gives the same numbers for the official inputs
  (H = sh·2^L, W = sw·2^L) and lets any multiple of 2^L be rendered.
"""
from __future__ import annotations

import math
import re
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FAMILY = "spade"

UPSAMPLING_MODES = {"normal": 5, "more": 6, "most": 7}

# semantic_nc of the official public checkpoints -> their dataset options (SPEC.md §1)
OFFICIAL_CONFIGS = {
    151: dict(dataset="ade20k", label_nc=150, contain_dontcare_label=True, use_instance=False,
              num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0),
    184: dict(dataset="coco", label_nc=182, contain_dontcare_label=True, use_instance=True,
              num_upsampling_layers="normal", crop_size=256, aspect_ratio=1.0),
    36: dict(dataset="cityscapes", label_nc=35, contain_dontcare_label=False, use_instance=True,
             num_upsampling_layers="more", crop_size=512, aspect_ratio=2.0),
}


# --------------------------------------------------------------------------------------------- layers
class SNConv2d(nn.Module):
    """Conv2d under spectral normalisation with the official state-dict layout:
    ``bias`` (optional), ``weight_orig``, and the buffers ``weight_u`` [out], ``weight_v`` [in·kh·kw].

    Eval: weight = weight_orig / sigma, sigma = u · (W_mat v) with the STORED u, v (no power iteration),
    exactly what torch.nn.utils.spectral_norm does in eval mode. Train: one power iteration first
    (v <- normalize(W_mat^T u), u <- normalize(W_mat v), in place), as in training the official model.
    """

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True, eps: float = 1e-12) -> None:
        super().__init__()
        self.stride, self.padding, self.eps = stride, padding, eps
        # registration order gives the official key order: bias, weight_orig, weight_u, weight_v
        if bias:
            self.bias = nn.Parameter(torch.zeros(cout))
        else:
            self.register_parameter("bias", None)
        self.weight_orig = nn.Parameter(torch.empty(cout, cin, kernel_size, kernel_size))
        nn.init.kaiming_uniform_(self.weight_orig, a=math.sqrt(5))
        self.register_buffer("weight_u", F.normalize(torch.randn(cout), dim=0, eps=eps))
        self.register_buffer("weight_v", F.normalize(torch.randn(cin * kernel_size * kernel_size), dim=0, eps=eps))

    def weight(self) -> torch.Tensor:
        w = self.weight_orig
        w_mat = w.reshape(w.shape[0], -1)
        u, v = self.weight_u, self.weight_v
        if self.training:
            with torch.no_grad():
                v = F.normalize(torch.mv(w_mat.t(), u), dim=0, eps=self.eps)
                u = F.normalize(torch.mv(w_mat, v), dim=0, eps=self.eps)
                self.weight_u.copy_(u)
                self.weight_v.copy_(v)
            u, v = u.clone(), v.clone()
        sigma = torch.dot(u, torch.mv(w_mat, v))
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, self.stride, self.padding)


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: param-free BatchNorm, then x·(1 + gamma(seg)) + beta(seg)."""

    NHIDDEN = 128  # hard-coded in the official code; our own small models may use fewer (read from shapes)

    def __init__(self, norm_nc: int, label_nc: int, ks: int = 3, nhidden: int = NHIDDEN) -> None:
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False, eps=1e-5)
        pw = ks // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, ks, padding=pw)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, ks, padding=pw)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        # legacy 'nearest': src = floor(dst · in / out), the top-left sample of each block
        if seg.shape[-2:] != x.shape[-2:]:
            seg = F.interpolate(seg, size=x.shape[-2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    def __init__(self, fin: int, fout: int, semantic_nc: int, nhidden: int = SPADE.NHIDDEN) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = SNConv2d(fin, fmiddle, 3, padding=1)
        self.conv_1 = SNConv2d(fmiddle, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = SNConv2d(fin, fout, 1, bias=False)
        self.norm_0 = SPADE(fin, semantic_nc, nhidden=nhidden)
        self.norm_1 = SPADE(fmiddle, semantic_nc, nhidden=nhidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, semantic_nc, nhidden=nhidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x  # no activation here
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


# ------------------------------------------------------------------------------------------ generator
class SPADEGenerator(nn.Module):
    """The official SPADEGenerator (netG=spade, use_vae=False): deterministic, seg in, image out.

    ``forward(seg)``: seg (B, semantic_nc, H, W) one-hot float, H and W multiples of 2^L
    (L = 5 normal, 6 more, 7 most) -> (B, 3, H, W) in [-1, 1].
    With ``use_vae=True`` (no public checkpoint) ``fc`` is Linear(z_dim -> 16·ngf·sh·sw) and forward
    takes ``z`` (B, z_dim); the latent grid is then fixed by crop_size / aspect_ratio.
    """

    # channels_last on the CPU here: a tie to slightly faster in a tiny-model check (ngf 16, SPADE hidden 128,
    # 256x256, 1 thread, median of 6 interleaved runs: 792 -> 778 ms; ngf 16 / hidden 64 on 2 threads: 231 vs
    # 238 ms), and ~1.5x faster in the paint engine's own measurement (bench/paint.py), which runs it NHWC.
    prefers_channels_last = True

    def __init__(self, semantic_nc: int, ngf: int = 64, num_upsampling_layers: str = "normal",
                 label_nc: int | None = None, contain_dontcare_label: bool = False, use_instance: bool = False,
                 crop_size: int = 256, aspect_ratio: float = 1.0, use_vae: bool = False, z_dim: int = 256,
                 dataset: str = "", nhidden: int = SPADE.NHIDDEN) -> None:
        super().__init__()
        if num_upsampling_layers not in UPSAMPLING_MODES:
            raise ValueError(f"num_upsampling_layers must be one of {sorted(UPSAMPLING_MODES)}")
        self.semantic_nc, self.ngf = semantic_nc, ngf
        self.label_nc = semantic_nc - int(contain_dontcare_label) - int(use_instance) if label_nc is None else label_nc
        if self.label_nc + int(contain_dontcare_label) + int(use_instance) != semantic_nc:
            raise ValueError(f"label_nc {self.label_nc} + dontcare {int(contain_dontcare_label)} + instance "
                             f"{int(use_instance)} != semantic_nc {semantic_nc}")
        self.contain_dontcare_label, self.use_instance = contain_dontcare_label, use_instance
        self.crop_size, self.aspect_ratio, self.dataset = crop_size, aspect_ratio, dataset
        self.use_vae, self.z_dim, self.nhidden = use_vae, z_dim, nhidden
        self.num_upsampling_layers = num_upsampling_layers
        nf = ngf
        if use_vae:
            sw, sh = self.latent_grid()
            self.fc = nn.Linear(z_dim, 16 * nf * sw * sh)
        else:
            self.fc = nn.Conv2d(semantic_nc, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, semantic_nc, nhidden)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, semantic_nc, nhidden)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, semantic_nc, nhidden)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, semantic_nc, nhidden)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, semantic_nc, nhidden)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, semantic_nc, nhidden)
        self.up_3 = SPADEResnetBlock(2 * nf, 1 * nf, semantic_nc, nhidden)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(1 * nf, nf // 2, semantic_nc, nhidden)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    # hparams that can change without touching the weights
    def set_upsampling(self, mode: str, crop_size: int | None = None, aspect_ratio: float | None = None) -> None:
        """Switch between 'normal' and 'more' (same keys). 'most' needs the up_4 block, so it is fixed."""
        if mode not in UPSAMPLING_MODES:
            raise ValueError(f"num_upsampling_layers must be one of {sorted(UPSAMPLING_MODES)}, not {mode!r}")
        if (mode == "most") != (self.num_upsampling_layers == "most"):
            raise ValueError("'most' upsampling has its own block (up_4): it is fixed by the checkpoint")
        self.num_upsampling_layers = mode
        if crop_size is not None:
            self.crop_size = int(crop_size)
        if aspect_ratio is not None:
            self.aspect_ratio = float(aspect_ratio)

    @property
    def n_up(self) -> int:
        return UPSAMPLING_MODES[self.num_upsampling_layers]

    @property
    def size_multiple(self) -> int:
        """Input/output height and width must be multiples of this (2^L)."""
        return 2 ** self.n_up

    def latent_grid(self) -> tuple[int, int]:
        """Official (sw, sh) from crop_size and aspect_ratio (Python round for sh, as upstream)."""
        sw = self.crop_size // (2 ** self.n_up)
        sh = round(sw / self.aspect_ratio)
        return sw, sh

    def native_size(self) -> tuple[int, int]:
        """(H, W) of the official output for this configuration."""
        sw, sh = self.latent_grid()
        return sh * self.size_multiple, sw * self.size_multiple

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        up = self.size_multiple
        if self.use_vae:
            sw, sh = self.latent_grid()
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, dtype=seg.dtype, device=seg.device)
            x = self.fc(z).view(-1, 16 * self.ngf, sh, sw)
        else:
            h, w = seg.shape[-2:]
            sh, sw = h // up, w // up
            if sh < 1 or sw < 1 or h % up or w % up:
                raise ValueError(f"SPADE input {h}x{w} must be a positive multiple of {up} in both sides "
                                 f"({self.num_upsampling_layers} upsampling)")
            x = self.fc(F.interpolate(seg, size=(sh, sw), mode="nearest"))
        # Every SPADE resizes the full map to its own resolution; doing that once per resolution here and
        # handing the blocks the resized map is the same operation (same nearest resize of the same input)
        # without repeating it in each of the ~20 SPADE layers.
        segs: dict = {}

        def at(t: torch.Tensor) -> torch.Tensor:
            hw = tuple(t.shape[-2:])
            if hw not in segs:
                segs[hw] = seg if hw == tuple(seg.shape[-2:]) else F.interpolate(seg, size=hw, mode="nearest")
            return segs[hw]

        x = self.head_0(x, at(x))
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_0(x, at(x))
        if self.num_upsampling_layers in ("more", "most"):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.G_middle_1(x, at(x))
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if self.num_upsampling_layers == "most" else ()):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = getattr(self, name)(x, at(x))
        x = self.conv_img(F.leaky_relu(x, 0.2))
        return torch.tanh(x)


# ------------------------------------------------------------------------------------- discriminator
class NLayerDiscriminator(nn.Module):
    """SPADE's PatchGAN: 4×4 convs, padding 2, LeakyReLU 0.2; spectral norm + InstanceNorm (norm_D
    'spectralinstance') on every conv but the first and last; stride 1 on the last two convs.
    Sub-sequences are ``model0`` .. ``model{n_layers}`` as upstream, so ``forward`` returns every
    intermediate feature map (for the feature-matching loss); the last one is the patch score map."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4) -> None:
        super().__init__()
        kw, padw = 4, 2
        nf = ndf
        seqs: list[list[nn.Module]] = [[nn.Conv2d(input_nc, nf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2)]]
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            conv = nn.Sequential(SNConv2d(nf_prev, nf, kw, stride=stride, padding=padw, bias=False),
                                 nn.InstanceNorm2d(nf, affine=False))
            seqs.append([conv, nn.LeakyReLU(0.2)])
        seqs.append([nn.Conv2d(nf, 1, kw, stride=1, padding=padw)])
        for i, seq in enumerate(seqs):
            self.add_module(f"model{i}", nn.Sequential(*seq))
        self.n_models = len(seqs)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(self.n_models):
            x = getattr(self, f"model{i}")(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on the input at full, 1/2, 1/4 ... resolution (avg-pool 3, stride 2, pad 1,
    count_include_pad=False between scales). Input: cat(seg, image) with
    input_nc = semantic_nc + 3. Returns one feature list per scale."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_D: int = 2) -> None:
        super().__init__()
        self.num_D = num_D
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf, n_layers))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i in range(self.num_D):
            out.append(getattr(self, f"discriminator_{i}")(x))
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return out


# ---------------------------------------------------------------------------------- input helpers
def one_hot(label_map, label_nc: int, dontcare: bool = True) -> torch.Tensor:
    """Integer label map (H, W) / (B, 1, H, W) / (B, H, W) -> float one-hot (B, label_nc + dontcare, H, W).

    As the official pipeline: the value 255 becomes label_nc (the dontcare slot) when ``dontcare``.
    Any other id outside [0, channels) is an error (ValueError), never silently clamped.
    """
    t = torch.as_tensor(np.asarray(label_map) if not isinstance(label_map, torch.Tensor) else label_map)
    t = t.long()
    if t.dim() == 2:
        t = t[None]
    elif t.dim() == 4:
        if t.shape[1] != 1:
            raise ValueError(f"label map must have one channel, got {tuple(t.shape)}")
        t = t[:, 0]
    if dontcare:
        t = torch.where(t == 255, torch.full_like(t, label_nc), t)
    nc = label_nc + int(dontcare)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= nc):
        bad = sorted({int(v) for v in torch.unique(t) if v < 0 or v >= nc})[:10]
        raise ValueError(f"label ids {bad} are out of range for {label_nc} labels"
                         f"{' (+ dontcare 255)' if dontcare else ''}")
    out = torch.zeros(t.shape[0], nc, t.shape[1], t.shape[2])
    return out.scatter_(1, t[:, None], 1.0)


def instance_edges(instance_map) -> torch.Tensor:
    """Instance ids (H, W) / (B, 1, H, W) / (B, H, W) -> edge map (B, 1, H, W) float: 1 where a pixel's id
    differs from its left, right, upper or lower neighbour (both pixels of each differing pair)."""
    t = torch.as_tensor(np.asarray(instance_map) if not isinstance(instance_map, torch.Tensor) else instance_map)
    t = t.long()
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[:, None]
    edge = torch.zeros(t.shape, dtype=torch.bool)
    dh = t[..., :, 1:] != t[..., :, :-1]
    edge[..., :, 1:] |= dh
    edge[..., :, :-1] |= dh
    dv = t[..., 1:, :] != t[..., :-1, :]
    edge[..., 1:, :] |= dv
    edge[..., :-1, :] |= dv
    return edge.float()


def make_semantics(label_map, label_nc: int, dontcare: bool, instance_map=None, use_instance: bool = False):
    """The generator's input: one_hot(label) with the instance-edge channel appended last when used."""
    seg = one_hot(label_map, label_nc, dontcare)
    if use_instance:
        if instance_map is None:
            edges = torch.zeros(seg.shape[0], 1, *seg.shape[-2:])  # one instance everywhere: no edges
        else:
            edges = instance_edges(instance_map)
        seg = torch.cat([seg, edges.to(seg.dtype)], dim=1)
    return seg


# ------------------------------------------------------------------------------------ family hooks
def _is_spade(sd: Mapping[str, torch.Tensor]) -> bool:
    return ("fc.weight" in sd and "head_0.conv_0.weight_orig" in sd and "conv_img.weight" in sd
            and "head_0.norm_0.mlp_shared.0.weight" in sd)


_D_KEY = re.compile(r"^discriminator_(\d+)\.model(\d+)\.")


def _detect_discriminator(sd: Mapping[str, torch.Tensor]) -> dict | None:
    """NVlabs/SPADE ``latest_net_D.pth`` (MultiscaleDiscriminator): keys ``discriminator_i.modelj.*``.
    input_nc and ndf from the first conv, n_layers from the number of ``modelj`` per scale, num_D from i."""
    scales: dict[int, set[int]] = {}
    for k in sd:
        m = _D_KEY.match(k)
        if not m:
            return None
        scales.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
    if not scales or sorted(scales) != list(range(len(scales))):
        return None
    models = scales[0]
    if any(v != models for v in scales.values()) or sorted(models) != list(range(len(models))) or len(models) < 3:
        return None
    w0 = sd.get("discriminator_0.model0.0.weight")
    if w0 is None or w0.ndim != 4 or tuple(w0.shape[-2:]) != (4, 4):
        return None
    return {"role": "discriminator", "input_nc": int(w0.shape[1]), "ndf": int(w0.shape[0]),
            "n_layers": len(models) - 1, "num_D": len(scales)}


def detect(state_dict: Mapping[str, torch.Tensor]) -> dict | None:
    """Generator hparams (no ``role`` key), or ``{"role": "discriminator", input_nc, ndf, n_layers, num_D}``
    for the multiscale discriminator (``latest_net_D.pth``)."""
    if not _is_spade(state_dict):
        return _detect_discriminator(state_dict)
    fc = state_dict["fc.weight"]
    semantic_nc = int(state_dict["head_0.norm_0.mlp_shared.0.weight"].shape[1])
    ngf = int(state_dict["conv_img.weight"].shape[1])
    most = any(k.startswith("up_4.") for k in state_dict)
    if most:
        ngf *= 2  # conv_img sees ngf/2 channels after up_4
    hp: dict = dict(semantic_nc=semantic_nc, ngf=ngf)
    nhidden = int(state_dict["head_0.norm_0.mlp_shared.0.weight"].shape[0])
    if nhidden != SPADE.NHIDDEN:  # one of our own small models
        hp["nhidden"] = nhidden
    if fc.dim() == 2:  # VAE variant: Linear(z_dim -> 16·ngf·sh·sw)
        hp.update(use_vae=True, z_dim=int(fc.shape[1]))
        grid = int(fc.shape[0]) // (16 * ngf)
        side = int(round(math.sqrt(grid)))
        mode = "most" if most else "normal"
        if side * side == grid:
            hp.update(crop_size=side * 2 ** UPSAMPLING_MODES[mode], aspect_ratio=1.0)
        else:  # sh = sw/2 (aspect 2): grid = sw²/2
            sw = int(round(math.sqrt(grid * 2)))
            hp.update(crop_size=sw * 2 ** UPSAMPLING_MODES[mode], aspect_ratio=2.0)
    known = OFFICIAL_CONFIGS.get(semantic_nc) if ngf == 64 else None
    if known is not None:
        hp.update(known)
    else:
        hp.update(label_nc=semantic_nc, contain_dontcare_label=False, use_instance=False,
                  num_upsampling_layers="normal")
    if most:
        hp["num_upsampling_layers"] = "most"
    return hp


def prepare_state_dict(state_dict: Mapping[str, torch.Tensor], hparams: dict) -> dict:
    return dict(state_dict)


def build(role: str | None = None, **hparams) -> nn.Module:
    """SPADEGenerator, or MultiscaleDiscriminator for ``role="discriminator"``."""
    if role == "discriminator":
        return MultiscaleDiscriminator(**hparams)
    if role not in (None, "generator"):
        raise ValueError(f"unknown role {role!r}; expected 'generator' or 'discriminator'")
    return SPADEGenerator(**hparams)
