"""A training run folder as the Train tab sees it: which process trains it, its state, its history.

Plain Python (no torch, no Qt): the process runner (``workers.process_runner``) writes the files below and
the Train tab's worker jobs (``training.jobs``) read them. The trainer itself writes the rest of the folder
(``config.json``, ``checkpoints/``, ``samples/``, ``metrics.jsonl``, ``final/``; see ``training.loop``).

Files the tab adds to a run folder:

* ``request.json``   the settings the tab asked for, given to the child as ``--config`` (``config.json``,
  written by the trainer, is the complete recipe);
* ``train.pid``      ``{"pid", "started", "command", "nproc"}`` while a process trains the run. Written when
  the tab starts the child, removed when the tab sees it end cleanly (finished, stopped, refused). Left
  behind when the window closed with "keep training": the next start of the app finds the process alive
  (the run is *running*) or gone (the run *finished*, or else *crashed* and can be resumed);
* ``progress.jsonl`` the child's stdout (``--progress-json`` lines): a file, not a pipe, so a child that
  outlives the window never writes into a closed pipe, and a reopened window can follow it again;
* ``train.log``      the child's stderr, appended across resumes.

States (``run_state``): ``running``, ``finished``, ``stopped`` (at step N of M, resumable), ``crashed``
(the process died: resumable from its last checkpoint), ``failed`` (ended before writing its settings:
nothing to resume).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

REQUEST_FILE = "request.json"
PID_FILE = "train.pid"
PROGRESS_FILE = "progress.jsonl"
LOG_FILE = "train.log"

# the tab a finished run's generator is used in
TASK_TABS = {"stylegan2": "Latent", "dcgan": "Latent", "spade": "Paint", "cyclegan": "Stylize",
             "pix2pix": "Stylize", "esrgan": "Upscale"}


# ---------------------------------------------------------------------------------------------- the process
def write_pid(run: Path, pid: int, command: list[str], nproc: int = 1) -> Path:
    from ganstudio.core.files import write_text_atomic

    path = Path(run) / PID_FILE
    write_text_atomic(path, json.dumps({"pid": int(pid), "started": time.time(), "command": list(command),
                                        "nproc": int(nproc)}) + "\n")
    return path


def read_pid(run: Path) -> Optional[dict]:
    """The pid record of the run, or None (no file, or a file that is not a pid record)."""
    try:
        data = json.loads((Path(run) / PID_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
        return None
    return data


def remove_pid(run: Path) -> None:
    (Path(run) / PID_FILE).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, or a recycled pid now running something else, is not
    the training process: both count as gone)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":
        return _pid_alive_windows(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else: not ours, but alive
        return True
    except OSError:
        return False
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():  # Linux: rule out zombies and recycled pids
        try:
            stat = (proc / "stat").read_text()
            if stat[stat.rfind(")") + 2:].startswith(("Z", "X")):
                return False
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return True
        return b"ganstudio" in cmdline or b"torch.distributed.run" in cmdline or b"torchrun" in cmdline
    return True


def _pid_alive_windows(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    code = ctypes.c_ulong()
    ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
    kernel32.CloseHandle(handle)
    return bool(ok) and code.value == 259  # STILL_ACTIVE


def running_pid(run: Path) -> Optional[int]:
    """The pid of the process training ``run`` now, or None."""
    rec = read_pid(run)
    return rec["pid"] if rec is not None and pid_alive(rec["pid"]) else None


# ---------------------------------------------------------------------------------------------- state
def _read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _last_lines(path: Path, limit: int = 16384) -> list[str]:
    """The last few lines of a (possibly large) text file, read from its end."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            tail = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = tail.splitlines()
    return lines[1:] if size > limit else lines  # the first one may be cut


def last_logged_step(run: Path) -> int:
    """The newest step in metrics.jsonl (0 when none)."""
    for line in reversed(_last_lines(Path(run) / "metrics.jsonl")):
        try:
            return int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            continue
    return 0


def checkpoint_steps(run: Path) -> list[int]:
    folder = Path(run) / "checkpoints"
    if not folder.is_dir():
        return []
    steps = []
    for p in folder.glob("step_*.pt"):
        try:
            steps.append(int(p.stem.split("_", 1)[1]))
        except ValueError:
            continue
    return sorted(steps)


def newest_sample(run: Path) -> str:
    folder = Path(run) / "samples"
    found = sorted(folder.glob("step_*.png")) if folder.is_dir() else []
    return str(found[-1]) if found else ""


def run_state(run: Path) -> Optional[dict]:
    """What the runs list shows for one folder, or None when it is no training run.

    Keys: path, name, task, tab, steps (the run's total), step (how far it got), checkpoint (newest
    checkpoint step or 0), state, text ("stopped at step 40 of 1000"), resumable, pid, updated (mtime),
    sample (newest sample grid), data (the data check's line)."""
    run = Path(run)
    config = _read_json(run / "config.json")
    request = _read_json(run / REQUEST_FILE)
    settings = config or request
    if settings is None or "task" not in settings:
        return None
    task = str(settings.get("task"))
    total = int(settings.get("steps") or 0)
    ckpts = checkpoint_steps(run)
    checkpoint = ckpts[-1] if ckpts else 0
    summary = _read_json(run / "final" / "summary.json")
    pid_rec = read_pid(run)
    pid = pid_rec["pid"] if pid_rec is not None and pid_alive(pid_rec["pid"]) else None
    step = max(checkpoint, last_logged_step(run))
    finished = summary is not None and int(summary.get("step") or 0) >= total > 0
    if pid is not None:
        state, text = "running", f"running: step {step} of {total}"
    elif finished:
        step = int(summary.get("step") or step)
        state, text = "finished", f"finished: {step} steps"
    elif config is None:
        state, text = "failed", "ended before training started"
    elif pid_rec is not None:  # the process died without its window seeing it end
        state = "crashed"
        text = (f"crashed at step {step} of {total}; resumes from step {checkpoint}" if checkpoint
                else f"crashed at step {step} of {total}, before its first checkpoint")
    else:
        state = "stopped"
        text = f"stopped at step {checkpoint} of {total}"
    data = _read_json(run / "data.json") or {}
    try:
        updated = max(p.stat().st_mtime for p in [run, *run.iterdir()])
    except (OSError, ValueError):
        updated = 0.0
    return {"path": str(run), "name": run.name, "task": task, "tab": TASK_TABS.get(task, ""), "steps": total,
            "step": step, "checkpoint": checkpoint, "state": state, "text": text,
            "resumable": state in ("stopped", "crashed", "finished") and config is not None, "pid": pid,
            "updated": updated, "sample": newest_sample(run), "data": str(data.get("summary", "")),
            "final": summary is not None}


def list_runs(root: Path) -> list[dict]:
    """Every training run under ``root`` (one level deep), newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir():
            state = run_state(child)
            if state is not None:
                found.append(state)
    found.sort(key=lambda s: s["updated"], reverse=True)
    return found


# ---------------------------------------------------------------------------------------------- history
def read_history(run: Path) -> dict:
    """metrics.jsonl as columns: {"losses": {name: [[step, value], ...]}, "metrics": {name: [[step, value]]}}
    (a line that does not parse, e.g. the half-written last one of a killed run, is skipped)."""
    losses: dict[str, list] = {}
    metrics: dict[str, list] = {}
    try:
        fh = open(Path(run) / "metrics.jsonl", encoding="utf-8")
    except OSError:
        return {"losses": losses, "metrics": metrics}
    with fh:
        for line in fh:
            try:
                rec = json.loads(line)
                step = int(rec["step"])
            except (ValueError, KeyError, TypeError):
                continue
            for key, out in (("losses", losses), ("metrics", metrics)):
                values = rec.get(key)
                if isinstance(values, dict):
                    for name, v in values.items():
                        if isinstance(v, (int, float)):
                            out.setdefault(name, []).append([step, float(v)])
    return {"losses": losses, "metrics": metrics}
