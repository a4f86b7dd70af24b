"""Stylize many files: ``stylize_batch(cancel, inputs, output, model, ...)`` on the one batch runner.

``core.batch`` plans and runs it with the rules every batch command shares (inputs as files / folders /
globs, a mirrored tree, outputs never inputs, name clashes renamed and reported, skip-done, stale temp
files cleaned, one ``BatchReport``). Output names come from a pattern with the fields {stem} {model}
{direction} {ext}, checked before anything starts.

What this module adds is the order work runs in (``_Pipeline``, run_batch's ``process``): files are
decoded ahead in a thread pool; on CUDA, same-size images are stacked into one forward pass (8 by default)
and the next passes run while earlier results are encoded in the pool, so the GPU never waits for PNG
encoding; on the CPU one image per pass, one I/O thread (batching measured slower there). uint8 crosses
the bus both ways. Everything still finishes file by file in order, so the report and progress are exact:
a file that fails to decode, run or write fails alone.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import re
import string
import threading
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from ganstudio.core.batch import BatchItem, plan_batch, run_batch
from ganstudio.core.errors import InputError
from ganstudio.core.imageio import WRITE_SUFFIXES, ImageData, read_image, to_float_rgb, write_image
from ganstudio.core.progress import Cancelled, CancelToken, EtaClock, Progress, format_eta
from ganstudio.engines.stylize import norms
from ganstudio.engines.stylize.jobs import alpha_u8, attach_alpha
from ganstudio.engines.stylize.models import load_generator, resolve_generator
from ganstudio.engines.stylize.pipeline import (
    TILE_PIXELS,
    Watch,
    batch_forward,
    official_resize,
    padded_size,
    stylize_array,
)
from ganstudio.runtime import Runtime, resolve_runtime

log = logging.getLogger(__name__)

OUTPUT_FORMATS = ("png", "jpg", "webp", "tif")
DEFAULT_PATTERN = "{stem}_{model}"
PATTERN_FIELDS = ("stem", "model", "direction", "ext")
THUMB = 128


# ------------------------------------------------------------------------------------------- names
def check_pattern(pattern: str) -> str:
    """The output name pattern, or InputError saying in one line what is wrong with it. Only the fields
    {stem} {model} {direction} {ext}; {stem} must be there (every file needs a name of its own)."""
    allowed = " ".join("{" + f + "}" for f in PATTERN_FIELDS)
    if not pattern or not pattern.strip():
        raise InputError(f"the name pattern is empty: use fields {allowed}, e.g. {DEFAULT_PATTERN}")
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:  # "{stem", "stem}", ...
        raise InputError(f"the name pattern {pattern!r} is not valid ({exc}): use fields {allowed}") from None
    fields = [f for _lit, f, _spec, _conv in parts if f is not None]
    for f in fields:
        if f not in PATTERN_FIELDS:
            shown = "{" + f + "}" if f else "{}"
            raise InputError(f"the name pattern {pattern!r} uses {shown}: only {allowed} can be used")
    for _lit, f, spec, conv in parts:
        if f is not None and (spec or conv):
            raise InputError(f"the name pattern {pattern!r}: write fields plainly ({allowed}), without ':' or '!'")
    if "stem" not in fields:
        raise InputError(f"the name pattern {pattern!r} has no {{stem}}: every output needs its own name "
                         f"(fields: {allowed})")
    return pattern


def safe_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def output_ext(src: Path, fmt: str) -> str:
    if fmt not in ("same", ""):
        return fmt.lower().lstrip(".")
    suffix = src.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        return "png"
    return "jpg" if suffix == ".jpeg" else suffix.lstrip(".")


def namer(pattern: str, fmt: str, model_name: str, direction: str):
    """``name(rel, src)`` for ``core.batch.plan_batch``: the pattern applied to the mirrored path's stem
    (a renamed clash arrives as ``a_jpg``), in the chosen format's suffix."""
    model = safe_name(model_name)

    def name(rel: Path, src: Path) -> Path:
        stem = pattern.format(stem=rel.stem, model=model, direction=direction, ext=src.suffix.lstrip("."))
        return rel.parent / f"{stem}.{output_ext(src, fmt)}"

    return name


# ------------------------------------------------------------------------------------------- batch
def stylize_batch(cancel: CancelToken, inputs, output, model, direction: str = "AtoB", recursive: bool = True,
                  pattern: str = DEFAULT_PATTERN, fmt: str = "png", official: bool = False,
                  then_upscale: Optional[str] = None, batch_size: Optional[int] = None,
                  workers: Optional[int] = None, device: str = "auto", precision: str = "auto",
                  tile_pixels: int = TILE_PIXELS, thumb_size: int = THUMB, overwrite: bool = False):
    """Stylize files / folders / globs into ``output`` (a folder, the tree mirrored; or, for one input
    file, a file name). Yields Progress (``extra``: input, output, thumb, eta_s, counts) and returns the
    ``core.batch.BatchReport``; raises ``Cancelled`` (carrying the partial report) when cancelled."""
    cancel = cancel or CancelToken()
    check_pattern(pattern)
    if fmt not in OUTPUT_FORMATS + ("same",):
        raise InputError(f"format must be one of {', '.join(OUTPUT_FORMATS)} or 'same', not {fmt!r}")
    ref = resolve_generator(model, direction)
    plan = plan_batch(inputs, output, name=namer(pattern, fmt, ref.name, direction), recursive=recursive,
                      overwrite=overwrite, protected=[ref.path])
    rt = resolve_runtime(device, precision)
    pipe = None
    if plan.items:  # nothing to do (all done already): no model to load
        net, _desc, _name = load_generator(model, direction, rt.device)
        upscale = _upscaler(then_upscale, rt, cancel)
        if batch_size is None:
            batch_size = 8 if rt.is_cuda else 1  # batching fills a GPU; on the CPU it measured slower
        if official and norms.has_batch_norm(net):
            batch_size = 1  # official pix2pix BatchNorm uses the batch's statistics: one image per batch
        if workers is None:  # decode / encode threads; on the CPU they share the cores with the forward
            workers = min(16, os.cpu_count() or 2) if rt.is_cuda else 1
        pipe = _Pipeline(plan.items, net, rt, official=official, batch_size=max(1, batch_size),
                         workers=max(1, workers), ahead=rt.is_cuda, upscale=upscale, thumb_size=thumb_size,
                         tile_pixels=tile_pixels, cancel=cancel)
    try:
        return (yield from run_batch(plan, pipe.process if pipe else _nothing, cancel=cancel, label="file"))
    finally:
        if pipe is not None:
            pipe.close()


def _nothing(item, decoded):  # pragma: no cover - run_batch never calls it for an empty plan
    raise AssertionError("no work planned")


def _upscaler(name: Optional[str], rt: Runtime, cancel: CancelToken):
    """fn(uint8 RGB(A) array) -> upscaled array through the Upscale engine's public API, or None. The
    model is checked once here (a wrong name fails the batch before any file, not every file)."""
    if not name:
        return None
    from ganstudio.engines import upscale as up

    up.inspect_model(name, device=str(rt.device))
    lock = threading.Lock()  # one SR forward at a time: the encode threads share the network and its memory

    def run(arr: np.ndarray) -> np.ndarray:
        with lock:
            return up.upscale_array(arr, model=name, device=str(rt.device), precision=rt.precision, cancel=cancel)

    return run


# ---------------------------------------------------------------------------------------- pipeline
class _Pipeline:
    """``process(item, _)`` for ``run_batch``: returns when ``item``'s output is written ({"thumb"}), or
    raises its own error. Decoding runs ``window`` files ahead; a forward pass takes the file asked for plus
    up to ``batch_size - 1`` later same-size files already in the window; with ``ahead`` (CUDA) further
    passes run while the asked-for file's encode is still going."""

    def __init__(self, items: list[BatchItem], net, rt: Runtime, *, official: bool, batch_size: int, workers: int,
                 ahead: bool, upscale, thumb_size: int, tile_pixels: int, cancel: CancelToken) -> None:
        self.items, self.net, self.rt = items, net, rt
        self.official, self.batch_size, self.ahead = official, batch_size, ahead
        self.upscale, self.thumb_size, self.tile_pixels, self.cancel = upscale, thumb_size, tile_pixels, cancel
        self.n = len(items)
        self.index = {id(it): i for i, it in enumerate(items)}
        self.window = max(2 * batch_size, 2 * workers, 2)
        self.pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stylize-io")
        self.decoded: dict[int, cf.Future] = {}
        self.results: dict[int, object] = {}  # i -> encode Future, or the exception that failed file i
        self.clock = EtaClock()
        self.watch: Optional[Watch] = None

    def close(self) -> None:
        # in-flight writes finish (each is atomic); queued ones are dropped; no thread is left behind
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.decoded.clear()
        self.results.clear()

    # --------------------------------------------------------------------------------------- process
    def process(self, item: BatchItem, _decoded=None) -> dict:
        i = self.index[id(item)]
        self._decode_ahead(i)
        if i not in self.results:
            self._compute(i)
        if self.ahead:  # keep the device busy while file i is being encoded
            j = i + 1
            while j < min(self.n, i + self.window) and not self._settled(i):
                if j not in self.results and self.decoded.get(j) is not None and self.decoded[j].done():
                    self._compute(j)
                j += 1
        res = self.results.pop(i)
        if isinstance(res, BaseException):
            raise res
        return res.result()

    def _settled(self, i: int) -> bool:
        r = self.results.get(i)
        return not isinstance(r, cf.Future) or r.done()

    def _decode_ahead(self, i: int) -> None:
        for j in range(i, min(self.n, i + self.window)):
            if j not in self.decoded and j not in self.results:
                self.decoded[j] = self.pool.submit(self._decode, self.items[j].source)

    def _take(self, j: int):
        """(ImageData, array) of file j, or None when it failed to decode (recorded as its result)."""
        fut = self.decoded.pop(j, None) or self.pool.submit(self._decode, self.items[j].source)
        try:
            return fut.result()
        except Exception as exc:  # a bad file fails alone
            self.results[j] = exc
            return None

    def _compute(self, i: int) -> None:
        got = self._take(i)
        if got is None:
            return
        group = [(i, *got)]
        key = (got[1].shape, got[1].dtype.str)
        if self.batch_size > 1 and not self._tiled(got[1]):
            for j in range(i + 1, min(self.n, i + self.window)):
                if len(group) >= self.batch_size:
                    break
                fut = self.decoded.get(j)
                if j in self.results or fut is None:
                    continue
                try:
                    other = fut.result()
                except Exception:
                    continue  # its own turn records the failure
                if (other[1].shape, other[1].dtype.str) == key:
                    del self.decoded[j]
                    group.append((j, *other))
        try:
            outs = self._forward(group)
        except Cancelled:
            raise
        except Exception as exc:  # e.g. out of memory on a huge image: these files fail, the rest go on
            for j, *_ in group:  # (run_batch logs the traceback of what is not a user error)
                self.results[j] = exc
            return
        for (j, img, _arr), out in zip(group, outs):
            self.results[j] = self.pool.submit(self._encode, self.items[j], img, out)

    def _tiled(self, arr: np.ndarray) -> bool:
        ph, pw = padded_size(self.net, arr.shape[0], arr.shape[1])
        return not self.official and ph * pw > self.tile_pixels

    def _forward(self, group) -> list[np.ndarray]:
        i = group[0][0]
        item = self.items[i]
        msg = f"file {i + 1}/{self.n} {item.source.name}"

        def report(p: Progress) -> None:  # from inside a pass: a fraction of file i
            done = i + p.fraction
            eta = self.clock.eta_seconds(done, self.n)
            self.cancel.report(Progress(done, self.n, f"{msg} · {p.message} · ETA {format_eta(eta)}",
                                        extra={"input": str(item.source), "output": str(item.output),
                                               "eta_s": eta}))

        if self.watch is None:
            self.watch = Watch(self.net, self.cancel, report)
        self.watch.report = report
        arrays = [arr for _j, _img, arr in group]
        if self._tiled(arrays[0]):
            return [stylize_array(self.net, arrays[0], runtime=self.rt, tile_pixels=self.tile_pixels,
                                  cancel=self.cancel, report=report)]
        with norms.official_batch_norm(self.net, self.official and norms.has_batch_norm(self.net)):
            return list(batch_forward(self.net, arrays, self.rt, truncate=self.official, watch=self.watch))

    # ------------------------------------------------------------------------------------------ I/O
    def _decode(self, src: Path):
        """-> (ImageData, (H, W, 3) array): uint8 for 8-bit files (scaled on the device), else float [0, 1]."""
        img = read_image(src)
        if self.official:
            return img, official_resize(to_float_rgb(img))
        px = img.pixels
        if px.dtype == np.uint8:
            px = px.reshape(px.shape[0], px.shape[1], -1)
            return img, np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px
        return img, to_float_rgb(img)

    def _encode(self, item: BatchItem, img: ImageData, out: np.ndarray) -> dict:
        out = attach_alpha(out, alpha_u8(img, (out.shape[1], out.shape[0])))
        if self.upscale is not None:
            out = self.upscale(out)
        dst = item.output
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.suffix.lower() in (".jpg", ".jpeg") and out.shape[2] == 4:
            out = out[..., :3]
        # keep the photo's colour profile and EXIF (orientation already applied and reset to 1)
        data = ImageData(pixels=np.ascontiguousarray(out[..., :3]),
                         alpha=np.ascontiguousarray(out[..., 3]) if out.shape[2] == 4 else None,
                         bit_depth=8, source_mode="RGBA" if out.shape[2] == 4 else "RGB",
                         icc_profile=img.icc_profile, exif=img.exif, path=str(dst))
        write_image(str(dst), data)
        return {"thumb": _thumb(out, self.thumb_size)}


def _thumb(arr: np.ndarray, size: int) -> np.ndarray:
    im = Image.fromarray(np.ascontiguousarray(arr[..., :3]))
    im.thumbnail((size, size), Image.BILINEAR)
    return np.asarray(im.convert("RGB"))
