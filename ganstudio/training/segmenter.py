"""A small semantic segmenter, to measure layout fidelity the way the SPADE paper does: a segmentation
network trained on real (photo, label map) pairs predicts labels for *generated* photos, and its per-class
accuracy and mean IoU against the label maps they were generated from say how faithfully the generator
follows the layout. (The paper uses pretrained segmenters per data set; none installs here, so this one is
trained on the same kind of pairs the generator learned from.)"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
                         nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True))


class Segmenter(nn.Module):
    """A three-level U-Net: (B, 3, H, W) in [-1, 1] -> (B, K, H, W) logits; H, W multiples of 8."""

    def __init__(self, n_classes: int, width: int = 24) -> None:
        super().__init__()
        w = width
        self.e1, self.e2, self.e3 = _block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w)
        self.mid = _block(4 * w, 4 * w)
        self.d3, self.d2, self.d1 = _block(8 * w, 2 * w), _block(4 * w, w), _block(2 * w, w)
        self.out = nn.Conv2d(w, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.e1(x)
        e2 = self.e2(F.max_pool2d(e1, 2))
        e3 = self.e3(F.max_pool2d(e2, 2))
        m = self.mid(F.max_pool2d(e3, 2))
        d3 = self.d3(torch.cat([F.interpolate(m, scale_factor=2.0), e3], 1))
        d2 = self.d2(torch.cat([F.interpolate(d3, scale_factor=2.0), e2], 1))
        d1 = self.d1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))
        return self.out(d1)


def train_segmenter(images: torch.Tensor, labels: torch.Tensor, n_classes: int, *, epochs: int = 6,
                    batch: int = 16, lr: float = 2e-3, seed: int = 0, log=None) -> Segmenter:
    """``images`` (N, 3, H, W) uint8, ``labels`` (N, H, W) int64 class indices (-1 = ignore)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = Segmenter(n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    n = len(images)
    steps = epochs * max(1, n // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    step = 0
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=g)
        for i in range(0, n - batch + 1, batch):
            idx = order[i:i + batch]
            x = images[idx].float() / 127.5 - 1
            y = labels[idx]
            if torch.rand((), generator=g) < 0.5:
                x, y = x.flip(-1), y.flip(-1)
            loss = F.cross_entropy(net(x), y, ignore_index=-1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if log is not None and step % 50 == 0:
                log(f"segmenter epoch {epoch + 1}/{epochs} step {step}/{steps}: loss {float(loss.detach()):.4f}")
    return net.eval()


@torch.no_grad()
def predict(net: Segmenter, images: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] or uint8 -> (N, H, W) class indices."""
    out = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        x = x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x.float()
        out.append(net(x).argmax(1))
    return torch.cat(out)


def layout_scores(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> dict:
    """Pixel accuracy, per-class accuracy (recall) and IoU, and their means over classes present."""
    p, t = pred.flatten().numpy(), target.flatten().numpy()
    ok = t >= 0
    p, t = p[ok], t[ok]
    conf = np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(conf).astype(np.float64)
    per_true = conf.sum(1)
    per_pred = conf.sum(0)
    present = per_true > 0
    acc = np.where(present, tp / np.maximum(per_true, 1), np.nan)
    iou = np.where(present, tp / np.maximum(per_true + per_pred - tp, 1), np.nan)
    return {"pixel_accuracy": float(tp.sum() / max(conf.sum(), 1)), "mean_class_accuracy": float(np.nanmean(acc)),
            "mIoU": float(np.nanmean(iou)), "class_accuracy": acc.tolist(), "class_iou": iou.tolist()}
