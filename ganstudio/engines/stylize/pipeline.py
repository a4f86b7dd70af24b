"""The Stylize computation: an (H, W, 3) image in, the generator's (H, W, 3) uint8 image out.

Input [-1, 1] RGB, output ``(y + 1) / 2`` to uint8 (rounded; ``official`` truncates like ``test.py``).
The fully convolutional network runs at the image's own size, padded to its size multiple and to the
smallest size it can run at (``min_side``: a 1×20000 strip or a 4 px icon is padded by replication and
cropped back), so any image works. Images above ``tile_pixels`` run in overlapping tiles
(``engines.tiling.run_tiled``); with InstanceNorm the tiles run twice, first to measure the image-wide
statistics, then normalised with them (``norms``), so the tiles agree in tone. The "official" option
reproduces ``test.py``: bicubic resize to 256x256 and, for pix2pix BatchNorm networks, batch statistics.

Long work reports from inside a forward pass: the generator's convolutions are watched
(``runtime.watch_blocks``), so within ``block_watch`` Cancel acts within one convolution and progress is
reported about every quarter second through ``report`` (the job's ``cancel.report`` side channel).

Progress of one call is counted in forward passes ("units": 1 untiled, tiles × passes tiled): the
generator yields ``Progress(units_done, units_total, "tile k/n")`` and ``report`` receives
``Progress(unit + fraction, units_total, ...)`` from inside a pass; callers map both the same way.
"""
from __future__ import annotations

import contextlib
import math
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganstudio.core.progress import CancelToken, Progress, map_progress, run_to_completion
from ganstudio.engines.stylize import norms
from ganstudio.runtime import Runtime, block_watch, resolve_runtime, watch_blocks

OFFICIAL_SIZE = 256
REPORT_EVERY_S = 0.25  # at most one progress report from inside a pass per this many seconds
TILE_PIXELS = 1024 * 1024  # above this many (padded) pixels an image runs in tiles
OVERLAP = 64

Report = Optional[Callable[[Progress], None]]


# -------------------------------------------------------------------------------------------- sizes
def size_multiple(net: nn.Module) -> int:
    """Spatial multiple the network needs for same-size output: 4 (ResNet) or 2**num_downs (U-Net)."""
    return 2 ** getattr(net, "num_downs", 2)


def min_side(net: nn.Module) -> int:
    """The smallest side the network runs at. The ResNet's blocks work at 1/4 scale and need at least 2
    pixels there (their reflection pads need more than the pad, InstanceNorm more than one value): 8.
    The U-Net needs one multiple (its innermost level is then 1x1, where it has no normalisation)."""
    return max(8, size_multiple(net))


def padded_size(net: nn.Module, h: int, w: int) -> tuple[int, int]:
    m, lo = size_multiple(net), min_side(net)
    return max(lo, -(-h // m) * m), max(lo, -(-w // m) * m)


def pad_input(x: torch.Tensor, net: nn.Module) -> torch.Tensor:
    """Pad (B, C, H, W) at the bottom / right to ``padded_size``: reflected where the image is large
    enough, else replicated (a 1 px strip cannot be reflected). Callers crop the output back."""
    h, w = x.shape[-2:]
    ph, pw = padded_size(net, h, w)
    ph, pw = ph - h, pw - w
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


# ------------------------------------------------------------------------------------ watched forward
def _blocks(net: nn.Module) -> list[nn.Module]:
    """What is watched: every convolution. Both generators run each exactly once per forward, in order,
    and their work is spread evenly enough that the count is a fair fraction of the pass."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


class Watch:
    """Cancel within one convolution and progress from inside a pass, for one call (one thread)."""

    def __init__(self, net: nn.Module, cancel: Optional[CancelToken], report: Report) -> None:
        self.cancel, self.report = cancel, report
        self.n_blocks = watch_blocks(net, _blocks(net)) if cancel is not None else 0

    @contextlib.contextmanager
    def pass_(self, unit: float, total: float, message: str):
        """Within the block one forward pass runs; it is unit ``unit`` of ``total``."""
        if self.cancel is None:
            yield
            return
        on_block = None
        if self.report is not None and self.n_blocks:
            def on_block(count: int) -> None:
                frac = min(count / self.n_blocks, 0.99)
                pct = f"{int(frac * 100)}%"
                self.report(Progress(unit + frac, total, f"{message} · {pct}" if message else pct))
        with block_watch(self.cancel, on_block, every_s=REPORT_EVERY_S):
            yield


def _channels_last(net: nn.Module, rt: Runtime) -> bool:
    """channels_last input only where it measured faster (bench/stylize.py --precision-table): the U-Net on
    CUDA (1.1-1.5x). Only the input is converted: the shared module stays as the cache made it (cuDNN
    picks the channels_last kernels from the input)."""
    return rt.is_cuda and bool(getattr(net, "prefers_channels_last", False))


def forward(net: nn.Module, x: torch.Tensor, rt: Runtime, watch: Optional[Watch] = None,
            unit: float = 0, total: float = 1, message: str = "") -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] (any device) -> (B, 3, H, W) in [-1, 1] float32 on ``rt.device``."""
    h, w = x.shape[-2:]
    x = pad_input(x.to(rt.device, non_blocking=True), net)
    if _channels_last(net, rt):
        x = x.contiguous(memory_format=torch.channels_last)
    ctx = watch.pass_(unit, total, message) if watch is not None else contextlib.nullcontext()
    with torch.inference_mode(), ctx, rt.autocast():
        y = net(x)
    y = y[..., :h, :w].float()
    return y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y


# ---------------------------------------------------------------------------------------- conversions
def to_uint8(y: torch.Tensor, truncate: bool = False) -> np.ndarray:
    """(B, 3, H, W) or (3, H, W) in [-1, 1] -> (.., H, W, 3) uint8. ``truncate`` mimics the official
    ``astype(np.uint8)``; otherwise round to nearest."""
    v = ((y.float() + 1.0) / 2.0 * 255.0).clamp(0, 255)
    v = v.floor() if truncate else v.round()
    return v.to(torch.uint8).movedim(-3, -1).cpu().numpy()


def to_input(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float [0, 1] or uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    a = rgb.astype(np.float32) / np.float32(255.0) if rgb.dtype == np.uint8 else rgb
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]
    return t * 2.0 - 1.0


def official_resize(rgb: np.ndarray, size: int = OFFICIAL_SIZE) -> np.ndarray:
    """Bicubic resize as test.py does: PIL bicubic on the 8-bit RGB image -> float [0, 1]."""
    u8 = rgb if rgb.dtype == np.uint8 else np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    im = Image.fromarray(np.ascontiguousarray(u8)).resize((size, size), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------- tiles
def _tiled(net: nn.Module, x: torch.Tensor, rt: Runtime, tile: int, overlap: int, watch: Watch,
           cancel: Optional[CancelToken]):
    """Overlapping tiles blended by ``engines.tiling.run_tiled`` (memory bounded by the tile). Yields
    Progress in units (tiles x passes); returns (1, 3, H, W) float32 on the CPU.

    A tile run on its own would normalise every InstanceNorm layer with the tile's own statistics, which
    gives every tile its own tone. So with InstanceNorm the tiles run twice: the first pass only measures
    every layer's mean and variance over all tiles (``norms.tiled_norm_stats``), the second normalises
    every tile with those image-wide statistics (``norms.frozen_instance_norm``). Measured on a seeded
    test image with 64 px tiles, the mean difference from the untiled result fell from 7.7 to 2.2 levels."""
    from ganstudio.engines.tiling import run_tiled, tile_grid

    m = size_multiple(net)
    h, w = x.shape[-2:]
    xp = pad_input(x, net)
    tile = max(min_side(net), tile // m * m)
    overlap = max(m, overlap // m * m)
    passes = 2 if norms.instance_norms(net) else 1
    rows, cols = tile_grid(xp.shape[-2], xp.shape[-1], tile, overlap, 1, m)
    total = len(rows) * len(cols) * passes
    cl = _channels_last(net, rt)
    calls = [0]  # forward passes so far: the unit a pass's inside progress belongs to

    def fn(t: torch.Tensor) -> torch.Tensor:
        unit = calls[0]
        calls[0] += 1
        if cl:
            t = t.contiguous(memory_format=torch.channels_last)
        # no_grad, not inference_mode: run_tiled scales the returned tile in place
        with torch.no_grad(), watch.pass_(unit, total, f"tile {unit + 1}/{total}"), rt.autocast():
            return net(t).float()

    def tiles(sink=None):
        return run_tiled(fn, xp, 1, tile=tile, overlap=overlap, cancel=cancel, align=m, device=rt.device,
                         label="tile", sink=sink)

    def units(p: Progress, done_before: int = 0) -> Progress:
        done = done_before + int(p.done)
        return Progress(done, total, f"tile {done}/{total}")

    stats = None
    if passes == 2:
        with norms.tiled_norm_stats(net) as collected:
            yield from map_progress(tiles(sink=lambda *_: None), units)  # measuring only: output not kept
        stats = collected.result()
    first = calls[0]
    with norms.frozen_instance_norm(net, stats):
        y = yield from map_progress(tiles(), lambda p: units(p, first))
    y = y[..., :h, :w]
    return y.expand(-1, 3, -1, -1) if y.shape[1] == 1 else y


# ---------------------------------------------------------------------------------------- one image
def stylize_array_iter(net: nn.Module, rgb: np.ndarray, *, official: bool = False,
                       runtime: "Runtime | str" = "cpu", precision: str = "auto",
                       tile_pixels: int = TILE_PIXELS, tile: Optional[int] = None, overlap: int = OVERLAP,
                       cancel: Optional[CancelToken] = None, report: Report = None):
    """Generator: (H, W, 3) float [0, 1] or uint8 -> (H, W, 3) uint8 (256x256 when ``official``).
    Yields Progress in forward passes (see the module docstring)."""
    rt = resolve_runtime(runtime, precision)
    if official:
        rgb = official_resize(rgb)
    x = to_input(rgb)
    watch = Watch(net, cancel, report)
    ph, pw = padded_size(net, *x.shape[-2:])
    with norms.official_batch_norm(net, official and norms.has_batch_norm(net)):
        if ph * pw <= tile_pixels or official:
            y = forward(net, x, rt, watch, 0, 1, "whole image").cpu()
            yield Progress(1, 1, "tile 1/1")
        else:
            side = tile if tile is not None else int(math.sqrt(tile_pixels))
            y = yield from _tiled(net, x, rt, side, overlap, watch, cancel)
    return to_uint8(y[0], truncate=official)


def stylize_array(net: nn.Module, rgb: np.ndarray, **kwargs) -> np.ndarray:
    """``stylize_array_iter`` run to the end."""
    return run_to_completion(stylize_array_iter(net, rgb, **kwargs))


def batch_forward(net: nn.Module, arrays: list[np.ndarray], rt: Runtime, *, truncate: bool = False,
                  watch: Optional[Watch] = None, unit: float = 0, total: float = 1,
                  message: str = "") -> np.ndarray:
    """Same-size (H, W, 3) uint8 (or float [0, 1]) arrays -> (B, H, W, 3) uint8 in one forward pass.
    InstanceNorm and eval BatchNorm are per sample, so stacking does not change results. The scaling to
    [-1, 1] and the 8-bit quantisation run on the device: only uint8 crosses the bus, both ways."""
    batch = torch.from_numpy(np.stack(arrays)).to(rt.device, non_blocking=True)
    with torch.inference_mode():
        x = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        x = x.permute(0, 3, 1, 2) * 2.0 - 1.0
    y = forward(net, x, rt, watch, unit, total, message)
    with torch.inference_mode():
        v = ((y + 1.0) / 2.0 * 255.0).clamp(0, 255)
        v = v.floor() if truncate else v.round()
        return v.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
