"""Differentiable augmentation for GANs on small data, written from the papers' method descriptions:

* DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020):
  the *same kind* of random augmentation is applied to real and fake images every time D sees them (in
  the D and the G step), and it is differentiable, so G learns through it. Policy "color, translation,
  cutout": brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5]; translation by up to 1/8 of the
  side (zero padding); cutout of a square half the side at a random place.
* ADA-style adaptive probability (Karras et al., "Training Generative Adversarial Networks with Limited
  Data", NeurIPS 2020): each augmentation is applied to a sample with probability p, and p follows the
  overfitting heuristic r_t = E[sign(D(real))]: every 4 steps p moves up when r_t > 0.6 (the target) and
  down when below, by (images seen) / (ada_kimg * 1000) so that it can go from 0 to 1 over ada_kimg
  thousand images (100 here: our data sets are small; the paper uses 500).

Modes: "none", "diffaug" (p = 1), "ada" (adaptive p, starting at 0).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

ADA_TARGET = 0.6
ADA_INTERVAL = 4
ADA_KIMG = 100


def _per_sample(p: float, n: int, device) -> torch.Tensor:
    return (torch.rand(n, 1, 1, 1, device=device) < p).float()


def color(x: torch.Tensor, p: float) -> torch.Tensor:
    n = x.shape[0]
    m = _per_sample(p, n, x.device)
    x = x + m * (torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    s = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) * 2
    x = torch.lerp(x, (x - mean) * s + mean, m.to(x.dtype))
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    c = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    m = _per_sample(p, n, x.device)
    return torch.lerp(x, (x - mean) * c + mean, m.to(x.dtype))


def translation(x: torch.Tensor, p: float, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    m = _per_sample(p, n, x.device).view(n)
    ty = (torch.randint(-sh, sh + 1, (n,), device=x.device) * m).long()
    tx = (torch.randint(-sw, sw + 1, (n,), device=x.device) * m).long()
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = (gy[None] + ty[:, None, None] + 1).clamp(0, h + 1)
    gx = (gx[None] + tx[:, None, None] + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    idx = (gy * (w + 2) + gx).view(n, 1, -1).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, p: float, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device).view(1, h, 1)
    gx = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (gy >= cy - ch // 2) & (gy < cy - ch // 2 + ch) & (gx >= cx - cw // 2) & (gx < cx - cw // 2 + cw)
    m = _per_sample(p, n, x.device).view(n, 1, 1)
    keep = 1.0 - (inside.float() * m)
    return x * keep.unsqueeze(1).to(x.dtype)


class Augmenter:
    """Apply the policy to images D sees; for "ada", track r_t and adapt p (see the module docstring)."""

    def __init__(self, mode: str = "none", device=None) -> None:
        self.mode = mode or "none"
        self.p = 1.0 if self.mode == "diffaug" else 0.0
        self._signs = 0.0
        self._count = 0
        self._steps = 0
        self._images = 0

    @property
    def adaptive(self) -> bool:
        return self.mode == "ada"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "none" or self.p <= 0:
            return x
        return cutout(translation(color(x, self.p), self.p), self.p)

    def observe(self, real_logits) -> None:
        """Record D's outputs on real images (for r_t)."""
        if not self.adaptive:
            return
        t = real_logits if isinstance(real_logits, torch.Tensor) else torch.cat([o.flatten() for o in real_logits])
        self._signs += float(torch.sign(t.detach().float()).sum())
        self._count += int(t.numel())

    def update(self, batch_images: int) -> None:
        """After each step: every ADA_INTERVAL steps move p towards the target overfitting level."""
        if not self.adaptive:
            return
        self._steps += 1
        self._images += batch_images
        if self._steps % ADA_INTERVAL or not self._count:
            return
        signs, count = self._signs, self._count
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            t = torch.tensor([signs, float(count)], dtype=torch.float64)
            torch.distributed.all_reduce(t)
            signs, count = float(t[0]), float(t[1])
        rt = signs / count
        adjust = (1.0 if rt > ADA_TARGET else -1.0) * self._images / (ADA_KIMG * 1000)
        self.p = float(min(1.0, max(0.0, self.p + adjust)))
        self._signs, self._count, self._images = 0.0, 0, 0

    def state_dict(self) -> dict:
        return {"mode": self.mode, "p": self.p, "signs": self._signs, "count": self._count, "steps": self._steps,
                "images": self._images}

    def load_state_dict(self, state: dict) -> None:
        self.p = float(state.get("p", self.p))
        self._signs = float(state.get("signs", 0.0))
        self._count = int(state.get("count", 0))
        self._steps = int(state.get("steps", 0))
        self._images = int(state.get("images", 0))
