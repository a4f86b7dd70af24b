"""Generic tiled inference for image-to-image networks, seam-free, with memory that follows the tile.

``run_tiled(fn, img, scale, tile, overlap, cancel)`` splits a ``(1, C, H, W)`` image into a grid of
tiles, runs ``fn`` on each tile *with ``overlap`` input pixels of context on every inner side*, and
blends the results into one ``(1, C', H*scale, W*scale)`` image. It is a generator: it yields one
``Progress`` per tile (with an ETA in the message) and returns the output tensor.

How the blend works (and why tiled equals untiled):

* Tile cores partition the image. Each tile is grown by ``overlap`` pixels towards its neighbours.
  Across a boundary ``b`` between tiles A and B, A's weight is 1 up to ``b - blend/2``, falls with a
  cosine ramp to 0 at ``b + blend/2``, and B's weight rises as ``1 - A`` (``blend`` = min(16,
  overlap)). The outer ``overlap - blend/2`` pixels of every tile are pure context and never
  contribute, so every pixel that *does* contribute has at least that many real neighbours: for a
  network whose receptive field is within it (SRVGG: 18 px) the result equals the untiled one up to
  float rounding. RRDBNet's influence reaches much further (x4plus on a photo, tile 96: overlap 48
  leaves up to 9/255 at the worst pixel, 96 gives 1/255; see ``engines.upscale.OVERLAP``), so callers
  give it more overlap.
* The weights are separable (row weight x column weight) and normalised per axis, so they sum to
  exactly 1 everywhere without a weight buffer.
* Tiles run row by row; once a row of tiles is done, every output row above the next row's context
  is final and is handed to ``sink(y0, y1, band)`` (or copied into the result). Only one band of
  float accumulators is alive, so memory follows the tile width x image width, not the whole image:
  the upscale engine's sink quantises each band straight into the uint8/uint16 output.

Tile size: ``tile=None`` chooses it from free memory (``auto_tile_size``); ``tile=0`` runs the image
whole. On a CUDA (or CPU allocator) out-of-memory error the tile is halved and the work restarted.

Inside a tile: one tile of a large network can take a minute on a CPU. Each tile's forward runs inside
``runtime.block_watch``, so the network's watched blocks (``runtime.watch_blocks``, installed by the engine)
check the CancelToken between blocks (Cancel acts within one block) and, given ``blocks(h, w)`` (how many
watched block calls one forward of an h x w piece makes), report the fraction done within the tile with an
ETA through ``report`` (default: ``cancel.report``, the job's side channel) at most every ``BLOCK_REPORT_S``.

The input need not be a tensor: anything with ``shape`` (1, C, H, W) whose ``[:, :, y0:y1, x0:x1]`` gives a
float tensor will do (the upscale engine converts the uint8 image one tile at a time this way, so no float
copy of the whole image is ever made).
"""
from __future__ import annotations

import logging
import math
import os
from typing import Callable, Optional

import torch

from ganstudio.core.errors import InputError
from ganstudio.core.progress import CancelToken, EtaClock, Progress, format_eta
from ganstudio.runtime import block_watch

log = logging.getLogger(__name__)

MIN_TILE = 32
MAX_TILE = 2048
# at most one in-tile progress report per this many seconds (the GUI's bar moves ~4 times a second)
BLOCK_REPORT_S = 0.25


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------
def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def free_memory_bytes(device: torch.device | str = "cpu") -> int:
    """Bytes free for tensors on ``device``: CUDA's own figure, else the OS's MemAvailable.

    Without either (macOS, Windows: no /proc and no psutil) we assume a modest 2 GiB.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    avail = _meminfo_available()
    if avail is None:
        try:  # POSIX without /proc: total physical pages, of which we take a quarter as "free"
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
        except (ValueError, OSError, AttributeError):
            avail = 2 << 30
    return int(avail)


def estimate_bytes_per_pixel(scale: int, feat: int = 64, widest: int = 192, dtype_bytes: int = 4) -> int:
    """A conservative peak-activation estimate per *input* pixel for an SR network.

    The low-resolution trunk holds a few maps up to ``widest`` channels (RRDB dense blocks concatenate
    64 + 4*32 = 192); the upsampler holds ``feat`` channels at up to ``scale**2`` times the pixels,
    input and output of a conv at once, plus backend workspace. Calibrated against measured peak RSS
    of RRDBNet x4 on the CPU (it overestimates SRVGG, which is the safe side).
    """
    low = 4 * widest
    high = 3 * feat * scale * scale
    return int((low + high) * dtype_bytes * 1.5)


def auto_tile_size(
    device: torch.device | str = "cpu",
    bytes_per_px: Optional[int] = None,
    scale: int = 4,
    fraction: float = 0.25,
    align: int = 1,
    lo: int = 64,
    hi: int = 1024,
) -> int:
    """Largest square tile whose activations fit in ``fraction`` of the free memory (conservative:
    other programs, the output image and the accumulators need the rest)."""
    if bytes_per_px is None:
        bytes_per_px = estimate_bytes_per_pixel(scale)
    budget = free_memory_bytes(device) * fraction
    side = int(math.sqrt(max(budget, 1) / bytes_per_px))
    side = max(lo, min(hi, side))
    step = max(align, 16)
    return max(step, side // step * step)


# ----------------------------------------------------------------------------------------------
# grid and weights
# ----------------------------------------------------------------------------------------------
def _boundaries(length: int, tile: int, align: int) -> list[int]:
    """Core boundaries 0 = b0 < b1 < ... < bn = length, evenly spread, multiples of ``align``."""
    if tile <= 0 or tile >= length:
        return [0, length]
    n = math.ceil(length / tile)
    bounds = [0]
    for k in range(1, n):
        b = int(round(k * length / n / align)) * align
        if bounds[-1] < b < length:
            bounds.append(b)
    bounds.append(length)
    return bounds


def _axis_weights(
    bounds: list[int], overlap: int, scale: int, length: int, blend: int
) -> list[tuple[int, int, torch.Tensor]]:
    """For each tile on one axis: (ext0, ext1) in input pixels and its weight vector over the
    output pixels ext0*scale .. ext1*scale, normalised so the tiles' weights sum to 1."""
    n = len(bounds) - 1
    out_len = length * scale
    exts, raws = [], []
    blend = min(blend, overlap)
    half = blend / 2.0
    for k in range(n):
        e0 = max(0, bounds[k] - overlap) if k > 0 else 0
        e1 = min(length, bounds[k + 1] + overlap) if k < n - 1 else length
        # centre of each output pixel, in input-pixel coordinates
        x = (torch.arange(e0 * scale, e1 * scale, dtype=torch.float64) + 0.5) / scale
        w = torch.ones_like(x)
        if blend > 0:
            if k > 0:  # rises from 0 at b - blend/2 to 1 at b + blend/2
                t = ((x - (bounds[k] - half)) / blend).clamp(0, 1)
                w = w * torch.sin(t * math.pi / 2) ** 2
            if k < n - 1:  # falls from 1 at b - blend/2 to 0 at b + blend/2
                t = ((x - (bounds[k + 1] - half)) / blend).clamp(0, 1)
                w = w * torch.where(t >= 1, 0.0, torch.cos(t * math.pi / 2) ** 2)  # exact 0: pure context
        exts.append((e0, e1))
        raws.append(w)
    total = torch.zeros(out_len, dtype=torch.float64)
    for (e0, e1), w in zip(exts, raws):
        total[e0 * scale:e1 * scale] += w
    if bool((total <= 0).any()):  # cannot happen with cores >= 1 px; guard against silent black lines
        raise RuntimeError("tiling left pixels without weight")
    result = []
    for (e0, e1), w in zip(exts, raws):
        result.append((e0, e1, (w / total[e0 * scale:e1 * scale]).to(torch.float32)))
    return result


def tile_grid(height: int, width: int, tile: int, overlap: int, scale: int, align: int = 1, blend: int = 16):
    """(rows, cols): lists of (ext0, ext1, weights) per tile row / column. Exposed for tests."""
    overlap = _round_overlap(overlap, align)
    rows = _axis_weights(_boundaries(height, tile, align), overlap, scale, height, blend)
    cols = _axis_weights(_boundaries(width, tile, align), overlap, scale, width, blend)
    return rows, cols


# ----------------------------------------------------------------------------------------------
# the tiler
# ----------------------------------------------------------------------------------------------
_OOM_TYPES: tuple = tuple(
    t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t
)


def _is_oom(exc: BaseException) -> bool:
    if _OOM_TYPES and isinstance(exc, _OOM_TYPES):
        return True
    msg = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg)


def _round_overlap(overlap: int, align: int) -> int:
    return int(math.ceil(max(0, overlap) / align) * align) if overlap > 0 else 0


def run_tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    img: torch.Tensor,
    scale: int,
    tile: Optional[int] = None,
    overlap: int = 16,
    cancel: Optional[CancelToken] = None,
    *,
    align: int = 1,
    device: Optional[torch.device | str] = None,
    sink: Optional[Callable[[int, int, torch.Tensor], None]] = None,
    bytes_per_px: Optional[int] = None,
    min_tile: int = MIN_TILE,
    label: str = "tile",
    blend: int = 16,
    blocks: Optional[Callable[[int, int], int]] = None,
    report: Optional[Callable[[Progress], None]] = None,
):
    """Run ``fn`` over ``img`` (1, C, H, W) float tile by tile; returns (1, C', H*scale, W*scale) float32
    on the CPU (or None when ``sink`` receives the output band by band as ``sink(y0, y1, band)``,
    band being (C', y1-y0, W*scale) float32 on the CPU).

    ``fn`` maps a (1, C, h, w) tensor on ``device`` to (1, C', h*scale, w*scale). ``align``: tile
    boundaries and context are multiples of it (pixel-unshuffle networks need 2 or 4); H and W must
    be multiples too. ``tile``: None = from free memory, 0 = whole image. ``blend``: width of the
    cross-fade between neighbouring tiles (at most ``overlap``); the rest of the overlap is context.
    ``blocks`` / ``report``: progress from inside a tile (see the module docstring).
    """
    if len(img.shape) != 4 or img.shape[0] != 1:
        raise InputError(f"run_tiled expects a (1, C, H, W) tensor, got {tuple(img.shape)}")
    _, _, height, width = img.shape
    if height % align or width % align:
        raise InputError(f"image size {width}x{height} is not a multiple of {align}: pad it first")
    dev = torch.device(device) if device is not None else getattr(img, "device", torch.device("cpu"))
    if tile is None:
        tile = auto_tile_size(dev, bytes_per_px=bytes_per_px, scale=scale, align=align)
    overlap = _round_overlap(overlap, align)
    tile = int(tile)
    while True:
        try:
            result = yield from _run_grid(fn, img, scale, tile, overlap, cancel, align, dev, sink, label, blend,
                                          blocks, report)
            return result
        except Exception as exc:  # only out-of-memory is retried; everything else propagates
            if not _is_oom(exc):
                raise
            current = tile if tile > 0 else max(height, width)
            smaller = max(align, (current // 2) // align * align)
            if smaller < max(min_tile, align) or smaller >= current:
                raise
            log.warning("out of memory with tile %d; retrying with tile %d", current, smaller)
            del exc
            if dev.type == "cuda":
                torch.cuda.empty_cache()
            tile = smaller


def _in_tile_reporter(report, blocks, piece_hw, done, total, clock, label):
    """``on_block(count)`` for ``block_watch``: the fraction of this tile from its watched-block count."""
    n = blocks(*piece_hw) if blocks is not None else 0
    if report is None or n <= 0:
        return None

    def on_block(count: int) -> None:
        frac = min(count / n, 0.99)  # the tile is only done once its output is blended
        d = done + frac
        eta = clock.eta_seconds(d, total)
        report(Progress(d, total, f"{label} {done + 1}/{total} · {int(frac * 100)} % · ETA {format_eta(eta)}"))

    return on_block


def _run_grid(fn, img, scale, tile, overlap, cancel, align, dev, sink, label, blend, blocks=None, report=None):
    _, _, height, width = img.shape
    if report is None and cancel is not None:
        report = cancel.report
    rows, cols = tile_grid(height, width, tile, overlap, scale, align, blend)
    total = len(rows) * len(cols)
    out_w = width * scale
    full = None
    clock = EtaClock()
    done = 0
    acc = None  # (C', band_rows, out_w) float32 for output rows acc0 .. acc0 + band_rows
    acc0 = 0
    for j, (ey0, ey1, wy) in enumerate(rows):
        # carry the rows still shared with this row's context over into a fresh accumulator
        new_rows = (ey1 - ey0) * scale
        carry = acc
        acc = None
        for i, (ex0, ex1, wx) in enumerate(cols):
            if cancel is not None:
                cancel.check()
            piece = img[:, :, ey0:ey1, ex0:ex1]
            if piece.device != dev:
                piece = piece.to(dev, non_blocking=True)
            on_block = _in_tile_reporter(report, blocks, (ey1 - ey0, ex1 - ex0), done, total, clock, label)
            with torch.no_grad(), block_watch(cancel, on_block, every_s=BLOCK_REPORT_S):
                out = fn(piece.contiguous())
            out = out[0].float()
            exp_h, exp_w = (ey1 - ey0) * scale, (ex1 - ex0) * scale
            if out.shape[1] != exp_h or out.shape[2] != exp_w:
                raise InputError(
                    f"the network returned {out.shape[2]}x{out.shape[1]} for a {ex1 - ex0}x{ey1 - ey0} "
                    f"tile; expected x{scale} = {exp_w}x{exp_h}"
                )
            if acc is None:
                acc = torch.zeros((out.shape[0], new_rows, out_w), dtype=torch.float32)
                if carry is not None:
                    acc[:, : carry.shape[1]] += carry
                    carry = None
                if full is None and sink is None:
                    full = torch.empty((1, out.shape[0], height * scale, out_w), dtype=torch.float32)
            w2 = (wy.to(out.device)[:, None] * wx.to(out.device)[None, :])
            out.mul_(w2)
            acc[:, :, ex0 * scale:ex1 * scale] += out.cpu()
            del out, piece
            done += 1
            eta = clock.eta_seconds(done, total)
            yield Progress(done, total, f"{label} {done}/{total} · ETA {format_eta(eta)}")
        acc0 = ey0 * scale
        # rows above the next tile row's context are final
        stop = rows[j + 1][0] * scale if j + 1 < len(rows) else height * scale
        finished = acc[:, : stop - acc0]
        if sink is not None:
            sink(acc0, stop, finished)
        else:
            full[0, :, acc0:stop] = finished
        acc = acc[:, stop - acc0:].clone() if j + 1 < len(rows) else None
    return full
