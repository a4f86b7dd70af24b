"""Using a finished run: "Use in Stylize / Paint / Latent / Upscale" and shipping a model.

``publish_run(run)`` copies the run's generator(s) from ``final/`` into the user's model library
(``user_models_dir()/trained/<name>/``) and records a manifest entry per generator: task, architecture,
the data it saw, steps, metrics and the recipe as one command line, so the model shows up in its tab's
list (and ``--model <id>`` on the CLI) at once. CycleGAN runs register both directions as one entry.

``export_safetensors(run, dest)`` writes the generator in fp16 safetensors with official key names, the
form the bundled models in ``models/`` ship in (a StyleGAN2 file also holds ``latent_avg``, the
truncation centre).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Optional

import torch

from ganstudio.core import manifest, paths
from ganstudio.core.errors import InputError
from ganstudio.core.files import file_sha256


def run_summary(run) -> dict:
    path = Path(run) / "final" / "summary.json"
    if not path.is_file():
        raise InputError(f"{run} has no finished model yet (final/summary.json): let the run finish, or stop "
                         "it and resume it to its end")
    return json.loads(path.read_text(encoding="utf-8"))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower() or "run"


def publish_run(run, name: Optional[str] = None) -> list[manifest.ModelEntry]:
    """Register the run's generator(s) in the user's library; returns the new entries."""
    run = Path(run)
    summary = run_summary(run)
    final = run / "final"
    name = _slug(name or run.name)
    folder = paths.user_models_dir() / "trained" / name
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for item in summary.get("library", []):
        src_names = list((item.get("files") or {}).values()) or [item["file"]]
        for n in src_names + [f"{item['file']}.json"]:
            if (final / n).is_file():
                shutil.copy2(final / n, folder / n)
        main = folder / item["file"]
        rel = main.relative_to(paths.user_models_dir())
        extra = {"recipe": summary.get("recipe", ""), "steps": summary.get("step"), "data": summary.get("data", ""),
                 "run": str(run), "trained": True}
        if item.get("files"):
            extra["files"] = {d: str((folder / f).relative_to(paths.user_models_dir()))
                              for d, f in item["files"].items()}
        entry = manifest.ModelEntry(
            id=f"trained.{name}", task=item["task"], arch=item["arch"], arch_kwargs=dict(item.get("arch_kwargs") or {}),
            file=str(rel), sha256=file_sha256(main), license="your own training run (the data's licences apply)",
            size_bytes=main.stat().st_size, metrics=dict(summary.get("metrics") or {}),
            description=f"Trained with GAN Studio: {summary.get('task')} for {summary.get('step')} steps on "
                        f"{summary.get('data', 'your data')}", source=manifest.LIBRARY, extra=extra)
        entries.append(manifest.add_library_entry(entry, unique_id=True))
    if not entries:
        raise InputError(f"{run} produced no generator the app can use")
    return entries


def generator_state(run) -> tuple[dict, dict]:
    """(state dict of the run's main generator with official keys, extra tensors) from ``final/``."""
    summary = run_summary(run)
    item = summary["library"][0]
    obj = torch.load(Path(run) / "final" / item["file"], map_location="cpu", weights_only=True)
    extras: dict = {}
    if isinstance(obj, dict) and "g_ema" in obj:  # StyleGAN2: the EMA generator and its truncation centre
        if "latent_avg" in obj:
            extras["latent_avg"] = obj["latent_avg"]
        obj = obj["g_ema"]
    elif isinstance(obj, dict) and "params_ema" in obj:
        obj = obj["params_ema"]
    return obj, extras


def export_safetensors(run, dest, fp16: bool = True, metadata: Optional[dict] = None) -> Path:
    """The run's main generator as safetensors (fp16 by default: half the size, no visible change for
    these networks; the loader upcasts). Buffers such as StyleGAN2's noise maps go along."""
    from safetensors.torch import save_file

    sd, extras = generator_state(run)
    tensors = {k: (v.half() if fp16 and v.is_floating_point() else v).contiguous() for k, v in sd.items()}
    for k, v in extras.items():
        tensors[k] = v.float().contiguous()  # small; kept in fp32
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "ganstudio-generator", **{k: str(v) for k, v in (metadata or {}).items()}}
    save_file(tensors, str(dest), metadata=meta)
    return dest
