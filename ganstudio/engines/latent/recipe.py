"""PNG recipes: every exported latent image carries what made it, in PNG text chunks.

Chunks written:
    ``ganstudio:recipe``  compressed iTXt, JSON (format ``ganstudio-recipe/1``): model sha256 and path, family,
                          seeds, z and/or W+ (base64 float32), truncation, noise mode and seeds, the edits
                          (direction name, vector, space, strength, layer range) and where they came from
    ``Software``          "GAN Studio <version>"
    ``ganstudio:summary`` a one-line human-readable summary (model hash prefix, seeds, psi, noise, edits)

``read_recipe(path)`` returns the JSON dict (or None for a PNG without one); ``recipe_to_state`` turns it back
into the render state of ``ganstudio.engines.latent.render``. Plain numpy + Pillow: this module imports neither
torch nor the rest of the latent engine (no import cycle), and nothing here loads a model. A recipe *names* a model (its path and
sha256); whether to load it is the user's choice, asked by the Latent tab before anything is loaded.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

from ganstudio.core.errors import UserError
from ganstudio.core.files import atomic_path
from ganstudio.core.progress import EtaClock, Progress

FORMAT = "ganstudio-recipe/1"
KEY = "ganstudio:recipe"


class RecipeError(UserError, ValueError):
    """A recipe that cannot be used, with a user-facing message."""


def encode_array(a: Any) -> dict | None:
    if a is None:
        return None
    a = np.ascontiguousarray(np.asarray(a, np.float32))
    return {"dtype": "float32", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode_array(d: dict | None) -> np.ndarray | None:
    if d is None:
        return None
    if d.get("dtype") != "float32":
        raise RecipeError(f"unsupported array type in recipe: {d.get('dtype')}")
    raw = base64.b64decode(d["b64"])
    return np.frombuffer(raw, np.float32).reshape(d["shape"]).copy()


def state_to_recipe(state: dict, model_sha256: str, family: str = "", **extra: Any) -> dict:
    """A JSON-serialisable recipe from a latent render state (see ganstudio.engines.latent)."""
    edits = []
    for e in state.get("edits") or ():
        layers = e.get("layers")
        edits.append({"name": e.get("name", ""), "strength": float(e.get("strength", 0.0)),
                      "space": e.get("space", "w"), "layers": None if layers is None else list(layers),
                      "vector": encode_array(e["vector"])})
    seeds = state.get("seeds")
    rec = {
        "format": FORMAT,
        "model_sha256": model_sha256,
        "model_path": str(state.get("model", "")),
        "family": family,
        "seeds": None if seeds is None else [int(s) for s in seeds],
        "z": encode_array(state.get("z")),
        "wplus": encode_array(state.get("wplus")),
        "truncation": float(state.get("truncation", 1.0)),
        "noise": state.get("noise", "stored"),
        "noise_seeds": None if state.get("noise_seeds") is None else [int(s) for s in state["noise_seeds"]],
        "edits": edits,
        "class_index": None if state.get("class_index") is None else int(state["class_index"]),
    }
    if state.get("runtime"):  # what it was rendered with: bf16 / fp16 pixels differ slightly from fp32 ones
        rec["runtime"] = {k: str(v) for k, v in dict(state["runtime"]).items()}
    rec.update(extra)
    return rec


def recipe_to_state(rec: dict) -> dict:
    if rec.get("format") != FORMAT:
        raise RecipeError(f"unknown recipe format {rec.get('format')!r}")
    try:
        edits = []
        for e in rec.get("edits") or ():
            edits.append({"name": str(e["name"]), "strength": float(e["strength"]), "space": e["space"],
                          "layers": e.get("layers"), "vector": decode_array(e["vector"])})
        return {"model": str(rec.get("model_path") or ""), "model_sha256": rec.get("model_sha256"),
                "seeds": rec.get("seeds"), "z": decode_array(rec.get("z")),
                "wplus": decode_array(rec.get("wplus")), "truncation": float(rec.get("truncation", 1.0)),
                "noise": rec.get("noise", "stored"), "noise_seeds": rec.get("noise_seeds"), "edits": edits,
                "class_index": rec.get("class_index"), "runtime": rec.get("runtime")}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a hand-edited or damaged recipe
        raise RecipeError(f"the image's GAN Studio recipe is damaged ({type(exc).__name__}: {exc})") from exc


def summary(rec: dict) -> str:
    parts = [f"model {rec.get('model_sha256', '')[:12]}"]
    if rec.get("seeds") is not None:
        parts.append("seeds " + ",".join(str(s) for s in rec["seeds"][:16]))
    parts.append(f"psi {rec.get('truncation', 1.0):g}")
    parts.append(f"noise {rec.get('noise')}")
    for e in rec.get("edits") or ():
        parts.append(f"{e['name']}={e['strength']:+g}")
    return "; ".join(parts)


def write_png(path: str | os.PathLike, image: np.ndarray, recipe: dict | None) -> Path:
    """Write (H, W, 3|4) uint8 ``image`` as PNG with the recipe chunks; temp file then rename."""
    from ganstudio import __version__

    path = Path(path)
    img = np.ascontiguousarray(np.asarray(image))
    if img.dtype != np.uint8:
        raise RecipeError(f"expected a uint8 image, got {img.dtype}")
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", f"GAN Studio {__version__}")
    if recipe is not None:
        info.add_itxt(KEY, json.dumps(recipe, separators=(",", ":")), zip=True)
        info.add_itxt("ganstudio:summary", summary(recipe))
    with atomic_path(path, suffix=".part") as tmp:
        Image.fromarray(img).save(tmp, format="PNG", pnginfo=info)
    return path


def read_recipe(path: str | os.PathLike) -> dict | None:
    """The recipe dict stored in a PNG, or None when the file has none (or is not a PNG)."""
    try:
        with Image.open(path) as im:
            if im.format != "PNG":
                return None
            im.load()
            text = dict(getattr(im, "text", {}) or {})
    except (OSError, ValueError):
        return None
    raw = text.get(KEY)
    if raw is None:
        return None
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise RecipeError(f"{Path(path).name}: its GAN Studio recipe is damaged "
                          f"({str(exc)[:120] or type(exc).__name__})") from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        raise RecipeError(f"{Path(path).name}: unknown recipe format")
    return rec


# ---------------------------------------------------------------------------------------------- jobs (GUI)
def export_png_job(path: str, image: np.ndarray, state: dict, model_sha256: str, family: str = "",
                   cancel=None) -> str:
    """Write ``image`` with the recipe of ``state``. The model's identity comes with the job (the tab knows it
    from when it opened the model): writing a PNG loads no model."""
    return str(write_png(path, image, state_to_recipe(state, model_sha256, family)))


def export_frames_job(folder: str, frames, state: dict, model_sha256: str, family: str = "", cancel=None):
    """Write every interpolation frame as ``frame_NNNN.png`` (with the recipe of ``state``) into ``folder``,
    one after the other in one job; yields Progress with an ETA (Cancel acts between two frames), returns
    the paths."""
    rec = state_to_recipe(state, model_sha256, family)
    clock = EtaClock()
    out = []
    n = len(frames)
    for i, im in enumerate(frames):
        if cancel is not None:
            cancel.check()
        out.append(str(write_png(Path(folder) / f"frame_{i:04d}.png", im, {**rec, "frame": i})))
        yield Progress(i + 1, n, f"frame {i + 1}/{n}", extra={"eta_s": clock.eta_seconds(i + 1, n)})
    return out


def read_state_job(path: str, cancel=None) -> dict | None:
    """The render state stored in an image (plus ``model_sha256``), or None for an image without a recipe.
    A file that is no readable image (text renamed .png, damaged, a decompression bomb) raises ImageReadError
    with imageio's message instead of Pillow's. Only reads: the model the recipe names is not loaded."""
    from ganstudio.core.imageio import read_image

    read_image(path)
    rec = read_recipe(path)
    return None if rec is None else recipe_to_state(rec)
