"""The Train tab's worker jobs (run in the GUI's engine worker through ``workers.jobs.JobSlot``).

The training itself runs in a child process (``workers.process_runner``: ``ganstudio train
--progress-json``), so closing the window can leave it going and multi-GPU runs can use torchrun. These
are the short jobs around it:

* ``describe_tasks()``: every task's defaults (the recipe's, what the form is prefilled with) and the
  number of CUDA devices (the form offers "GPUs: N" only where there is more than one);
* ``check_data(task, folders...)``: the trainer's own data check, at once, with its messages and counts;
* ``estimate(config)``: seconds per step and memory, by building the recipe on the chosen device and timing
  a couple of steps on a few of the real images (copied to a temporary folder, so a big folder is not
  read in full);
* ``list_runs(root)`` / ``run_history(run)`` / ``read_sample(path)``: the runs list, a run's losses and
  metrics for the plot, a sample grid;
* ``publish(run)`` ("Use in Stylize / Paint / Latent / Upscale"), ``export_final(run, dest)`` (the
  official-layout files) and ``export_safetensors_file(run, dest)``.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from ganstudio.core.errors import InputError
from ganstudio.core.progress import CancelToken, Progress
from ganstudio.training import runs
from ganstudio.training.config import TASKS, TrainConfig

FOLDER_KEYS = ("data", "data_a", "data_b", "labels", "images", "instances")


def describe_tasks(cancel: Optional[CancelToken] = None) -> dict:
    import torch

    from ganstudio.training.loop import defaults_for

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return {"tasks": {t: defaults_for(t) for t in TASKS}, "cuda_devices": int(cuda)}


def _config(task: str, values: dict) -> TrainConfig:
    from ganstudio.training.loop import defaults_for

    if task not in TASKS:
        raise InputError(f"unknown training task {task!r}")
    cfg = TrainConfig.from_dict({"task": task, **{k: v for k, v in values.items() if v not in (None, "")}})
    return cfg.with_defaults(defaults_for(task))


def _recipe(cfg: TrainConfig, device: str = "cpu", precision: str = "fp32"):
    from ganstudio.runtime import resolve_runtime
    from ganstudio.training.loop import recipe_class
    from ganstudio.training.recipe import World

    rt = resolve_runtime(device, precision)
    return recipe_class(cfg.task)(cfg, rt, World()), rt


def check_data(cancel: Optional[CancelToken] = None, task: str = "", size: int = 0, label_set: str = "",
               options: Optional[dict] = None, **folders) -> dict:
    """The trainer's data check for these folders. Raises DataError (a UserError: its message is shown)
    when the data cannot be used; returns {"summary", "count", "notes", "problems"} otherwise."""
    unknown = set(folders) - set(FOLDER_KEYS)
    if unknown:
        raise InputError(f"unknown data folder key(s): {', '.join(sorted(unknown))}")
    values = {k: str(v) for k, v in folders.items() if v}
    values.update({"size": int(size or 0), "label_set": label_set or "", "options": dict(options or {})})
    cfg = _config(task, values)
    recipe, _rt = _recipe(cfg)
    report = recipe.check_data(cancel)
    problems = [f"{Path(p).name}: {r}" for p, r in list(report.unreadable) + list(report.unmatched)]
    return {"task": task, "summary": report.summary(), "count": len(report.files), "notes": list(report.notes),
            "problems": problems}


# ---------------------------------------------------------------------------------------------- estimate
def _few_files(cfg: TrainConfig, dest: Path, n: int) -> dict:
    """Copy up to ``n`` files of each data folder into ``dest``; files that go together (pix2pix A/B,
    SPADE labels / photos / instances) are picked by shared name. Returns the new folder settings."""
    from ganstudio.training.data import list_files

    given = {k: getattr(cfg, k) for k in FOLDER_KEYS if getattr(cfg, k)}
    listed = {k: list_files(v, k.replace("_", " ")) for k, v in given.items()}
    paired = {"pix2pix": ("data_a", "data_b"), "spade": ("labels", "images", "instances")}.get(cfg.task, ())
    paired = tuple(k for k in paired if k in listed)
    if len(paired) > 1:
        stems = set.intersection(*({f.stem for f in listed[k]} for k in paired))
        keep = sorted(stems)[:n]
        for k in paired:
            by_stem = {f.stem: f for f in listed[k]}
            listed[k] = [by_stem[s] for s in keep]
    out = {}
    for k, files in listed.items():
        folder = dest / k
        folder.mkdir(parents=True)
        for i, f in enumerate(files[:n]):
            shutil.copy2(f, folder / f.name if k in paired else folder / f"{i:03d}_{f.name}")
        out[k] = str(folder)
    return out


def _bytes_of(tensors) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors))


def estimate(cancel: Optional[CancelToken] = None, config: Optional[dict] = None, timed_steps: int = 2,
             images: int = 8):
    """Engine generator: build the run's recipe on its device and time ``timed_steps`` steps (after one
    warm-up step) on ``images`` of the real images. Returns {"s_per_step", "total_s", "steps", "device",
    "gpu_memory" (peak bytes on CUDA, else None), "state_bytes" (weights + gradients + optimiser state)}."""
    import torch

    from ganstudio.training.data import PositionSampler, make_loader
    from ganstudio.training.loop import _batch_to

    cancel = cancel or CancelToken()
    config = dict(config or {})
    task = config.pop("task", "")
    cfg = _config(task, config)
    total = timed_steps + 2
    yield Progress(0, total, "estimate: reading a few images…")
    with tempfile.TemporaryDirectory(prefix="ganstudio-estimate-") as tmp:
        small = _few_files(cfg, Path(tmp), images)
        trial = replace(cfg, **small, metrics=False, workers=0, holdout=1, output="")
        recipe, rt = _recipe(trial, cfg.device, cfg.precision)
        recipe.data_report = recipe.check_data(cancel)
        cancel.check()
        yield Progress(1, total, f"estimate: building the networks on {rt.describe()}…")
        recipe.build()
        loader = make_loader(recipe.dataset(), PositionSampler(len(recipe.dataset()), cfg.seed, cfg.batch), 0)
        cuda = rt.device.type == "cuda"
        if cuda:
            torch.cuda.reset_peak_memory_stats(rt.device)
        recipe.train_mode(True)
        times = []
        try:
            for step in range(timed_steps + 1):
                cancel.check()
                batch = _batch_to(next(loader), rt.device, cuda)
                if cuda:
                    torch.cuda.synchronize(rt.device)
                t0 = time.perf_counter()
                recipe.train_step(batch, step)
                if cuda:
                    torch.cuda.synchronize(rt.device)
                times.append(time.perf_counter() - t0)
                yield Progress(2 + step, total, f"estimate: step {step + 1} took {times[-1]:.2f} s")
            state = [p for net in recipe.nets.values() for p in net.parameters()]
            state_bytes = _bytes_of(state) + _bytes_of(p.grad for p in state if p.grad is not None)
            for opt in recipe.opts.values():
                state_bytes += _bytes_of(v for s in opt.state.values() for v in s.values()
                                         if isinstance(v, torch.Tensor))
            peak = int(torch.cuda.max_memory_allocated(rt.device)) if cuda else None
        finally:
            del recipe
            if cuda:
                torch.cuda.empty_cache()
    per_step = float(np.mean(times[1:])) if len(times) > 1 else float(times[0])
    return {"s_per_step": per_step, "first_step_s": float(times[0]), "steps": int(cfg.steps),
            "total_s": per_step * cfg.steps, "device": rt.describe(), "gpu_memory": peak,
            "state_bytes": int(state_bytes), "batch": int(cfg.batch), "size": int(cfg.size)}


# ---------------------------------------------------------------------------------------------- runs
def list_runs(cancel: Optional[CancelToken] = None, root: str = "") -> list[dict]:
    return runs.list_runs(Path(root))


def run_state(cancel: Optional[CancelToken] = None, run: str = "") -> Optional[dict]:
    return runs.run_state(Path(run))


def run_history(cancel: Optional[CancelToken] = None, run: str = "") -> dict:
    out = runs.read_history(Path(run))
    out["run"] = str(run)
    out["state"] = runs.run_state(Path(run))
    return out


def read_sample(cancel: Optional[CancelToken] = None, path: str = "", step: int = -1) -> dict:
    """A sample grid PNG as an (H, W, 3) uint8 array (the tab shows it)."""
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    return {"image": np.ascontiguousarray(arr), "path": str(path), "step": int(step)}


# ---------------------------------------------------------------------------------------------- use the result
def publish(cancel: Optional[CancelToken] = None, run: str = "", name: str = "") -> list[dict]:
    """"Use in …": the run's generator(s) in the user's model library (``publish_run``). A run published
    before at the same step gives back its entries instead of a second copy. Returns [{"id", "task",
    "arch", "path"}]."""
    from ganstudio.core import manifest
    from ganstudio.training.publish import publish_run, run_summary

    summary = run_summary(run)
    found = [e for e in manifest.load_library()
             if (e.extra or {}).get("run") == str(run) and (e.extra or {}).get("steps") == summary.get("step")
             and manifest.entry_path(e) is not None]
    entries = found or publish_run(run, name or None)
    return [{"id": e.id, "task": e.task, "arch": e.arch, "path": e.path} for e in entries]


def export_final(cancel: Optional[CancelToken] = None, run: str = "", dest: str = "") -> list[str]:
    """Copy the run's ``final/`` files (the generators in the official layouts, the summary) into ``dest``."""
    src = Path(run) / "final"
    runs_summary = src / "summary.json"
    if not runs_summary.is_file():
        raise InputError(f"{Path(run).name} has no finished model yet: let it finish (or resume it to its end)")
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for f in sorted(src.iterdir()):
        if f.is_file():
            shutil.copy2(f, out / f.name)
            written.append(str(out / f.name))
    return written


def export_safetensors_file(cancel: Optional[CancelToken] = None, run: str = "", dest: str = "") -> str:
    from ganstudio.training.publish import export_safetensors

    return str(export_safetensors(run, dest, metadata={"run": Path(run).name}))
