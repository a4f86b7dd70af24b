"""Editing directions for the latent sliders, from three sources, saved tied to the model's sha256.

1. SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021): the top
   eigenvectors of AᵀA, where A stacks the (row-normalised) weights that first act on the latent: the style
   modulation layers of a StyleGAN2 (optionally only those of a layer range), or the first transposed conv of a
   DCGAN. Closed form, no sampling.
2. GANSpace-style PCA (Härkönen et al., NeurIPS 2020): principal components of W sampled from seeded z.
3. Supervised, InterFaceGAN-style (Shen et al., CVPR 2020): latents labelled yes / no (by the user in the grid),
   an L2-regularised logistic regression gives the hyperplane normal; *conditional* editing projects out other
   chosen directions so moving along the result leaves them (to first order) unchanged.

All vectors are unit length. ``scales`` holds the standard deviation of sampled latents along each direction,
so a slider can move in "sigmas". Files: ``.npz`` or ``.safetensors`` with the model's sha256 inside; loading them
for another model raises ``DirectionsError``. A directions file is read like any file from a stranger: no
pickles, every array's declared size checked against the bytes that hold it before anything is allocated,
and the header checked field by field, so a malformed file is one clear line, never a traceback.

The jobs (``sefa_job``, ``pca_job``, ``supervised_job``) are generators: progress with an ETA about every
quarter second, Cancel acting within one chunk of samples or one optimiser evaluation.
"""
from __future__ import annotations

import json
import math
import os
import re
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ganstudio.core.errors import UserError
from ganstudio.core.files import atomic_path
from ganstudio.core.progress import CancelToken, run_to_completion
from ganstudio.engines.latent.model import LatentModel, open_model
from ganstudio.engines.latent.progress import JobProgress
from ganstudio.engines.latent.render import check_class, map_z, z_from_seeds

FORMAT = "ganstudio-directions/1"


class DirectionsError(UserError, ValueError):
    """A directions file that cannot be used here, with a user-facing message."""


@dataclass
class DirectionSet:
    names: list[str]
    vectors: np.ndarray  # (K, D) float32, unit rows
    space: str  # "w" (StyleGAN2 W / W+ rows) or "z"
    model_sha256: str
    source: str  # "sefa" | "pca" | "supervised" | mixed
    layers: list[tuple[int, int]] = field(default_factory=list)  # per direction [start, stop) rows of W+
    scales: np.ndarray | None = None  # (K,) std of latents along each direction
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, np.float32).reshape(len(self.names), -1)
        if not self.layers:
            self.layers = [(0, -1)] * len(self.names)
        self.layers = [(int(a), int(b)) for a, b in self.layers]
        if self.scales is None:
            self.scales = np.ones(len(self.names), np.float32)
        self.scales = np.asarray(self.scales, np.float32)

    def __len__(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "vectors": self.vectors, "space": self.space,
                "model_sha256": self.model_sha256, "source": self.source,
                "layers": [list(x) for x in self.layers], "scales": self.scales, "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict) -> DirectionSet:
        return cls(list(d["names"]), np.asarray(d["vectors"]), d["space"], d["model_sha256"], d["source"],
                   [tuple(x) for x in d.get("layers") or []], d.get("scales"), dict(d.get("meta") or {}))

    def extend(self, other: DirectionSet) -> DirectionSet:
        if other.model_sha256 != self.model_sha256 or other.space != self.space:
            raise DirectionsError("cannot mix directions of different models or spaces")
        src = self.source if self.source == other.source else "mixed"
        return DirectionSet(self.names + other.names, np.concatenate([self.vectors, other.vectors]), self.space,
                            self.model_sha256, src, self.layers + other.layers,
                            np.concatenate([self.scales, other.scales]), {**self.meta, **other.meta})

    def find(self, name: str) -> str | None:
        """The direction a typed name means: the exact name, else the one whose name matches ignoring case,
        spaces and punctuation ("smile" -> "Smile", "hair_length" -> "Hair length"), else the only one it is
        the start of ("hair_colour" -> "Hair colour (dark -> light)"); None when none or several match."""
        if name in self.names:
            return name
        key = _name_key(name)
        if not key:
            return None
        same = [n for n in self.names if _name_key(n) == key]
        if len(same) == 1:
            return same[0]
        starts = [n for n in self.names if _name_key(n).startswith(key)]
        return starts[0] if len(starts) == 1 else None

    def edits(self, strengths: dict[str, float], layers: dict[str, tuple[int, int]] | None = None) -> list[dict]:
        """Edits for ``latent.render_state``: one per named direction with a strength."""
        out = []
        for i, name in enumerate(self.names):
            if name not in strengths:
                continue
            lay = (layers or {}).get(name, self.layers[i])
            a, b = lay
            out.append({"name": name, "vector": self.vectors[i], "space": self.space,
                        "strength": float(strengths[name]), "layers": [a, None if b < 0 else b]})
        return out


def _name_key(name: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", str(name).lower()))


# ---------------------------------------------------------------------------------------------- sources
MAP_CHUNK = 256  # samples mapped per step: progress and Cancel between chunks


def _unit_rows(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _map_chunks(lm: LatentModel, z: np.ndarray, prog: JobProgress | None, done0: float = 0.0,
                truncation: float = 1.0, class_index: int | None = None):
    """Generator: map z (N, Dz) to W in chunks, yielding progress (one unit per sample); returns W (N, D).
    ``class_index``: the class of a class-conditional model (its W differs per class)."""
    out = []
    for i in range(0, len(z), MAP_CHUNK):
        if prog is not None and prog.cancel is not None:
            prog.cancel.check()
        out.append(map_z(lm, z[i:i + MAP_CHUNK], truncation, class_index))
        if prog is not None:
            yield prog.at(done0 + min(i + MAP_CHUNK, len(z)))
    return np.concatenate(out) if out else np.zeros((0, lm.w_dim), np.float32)


def _scales(lm: LatentModel, vectors: np.ndarray, space: str, n: int = 512, prog: JobProgress | None = None,
            done0: float = 0.0, class_index: int | None = None):
    """Generator: the spread of sampled latents along each direction; returns (K,)."""
    z = z_from_seeds(range(10_000, 10_000 + n), lm.z_dim)
    lat = (yield from _map_chunks(lm, z, prog, done0, class_index=class_index)) if space == "w" else z
    return np.std(lat @ vectors.T, axis=0).astype(np.float32)


def sefa_layer_rows(lm: LatentModel) -> list[tuple[int, torch.Tensor]]:
    """(W+ row, modulation weight (in_ch, D)) for each styled conv of a StyleGAN2."""
    g = lm.net
    if hasattr(g, "style_layers"):  # StyleGAN2-ADA: each styled conv's affine layer, in W+ row order
        return list(g.style_layers())
    rows = [(0, g.conv1.conv.modulation.weight)]
    for k, conv in enumerate(g.convs):
        rows.append((k + 1, conv.conv.modulation.weight))
    return rows


SCALE_SAMPLES = 512


def _sefa_steps(model, k: int = 10, layers: tuple[int, int] | None = None, cancel: CancelToken | None = None,
                device="auto", precision="auto", class_index: int | None = None):
    lm = open_model(model, device, precision)
    check_class(lm, class_index)  # before the work: the spread is measured in this class's W
    prog = JobProgress(1 + SCALE_SAMPLES, cancel, "step")
    yield prog.at(0, "SeFa: factorising the style weights")
    with torch.no_grad():
        if lm.is_stylegan:
            a, b = layers if layers is not None else (0, lm.n_latent)
            b = lm.n_latent if b is None or b < 0 else b
            ws = [w for row, w in sefa_layer_rows(lm) if a <= row < b]
            if not ws:
                raise DirectionsError(f"no style layers in rows {a}..{b - 1}")
            mat = torch.cat([w.detach().float().cpu() for w in ws], 0)  # (sum in_ch, D)
            space = "w"
        else:
            w0 = lm.net.main[0].weight.detach().float().cpu()  # (nz, 8ngf, 4, 4)
            mat = w0.reshape(w0.shape[0], -1).T  # (8ngf*16, nz)
            a, b = 0, 1
            space = "z"
        mat = mat / mat.norm(dim=1, keepdim=True).clamp_min(1e-12)
        evals, evecs = torch.linalg.eigh((mat.T @ mat).double())
        order = torch.argsort(evals, descending=True)[:k]
        vecs = evecs[:, order].T.float().numpy()
    vecs = _unit_rows(vecs)
    yield prog.at(1, "SeFa: measuring the spread along each direction")
    lay = [(a, -1 if b >= lm.n_latent else b)] * len(vecs)
    scales = yield from _scales(lm, vecs, space, SCALE_SAMPLES, prog, 1, class_index)
    return DirectionSet([f"sefa_{i}" for i in range(len(vecs))], vecs, space, lm.sha256, "sefa", lay, scales,
                        {"eigenvalues": evals[order].tolist()})


def sefa(model, k: int = 10, layers: tuple[int, int] | None = None, cancel: CancelToken | None = None,
         device="auto", precision="auto", class_index: int | None = None) -> DirectionSet:
    """Closed-form SeFa directions (W space for StyleGAN2, Z for DCGAN), strongest first. ``class_index``:
    the class of a class-conditional model (the directions come from its weights alone; their spread is
    measured among that class's samples)."""
    return run_to_completion(_sefa_steps(model, k, layers, cancel, device, precision, class_index))


def _pca_steps(model, k: int = 10, n_samples: int = 4096, seed: int = 0, cancel: CancelToken | None = None,
               device="auto", precision="auto", class_index: int | None = None):
    lm = open_model(model, device, precision)
    check_class(lm, class_index)
    prog = JobProgress(n_samples + 1, cancel, "sample")
    prog.message = f"PCA: mapping {n_samples} samples"
    z = torch.randn(n_samples, lm.z_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    lat = (yield from _map_chunks(lm, z, prog, class_index=class_index)) if lm.is_stylegan else z
    space = "w" if lm.is_stylegan else "z"
    x = lat.astype(np.float64) - lat.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, vt.shape[0])
    vecs = _unit_rows(vt[:k])
    scales = (s[:k] / np.sqrt(max(1, len(x) - 1))).astype(np.float32)
    yield prog.at(n_samples + 1, "PCA: done")
    return DirectionSet([f"pca_{i}" for i in range(k)], vecs, space, lm.sha256, "pca", [(0, -1)] * k, scales,
                        {"explained_variance": (s[:k] ** 2 / np.sum(s ** 2)).tolist()})


def pca(model, k: int = 10, n_samples: int = 4096, seed: int = 0, cancel: CancelToken | None = None,
        device="auto", precision="auto", class_index: int | None = None) -> DirectionSet:
    """GANSpace-style PCA of W from ``n_samples`` seeded z (Z for DCGAN, where it says little); of one class's
    W for a class-conditional model."""
    return run_to_completion(_pca_steps(model, k, n_samples, seed, cancel, device, precision, class_index))


def fit_hyperplane(latents: np.ndarray, labels: Sequence[bool], l2: float = 1e-2, iters: int = 200,
                   cancel: CancelToken | None = None, prog: JobProgress | None = None, done0: float = 0.0
                   ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression: returns (unit normal pointing to "yes", offset along it).
    With ``cancel`` each evaluation of the loss checks it and reports progress (``prog``, one unit per
    evaluation, up to ``iters``)."""
    x = torch.as_tensor(np.asarray(latents, np.float64))
    y = torch.as_tensor(np.asarray(labels, np.float64))
    if y.min() == y.max():
        raise DirectionsError("label at least one sample yes and one sample no")
    mu = x.mean(0, keepdim=True)
    sd = x.std(0, keepdim=True).clamp_min(1e-8) if len(x) > 1 else torch.ones_like(mu)
    xs = (x - mu) / sd
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=iters, line_search_fn="strong_wolfe")
    evals = [0]

    def closure():
        if cancel is not None:
            cancel.check()  # LBFGS runs all its iterations inside one step(): check and report from here
            evals[0] += 1
            if prog is not None:
                cancel.report(prog.at(done0 + min(evals[0], iters), "fitting the boundary"))
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        normal = (w / sd[0]).numpy()  # back to the unstandardised space
        nn_ = np.linalg.norm(normal)
        if nn_ < 1e-12:
            raise DirectionsError("the labels carry no linear signal")
        offset = float((b - (w * mu[0] / sd[0]).sum()).item()) / nn_
    return (normal / nn_).astype(np.float32), offset


def condition(vector: np.ndarray, others: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """InterFaceGAN conditional manipulation: remove from ``vector`` its components along ``others``
    (orthonormalised first), then renormalise."""
    v = np.asarray(vector, np.float64)
    o = np.asarray(others, np.float64).reshape(-1, v.shape[0])
    if len(o):
        q, _ = np.linalg.qr(o.T)
        v = v - q @ (q.T @ v)
    n = np.linalg.norm(v)
    if n < 1e-8:
        raise DirectionsError("the direction lies within the conditioned directions: nothing is left")
    return (v / n).astype(np.float32)


FIT_ITERS = 200


def _supervised_steps(model, yes, no, name: str = "attribute", space: str | None = None, truncation: float = 1.0,
                      condition_on: np.ndarray | None = None, cancel: CancelToken | None = None,
                      device="auto", precision="auto", class_index: int | None = None):
    lm = open_model(model, device, precision)
    check_class(lm, class_index)  # the labelled seeds were seen in this class
    space = space or ("w" if lm.is_stylegan else "z")
    if not lm.is_stylegan:
        space = "z"
    # units: the labelled samples mapped, the optimiser's evaluations, the spread samples
    prog = JobProgress(2 + FIT_ITERS + SCALE_SAMPLES, cancel, "step")

    def lat(x):
        arr = np.asarray(x)
        if arr.size == 0:
            return np.zeros((0, lm.z_dim if space == "z" else lm.w_dim), np.float32)
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
            z = z_from_seeds([int(s) for s in arr], lm.z_dim)
            return map_z(lm, z, truncation, class_index) if space == "w" else z
        return arr.astype(np.float32).reshape(len(arr), -1)

    yield prog.at(0, "mapping the labelled samples")
    ly, ln = lat(yes), lat(no)
    if len(ly) == 0 or len(ln) == 0:
        raise DirectionsError("label at least one sample yes and one sample no")
    yield prog.at(2, "fitting the boundary")
    normal, _ = fit_hyperplane(np.concatenate([ly, ln]), [True] * len(ly) + [False] * len(ln), iters=FIT_ITERS,
                               cancel=cancel, prog=prog, done0=2)
    if condition_on is not None and len(condition_on):
        normal = condition(normal, condition_on)
    vec = normal[None]
    yield prog.at(2 + FIT_ITERS, "measuring the spread along the direction")
    scales = yield from _scales(lm, vec, space, SCALE_SAMPLES, prog, 2 + FIT_ITERS, class_index)
    return DirectionSet([name], vec, space, lm.sha256, "supervised", [(0, -1)], scales,
                        {"n_yes": len(ly), "n_no": len(ln), "conditioned": 0 if condition_on is None
                         else len(condition_on)})


def supervised(model, yes: Sequence[int] | np.ndarray, no: Sequence[int] | np.ndarray, name: str = "attribute",
               space: str | None = None, truncation: float = 1.0, condition_on: np.ndarray | None = None,
               cancel: CancelToken | None = None, device="auto", precision="auto",
               class_index: int | None = None) -> DirectionSet:
    """A direction from yes / no samples: seeds (lists of int, mapped in class ``class_index`` for a
    class-conditional model) or latents (arrays (n, D) in ``space``)."""
    return run_to_completion(_supervised_steps(model, yes, no, name, space, truncation, condition_on, cancel,
                                               device, precision, class_index))


# ---------------------------------------------------------------------------------------------- files
# Far above any real set (1000 directions x 512 values is 2 MB) and far below what hurts a machine.
MAX_FILE_BYTES = 64 << 20
MAX_ARRAY_BYTES = 64 << 20
MAX_DIRECTIONS = 4096
MAX_DIM = 16384


def save_directions(path: str | os.PathLike, dirs: DirectionSet | dict) -> Path:
    """Write ``.npz`` or ``.safetensors`` (by suffix) atomically."""
    if isinstance(dirs, dict):
        dirs = DirectionSet.from_dict(dirs)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".safetensors"):
        raise DirectionsError(f"save directions as .npz or .safetensors, not {path.suffix or 'no suffix'}")
    layers = np.asarray(dirs.layers, np.int64).reshape(-1, 2)
    header = {"format": FORMAT, "names": dirs.names, "space": dirs.space, "model_sha256": dirs.model_sha256,
              "source": dirs.source, "meta": dirs.meta}
    with atomic_path(path, suffix=".part" + suffix) as tmp:
        if suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, vectors=dirs.vectors, scales=dirs.scales, layers=layers,
                         header=np.array(json.dumps(header)))
        else:
            from safetensors.numpy import save_file

            save_file({"vectors": np.ascontiguousarray(dirs.vectors), "scales": np.ascontiguousarray(dirs.scales),
                       "layers": np.ascontiguousarray(layers)}, str(tmp), metadata={"ganstudio": json.dumps(header)})
    return path


class _Refused(Exception):
    """Why a file is no usable directions file (turned into one DirectionsError line by load_directions)."""


def _npz_member(zf: zipfile.ZipFile, key: str) -> np.ndarray:
    """One array of an .npz, its declared size checked against the bytes that hold it before reading."""
    from numpy.lib import format as npf

    try:
        info = zf.getinfo(key + ".npy")
    except KeyError:
        raise _Refused(f"it has no {key!r} array") from None
    with zf.open(info) as fh:
        version = npf.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = npf.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = npf.read_array_header_2_0(fh)
        else:
            raise _Refused(f"its {key!r} array has an unsupported layout (version {version})")
        if dtype.hasobject:
            # numpy's own text here advises loading the file unsafely (allow_pickle): never repeat it
            raise _Refused("it holds pickled objects")
        nbytes = math.prod(int(d) for d in shape) * dtype.itemsize
        if nbytes > MAX_ARRAY_BYTES or nbytes > info.file_size:
            raise _Refused(f"its {key!r} array claims {nbytes:,} bytes, more than the file holds")
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise _Refused(f"its {key!r} array is cut short")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def _read_npz(path: Path) -> tuple[object, dict]:
    with zipfile.ZipFile(path) as zf:
        raw = _npz_member(zf, "header")
        if raw.shape != () or raw.dtype.kind != "U":
            raise _Refused("its header is not a text")
        arrays = {k: _npz_member(zf, k) for k in ("vectors", "scales", "layers")}
    return json.loads(str(raw[()])), arrays


def _read_safetensors(path: Path) -> tuple[object, dict]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if "ganstudio" not in meta:
                raise _Refused("it has no GAN Studio header")
            have = set(fh.keys())
            missing = [k for k in ("vectors", "scales", "layers") if k not in have]
            if missing:
                raise _Refused(f"it has no {missing[0]!r} array")
            arrays = {k: fh.get_tensor(k) for k in ("vectors", "scales", "layers")}
    except SafetensorError as exc:  # not a ValueError: name the damage in the same words as for .npz
        raise _Refused(str(exc)[:200]) from None
    return json.loads(meta["ganstudio"]), arrays


def _checked(header: object, arrays: dict) -> tuple[dict, dict]:
    """The header and arrays of a directions file, every field checked (a _Refused names the first problem)."""
    if not isinstance(header, dict):
        raise _Refused("its header is not a JSON object")
    if header.get("format") != FORMAT:
        raise _Refused(f"its format is {str(header.get('format'))[:40]!r}, not {FORMAT!r}")
    names = header.get("names")
    if not isinstance(names, list) or not names or len(names) > MAX_DIRECTIONS \
            or not all(isinstance(n, str) and 0 < len(n) <= 200 for n in names):
        raise _Refused(f"its header's 'names' is not a list of 1 to {MAX_DIRECTIONS} short texts")
    for key in ("space", "model_sha256", "source"):
        if not isinstance(header.get(key), str):
            raise _Refused(f"its header has no text {key!r}")
    if header["space"] not in ("w", "z"):
        raise _Refused(f"its space is {header['space'][:20]!r}, not 'w' or 'z'")
    meta = header.get("meta") or {}
    if not isinstance(meta, dict):
        raise _Refused("its header's 'meta' is not a JSON object")
    k = len(names)
    vec, scales, layers = arrays["vectors"], arrays["scales"], arrays["layers"]
    if vec.ndim != 2 or vec.shape[0] != k or not 0 < vec.shape[1] <= MAX_DIM or vec.dtype.kind != "f":
        raise _Refused(f"its vectors have shape {vec.shape} ({vec.dtype}); {k} rows of numbers were expected")
    if not np.all(np.isfinite(vec)):
        raise _Refused("its vectors hold NaN or infinite values")
    if scales.shape != (k,) or scales.dtype.kind != "f":
        raise _Refused(f"its scales have shape {scales.shape}; ({k},) was expected")
    if layers.shape != (k, 2) or layers.dtype.kind not in "iu":
        raise _Refused(f"its layer ranges have shape {layers.shape}; ({k}, 2) whole numbers were expected")
    return {**header, "meta": meta}, arrays


def load_directions(path: str | os.PathLike, model_sha256: str | None = None) -> DirectionSet:
    """Read a directions file; with ``model_sha256`` refuse one made for another model."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _Refused(f"it is {size:,} bytes; a directions file is a few MB at most")
        if path.suffix.lower() == ".safetensors":
            header, arrays = _checked(*_read_safetensors(path))
        else:
            header, arrays = _checked(*_read_npz(path))
    except _Refused as exc:
        raise DirectionsError(f"{path.name} is not a GAN Studio directions file ({exc})") from None
    except FileNotFoundError:
        raise DirectionsError(f"{path.name}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, RecursionError, MemoryError) as exc:
        # zip / npy / safetensors / JSON damage. numpy's text for a pickled array advises loading it unsafely
        # (allow_pickle): never repeat it
        reason = "it holds pickled objects" if "allow_pickle" in str(exc) else \
            (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
        raise DirectionsError(f"{path.name} is not a GAN Studio directions file ({str(reason)[:200]})") from None
    if model_sha256 is not None and header["model_sha256"] != model_sha256:
        raise DirectionsError(
            f"{path.name} was made for another model (sha256 {header['model_sha256'][:12]}…); the open model "
            f"is {model_sha256[:12]}…. Directions only make sense for the generator they were computed on: "
            "open that model, or compute new directions for this one.")
    return DirectionSet(header["names"], arrays["vectors"], header["space"], header["model_sha256"],
                        header["source"], [tuple(x) for x in arrays["layers"].tolist()], arrays["scales"],
                        header["meta"])


_PLAIN_NAME = re.compile(r"^[\w.\- ]+$")


def shipped_directions_path(model_path: str | os.PathLike, name: object) -> Path | None:
    """The directions file a manifest entry ships next to its model (``"directions": "faces_directions.npz"``),
    or None; a name that is no plain file name (a folder, "..") is ignored."""
    if not isinstance(name, str) or not _PLAIN_NAME.match(name) or name in (".", ".."):
        return None
    return Path(model_path).parent / name


# ---------------------------------------------------------------------------------------------- jobs (GUI)
def sefa_job(model: str, k: int = 8, layers: tuple[int, int] | None = None, cancel: CancelToken | None = None,
             device="auto", precision="auto", class_index: int | None = None):
    return (yield from _sefa_steps(model, k, layers, cancel, device, precision, class_index)).to_dict()


def pca_job(model: str, k: int = 8, n_samples: int = 2048, seed: int = 0, cancel: CancelToken | None = None,
            device="auto", precision="auto", class_index: int | None = None):
    return (yield from _pca_steps(model, k, n_samples, seed, cancel, device, precision, class_index)).to_dict()


def supervised_job(model: str, yes: list, no: list, name: str = "attribute", truncation: float = 1.0,
                   condition_on: list | None = None, cancel: CancelToken | None = None,
                   device="auto", precision="auto", class_index: int | None = None):
    cond = np.asarray(condition_on, np.float32) if condition_on else None
    return (yield from _supervised_steps(model, yes, no, name, truncation=truncation, condition_on=cond,
                                         cancel=cancel, device=device, precision=precision,
                                         class_index=class_index)).to_dict()


def save_job(path: str, dirs: dict, cancel: CancelToken | None = None) -> str:
    return str(save_directions(path, dirs))


def load_job(path: str, model_sha256: str, cancel: CancelToken | None = None) -> dict:
    """Read a directions file for the open model (its sha256 comes with the job: no model is loaded)."""
    return load_directions(path, model_sha256).to_dict()
