"""Paint: turn semantic label maps into images with a SPADE generator (any official or own checkpoint).

Entry points (torch, no Qt; the GUI calls them through EngineJob strings):
    describe_model(model, overrides=None) -> dict           what the canvas needs: labels, palette, sizes
    render(label_map, instance_map=None, model=..., seed=0, size=None, scale=1.0) -> (H, W, 3) uint8
    render_size(shape, info, size, scale) -> (H, W)         the size render() will use
    synth(inputs, output, model, seed=0, ...)                generator for the CLI: the shared batch runner
    open_for_canvas(path, ...)                               a label map or photo for the paint canvas
and, re-exported from ganstudio.core.palettes (plain numpy, also used by the canvas directly):
    read_label_map, write_label_map, photo_to_label_map, LabelMapError.

Models are looked up by ``checkpoints.cache.resolve_model`` (a file, a manifest / library id or an alias;
a model that is not on this machine says how to get it) and loaded through the shared cache
(``get_model``): the module is shared and read-only, so nothing here changes it. Hyperparameters that
can differ per call without new weights (upsampling mode, crop size, aspect ratio) go on a shallow view of
the module (``_configured``) that shares its layers; NHWC ("channels_last") is asked for through the input
tensor only, which makes the convolutions run NHWC exactly as a converted module would (same kernels, same
output, measured 1.8x faster than NCHW on the CPU) without touching the shared weights.

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
map to a smaller image. The panel renders ``size="fit"`` at a reduced ``scale`` while the user paints, then
``size="fit"`` at full resolution once they pause; the label map is always downsampled with nearest (labels
are categorical). VAE models (fixed latent grid) ignore ``scale``. The CLI renders at the model's native
size (``size=None``), unchanged.

Runtime: ``device`` / ``precision`` are the user's strings ("auto" by default), turned into a
``runtime.Runtime`` once per call. Progress and cancel inside one forward: every layer of the shared module
is watched (``runtime.watch_blocks``, installed once, thread-safe); within ``runtime.block_watch`` a render
checks its CancelToken before each layer (a stale full-size render stops within one layer) and reports the
fraction of the forward done at most every ``PROGRESS_EVERY_S``.
"""
from __future__ import annotations

import copy
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

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
from ganstudio.runtime import block_watch, resolve_runtime, watch_blocks

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # a long render reports the fraction of its forward done at most this often
HPARAM_KEYS = ("label_nc", "contain_dontcare_label", "use_instance", "num_upsampling_layers", "crop_size",
               "aspect_ratio", "dataset", "label_names", "palette", "trained_labels")


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
    # the label ids the model saw in training (a manifest entry may say so; the bundled landscapes model
    # does): the Paint tab marks the others, where the model draws undefined texture. None = not known.
    trained_labels: list | None = None

    def get_palette(self) -> Palette:
        from ganstudio.core.palettes import generic_palette, load_palette

        if self.palette:
            return load_palette(self.palette)
        if self.label_names:
            return generic_palette(self.label_nc, self.label_names)
        return palette_for(self.label_nc, self.dataset)


# ------------------------------------------------------------------------------------------- models
def _resolve(model) -> tuple[Path, dict, str]:
    """A path, or a manifest / library id or alias -> (file, manifest arch_kwargs, the reference the model
    cache takes: the id where there is one, so the cache checks the manifest's sha256)."""
    from ganstudio.checkpoints.cache import resolve_model

    r = resolve_model(model)
    if r.entry is None:
        return r.path, {}, str(r.path)
    return r.path, dict(r.entry.arch_kwargs or {}), str(model)


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


def load_paint_model(model, device="auto", overrides: dict | None = None):
    """-> (the shared SPADEGenerator, eval mode, read-only; PaintModelInfo). ``device``: a preference string
    ("auto", "cpu", "cuda:0" ...) or a torch.device."""
    if isinstance(model, spade.SPADEGenerator):  # an in-memory module (tests, benchmarks)
        net, hp, path = model, {}, ""
        base = dict(semantic_nc=net.semantic_nc, ngf=net.ngf, label_nc=net.label_nc,
                    contain_dontcare_label=net.contain_dontcare_label, use_instance=net.use_instance,
                    num_upsampling_layers=net.num_upsampling_layers, crop_size=net.crop_size,
                    aspect_ratio=net.aspect_ratio, dataset=net.dataset, use_vae=net.use_vae)
    else:
        from ganstudio.checkpoints.cache import get_model

        dev = device if isinstance(device, torch.device) else resolve_runtime(device).device
        try:
            path, arch_kwargs, ref = _resolve(model)
            net, desc = get_model(ref, device=dev, family="spade")
        except CheckpointError as exc:  # name the file ("this is a cyclegan checkpoint" said not which)
            msg = str(exc)
            name = Path(str(model)).name
            if name not in msg:
                msg = f"{name}: {msg}"
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
    mode = str(merged.get("num_upsampling_layers", "normal"))
    if mode not in spade.UPSAMPLING_MODES:
        raise InputError(f"unknown SPADE upsampling mode {mode!r}: use one of {', '.join(spade.UPSAMPLING_MODES)}")
    info = PaintModelInfo(
        path=str(path), semantic_nc=int(merged["semantic_nc"]), ngf=int(merged["ngf"]),
        label_nc=int(merged["label_nc"]), contain_dontcare_label=bool(merged["contain_dontcare_label"]),
        use_instance=bool(merged["use_instance"]), num_upsampling_layers=mode,
        crop_size=int(merged.get("crop_size", 256)), aspect_ratio=float(merged.get("aspect_ratio", 1.0)),
        dataset=str(merged.get("dataset", "") or ""), use_vae=bool(merged.get("use_vae", False)),
        size_multiple=2 ** spade.UPSAMPLING_MODES[mode], native_size=(0, 0),
        palette=str(merged.get("palette", "") or ""), label_names=merged.get("label_names"),
        trained_labels=_label_ids(merged.get("trained_labels")))
    total = info.label_nc + int(info.contain_dontcare_label) + int(info.use_instance)
    if total != info.semantic_nc:
        raise InputError(f"the model takes {info.semantic_nc} input channels but label_nc {info.label_nc} + dontcare "
                         f"{int(info.contain_dontcare_label)} + instance {int(info.use_instance)} = {total}")
    sw = info.crop_size // info.size_multiple
    info.native_size = (max(1, round(sw / info.aspect_ratio)) * info.size_multiple, max(1, sw) * info.size_multiple)
    return net, info


def _label_ids(value) -> list | None:
    """A manifest's ``trained_labels`` as a sorted list of ints, or None when absent or not a list of ints."""
    if not isinstance(value, (list, tuple)):
        return None
    try:
        return sorted({int(v) for v in value})
    except (TypeError, ValueError):
        log.warning("paint: ignoring trained_labels that are not whole numbers: %.80r", value)
        return None


def _configured(net: spade.SPADEGenerator, info: PaintModelInfo) -> spade.SPADEGenerator:
    """The shared module as ``info`` describes it: the module itself, or, where the upsampling mode, crop size
    or aspect ratio differ (a sidecar, the manifest or --upsampling said so), a shallow view of it. The view
    shares every layer, weight and hook; only those plain attributes are its own, so the shared module
    (possibly rendering for another job at this moment) is never changed."""
    want = (info.num_upsampling_layers, info.crop_size, info.aspect_ratio)
    if (net.num_upsampling_layers, net.crop_size, net.aspect_ratio) == want:
        return net
    view = copy.copy(net)
    try:
        view.set_upsampling(*want)
    except ValueError as exc:  # 'most' needs its own block: the checkpoint fixes it
        raise InputError(f"{Path(info.path).name or 'this model'}: {exc}") from exc
    return view


def describe_model(model, overrides: dict | None = None, device: str = "auto",
                   cancel: CancelToken | None = None) -> dict:
    """Plain data for the GUI: the model's label set, palette (names + colours) and sizes. Loads the model
    on ``device`` (the one its renders will use), so the first render finds it in the cache."""
    _, info = load_paint_model(model, device=device, overrides=overrides)
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


def render(label_map: np.ndarray, instance_map: np.ndarray | None = None, model=None, seed: int = 0,
           size: str | tuple | None = None, device: str = "auto", precision: str = "auto",
           overrides: dict | None = None, channels_last: bool | None = None, scale: float = 1.0,
           cancel: CancelToken | None = None,
           progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """Render one label map. ``size``: None / "native" = the model's own output size (256×256 for ade20k/coco,
    256×512 for cityscapes), "full" = the label map's size rounded to the model's multiple, "fit" = the label
    map's aspect with at most the model's native pixel count (never upscaled), or (H, W).
    ``scale`` multiplies each side (the live preview uses less than 1); the label map is resized with nearest.
    ``seed`` draws z for VAE models; the public models are deterministic and ignore it.
    ``device`` / ``precision``: the user's choice ("auto": see ``runtime.resolve_runtime``).
    ``channels_last`` (default: on for the CPU) runs the convolutions in NHWC layout.
    With ``cancel``, the render stops within one layer of a cancel and reports progress: ``progress(fraction)``
    if given, else ``cancel.report(Progress(fraction, 1, ...))`` (the GUI worker shows it), at most every
    ``PROGRESS_EVERY_S``. Returns (H, W, 3) uint8 RGB at the render size."""
    if model is None:
        raise InputError("no model: choose a SPADE checkpoint")
    rt = resolve_runtime(device, precision)
    shared, info = load_paint_model(model, device=rt.device, overrides=overrides)
    lm = np.asarray(label_map)
    hw = render_size(lm.shape, info, size, scale)
    if cancel is not None:
        cancel.check()
    seg = prepare_semantics(lm, info, hw, instance_map).to(rt.device)
    z = None
    if info.use_vae:
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(1, shared.z_dim, generator=g).to(rt.device)
    if channels_last is None:
        channels_last = rt.device.type == "cpu"
    if channels_last:  # NHWC through the input alone: the shared weights stay as they are (module docstring)
        seg = seg.contiguous(memory_format=torch.channels_last)
    net = _configured(shared, info)
    layers = watch_blocks(shared)  # once per module: every layer checks the cancel of the job rendering
    on_block = None
    if cancel is not None:
        report = progress or (lambda f: cancel.report(Progress(f, 1.0, f"rendering {f:.0%}")))
        on_block = lambda n: report(min(0.99, n / max(1, layers)))  # noqa: E731
    with torch.inference_mode(), rt.autocast(), block_watch(cancel, on_block, PROGRESS_EVERY_S):
        out = net(seg, z) if info.use_vae else net(seg)
    return tensor_to_image(out)


# ------------------------------------------------------------------------------------------- batch
def synth(inputs, output, model, seed: int = 0, size: str | tuple | None = None, device: str = "auto",
          precision: str = "auto", overrides: dict | None = None, palette: str | None = None,
          unknown: str = "error", recursive: bool = True, overwrite: bool = False,
          cancel: CancelToken | None = None):
    """Render every label map in ``inputs`` (files, folders, globs) with the shared batch runner
    (``core.batch``: outputs mirror the input tree as PNG, outputs are never inputs, collisions renamed,
    done files skipped unless ``overwrite``, bad files reported and the rest finished). ``output`` is a
    folder, or a file name for one input file. The model file is never written to. Yields Progress (within a
    map too, from the watched SPADE layers); returns the ``core.batch.BatchReport``."""
    from ganstudio.core.batch import plan_batch, run_batch
    from ganstudio.core.imageio import write_image

    cancel = cancel or CancelToken()
    output = Path(output)
    model_file = _resolve(model)[0] if isinstance(model, (str, Path)) else None
    if model_file is not None and same_file(output, model_file):
        raise InputError(f"{output} is the model file itself: choose another output")
    plan = plan_batch(inputs, output, name=lambda rel, _src: rel.with_suffix(".png"), recursive=recursive,
                      overwrite=overwrite, protected=[model_file] if model_file is not None else [])
    rt = resolve_runtime(device, precision)
    _, info = load_paint_model(model, device=rt.device, overrides=overrides)  # a bad model fails once, here
    if palette is None:
        pal = info.get_palette()
    elif palette in ("ade20k", "coco_stuff", "cityscapes", "coco", "ade"):
        pal = palette_for(info.label_nc, palette)
    else:
        pal = Palette.from_json(palette)
    index = {id(item): i for i, item in enumerate(plan.items)}
    n = len(plan.items)

    def process(item, _decoded) -> dict:
        i = index[id(item)]
        imp = read_label_map(item.source, pal, n_labels=info.label_nc + int(info.contain_dontcare_label),
                             unknown=unknown, allow_dontcare=info.contain_dontcare_label)
        msg = f"map {i + 1}/{n} {item.source.name}"
        rgb = render(imp.label_map, None, model=model, seed=seed, size=size, device=str(rt.device),
                     precision=rt.precision, overrides=overrides, cancel=cancel,
                     progress=lambda f: cancel.report(Progress(i + f, n, f"{msg} · {f:.0%}")))
        item.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(item.output, rgb)
        return {"preview": rgb}

    report = yield from run_batch(plan, process, cancel=cancel, label="map")
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
