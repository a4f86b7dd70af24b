"""Recipe of the bundled `landscapes` model (Paint tab): a small SPADE generator trained on procedural
ADE20K-labelled landscape maps paired with photos rendered from them (GAN Studio's landscape renderer,
textures from CC0 / public-domain photos), so the Paint tab's ADE20K palette paints it as it is.

    python models/recipes/landscapes.py all --work WORK    # data | train | bundle | segmenter | measure

Steps:
1. data:      4 000 training and 300 held-out (another seed) label-map / photo pairs at 256 px
              (ganstudio.datamakers.landscapes).
2. train:     `ganstudio train spade --label-set ade20k` on 128 px crops of the 256 px scenes (TRAIN below;
              the generator is fully convolutional and renders whole 256 px maps).
3. bundle:    fp16 safetensors -> models/landscapes.safetensors (its label set goes in the manifest entry).
4. segmenter: a small U-Net trained on the training pairs (photo -> labels), as the SPADE paper measures
              layout fidelity with a segmenter.
5. measure:   the segmenter on the model's renders of the held-out maps at 256 px: pixel accuracy,
              per-class accuracy and mIoU against the painted maps (and, for reference, on the held-out
              renders themselves), and FID against the held-out renders.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "landscapes"
TRAIN = ["spade", "--label-set", "ade20k", "--size", 128, "--option", "load_size=256", "--batch", 4,
         "--lr", 0.0002, "--seed", 0, "--holdout", 0, "--arch", "ngf=16", "--arch", "nhidden=64",
         "--arch", "ndf=32",
         # the EfficientNet-Lite0 feature distance is ~12x VGG's in size: weight 1 puts it where SPADE's VGG
         # term (weight 10) sits relative to the GAN and feature-matching terms
         "--option", "lambda_perceptual=1.0", "--checkpoint-every", 250, "--sample-every", 250, "--no-metrics", "--keep", 2]
STEPS = 2000  # started as 5000, cut to 2000 to fit the 3-hour CPU budget (resumed across sessions)


def paths(work: Path) -> dict:
    return {"data": work / "data", "held": work / "heldout", "run": work / "run", "seg": work / "segmenter.pt",
            "model": C.MODELS / f"{NAME}.safetensors", "measure": work / "measurements.json"}


def step_data(work: Path) -> None:
    p = paths(work)
    C.run(C.datamaker("landscapes", "--count", 4000, "--size", 256, "--seed", 0, "-o", p["data"], "--quiet"))
    C.run(C.datamaker("landscapes", "--count", 300, "--size", 256, "--seed", 1, "-o", p["held"], "--quiet"))


def step_train(work: Path, steps: int = STEPS) -> None:
    p = paths(work)
    C.train_or_resume(p["run"], TRAIN[:1] + ["--labels", p["data"] / "labels", "--images", p["data"] / "images"]
                      + TRAIN[1:], steps)


def step_bundle(work: Path) -> None:
    from ganstudio.training.publish import export_safetensors

    p = paths(work)
    export_safetensors(p["run"], p["model"], metadata={"name": NAME, "recipe": "models/recipes/landscapes.py"})
    print(f"wrote {p['model']} ({p['model'].stat().st_size / 1e6:.1f} MB)")


def _classes(work: Path) -> dict[int, str]:
    """{ADE20K id: name} of the classes the data maker uses (its classes.json)."""
    data = json.loads((paths(work)["data"] / "classes.json").read_text())
    return {int(c["id"]): c["name"] for c in data["classes"]}


def _pairs(folder: Path, ids: list[int], limit: int = 0, size: int = 128):
    """(photos (N, 3, S, S) uint8, labels (N, S, S) class indices into ``ids``, -1 elsewhere)."""
    import cv2
    import torch

    from ganstudio.core.imageio import read_image

    lut = np.full(256, -1, np.int64)
    for k, i in enumerate(ids):
        lut[i] = k
    names = sorted(p.name for p in (folder / "labels").glob("*.png"))
    if limit:
        names = names[:limit]
    photos, labels = [], []
    for n in names:
        img = read_image(folder / "images" / n).rgb8()
        lab = np.asarray(read_image(folder / "labels" / n).pixels[..., 0])
        if size != img.shape[0]:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            lab = cv2.resize(lab, (size, size), interpolation=cv2.INTER_NEAREST)
        photos.append(img)
        labels.append(lut[lab])
    return (torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).contiguous(),
            torch.from_numpy(np.stack(labels)), names)


def step_segmenter(work: Path) -> None:
    import torch

    from ganstudio.training.segmenter import layout_scores, predict, train_segmenter

    p = paths(work)
    ids = sorted(_classes(work))
    x, y, _ = _pairs(p["data"], ids, limit=3000)
    net = train_segmenter(x, y, len(ids), epochs=5, log=print)
    hx, hy, _ = _pairs(p["held"], ids)
    ref = layout_scores(predict(net, hx), hy, len(ids))
    print(f"segmenter on held-out renders: pixel acc {ref['pixel_accuracy']:.3f}, mIoU {ref['mIoU']:.3f}")
    torch.save({"state": net.state_dict(), "ids": ids, "on_real": ref}, p["seg"])


def step_measure(work: Path) -> dict:
    import torch
    import torch.nn.functional as F

    from ganstudio.engines.paint import render
    from ganstudio.training.metrics import Embedder, frechet_distance
    from ganstudio.training.segmenter import Segmenter, layout_scores, predict

    p = paths(work)
    saved = torch.load(p["seg"], weights_only=True)
    ids = saved["ids"]
    net = Segmenter(len(ids))
    net.load_state_dict(saved["state"])
    net.eval()
    hx, hy, files = _pairs(p["held"], ids, size=256)
    from ganstudio.core.imageio import read_image

    fakes = []
    for n in files:
        label_map = np.asarray(read_image(p["held"] / "labels" / n).pixels[..., 0])
        rgb = render(label_map, model=str(p["model"]), size="full", device="cpu", precision="fp32")
        fakes.append(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1))
    fake = torch.stack(fakes)
    # the segmenter runs at 128 px (as trained): renders area-downscaled, maps nearest-downscaled
    small = F.interpolate(fake.float(), size=(128, 128), mode="area") / 127.5 - 1
    y_small = F.interpolate(hy[:, None].float(), size=(128, 128), mode="nearest")[:, 0].long()
    on_fake = layout_scores(predict(net, small), y_small, len(ids))
    emb = Embedder("cpu")
    fid = frechet_distance(emb(fake.float() / 127.5 - 1), emb(hx.float() / 127.5 - 1))
    names = _classes(work)
    per_class = {names[i]: (None if np.isnan(a) else round(float(a), 3)) for i, a in zip(ids, on_fake["class_accuracy"])}
    result = {"layout_on_model_renders": {k: round(v, 4) for k, v in on_fake.items() if not isinstance(v, list)},
              "layout_on_real_renders": {k: round(v, 4) for k, v in saved["on_real"].items() if not isinstance(v, list)},
              "class_accuracy_on_model_renders": per_class, emb.key: round(fid, 2), f"{emb.key}_n": len(fake)}
    p["measure"].write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=1))
    return result


def step_manifest(work: Path) -> dict:
    p = paths(work)
    entry = {
        "id": NAME, "task": "paint", "arch": "spade",
        # the ADE20K label set (the Paint tab's default palette); trained on 128 px crops, renders 256 px maps
        "arch_kwargs": {"ngf": 16, "label_nc": 150, "contain_dontcare_label": True, "use_instance": False,
                        "num_upsampling_layers": "normal", "crop_size": 256, "aspect_ratio": 1.0,
                        "dataset": "ade20k", "palette": "ade20k",
                        # the classes the training maps use; the Paint tab marks the others "not trained"
                        "trained_labels": sorted(_classes(work))},
        "license": "MIT (weights: GAN Studio); training data rendered by GAN Studio from CC0 / public-domain "
                   "photos (scikit-image data). See models/cards/landscapes.md.",
        "description": "SPADE, ADE20K labels (sky, mountain, grass, water, tree, rock, sand, ...), 256x256 "
                       "landscape scenes, trained by GAN Studio's own trainer on its procedural landscapes.",
        "native_resolution": "256x256",
        "recipe": "python models/recipes/landscapes.py all --work WORK",
    }
    keys = {"mIoU": ("layout_on_model_renders", "mIoU"),
            "pixel_accuracy": ("layout_on_model_renders", "pixel_accuracy"),
            "mIoU_on_real_renders": ("layout_on_real_renders", "mIoU"), **C.FID_KEYS}
    return C.publish_entry("paint", entry, [p["model"]], p["measure"], keys)


def step_card(work: Path) -> Path:
    p = paths(work)
    m = json.loads(p["measure"].read_text())
    fid_key, fid_kind = C.fid_in(m)
    fake, real = m["layout_on_model_renders"], m["layout_on_real_renders"]
    layout = C.md_table(["segmenter on ...", "pixel accuracy", "mean class accuracy", "mIoU"],
                        [("the model's renders of the held-out maps", f"{fake['pixel_accuracy']:.3f}",
                          f"{fake.get('mean_class_accuracy', float('nan')):.3f}", f"{fake['mIoU']:.3f}"),
                         ("the renderer's own photos of those maps (ceiling)", f"{real['pixel_accuracy']:.3f}",
                          f"{real.get('mean_class_accuracy', float('nan')):.3f}", f"{real['mIoU']:.3f}")])
    per_class = C.md_table(["class", "pixel accuracy on the model's renders"],
                           [(k, "-" if v is None else f"{v:.2f}")
                            for k, v in sorted(m["class_accuracy_on_model_renders"].items(),
                                               key=lambda kv: -(kv[1] or 0))])
    text = f"""
# Model card: `landscapes` (Paint tab)

A small SPADE (GauGAN) generator that turns a painted ADE20K label map (sky, mountain, grass, water, tree,
rock, sand, field, road, building, flower, ...) into a 256x256 landscape picture. It uses the Paint tab's
default ADE20K palette, so what you paint is what it draws.

![landscapes: label maps, model renders, reference](../../docs/models/landscapes.png)

## Data and licences
- 4 000 label-map / picture pairs at 256 px made by GAN Studio's procedural landscape renderer
  (`ganstudio.datamakers.landscapes`, seed 0), 300 more (seed 1) held out. The pictures are rendered, not
  photographed: textures come from scikit-image's CC0 photos (grass, gravel, brick) and procedural noise.
  No ADE20K images are used, only its class list.
- Weights: MIT, GAN Studio.

## Recipe
`python models/recipes/landscapes.py all --work WORK` rebuilds it from nothing: data -> `ganstudio train spade
--label-set ade20k` -> bundle (fp16 safetensors) -> segmenter -> measure -> manifest -> card.
Architecture: SPADE generator (ngf 16, SPADE hidden 64) with the official multiscale discriminator (2 x
4 layers, ndf 32), hinge loss, feature matching (10) and a perceptual term on EfficientNet-Lite0 features
(weight 1: VGG19 cannot be installed here), batch 4, lr 2e-4 (TTUR as official), random 128 px crops of the
256 px maps (the generator is convolutional and renders whole 256 px maps).
{C.training_facts(p["run"], resumed=True)}

## Metrics
Layout fidelity the way the SPADE paper measures it: a segmenter (a small U-Net trained on the training
pairs, photo -> labels) reads the model's renders of the 300 held-out maps, and its output is compared with
the painted maps. The same segmenter on the renderer's own pictures is the ceiling.

{layout}

- FID ({fid_kind})
  of the renders against the held-out pictures ({m.get(fid_key + "_n", 300)} each, 256 px): **{m[fid_key]:.1f}**.

Per class (classes the held-out maps contain):

{per_class}

## Limits
- It draws the renderer's world: stylised landscapes, not photographs; classes the renderer never uses
  (most of ADE20K's 150: furniture, people, vehicles ...) give undefined texture.
- Small and soft: trained a few hours on 2 CPU cores; fine texture is blurry next to the official ADE20K
  SPADE (a download listed in the model manager).
"""
    return C.write_card(NAME, text)


STEPS_ALL = ("data", "train", "bundle", "segmenter", "measure", "manifest", "card")


def main(argv=None) -> int:
    return C.recipe_main(__doc__, STEPS_ALL, STEPS, globals(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
