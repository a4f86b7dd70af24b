"""The Latent tab's state and rules, without Qt and without torch.

Why here: this is the tab's model (in the model / view sense). It holds what the user is working on (the
open model, the seed grid, the image the sliders edit, the directions and their strengths, the yes / no
labels, the arithmetic groups, the frames of an interpolation) and turns it into the keyword arguments of
the engine jobs. The widgets in ``ganstudio.ui.latent`` show it and report clicks to it; the rules live
here once, testable in plain Python. It is not ``core``: nothing else in the app uses it, and it knows the
engine's job names, which ``core`` must not. It imports only ``core`` and numpy (a test checks that it
loads neither PySide6 nor torch), so the UI layer stays torch-free.

Every job's kwargs carry the device and precision the user chose (Settings, read through ``runtime`` when
the job is built), so the Latent tab runs where Settings says, like every other tab.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganstudio.core.errors import InputError

# the engine's jobs (resolved in the worker thread; the UI never imports the engine)
JOBS = "ganstudio.engines.latent.jobs"
DESCRIBE = "ganstudio.engines.latent.jobs:describe_model"
SAMPLE_GRID = "ganstudio.engines.latent.jobs:sample_grid"
EDIT = "ganstudio.engines.latent.jobs:edit"
INTERPOLATE = "ganstudio.engines.latent.jobs:interpolate"
ARITHMETIC = "ganstudio.engines.latent.jobs:arithmetic_job"
STYLE_MIX = "ganstudio.engines.latent.jobs:style_mix"
SEFA = "ganstudio.engines.latent.directions:sefa_job"
PCA = "ganstudio.engines.latent.directions:pca_job"
SUPERVISED = "ganstudio.engines.latent.directions:supervised_job"
SAVE_DIRECTIONS = "ganstudio.engines.latent.directions:save_job"
LOAD_DIRECTIONS = "ganstudio.engines.latent.directions:load_job"
PROJECT = "ganstudio.engines.latent.projection:project"
READ_RECIPE = "ganstudio.engines.latent.recipe:read_state_job"
EXPORT_PNG = "ganstudio.engines.latent.recipe:export_png_job"
EXPORT_FRAMES = "ganstudio.engines.latent.recipe:export_frames_job"

GRID = 4  # the seed grid is GRID x GRID
GRID_SEEDS = GRID * GRID
NOISE_MODES = ("stored", "zero", "random")
# rosinality's .pt and NVIDIA's StyleGAN2-ADA .pkl: the same generator to every tool here
STYLEGAN_FAMILIES = ("stylegan2", "stylegan2_ada")
LATENT_ARCHS = (*STYLEGAN_FAMILIES, "dcgan")
MODEL_SUFFIXES = (".pt", ".pth", ".pkl", ".safetensors", ".ckpt")  # files the Open dialog and drops take


def is_model_file(path: str) -> bool:
    return Path(path).suffix.lower() in MODEL_SUFFIXES


def folder_problem(path: str, suffixes: tuple[str, ...] = ()) -> str | None:
    """Why ``path`` cannot be written (not one of ``suffixes``, a folder, its folder missing or a file), else
    None."""
    if suffixes and Path(path).suffix.lower() not in suffixes:
        return f"save it as {' or '.join(suffixes)}"
    parent = Path(path).parent
    if Path(path).is_dir():
        return f"{path} is a folder"
    if parent.is_dir():
        return None
    return f"the folder {parent} {'is a file' if parent.exists() else 'does not exist'}"


# ---------------------------------------------------------------------------------------------- model list
@dataclass(frozen=True)
class ModelChoice:
    """One entry of the Latent model list: a manifest / library model (``ref`` its id) or a file."""

    ref: str
    label: str
    present: bool
    tooltip: str = ""


def model_choices(entries=None) -> list[ModelChoice]:
    """The latent models the manifest knows (bundled ones first, then the user's library), in manifest order:
    data-driven, so a model added to models/manifest/latent.json (or imported) appears with no code change.
    A broken manifest lists nothing rather than breaking the tab."""
    import logging

    from ganstudio.core.manifest import entry_path, load_manifest

    try:
        entries = list(entries) if entries is not None else load_manifest()
    except Exception as exc:  # noqa: BLE001 - the tab must open whatever the manifest holds
        logging.getLogger(__name__).warning("latent: cannot list models: %s", exc)
        return []
    out = []
    for e in entries:
        if not (e.task == "latent" or (e.task in ("", "unknown") and e.arch in LATENT_ARCHS)):
            continue
        present = entry_path(e) is not None
        label = e.id if present else f"{e.id}  (not on this machine)"
        tip = e.description or e.id
        if not present:
            tip += ("\n\nDownload it in Models > Model manager." if e.url else
                    "\n\nIts file is missing: import it in Models > Model manager, or open a file.")
        out.append(ModelChoice(e.id, label, present, tip))
    return out


def first_present(choices: list[ModelChoice]) -> str | None:
    """What a fresh profile starts with: the first model of the list that is on this machine."""
    return next((c.ref for c in choices if c.present), None)


# ---------------------------------------------------------------------------------------------- direction names
_NUMBERED = re.compile(r"^(sefa|pca)_(\d+)(?:_(\d+))?$")
_SOURCE_TIPS = {
    "sefa": "found without labels, in closed form from the generator's own style weights (SeFa); "
            "strongest first. What it changes is for you to see: try it",
    "pca": "a principal component of many sampled W latents (GANSpace PCA); found without labels, "
           "widest spread first. What it changes is for you to see: try it",
    "supervised": "fitted to the tiles you labelled yes / no (InterFaceGAN): moving it makes an image more "
                  "'yes'",
    "recipe": "restored from an image's recipe",
}


def direction_label(name: str, source: str = "", detail: str = "") -> tuple[str, str]:
    """(what the slider is called, its tooltip). Engine names like ``sefa_0`` read "SeFa 1"; a named
    direction (shipped with a model, or fitted to labels) keeps its name."""
    m = _NUMBERED.match(name)
    if m:
        kind, idx, dup = m.group(1), int(m.group(2)) + 1, m.group(3)
        title = {"sefa": "SeFa", "pca": "PCA"}[kind]
        label = f"{title} {idx}" + (f" ({dup})" if dup else "")
        source = source if source in _SOURCE_TIPS else kind
    else:
        label = name
    tip = f"{label} ({name}): {_SOURCE_TIPS.get(source, 'a named direction')}"
    if detail:
        tip += f". {detail}"
    return label, tip + ". Drag to move the image along it; the two boxes limit it to a range of W+ rows."


# ---------------------------------------------------------------------------------------------- recipes
@dataclass
class RecipeDecision:
    """What opening an image with a recipe does: "apply" it to the open model, "ask" before loading the model
    it names (``model``), or "missing" (``message`` says so). Loading a model is the user's choice."""

    kind: str
    model: str = ""
    message: str = ""


# ---------------------------------------------------------------------------------------------- the session
def _auto_runtime() -> dict:
    return {"device": "auto", "precision": "auto"}


class LatentSession:
    """What the Latent tab is working on; see the module docstring."""

    def __init__(self, runtime: Callable[[], dict] = _auto_runtime) -> None:
        self.runtime = runtime  # -> {"device", "precision"}, read when a job is built
        self.model = ""  # the reference in use (a path or a manifest id); "" = none
        self.info: dict = {}  # describe_model's answer for it
        self.first_seed = 0
        self.truncation = 1.0
        self.noise = "stored"
        self.class_index: int | None = None  # the class drawn by a class-conditional model; None otherwise
        self.grid_seeds: list[int] = []
        self.grid_images: np.ndarray | None = None
        self.picked: list[int] = []
        self.labels: dict[int, bool] = {}  # seed -> yes / no, for supervised directions
        self.base: dict | None = None  # render state of the image the sliders edit (no edits)
        self.base_wplus: np.ndarray | None = None  # its W+ once mapped: sliders then skip the mapping
        self.dirs: dict | None = None  # DirectionSet dict of every slider
        self.strengths: list[float] = []
        self.layers: list[list[int]] = []
        self.fixed: list[bool] = []  # conditioning of the next supervised direction
        self.tips: list[str] = []
        self.groups: dict[str, list[int]] = {"A": [], "B": [], "C": []}
        self.frames: np.ndarray | None = None
        self.interp_state: dict | None = None
        self.last_projection: dict | None = None
        self.last_runtime: dict = {}  # what the newest engine answer says it ran with

    # ------------------------------------------------------------------------------------------ model
    @property
    def has_model(self) -> bool:
        return bool(self.model)

    @property
    def is_stylegan(self) -> bool:
        return self.info.get("family") in STYLEGAN_FAMILIES

    @property
    def n_classes(self) -> int:
        """Classes of a class-conditional model (0: unconditional)."""
        return int(self.info.get("c_dim") or 0)

    @property
    def n_latent(self) -> int:
        return int(self.info.get("n_latent", 1))

    def job(self, **kwargs) -> dict:
        """Kwargs for a job on the open model, with the device and precision chosen in Settings."""
        return {"model": self.model, **kwargs, **self.runtime()}

    def describe_job(self, ref: str) -> dict:
        return {"model": ref, **self.runtime()}

    def accept_model(self, ref: str, info: dict) -> bool:
        """Make ``ref`` the open model. Returns True when it is another network (then directions, labels
        and the edited image, which belong to the old one, are dropped)."""
        changed = info.get("sha256") != self.info.get("sha256")
        self.model, self.info = ref, dict(info)
        self.note_runtime(info)
        n = self.n_classes
        if not n:
            self.class_index = None
        elif self.class_index is None or not 0 <= self.class_index < n:
            self.class_index = 0  # a class-conditional model draws one class at a time: start with the first
        if changed:
            self.clear_directions()
            self.labels.clear()
            self.base = None
            self.base_wplus = None
            self.frames = None
        return changed

    def note_runtime(self, result) -> None:
        if isinstance(result, dict) and isinstance(result.get("runtime"), dict):
            self.last_runtime = dict(result["runtime"])

    def describe_model(self) -> str:
        """One line about the open model (its details go in the tooltip)."""
        i = self.info
        if not i:
            return "no model"
        rt = i.get("runtime") or {}
        w = f"W+ {i['n_latent']}×{i['w_dim']}" if i.get("family") in STYLEGAN_FAMILIES else f"z {i['z_dim']}"
        classes = f" · {self.n_classes} classes" if self.n_classes else ""
        where = f" · {rt.get('device', '?')} {rt.get('precision', '')}".rstrip() if rt else ""
        return f"{i['family']} · {i['resolution']} px · {w}{classes}{where} · sha256 {i['sha256'][:12]}…"

    def model_tooltip(self) -> str:
        i = self.info
        if not i:
            return ""
        hp = ", ".join(f"{k}={v}" for k, v in i.get("hparams", {}).items() if k != "channels")
        return f"{i.get('path', '')}\n{i['family']}({hp})\nsha256 {i['sha256']}"

    # ------------------------------------------------------------------------------------------ grid
    def wanted_grid(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + GRID_SEEDS))

    def grid_job(self) -> dict:
        return self.job(seeds=self.wanted_grid(), truncation=self.truncation, noise=self.noise,
                        batch=GRID_SEEDS, class_index=self.class_index)

    def accept_grid(self, res: dict) -> bool:
        """Take a finished grid; False for an older one (other seeds than asked for now)."""
        if list(res["seeds"]) != self.wanted_grid():
            return False
        self.grid_seeds = list(res["seeds"])
        self.grid_images = res["images"]
        self.picked = []
        self.labels.clear()
        self.note_runtime(res)
        return True

    def set_picked(self, seeds: list[int]) -> None:
        self.picked = [int(s) for s in seeds]

    def label(self, seed: int, value: bool | None) -> None:
        """Label a tile yes (True), no (False) or clear it (None) for a supervised direction."""
        if value is None:
            self.labels.pop(int(seed), None)
        else:
            self.labels[int(seed)] = bool(value)

    def label_lists(self) -> tuple[list[int], list[int]]:
        yes = [s for s, v in self.labels.items() if v]
        no = [s for s, v in self.labels.items() if not v]
        return sorted(yes), sorted(no)

    def settings_changed(self) -> None:
        """Truncation, noise or class changed: a seed image's mapped W+ no longer holds."""
        if self.base is not None and self.base.get("wplus") is None:
            self.base_wplus = None

    def set_class(self, class_index: int | None) -> None:
        """The class a class-conditional model draws (the grid, the seed images, directions fitted to seeds)."""
        n = self.n_classes
        if not n:
            self.class_index = None
        else:
            self.class_index = min(max(0, int(class_index or 0)), n - 1)
        self.settings_changed()

    # ------------------------------------------------------------------------------------------ editing
    def set_base(self, base: dict) -> None:
        """The image the sliders edit: {'seeds': [s]} or {'z': ...} or {'wplus': (1, L, D)}."""
        self.base = dict(base)
        self.base_wplus = None

    def base_state(self) -> dict:
        st = {k: v for k, v in (self.base or {}).items() if k in ("seeds", "z", "wplus")}
        if "wplus" not in st:
            st["truncation"] = self.truncation
            st["class_index"] = self.class_index  # a W+ latent holds its class already
        st["noise"] = self.noise
        seeds = (self.base or {}).get("seeds") or (self.base or {}).get("noise_seeds") or [0]
        st["noise_seeds"] = list(seeds)
        return st

    def edit_job(self) -> dict | None:
        """Kwargs of the slider render (None with nothing to render)."""
        if not self.model or self.base is None:
            return None
        base = self.base_state()
        if self.base_wplus is not None and "wplus" not in base:
            # the mapping was done once; sliders only run the synthesis network
            base = {**base, "wplus": self.base_wplus}
            base.pop("seeds", None)
            base.pop("z", None)
        return self.job(base=base, edits=self.edits())

    def accept_edit(self, res: dict) -> None:
        self.note_runtime(res)
        if self.base_wplus is None and res.get("wplus") is not None and self.base is not None \
                and "wplus" not in self.base:
            self.base_wplus = np.asarray(res["wplus"])

    def current_state(self) -> dict:
        return {**self.base_state(), "model": self.info.get("path") or self.model, "edits": self.edits()}

    # ------------------------------------------------------------------------------------------ directions
    def clear_directions(self) -> None:
        self.dirs = None
        self.strengths, self.layers, self.fixed, self.tips = [], [], [], []

    def names(self) -> list[str]:
        return list(self.dirs["names"]) if self.dirs else []

    def add_directions(self, d: dict, detail: str = "") -> list[str]:
        """Append a DirectionSet dict (same model) as sliders; returns the new names (renamed where taken).
        Directions of another space replace the current ones."""
        if self.info and d.get("model_sha256") != self.info.get("sha256"):
            raise InputError("those directions belong to another model")
        d = {**d, "names": [str(n) for n in d["names"]], "vectors": np.asarray(d["vectors"], np.float32),
             "scales": np.asarray(d["scales"], np.float32), "layers": [list(x) for x in d["layers"]]}
        if self.dirs is not None and self.dirs["space"] != d["space"]:
            self.clear_directions()
        taken = set(self.names())
        names = []
        for n in d["names"]:
            base, k = n, 2
            while n in taken:
                n = f"{base}_{k}"
                k += 1
            taken.add(n)
            names.append(n)
        if self.dirs is None:
            self.dirs = {**d, "names": names}
        else:
            self.dirs = {**self.dirs, "names": self.dirs["names"] + names,
                         "vectors": np.concatenate([self.dirs["vectors"], d["vectors"]]),
                         "scales": np.concatenate([self.dirs["scales"], d["scales"]]),
                         "layers": self.dirs["layers"] + d["layers"],
                         "source": self.dirs["source"] if self.dirs["source"] == d["source"] else "mixed"}
        n_latent = self.n_latent
        for i, _name in enumerate(names):
            a, b = d["layers"][i]
            self.strengths.append(0.0)
            self.layers.append([max(0, int(a)), n_latent if b is None or int(b) < 0 else min(int(b), n_latent)])
            self.fixed.append(False)
            self.tips.append(direction_label(_name, d.get("source", ""), detail)[1])
        return names

    def scale(self, i: int) -> float:
        s = float(self.dirs["scales"][i]) if self.dirs else 1.0
        return s if np.isfinite(s) and s > 0 else 1.0

    def edits(self) -> list[dict]:
        if not self.dirs:
            return []
        out = []
        for i, name in enumerate(self.dirs["names"]):
            s = self.strengths[i]
            if s == 0.0:
                continue
            out.append({"name": name, "vector": np.asarray(self.dirs["vectors"][i], np.float32),
                        "space": self.dirs["space"], "strength": s, "layers": list(self.layers[i])})
        return out

    def strength_map(self) -> dict[str, float]:
        return dict(zip(self.names(), self.strengths))

    def current_directions(self) -> dict | None:
        if self.dirs is None:
            return None
        return {**self.dirs, "layers": [list(x) for x in self.layers]}

    def sefa_job(self, k: int, layers: tuple[int, int]) -> dict:
        return self.job(k=int(k), layers=(int(layers[0]), int(layers[1])), class_index=self.class_index)

    def pca_job(self, k: int) -> dict:
        return self.job(k=int(k), class_index=self.class_index)

    def supervised_job(self, name: str) -> dict:
        yes, no = self.label_lists()
        if not yes or not no:
            raise InputError("label at least one tile yes and one tile no first (step 1)")
        cond = [np.asarray(self.dirs["vectors"][i]).tolist() for i, f in enumerate(self.fixed) if f] \
            if self.dirs else []
        return self.job(yes=yes, no=no, name=name.strip() or "attribute", truncation=self.truncation,
                        condition_on=cond, class_index=self.class_index)

    def load_directions_job(self, path: str) -> dict:
        return {"path": path, "model_sha256": self.info.get("sha256", "")}

    # ------------------------------------------------------------------------------------------ other tools
    def style_mix_job(self, inject_index: int, fine_seed: int | None = None) -> dict:
        seeds = (self.base or {}).get("seeds")
        if not seeds or not self.is_stylegan:
            raise InputError("style mixing needs a StyleGAN2 model and a seed image as the base")
        if fine_seed is None:
            others = [s for s in self.picked if s != seeds[0]]
            if not others:
                raise InputError("pick a second tile to take the fine styles from")
            fine_seed = others[-1]
        return self.job(coarse=int(seeds[0]), fine=int(fine_seed), inject_index=int(inject_index),
                        truncation=self.truncation, class_index=self.class_index)

    def interpolation_job(self, steps: int, spherical: bool, space: str) -> dict:
        if len(self.picked) < 2:
            raise InputError("pick two or more tiles to interpolate between")
        kw = self.job(seeds=list(self.picked), steps=int(steps), spherical=bool(spherical), space=space,
                      truncation=self.truncation, noise=self.noise, class_index=self.class_index)
        self.interp_state = {"seeds": list(self.picked), "truncation": self.truncation, "noise": self.noise,
                             "class_index": self.class_index}
        return kw

    def export_frames_state(self) -> dict:
        return {**(self.interp_state or {}), "model": self.info.get("path") or self.model}

    def set_group(self, name: str, seeds: list[int]) -> None:
        self.groups[name] = [int(s) for s in seeds]

    def arithmetic_job(self, space: str) -> dict:
        if not all(self.groups.values()):
            raise InputError("set A, B and C from picked tiles first")
        return self.job(a=self.groups["A"], b=self.groups["B"], c=self.groups["C"], space=space,
                        truncation=self.truncation, noise=self.noise, n_perturb=8, class_index=self.class_index)

    def projection_job(self, path: str, space: str, steps: int) -> dict:
        if not self.model:
            raise InputError("open a StyleGAN2 model first, then the photo to project")
        return self.job(image_path=path, space=space, steps=int(steps))

    def recipe_kwargs(self, state: dict) -> dict:
        """What a recipe-writing job needs besides the image: the state, and the model's identity (known
        since the model was opened, so writing a PNG loads no model)."""
        return {"state": {**state, "runtime": self.last_runtime or None},
                "model_sha256": self.info.get("sha256", ""), "family": self.info.get("family", "")}

    def export_job(self, path: str, image: np.ndarray, state: dict) -> dict:
        return {"path": path, "image": image, **self.recipe_kwargs(state)}

    # ------------------------------------------------------------------------------------------ recipes
    def recipe_decision(self, state: dict, image_name: str) -> RecipeDecision:
        """Apply a recipe to the open model, or ask before loading the model it names: never load it
        unasked (a recipe is data from whoever made the image; the file it names is the user's to open)."""
        if self.info and self.info.get("sha256") == state.get("model_sha256"):
            return RecipeDecision("apply")
        model = str(state.get("model") or "")
        if model and Path(model).is_file():
            return RecipeDecision("ask", model,
                                  f"{image_name} was made with {Path(model).name} ({model}). Load it?")
        missing = f", {Path(model).name} is missing" if model else ""
        return RecipeDecision("missing", model,
                              f"{image_name} was made with a model that is not open "
                              f"(sha256 {str(state.get('model_sha256'))[:12]}…{missing}). Open that model first.")

    def recipe_problem(self, state: dict) -> str | None:
        """Why a recipe cannot be applied to the open model (a direction of another size), else None."""
        dims = {"w": self.info.get("w_dim"), "z": self.info.get("z_dim")}
        for e in state.get("edits") or []:
            want = dims.get(e.get("space"))
            got = np.asarray(e.get("vector")).shape
            if want and got != (int(want),):
                return (f"direction {e.get('name', '?')!r} has {got} values; this model's {e.get('space')} "
                        f"space needs ({int(want)},): it was made for another model")
        return None

    def apply_recipe(self, state: dict) -> list[str]:
        """Take a recipe's settings, base image and edits (directions it brings become sliders, matching ones
        are reused). Returns the names of the new sliders. Check ``recipe_problem`` first."""
        self.truncation = float(state.get("truncation", 1.0))
        self.noise = state.get("noise", "stored") if state.get("noise") in NOISE_MODES else "stored"
        if self.n_classes and state.get("class_index") is not None:
            self.set_class(state["class_index"])
        if state.get("wplus") is not None:
            base = {"wplus": state["wplus"]}
        else:
            base = {k: state[k] for k in ("seeds", "z") if state.get(k) is not None}
        if state.get("noise_seeds"):
            base["noise_seeds"] = state["noise_seeds"]
        want: dict[int, float] = {}
        new = []
        for e in state.get("edits") or []:
            idx = next((i for i in range(len(self.names())) if
                        np.allclose(self.dirs["vectors"][i], e["vector"], atol=1e-6)), None)
            if idx is None:
                new.append(e)
                continue
            want[idx] = float(e["strength"])
            lay = e.get("layers") or [0, None]
            self.layers[idx] = [int(lay[0] or 0), self.n_latent if lay[1] is None else int(lay[1])]
        added: list[str] = []
        if new:
            first = len(self.names())
            added = self.add_directions(
                {"names": [e["name"] for e in new],
                 "vectors": np.stack([np.asarray(e["vector"], np.float32) for e in new]),
                 "space": new[0]["space"], "model_sha256": self.info.get("sha256"), "source": "recipe",
                 "scales": np.ones(len(new), np.float32),
                 "layers": [[a if a is not None else 0, b if b is not None else -1]
                            for a, b in ((e.get("layers") or [0, -1]) for e in new)]})
            for j, e in enumerate(new):
                want[first + j] = float(e["strength"])
        self.strengths = [want.get(i, 0.0) for i in range(len(self.strengths))]
        self.set_base(base)
        return added
