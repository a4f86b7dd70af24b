"""How much of the input's content a translation keeps: SSIM between the Sobel edge maps of the input and
of the output (1 = the same edges; style may change colours and texture, the layout should stay)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ganstudio.training.metrics import ssim


def edges(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> (B, 1, H, W) Sobel gradient magnitude of the luma, scaled to [-1, 1]."""
    x = (x.float().clamp(-1, 1) + 1) / 2
    if x.shape[1] == 3:
        x = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device)[None, None] / 4
    ky = kx.transpose(2, 3)
    gx, gy = F.conv2d(x, kx, padding=1), F.conv2d(x, ky, padding=1)
    mag = torch.sqrt(gx ** 2 + gy ** 2).clamp(0, 1)
    return mag * 2 - 1


def edge_ssim(inputs: torch.Tensor, outputs: torch.Tensor) -> float:
    return ssim(edges(inputs), edges(outputs))
