"""Shared steps of the bundled models' recipes: run a command, bundle a run into models/, update the
manifest entry, read metrics. Each recipe (faces.py, fashion.py, landscapes.py, painting.py) is one
command that rebuilds its model from nothing: data maker -> `ganstudio train` -> measurements -> bundle.
"""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
MANIFEST = MODELS / "manifest"


def run(cmd: list, log=print) -> None:
    """Run a command (a list), echoing it; stop the recipe if it fails."""
    log("$ " + " ".join(shlex.quote(str(c)) for c in cmd))
    t = time.monotonic()
    subprocess.run([str(c) for c in cmd], check=True)
    log(f"  ({time.monotonic() - t:.0f} s)")


def ganstudio(*args) -> list:
    return [sys.executable, "-m", "ganstudio", *args]


def datamaker(*args) -> list:
    return [sys.executable, "-m", "ganstudio.datamakers", *args]


def train_or_resume(run_dir: Path, train_args: list, steps: int) -> None:
    """Start the run, or resume it to ``steps`` when it exists (a recipe may span sessions)."""
    if (run_dir / "config.json").is_file():
        run(ganstudio("train", "--resume", run_dir, "--steps", steps))
    else:
        run(ganstudio("train", *train_args, "--steps", steps, "-o", run_dir))


def sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def update_manifest(task: str, entry: dict) -> None:
    """Insert or replace the entry with ``entry["id"]`` in models/manifest/<task>.json (first position:
    the bundled model is what a fresh install selects)."""
    path = MANIFEST / f"{task}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    models = [m for m in data["models"] if m.get("id") != entry["id"]]
    data["models"] = [entry] + models
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def last_metrics(run_dir: Path) -> dict:
    found = {}
    p = run_dir / "metrics.jsonl"
    if p.is_file():
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if "metrics" in rec:
                found = dict(rec["metrics"], step=rec["step"])
    return found


def run_facts(run_dir: Path) -> dict:
    """Steps, wall time and machine of a run, from its metrics log and config."""
    cfg = json.loads((run_dir / "config.json").read_text())
    times = [json.loads(x).get("time") for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    times = [t for t in times if t]
    return {"config": cfg, "steps": cfg["steps"], "logged_seconds": (max(times) - min(times)) if times else None}
