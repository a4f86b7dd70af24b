"""The upscale pipeline: load a super-resolution network, run it tile by tile, one image in memory.

Pipeline (Real-ESRGAN's ``RealESRGANer``, SPEC.md section 4, with our choices where it has none):

* pixels / 255 (or / 65535 for 16-bit) to float RGB in [0, 1]; grey is repeated to RGB for the network
  and brought back to one channel afterwards (ITU-R 601 luma, like OpenCV's RGB2GRAY), so grey stays
  grey; 16-bit in gives 16-bit out.
* networks that pixel-unshuffle (RRDBNet x2 / x1) need sides that are multiples of 2 / 4: the image is
  reflect-padded on the right/bottom and the padding cropped off the output, as upstream does.
* the network runs tile by tile (``engines.tiling.run_tiled``). The float input is made one tile at a time
  from the uint8/uint16 pixels (``TileSource``), and each band of output rows is clamped to [0, 1], rounded
  and stored as uint8/uint16 at once (or handed to ``on_rows``, which streams it to disk): a 4000x3000
  photo x4 never holds a float copy of the image or of the 16000x12000 result.
* any output scale: network scale first, then cv2 LANCZOS4 for the rest (as Real-ESRGAN's --outscale).
* alpha: upscaled separately with bicubic interpolation by default. Real-ESRGAN can also push alpha
  through the network (``alpha="network"`` here); we default to bicubic because the networks were
  trained on photographs and invent texture in flat masks, and it would double the run time.
  An alpha channel that is fully opaque is dropped.
* ICC profile, EXIF (orientation already applied and reset by read_image) and the source format travel
  with the result so ``write_image`` keeps them where the format allows.

Runtime: every entry point takes ``device="auto", precision="auto"`` and resolves them once per job
(``runtime.resolve_runtime``): on a CPU with bf16 matrix units "auto" is bf16 (3-5x faster than fp32 at
~50 dB PSNR against it, ``bench/runtime.py``), on CUDA fp16.

Progress and cancel: generators yielding ``Progress`` per tile with an ETA. Inside a tile the network's
blocks are watched (``runtime.watch_blocks``: every convolution of the RRDB trunk and of the banded
upsampler, every SRVGG convolution), so Cancel acts within one block and a long tile reports the fraction
done about four times a second through ``cancel.report`` (a 451x300 photo on two CPU cores is one tile
of about a minute).

Models: a manifest id or alias (``x4plus``, ``animevideov3`` ... the bundled Real-ESRGAN weights), or any
RRDBNet / ESRGAN / Real-ESRGAN / SRVGG checkpoint file, resolved and cached by ``checkpoints.cache``.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ganstudio.core.errors import InputError
from ganstudio.core.imageio import ImageData
from ganstudio.core.progress import CancelToken, Progress, map_progress, run_to_completion
from ganstudio.engines import tiling
from ganstudio.runtime import Runtime, resolve_runtime, watch_blocks

DEFAULT_MODEL = "x4plus"  # a manifest alias (models/manifest/upscale.json), like the other bundled weights

# Context each tile gets from its neighbours (input pixels). SRVGG's receptive field is 18 px, so 32
# (24 px of pure context + 16 px cross-fade) gives the untiled result up to float rounding. RRDBNet's
# influence reaches much further. Measured with x4plus on a 384x320 astronaut photo, tile 96, max
# |tiled - whole| after rounding to 8 bits: overlap 32 -> 44/255, 48 -> 9/255, 64 -> 5/255, 72 -> 2/255,
# 96 -> 1/255 (mean 0.0002). Hence 96; smaller images than the automatic tile run whole anyway.
OVERLAP = {"srvgg": 32, "rrdbnet": 96}
DEFAULT_OVERLAP = 32

# activation memory budget on the CPU: a quarter of free memory, but never more than this, so that a
# 4000x3000 x4 job (whose uint8 output alone is 576 MB) stays well under 4 GB resident
CPU_ACTIVATION_CAP = 1_500_000_000
# The tiler's float accumulator spans (tile + 2 * overlap) * scale output rows of the full width: for very
# wide images it, not the network, limits the tile. BAND_CAP is its usual budget. Where that would leave a
# tile under 4x the overlap (x4plus on a 13000 px wide image: 64 px tiles with 96 px of context a side,
# 16x the arithmetic of the image itself) it may grow to a tenth of free memory, at most BAND_MAX, until
# the tile reaches 4x the overlap (2.25x the arithmetic).
BAND_CAP = 600_000_000
BAND_MAX = 2_000_000_000
# RRDBNet's x4 upsampler runs in bands of this many trunk rows (see rrdbnet_forward_chunked)
RRDB_CHUNK_ROWS = 48

# output scales offered (the GUI's spin box has the same range); anything else is refused in one line
MIN_SCALE, MAX_SCALE = 0.25, 16.0


# ---------------------------------------------------------------------------------------------- models
@dataclass
class Upscaler:
    """A loaded SR network and how to run it."""

    net: torch.nn.Module  # shared with the model cache: read-only (never moved, converted or trained here)
    scale: int
    multiple: int  # input sides must be multiples of this (pixel-unshuffle)
    runtime: Runtime
    name: str
    family: str = ""
    bytes_per_px: int = 0  # activation estimate per input pixel (for the automatic tile size)
    # watched block calls one forward of an (h, w) piece makes (in-tile progress); None: not watched
    blocks: Optional[Callable[[int, int], int]] = None
    _seconds_per_px: Optional[float] = field(default=None, repr=False)

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def precision(self) -> str:
        return self.runtime.precision

    @property
    def default_overlap(self) -> int:
        return OVERLAP.get(self.family, DEFAULT_OVERLAP)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(1, 3, h, w) in [0, 1] on self.device -> (1, 3, h*s, w*s) float32 (unclamped)."""
        if self.device.type == "cpu":
            # oneDNN's channels-last convolutions are faster on the CPU for these nets (~1.2-1.5x here); the
            # input's layout is enough (measured: converting the shared weights too gains nothing)
            x = x.contiguous(memory_format=torch.channels_last)
        with self.runtime.autocast():
            if _is_rrdbnet(self.net):
                y = rrdbnet_forward_chunked(self.net, x)
            else:
                y = self.net(x)
        return y.float()

    def seconds_per_px(self, side: int = 256) -> float:
        """Seconds per input pixel measured on a ``side`` x ``side`` patch (once per Upscaler), for time
        estimates. Small patches run less efficiently than real tiles (48 px: ~10x slower per pixel than
        a 240 px tile for animevideov3 here), hence a patch of the tile's size (at most 256 px: ~1 % of any
        job large enough to be announced); estimates still lean long."""
        if self._seconds_per_px is None:
            side = max(32, side // self.multiple * self.multiple)
            gen = torch.Generator().manual_seed(0)
            x = torch.rand(1, 3, side, side, generator=gen).to(self.device)
            with torch.no_grad():
                self.forward(x[..., :32, :32])  # warm-up: the libraries set themselves up on the first call
                _sync(self.device)
                t0 = time.perf_counter()
                self.forward(x)
                _sync(self.device)
            self._seconds_per_px = (time.perf_counter() - t0) / (side * side)
        return self._seconds_per_px


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


_RRDB_PARTS = ("conv_first", "body", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")


def _is_rrdbnet(net) -> bool:
    return all(hasattr(net, a) for a in _RRDB_PARTS) and hasattr(net, "unshuffle")


def rrdbnet_forward_chunked(net, x: torch.Tensor, chunk_rows: int = RRDB_CHUNK_ROWS) -> torch.Tensor:
    """RRDBNet's forward with the x4 upsampler run in bands of ``chunk_rows`` trunk rows.

    The upsampler (two nearest x2 + conv, conv_hr, conv_last) holds 64-channel maps at 16x the trunk's
    pixels: most of the network's peak memory for ~7 % of its arithmetic. Its receptive field is 1.25
    trunk pixels, so bands with a 2-row halo give exactly the whole-image result (the image's own top and
    bottom edges stay zero-padded as in one pass) while peak memory drops about 3x (x4plus on the CPU,
    measured: 11.6 -> 4.0 KB per input pixel), which lets the tiler use larger tiles (less overlap to
    recompute) in the same memory. The band convolutions are watched blocks too, so Cancel acts here.
    """
    r = net.unshuffle
    if r > 1:
        if x.shape[-2] % r or x.shape[-1] % r:
            raise InputError(f"height and width must be multiples of {r} (pad the image first)")
        x = F.pixel_unshuffle(x, r)
    feat = net.conv_first(x)
    feat = feat + net.conv_body(net.body(feat))
    del x
    h = feat.shape[-2]
    halo = 2
    outs = []
    for r0 in range(0, h, chunk_rows):
        r1 = min(h, r0 + chunk_rows)
        a0, a1 = max(0, r0 - halo), min(h, r1 + halo)
        f = feat[:, :, a0:a1]
        f = F.leaky_relu(net.conv_up1(F.interpolate(f, scale_factor=2.0, mode="nearest")), 0.2)
        f = F.leaky_relu(net.conv_up2(F.interpolate(f, scale_factor=2.0, mode="nearest")), 0.2)
        f = net.conv_last(F.leaky_relu(net.conv_hr(f), 0.2))
        outs.append(f[:, :, (r0 - a0) * 4:(r1 - a0) * 4])
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


def _watch(net: torch.nn.Module) -> Optional[Callable[[int, int], int]]:
    """Install the block watch on ``net`` (idempotent; the hooks act only inside a job's block_watch) and
    return ``blocks(h, w)``: the watched calls one forward of an h x w piece makes.

    Blocks are single convolutions: an RRDB block of x4plus takes ~3 s on two CPU cores for the automatic
    tile, one of its 15 convolutions ~0.2 s, so reports and cancel checks come well within a second."""
    convs = lambda mods: [m for m in mods if isinstance(m, torch.nn.Conv2d)]  # noqa: E731
    if _is_rrdbnet(net):
        trunk = convs(net.body.modules())
        upsampler = [net.conv_up1, net.conv_up2, net.conv_hr]  # called once per band
        watch_blocks(net, trunk + upsampler)
        r = int(net.unshuffle)
        return lambda h, w: len(trunk) + len(upsampler) * math.ceil((h // r) / RRDB_CHUNK_ROWS)
    mods = convs(net.modules())
    if not mods:
        return None
    watch_blocks(net, mods)
    return lambda h, w: len(mods)


def _estimate_bytes_per_px(family: str, net: torch.nn.Module, scale: int) -> int:
    if family == "srvgg":
        feat = getattr(net.body[0], "out_channels", 64) if hasattr(net, "body") else 64
        return int((3 * feat + 2 * 3 * scale * scale + 16) * 4 * 1.5)
    if _is_rrdbnet(net):
        # trunk maps (feat, body in/out, dense-block concat up to feat + 4 * growth channels); the x4
        # upsampler runs in bands (rrdbnet_forward_chunked) and adds little. Measured ~4.0 KB per input
        # pixel for x4plus on the CPU; this gives ~4.6 KB.
        nf = net.conv_first.out_channels
        gc = net.body[0].rdb1.conv1.out_channels if len(net.body) else 32
        return int((5 * nf + 2 * (nf + 4 * gc)) * 4 * 1.5)
    return tiling.estimate_bytes_per_pixel(scale)


def load_upscaler(model=DEFAULT_MODEL, device="auto", precision="auto") -> Upscaler:
    """Resolve ``model`` (manifest id or alias, checkpoint path, or an nn.Module) and the runtime, once per
    job. The network comes from the shared model cache and is used as it is (read-only)."""
    rt = resolve_runtime(device, precision)
    if isinstance(model, torch.nn.Module):
        net, name = model.to(rt.device).eval(), type(model).__name__
        family = getattr(sys.modules.get(type(model).__module__), "FAMILY", "")
    else:
        from ganstudio.checkpoints.cache import get_model

        net, desc = get_model(model if isinstance(model, Path) else str(model), device=rt.device)
        family, name = desc.family, str(model)
        if family not in ("rrdbnet", "srvgg"):
            raise InputError(f"{model}: a {family} network is not a super-resolution model "
                             "(expected RRDBNet/ESRGAN/Real-ESRGAN or SRVGGNetCompact)")
    scale = int(getattr(net, "scale", 0) or 0)
    if scale <= 0:
        raise InputError(f"{name}: cannot tell the network's scale")
    multiple = int(getattr(net, "input_multiple", 1) or 1)
    return Upscaler(net, scale, multiple, rt, name, family, _estimate_bytes_per_px(family, net, scale),
                    _watch(net))


def band_budget(free: int) -> int:
    """Bytes the tiler's float band of output rows may take at most, given free memory (see BAND_CAP)."""
    return int(min(max(BAND_CAP, free // 10), BAND_MAX))


def auto_tile(up: Upscaler, overlap: int, width: Optional[int] = None) -> int:
    """Tile side from free memory, counting the overlap the tile is grown by.

    Two limits: the network's activations for one tile (a quarter of free RAM, at most
    ``CPU_ACTIVATION_CAP``, on the CPU; half the free GPU memory on CUDA), and, given the image
    ``width``, the float band of output rows the tiler accumulates (``BAND_CAP``, more for very wide
    images where memory allows: ``band_budget``).
    """
    free = tiling.free_memory_bytes(up.device)
    budget = free * (0.5 if up.device.type == "cuda" else 0.25)
    if up.device.type == "cpu":
        budget = min(budget, CPU_ACTIVATION_CAP)
    if up.precision != "fp32":
        budget *= 1.8  # half-precision activations
    side = int((budget / max(up.bytes_per_px, 1)) ** 0.5) - 2 * overlap
    if width:
        row_bytes = up.scale * (width * up.scale) * 3 * 4  # one input row of float32 RGB output rows
        band_side = BAND_CAP // row_bytes - 2 * overlap
        if band_side < 4 * overlap:  # mostly context to recompute: spend more memory on the band if there is
            band_side = min(4 * overlap, band_budget(free) // row_bytes - 2 * overlap)
        side = min(side, band_side)
    step = max(16, up.multiple)
    return max(64, min(tiling.MAX_TILE, side // step * step))


def check_scale(scale) -> Optional[float]:
    """The output scale as a float (None / 0: the network's own); anything not a number from MIN_SCALE to
    MAX_SCALE (inf, nan, negative, 1e9) is refused in one line."""
    if scale is None or scale == 0:
        return None
    try:
        s = float(scale)
    except (TypeError, ValueError):
        s = float("nan")
    if not math.isfinite(s) or not MIN_SCALE <= s <= MAX_SCALE:
        raise InputError(f"the scale must be a number from {MIN_SCALE:g} to {MAX_SCALE:g} (e.g. 4), not {scale}")
    return s


# ---------------------------------------------------------------------------------------------- pixels
class TileSource:
    """The image as the tiler reads it: shape (1, 3, Hp, Wp), ``[:, :, y0:y1, x0:x1]`` -> float32 in [0, 1].

    Made one tile at a time from (H, W, C) uint8 / uint16 / float pixels (C = 1 is repeated to RGB), the
    sides reflect-padded (virtually) to multiples of ``multiple``. ``rows(y0, y1)`` supplies pixel rows:
    an in-memory array, or a file read in strips (``stream_io.StripReader``); the rows of the current tile
    row are kept, so a strip is read once per row of tiles. The source array is only read (a read-only
    array from Pillow is fine: no tensor ever shares its memory)."""

    ndim = 4
    device = torch.device("cpu")

    def __init__(self, rows: Callable[[int, int], np.ndarray], height: int, width: int, channels: int,
                 dtype, multiple: int = 1) -> None:
        if channels not in (1, 3):
            raise InputError(f"expected 1 or 3 colour channels, got {channels}")
        self._rows = rows
        self.height, self.width, self.channels = int(height), int(width), int(channels)
        self.dtype = np.dtype(dtype)
        ph, pw = (-self.height) % multiple, (-self.width) % multiple
        self.shape = (1, 3, self.height + ph, self.width + pw)
        # as torch's F.pad: "reflect" needs the image to be larger than the padding
        self._reflect = self.height > ph and self.width > pw
        self._strip: tuple[int, int, Optional[np.ndarray]] = (0, 0, None)

    @classmethod
    def from_array(cls, arr: np.ndarray, multiple: int = 1) -> "TileSource":
        a = arr[:, :, None] if arr.ndim == 2 else arr
        return cls(lambda y0, y1: a[y0:y1], a.shape[0], a.shape[1], a.shape[2], a.dtype, multiple)

    def _index(self, i0: int, i1: int, n: int) -> np.ndarray | slice:
        if i1 <= n:
            return slice(i0, i1)
        idx = np.arange(i0, i1)
        return np.where(idx < n, idx, (2 * (n - 1) - idx) if self._reflect else n - 1)

    def _get_rows(self, y0: int, y1: int) -> np.ndarray:
        a, b, strip = self._strip
        if strip is None or y0 < a or y1 > b:
            strip = self._rows(y0, y1)
            a, b = y0, y1
            self._strip = (a, b, strip)
        return strip[y0 - a:y1 - a]

    def __getitem__(self, key) -> torch.Tensor:
        ys, xs = key[2], key[3]
        rows = self._index(ys.start, ys.stop, self.height)
        if isinstance(rows, slice):
            block = self._get_rows(rows.start, rows.stop)
        else:
            lo = int(rows.min())
            block = self._get_rows(lo, int(rows.max()) + 1)[rows - lo]
        piece = block[:, self._index(xs.start, xs.stop, self.width)]
        if self.dtype == np.uint8:
            x = np.divide(piece, 255.0, dtype=np.float32)
        elif self.dtype == np.uint16:
            x = np.divide(piece, 65535.0, dtype=np.float32)
        else:
            x = np.array(piece, dtype=np.float32)  # a copy: the tiler may work on it in place
        t = torch.from_numpy(x).permute(2, 0, 1)[None]  # (1, C, h, w) in channels-last memory
        return t.expand(-1, 3, -1, -1) if self.channels == 1 else t

    def release(self) -> None:
        """Forget the kept strip (the tiler has finished)."""
        self._strip = (0, 0, None)


def run_network(
    up: Upscaler,
    image,
    *,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    out_dtype=np.uint8,
    cancel: Optional[CancelToken] = None,
    label: str = "tile",
    report: Optional[Callable[[Progress], None]] = None,
    on_rows: Optional[Callable[[int, int, np.ndarray], None]] = None,
):
    """Generator: (H, W, 3|1) image (an array or a ``TileSource``) -> (H*s, W*s, 3) ``out_dtype`` (uint8,
    uint16, or float32 = clamped but not quantised). Array pixels are uint8, uint16 or float32 in [0, 1];
    grey is run as RGB. ``tile``: None = from free memory, 0 = whole image. With ``on_rows``, finished
    output rows go to ``on_rows(y0, y1, rows)`` as they are done and nothing is returned (streaming).
    ``report``: in-tile progress (default ``cancel.report``)."""
    src = image if isinstance(image, TileSource) else TileSource.from_array(np.asarray(image), up.multiple)
    h, w = src.height, src.width
    s = up.scale
    overlap = up.default_overlap if overlap is None else int(overlap)
    if tile is None:
        tile = auto_tile(up, overlap, width=w)
    out_dtype = np.dtype(out_dtype)
    out = None if on_rows is not None else np.empty((h * s, w * s, 3), dtype=out_dtype)
    maxval = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(out_dtype)

    def sink(y0: int, y1: int, band: torch.Tensor) -> None:
        y1c = min(y1, h * s)
        if y0 >= y1c:
            return
        band = band[:, : y1c - y0, : w * s].clamp_(0.0, 1.0)
        if maxval is not None:
            band = band.mul_(maxval).round_()
        rows = band.permute(1, 2, 0).numpy()
        if on_rows is not None:
            on_rows(y0, y1c, rows.astype(out_dtype))
        else:
            out[y0:y1c] = rows  # numpy casts while it copies (values are already whole numbers)

    try:
        yield from tiling.run_tiled(
            up.forward, src, s, tile, overlap, cancel, align=up.multiple, device=up.device, sink=sink,
            bytes_per_px=up.bytes_per_px, label=label, blocks=up.blocks, report=report,
        )
    finally:
        src.release()
    return out


def target_size(h: int, w: int, scale: float) -> tuple[int, int]:
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def resize(arr: np.ndarray, size_hw: tuple[int, int], interpolation: int) -> np.ndarray:
    if arr.shape[:2] == size_hw:
        return arr
    out = cv2.resize(arr, (size_hw[1], size_hw[0]), interpolation=interpolation)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint -> (H, W, 1) same dtype, 601 luma, in row chunks to keep memory small."""
    out = np.empty(rgb.shape[:2] + (1,), dtype=rgb.dtype)
    wts = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    for y in range(0, rgb.shape[0], 512):
        chunk = rgb[y:y + 512].astype(np.float32) @ wts
        out[y:y + 512, :, 0] = np.rint(chunk).astype(rgb.dtype)
    return out


def keeps_alpha(image: ImageData) -> bool:
    """A fully opaque alpha channel carries nothing and is dropped."""
    if image.alpha is None:
        return False
    maxval = 65535 if image.pixels.dtype == np.uint16 else 255
    return int(image.alpha.min()) < maxval


def passes_reporter(report, cancel, k: int, passes: int):
    """(map, report) for pass ``k`` of ``passes`` network runs over one image (colour, then alpha through
    the network): each pass's progress becomes its share of the image, yielded and reported alike."""
    target = report if report is not None else (cancel.report if cancel is not None else None)
    if passes == 1:
        return (lambda p: p), target

    def mapped(p: Progress) -> Progress:
        return Progress(k + p.fraction, passes, p.message, p.preview, p.extra)

    return mapped, (None if target is None else (lambda p: target(mapped(p))))


def upscale_image(
    image: ImageData,
    *,
    model=DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device="auto",
    precision="auto",
    alpha: str = "bicubic",
    upscaler: Optional[Upscaler] = None,
    cancel: Optional[CancelToken] = None,
    label: str = "tile",
    report: Optional[Callable[[Progress], None]] = None,
):
    """Generator returning the upscaled ``ImageData`` (same bit depth, channels, ICC/EXIF, format).

    ``scale``: the output scale (None = the network's); ``tile``: None = automatic, 0 = whole image;
    ``alpha``: "bicubic" (default) or "network"; ``report``: in-tile progress (default ``cancel.report``).
    """
    if alpha not in ("bicubic", "network"):
        raise InputError(f"alpha must be 'bicubic' or 'network', not {alpha!r}")
    out_scale = check_scale(scale)
    up = upscaler or load_upscaler(model, device, precision)
    out_scale = out_scale or float(up.scale)
    px = image.pixels
    if px.ndim == 2:
        px = px[:, :, None]
    h, w, c = px.shape
    if c not in (1, 3):
        raise InputError(f"expected 1 or 3 colour channels, got {c}")
    target = target_size(h, w, out_scale)
    out_dtype = np.uint16 if px.dtype == np.uint16 else np.uint8
    keep_alpha = keeps_alpha(image)
    passes = 2 if keep_alpha and alpha == "network" else 1

    mapped, rep = passes_reporter(report, cancel, 0, passes)
    result = yield from map_progress(
        run_network(up, px, tile=tile, overlap=overlap, out_dtype=out_dtype, cancel=cancel, label=label,
                    report=rep), mapped)
    if c == 1:
        result = to_grey(result)
    result = resize(result, target, cv2.INTER_LANCZOS4)

    out_alpha = None
    if keep_alpha:
        a = image.alpha
        if alpha == "network":
            mapped, rep = passes_reporter(report, cancel, 1, passes)
            a_up = yield from map_progress(
                run_network(up, a[:, :, None], tile=tile, overlap=overlap, out_dtype=out_dtype, cancel=cancel,
                            label="alpha tile", report=rep), mapped)
            out_alpha = resize(to_grey(a_up), target, cv2.INTER_LANCZOS4)[:, :, 0]
        else:
            out_alpha = resize(a, target, cv2.INTER_CUBIC)
    return dataclasses.replace(
        image, pixels=result, alpha=out_alpha, bit_depth=16 if out_dtype == np.uint16 else 8, path="",
    )


def upscale_array(
    arr: np.ndarray,
    *,
    model=DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    device="auto",
    precision="auto",
    upscaler: Optional[Upscaler] = None,
    cancel: Optional[CancelToken] = None,
) -> np.ndarray:
    """Plain (not a generator) helper for other engines (e.g. stylize --then-upscale): (H, W), (H, W, 1|3|4)
    uint8/uint16 array -> the upscaled array, same layout and dtype. The array is only read (read-only
    arrays, e.g. ``np.asarray`` of a Pillow image, are fine)."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    px, alpha = (a[:, :, :3], a[:, :, 3]) if a.shape[2] == 4 else (a, None)
    img = ImageData(px, alpha, 16 if a.dtype == np.uint16 else 8)
    out = run_to_completion(upscale_image(img, model=model, scale=scale, tile=tile, device=device,
                                          precision=precision, upscaler=upscaler, cancel=cancel))
    res = out.pixels
    if a.shape[2] == 4:
        alpha_out = out.alpha if out.alpha is not None else np.full(res.shape[:2], np.iinfo(res.dtype).max,
                                                                    res.dtype)
        res = np.dstack([res, alpha_out])
    return res[:, :, 0] if np.asarray(arr).ndim == 2 else res
