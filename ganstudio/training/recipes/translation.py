"""What CycleGAN and pix2pix share (junyanz/pytorch-CycleGAN-and-pix2pix): weight init N(0, 0.02), Adam 2e-4
with beta1 0.5, and the 'linear' learning-rate policy: constant for the first half of training, then linear
decay to 0 (the official n_epochs / n_epochs_decay, here in steps: ``--option decay_start=0.5``)."""
from __future__ import annotations

import torch
from torch import nn


def init_weights(m: nn.Module, gain: float = 0.02) -> None:
    name = type(m).__name__
    if hasattr(m, "weight") and m.weight is not None and ("Conv" in name or "Linear" in name):
        nn.init.normal_(m.weight, 0.0, gain)
        if getattr(m, "bias", None) is not None:
            nn.init.zeros_(m.bias)
    elif "BatchNorm" in name and getattr(m, "weight", None) is not None:
        nn.init.normal_(m.weight, 1.0, gain)
        nn.init.zeros_(m.bias)


def linear_decay(opt: torch.optim.Optimizer, steps: int, decay_start: float = 0.5):
    """LambdaLR: 1.0 until ``decay_start * steps``, then linearly to 0 at ``steps``."""
    start = int(steps * decay_start)
    span = max(1, steps - start)

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, 1.0 - (step - start + 1) / (span + 1))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


class ImagePool:
    """The official 50-image history buffer for D: with probability 1/2 D sees an older fake instead of
    the new one (which then takes its place). Uses Python's ``random`` (restored on resume); the images
    are part of the checkpoint."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        import random

        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif random.random() > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"images": [t.cpu() for t in self.images]}

    def load_state_dict(self, state: dict, device) -> None:
        self.images = [t.to(device) for t in state.get("images", [])]
