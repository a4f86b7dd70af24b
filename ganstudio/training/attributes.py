"""A small attribute classifier: images -> several attribute scores, trained on labelled renders.

The bundled models use it twice (models/recipes): to label generated samples so that supervised latent
directions can be fitted to them (InterFaceGAN's method: a linear boundary in W per attribute), and, as a
second, independently seeded network, to measure what each direction does (how much moving along it
changes every attribute). Attributes are "binary" (trained with logistic loss, reported as a
probability) or "continuous" (least squares on the value scaled to [0, 1]).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class AttributeNet(nn.Module):
    """Four stride-2 conv stages (BatchNorm, ReLU), global average pool, one linear head per attribute."""

    def __init__(self, n_out: int, width: int = 32, channels: int = 3) -> None:
        super().__init__()
        layers, c = [], channels
        for w in (width, width * 2, width * 4, width * 8):
            layers += [nn.Conv2d(c, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),
                       nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [-1, 1] -> (B, n_out) raw
        return self.head(self.features(x).mean(dim=(2, 3)))


@dataclass
class AttributeModel:
    net: AttributeNet
    names: list
    kinds: list  # "binary" | "continuous"
    ranges: list = field(default_factory=list)  # (lo, hi) of continuous targets, to map back
    size: int = 64

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch: int = 256) -> np.ndarray:
        """(N, C, H, W) in [-1, 1] -> (N, K): probabilities for binary attributes, values for continuous."""
        self.net.eval()
        dev = next(self.net.parameters()).device
        out = []
        for i in range(0, len(images), batch):
            x = images[i:i + batch].to(dev).float()
            if x.shape[-1] != self.size:
                x = F.interpolate(x, size=(self.size, self.size), mode="area")
            raw = self.net(x).float().cpu()
            cols = []
            for k, kind in enumerate(self.kinds):
                if kind == "binary":
                    cols.append(torch.sigmoid(raw[:, k]))
                else:
                    lo, hi = self.ranges[k]
                    cols.append(raw[:, k].clamp(0, 1) * (hi - lo) + lo)
            out.append(torch.stack(cols, 1))
        return torch.cat(out).numpy()

    def state(self) -> dict:
        return {"net": self.net.state_dict(), "names": list(self.names), "kinds": list(self.kinds),
                "ranges": [list(r) for r in self.ranges], "size": self.size}

    @classmethod
    def from_state(cls, state: dict, width: int = 32) -> "AttributeModel":
        channels = int(state["net"]["features.0.weight"].shape[1])  # grey or RGB, from the first conv
        net = AttributeNet(len(state["names"]), width=width, channels=channels)
        net.load_state_dict(state["net"])
        return cls(net.eval(), list(state["names"]), list(state["kinds"]), [tuple(r) for r in state["ranges"]],
                   int(state["size"]))


def train_attribute_model(images: torch.Tensor, targets: np.ndarray, names: list, kinds: list, *, epochs: int = 4,
                          batch: int = 64, lr: float = 2e-3, seed: int = 0, width: int = 32, device="cpu",
                          log=None) -> AttributeModel:
    """``images`` (N, C, H, W) in [-1, 1] (uint8 also accepted), ``targets`` (N, K) floats (NaN = unknown
    for that image). Adam, cosine decay, random horizontal flips, except for attributes whose sign flips
    with the image (``names`` starting with ``yaw`` / ``turn``: their target is negated on a flip)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    k = len(names)
    t = torch.as_tensor(targets, dtype=torch.float32)
    ranges = []
    scaled = t.clone()
    for j, kind in enumerate(kinds):
        col = t[:, j][~torch.isnan(t[:, j])]
        lo, hi = (0.0, 1.0) if kind == "binary" else (float(col.min()), float(col.max()))
        if hi <= lo:
            hi = lo + 1.0
        ranges.append((lo, hi))
        if kind != "binary":
            scaled[:, j] = (t[:, j] - lo) / (hi - lo)
    mirrored = [j for j, n in enumerate(names) if n.startswith(("yaw", "turn"))]
    net = AttributeNet(k, width=width, channels=images.shape[1]).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(images)
    steps = epochs * max(1, n // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    size = images.shape[-1]
    step = 0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=g)
        for i in range(0, n - batch + 1, batch):
            idx = order[i:i + batch]
            x = images[idx].to(device).float()
            if images.dtype == torch.uint8:
                x = x / 127.5 - 1
            y = scaled[idx].to(device).clone()
            flip = torch.rand(len(idx), generator=g) < 0.5
            if flip.any():
                x[flip.to(device)] = x[flip.to(device)].flip(-1)
                for j in mirrored:
                    y[flip.to(device), j] = 1 - y[flip.to(device), j]  # scaled to [0, 1]: negation is 1 - v
            raw = net(x)
            loss = torch.zeros((), device=device)
            for j, kind in enumerate(kinds):
                ok = ~torch.isnan(y[:, j])
                if not ok.any():
                    continue
                if kind == "binary":
                    loss = loss + F.binary_cross_entropy_with_logits(raw[ok, j], y[ok, j])
                else:
                    loss = loss + F.mse_loss(raw[ok, j], y[ok, j]) * 4
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if log is not None and step % 50 == 0:
                log(f"attribute classifier epoch {epoch + 1}/{epochs} step {step}/{steps}: loss {float(loss.detach()):.4f}")
    return AttributeModel(net.eval(), list(names), list(kinds), ranges, size)


def accuracy(model: AttributeModel, images: torch.Tensor, targets: np.ndarray) -> dict:
    """Per attribute: accuracy (binary, threshold 0.5) or correlation (continuous) on held-out data."""
    pred = model.predict(images)
    out = {}
    for j, (name, kind) in enumerate(zip(model.names, model.kinds)):
        ok = ~np.isnan(targets[:, j])
        if kind == "binary":
            out[name] = float(((pred[ok, j] > 0.5) == (targets[ok, j] > 0.5)).mean())
        else:
            out[name] = float(np.corrcoef(pred[ok, j], targets[ok, j])[0, 1])
    return out
