"""The latent engine's jobs: what the Latent tab and the commands run (in the GUI, as EngineJob strings
"ganstudio.engines.latent.jobs:<name>").

Every job takes ``device`` / ``precision`` strings ("auto" by default) and resolves them once
(``open_model``); results say what they ran with (``"runtime": {"device", "precision"}``). Long jobs are
generators that yield Progress with ``extra["eta_s"]`` at least about once a second and let Cancel act within
about a second (between the network's blocks). Recipe reading and PNG writing live in recipe.py and need no
model; directions and projection jobs in directions.py and projection.py.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ganstudio.core.progress import CancelToken
from ganstudio.engines.latent.model import LatentError, open_model
from ganstudio.engines.latent.progress import JobProgress
from ganstudio.engines.latent.render import (
    arithmetic,
    check_class,
    interpolation_path,
    latents_for_state,
    map_z,
    render_state,
    z_from_seeds,
)


def describe_model(model: str, cancel: CancelToken | None = None, device="auto", precision="auto") -> dict:
    """The facts the GUI needs about a model (family, dims, sha256, the runtime it resolved to, ...), plus
    the named directions its manifest entry ships next to it (``"directions"``: a DirectionSet dict, or None;
    ``"directions_error"``: why a shipped file could not be used, or "")."""
    from ganstudio.engines.latent.directions import DirectionsError

    lm = open_model(model, device, precision)
    info = lm.describe()
    info["directions"], info["directions_error"] = None, ""
    entry = _manifest_entry(model, lm.path)
    if entry is not None:
        info["name"] = entry.id
        try:
            dirs = _entry_directions(entry, lm)
            info["directions"] = dirs.to_dict() if dirs is not None else None
        except DirectionsError as exc:
            info["directions_error"] = str(exc)
    return info


def shipped_directions(model, lm):
    """The DirectionSet a model's manifest entry ships next to it (``model``: the reference it was opened
    by), or None when it ships none; a named file that is missing or not for this model raises
    DirectionsError."""
    return _entry_directions(_manifest_entry(model, lm.path), lm)


def _manifest_entry(ref, path: str):
    """The manifest / library entry a model reference names (an id, or a path that is an entry's file)."""
    from ganstudio.checkpoints.cache import resolve_model
    from ganstudio.checkpoints.reader import CheckpointError
    from ganstudio.core.manifest import ManifestError, entry_path, load_manifest

    try:
        entry = resolve_model(ref).entry
        if entry is not None:
            return entry
        target = Path(path).resolve()
        for e in load_manifest():
            if e.task == "latent" and (p := entry_path(e)) is not None and p.resolve() == target:
                return e
    except (CheckpointError, ManifestError, OSError):
        return None
    return None


def _entry_directions(entry, lm):
    """The DirectionSet ``entry`` names under "directions" (None when it names none), checked against the
    model's sha256; DirectionsError says why a named file cannot be used."""
    from ganstudio.engines.latent.directions import DirectionsError, load_directions, shipped_directions_path

    name = (entry.extra or {}).get("directions") if entry is not None else None
    if not name:
        return None
    path = shipped_directions_path(lm.path, name)
    if path is None:
        raise DirectionsError(f"the model's manifest entry names directions {str(name)[:60]!r}, which is not a "
                              "file name")
    if not path.is_file():
        raise DirectionsError(f"the model's directions file {path.name} is missing")
    return load_directions(path, lm.sha256)


def sample_grid(model: str, seeds: Sequence[int], truncation: float = 1.0, noise: str = "stored",
                cancel: CancelToken | None = None, batch: int = 8, batch_stats: bool = False,
                device="auto", precision="auto", class_index: int | None = None):
    """Render one image per seed in batches, yielding progress with previews. ``class_index``: the class of a
    class-conditional model (required there). Returns {'images', 'seeds', 'z', 'wplus', 'model', 'runtime',
    'class_index'}."""
    lm = open_model(model, device, precision)
    check_class(lm, class_index)  # refused before the first batch
    seeds = [int(s) for s in seeds]
    imgs, zs, wps = [], [], []
    prog = JobProgress(len(seeds), cancel, "image")
    # DCGAN batch statistics depend on the whole batch: render it in one go so a grid is one official batch
    step = len(seeds) if batch_stats else max(1, batch)
    for i in range(0, len(seeds), step):
        if cancel is not None:
            cancel.check()
        part = seeds[i:i + step]
        res = render_state({"seeds": part, "truncation": truncation, "noise": noise, "batch_stats": batch_stats,
                            "class_index": class_index}, model=lm, progress=prog if cancel is not None else None)
        imgs.append(res["images"])
        zs.append(res["z"])
        wps.append(res["wplus"])
        yield prog.at(min(i + step, len(seeds)), f"seed {part[-1]}", preview=res["images"][-1])
    return {"images": np.concatenate(imgs), "seeds": seeds, "z": np.concatenate(zs),
            "wplus": np.concatenate(wps), "model": lm.describe(), "runtime": lm.runtime.as_kwargs(),
            "class_index": class_index}


def interpolate(model: str, seeds: Sequence[int] | None = None, steps: int = 8, spherical: bool = False,
                space: str = "z", truncation: float = 1.0, noise: str = "stored", keys: np.ndarray | None = None,
                cancel: CancelToken | None = None, batch: int = 8, device="auto", precision="auto",
                class_index: int | None = None):
    """Frames between keyframes (seeds, or explicit ``keys`` in ``space``), all in class ``class_index`` of a
    class-conditional model.

    space "z": interpolate z, then map and truncate each frame; "w": map and truncate the keyframes, then
    interpolate W+ (the usual choice for StyleGAN2). Returns {'images': (T,H,W,3), 'latents': frames}."""
    lm = open_model(model, device, precision)
    if space not in ("z", "w"):
        raise LatentError("space must be 'z' or 'w'")
    check_class(lm, class_index)
    if keys is None:
        if not seeds or len(seeds) < 2:
            raise LatentError("interpolation needs at least two seeds")
        keys = z_from_seeds(list(seeds), lm.z_dim)
        if space == "w":
            keys = latents_for_state(lm, {"z": keys, "truncation": truncation,
                                          "class_index": class_index})["wplus"].cpu().numpy()
    frames = interpolation_path(np.asarray(keys, np.float32), steps, spherical)
    noise_seed = [int(seeds[0]) if seeds else 0]
    prog = JobProgress(len(frames), cancel, "frame")
    out = []
    for i in range(0, len(frames), batch):
        if cancel is not None:
            cancel.check()
        chunk = frames[i:i + batch]
        st = {"z": chunk, "truncation": truncation, "class_index": class_index} \
            if space == "z" and chunk.ndim == 2 else {"wplus": chunk}
        res = render_state({**st, "noise": noise, "noise_seeds": noise_seed * len(chunk)}, model=lm,
                           progress=prog if cancel is not None else None)
        out.append(res["images"])
        yield prog.at(min(i + batch, len(frames)), preview=res["images"][-1])
    return {"images": np.concatenate(out), "latents": frames, "space": space, "runtime": lm.runtime.as_kwargs()}


def arithmetic_job(model: str, a: Sequence[int], b: Sequence[int], c: Sequence[int], space: str = "z",
                   truncation: float = 1.0, noise: str = "stored", n_perturb: int = 8, sigma: float = 0.25,
                   perturb_seed: int = 0, cancel: CancelToken | None = None, device="auto", precision="auto",
                   class_index: int | None = None):
    """A - B + C with each term the mean latent of picked seeds; also ``n_perturb`` results with small Gaussian
    perturbations (sigma in units of one z standard deviation; in W scaled by W's spread). Every seed is
    drawn in class ``class_index`` of a class-conditional model.

    Returns {'means': (3,H,W,3) images of mean A, B, C; 'result': (H,W,3); 'perturbed': (n,H,W,3);
    'latents': {...}}."""
    lm = open_model(model, device, precision)
    for name, grp in (("A", a), ("B", b), ("C", c)):
        if not grp:
            raise LatentError(f"pick at least one sample for {name}")
    check_class(lm, class_index)
    terms = [z_from_seeds(list(g), lm.z_dim) for g in (a, b, c)]
    if space == "w":
        terms = [latents_for_state(lm, {"z": t, "truncation": truncation, "class_index": class_index}
                                   )["wplus"].cpu().numpy() for t in terms]
    ar = arithmetic(*terms)
    gen = np.random.default_rng(perturb_seed)
    res = ar["result"]
    if space == "w" and lm.is_stylegan:
        scale = float(np.std(map_z(lm, z_from_seeds(range(64), lm.z_dim), class_index=class_index)))
    else:
        scale = 1.0
    pert = res[None] + sigma * scale * gen.standard_normal((n_perturb,) + res.shape).astype(np.float32)
    lat = np.concatenate([np.stack([ar["mean_a"], ar["mean_b"], ar["mean_c"], res]), pert])
    prog = JobProgress(len(lat), cancel, "image")
    yield prog.at(0, "rendering A, B, C and the result")
    st = {"wplus": lat} if space == "w" else {"z": lat, "truncation": truncation, "class_index": class_index}
    imgs = render_state({**st, "noise": noise, "noise_seeds": [0] * len(lat)}, model=lm,
                        progress=prog if cancel is not None else None)["images"]
    return {"means": imgs[:3], "result": imgs[3], "perturbed": imgs[4:], "latents": ar, "space": space,
            "runtime": lm.runtime.as_kwargs()}


def edit(model: str, base: dict, edits: Sequence[dict], cancel: CancelToken | None = None,
         device="auto", precision="auto") -> dict:
    """The slider job: ``base`` is a state without edits; returns render_state of base + edits."""
    return render_state({**base, "model": model, "edits": list(edits)}, cancel=cancel, device=device,
                        precision=precision)


def style_mix(model: str, coarse: int, fine: int, inject_index: int, truncation: float = 1.0,
              cancel: CancelToken | None = None, device="auto", precision="auto",
              class_index: int | None = None) -> dict:
    """StyleGAN2 style mixing: W+ rows [0, inject_index) from seed ``coarse``, the rest from seed ``fine``
    (both in class ``class_index`` of a class-conditional model). Returns {'wplus': (1, L, D)}."""
    lm = open_model(model, device, precision)
    if not lm.is_stylegan:
        raise LatentError("style mixing needs a StyleGAN2 model")
    k = max(0, min(int(inject_index), lm.n_latent))
    wp = latents_for_state(lm, {"seeds": [int(coarse), int(fine)], "truncation": truncation,
                                "class_index": class_index})["wplus"]
    wp = wp.cpu().numpy()
    mixed = np.concatenate([wp[0:1, :k], wp[1:2, k:]], axis=1)
    return {"wplus": mixed.astype(np.float32), "inject_index": k}
