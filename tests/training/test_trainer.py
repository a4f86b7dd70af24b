"""The trainer (issue 11): every task trains, resumes exactly, checks its data, exports official files."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import train_data as td  # noqa: E402

from ganstudio.checkpoints.loader import load_model  # noqa: E402
from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion  # noqa: E402
from ganstudio.training.loop import train  # noqa: E402

FAST = dict(steps=4, batch=2, checkpoint_every=2, sample_every=2, metrics=False, holdout=2, precision="fp32")


def tiny_configs(root: Path) -> dict:
    return {
        "dcgan": dict(task="dcgan", data=str(td.blobs(root / "blobs")), size=16, arch={"ngf": 4, "ndf": 4}),
        "stylegan2": dict(task="stylegan2", data=str(td.blobs(root / "blobs2")), size=16, augment="ada",
                          arch={"style_dim": 16, "n_mlp": 2, "channels": {"4": 16, "8": 16, "16": 8}},
                          options={"g_reg_every": 2, "d_reg_every": 2}),
        "cyclegan": dict(task="cyclegan", data_a=str(td.smooth_images(root / "ca", 6)),
                         data_b=str(td.blobs(root / "cb", 6, 32)), size=32, batch=1,
                         arch={"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_D": 2}),
        "pix2pix": dict(task="pix2pix", data_a=str(td.inverted_pairs(root / "pp")[0]), data_b=str(root / "pp" / "B"),
                        size=32, arch={"ngf": 4, "ndf": 4, "num_downs": 5}),
        "spade": dict(task="spade", labels=str(td.label_photo_pairs(root / "sp")[0]), images=str(root / "sp" / "images"),
                      label_set="ade20k", size=32, arch={"ngf": 2, "nhidden": 8, "ndf": 4},
                      options={"lambda_perceptual": 0.0}),
        "esrgan": dict(task="esrgan", data=str(td.smooth_images(root / "hr", 6, 64)), size=32, from_model="none",
                       arch={"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "d_feat": 8},
                       options={"perceptual": 0.0}),
    }


def _run(cfg: dict, out: Path, **over):
    c = dict(FAST)
    c.update(cfg)
    c.update(over)
    c["output"] = str(out)
    return run_to_completion(train(config=c))


def _losses(run: Path) -> list[dict]:
    return [r["losses"] for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "losses" in r]


EXPECTED_FILES = {
    "dcgan": ["netG.pth", "netD.pth"], "stylegan2": ["stylegan2.pt"],
    "cyclegan": ["latest_net_G_A.pth", "latest_net_G_B.pth", "latest_net_D_A.pth", "latest_net_D_B.pth"],
    "pix2pix": ["latest_net_G.pth", "latest_net_D.pth"], "spade": ["latest_net_G.pth", "latest_net_D.pth"],
    "esrgan": ["net_g.pth", "net_d.pth"],
}
FAMILY = {"dcgan": "dcgan", "stylegan2": "stylegan2", "cyclegan": "cyclegan", "pix2pix": "cyclegan",
          "spade": "spade", "esrgan": "rrdbnet"}


@pytest.mark.parametrize("task", list(EXPECTED_FILES))
def test_each_task_trains_checkpoints_samples_and_exports_loadable_files(task, tmp_path):
    cfg = tiny_configs(tmp_path)[task]
    run = tmp_path / "run"
    result = _run(cfg, run, log_every=1)
    assert result["step"] == 4
    names = [Path(f).name for f in result["files"]]
    assert all(n in names for n in EXPECTED_FILES[task])
    # the losses move (a step that changed nothing would give identical numbers) and stay finite
    logged = _losses(run)
    assert len(logged) == 4
    key = next(iter(logged[0]))
    values = [r[key] for r in logged]
    assert all(np.isfinite(values)) and len(set(values)) > 1
    # checkpoints (the newest kept), sample grids at 0 / 2 / 4, config for --resume
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000002.pt", "step_0000004.pt"]
    assert {p.name for p in (run / "samples").iterdir()} >= {"step_0000000.png", "step_0000002.png",
                                                            "step_0000004.png"}
    assert json.loads((run / "config.json").read_text())["task"] == task
    # the generator file loads through the app's loader, as the family it is
    gen_file = run / "final" / EXPECTED_FILES[task][0]
    net, desc = load_model(gen_file)
    assert desc.family == FAMILY[task]
    summary = json.loads((run / "final" / "summary.json").read_text())
    assert summary["recipe"].startswith(f"ganstudio train {task}")


def _final_state(run: Path, name: str) -> dict:
    obj = torch.load(run / "final" / name, map_location="cpu", weights_only=True)
    return obj.get("g_ema", obj.get("params_ema", obj)) if isinstance(obj, dict) else obj


@pytest.mark.parametrize("task", ["dcgan", "stylegan2", "cyclegan"])
def test_stop_then_resume_equals_an_uninterrupted_run(task, tmp_path):
    """A run stopped at step 2 (checkpoint on Stop) and resumed to 4 ends with the same weights."""
    cfg = tiny_configs(tmp_path)[task]
    straight = tmp_path / "straight"
    _run(cfg, straight, checkpoint_every=3, sample_every=3)

    split = tmp_path / "split"
    token = CancelToken()
    c = dict(FAST, **cfg, output=str(split), checkpoint_every=3, sample_every=3)
    gen = train(config=c, cancel=token)

    def stop_at_two(p):
        if p.extra.get("step") == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        run_to_completion(gen, stop_at_two)
    assert [p.name for p in (split / "checkpoints").iterdir()] == ["step_0000002.pt"]
    result = run_to_completion(train(resume=str(split)))
    assert result["step"] == 4
    name = EXPECTED_FILES[task][0]
    a, b = _final_state(straight, name), _final_state(split, name)
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())
    assert worst <= 1e-6


def test_resume_continues_to_a_higher_total_and_refuses_a_used_folder(tmp_path):
    cfg = tiny_configs(tmp_path)["dcgan"]
    run = tmp_path / "run"
    _run(cfg, run)
    with pytest.raises(Exception, match="already holds a training run"):
        _run(cfg, run)
    result = run_to_completion(train(resume=str(run), steps=6))
    assert result["step"] == 6
    assert "step_0000006.pt" in [p.name for p in (run / "checkpoints").iterdir()]


def test_pix2pix_learns_colour_inversion(tmp_path):
    """Held-out L1 of the trained generator is less than half that of the untrained one."""
    a, b = td.inverted_pairs(tmp_path / "train", n=16, size=32, seed=1)
    ha, hb = td.inverted_pairs(tmp_path / "held", n=4, size=32, seed=99)
    cfg = dict(task="pix2pix", data_a=str(a), data_b=str(b), size=32, batch=4, lr=2e-3, holdout=0,
               arch={"ngf": 8, "ndf": 8, "num_downs": 5, "dropout": False}, options={"decay_start": 1.0},
               checkpoint_every=0, sample_every=0, metrics=False, precision="fp32")
    from ganstudio.training.data import load_rgb, to_tensor

    xs = torch.stack([to_tensor(load_rgb(f)) for f in sorted(ha.glob("*.png"))])
    ys = torch.stack([to_tensor(load_rgb(f)) for f in sorted(hb.glob("*.png"))])

    def held_l1(run):
        net, _ = load_model(run / "final" / "latest_net_G.pth")
        with torch.no_grad():
            return float((net(xs) - ys).abs().mean())

    before = held_l1(Path(_run(cfg, tmp_path / "r0", steps=1)["run"]))
    after = held_l1(Path(_run(cfg, tmp_path / "r1", steps=60)["run"]))
    assert after < before / 2, (before, after)


# ------------------------------------------------------------------------------------------ data checks
def _expect_data_error(cfg, tmp_path, match):
    from ganstudio.training.data import DataError

    with pytest.raises(DataError, match=match):
        _run(cfg, tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before step 1


def test_empty_folder_and_too_few_images_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect_data_error(dict(task="dcgan", data=str(tmp_path / "empty")), tmp_path, "holds no images")
    td.blobs(tmp_path / "three", n=3)
    _expect_data_error(dict(task="dcgan", data=str(tmp_path / "three")), tmp_path, "has 3 usable image")
    _expect_data_error(dict(task="dcgan", data=str(tmp_path / "nope")), tmp_path, "does not exist")


def test_unreadable_files_are_listed_and_skipped_and_mixed_modes_converted(tmp_path):
    from PIL import Image

    folder = td.blobs(tmp_path / "d", n=10)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "readme.txt").write_text("not an image")
    Image.fromarray(np.full((50, 30), 128, np.uint8)).save(folder / "grey.png")
    msgs = []
    run = tmp_path / "run"
    c = dict(FAST, task="dcgan", data=str(folder), size=16, arch={"ngf": 4, "ndf": 4}, steps=1, output=str(run))
    run_to_completion(train(config=c), lambda p: msgs.append(p.message))
    data_line = next(m for m in msgs if m.startswith("data:"))
    assert "11 images" in data_line and "1 unreadable: broken.png" in data_line
    saved = json.loads((run / "data.json").read_text())
    assert any("mixed image modes" in n for n in saved["notes"]) and any("sizes" in n for n in saved["notes"])


def test_unmatched_pairs_are_listed_and_too_few_pairs_refused(tmp_path):
    a, b = td.inverted_pairs(tmp_path / "p", n=4)
    for f in list(b.glob("*.png"))[:3]:
        f.rename(f.with_name("other_" + f.name))
    _expect_data_error(dict(task="pix2pix", data_a=str(a), data_b=str(b), size=32), tmp_path,
                       r"only 1 input/target pair.*no target named 00")


def test_label_ids_outside_the_label_set_are_refused(tmp_path):
    labels, images = td.label_photo_pairs(tmp_path / "sp", n=3, labels=(3, 5, 10))
    _expect_data_error(dict(task="spade", labels=str(labels), images=str(images), label_set="4", size=32),
                       tmp_path, r"label ids \[5, 10\] are outside the label set \(4 labels")


def test_images_smaller_than_the_crop_are_refused(tmp_path):
    td.smooth_images(tmp_path / "small", n=4, size=24)
    _expect_data_error(dict(task="esrgan", data=str(tmp_path / "small"), size=64, from_model="none"),
                       tmp_path, "usable image")


# ------------------------------------------------------------------------------------------ exports
def _official_keys(parity_dir: Path, rel: str) -> list[str]:
    return [k for k, _shape in json.loads((parity_dir / rel).read_text())]


@pytest.mark.parametrize("task,arch,size,extra,file,key,parity", [
    ("dcgan", {}, 64, {}, "netG.pth", None, "dcgan/keys_full.json"),
    ("cyclegan", {}, 256, {}, "latest_net_G_A.pth", None, "cyclegan/keys_full.json"),
    ("pix2pix", {}, 256, {}, "latest_net_G.pth", None, "cyclegan/keys_full_unet256_pix2pix.json"),
    ("esrgan", {}, 64, {"from_model": "none"}, "net_g.pth", "params_ema", "esrgan/keys_full.json"),
    ("stylegan2", {}, 256, {}, "stylegan2.pt", "g_ema", "stylegan2/keys_full_256.json"),
    ("spade", {}, 256, {"label_set": "ade20k", "options": {"lambda_perceptual": 0.0}}, "latest_net_G.pth", None,
     "spade/keys_full_ade20k.json"),
])
def test_exported_files_have_the_official_key_lists(task, arch, size, extra, file, key, parity, parity_dir, tmp_path):
    """Built with the official default architecture, the export's keys are the official ones, in order."""
    from ganstudio.runtime import resolve_runtime
    from ganstudio.training.config import TrainConfig
    from ganstudio.training.loop import defaults_for
    from ganstudio.training.recipe import World

    cfg = TrainConfig(task=task, size=size, output=str(tmp_path), **extra).with_defaults(defaults_for(task))
    from ganstudio.training.loop import recipe_class

    recipe = recipe_class(task)(cfg, resolve_runtime("cpu", "fp32"), World())
    if task == "spade":
        from ganstudio.training.recipes.spade import label_set_options

        recipe.ls = label_set_options("ade20k")
    recipe.build()
    if task == "stylegan2":  # the export computes the truncation centre: keep it quick
        recipe.latent_avg = lambda n=4096: torch.zeros(1, 512)
    recipe.export(tmp_path)
    obj = torch.load(tmp_path / file, map_location="cpu", weights_only=True)
    sd = obj[key] if key else obj
    assert list(sd) == _official_keys(parity_dir, parity)
