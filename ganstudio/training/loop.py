"""The one training loop: every family's run, from the CLI, the Train tab, or a torchrun process.

``train(config=..., resume=RUN, steps=N, cancel=token)`` is an engine generator like every other long
job: it yields Progress (step, losses, it/s, ETA, GPU memory, the sample grid as preview) and returns a
summary dict (run folder, final files, metrics). What it does, in order:

1. settings: a new run takes the recipe's defaults for what was not set and refuses a folder that
   already holds a run (say ``--resume``); a resume reads ``RUN/config.json`` (``--steps`` may raise the
   total: ``--steps`` is the run's total, not a number of extra steps);
2. the data check, before any step (clear messages, never a crash later);
3. networks, optimisers; on resume the newest checkpoint: nets, EMA, optimisers, schedulers, scaler,
   augmentation probability, step and random states, so the resumed run equals an uninterrupted one;
4. steps. Every ``log_every``: a line in ``metrics.jsonl``; every ``sample_every``: a grid of the fixed
   inputs in ``samples/``; every ``checkpoint_every``: a checkpoint (atomic; the newest ``keep`` kept)
   and the metrics. Sampling and metrics run on forked random streams, so they never change training.
   Cancel (Ctrl-C, the Train tab's Stop) writes a checkpoint first; Pause waits between steps;
5. the end: a last checkpoint, metrics, and ``final/`` with the generators in the official layouts.

Under ``torchrun`` (WORLD_SIZE > 1) every process runs this loop on its share of each batch (DDP); only
rank 0 writes files. Stop and Pause reach the processes unevenly (the Train tab's words reach rank 0 only,
through its stdin; a signal may reach any rank), so before every step the ranks share their Stop / Pause
flags (``agree``: a two-number all_reduce) and all stop at the same step, wait for rank 0's checkpoint and
exit, or pause together.
"""
from __future__ import annotations

import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ganstudio.core.errors import InputError
from ganstudio.core.progress import CancelToken, Cancelled, EtaClock, Progress, format_eta
from ganstudio.runtime import resolve_runtime
from ganstudio.training import checkpoint as ckpt
from ganstudio.training.config import TrainConfig
from ganstudio.training.data import PositionSampler, make_loader
from ganstudio.training.recipe import World

log = logging.getLogger(__name__)

RECIPES = {
    "stylegan2": "ganstudio.training.recipes.stylegan2:StyleGAN2Recipe",
    "dcgan": "ganstudio.training.recipes.dcgan:DCGANRecipe",
    "cyclegan": "ganstudio.training.recipes.cyclegan:CycleGANRecipe",
    "pix2pix": "ganstudio.training.recipes.pix2pix:Pix2PixRecipe",
    "spade": "ganstudio.training.recipes.spade:SPADERecipe",
    "esrgan": "ganstudio.training.recipes.esrgan:ESRGANRecipe",
}


def recipe_class(task: str):
    import importlib

    if task not in RECIPES:
        raise InputError(f"unknown training task {task!r}: one of {', '.join(RECIPES)}")
    module, _, name = RECIPES[task].partition(":")
    return getattr(importlib.import_module(module), name)


def defaults_for(task: str) -> dict:
    """The recipe's default settings (the Train tab prefills its fields with them)."""
    return dict(recipe_class(task).defaults)


# ---------------------------------------------------------------------------------------------- world
def init_world() -> World:
    """Read torchrun's environment; start the process group when there is more than one process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return World(rank, size, local)


def _seed_everything(seed: int, rank: int) -> None:
    # each process draws its own noise (rank-dependent); the data order and augmentation do not depend
    # on this (they are functions of the sample position, see training.data)
    s = int(seed) * 1000 + rank
    random.seed(s)
    np.random.seed(s % (2 ** 32))
    torch.manual_seed(s)


def _batch_to(batch: dict, device: torch.device, channels_last: bool = False) -> dict:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if channels_last and v.dim() == 4 and v.is_floating_point():
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


PAUSE_POLL_S = 0.25  # a paused distributed run asks the other ranks this often whether it may go on


def agree(world: World, cancel: CancelToken, device: torch.device) -> None:
    """Between steps: wait while paused, raise ``Cancelled`` when stopped. In one process this is the token's
    own check. Under torchrun every rank calls it at the same step and they share their flags (max over ranks
    of [stopped, paused], one tiny all_reduce), so one rank's Stop or Pause is every rank's: a rank never
    leaves the others waiting in a collective."""
    if not world.distributed:
        cancel.check()
        return
    import torch.distributed as dist

    on = device if dist.get_backend() == "nccl" else torch.device("cpu")  # NCCL reduces CUDA tensors only
    while True:
        flags = torch.tensor([float(cancel.cancelled), float(cancel.paused)], device=on)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, paused = flags.tolist()
        if stop:
            raise Cancelled()
        if not paused:
            return
        time.sleep(PAUSE_POLL_S)  # every rank asks again together: the same number of collectives everywhere


def _leave(world: World) -> None:
    """The end of a distributed run, on every rank: wait for all (rank 0 may still be writing files), then leave
    the process group explicitly. Left to interpreter shutdown, the teardown races the other ranks' exits
    (a rank was seen aborting with SIGABRT there), which torchrun reports as a failed run."""
    if not world.distributed:
        return
    import torch.distributed as dist

    dist.barrier()
    dist.destroy_process_group()


def _gpu_memory(device: torch.device) -> Optional[int]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return None


# ---------------------------------------------------------------------------------------------- settings
def prepare_config(config=None, resume: Optional[str] = None, steps: Optional[int] = None) -> tuple:
    """(TrainConfig with defaults, run folder, checkpoint to resume from or None)."""
    if resume:
        run = Path(resume)
        cfg_path = run / "config.json"
        if not cfg_path.is_file():
            raise InputError(f"{run} is not a training run folder (no config.json): start a new run with -o")
        cfg = TrainConfig.load(cfg_path)
        latest = ckpt.latest_checkpoint(run)
        if steps:
            cfg.steps = int(steps)
        cfg.output = str(run)
        return cfg, run, latest
    if config is None:
        raise InputError("nothing to train: give a configuration or --resume RUN")
    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(dict(config))
    if steps:
        cfg.steps = int(steps)
    cfg = cfg.with_defaults(defaults_for(cfg.task))
    cfg.validate()
    if not cfg.output:
        raise InputError("where should the run go? give an output folder (-o RUN)")
    run = Path(cfg.output)
    if run.exists() and not run.is_dir():
        raise InputError(f"{run} is a file; the run needs a folder")
    if (run / "config.json").exists() or ckpt.list_checkpoints(run):
        raise InputError(f"{run} already holds a training run: continue it with `ganstudio train --resume {run}` "
                         "or choose a new folder")
    if cfg.batch < 1 or cfg.steps < 1:
        raise InputError("batch and steps must be at least 1")
    return cfg, run, None


# ---------------------------------------------------------------------------------------------- the loop
def train(config=None, resume: Optional[str] = None, steps: Optional[int] = None,
          cancel: Optional[CancelToken] = None):
    """Engine generator: see the module docstring. Returns {"run", "final", "files", "step", "metrics"}."""
    cancel = cancel or CancelToken()
    cfg, run, latest = prepare_config(config, resume, steps)
    world = init_world()
    device_pref = cfg.device
    if world.distributed and torch.cuda.is_available() and cfg.device in ("auto", "cuda", "gpu"):
        device_pref = f"cuda:{world.local_rank}"
    rt = resolve_runtime(device_pref, cfg.precision)
    _seed_everything(cfg.seed, world.rank)
    recipe = recipe_class(cfg.task)(cfg, rt, world)

    yield Progress(0, cfg.steps, "checking the training data…", extra={"phase": "data"})
    report = recipe.check_data(cancel)
    recipe.data_report = report
    data_line = report.summary()
    yield Progress(0, cfg.steps, f"data: {data_line}", extra={"phase": "data", "data": data_line,
                                                              "notes": list(report.notes)})
    agree(world, cancel, rt.device)
    recipe.build()
    for note in recipe.notes:
        log.info("%s: %s", cfg.task, note)
    start = 0
    train_seconds = 0.0  # time spent in training steps over every session of the run (for the model card)
    if latest is not None:
        state = ckpt.load_checkpoint(latest)
        recipe.load_state_dict(state)
        start = int(state["step"])
        train_seconds = float(state.get("train_seconds", 0.0))
        ckpt.set_rng_state(state["rng"])
        log.info("resumed %s from step %d (%s)", run, start, latest.name)
    if world.is_main:
        run.mkdir(parents=True, exist_ok=True)
        cfg.output = str(run)
        cfg.save(run / "config.json")
        ckpt.clean_temp_files(run)
        (run / "data.json").write_text(json.dumps({"summary": data_line, "notes": report.notes,
                                                   "unreadable": [[str(p), r] for p, r in report.unreadable],
                                                   "unmatched": [[str(p), r] for p, r in report.unmatched]},
                                                  indent=1), encoding="utf-8")

    dataset = recipe.dataset()
    sampler = PositionSampler(len(dataset), cfg.seed, cfg.batch, start, world.rank, world.size)
    loader = make_loader(dataset, sampler, cfg.workers, pin=rt.device.type == "cuda")
    channels_last = rt.device.type == "cuda"
    metrics_log = run / "metrics.jsonl"
    step = start
    recipe.step = step
    clock, t_last, step_last = EtaClock(), time.monotonic(), start
    it_s = 0.0
    last_metrics: dict = {}
    preview = None
    saved_at = -1

    def write_checkpoint(at: int) -> None:
        nonlocal saved_at, last_metrics
        if at == saved_at:
            return
        if world.is_main:
            state = recipe.state_dict()
            state.update({"step": at, "rng": ckpt.rng_state(), "config": cfg.to_dict(),
                          "train_seconds": train_seconds})
            ckpt.save_checkpoint(state, run, at, keep=cfg.keep)
        saved_at = at

    def log_line(record: dict) -> None:
        if world.is_main:
            with open(metrics_log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    def sample(at: int):
        with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
            recipe.train_mode(False)
            try:
                with torch.no_grad():
                    img = recipe.sample_grid()
            finally:
                recipe.train_mode(True)
        if world.is_main and img is not None:
            from ganstudio.core.imageio import write_image

            (run / "samples").mkdir(exist_ok=True)
            write_image(run / "samples" / f"step_{at:07d}.png", img)
        return img

    def evaluate(at: int) -> dict:
        if not cfg.metrics or not world.is_main:
            return {}
        with torch.random.fork_rng(devices=[rt.device] if rt.device.type == "cuda" else []):
            recipe.train_mode(False)
            try:
                with torch.no_grad():
                    values = recipe.evaluate()
            finally:
                recipe.train_mode(True)
        if values:
            log_line({"step": at, "metrics": values})
        return values

    recipe.train_mode(True)
    try:
        if start == 0 and world.is_main:
            preview = sample(0)
            yield Progress(0, cfg.steps, "step 0: starting", preview=preview,
                           extra={"phase": "train", "step": 0, "sample_step": 0,
                                  "sample_path": str(run / "samples" / "step_0000000.png")})
        while step < cfg.steps:
            agree(world, cancel, rt.device)
            t_step = time.monotonic()
            batch = _batch_to(next(loader), rt.device, channels_last)
            losses = recipe.train_step(batch, step)
            train_seconds += time.monotonic() - t_step
            step += 1
            recipe.step = step
            now = time.monotonic()
            if now - t_last >= 1.0 or step == cfg.steps:
                it_s = (step - step_last) / max(now - t_last, 1e-9)
                t_last, step_last = now, step
            if step % cfg.log_every == 0 or step == cfg.steps:
                log_line({"step": step, "losses": {k: round(float(v), 6) for k, v in losses.items()},
                          "it_s": round(it_s, 4), "train_seconds": round(train_seconds, 1),
                          "time": round(time.time(), 1)})
            preview = None
            extra = {"phase": "train", "step": step, "losses": losses, "it_s": it_s,
                     "gpu_memory": _gpu_memory(rt.device)}
            if cfg.sample_every and step % cfg.sample_every == 0:
                preview = sample(step)
                extra["sample_step"] = step
                extra["sample_path"] = str(run / "samples" / f"step_{step:07d}.png")
            if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
                write_checkpoint(step)
                last_metrics = evaluate(step) or last_metrics
                extra["checkpoint"] = step
                extra["metrics"] = last_metrics
            while recipe.messages:
                extra.setdefault("messages", []).append(recipe.messages.pop(0))
            eta = clock.eta_seconds(step - start, cfg.steps - start)
            extra["eta_s"] = eta
            loss_text = " ".join(f"{k} {v:.3f}" for k, v in list(losses.items())[:4])
            yield Progress(step, cfg.steps, f"step {step}/{cfg.steps} · {loss_text} · {it_s:.2f} it/s · "
                                            f"ETA {format_eta(eta)}", preview=preview, extra=extra)
    except (Cancelled, KeyboardInterrupt) as exc:
        # Stop / Ctrl-C: keep every finished step. The checkpoint is of the last completed step.
        write_checkpoint(step)
        if isinstance(exc, Cancelled):
            exc.run = str(run)
            exc.step = step
            # every rank stopped at this step (agree); none may exit before rank 0 has written the checkpoint:
            # torchrun ends the other ranks as soon as one has exited
            _leave(world)
        raise
    write_checkpoint(step)
    yield Progress(step, cfg.steps, "computing the final metrics…", extra={"phase": "metrics", "step": step})
    final_metrics = evaluate(step) or last_metrics
    files: list[Path] = []
    if world.is_main:
        final = run / "final"
        final.mkdir(exist_ok=True)
        files = recipe.export(final)
        summary = {"task": cfg.task, "step": step, "metrics": final_metrics, "files": [f.name for f in files],
                   "train_seconds": round(train_seconds, 1),
                   "recipe": cfg.recipe_cli(), "data": data_line, "notes": list(recipe.notes),
                   "runtime": rt.describe(), "library": recipe.library_entries()}
        (final / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        sample(step)
    _leave(world)
    return {"run": str(run), "final": str(run / "final"), "files": [str(f) for f in files], "step": step,
            "metrics": final_metrics}
