"""Latent engine: seeded sampling, truncation, noise modes, Z / W / W+, interpolation, arithmetic, edits.

Works with any StyleGAN2 (rosinality layout) or DCGAN (pytorch/examples) generator. Everything here takes and
returns plain data (numpy arrays, dicts, numbers, paths) so the GUI can run it through an ``EngineJob``.

The render *state* (also what a PNG recipe stores) is a dict:

    model       path of the checkpoint (or a manifest id)
    seeds       list[int] or None             z = seeded standard normal (torch.Generator(seed))
    z           (N, Dz) float32 or None       explicit z (ignored when ``wplus`` is given)
    wplus       (N, L, D) float32 or None     explicit W+ (projection results, a loaded W latent)
    truncation  float psi (1 = off)           StyleGAN2: w <- w_avg + psi (w - w_avg); DCGAN: z <- psi z
    noise       "stored" | "zero" | "random"  StyleGAN2 noise maps; "random" is seeded by ``noise_seeds``
    noise_seeds list[int] or None             per image; defaults to the image's seed (or 0)
    edits       list of {"name", "vector" (D,), "space": "w"|"z", "strength", "layers": [start, stop]}

For a DCGAN there is no mapping network: W = Z and W+ has a single row.
Images come back as (N, H, W, 3) uint8: the raw output clamped to [-1, 1] and mapped as (x + 1) / 2 * 255 + 0.5
(what rosinality's generate.py saves; the DCGAN script's own grids min-max stretch instead).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from ganstudio.checkpoints.reader import CheckpointError
from ganstudio.core.errors import InputError, UserError
from ganstudio.core.files import cached_sha256
from ganstudio.core.progress import CancelToken, Progress

NOISE_MODES = ("stored", "zero", "random")


class LatentError(UserError, ValueError):
    """A latent request that cannot be served, with a user-facing message."""


# ---------------------------------------------------------------------------------------------- models
@dataclass
class LatentModel:
    """A loaded generator plus what the latent tools need to know about it."""

    net: torch.nn.Module
    family: str  # "stylegan2" | "dcgan"
    hparams: dict
    sha256: str
    path: str
    z_dim: int
    w_dim: int
    n_latent: int  # rows of W+ (1 for DCGAN)
    resolution: int
    latent_avg: torch.Tensor | None = None  # (1, D) truncation centre (StyleGAN2)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def is_stylegan(self) -> bool:
        return self.family == "stylegan2"

    def describe(self) -> dict:
        return {"family": self.family, "hparams": dict(self.hparams), "sha256": self.sha256, "path": self.path,
                "z_dim": self.z_dim, "w_dim": self.w_dim, "n_latent": self.n_latent,
                "resolution": self.resolution}


_models: dict[tuple, LatentModel] = {}
_models_lock = threading.Lock()


def _resolve_path(model: str | os.PathLike) -> tuple[Path, str]:
    """(file, expected sha256 or "") for a file or a manifest id."""
    p = Path(model)
    if p.is_file():
        return p, ""
    from ganstudio.checkpoints.cache import resolve  # a manifest id

    try:
        path, sha = resolve(str(model))
    except CheckpointError as exc:
        raise LatentError(str(exc)) from exc
    return Path(path), sha


# CheckpointError messages about the file itself (not about its network), which need no hint about families
_FILE_DAMAGE = ("truncated", "not a PyTorch", "damaged", "checksum", "cannot read", "empty")


def _load_net(path: Path, device: str):
    from ganstudio.checkpoints.cache import get_model

    try:
        return get_model(str(path), device=device)
    except CheckpointError as exc:  # e.g. a discriminator file: say what the latent tools need
        msg = str(exc)
        if path.name not in msg:
            msg = f"{path.name}: {msg}"
        if not any(w in msg for w in _FILE_DAMAGE):
            msg += "; the latent tools need a StyleGAN2 or DCGAN generator"
        raise LatentError(msg) from exc


def open_model(model: str | os.PathLike | LatentModel, device: str = "cpu") -> LatentModel:
    """Load (once, cached) a StyleGAN2 or DCGAN generator for the latent tools."""
    if isinstance(model, LatentModel):
        return model
    path, expected_sha = _resolve_path(model)
    if expected_sha:  # a manifest id with a known digest: refuse a damaged download, even one cached earlier
        from ganstudio.checkpoints.cache import verify_sha256

        try:
            verify_sha256(path, expected_sha)
        except CheckpointError as exc:
            raise LatentError(str(exc)) from exc
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, str(device))
    with _models_lock:
        if key in _models:
            return _models[key]
    net, desc = _load_net(path, device)
    if desc.family not in ("stylegan2", "dcgan") or desc.hparams.get("role") == "discriminator":
        raise LatentError(f"{path.name} is a {desc.family} {desc.hparams.get('role', 'network')}; the latent "
                          "tools need a StyleGAN2 or DCGAN generator")
    sha = cached_sha256(path)  # model_cache already hashed a manifest model: this reuses its digest
    if desc.family == "stylegan2":
        d = net.style_dim
        avg = desc.extras.get("latent_avg")
        if avg is not None:
            avg = avg.reshape(1, -1).float().to(device)
        else:  # deterministic stand-in for the official (random) mean_latent(4096)
            with torch.inference_mode():
                avg = net.mean_latent(4096, generator=torch.Generator().manual_seed(0))
        lm = LatentModel(net, "stylegan2", dict(desc.hparams), sha, str(path), d, d, net.n_latent, net.size, avg)
    else:
        nz = net.nz
        lm = LatentModel(net, "dcgan", dict(desc.hparams), sha, str(path), nz, nz, 1, 64, None)
    with _models_lock:
        _models[key] = lm
    return lm


def describe_model(model: str, cancel: CancelToken | None = None) -> dict:
    """Engine job: the facts the GUI needs about a model (family, dims, sha256, ...)."""
    return open_model(model).describe()


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


def map_z(lm: LatentModel, z: np.ndarray | torch.Tensor, truncation: float = 1.0) -> np.ndarray:
    """z (N, Dz) -> W (N, D) after truncation (DCGAN: psi * z)."""
    zt = torch.as_tensor(np.asarray(z, np.float32)).to(_device(lm))
    with torch.inference_mode():
        if lm.is_stylegan:
            w = _truncate_w(lm, lm.net.get_latent(zt), truncation)
        else:
            w = zt * truncation if truncation < 1.0 else zt
    return w.cpu().numpy().astype(np.float32)


def _device(lm: LatentModel) -> torch.device:
    return next(lm.net.parameters()).device


def _noise(lm: LatentModel, mode: str, n: int, seeds: Sequence[int]):
    if not lm.is_stylegan:
        return None
    if mode not in NOISE_MODES:
        raise LatentError(f"noise must be one of {', '.join(NOISE_MODES)}, not {mode!r}")
    g = lm.net
    dev = _device(lm)
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


def _apply_edits(base: torch.Tensor, edits: Iterable[dict], space: str, n_rows: int) -> torch.Tensor:
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
    dev = _device(lm)
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
        z = np.asarray(state["z"], np.float32)
        if z.ndim == 1:
            z = z[None]
    elif state.get("seeds") is not None:
        z = z_from_seeds(list(state["seeds"]), lm.z_dim)
    else:
        raise LatentError("nothing to render: give seeds, z or wplus")
    if z.shape[-1] != lm.z_dim:
        raise LatentError(f"z has {z.shape[-1]} values; this model takes {lm.z_dim}")
    zt = torch.as_tensor(z).to(dev)
    if lm.is_stylegan:  # a DCGAN has W = Z: render_state applies its edits to the (truncated) latent
        zt = _apply_edits(zt[:, None, :], edits, "z", 1)[:, 0]
    with torch.inference_mode():
        if lm.is_stylegan:
            w = _truncate_w(lm, lm.net.get_latent(zt), psi)
            wp = w[:, None, :].repeat(1, lm.n_latent, 1)
        else:
            wp = (zt * psi if psi < 1.0 else zt)[:, None, :]
    return {"z": zt, "wplus": wp}


def synthesize(lm: LatentModel, wplus: torch.Tensor, noise: str = "stored",
               noise_seeds: Sequence[int] | None = None, batch_stats: bool = False) -> np.ndarray:
    """W+ (N, L, D) -> (N, H, W, 3) uint8."""
    n = wplus.shape[0]
    seeds = list(noise_seeds) if noise_seeds is not None else [0] * n
    if len(seeds) != n:
        seeds = (seeds * n)[:n]
    with lm.lock, torch.inference_mode():
        if lm.is_stylegan:
            img = lm.net.synthesis(wplus, _noise(lm, noise, n, seeds))
        else:
            img = lm.net(wplus[:, 0, :, None, None], batch_stats=batch_stats)
    return to_uint8(img)


def render_state(state: dict, cancel: CancelToken | None = None, model: LatentModel | None = None) -> dict:
    """Engine job: render a state. Returns {'images': (N,H,W,3) uint8, 'wplus': base W+ (N,L,D) before W edits,
    'z': (N,Dz) or None, 'seeds'}."""
    lm = model or open_model(state["model"])
    lat = latents_for_state(lm, state)
    edits = state.get("edits") or ()
    if not lm.is_stylegan:
        edits = [{**e, "space": "w"} for e in edits]
    wp = _apply_edits(lat["wplus"], edits, "w", lm.n_latent)
    seeds = state.get("noise_seeds") or state.get("seeds")
    if cancel is not None:
        cancel.check()
    imgs = synthesize(lm, wp, state.get("noise", "stored"), seeds, bool(state.get("batch_stats", False)))
    return {"images": imgs, "wplus": lat["wplus"].cpu().numpy(),
            "z": None if lat["z"] is None else lat["z"].cpu().numpy(), "seeds": state.get("seeds")}


def sample_grid(model: str, seeds: Sequence[int], truncation: float = 1.0, noise: str = "stored",
                cancel: CancelToken | None = None, batch: int = 8, batch_stats: bool = False):
    """Engine generator: render one image per seed in batches, yielding progress with previews.
    Returns {'images', 'seeds', 'z', 'wplus'}."""
    lm = open_model(model)
    seeds = [int(s) for s in seeds]
    imgs, zs, wps = [], [], []
    # DCGAN batch statistics depend on the whole batch: render it in one go so a grid is one official batch
    step = len(seeds) if batch_stats else max(1, batch)
    for i in range(0, len(seeds), step):
        if cancel is not None:
            cancel.check()
        part = seeds[i:i + step]
        res = render_state({"seeds": part, "truncation": truncation, "noise": noise,
                            "batch_stats": batch_stats}, model=lm)
        imgs.append(res["images"])
        zs.append(res["z"])
        wps.append(res["wplus"])
        yield Progress(min(i + step, len(seeds)), len(seeds), f"seed {part[-1]}", preview=res["images"][-1])
    return {"images": np.concatenate(imgs), "seeds": seeds, "z": np.concatenate(zs),
            "wplus": np.concatenate(wps), "model": lm.describe()}


def interpolate(model: str, seeds: Sequence[int] | None = None, steps: int = 8, spherical: bool = False,
                space: str = "z", truncation: float = 1.0, noise: str = "stored", keys: np.ndarray | None = None,
                cancel: CancelToken | None = None, batch: int = 8):
    """Engine generator: frames between keyframes (seeds, or explicit ``keys`` in ``space``).

    space "z": interpolate z, then map and truncate each frame; "w": map and truncate the keyframes, then
    interpolate W+ (the usual choice for StyleGAN2). Returns {'images': (T,H,W,3), 'latents': frames}."""
    lm = open_model(model)
    if space not in ("z", "w"):
        raise LatentError("space must be 'z' or 'w'")
    if keys is None:
        if not seeds or len(seeds) < 2:
            raise LatentError("interpolation needs at least two seeds")
        keys = z_from_seeds(list(seeds), lm.z_dim)
        if space == "w":
            keys = latents_for_state(lm, {"z": keys, "truncation": truncation})["wplus"].cpu().numpy()
    frames = interpolation_path(np.asarray(keys, np.float32), steps, spherical)
    noise_seed = [int(seeds[0]) if seeds else 0]
    out = []
    for i in range(0, len(frames), batch):
        if cancel is not None:
            cancel.check()
        chunk = frames[i:i + batch]
        if space == "z" and chunk.ndim == 2:
            st = {"z": chunk, "truncation": truncation}
        else:
            st = {"wplus": chunk}
        res = render_state({**st, "noise": noise, "noise_seeds": noise_seed * len(chunk)}, model=lm)
        out.append(res["images"])
        yield Progress(min(i + batch, len(frames)), len(frames), "interpolating", preview=res["images"][-1])
    return {"images": np.concatenate(out), "latents": frames, "space": space}


def arithmetic_job(model: str, a: Sequence[int], b: Sequence[int], c: Sequence[int], space: str = "z",
                   truncation: float = 1.0, noise: str = "stored", n_perturb: int = 8, sigma: float = 0.25,
                   perturb_seed: int = 0, cancel: CancelToken | None = None) -> dict:
    """A - B + C with each term the mean latent of picked seeds; also ``n_perturb`` results with small Gaussian
    perturbations (sigma in units of one z standard deviation; in W scaled by W's spread).

    Returns {'means': (3,H,W,3) images of mean A, B, C; 'result': (H,W,3); 'perturbed': (n,H,W,3);
    'latents': {...}}."""
    lm = open_model(model)
    for name, grp in (("A", a), ("B", b), ("C", c)):
        if not grp:
            raise LatentError(f"pick at least one sample for {name}")
    terms = [z_from_seeds(list(g), lm.z_dim) for g in (a, b, c)]
    if space == "w":
        terms = [latents_for_state(lm, {"z": t, "truncation": truncation})["wplus"].cpu().numpy() for t in terms]
    ar = arithmetic(*terms)
    gen = np.random.default_rng(perturb_seed)
    res = ar["result"]
    if space == "w" and lm.is_stylegan:
        scale = float(np.std(map_z(lm, z_from_seeds(range(64), lm.z_dim))))
    else:
        scale = 1.0
    pert = res[None] + sigma * scale * gen.standard_normal((n_perturb,) + res.shape).astype(np.float32)
    lat = np.concatenate([np.stack([ar["mean_a"], ar["mean_b"], ar["mean_c"], res]), pert])
    if cancel is not None:
        cancel.check()
    st = {"wplus": lat} if space == "w" else {"z": lat, "truncation": truncation}
    imgs = render_state({**st, "noise": noise, "noise_seeds": [0] * len(lat)}, model=lm)["images"]
    return {"means": imgs[:3], "result": imgs[3], "perturbed": imgs[4:], "latents": ar, "space": space}


def edit(model: str, base: dict, edits: Sequence[dict], cancel: CancelToken | None = None) -> dict:
    """Engine job for sliders: ``base`` is a state without edits; returns render_state of base + edits."""
    return render_state({**base, "model": model, "edits": list(edits)}, cancel=cancel)


def style_mix(model: str, coarse: int, fine: int, inject_index: int, truncation: float = 1.0,
              cancel: CancelToken | None = None) -> dict:
    """StyleGAN2 style mixing: W+ rows [0, inject_index) from seed ``coarse``, the rest from seed ``fine``.
    Returns {'wplus': (1, L, D)}."""
    lm = open_model(model)
    if not lm.is_stylegan:
        raise LatentError("style mixing needs a StyleGAN2 model")
    k = max(0, min(int(inject_index), lm.n_latent))
    wp = latents_for_state(lm, {"seeds": [int(coarse), int(fine)], "truncation": truncation})["wplus"]
    wp = wp.cpu().numpy()
    mixed = np.concatenate([wp[0:1, :k], wp[1:2, k:]], axis=1)
    return {"wplus": mixed.astype(np.float32), "inject_index": k}


def read_state_job(path: str, cancel: CancelToken | None = None) -> dict | None:
    """The GAN Studio recipe stored in an image (see ganstudio.engines.recipe), or None for a plain photo.
    A file that is no readable image (text renamed .png, damaged, a decompression bomb) raises
    ImageReadError with imageio's message instead of Pillow's."""
    from ganstudio.core.imageio import read_image
    from ganstudio.engines.recipe import read_state_job as _read_state

    read_image(path)
    return _read_state(path)


def export_frames_job(folder: str, frames: Sequence[np.ndarray], state: dict,
                      cancel: CancelToken | None = None):
    """Write every interpolation frame as ``frame_NNNN.png`` (with the recipe of ``state``) into ``folder``,
    one after the other in one job (not one thread per frame); yields Progress, returns the paths."""
    from ganstudio.engines.recipe import export_png_job

    out = []
    for i, im in enumerate(frames):
        if cancel is not None:
            cancel.check()
        out.append(export_png_job(str(Path(folder) / f"frame_{i:04d}.png"), im, state))
        yield Progress(i + 1, len(frames), f"frame {i + 1}/{len(frames)}")
    return out
