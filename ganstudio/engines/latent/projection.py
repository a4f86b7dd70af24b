"""Project a photo into a generator's latent space by optimisation (W or W+; Z for a DCGAN).

The photo is centre-cropped to a square and resized to the model's resolution. Starting from the mean latent,
Adam minimises   pixel MSE  +  ``perceptual`` x feature distance   with a learning rate that ramps down.
StyleGAN2 noise maps are held fixed at the checkpoint's stored maps (they are not optimised, unlike the official
projector, which also regularises them); the result is rendered with noise "stored".

About the perceptual term, honestly: the usual choice (LPIPS on VGG / AlexNet) needs downloaded ImageNet weights,
which GAN Studio cannot assume offline. We use instead a *fixed, seeded random* convolution stack (3 stages,
ReLU, no training), applied at two scales, with LPIPS-style per-position channel normalisation. Random conv
features are a known, weaker stand-in: they capture local structure and edges, so the reconstruction is less
blurry than with a pixel loss alone, but they carry no learned notion of "semantic" similarity. The same weights
are built on every run (seed 1234), so results are reproducible.

Precision: the optimisation always runs in fp32, whatever the job asks for. Measured here (bench/latent.py
--projection, 64 px StyleGAN2) a bf16-autocast step ran at 0.3x (sequential run) to 0.8x (interleaved with
fp32) the speed of an fp32 one on the CPU, the backward of the modulated convs and upfirdn2d being no AMX
matrix work, for the same reconstruction (22.7 vs 22.9 dB after 30 steps, 29.0 vs 28.9 dB after 100);
the official projectors are fp32 too.

The generator is the shared cached network, used read-only: gradients flow to the latent only (its weights
keep ``requires_grad`` off; nothing here switches it). Progress with an ETA comes at least about once a
second, from inside a step where a step is long (the forward's blocks, the backward's saved tensors), and
Cancel acts there too.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.core.progress import CancelToken
from ganstudio.engines.latent.model import LatentError, open_model
from ganstudio.engines.latent.progress import REPORT_EVERY_S, JobProgress
from ganstudio.engines.latent.render import to_uint8


class RandomFeatures(nn.Module):
    """A fixed, seeded random conv stack used as an offline perceptual feature network."""

    def __init__(self, seed: int = 1234, widths: tuple[int, ...] = (32, 64, 96)) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        in_ch = 3
        for i, w in enumerate(widths):
            conv = nn.Conv2d(in_ch, w, 3, stride=1 if i == 0 else 2, padding=1, bias=False)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2.0 / (in_ch * 9)))
            conv.weight.requires_grad_(False)
            self.convs.append(conv)
            in_ch = w

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for conv in self.convs:
            x = F.relu(conv(x))
            feats.append(x)
        return feats


def feature_distance(net: RandomFeatures, a: torch.Tensor, b: torch.Tensor, scales: int = 2) -> torch.Tensor:
    """LPIPS-style: unit-normalise features over channels, mean squared difference, summed over layers and
    scales. ``a``, ``b`` (B, 3, H, W) in [-1, 1]."""
    total = a.new_zeros(())
    for s in range(scales):
        if s:
            a = F.avg_pool2d(a, 2)
            b = F.avg_pool2d(b, 2)
        for fa, fb in zip(net(a), net(b)):
            fa = fa / (fa.norm(dim=1, keepdim=True) + 1e-8)
            fb = fb / (fb.norm(dim=1, keepdim=True) + 1e-8)
            total = total + (fa - fb).pow(2).sum(1).mean()
    return total


def load_target(image, size: int) -> np.ndarray:
    """A path or (H, W, 3) uint8 array -> (size, size, 3) float32 in [0, 1], centre-cropped and resized."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        from ganstudio.core.imageio import read_image, to_float_rgb

        arr = to_float_rgb(read_image(image))
    else:
        arr = np.asarray(image)
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        arr = arr[:, :, :3]
    h, w = arr.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    arr = arr[top:top + side, left:left + side]
    if side != size:
        im = Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8))
        im = im.resize((size, size), Image.Resampling.LANCZOS)
        arr = np.asarray(im).astype(np.float32) / 255.0
    return np.ascontiguousarray(arr, np.float32)


@contextlib.contextmanager
def _backward_watch(cancel: CancelToken | None, report):
    """Within the block, the backward pass of what the block computes checks ``cancel`` each time it reads a
    saved tensor (once per operation) and calls ``report()`` at most every REPORT_EVERY_S seconds. Uses
    autograd's thread-local saved-tensor hooks: nothing is installed on the (shared) network."""
    if cancel is None:
        yield
        return
    last = [time.monotonic()]

    def pack(t):
        return t

    def unpack(t):
        cancel.check()
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_S:
            last[0] = now
            report()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        yield


def project(model, image_path=None, image: np.ndarray | None = None, space: str = "w+", steps: int = 200,
            lr: float = 0.05, perceptual: float = 1.0, preview_every: int = 10,
            cancel: CancelToken | None = None, device="auto", precision="auto"):
    """Engine generator. Returns {'wplus': (1, L, D) float32, 'image', 'target', 'error_image' (H, W, 3) uint8,
    'psnr', 'mae', 'losses', 'space', 'runtime'}. ``precision`` is accepted for symmetry and not used: the
    optimisation runs in fp32 (module docstring)."""
    lm = open_model(model, device, "fp32")
    space = space.lower()
    if space not in ("w", "w+"):
        raise LatentError("project into 'w' or 'w+'")
    src = image if image is not None else image_path
    if src is None:
        raise LatentError("give a photo to project")
    steps = max(1, int(steps))
    target01 = load_target(src, lm.resolution)
    dev = lm.device
    target = torch.as_tensor(target01).permute(2, 0, 1)[None].to(dev) * 2 - 1
    feats = RandomFeatures().to(dev)
    if lm.is_stylegan:
        start = lm.latent_avg.detach().clone().reshape(1, 1, -1)
    else:
        start = torch.zeros(1, 1, lm.z_dim, device=dev)
    rows = lm.n_latent if space == "w+" else 1
    lat = start.repeat(1, rows, 1).clone().requires_grad_(True)
    opt = torch.optim.Adam([lat], lr=lr)
    noise = lm.net.stored_noise() if lm.is_stylegan else None
    losses: list[float] = []
    prog = JobProgress(steps, cancel, "step")

    def synth(x: torch.Tensor) -> torch.Tensor:
        if lm.is_stylegan:
            wp = x if x.shape[1] == lm.n_latent else x.repeat(1, lm.n_latent, 1)
            return lm.net.synthesis(wp, noise)
        return lm.net(x[:, 0, :, None, None])

    last_yield = time.monotonic()
    for step in range(steps):
        if cancel is not None:
            cancel.check()
        t = step / steps
        ramp = min(1.0, (1 - t) / 0.25)  # cosine ramp-down over the last quarter
        ramp = (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, (t + 1 / steps) / 0.05)  # quick ramp-up
        for g in opt.param_groups:
            g["lr"] = lr * ramp
        msg = f"step {step + 1}/{steps}" + (f": loss {losses[-1]:.4f}" if losses else "")
        with _backward_watch(cancel, lambda s=step, m=msg: cancel.report(prog.at(s + 0.5, m))):
            # the forward's blocks move the bar through the first half of the step, the backward the second
            with prog.inside(lm, 0.5, msg):
                img = synth(lat)
            loss = F.mse_loss(img, target)
            if perceptual:
                loss = loss + perceptual * feature_distance(feats, img, target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        now = time.monotonic()
        if step % preview_every == 0 or step == steps - 1:
            last_yield = now
            yield prog.at(step + 1, f"step {step + 1}/{steps}: loss {losses[-1]:.4f}",
                          preview=to_uint8(img.detach())[0])
        elif now - last_yield >= REPORT_EVERY_S:
            last_yield = now
            yield prog.at(step + 1, f"step {step + 1}/{steps}: loss {losses[-1]:.4f}")
    with torch.no_grad():
        final = synth(lat)
    out = to_uint8(final)[0]
    tgt = (np.clip(target01, 0, 1) * 255 + 0.5).astype(np.uint8)
    err = np.abs(out.astype(np.float32) - tgt.astype(np.float32)) / 255.0
    mse = float(np.mean(err ** 2))
    psnr = 10 * math.log10(1.0 / max(mse, 1e-12))
    wplus = lat.detach()
    if wplus.shape[1] != lm.n_latent:
        wplus = wplus.repeat(1, lm.n_latent, 1)
    return {"wplus": wplus.cpu().numpy().astype(np.float32), "image": out, "target": tgt,
            "error_image": np.clip(err * 4 * 255, 0, 255).astype(np.uint8), "psnr": psnr, "mae": float(err.mean()),
            "losses": losses, "space": space, "runtime": lm.runtime.as_kwargs()}
