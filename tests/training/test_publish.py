"""Using a finished run: the library entry ("Use in ...") and the fp16 safetensors bundle."""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402

from ganstudio.checkpoints.cache import resolve_model  # noqa: E402
from ganstudio.checkpoints.loader import load_model  # noqa: E402
from ganstudio.core.progress import run_to_completion  # noqa: E402
from ganstudio.training.loop import train  # noqa: E402
from ganstudio.training.publish import export_safetensors, publish_run  # noqa: E402


def _tiny_stylegan2(tmp_path) -> Path:
    cfg = dict(task="stylegan2", data=str(td.blobs(tmp_path / "d")), size=16, steps=2, batch=2, holdout=0,
               checkpoint_every=0, sample_every=0, metrics=False, precision="fp32", output=str(tmp_path / "run"),
               arch={"style_dim": 16, "n_mlp": 2, "channels": {"4": 16, "8": 16, "16": 8}})
    return Path(run_to_completion(train(config=cfg))["run"])


def test_publish_registers_the_generator_with_its_recipe_and_it_resolves_by_id(tmp_path):
    run = _tiny_stylegan2(tmp_path)
    [entry] = publish_run(run, name="my faces")
    assert entry.id.startswith("trained.my-faces") and entry.task == "latent" and entry.arch == "stylegan2"
    assert entry.extra["steps"] == 2 and entry.extra["recipe"].startswith("ganstudio train stylegan2")
    resolved = resolve_model(entry.id)
    assert resolved.path.is_file() and resolved.sha256 == entry.sha256
    net, desc = load_model(resolved.path)
    assert desc.family == "stylegan2" and "latent_avg" in desc.extras


def test_fp16_safetensors_bundle_loads_and_renders_like_the_fp32_generator(tmp_path):
    run = _tiny_stylegan2(tmp_path)
    dest = export_safetensors(run, tmp_path / "bundle.safetensors")
    net16, desc = load_model(dest)
    ref = torch.load(run / "final" / "stylegan2.pt", map_location="cpu", weights_only=True)
    net32, _ = load_model(ref["g_ema"])
    assert torch.equal(desc.extras["latent_avg"].float(), ref["latent_avg"].float())
    w = torch.randn(2, 16)
    with torch.no_grad():
        a, _ = net16([w], randomize_noise=False)
        b, _ = net32([w], randomize_noise=False)
    assert float((a - b).abs().max()) < 0.02  # fp16 weights: a rounding difference, not another picture
    assert dest.stat().st_size < (run / "final" / "stylegan2.pt").stat().st_size
