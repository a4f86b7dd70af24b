"""One image file in, one image file out: ``upscale_file`` (the CLI's single file and every batch item).

Before a large image starts, the job says what it will take (``pipeline.estimate_cost``: memory and a
time measured on this machine) as a ``Progress`` whose ``extra["notice"]`` holds the line; the CLI prints
it, the GUI shows it on the status line. A large result at the network's own scale is written to PNG band
by band and, for uncompressed BMP / TIFF, read strip by strip (``stream_io``): memory follows the tile.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from ganstudio.core.errors import InputError
from ganstudio.core.files import atomic_path, same_file
from ganstudio.core.imageio import ImageData, ImageWriteError, read_image, write_image
from ganstudio.core.progress import CancelToken, Progress, map_progress
from ganstudio.engines.upscale import cost as C
from ganstudio.engines.upscale import pipeline as P
from ganstudio.engines.upscale.stream_io import PngBandWriter, StripReader, image_size, open_strips

# results from this many pixels on are streamed to PNG (smaller ones go through write_image, whose
# encoder is the same for every engine)
STREAM_OUT_PX = 32_000_000


def default_output_name(path, scale) -> str:
    """``<stem>_x4.png`` (the scale written as 4, 2.5 ...)."""
    return f"{Path(path).stem}_x{float(scale):g}.png"


def thumbnail(rgb: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> at most size x size, aspect kept (for the batch's thumbnail grid)."""
    h, w = rgb.shape[:2]
    f = size / max(h, w)
    if f >= 1:
        return np.ascontiguousarray(rgb)
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def read_ahead(path):
    """The batch's decode-ahead: an ImageData, or None for an image large enough to be read (and perhaps
    streamed) by the job itself rather than held while the file before it runs."""
    size = image_size(path)
    if size is not None and size[0] * size[1] >= C.ANNOUNCE_IN_PX:
        return None
    return read_image(path)


def upscale_file(
    input,
    output=None,
    *,
    model=P.DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device="auto",
    precision="auto",
    alpha: str = "bicubic",
    upscaler: Optional[P.Upscaler] = None,
    cancel: Optional[CancelToken] = None,
    image: Optional[ImageData] = None,
    report: Optional[Callable[[Progress], None]] = None,
    thumb_size: int = 0,
):
    """Generator: read ``input`` (or take its decoded ``image``), upscale, write ``output`` (default
    ``<stem>_x<scale>.png`` beside it). Returns ``{"input", "output", "size", "seconds"}`` (+ ``"thumb"``
    with ``thumb_size``). Never overwrites the input."""
    t0 = time.monotonic()
    out_scale = P.check_scale(scale)
    if alpha not in ("bicubic", "network"):
        raise InputError(f"alpha must be 'bicubic' or 'network', not {alpha!r}")
    up = upscaler or P.load_upscaler(model, device, precision)
    out_scale = out_scale or float(up.scale)
    if output is None:
        output = Path(input).with_name(default_output_name(input, out_scale))
    output = Path(output)
    if same_file(output, input):
        raise InputError(f"refusing to overwrite the input image {input}: choose another output")

    size = (image.width, image.height) if image is not None else image_size(input)
    big = size is not None and size[0] * size[1] * up.scale ** 2 >= STREAM_OUT_PX
    stream = big and output.suffix.lower() == ".png" and out_scale == up.scale
    source = image
    if source is None:
        source = (open_strips(input) if stream else None) or read_image(input)
    h, w = source.height, source.width
    c = source.channels
    itemsize = 2 if isinstance(source, ImageData) and source.bit_depth == 16 else 1
    alpha_kind = alpha if isinstance(source, ImageData) and P.keeps_alpha(source) else None
    yield from C.announce(up, h, w, c, itemsize, name=Path(input).name, alpha=alpha_kind, scale=out_scale,
                          tile=tile, overlap=overlap, streamed_in=isinstance(source, StripReader),
                          streamed_out=stream, tell=report if report is not None else (cancel and cancel.report))

    thumb = None
    if stream:
        out_size = yield from _stream_png(up, source, output, tile=tile, overlap=overlap, alpha=alpha,
                                          cancel=cancel, report=report)
        if thumb_size and isinstance(source, ImageData):
            thumb = thumbnail(source.rgb8(), thumb_size)  # the input: at thumbnail size it looks the same
    else:
        result = yield from P.upscale_image(source, scale=out_scale, tile=tile, overlap=overlap, alpha=alpha,
                                            upscaler=up, cancel=cancel, report=report)
        if cancel is not None:
            cancel.check()
        write_image(output, result)
        out_size = (result.width, result.height)
        if thumb_size:
            thumb = thumbnail(result.rgb8(), thumb_size)
    out = {"input": str(input), "output": str(output), "size": out_size, "seconds": time.monotonic() - t0}
    if thumb is not None:
        out["thumb"] = thumb
    return out


def _alpha_rows(alpha: np.ndarray, s: int, y0: int, y1: int) -> np.ndarray:
    """Output rows y0..y1 of the bicubic x``s`` alpha, from a strip of source rows with a 2-row margin:
    the same values as resizing the whole plane (cubic taps reach 2 rows, the mapping is the same)."""
    h, w = alpha.shape
    r0, r1 = max(0, y0 // s - 2), min(h, -(-y1 // s) + 2)
    band = cv2.resize(alpha[r0:r1], (w * s, (r1 - r0) * s), interpolation=cv2.INTER_CUBIC)
    return band[y0 - r0 * s:y1 - r0 * s]


def _stream_png(up: P.Upscaler, source, output: Path, *, tile, overlap, alpha: str, cancel, report):
    """Generator: upscale ``source`` (ImageData or StripReader) at the network's scale into the PNG
    ``output`` band by band; returns the output (width, height)."""
    s = up.scale
    if isinstance(source, ImageData):
        px = source.pixels if source.pixels.ndim == 3 else source.pixels[:, :, None]
        tiles = P.TileSource.from_array(px, up.multiple)
        alpha_in = source.alpha if P.keeps_alpha(source) else None
        bit_depth = 16 if px.dtype == np.uint16 else 8
    else:
        tiles = P.TileSource(source.rows, source.height, source.width, source.channels, np.uint8, up.multiple)
        alpha_in, bit_depth = None, 8
    h, w, c = tiles.height, tiles.width, tiles.channels
    out_dtype = np.uint16 if bit_depth == 16 else np.uint8
    passes = 2 if alpha_in is not None and alpha == "network" else 1
    alpha_full = None
    if passes == 2:  # the network's alpha is a second pass over the image: made first, held as one plane
        mapped, rep = P.passes_reporter(report, cancel, 0, 2)
        a_up = yield from map_progress(P.run_network(up, alpha_in[:, :, None], tile=tile, overlap=overlap,
                                                     out_dtype=out_dtype, cancel=cancel, label="alpha tile",
                                                     report=rep), mapped)
        alpha_full = P.to_grey(a_up)[:, :, 0]
        del a_up

    def on_rows(y0: int, y1: int, rows: np.ndarray) -> None:
        if c == 1:
            rows = P.to_grey(rows)
        if alpha_in is not None:
            a = alpha_full[y0:y1] if alpha_full is not None else _alpha_rows(alpha_in, s, y0, y1)
            rows = np.dstack([rows, a])
        writer.write(rows)

    icc = source.icc_profile
    exif = source.exif if isinstance(source, ImageData) else None
    try:
        with atomic_path(output) as tmp, open(tmp, "wb") as fh:
            writer = PngBandWriter(fh, w * s, h * s, c + (1 if alpha_in is not None else 0), bit_depth, icc, exif)
            mapped, rep = P.passes_reporter(report, cancel, passes - 1, passes)
            yield from map_progress(P.run_network(up, tiles, tile=tile, overlap=overlap, out_dtype=out_dtype,
                                                  cancel=cancel, report=rep, on_rows=on_rows), mapped)
            if cancel is not None:
                cancel.check()
            writer.close()
    except ImageWriteError:
        raise
    except OSError as exc:  # the output folder is read-only, the disk is full ...
        raise ImageWriteError(f"cannot write {output}: {exc.strerror or exc}") from exc
    return (w * s, h * s)
