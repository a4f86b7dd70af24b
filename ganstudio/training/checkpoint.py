"""Training checkpoints: the whole state of a run, written so that a crash or ``kill -9`` never loses it.

A checkpoint (``RUN/checkpoints/step_0001200.pt``) holds every network (G, D, EMA), every optimiser,
scheduler and AMP scaler, the augmentation probability, the step, and the random states (python, numpy,
torch, CUDA). The data order needs nothing more: it is a function of the step (``training.data``).

Writing: a temp file in the same folder, flushed and fsync'ed, then renamed over the final name (and the
folder fsync'ed), so the newest complete checkpoint always exists; the newest ``keep`` are kept.
Reading goes through the project's safe reader (``checkpoints.reader.read_checkpoint``): plain tensors
and Python data only, never a code-running pickle. Everything stored is such plain data (numpy's random
state is stored as a tensor plus numbers, not as a numpy object).
"""
from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ganstudio.core.errors import UserError

STEP_RE = re.compile(r"^step_(\d+)\.pt$")


class ResumeError(UserError, ValueError):
    """A run that cannot be resumed, with the reason."""


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step_{step:07d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        m = STEP_RE.match(p.name)
        if m and p.is_file():
            out.append((int(m.group(1)), p))
    return sorted(out)


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


# ---------------------------------------------------------------------------------------------- rng
def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------- io
def save_checkpoint(state: dict, run_dir: Path, step: int, keep: int = 3) -> Path:
    """Write ``state`` atomically as the checkpoint of ``step``; keep the newest ``keep``."""
    dest = checkpoint_path(run_dir, step)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dest.parent)
    for old_step, old in list_checkpoints(run_dir)[:-keep]:
        if old_step != step:
            old.unlink(missing_ok=True)
    return dest


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: Path) -> dict:
    """Read a training checkpoint through the safe reader (no code-running pickle can load)."""
    from ganstudio.checkpoints.reader import CheckpointError, read_checkpoint

    try:
        obj, _fmt = read_checkpoint(path)
    except CheckpointError as exc:
        raise ResumeError(f"cannot resume from {Path(path).name}: {exc}") from exc
    if not isinstance(obj, dict) or "step" not in obj or "nets" not in obj:
        raise ResumeError(f"{Path(path).name} is not a GAN Studio training checkpoint")
    return obj


def clean_temp_files(run_dir: Path) -> None:
    """Temp files of a checkpoint write that was killed half-way (never a complete checkpoint)."""
    folder = Path(run_dir) / "checkpoints"
    if folder.is_dir():
        for p in folder.glob(".step_*.tmp"):
            p.unlink(missing_ok=True)
