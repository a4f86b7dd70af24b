"""Latents and rendering: seeded z, truncation, noise modes, Z / W / W+, interpolation paths, arithmetic, edits.

Works with any StyleGAN2 (rosinality layout) or DCGAN (pytorch/examples) generator. Everything here takes and
returns plain data (numpy arrays, dicts, numbers) besides the ``LatentModel``.

The render *state* (also what a PNG recipe stores) is a dict:

    model       path of the checkpoint (or a manifest id)
    seeds       list[int] or None             z = seeded standard normal (torch.Generator(seed))
    z           (N, Dz) float32 or None       explicit z (ignored when ``wplus`` is given); (N, Dz, 1, 1) accepted
    wplus       (N, L, D) float32 or None     explicit W+ (projection results, a loaded W latent)
    truncation  float psi (1 = off)           StyleGAN2: w <- w_avg + psi (w - w_avg); DCGAN: z <- psi z
    noise       "stored" | "zero" | "random"  StyleGAN2 noise maps; "random" is seeded by ``noise_seeds``
    noise_seeds list[int] or None             per image; defaults to the image's seed (or 0)
    edits       list of {"name", "vector" (D,), "space": "w"|"z", "strength", "layers": [start, stop]}
    class_index int or None                   the class of a class-conditional generator (a StyleGAN2-ADA .pkl
                                              with c_dim > 0: required there, refused elsewhere)

For a DCGAN there is no mapping network: W = Z and W+ has a single row. A class enters only through the
mapping (z -> W), so a W / W+ latent already holds its class.
Images come back as (N, H, W, 3) uint8: the raw output clamped to [-1, 1] and mapped as (x + 1) / 2 * 255 + 0.5
(what rosinality's generate.py saves; the DCGAN script's own grids min-max stretch instead).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ganstudio.core.errors import InputError
from ganstudio.core.progress import CancelToken
from ganstudio.engines.latent.model import LatentError, LatentModel, open_model
from ganstudio.engines.latent.progress import JobProgress

NOISE_MODES = ("stored", "zero", "random")


# ---------------------------------------------------------------------------------------------- latents
def parse_seeds(text: str) -> list[int]:
    """"1-4,9,12-13" -> [1, 2, 3, 4, 9, 12, 13]."""
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
            else:
                a = b = int(part)
        except ValueError:
            raise InputError(f"seeds: {part!r} is not a whole number or a range like 1-16") from None
        if b < a:
            raise InputError(f"seed range {part} goes backwards")
        seeds.extend(range(a, b + 1))
    if not seeds:
        raise InputError("no seeds given")
    return seeds


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """The z of a seed: (z_dim,) float32 from ``torch.randn`` on a CPU generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    return torch.randn(1, z_dim, generator=g)[0].numpy().astype(np.float32)


def z_from_seeds(seeds: Sequence[int], z_dim: int) -> np.ndarray:
    return np.stack([z_from_seed(s, z_dim) for s in seeds]) if len(seeds) else np.zeros((0, z_dim), np.float32)


def latent_rows(arr: np.ndarray) -> np.ndarray:
    """A latent array as rows: trailing axes of size 1 dropped, so the (N, 100, 1, 1) noise pytorch/examples'
    DCGAN saves reads as N rows of 100 values, and a single vector becomes one row."""
    a = np.asarray(arr, np.float32)
    while a.ndim > 2 and a.shape[-1] == 1:
        a = a[..., 0]
    return a[None] if a.ndim == 1 else a


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (1.0 - t) * np.asarray(a, np.float64) + t * np.asarray(b, np.float64)


def slerp(a: np.ndarray, b: np.ndarray, t: float, eps: float = 1e-7) -> np.ndarray:
    """Spherical interpolation along the great circle, with the norm interpolated linearly.

    Over the last axis; nearly parallel vectors fall back to lerp."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    ua = a / np.maximum(na, eps)
    ub = b / np.maximum(nb, eps)
    dot = np.clip(np.sum(ua * ub, axis=-1, keepdims=True), -1.0, 1.0)
    omega = np.arccos(dot)
    so = np.sin(omega)
    small = so < 1e-6
    so_safe = np.where(small, 1.0, so)
    dir_ = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / so_safe
    out = dir_ * ((1 - t) * na + t * nb)
    return np.where(small, lerp(a, b, t), out)


def interpolation_path(keys: np.ndarray, steps: int, spherical: bool = False) -> np.ndarray:
    """Frames through keyframes ``keys`` (K, ...): ``steps`` frames per segment, the last keyframe included:
    (K-1)*steps + 1 frames."""
    keys = np.asarray(keys)
    if len(keys) < 2:
        raise LatentError("interpolation needs at least two keyframes")
    if steps < 1:
        raise LatentError("steps must be at least 1")
    f = slerp if spherical else lerp
    frames = []
    for k in range(len(keys) - 1):
        for s in range(steps):
            frames.append(f(keys[k], keys[k + 1], s / steps))
    frames.append(np.asarray(keys[-1], np.float64))
    return np.stack(frames).astype(np.float32)


def arithmetic(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> dict:
    """DCGAN-paper vector arithmetic: mean(A) - mean(B) + mean(C); each term (n_i, ...) -> means and result."""
    ma, mb, mc = (np.asarray(x, np.float64).mean(0) for x in (a, b, c))
    return {"mean_a": ma.astype(np.float32), "mean_b": mb.astype(np.float32), "mean_c": mc.astype(np.float32),
            "result": (ma - mb + mc).astype(np.float32)}


# ---------------------------------------------------------------------------------------------- rendering
def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) raw in ~[-1, 1] -> (N, H, W, 3) uint8 (grey repeated)."""
    x = img.detach().float().clamp(-1, 1).add(1).mul(127.5).add(0.5).clamp(0, 255).to(torch.uint8)
    x = x.permute(0, 2, 3, 1).cpu().numpy()
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return np.ascontiguousarray(x)


def _truncate_w(lm: LatentModel, w: torch.Tensor, psi: float) -> torch.Tensor:
    if psi >= 1.0 or lm.latent_avg is None:
        return w
    return lm.latent_avg + psi * (w - lm.latent_avg)


def check_class(lm: LatentModel, class_index) -> int | None:
    """The class a request names, checked against the model: required by a class-conditional model (0 .. c_dim-1),
    refused by any other."""
    if not lm.c_dim:
        if class_index is not None:
            raise LatentError("this model is not class-conditional: it takes no class")
        return None
    if class_index is None:
        raise LatentError(f"this model draws one of {lm.c_dim} classes: choose a class 0-{lm.c_dim - 1}")
    try:
        k = int(class_index)
    except (TypeError, ValueError):
        raise LatentError(f"class {class_index!r} is not a whole number") from None
    if not 0 <= k < lm.c_dim:
        raise LatentError(f"class {k} does not exist: this model draws classes 0-{lm.c_dim - 1}")
    return k


def _mapping(lm: LatentModel, z: torch.Tensor, class_index: int | None = None) -> torch.Tensor:
    """z (N, Dz) -> w (N, D) through the mapping network, in fp32 whatever the job's precision (so latents and
    recipes do not depend on it). The one place a class label enters (one-hot, as NVIDIA's generate.py)."""
    k = check_class(lm, class_index)
    if k is None:
        return lm.net.get_latent(z)
    return lm.net.get_latent(z, k)


def map_z(lm: LatentModel, z: np.ndarray | torch.Tensor, truncation: float = 1.0,
          class_index: int | None = None) -> np.ndarray:
    """z (N, Dz) -> W (N, D) after truncation (DCGAN: psi * z)."""
    zt = torch.as_tensor(np.asarray(z, np.float32)).to(lm.device)
    with torch.inference_mode():
        if lm.is_stylegan:
            w = _truncate_w(lm, _mapping(lm, zt, class_index), truncation)
        else:
            w = zt * truncation if truncation < 1.0 else zt
    return w.cpu().numpy().astype(np.float32)


def _noise(lm: LatentModel, mode: str, n: int, seeds: Sequence[int]):
    if not lm.is_stylegan:
        return None
    if mode not in NOISE_MODES:
        raise LatentError(f"noise must be one of {', '.join(NOISE_MODES)}, not {mode!r}")
    g = lm.net
    dev = lm.device
    if mode == "stored":
        return g.stored_noise()
    if mode == "zero":
        return [torch.zeros(s, device=dev) for s in g.noise_shapes()]
    per = []
    for s in seeds:
        # a separate stream from z's: offset the seed so noise and z are not the same numbers
        gen = torch.Generator().manual_seed((int(s) + 0x5EED) & 0xFFFF_FFFF_FFFF_FFFF)
        per.append([torch.randn(1, 1, sh[2], sh[3], generator=gen) for sh in g.noise_shapes()])
    return [torch.cat([p[i] for p in per]).to(dev) for i in range(g.num_layers)]


def apply_edits(base: torch.Tensor, edits: Iterable[dict], space: str, n_rows: int) -> torch.Tensor:
    """Add strength * vector to rows [start, stop) of (N, L, D) for edits in ``space``."""
    out = base
    for e in edits or ():
        if e.get("space", "w") != space:
            continue
        s = float(e.get("strength", 0.0))
        if s == 0.0:
            continue
        vec = torch.as_tensor(np.asarray(e["vector"], np.float32)).to(base.device)
        if vec.shape != base.shape[-1:]:
            raise LatentError(f"direction {e.get('name', '?')!r} has {tuple(vec.shape)} values; this model's "
                              f"{space} space needs ({base.shape[-1]},): it was made for another model")
        start, stop = e.get("layers") or (0, n_rows)
        start, stop = max(0, int(start)), min(n_rows, int(stop if stop is not None else n_rows))
        if out is base:
            out = base.clone()
        if out.ndim == 3:
            out[:, start:stop] += s * vec
        else:
            out += s * vec
    return out


def latents_for_state(lm: LatentModel, state: dict) -> dict:
    """Resolve a state to tensors: {'z': (N, Dz) or None, 'wplus': (N, L, D) base before W edits}."""
    dev = lm.device
    edits = state.get("edits") or ()
    psi = float(state.get("truncation", 1.0))
    if state.get("wplus") is not None:
        wp = torch.as_tensor(np.asarray(state["wplus"], np.float32)).to(dev)
        if wp.ndim == 2:
            wp = wp[:, None, :].repeat(1, lm.n_latent, 1) if lm.is_stylegan else wp[:, None, :]
        if wp.shape[1:] != (lm.n_latent, lm.w_dim):
            raise LatentError(f"latent has shape {tuple(wp.shape[1:])}; this model needs "
                              f"({lm.n_latent}, {lm.w_dim}) W+ rows")
        return {"z": None, "wplus": wp}
    if state.get("z") is not None:
        z = latent_rows(state["z"])
    elif state.get("seeds") is not None:
        z = z_from_seeds(list(state["seeds"]), lm.z_dim)
    else:
        raise LatentError("nothing to render: give seeds, z or wplus")
    if z.ndim != 2 or z.shape[-1] != lm.z_dim:
        raise LatentError(f"z has shape {tuple(z.shape)}; this model takes rows of {lm.z_dim} values "
                          f"((N, {lm.z_dim}), or (N, {lm.z_dim}, 1, 1) as pytorch/examples' DCGAN saves it)")
    zt = torch.as_tensor(z).to(dev)
    if lm.is_stylegan:  # a DCGAN has W = Z: render_state applies its edits to the (truncated) latent
        zt = apply_edits(zt[:, None, :], edits, "z", 1)[:, 0]
    with torch.inference_mode():
        if lm.is_stylegan:
            w = _truncate_w(lm, _mapping(lm, zt, state.get("class_index")), psi)
            wp = w[:, None, :].repeat(1, lm.n_latent, 1)
        else:
            wp = (zt * psi if psi < 1.0 else zt)[:, None, :]
    return {"z": zt, "wplus": wp}


def synthesize_raw(lm: LatentModel, wplus: torch.Tensor, noise: str = "stored",
                   noise_seeds: Sequence[int] | None = None, batch_stats: bool = False) -> torch.Tensor:
    """W+ (N, L, D) -> the network's raw output (N, C, H, W), in the model's runtime precision."""
    n = wplus.shape[0]
    seeds = list(noise_seeds) if noise_seeds is not None else [0] * n
    if len(seeds) != n:
        seeds = (seeds * n)[:n]
    with torch.inference_mode(), lm.runtime.autocast():
        if lm.is_stylegan:
            return lm.net.synthesis(wplus, _noise(lm, noise, n, seeds))
        return lm.net(wplus[:, 0, :, None, None], batch_stats=batch_stats)


def synthesize(lm: LatentModel, wplus: torch.Tensor, noise: str = "stored",
               noise_seeds: Sequence[int] | None = None, batch_stats: bool = False) -> np.ndarray:
    """W+ (N, L, D) -> (N, H, W, 3) uint8, in the model's runtime precision."""
    return to_uint8(synthesize_raw(lm, wplus, noise, noise_seeds, batch_stats))


def render_state(state: dict, cancel: CancelToken | None = None, model: LatentModel | None = None,
                 device="auto", precision="auto", progress: JobProgress | None = None) -> dict:
    """Render a state. Returns {'images': (N,H,W,3) uint8, 'wplus': base W+ (N,L,D) before W edits,
    'z': (N,Dz) or None, 'seeds', 'runtime': the device and precision it ran with}.

    ``progress`` (a JobProgress of the calling job) moves within the network's forward and lets Cancel act
    between its blocks."""
    lm = model or open_model(state["model"], device, precision)
    lat = latents_for_state(lm, state)
    edits = state.get("edits") or ()
    if not lm.is_stylegan:
        edits = [{**e, "space": "w"} for e in edits]
    wp = apply_edits(lat["wplus"], edits, "w", lm.n_latent)
    seeds = state.get("noise_seeds") or state.get("seeds")
    if cancel is not None:
        cancel.check()
    if progress is None and cancel is not None:
        progress = JobProgress(len(wp), cancel, "image")
    if progress is not None:
        with progress.inside(lm, len(wp)):
            imgs = synthesize(lm, wp, state.get("noise", "stored"), seeds, bool(state.get("batch_stats", False)))
    else:
        imgs = synthesize(lm, wp, state.get("noise", "stored"), seeds, bool(state.get("batch_stats", False)))
    return {"images": imgs, "wplus": lat["wplus"].cpu().numpy(),
            "z": None if lat["z"] is None else lat["z"].cpu().numpy(), "seeds": state.get("seeds"),
            "runtime": lm.runtime.as_kwargs()}
