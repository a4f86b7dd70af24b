"""Recipe of the bundled `painting` model (Stylize tab): a CycleGAN between photographs and a painting-like
domain, both directions.

What the "painting" domain is, plainly: not paintings by artists (none can be had here), but *other*
photographs rendered by GAN Studio's own painterly filter (Kuwahara smoothing, softened colour steps,
darkened edges, a canvas or paper texture; ganstudio.datamakers.paintings). The photo pool (scikit-image's
CC0 / public-domain photos and the GPL-2+ nature photos of Debian's mate-backgrounds and
plasma-workspace-wallpapers) is split in two halves, so no photo is seen in both domains: the model has to
learn the look, not undo a filter on the same picture.

    python models/recipes/painting.py all --work WORK    # data | train | bundle | measure

Steps:
1. data:    1 500 random crops per domain at 256 px, plus held-out crops (testA / testB).
2. train:   `ganstudio train cyclegan` on 128 px crops (ResNet-6, ngf 32; TRAIN below).
3. bundle:  both generators in fp16 safetensors: models/painting_AtoB.safetensors (photo -> painting) and
            models/painting_BtoA.safetensors (painting -> photo).
4. measure: per direction, FID of the outputs against the other domain's held-out crops, and how much of
            the content survives: SSIM between the edge maps of each input and its output.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "painting"
TRAIN = ["cyclegan", "--size", 128, "--batch", 1, "--lr", 0.0002, "--seed", 0, "--holdout", 0,
         "--arch", "ngf=32", "--arch", "ndf=32", "--arch", "n_blocks=6",
         "--checkpoint-every", 500, "--sample-every", 250, "--no-metrics", "--keep", 2]
STEPS = 9000


def paths(work: Path) -> dict:
    return {"data": work / "data", "run": work / "run", "measure": work / "measurements.json",
            "a2b": C.MODELS / f"{NAME}_AtoB.safetensors", "b2a": C.MODELS / f"{NAME}_BtoA.safetensors"}


def step_data(work: Path) -> None:
    C.run(C.datamaker("paintings", "--count", 1500, "--size", 256, "--seed", 0, "-o", paths(work)["data"], "--quiet"))


def step_train(work: Path, steps: int = STEPS) -> None:
    p = paths(work)
    C.train_or_resume(p["run"], TRAIN[:1] + ["--data-a", p["data"] / "trainA", "--data-b", p["data"] / "trainB"]
                      + TRAIN[1:], steps)


def step_bundle(work: Path) -> None:
    import torch
    from safetensors.torch import save_file

    p = paths(work)
    for key, name in (("a2b", "latest_net_G_A.pth"), ("b2a", "latest_net_G_B.pth")):
        sd = torch.load(p["run"] / "final" / name, map_location="cpu", weights_only=True)
        save_file({k: v.half().contiguous() for k, v in sd.items()}, str(p[key]),
                  metadata={"format": "ganstudio-generator", "name": f"{NAME} {key}"})
        print(f"wrote {p[key]} ({p[key].stat().st_size / 1e6:.1f} MB)")


def _load_folder(folder: Path, size: int, limit: int = 200):
    import torch

    from ganstudio.training.data import load_rgb, resize_short, to_tensor

    out = []
    for f in sorted(folder.glob("*.png"))[:limit]:
        img = resize_short(load_rgb(f), size)
        h, w = img.shape[:2]
        y, x = (h - size) // 2, (w - size) // 2
        out.append(to_tensor(img[y:y + size, x:x + size]))
    return torch.stack(out)


def step_measure(work: Path, size: int = 256) -> dict:
    import torch

    from ganstudio.checkpoints.loader import load_model
    from ganstudio.training.metrics import fid_between
    from ganstudio.training.metrics_content import edge_ssim

    p = paths(work)
    a = _load_folder(p["data"] / "testA", size)
    b = _load_folder(p["data"] / "testB", size)
    result = {"size": size, "heldout_a": len(a), "heldout_b": len(b)}
    for key, src, other in (("AtoB", a, b), ("BtoA", b, a)):
        net, _ = load_model(p["a2b" if key == "AtoB" else "b2a"])
        with torch.no_grad():
            out = torch.cat([net(src[i:i + 8]).float() for i in range(0, len(src), 8)])
        for k, v in fid_between(out, other, "cpu").items():
            result[f"{k}_{key}"] = v
        # reference: the distance the translation has to cover (input domain vs target domain)
        for k, v in fid_between(src, other, "cpu").items():
            result[f"{k}_{key}_untranslated"] = v
        result[f"edge_ssim_{key}"] = round(edge_ssim(src, out), 4)
    p["measure"].write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=1))
    return result


def step_manifest(work: Path) -> dict:
    p = paths(work)
    entry = {
        "id": NAME, "task": "stylize", "arch": "cyclegan",
        "arch_kwargs": {"arch": "resnet", "input_nc": 3, "output_nc": 3, "ngf": 32, "n_blocks": 6,
                        "norm": "instance"},
        # both directions of the pair: AtoB photo -> painting, BtoA painting -> photo
        "files": {"AtoB": p["a2b"].name, "BtoA": p["b2a"].name},
        "license": "MIT (weights: GAN Studio); training photos: scikit-image data (CC0 / public domain) and "
                   "Debian's mate-backgrounds and plasma-workspace-wallpapers (GPL-2+). See "
                   "models/cards/painting.md.",
        "description": "CycleGAN (ResNet-6, ngf 32), photo <-> painterly look, both directions, trained by GAN "
                       "Studio's own trainer at 128 px; runs at any size. The painterly domain is GAN Studio's "
                       "own painting filter applied to other photos, not artists' paintings.",
        "native_resolution": "128x128 crops (any size at run time)",
        "recipe": "python models/recipes/painting.py all --work WORK",
    }
    keys = {k: (k,) for k in ("fid_AtoB", "fid_AtoB_untranslated", "fid_BtoA", "fid_BtoA_untranslated",
                              "fid_effnet_AtoB", "fid_effnet_BtoA", "edge_ssim_AtoB", "edge_ssim_BtoA")}
    return C.publish_entry("stylize", entry, [p["a2b"], p["b2a"]], p["measure"], keys)


def step_card(work: Path) -> Path:
    from collections import Counter

    p = paths(work)
    m = json.loads(p["measure"].read_text())
    fid = "fid" if "fid_AtoB" in m else "fid_effnet"
    sources = json.loads((p["data"] / "sources.json").read_text())["photos"]
    by_origin = Counter((s.get("origin", s["name"].split(":")[0]), s.get("license", "?")) for s in sources)
    data_rows = C.md_table(["source", "licence", "photos"], [(o, lic, n) for (o, lic), n in sorted(by_origin.items())])
    metrics = C.md_table(
        ["direction", f"{fid} output vs target domain", f"{fid} input vs target domain (untranslated)",
         "edge SSIM input vs output"],
        [(d, f"{m[f'{fid}_{d}']:.1f}", f"{m[f'{fid}_{d}_untranslated']:.1f}", f"{m[f'edge_ssim_{d}']:.3f}")
         for d in ("AtoB", "BtoA")])
    def verdict(d: str) -> str:
        out, before = m[f"{fid}_{d}"], m[f"{fid}_{d}_untranslated"]
        closer = "moves its outputs closer to" if out < before else "does NOT move its outputs closer to"
        return f"{d} {closer} the target domain ({before:.0f} -> {out:.0f})"

    reading = f"{verdict('AtoB')}; {verdict('BtoA')}."
    text = f"""
# Model card: `painting` (Stylize tab)

A CycleGAN pair between photographs and a painterly look, both directions: **AtoB** turns a photo into a
painting-like picture (flattened brush patches, softened colour steps, darkened edges, canvas texture),
**BtoA** goes back. It runs at any size (fully convolutional) and ships inside the app (2 x 3.9 MB).

What the "painting" domain is, plainly: not paintings by artists (none with a usable licence can be had on
the machines this project is built on), but *other* photos passed through GAN Studio's own painterly filter
(`ganstudio.datamakers.paintings.paint_filter`: a generalised Kuwahara filter and friends). The photo pool is
split in two halves, so no photo is seen in both domains: the model learns the look, not to undo a filter.

![painting: photos and their AtoB / BtoA translations](../../docs/models/painting.png)

## Data and licences
1 500 random 256 px crops per domain from {len(sources)} photos, 150 held-out crops per domain:

{data_rows}

The GPL-2+ photos come from Debian's `mate-backgrounds` and `plasma-workspace-wallpapers` packages
(`sources.json` in the data folder names each photo and its author). Weights: MIT, GAN Studio; whether weights
trained on GPL-2+ pictures carry obligations is unsettled: if that matters to you, rebuild the model from the
CC0 / public-domain photos only (`python -m ganstudio.datamakers paintings --sources skimage ...`, then the
recipe's later steps), or train your own in the Train tab.

## Recipe
`python models/recipes/painting.py all --work WORK` rebuilds it from nothing: data -> `ganstudio train
cyclegan` -> bundle (both generators, fp16 safetensors) -> measure -> manifest -> card.
Architecture: the official CycleGAN ResNet generator with 6 blocks and ngf 32, PatchGAN discriminators
(ndf 32), LSGAN loss, cycle weight 10, identity 0.5, image pool 50, batch 1, lr 2e-4 decaying linearly to 0 over the second
half of the steps (as the official schedule), 128 px crops.
{C.training_facts(p["run"], resumed=True)}

## Metrics
On {m["heldout_a"]} held-out photos and {m["heldout_b"]} held-out painterly crops, centre 256 px:
{fid.upper().replace("_", " ")} of each direction's outputs against the *other* domain's held-out crops, next to
the same distance before translation (the gap the model has to close), and how much structure survives
(SSIM between the edge maps of input and output; 1 = same edges).

{metrics}

Reading it: {reading} With {m["heldout_a"]} images a side these FIDs are biased far upwards (compare rows with
each other, not with published figures).

## Limits
- It learned one filter's look, at 128 px crops: strokes are small on large photos (stylize a downscaled
  copy for bigger strokes).
- BtoA (painterly -> photo) cannot recover detail the filter removed; it mostly adds texture and shifts
  colour (often a green-cyan cast), and by FID it does not make the pictures more photo-like. AtoB is the
  direction this model is for.
"""
    return C.write_card(NAME, text)


STEPS_ALL = ("data", "train", "bundle", "measure", "manifest", "card")


def main(argv=None) -> int:
    return C.recipe_main(__doc__, STEPS_ALL, STEPS, globals(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
