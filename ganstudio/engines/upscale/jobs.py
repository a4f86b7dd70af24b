"""The Upscale tab's worker jobs (named as strings by ``ui.upscale_panel``, run by the engine worker):
open an image, check a model file, upscale for the before/after view, save the result.

The GUI never decodes, runs a network or encodes on its own thread: each of these is one job.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from ganstudio.core.errors import InputError
from ganstudio.core.files import same_file
from ganstudio.core.imageio import ImageData, read_image, write_image
from ganstudio.core.progress import CancelToken
from ganstudio.engines.upscale import cost as C
from ganstudio.engines.upscale import pipeline as P
from ganstudio.runtime import describe_device


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


def inspect_model(model, device="auto", cancel=None) -> dict:
    """GUI job for a model file the user picked: load it (the cache keeps it for the run) and return
    ``{"model", "family", "scale"}``; a wrong family or a broken file raises the loader's clear error."""
    up = P.load_upscaler(model, device)
    return {"model": str(model), "family": up.family, "scale": int(up.scale)}


def upscale_for_view(
    path=None,
    image: Optional[ImageData] = None,
    *,
    model=P.DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    device="auto",
    precision="auto",
    alpha: str = "bicubic",
    cancel: Optional[CancelToken] = None,
):
    """GUI job: upscale ``image`` (or the file at ``path``); returns an ``UpscaleResult``.
    ``alpha`` as in ``upscale_image`` ("bicubic" or "network"). A large image first says what it will
    take (a Progress whose ``extra["notice"]`` is that line)."""
    t0 = time.monotonic()
    out_scale = P.check_scale(scale)
    if image is None:
        if path is None:
            raise InputError("nothing to upscale: give a path or an image")
        image = read_image(path)
    up = P.load_upscaler(model, device, precision)
    out_scale = out_scale or float(up.scale)
    yield from C.announce(up, image.height, image.width, image.channels, 2 if image.bit_depth == 16 else 1,
                          alpha=alpha if P.keeps_alpha(image) else None, scale=out_scale, tile=tile)
    out = yield from P.upscale_image(image, scale=out_scale, tile=tile, alpha=alpha, upscaler=up, cancel=cancel)
    # the display copy is made here, in the worker: for plain 8-bit RGB it is the pixels themselves
    display = out.rgba8() if out.alpha is not None else out.rgb8()
    return UpscaleResult(out, image, str(model), out_scale, describe_device(up.device),
                         time.monotonic() - t0, {"precision": up.precision, "display": display})


def save_image(path, image: ImageData, source_path=None, quality: int = 95, cancel=None) -> str:
    """Write ``image`` to ``path``; refuses to overwrite ``source_path`` (the input)."""
    if source_path and same_file(path, source_path):
        raise InputError(f"refusing to overwrite the input image {source_path}: choose another name")
    write_image(path, image, quality=quality)
    return str(path)
