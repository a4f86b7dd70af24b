"""Paint: turn semantic label maps into images with a SPADE generator (any official or own checkpoint).

Entry points (torch, no Qt; the GUI calls them through EngineJob strings):
    describe_model(model, overrides=None) -> dict           what the canvas needs: labels, palette, sizes
    render(label_map, instance_map=None, model=..., seed=0, size=None, scale=1.0) -> (H, W, 3) uint8
    render_size(shape, info, size, scale) -> (H, W)         the size render() will use
    synth(inputs, output, model, seed=0, ...)                generator for the CLI: Progress per file
and, re-exported from ganstudio.core.palettes (plain numpy, also used by the canvas directly):
    read_label_map, write_label_map, photo_to_label_map, LabelMapError.

Model hyperparameters the keys cannot tell (SPADE upsampling mode, label_nc vs dontcare vs instance channel,
crop size / aspect ratio) come, later ones winning, from: ``spade.detect`` (which knows the official three),
a JSON sidecar next to the checkpoint (``<file>.json``, our own saved metadata), the manifest entry's
``arch_kwargs`` when the model is given by id, and the caller's ``overrides``.

Input pipeline as the official test.py (SPEC §4): nearest resize of the ids to the render size, 255 -> the
dontcare slot, one-hot, instance-edge channel last. A painted layout has no instance ids, so where the model
takes instance edges and none are given, the label map itself serves as the instance map (an edge at every
label boundary) — the same choice the GauGAN demo makes for painted input.
Output as tensor2im: (x + 1) / 2 · 255, clipped, truncated to uint8.

Live preview (the paint panel): SPADE is fully convolutional in the label map — ``nets.spade`` derives the
latent grid from the input size (sh = H / 2^L, sw = W / 2^L) — so the same network renders a smaller label
map to a smaller image. The panel renders ``size="fit", scale=0.5`` while the user paints (a quarter of the
pixels: a 256×256 model previews at 128×128), then ``size="fit"`` at full resolution once they pause; the
label map is always downsampled with nearest (labels are categorical). VAE models (fixed latent grid) ignore
``scale``. The CLI renders at the model's native size (``size=None``), unchanged.

CPU threads: torch's intra-op thread count is process-wide (worker threads inherit the count set anywhere
in the process); this engine never changes it (``engines.device.set_cpu_threads`` is the one place).
"""
from __future__ import annotations

import json
import logging
import math
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.core.errors import InputError
from ganstudio.core.files import same_file
from ganstudio.core.palettes import (  # noqa: F401  (re-exported for the CLI and tests)
    DONTCARE,
    LabelMapError,
    Palette,
    looks_like_label_map,
    palette_for,
    photo_to_label_map,
    read_label_map,
    write_label_map,
)
from ganstudio.core.progress import CancelToken, Progress
from ganstudio.nets import spade

log = logging.getLogger(__name__)

_lock = threading.Lock()  # the cached module's upsampling mode is set per call: one forward at a time

HPARAM_KEYS = ("label_nc", "contain_dontcare_label", "use_instance", "num_upsampling_layers", "crop_size",
               "aspect_ratio", "dataset", "label_names", "palette")


@dataclass
class PaintModelInfo:
    path: str
    semantic_nc: int
    ngf: int
    label_nc: int
    contain_dontcare_label: bool
    use_instance: bool
    num_upsampling_layers: str
    crop_size: int
    aspect_ratio: float
    dataset: str
    use_vae: bool
    size_multiple: int
    native_size: tuple  # (H, W)
    palette: str = ""  # built-in palette key or a palette JSON path; "" = by label count
    label_names: list | None = None

    def get_palette(self) -> Palette:
        from ganstudio.core.palettes import generic_palette, load_palette

        if self.palette:
            return load_palette(self.palette)
        if self.label_names:
            return generic_palette(self.label_nc, self.label_names)
        return palette_for(self.label_nc, self.dataset)


# ------------------------------------------------------------------------------------------- models
def _resolve(model) -> tuple[Path, dict]:
    """A path, or a manifest id -> (file, arch_kwargs)."""
    if isinstance(model, (str, Path)) and Path(model).is_file():
        return Path(model), {}
    from ganstudio.core.manifest import UnknownModelError, entry_path, find_model

    try:
        entry = find_model(str(model))
    except UnknownModelError:
        raise FileNotFoundError(f"{model}: neither a SPADE checkpoint file nor a known model id") from None
    path = entry_path(entry)
    if path is None:
        raise FileNotFoundError(f"model {entry.id} is not downloaded yet"
                                f"{f' (get it from {entry.url})' if entry.url else ''}")
    return Path(path), dict(entry.arch_kwargs or {})


def _sidecar(path: Path) -> dict:
    for side in (Path(str(path) + ".json"), path.with_suffix(".json")):
        if side.is_file() and side != path:
            try:
                data = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                log.warning("ignoring unreadable model metadata %s: %s", side, exc)
                return {}
            return data.get("spade", data) if isinstance(data, dict) else {}
    return {}


def _get_module(model, device: str):
    from ganstudio.checkpoints.cache import get_model

    return get_model(model if not isinstance(model, Path) else str(model), device=device, family="spade")


def _device(device) -> str:
    """"auto" / "cuda" / "cpu" ... -> a concrete torch device string (the GUI passes the user's choice)."""
    from ganstudio.runtime import select_device

    return str(select_device(device or "cpu"))


def load_paint_model(model, device: str = "cpu", overrides: dict | None = None):
    """-> (SPADEGenerator in eval mode, PaintModelInfo)."""
    device = _device(device)
    if isinstance(model, spade.SPADEGenerator):  # an in-memory module (tests, benchmarks)
        net, hp, path = model, {}, ""
        base = dict(semantic_nc=net.semantic_nc, ngf=net.ngf, label_nc=net.label_nc,
                    contain_dontcare_label=net.contain_dontcare_label, use_instance=net.use_instance,
                    num_upsampling_layers=net.num_upsampling_layers, crop_size=net.crop_size,
                    aspect_ratio=net.aspect_ratio, dataset=net.dataset, use_vae=net.use_vae)
    else:
        path, arch_kwargs = _resolve(model)
        try:
            net, desc = _get_module(model if not Path(str(model)).is_file() else path, device)
        except CheckpointError as exc:  # name the file ("this is a cyclegan checkpoint" said not which)
            msg = str(exc)
            if path.name not in msg:
                msg = f"{path.name}: {msg}"
            if "not a recognised network" in msg:
                msg += "; this needs a SPADE (GauGAN) generator"
            raise CheckpointError(msg) from exc
        base = dict(desc.hparams)
        hp = _sidecar(path)
        hp.update(arch_kwargs)
    hp = {k: v for k, v in hp.items() if k in HPARAM_KEYS}
    hp.update({k: v for k, v in (overrides or {}).items() if k in HPARAM_KEYS and v is not None})
    merged = {**base, **hp}
    if "label_nc" in hp and not ({"contain_dontcare_label", "use_instance"} & set(hp)):
        # only label_nc given: the remaining channels are dontcare first, then instance (official order)
        extra = merged["semantic_nc"] - int(hp["label_nc"])
        merged["contain_dontcare_label"], merged["use_instance"] = extra >= 1, extra >= 2
    info = PaintModelInfo(
        path=str(path), semantic_nc=int(merged["semantic_nc"]), ngf=int(merged["ngf"]),
        label_nc=int(merged["label_nc"]), contain_dontcare_label=bool(merged["contain_dontcare_label"]),
        use_instance=bool(merged["use_instance"]),
        num_upsampling_layers=str(merged.get("num_upsampling_layers", "normal")),
        crop_size=int(merged.get("crop_size", 256)), aspect_ratio=float(merged.get("aspect_ratio", 1.0)),
        dataset=str(merged.get("dataset", "") or ""), use_vae=bool(merged.get("use_vae", False)),
        size_multiple=2 ** spade.UPSAMPLING_MODES[str(merged.get("num_upsampling_layers", "normal"))],
        native_size=(0, 0), palette=str(merged.get("palette", "") or ""),
        label_names=merged.get("label_names"))
    total = info.label_nc + int(info.contain_dontcare_label) + int(info.use_instance)
    if total != info.semantic_nc:
        raise InputError(f"the model takes {info.semantic_nc} input channels but label_nc {info.label_nc} + dontcare "
                         f"{int(info.contain_dontcare_label)} + instance {int(info.use_instance)} = {total}")
    sw = info.crop_size // info.size_multiple
    info.native_size = (max(1, round(sw / info.aspect_ratio)) * info.size_multiple, max(1, sw) * info.size_multiple)
    return net, info


def describe_model(model, overrides: dict | None = None, cancel: CancelToken | None = None) -> dict:
    """Plain data for the GUI: the model's label set, palette (names + colours) and sizes."""
    _, info = load_paint_model(model, overrides=overrides)
    pal = info.get_palette()
    d = asdict(info)
    d["palette_key"] = pal.key
    d["palette_name"] = pal.name
    d["label_names"] = list(pal.names)[: max(info.label_nc, len(pal.names))]
    d["label_colors"] = pal.colors.tolist()
    d["dontcare_value"] = DONTCARE if info.contain_dontcare_label else None
    return d


# ------------------------------------------------------------------------------------------ render
def _round_size(h: int, w: int, m: int) -> tuple[int, int]:
    return max(m, int(round(h / m)) * m), max(m, int(round(w / m)) * m)


def _resize_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if ids.shape[:2] == tuple(size):
        return ids
    from PIL import Image

    arr = ids.astype(np.uint16) if ids.dtype != np.uint8 else ids
    im = Image.fromarray(arr)  # uint8 -> 'L', uint16 -> 'I;16'; nearest as the official label transform
    return np.asarray(im.resize((size[1], size[0]), Image.Resampling.NEAREST))


def prepare_semantics(label_map: np.ndarray, info: PaintModelInfo, size: tuple[int, int],
                      instance_map: np.ndarray | None = None) -> torch.Tensor:
    """(H, W) ids -> the generator input (1, semantic_nc, size) float32."""
    lm = np.asarray(label_map)
    if lm.ndim != 2:
        raise InputError(f"a label map is (H, W) ids, got shape {lm.shape}")
    lm = _resize_ids(lm, size).astype(np.int64)
    if not info.contain_dontcare_label and (lm == DONTCARE).any() and info.label_nc <= DONTCARE:
        raise LabelMapError(f"the label map has dontcare pixels (255) but this model has no dontcare slot; "
                            f"paint them with a label 0..{info.label_nc - 1}")
    try:
        inst = None
        if info.use_instance:
            inst = _resize_ids(np.asarray(instance_map), size).astype(np.int64) if instance_map is not None else lm
        return spade.make_semantics(torch.from_numpy(lm), info.label_nc, info.contain_dontcare_label,
                                    None if inst is None else torch.from_numpy(inst), info.use_instance)
    except ValueError as exc:
        raise LabelMapError(str(exc)) from exc


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8 exactly as the official tensor2im (clip, truncate)."""
    arr = (x[0].detach().float().cpu().permute(1, 2, 0).numpy() + 1.0) / 2.0 * 255.0
    return np.clip(arr, 0, 255).astype(np.uint8)


def _autocast(device, precision: str):
    from ganstudio.runtime import autocast

    return autocast(torch.device(device), precision)


def render_size(shape: tuple, info: PaintModelInfo, size: str | tuple | None = None,
                scale: float = 1.0) -> tuple[int, int]:
    """The (H, W) that :func:`render` uses for a label map of ``shape`` (see there for ``size``), each side
    times ``scale``, rounded to the model's multiple (at least one multiple). VAE models have a fixed latent
    grid: "fit" gives their native size whatever the scale."""
    h, w = int(shape[0]), int(shape[1])
    if size is None or size == "native":
        th, tw = info.native_size
    elif size == "full":
        th, tw = h, w
    elif size == "fit":
        if info.use_vae:
            return tuple(info.native_size)
        nh, nw = info.native_size
        f = min(1.0, math.sqrt((nh * nw) / max(1, h * w)))  # never more pixels than the model's own size
        th, tw = h * f, w * f
    else:
        th, tw = float(size[0]), float(size[1])
    return _round_size(th * scale, tw * scale, info.size_multiple)


@contextmanager
def _cancellable(net: torch.nn.Module, cancel: CancelToken | None):
    """Check ``cancel`` before every submodule's forward (each convolution, norm, block), so a stale
    full-resolution render stops within one layer instead of running to the end (the panel cancels it when
    the user paints on; per top-level block was too coarse: the last block is about half of a render).
    ~200 hook calls per forward, well under a millisecond."""
    if cancel is None:
        yield
        return
    hooks = [m.register_forward_pre_hook(lambda _m, _a: cancel.check()) for m in net.modules() if m is not net]
    try:
        yield
    finally:
        for hk in hooks:
            hk.remove()


def render(label_map: np.ndarray, instance_map: np.ndarray | None = None, model=None, seed: int = 0,
           size: str | tuple | None = None, device: str = "cpu", precision: str = "fp32",
           overrides: dict | None = None, channels_last: bool | None = None, scale: float = 1.0,
           cancel: CancelToken | None = None) -> np.ndarray:
    """Render one label map. ``size``: None / "native" = the model's own output size (256×256 for ade20k/coco,
    256×512 for cityscapes), "full" = the label map's size rounded to the model's multiple, "fit" = the label
    map's aspect with at most the model's native pixel count (never upscaled), or (H, W).
    ``scale`` multiplies each side (the live preview uses 0.5); the label map is resized with nearest.
    ``seed`` draws z for VAE models; the public models are deterministic and ignore it.
    ``channels_last`` (default: on for the CPU) runs the convolutions in NHWC layout.
    Returns (H, W, 3) uint8 RGB at the render size."""
    if model is None:
        raise InputError("no model: choose a SPADE checkpoint")
    device = _device(device)
    net, info = load_paint_model(model, device=device, overrides=overrides)
    lm = np.asarray(label_map)
    hw = render_size(lm.shape, info, size, scale)
    if cancel is not None:
        cancel.check()
    seg = prepare_semantics(lm, info, hw, instance_map).to(device)
    z = None
    if info.use_vae:
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(1, net.z_dim, generator=g).to(device)
    with _lock, torch.inference_mode(), _autocast(device, precision), _cancellable(net, cancel):
        if info.num_upsampling_layers != net.num_upsampling_layers or net.crop_size != info.crop_size \
                or net.aspect_ratio != info.aspect_ratio:
            net.set_upsampling(info.num_upsampling_layers, info.crop_size, info.aspect_ratio)
        if channels_last is None:
            channels_last = torch.device(device).type == "cpu"
        if channels_last:  # NHWC convolutions: ~1.5x faster on the CPU for SPADE (bench/paint.py)
            if not getattr(net, "_channels_last", False):
                net.to(memory_format=torch.channels_last)
                net._channels_last = True
            seg = seg.contiguous(memory_format=torch.channels_last)
        out = net(seg, z) if info.use_vae else net(seg)
    return tensor_to_image(out)


def render_full(label_map, instance_map=None, model=None, seed: int = 0, device: str = "cpu",
                overrides: dict | None = None, cancel: CancelToken | None = None) -> np.ndarray:
    """The on-demand full-resolution render: the label map's own size (rounded to the model's multiple)."""
    return render(label_map, instance_map, model=model, seed=seed, size="full", device=device,
                  overrides=overrides, cancel=cancel)


# ------------------------------------------------------------------------------------------- batch
IMAGE_OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


def _expand_inputs(inputs: Iterable, exclude: Path | None = None) -> list[tuple[Path, Path]]:
    """-> [(file, relative output stem)], folders expanded recursively (sorted).

    ``exclude`` is the output folder: equal to an input folder it is refused (the results would replace the
    label maps); inside an input folder, its files (earlier results) are not fed back in. An output folder
    above the input (``-o ~/maps`` for ``~/maps/city``) hides nothing."""
    from ganstudio.core.imageio import list_images

    excl = exclude.resolve() if exclude is not None else None
    out: list[tuple[Path, Path]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            pr = p.resolve()
            if excl is not None and excl == pr:
                raise InputError(f"the output folder {exclude} is the input folder: its results would replace "
                                 "the label maps; choose another output folder")
            skip_out = excl is not None and pr in excl.parents
            for f in list_images(p):
                if skip_out and excl in f.resolve().parents:
                    continue  # our own earlier results
                out.append((f, f.relative_to(p).with_suffix("")))
        elif p.is_file():
            out.append((p, Path(p.stem)))
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return out


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    from ganstudio.core.imageio import write_image

    write_image(path, rgb)


def _named(src: Path, exc: BaseException) -> str:
    """The reason with the file named once ("a.png: not a readable image", never "a.png: a.png: ...")."""
    msg = str(exc)
    if msg.startswith(f"{src.name}: "):  # read_label_map names the file by its name: give the whole path
        return f"{src}: {msg[len(src.name) + 2:]}"
    return msg if (src.name in msg or str(src) in msg) else f"{src}: {msg}"


def _model_file(model) -> Path | None:
    if isinstance(model, (str, Path)):
        try:
            return _resolve(model)[0]
        except FileNotFoundError:
            return None  # load_paint_model says why
    return None


class SynthReport(list):
    """The written paths (a list, as before), plus ``failed``: [{"input", "reason"}] and ``output``."""

    def __init__(self, output):
        super().__init__()
        self.failed: list[dict] = []
        self.output = str(output)

    def summary(self) -> str:
        return f"{len(self)} written, {len(self.failed)} failed -> {self.output}"


def synth(inputs, output, model, seed: int = 0, size: str | tuple | None = None, device: str = "cpu",
          overrides: dict | None = None, palette: str | None = None, unknown: str = "error",
          cancel: CancelToken | None = None):
    """Render every label map in ``inputs`` (files and folders). ``output`` is a folder, or a file name when
    there is exactly one input. Yields Progress per file; returns a :class:`SynthReport` (the written paths).

    Never writes over an input label map or the model file: an output equal to the input image, an output
    folder equal to an input folder, or the model file as output raise ValueError before anything is done.
    With one input file its failure raises (LabelMapError / ValueError / OSError); in a batch a file that
    fails (bad ids, unknown colours, unreadable, unwritable) is recorded in ``failed`` and the rest finished.
    An output folder that cannot be created raises OSError before any file is rendered."""
    cancel = cancel or CancelToken()
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    output = Path(output)
    one_file = len(items) == 1 and Path(items[0]).is_file()
    single_file = one_file and output.suffix.lower() in IMAGE_OUT_SUFFIXES and not output.is_dir()
    files = _expand_inputs(items, exclude=None if single_file else output)
    if not files:
        raise FileNotFoundError("no label maps found in the inputs")
    model_path = _model_file(model)
    if model_path is not None and same_file(output, model_path):
        raise InputError(f"{output} is the model file itself: choose another output")
    if single_file and same_file(output, files[0][0]):
        raise InputError(f"refusing to overwrite the input image {output}: choose another output")
    _, info = load_paint_model(model, device=device, overrides=overrides)
    pal = info.get_palette() if palette is None else palette_for(info.label_nc, palette) if palette in (
        "ade20k", "coco_stuff", "cityscapes", "coco", "ade") else Palette.from_json(palette)
    protected = [f for f, _ in files] + ([model_path] if model_path is not None else [])
    report = SynthReport(output.parent if single_file else output)
    todo: list[tuple[Path, Path]] = []
    seen: dict[Path, Path] = {}
    for src, rel in files:
        dst = output if single_file else output / rel.with_suffix(".png")
        if any(same_file(dst, q) for q in protected):
            what = "the model file" if model_path is not None and same_file(dst, model_path) else "an input"
            if one_file:
                raise InputError(f"refusing to overwrite {what} {dst}: choose another output")
            report.failed.append({"input": str(src), "reason": f"{src}: the output {dst} would overwrite {what}"})
        elif dst in seen and same_file(seen[dst], src):
            continue  # the same label map given twice (a file and its folder): rendered once
        elif dst in seen:
            report.failed.append({"input": str(src), "reason": f"{src}: same output name as {seen[dst]}"})
        else:
            seen[dst] = src
            todo.append((src, dst))
    if not single_file:
        output.mkdir(parents=True, exist_ok=True)  # fails here, once, for a folder that cannot be made
    total = len(files)
    done = total - len(todo)
    yield Progress(done, total, f"{len(todo)} label map(s)")
    for src, dst in todo:
        cancel.check()
        try:
            imp = read_label_map(src, pal, n_labels=info.label_nc + int(info.contain_dontcare_label), unknown=unknown,
                                 allow_dontcare=info.contain_dontcare_label)
            rgb = render(imp.label_map, None, model=model, seed=seed, size=size, device=device,
                         overrides=overrides, cancel=cancel)
            _write_rgb(dst, rgb)
        except (LabelMapError, ValueError, OSError) as exc:
            if one_file:
                if isinstance(exc, OSError):
                    raise
                raise LabelMapError(_named(src, exc)) from exc
            reason = _named(src, exc)
            report.failed.append({"input": str(src), "reason": reason})
            log.debug("%s failed", src, exc_info=True)
            done += 1
            short = reason[len(f"{src}: "):] if reason.startswith(f"{src}: ") else \
                reason[len(f"{src.name}: "):] if reason.startswith(f"{src.name}: ") else reason
            yield Progress(done, total, f"skipped {src.name}: {short}")
            continue
        report.append(dst)
        done += 1
        yield Progress(done, total, f"{src.name} -> {dst}", preview=rgb)
    return report


# ------------------------------------------------------------------------------------- GUI helpers
def open_for_canvas(path, palette: str | None = None, colors=None, names=None, n_labels: int | None = None,
                    allow_dontcare: bool = True, max_side: int = 1024, unknown: str = "nearest",
                    cancel: CancelToken | None = None) -> dict:
    """Open a file for the paint canvas: a label-map PNG imports (ids, or colours through the palette);
    anything else is a photo and becomes a label map by nearest palette colour (no segmentation model is
    bundled), at most ``max_side`` pixels on its long side. Returns {label_map, kind, messages}.
    Out-of-range ids raise LabelMapError (the GUI shows the message)."""
    if palette:
        from ganstudio.core.palettes import load_palette

        pal = load_palette(palette)
    else:
        cols = np.asarray(colors, np.uint8).reshape(-1, 3)
        pal = Palette(key="model", name="the model's", names=list(names or [f"label {i}" for i in range(len(cols))]),
                      colors=cols, dontcare_value=DONTCARE if allow_dontcare else None)
    from ganstudio.core.imageio import read_image

    # refuse what is no image (text renamed .png, damage, a huge header: a decompression bomb) with
    # imageio's clear message before the label-map sniffing opens it with Pillow's own wording
    img = read_image(path)
    if looks_like_label_map(path, pal):
        imp = read_label_map(path, pal, n_labels=n_labels, unknown=unknown, allow_dontcare=allow_dontcare)
        return {"label_map": imp.label_map, "kind": imp.kind, "messages": imp.messages}
    if cancel is not None:
        cancel.check()
    rgb = img.pixels if img.pixels.shape[2] == 3 else np.repeat(img.pixels, 3, axis=2)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    lm = photo_to_label_map(rgb, pal, size)
    return {"label_map": lm, "kind": "photo",
            "messages": [f"converted the photo to labels by nearest {pal.name} palette colour "
                         "(no segmentation model is available)"]}
