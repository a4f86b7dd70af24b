"""Stylize: CycleGAN / pix2pix style transfer for single photos and whole folders.

Public functions (all long ones are generators: ``yield Progress``, ``return`` the result):

* ``resolve_model(model, direction)`` -> (path, name): a manifest id, a file, or a training folder.
* ``stylize_array(net, rgb, ...)``: the core, an (H, W, 3) float [0, 1] array -> (H, W, 3) uint8.
* ``stylize_image(cancel, input_path, model, ...)``: preview at screen size, then full resolution.
* ``stylize_folder(cancel, input_dir, output_dir, model, ...)``: the batch; returns a ``BatchReport``.
* ``save_result(cancel, image, path)``: write an array (used by the GUI's export).

Processing: input [-1, 1] RGB, output ``(y + 1) / 2`` to uint8. Full resolution runs the fully convolutional
network at the image's own size (reflect-padded to the network's size multiple, cropped back); images above
``tile_pixels`` are processed in overlapping tiles blended with linear ramps so memory stays bounded. The
"official" option reproduces ``test.py``: bicubic resize to 256x256 and truncation to uint8 (and, for pix2pix
BatchNorm networks, batch statistics with dropout off, see ``nets.cyclegan.set_official_test_behaviour``).

Batch throughput: decoding and encoding run in a ThreadPoolExecutor overlapped with the forward passes,
same-size images are stacked into one forward on CUDA (InstanceNorm / eval BatchNorm are per-sample, so
batching does not change results; on the CPU batching measured slower, so one image per forward), uint8 crosses
the bus both ways, inference_mode, channels_last where it measured faster (U-Net on CUDA), fp16 autocast on
CUDA by default (bf16 on request on CPUs that have it). The input folder is only ever read.
"""
from __future__ import annotations

import concurrent.futures as cf
import logging
import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganstudio.checkpoints.cache import get_model, verify_sha256
from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.core.errors import InputError
from ganstudio.core.imageio import ImageData, list_images, read_image, to_float_rgb, write_image
from ganstudio.core.progress import (
    Cancelled,
    CancelToken,
    EtaClock,
    Progress,
    format_eta,
    map_progress,
    run_to_completion,
)
from ganstudio.runtime import autocast as _autocast
from ganstudio.runtime import select_device

log = logging.getLogger(__name__)

DIRECTIONS = ("AtoB", "BtoA")
OUTPUT_FORMATS = ("png", "jpg", "webp", "tif")
DEFAULT_PATTERN = "{stem}_{model}"
OFFICIAL_SIZE = 256


# ------------------------------------------------------------------------------------------- models


def resolve_model(model: str | os.PathLike, direction: str = "AtoB") -> tuple[Path, str]:
    """Find the generator file for ``model`` and ``direction``; returns (path, display name).

    ``model`` may be
    * a file: ``latest_net_G.pth`` (one direction), or ``<epoch>_net_G_A.pth`` / ``_net_G_B.pth`` from training
      (the sibling file gives the other direction);
    * a training folder holding ``latest_net_G_A.pth`` and ``latest_net_G_B.pth`` (or ``latest_net_G.pth``);
    * a manifest id (models/manifest/stylize.json or the user library). An entry with ``files`` {"AtoB": ...,
      "BtoA": ...} gives both directions; an official one-direction entry names its ``reverse`` entry.
    """
    path, name, _sha = _resolve_with_sha(model, direction)
    return path, name


def _resolve_with_sha(model, direction: str) -> tuple[Path, str, str]:
    """resolve_model plus the manifest's sha256 for the file found ("" for a path or an unverified entry)."""
    if direction not in DIRECTIONS:
        raise InputError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    p = Path(model).expanduser()
    if p.is_dir():
        for names in ((f"latest_net_G_{direction[0]}.pth",), ("latest_net_G.pth",)):
            for n in names:
                if (p / n).is_file():
                    if n == "latest_net_G.pth" and direction == "BtoA":
                        raise InputError(f"{p} holds a one-direction model (latest_net_G.pth): use AtoB")
                    return p / n, p.name, ""
        raise InputError(f"no CycleGAN generator (latest_net_G*.pth) in {p}")
    if p.is_file():
        m = re.match(r"^(.*_net_G_)([AB])(\.\w+)$", p.name)
        if m:
            want = "A" if direction == "AtoB" else "B"
            target = p.with_name(f"{m.group(1)}{want}{m.group(3)}")
            if not target.is_file():
                raise InputError(f"{direction} needs {target.name} next to {p.name}")
            return target, p.parent.name or p.stem, ""
        if direction == "BtoA":
            raise InputError(f"{p.name} holds one direction only; BtoA needs a G_B file or a model pair")
        return p, p.stem, ""
    return _resolve_manifest(str(model), direction)


def _resolve_manifest(model_id: str, direction: str) -> tuple[Path, str, str]:
    from ganstudio.core import manifest as mf

    try:
        entry = mf.find_model(model_id)
    except (KeyError, LookupError, ValueError) as exc:
        raise InputError(f"unknown model {model_id!r}: not a file, a folder or a manifest id") from exc
    files = _entry_extra(entry, "files")
    if isinstance(files, dict) and direction in files:
        from ganstudio.core import paths

        path = Path(files[direction]).expanduser()
        tries = [path] if path.is_absolute() else [paths.user_models_dir() / path, paths.bundled_models_dir() / path]
        for cand in tries:
            if cand.is_file():
                return cand, entry.id, ""  # the entry's sha256 is for its "file", not these
        raise InputError(f"model {entry.id}: the {direction} file {path} is missing")
    if direction == "BtoA":
        reverse = _entry_extra(entry, "reverse")
        if reverse:
            return _resolve_manifest(reverse, "AtoB")
        raise InputError(f"model {entry.id} has one direction only (AtoB)")
    path = mf.entry_path(entry)
    if path is None:
        raise InputError(
            f"model {entry.id} is not downloaded yet; get it from {entry.url or 'its source'} "
            "(Models > Download, or `ganstudio models download`)")
    return Path(path), entry.id, (entry.sha256 or "")


def _entry_extra(entry, key: str):
    """A manifest entry's own key (``reverse``, ``files``): ModelEntry keeps unknown JSON keys in ``extra``."""
    for d in (entry.arch_kwargs, entry.metrics, entry.extra):
        if key in d:
            return d[key]
    return None


def load_generator(model, direction: str = "AtoB", device: str | torch.device = "cpu"):
    """Returns (net, description, display name). Uses the shared model cache when present."""
    path, name, sha = _resolve_with_sha(model, direction)
    try:
        if sha:  # a manifest id with a known digest: refuse a damaged download (get_model only checks ids)
            verify_sha256(path, sha)
        net, desc = get_model(str(path), device=device, family="cyclegan")
    except CheckpointError as exc:
        msg = str(exc)
        raise CheckpointError(msg if path.name in msg else f"{path.name}: {msg}") from exc
    if desc.hparams.get("arch") == "patchgan":
        raise InputError(f"{path.name} is a PatchGAN discriminator, not a generator")
    if _default_channels_last(torch.device(device) if not isinstance(device, torch.device) else device, net):
        net.to(memory_format=torch.channels_last)  # in place and idempotent; results unchanged
    return net, desc, name


def check_model(cancel=None, model=None, direction: str = "AtoB", device="auto") -> dict:
    """GUI job for a generator file the user picked before opening a photo: load it (the cache keeps it)
    so a wrong family, a discriminator or a broken file is reported at once. Returns {"model", "name"}."""
    _net, _desc, name = load_generator(model, direction, _select_device(device))
    return {"model": str(model), "name": name}


def _select_device(device):
    return select_device(device) if not isinstance(device, torch.device) else device


def _default_channels_last(device: torch.device, net: torch.nn.Module | None = None) -> bool:
    """channels_last only where it measured faster (bench/stylize.py --precision-table, H100 and a 16-core
    CPU): the U-Net on CUDA (about 1.1-1.5x). The ResNet generator's reflection pads made it slower on CUDA
    (19.6 -> 25.2 ms for 4x512px fp32) and it was no faster on the CPU."""
    return device.type == "cuda" and bool(getattr(net, "prefers_channels_last", False))


def _default_batch_size(device: torch.device) -> int:
    """Images per forward: batching fills a GPU; on the CPU it measured slower per image (cache)."""
    return 8 if device.type == "cuda" else 1


def _default_precision(device: torch.device, precision: str | None) -> str:
    if precision:
        return precision
    return "fp16" if device.type == "cuda" else "fp32"


# ---------------------------------------------------------------------------------------- core math


def size_multiple(net: torch.nn.Module) -> int:
    """Spatial multiple the network needs for same-size output: 4 (ResNet) or 2**num_downs (U-Net)."""
    return 2 ** getattr(net, "num_downs", 2)


def _is_unet_batchnorm(net) -> bool:
    from ganstudio.nets.cyclegan import PatchableBatchNorm2d

    return hasattr(net, "num_downs") and any(isinstance(m, PatchableBatchNorm2d) for m in net.modules())


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _net_forward(net, x: torch.Tensor, device: torch.device, precision: str, channels_last: bool,
                 to_cpu: bool = True) -> torch.Tensor:
    """x: (B, 3, H, W) in [-1, 1] float32 -> (B, 3, H, W) in [-1, 1] float32, cropped back to H, W."""
    h, w = x.shape[-2:]
    x = _pad_to_multiple(x.to(device, non_blocking=True), size_multiple(net))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), _autocast(device, precision):
        y = net(x)
    y = y[..., :h, :w].float()
    if y.shape[1] == 1:
        y = y.expand(-1, 3, -1, -1)
    return y.cpu() if to_cpu else y


def _batch_forward(net, arrays: list[np.ndarray], device: torch.device, precision: str, channels_last: bool,
                   truncate: bool) -> np.ndarray:
    """Same-size (H, W, 3) uint8 (or float [0, 1]) arrays -> (B, H, W, 3) uint8, in one forward pass.
    The [0, 1] -> [-1, 1] scaling and the 8-bit quantisation run on the device, so only uint8 crosses the bus."""
    batch = torch.from_numpy(np.stack(arrays)).to(device, non_blocking=True)
    with torch.inference_mode():
        x = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        x = x.permute(0, 3, 1, 2) * 2.0 - 1.0
        y = _net_forward(net, x, device, precision, channels_last, to_cpu=False)
        v = ((y + 1.0) / 2.0 * 255.0).clamp(0, 255)
        v = v.floor() if truncate else v.round()
        return v.to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def _as_float01(arr: np.ndarray) -> np.ndarray:
    return arr.astype(np.float32) / np.float32(255.0) if arr.dtype == np.uint8 else arr


def _tiled_forward(net, x: torch.Tensor, device: torch.device, precision: str, channels_last: bool,
                   tile: int, overlap: int, cancel: CancelToken | None):
    """Large images: overlapping tiles blended by ``engines.tiling.run_tiled`` (memory bounded by the tile;
    halves the tile on out-of-memory). Generator of (done, total); returns (1, 3, H, W) float32 on the cpu.

    InstanceNorm normalises with the statistics of whatever it sees, so plain tiling normalises each tile on
    its own and gives every tile its own tone. For networks with InstanceNorm the tiles therefore run twice:
    the first pass only measures every InstanceNorm layer's per-channel mean and variance over all tiles
    (``tiled_norm_stats``), the second normalises every tile with those image-wide statistics
    (``frozen_instance_norm``). Measured on a seeded test image with 64 px tiles, the mean difference from
    the untiled result fell from 7.7 to 2.2 levels (and 11.6 -> 4.4 with 48 px tiles)."""
    from ganstudio.engines.tiling import run_tiled

    m = size_multiple(net)
    h, w = x.shape[-2:]
    xp = _pad_to_multiple(x, m)
    tile = max(m, tile // m * m)
    overlap = max(m, overlap // m * m)
    norms = _instance_norms(net)
    passes = 2 if norms else 1

    def fn(t: torch.Tensor) -> torch.Tensor:
        if channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), _autocast(device, precision):  # run_tiled updates the tile in place
            return net(t).float()

    def tiles(sink=None):
        return run_tiled(fn, xp, 1, tile=tile, overlap=overlap, cancel=cancel, align=m, device=device,
                         label="tile", sink=sink)

    stats = None
    if passes == 2:
        with tiled_norm_stats(net) as collected:
            for p in tiles(sink=lambda *_: None):  # measuring only: the output is not kept
                yield int(p.done), int(p.total) * 2
        stats = collected.result()
    with frozen_instance_norm(net, stats):
        y = yield from map_progress(
            tiles(), lambda p: (int(p.done) + (passes - 1) * int(p.total), int(p.total) * passes))
    y = y[..., :h, :w]
    if y.shape[1] == 1:
        y = y.expand(-1, 3, -1, -1)
    return y


def _instance_norms(net) -> list[nn.InstanceNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats]


class tiled_norm_stats:  # noqa: N801 - a context manager used like a function
    """Within the block, accumulate the pixel-weighted per-channel sum and sum of squares of every
    InstanceNorm layer's input over all forward calls (one per tile); ``result()`` gives (mean, var) per
    layer, shaped (1, C, 1, 1), in module order."""

    def __init__(self, net) -> None:
        self.norms = _instance_norms(net)
        self.acc: list[list] = [[0.0, 0.0, 0] for _ in self.norms]
        self.handles: list = []

    def __enter__(self):
        def hook(i):
            def pre(_mod, args):
                t = args[0].float()
                a = self.acc[i]
                a[0] = a[0] + t.sum(dim=(2, 3), keepdim=True)
                a[1] = a[1] + (t * t).sum(dim=(2, 3), keepdim=True)
                a[2] += t.shape[2] * t.shape[3]
            return pre

        self.handles = [mod.register_forward_pre_hook(hook(i)) for i, mod in enumerate(self.norms)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()

    def result(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for s1, s2, n in self.acc:
            mean = s1 / n
            out.append((mean, (s2 / n - mean * mean).clamp_min(0)))
        return out


class frozen_instance_norm:  # noqa: N801 - used like a function: ``with frozen_instance_norm(net, stats):``
    """Within the block, each InstanceNorm layer normalises with the given (mean, var) instead of its input's
    own statistics (``stats`` None: no change). The override is an instance attribute removed on exit, so the
    shared, cached module is unchanged afterwards."""

    def __init__(self, net, stats) -> None:
        self.norms = _instance_norms(net) if stats is not None else []
        self.stats = stats

    def __enter__(self):
        for mod, (mean, var) in zip(self.norms, self.stats or []):
            def fwd(t, mean=mean, var=var, eps=mod.eps):
                return ((t.float() - mean) * torch.rsqrt(var + eps)).to(t.dtype)  # fp32 under autocast too
            mod.forward = fwd
        return self

    def __exit__(self, *exc) -> None:
        for mod in self.norms:
            mod.__dict__.pop("forward", None)


def to_uint8(y: torch.Tensor, truncate: bool = False) -> np.ndarray:
    """(B, 3, H, W) or (3, H, W) in [-1, 1] -> (.., H, W, 3) uint8. ``truncate`` mimics the official
    ``astype(np.uint8)``; otherwise round to nearest."""
    v = (y.float() + 1.0) / 2.0 * 255.0
    v = v.clamp(0, 255)
    v = v.floor() if truncate else v.round()
    return v.to(torch.uint8).movedim(-3, -1).numpy()


def _to_input(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float [0, 1] -> (1, 3, H, W) in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None]
    return t * 2.0 - 1.0


def official_resize(rgb: np.ndarray, size: int = OFFICIAL_SIZE) -> np.ndarray:
    """Bicubic resize as test.py does: PIL bicubic on the 8-bit RGB image."""
    u8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    im = Image.fromarray(u8).resize((size, size), Image.BICUBIC)
    return np.asarray(im, dtype=np.float32) / 255.0


def stylize_array_iter(net, rgb: np.ndarray, *, official: bool = False, device="cpu", precision: str | None = None,
                       tile_pixels: int = 1024 * 1024, tile: int | None = None, overlap: int = 64,
                       channels_last: bool | None = None, cancel: CancelToken | None = None):
    """Generator form of ``stylize_array``: yields (done, total) per tile, returns the uint8 result."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    prec = _default_precision(dev, precision)
    cl = _default_channels_last(dev, net) if channels_last is None else channels_last
    if official:
        rgb = official_resize(rgb)
    x = _to_input(rgb)
    if tile is None:
        tile = int(math.sqrt(tile_pixels))
    batch_stats = official and _is_unet_batchnorm(net)
    if batch_stats:
        from ganstudio.nets.cyclegan import set_official_test_behaviour

        set_official_test_behaviour(net, batch_stats=True, dropout=False)
    try:
        def fwd(t):
            return _net_forward(net, t, dev, prec, cl)

        h, w = x.shape[-2:]
        if h * w <= tile_pixels or official:
            y = fwd(x)
            yield 1, 1
        else:
            y = yield from _tiled_forward(net, x, dev, prec, cl, tile, overlap, cancel)
    finally:
        if batch_stats:
            from ganstudio.nets.cyclegan import set_official_test_behaviour

            set_official_test_behaviour(net, batch_stats=False, dropout=False)
    return to_uint8(y[0], truncate=official)


def stylize_array(net, rgb: np.ndarray, **kwargs) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] -> (H, W, 3) uint8 (256x256 when ``official``)."""
    return run_to_completion(stylize_array_iter(net, rgb, **kwargs))


def _alpha_u8(img: ImageData, size: tuple[int, int] | None = None) -> np.ndarray | None:
    a = img.alpha
    if a is None:
        return None
    if a.dtype == np.uint16:
        a = ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    a = np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1]))
    if size is not None and (a.shape[1], a.shape[0]) != size:
        a = np.asarray(Image.fromarray(a).resize(size, Image.BICUBIC))
    return a


def _attach_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if alpha is None:
        return rgb
    return np.concatenate([rgb, alpha[..., None]], axis=2)


def _downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return rgb
    size = (max(1, round(w * s)), max(1, round(h * s)))
    u8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(u8).resize(size, Image.LANCZOS), dtype=np.float32) / 255.0


# ------------------------------------------------------------------------------------- single image


def stylize_image(cancel: CancelToken, input_path, model, direction: str = "AtoB", official: bool = False,
                  preview_size: int | None = 768, device: str = "auto", precision: str | None = None,
                  tile_pixels: int = 1024 * 1024, overlap: int = 64, output_path=None):
    """Preview at ``preview_size`` (longest side; None skips it), then full resolution.

    Yields Progress (the first carries the preview image); returns a dict with ``image`` (H, W, 3|4) uint8
    (alpha kept), ``preview``, ``model``, ``direction``, ``size`` and ``output_path`` when one was written.
    """
    dev = _select_device(device)
    img = read_image(input_path)
    rgb = to_float_rgb(img)
    shown = _downscale(rgb, max(preview_size or 0, 1024))
    # extra["input"]: the (orientation-corrected) input at display size, for the GUI's "before" image
    yield Progress(0, 3, f"loading model {Path(str(model)).name}",
                   extra={"input": np.clip(np.rint(shown * 255), 0, 255).astype(np.uint8),
                          "input_size": (img.width, img.height)})
    net, desc, name = load_generator(model, direction, dev)
    cancel.check()
    preview = None
    kw = dict(official=official, device=dev, precision=precision, tile_pixels=tile_pixels, overlap=overlap,
              cancel=cancel)
    if preview_size and not official and max(rgb.shape[:2]) > preview_size:
        small = _downscale(rgb, preview_size)
        preview = stylize_array(net, small, **kw)
        yield Progress(1, 3, "preview ready; rendering full resolution", preview=preview)
    cancel.check()
    def full_res(step: tuple[int, int]) -> Progress:
        done, total = step
        return Progress(1 + done / total, 3, f"full resolution: tile {done}/{total}")

    out = yield from map_progress(stylize_array_iter(net, rgb, **kw), full_res)
    out_size = (out.shape[1], out.shape[0])
    image = _attach_alpha(out, _alpha_u8(img, out_size))
    written = None
    if output_path is not None:
        written = str(output_path)
        write_image(written, image)
    if preview is None:
        preview = out
    yield Progress(3, 3, "done", preview=out)
    return {"image": image, "preview": preview, "model": name, "direction": direction,
            "size": out_size, "output_path": written, "hparams": dict(desc.hparams)}


def save_result(cancel: CancelToken, image: np.ndarray, path) -> str:
    """Write ``image`` (uint8 RGB/RGBA) to ``path`` (format from the suffix); JPEG drops alpha."""
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg") and image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(str(path), image)
    return str(path)


# -------------------------------------------------------------------------------------------- batch


@dataclass
class BatchReport:
    """Outcome of ``stylize_folder``. ``failed`` holds (input path, reason) for every bad file."""

    input_dir: str
    output_dir: str
    total: int = 0
    written: list = field(default_factory=list)  # (input, output)
    skipped: list = field(default_factory=list)  # (input, existing output)
    failed: list = field(default_factory=list)  # (input, reason)
    upscaled: bool = False
    seconds: float = 0.0

    def summary(self) -> str:
        s = (f"{len(self.written)} written, {len(self.skipped)} already done, {len(self.failed)} failed "
             f"of {self.total}")
        if self.failed:
            s += "\nfailed:\n" + "\n".join(f"  {p}: {r}" for p, r in self.failed)
        return s


def output_path_for(src: Path, input_dir: Path, output_dir: Path, pattern: str, fmt: str, model_name: str,
                    direction: str) -> Path:
    rel = src.relative_to(input_dir)
    ext = src.suffix.lower().lstrip(".") if fmt in ("same", "") else fmt.lower().lstrip(".")
    if ext == "jpeg":
        ext = "jpg"
    name = pattern.format(stem=src.stem, model=_safe(model_name), direction=direction, ext=src.suffix.lstrip("."))
    return output_dir / rel.parent / f"{name}.{ext}"


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def _upscaler(name: str | None, device, precision: str | None = None, cancel: CancelToken | None = None):
    """fn(uint8 RGB(A) array) -> upscaled uint8 array through the Upscale engine's public functions
    (``load_upscaler`` once, then ``upscale_array``), or None when no chaining was asked for."""
    if not name:
        return None
    from ganstudio.engines import upscale as up

    upscaler = up.load_upscaler(name, device=str(device), precision=precision or "fp32")
    lock = threading.Lock()  # one SR forward at a time: the encode threads share the network and its memory

    def run(arr: np.ndarray) -> np.ndarray:
        with lock:
            return up.upscale_array(arr, model=name, device=str(device), cancel=cancel, upscaler=upscaler)

    return run


def stylize_folder(cancel: CancelToken, input_dir, output_dir, model, direction: str = "AtoB",
                   recursive: bool = True, pattern: str = DEFAULT_PATTERN, fmt: str = "png",
                   official: bool = False, then_upscale: str | None = None, batch_size: int | None = None,
                   workers: int | None = None, device: str = "auto", precision: str | None = None,
                   tile_pixels: int = 1024 * 1024, thumb_size: int = 128, overwrite: bool = False):
    """Stylize every image under ``input_dir`` into ``output_dir`` with the same folder tree.

    Files whose output already exists are skipped (so a cancelled batch resumes where it stopped); a bad file is
    recorded in the report and the rest go on. Progress messages carry ETA; ``extra`` carries ``input``,
    ``output``, ``thumb`` (small uint8 array), ``eta_s`` and ``failed`` (count). Returns a ``BatchReport``.
    """
    import time

    t0 = time.monotonic()
    input_dir, output_dir = Path(input_dir).resolve(), Path(output_dir).resolve()
    if not input_dir.is_dir():
        raise InputError(f"input folder not found: {input_dir}")
    if output_dir == input_dir or input_dir in output_dir.parents:
        raise InputError("the output folder must be outside the input folder (the input folder is never "
                         "written to)")
    if fmt not in OUTPUT_FORMATS + ("same",):
        raise InputError(f"format must be one of {OUTPUT_FORMATS} or 'same'")
    from ganstudio.engines.upscale import check_output_dir

    check_output_dir(output_dir)  # a path under a file: one clear error, not one per photo
    dev = _select_device(device)
    prec = _default_precision(dev, precision)
    net, desc, name = load_generator(model, direction, dev)
    upscale = _upscaler(then_upscale, dev, precision, cancel)
    report = BatchReport(str(input_dir), str(output_dir))

    files = _list_files(input_dir, recursive)
    report.total = len(files)
    todo: list[tuple[Path, Path]] = []
    for src in files:
        dst = output_path_for(src, input_dir, output_dir, pattern, fmt, name, direction)
        if dst.resolve() == src.resolve():
            report.failed.append((str(src), "output name equals the input file; refusing to overwrite it"))
        elif dst.exists() and not overwrite:
            report.skipped.append((str(src), str(dst)))
        else:
            todo.append((src, dst))
    n_todo = len(todo)
    yield Progress(0, max(n_todo, 1), f"{n_todo} to do, {len(report.skipped)} already done",
                   extra={"eta_s": None, "failed": len(report.failed)})
    if not todo:
        report.seconds = time.monotonic() - t0
        return report

    if batch_size is None:
        batch_size = _default_batch_size(dev)
    if workers is None:  # decode/encode threads; on the CPU they share the cores with the forward pass
        workers = min(16, os.cpu_count() or 2) if dev.type == "cuda" else 1
    saved_threads = None
    if dev.type == "cpu" and torch.get_num_threads() > 2:
        # leave the I/O threads a core of their own: oversubscribed intra-op threads stall every conv
        saved_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, saved_threads - workers))
    batch_size = 1 if (official and _is_unet_batchnorm(net)) else max(1, batch_size)
    cl = _default_channels_last(dev, net)
    clock = EtaClock()
    pool = cf.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="stylize-io")
    writes: list[tuple[cf.Future, Path, Path]] = []
    done = 0

    def decode(src: Path):
        """-> (ImageData, (H, W, 3) array): uint8 for 8-bit files (converted on the device), else float [0, 1]."""
        img = read_image(src)
        if official:
            return img, official_resize(to_float_rgb(img))
        px = img.pixels
        if px.dtype == np.uint8:
            px = px.reshape(px.shape[0], px.shape[1], -1)
            return img, np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px
        return img, to_float_rgb(img)

    def encode(src: Path, dst: Path, img: ImageData, out: np.ndarray):
        out = _attach_alpha(out, _alpha_u8(img, (out.shape[1], out.shape[0])))
        if upscale is not None:
            out = upscale(out)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.suffix.lower() in (".jpg", ".jpeg") and out.shape[2] == 4:
            out = out[..., :3]
        # keep the photo's colour profile and EXIF (orientation already applied and reset to 1)
        data = ImageData(pixels=np.ascontiguousarray(out[..., :3]),
                         alpha=np.ascontiguousarray(out[..., 3]) if out.shape[2] == 4 else None,
                         bit_depth=8, source_mode="RGBA" if out.shape[2] == 4 else "RGB",
                         icc_profile=img.icc_profile, exif=img.exif, path=str(dst))
        write_image(str(dst), data)
        return _thumb(out, thumb_size)

    def run_group(items):
        """items: list of (src, dst, img, rgb) of the same size -> per item uint8 output."""
        if not official and len(items) == 1 and items[0][3].shape[0] * items[0][3].shape[1] > tile_pixels:
            return [stylize_array(net, _as_float01(items[0][3]), device=dev, precision=prec,
                                  tile_pixels=tile_pixels, cancel=cancel, channels_last=cl)]
        return list(_batch_forward(net, [it[3] for it in items], dev, prec, cl, truncate=official))

    def finished_writes(block: bool):
        out = []
        remaining = []
        for fut, src, dst in writes:
            if block or fut.done():
                try:
                    thumb = fut.result()
                    report.written.append((str(src), str(dst)))
                    out.append((src, dst, thumb, None))
                except Exception as exc:  # a write failure is one bad file, not the end of the batch
                    report.failed.append((str(src), f"could not write {dst.name}: {exc}"))
                    out.append((src, dst, None, str(exc)))
            else:
                remaining.append((fut, src, dst))
        writes[:] = remaining
        return out

    def progress_for(src, dst, thumb):
        eta = clock.eta_seconds(done, n_todo)
        msg = f"{done}/{n_todo} {src.name} -> {dst.name}  ETA {format_eta(eta)}"
        if report.failed:
            msg += f"  ({len(report.failed)} failed)"
        return Progress(done, n_todo, msg, extra={"input": str(src), "output": str(dst), "thumb": thumb,
                                                  "eta_s": eta, "failed": len(report.failed)})

    # decode ahead (bounded window), bucket same-size images, forward a bucket when full
    window = max(2 * batch_size, workers * 2)
    pending: "OrderedDict[int, tuple[Path, Path, cf.Future]]" = OrderedDict()
    buckets: dict[tuple, list] = {}
    n_buffered = 0
    it = iter(enumerate(todo))
    exhausted = False
    official_bn = official and _is_unet_batchnorm(net)
    if official_bn:  # official pix2pix test.py: BatchNorm on batch statistics (one image), dropout off
        from ganstudio.nets.cyclegan import set_official_test_behaviour

        set_official_test_behaviour(net, batch_stats=True, dropout=False)
    try:
        while True:
            cancel.check()
            while not exhausted and len(pending) + n_buffered < window:
                try:
                    i, (src, dst) = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending[i] = (src, dst, pool.submit(decode, src))
            group = None
            if pending:
                i, (src, dst, fut) = pending.popitem(last=False)
                try:
                    img, rgb = fut.result()
                except Exception as exc:
                    report.failed.append((str(src), _reason(exc, src)))
                    done += 1
                    yield progress_for(src, dst, None)
                    continue
                key = (rgb.shape, rgb.dtype.str)
                buckets.setdefault(key, []).append((src, dst, img, rgb))
                n_buffered += 1
                if len(buckets[key]) >= batch_size:
                    group = buckets.pop(key)
                elif n_buffered >= window or (exhausted and not pending):
                    k = max(buckets, key=lambda k: len(buckets[k]))
                    group = buckets.pop(k)
            elif buckets:
                group = buckets.pop(next(iter(buckets)))
            elif not writes:
                break
            if group is not None:
                n_buffered -= len(group)
                try:
                    outs = run_group(group)
                except Cancelled:
                    raise
                except Exception as exc:  # e.g. out of memory on a huge image: report it, go on
                    log.exception("stylize failed on %s", [g[0] for g in group])
                    for src, dst, _img, _rgb in group:
                        report.failed.append((str(src), _reason(exc, src)))
                        done += 1
                    outs = []
                for (src, dst, img, _rgb), out in zip(group, outs):
                    writes.append((pool.submit(encode, src, dst, img, out), src, dst))
            block = (group is None and not pending and not buckets) or len(writes) > window
            for src, dst, thumb, _err in finished_writes(block):
                done += 1
                yield progress_for(src, dst, thumb)
    finally:
        # let in-flight writes finish (each is atomic); never leave threads behind
        pool.shutdown(wait=True, cancel_futures=True)
        if official_bn:
            set_official_test_behaviour(net, batch_stats=False, dropout=False)
        if saved_threads is not None:
            torch.set_num_threads(saved_threads)
    report.upscaled = upscale is not None
    report.seconds = time.monotonic() - t0
    yield Progress(n_todo, n_todo, "finished: " + report.summary().splitlines()[0],
                   extra={"eta_s": 0.0, "failed": len(report.failed), "report": report.summary()})
    return report


def _reason(exc: BaseException, src: Path | None = None) -> str:
    msg = str(exc) or type(exc).__name__
    if src is not None and msg.startswith(f"{src}: "):  # the report already names the file
        msg = msg[len(f"{src}: "):]
    return msg.splitlines()[0][:300]


def _thumb(arr: np.ndarray, size: int) -> np.ndarray:
    im = Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr)
    im.thumbnail((size, size), Image.BILINEAR)
    return np.asarray(im.convert("RGB"))


def _list_files(folder: Path, recursive: bool) -> list[Path]:
    """Every file that looks like an image by suffix (bad ones are then reported, not silently skipped)."""
    try:
        return list_images(folder, recursive=recursive)
    except TypeError:  # pragma: no cover
        return list_images(folder)
