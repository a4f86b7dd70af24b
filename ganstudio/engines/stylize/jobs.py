"""The Stylize tab's single-image jobs (run by the GUI's worker; the CLI drives ``stylize_image`` too).

* ``check_model(cancel, model, direction, device)``: load a picked generator file at once, so a wrong
  or broken file is reported when it is picked. Returns {"model", "name"}.
* ``stylize_image(cancel, input_path, model, ...)``: a quick preview at screen size, then full resolution;
  returns {"image", "preview", "model", "direction", "size", "output_path", "hparams"}.
* ``save_result(cancel, image, path)``: write an array (the GUI's Export).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio.core.imageio import ImageData, read_image, to_float_rgb, write_image
from ganstudio.core.progress import CancelToken, EtaClock, Progress, format_eta, map_progress
from ganstudio.engines.stylize.models import load_generator
from ganstudio.engines.stylize.pipeline import OVERLAP, TILE_PIXELS, stylize_array, stylize_array_iter
from ganstudio.runtime import resolve_runtime


def check_model(cancel=None, model=None, direction: str = "AtoB", device="auto") -> dict:
    """Load ``model`` (the cache keeps it) so a wrong family, a discriminator or a broken file is reported
    at once."""
    _net, _desc, name = load_generator(model, direction, resolve_runtime(device, "fp32").device)
    return {"model": str(model), "name": name}


def alpha_u8(img: ImageData, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """The image's alpha as 8 bits, resized to ``size`` (w, h) when the output has another size."""
    a = img.alpha
    if a is None:
        return None
    if a.dtype == np.uint16:
        a = ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
    a = np.ascontiguousarray(a.reshape(a.shape[0], a.shape[1]))
    if size is not None and (a.shape[1], a.shape[0]) != size:
        a = np.asarray(Image.fromarray(a).resize(size, Image.BICUBIC))
    return a


def attach_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    return rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)


def downscale(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """float [0, 1] image with its longest side at most ``max_side`` (Lanczos)."""
    h, w = rgb.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return rgb
    size = (max(1, round(w * s)), max(1, round(h * s)))
    u8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(u8).resize(size, Image.LANCZOS), dtype=np.float32) / 255.0


def stylize_image(cancel: CancelToken, input_path, model, direction: str = "AtoB", official: bool = False,
                  preview_size: int | None = 768, device: str = "auto", precision: str = "auto",
                  tile_pixels: int = TILE_PIXELS, overlap: int = OVERLAP, output_path=None):
    """Preview at ``preview_size`` (longest side; None skips it), then full resolution.

    Progress runs 0 -> 3: loading (carries the input at display size in ``extra["input"]`` for the
    "before" image), the preview (1), full resolution (1 -> 3, also from inside each forward pass), done.
    Alpha is kept; ``output_path`` writes the result too."""
    cancel = cancel or CancelToken()
    rt = resolve_runtime(device, precision)
    img = read_image(input_path)
    rgb = to_float_rgb(img)
    shown = downscale(rgb, max(preview_size or 0, 1024))
    yield Progress(0, 3, f"loading model {Path(str(model)).name}",
                   extra={"input": np.clip(np.rint(shown * 255), 0, 255).astype(np.uint8),
                          "input_size": (img.width, img.height)})
    net, desc, name = load_generator(model, direction, rt.device)
    cancel.check()

    def stage(start: float, span: float, what: str):
        clock = EtaClock()  # the stage's own pace: the preview is much quicker than full resolution

        def fn(p: Progress) -> Progress:
            eta = format_eta(clock.eta_seconds(p.fraction, 1.0))
            msg = f"{what}: {p.message} · ETA {eta}" if p.message else f"{what} · ETA {eta}"
            return Progress(start + span * p.fraction, 3, msg)
        return fn

    preview = None
    kw = dict(official=official, runtime=rt, tile_pixels=tile_pixels, overlap=overlap, cancel=cancel)
    if preview_size and not official and max(rgb.shape[:2]) > preview_size:
        to_preview = stage(0, 1, "preview")
        preview = stylize_array(net, downscale(rgb, preview_size), report=lambda p: cancel.report(to_preview(p)),
                                **kw)
        yield Progress(1, 3, "preview ready; rendering full resolution", preview=preview)
    cancel.check()
    to_full = stage(1, 2, "full resolution")
    out = yield from map_progress(
        stylize_array_iter(net, rgb, report=lambda p: cancel.report(to_full(p)), **kw), to_full)
    out_size = (out.shape[1], out.shape[0])
    image = attach_alpha(out, alpha_u8(img, out_size))
    written = None
    if output_path is not None:
        written = save_result(cancel, image, output_path)
    yield Progress(3, 3, "done", preview=out)
    return {"image": image, "preview": preview if preview is not None else out, "model": name,
            "direction": direction, "size": out_size, "output_path": written, "hparams": dict(desc.hparams)}


def save_result(cancel: CancelToken, image: np.ndarray, path) -> str:
    """Write ``image`` (uint8 RGB/RGBA) to ``path`` (format from the suffix); JPEG drops alpha."""
    path = Path(path)
    if path.suffix.lower() in (".jpg", ".jpeg") and image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(str(path), image)
    return str(path)
