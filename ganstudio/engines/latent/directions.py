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
for another model raises ``DirectionsError``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ganstudio.core.errors import UserError
from ganstudio.core.files import atomic_path
from ganstudio.core.progress import CancelToken
from ganstudio.engines.latent import LatentModel, map_z, open_model, z_from_seeds

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
    def from_dict(cls, d: dict) -> "DirectionSet":
        return cls(list(d["names"]), np.asarray(d["vectors"]), d["space"], d["model_sha256"], d["source"],
                   [tuple(x) for x in d.get("layers") or []], d.get("scales"), dict(d.get("meta") or {}))

    def extend(self, other: "DirectionSet") -> "DirectionSet":
        if other.model_sha256 != self.model_sha256 or other.space != self.space:
            raise DirectionsError("cannot mix directions of different models or spaces")
        src = self.source if self.source == other.source else "mixed"
        return DirectionSet(self.names + other.names, np.concatenate([self.vectors, other.vectors]), self.space,
                            self.model_sha256, src, self.layers + other.layers,
                            np.concatenate([self.scales, other.scales]), {**self.meta, **other.meta})

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


# ---------------------------------------------------------------------------------------------- sources
def _unit_rows(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _scales(lm: LatentModel, vectors: np.ndarray, space: str, n: int = 512) -> np.ndarray:
    z = z_from_seeds(range(10_000, 10_000 + n), lm.z_dim)
    lat = map_z(lm, z) if space == "w" else z
    return np.std(lat @ vectors.T, axis=0).astype(np.float32)


def sefa_layer_rows(lm: LatentModel) -> list[tuple[int, torch.Tensor]]:
    """(W+ row, modulation weight (in_ch, D)) for each styled conv of a StyleGAN2."""
    g = lm.net
    rows = [(0, g.conv1.conv.modulation.weight)]
    for k, conv in enumerate(g.convs):
        rows.append((k + 1, conv.conv.modulation.weight))
    return rows


def sefa(model, k: int = 10, layers: tuple[int, int] | None = None, cancel: CancelToken | None = None
         ) -> DirectionSet:
    """Closed-form SeFa directions (W space for StyleGAN2, Z for DCGAN), strongest first."""
    lm = open_model(model)
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
    lay = [(a, -1 if b >= lm.n_latent else b)] * len(vecs)
    return DirectionSet([f"sefa_{i}" for i in range(len(vecs))], vecs, space, lm.sha256, "sefa", lay,
                        _scales(lm, vecs, space), {"eigenvalues": evals[order].tolist()})


def pca(model, k: int = 10, n_samples: int = 4096, seed: int = 0, cancel: CancelToken | None = None
        ) -> DirectionSet:
    """GANSpace-style PCA of W from ``n_samples`` seeded z (Z for DCGAN, where it says little)."""
    lm = open_model(model)
    z = torch.randn(n_samples, lm.z_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    lat = map_z(lm, z) if lm.is_stylegan else z
    space = "w" if lm.is_stylegan else "z"
    x = lat.astype(np.float64) - lat.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    k = min(k, vt.shape[0])
    vecs = _unit_rows(vt[:k])
    scales = (s[:k] / np.sqrt(max(1, len(x) - 1))).astype(np.float32)
    return DirectionSet([f"pca_{i}" for i in range(k)], vecs, space, lm.sha256, "pca", [(0, -1)] * k, scales,
                        {"explained_variance": (s[:k] ** 2 / np.sum(s ** 2)).tolist()})


def fit_hyperplane(latents: np.ndarray, labels: Sequence[bool], l2: float = 1e-2, iters: int = 200
                   ) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression: returns (unit normal pointing to "yes", offset along it)."""
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

    def closure():
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


def supervised(model, yes: Sequence[int] | np.ndarray, no: Sequence[int] | np.ndarray, name: str = "attribute",
               space: str | None = None, truncation: float = 1.0, condition_on: np.ndarray | None = None,
               cancel: CancelToken | None = None) -> DirectionSet:
    """A direction from yes / no samples: seeds (lists of int) or latents (arrays (n, D) in ``space``)."""
    lm = open_model(model)
    space = space or ("w" if lm.is_stylegan else "z")
    if not lm.is_stylegan:
        space = "z"

    def lat(x):
        arr = np.asarray(x)
        if arr.size == 0:
            return np.zeros((0, lm.z_dim if space == "z" else lm.w_dim), np.float32)
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.integer):
            z = z_from_seeds([int(s) for s in arr], lm.z_dim)
            return map_z(lm, z, truncation) if space == "w" else z
        return arr.astype(np.float32).reshape(len(arr), -1)

    ly, ln = lat(yes), lat(no)
    if len(ly) == 0 or len(ln) == 0:
        raise DirectionsError("label at least one sample yes and one sample no")
    normal, _ = fit_hyperplane(np.concatenate([ly, ln]), [True] * len(ly) + [False] * len(ln))
    if condition_on is not None and len(condition_on):
        normal = condition(normal, condition_on)
    vec = normal[None]
    return DirectionSet([name], vec, space, lm.sha256, "supervised", [(0, -1)], _scales(lm, vec, space),
                        {"n_yes": len(ly), "n_no": len(ln), "conditioned": 0 if condition_on is None
                         else len(condition_on)})


# ---------------------------------------------------------------------------------------------- files
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


def load_directions(path: str | os.PathLike, model_sha256: str | None = None) -> DirectionSet:
    """Read a directions file; with ``model_sha256`` refuse one made for another model."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="numpy") as fh:
                header = json.loads((fh.metadata() or {})["ganstudio"])
                arrays = {k: fh.get_tensor(k) for k in ("vectors", "scales", "layers")}
        else:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                arrays = {k: data[k] for k in ("vectors", "scales", "layers")}
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        # numpy's own text for a pickled array advises loading it unsafely (allow_pickle): never repeat it
        reason = "it holds pickled objects" if "allow_pickle" in str(exc) else str(exc)
        raise DirectionsError(f"{path.name} is not a GAN Studio directions file ({reason})") from exc
    if header.get("format") != FORMAT:
        raise DirectionsError(f"{path.name} is not a GAN Studio directions file")
    if model_sha256 is not None and header["model_sha256"] != model_sha256:
        raise DirectionsError(
            f"{path.name} was made for another model (sha256 {header['model_sha256'][:12]}…); the open model "
            f"is {model_sha256[:12]}…. Directions only make sense for the generator they were computed on: "
            "open that model, or compute new directions for this one.")
    return DirectionSet(header["names"], arrays["vectors"], header["space"], header["model_sha256"],
                        header["source"], [tuple(x) for x in arrays["layers"].tolist()], arrays["scales"],
                        header.get("meta") or {})


# ---------------------------------------------------------------------------------------------- jobs (GUI)
def sefa_job(model: str, k: int = 8, layers: tuple[int, int] | None = None,
             cancel: CancelToken | None = None) -> dict:
    return sefa(model, k, layers).to_dict()


def pca_job(model: str, k: int = 8, n_samples: int = 2048, seed: int = 0,
            cancel: CancelToken | None = None) -> dict:
    return pca(model, k, n_samples, seed).to_dict()


def supervised_job(model: str, yes: list, no: list, name: str = "attribute", truncation: float = 1.0,
                   condition_on: list | None = None, cancel: CancelToken | None = None) -> dict:
    cond = np.asarray(condition_on, np.float32) if condition_on else None
    return supervised(model, yes, no, name, truncation=truncation, condition_on=cond).to_dict()


def save_job(path: str, dirs: dict, cancel: CancelToken | None = None) -> str:
    return str(save_directions(path, dirs))


def load_job(path: str, model: str, cancel: CancelToken | None = None) -> dict:
    return load_directions(path, open_model(model).sha256).to_dict()
