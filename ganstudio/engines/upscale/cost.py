"""What upscaling one image will take, said before a large image starts (issue: a 13000x13000 PNG of
493 KB on disk was accepted and took 5 GB and ~20 minutes without a word).

``estimate_cost`` counts memory from the same tile choice the run makes (weights, one tile's activations,
the tiler's float band, the decoded input, the result or, when streamed, a band of it) and time from the
network's speed measured on a patch of the tile's size. ``announce`` says it: the memory at once, the time
a few seconds later.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from ganstudio.core.progress import Progress
from ganstudio.engines import tiling
from ganstudio.engines.upscale.pipeline import Upscaler, auto_tile, check_scale, target_size
from ganstudio.runtime import describe_device

# images from which on a job says first what it will take (memory, time)
ANNOUNCE_OUT_PX = 64_000_000
ANNOUNCE_IN_PX = 16_000_000


@dataclass
class Cost:
    """What upscaling one image will take, said before it starts (``text()``)."""

    size: tuple[int, int]  # (width, height) in
    out_size: tuple[int, int]  # (width, height) out
    memory_bytes: int
    seconds: Optional[float]
    tiles: int
    tile: int
    runtime: str
    streamed_in: bool = False
    streamed_out: bool = False

    def text(self) -> str:
        (w, h), (ow, oh) = self.size, self.out_size
        how = ("read in strips and written tile by tile" if self.streamed_in and self.streamed_out else
               "written tile by tile" if self.streamed_out else "held in memory")
        when = f", about {format_duration(self.seconds)}" if self.seconds is not None else ""
        text = (f"{w}×{h} → {ow}×{oh}: about {format_bytes(self.memory_bytes)} of memory{when} on "
                f"{self.runtime} ({self.tiles} tile{'s' if self.tiles != 1 else ''} of {self.tile} px; "
                f"the result is {how})")
        return text if self.seconds is not None else text + "; measuring the speed…"


def format_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e3:.0f} KB"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def should_announce(h: int, w: int, out_scale: float) -> bool:
    return h * w >= ANNOUNCE_IN_PX or h * w * out_scale * out_scale >= ANNOUNCE_OUT_PX


def announce(up: Upscaler, height: int, width: int, channels: int = 3, itemsize: int = 1, *, name: str = "",
             tell: Optional[Callable[[Progress], None]] = None, **kw):
    """Generator: for a large image, say what it will take before it starts: the memory at once, then the
    time once the network's speed is measured (a few seconds). Each line is a Progress whose
    ``extra["notice"]`` holds it, yielded and handed to ``tell`` (the job's side channel, which reaches the
    CLI's printer and the GUI as it is, also from inside a batch). Returns the Cost, or None for an image
    too small to announce. ``kw``: as ``estimate_cost``."""
    if not should_announce(height, width, check_scale(kw.get("scale")) or float(up.scale)):
        return None
    cost = None
    for timed in (False, True):
        cost = estimate_cost(up, height, width, channels, itemsize, timed=timed, **kw)
        line = f"{name}: {cost.text()}" if name else cost.text()
        notice = Progress(0, 1, line, extra={"notice": line, "cost": cost})
        if tell is not None:
            tell(notice)
        yield notice
    return cost


def estimate_cost(up: Upscaler, height: int, width: int, channels: int = 3, itemsize: int = 1, *,
                  alpha: Optional[str] = None, scale: Optional[float] = None, tile: Optional[int] = None,
                  overlap: Optional[int] = None, streamed_in: bool = False, streamed_out: bool = False,
                  timed: bool = True) -> Cost:
    """Memory and time for one image, from the same tile choice the run makes (``timed``: measure the
    network's speed on a small patch, once per Upscaler). ``alpha``: None (no alpha channel kept),
    "bicubic" or "network"."""
    s = up.scale
    out_scale = check_scale(scale) or float(s)
    oh, ow = target_size(height, width, out_scale)
    overlap = up.default_overlap if overlap is None else int(overlap)
    if tile is None:
        tile = auto_tile(up, overlap, width=width)
    tile = tile or max(height, width)
    rows, cols = tiling.tile_grid(height, width, tile, overlap, s, up.multiple)
    ext = tile + 2 * overlap
    weights = sum(p.numel() * p.element_size() for p in up.net.parameters())
    activations = ext * ext * up.bytes_per_px / (1.8 if up.precision != "fp32" else 1.0)
    band = 3 * min(ext, height) * s * width * s * 4 * 1.5  # float accumulator and the carried rows
    plane_in = height * width * itemsize
    # decoding holds the image about twice for a moment (Pillow's copy and ours), reading strips does not
    decoded = (min(ext, height) * width * itemsize * channels if streamed_in
               else 2 * height * width * itemsize * channels)
    decoded += plane_in if alpha else 0
    plane_out = oh * ow * itemsize
    if streamed_out:
        result = 3 * min(ext, height) * s * width * s * itemsize * 3  # quantised band + PNG filter rows
    else:
        result = (height * s) * (width * s) * 3 * itemsize  # the network's output, quantised
        if channels == 1:
            result += (height * s) * (width * s) * itemsize  # its grey copy
        if (oh, ow) != (height * s, width * s):
            result += plane_out * channels  # the Lanczos-resized copy
        result += plane_out if alpha else 0
    memory = int(weights + activations + band + decoded + result)
    seconds = None
    if timed:
        processed = sum(e1 - e0 for e0, e1, _ in rows) * sum(e1 - e0 for e0, e1, _ in cols)
        seconds = processed * up.seconds_per_px(min(ext, 256)) * (2 if alpha == "network" else 1)
    return Cost((width, height), (ow, oh), memory, seconds, len(rows) * len(cols), tile,
                f"{describe_device(up.device)}, {up.precision}", streamed_in, streamed_out)
