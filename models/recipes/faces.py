"""Recipe of the bundled `faces` model (Latent tab): a small StyleGAN2 trained on faces rendered by GAN
Studio's own parametric face renderer, with supervised attribute directions and their measurements.

    python models/recipes/faces.py all --work WORK      # every step below, resumable (re-run to continue)
    python models/recipes/faces.py STEP --work WORK     # data | train | bundle | classifiers | directions | measure

Steps:
1. data:        20 000 training renders + 2 000 held-out renders (another seed) with their attribute labels
                (ganstudio.datamakers.faces; the renderer is part of the project, so the data is ours).
2. train:       `ganstudio train stylegan2` (64 px small config, see TRAIN below), resumable.
3. bundle:      fp16 safetensors -> models/faces.safetensors.
4. classifiers: two attribute classifiers on the labelled renders: A labels generated samples for the
                directions, B (another seed and width) measures them, so a direction is not judged by the
                network that defined it.
5. directions:  InterFaceGAN: 6 000 samples of the bundled model, classifier A's scores, for each attribute
                a linear boundary in W between the top and bottom 30 %; its unit normal is the direction.
                Saved as models/faces_directions.npz, tied to the model's sha256.
6. measure:     classifier B's change of every attribute when each direction moves 1 000 samples by +-2
                standard deviations (the matrix in the card), and FID against the held-out renders.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "faces"
SIZE = 64
TRAIN = ["stylegan2", "--size", SIZE, "--batch", 8, "--lr", 0.002, "--seed", 0, "--holdout", 0,
         "--arch", "style_dim=256", "--arch", "n_mlp=4",
         "--arch", 'channels={"4": 256, "8": 256, "16": 128, "32": 64, "64": 32}',
         "--checkpoint-every", 250, "--sample-every", 250, "--no-metrics", "--keep", 2]
STEPS = 12000  # 8000 in one session, resumed to 12000 in the next
ATTRIBUTES = [  # name, kind, how to read it from a label line
    ("smile", "continuous", lambda r: r["smile"]),
    ("glasses", "binary", lambda r: r["glasses"]),
    ("hair_length", "continuous", lambda r: {"short": 0.0, "medium": 0.5, "long": 1.0}[r["hair_length"]]),
    ("hair_lightness", "continuous",
     lambda r: {"black": 0.0, "brown": 0.3, "red": 0.5, "blond": 0.8, "grey": 1.0, "white": 1.0}.get(r["hair_color"],
                                                                                                      0.5)),
    ("beard", "binary", lambda r: r["beard"]),
    ("head_turn", "continuous", lambda r: r["yaw"]),
    ("age", "continuous", lambda r: r["age"]),
    ("open_mouth", "binary", lambda r: r["mouth_open"]),
]
DIRECTION_NAMES = {"smile": "Smile", "glasses": "Glasses", "hair_length": "Hair length",
                   "hair_lightness": "Hair colour (dark -> light)", "beard": "Beard", "head_turn": "Head turn",
                   "age": "Age", "open_mouth": "Open mouth"}


def paths(work: Path) -> dict:
    return {"data": work / "data", "held": work / "heldout", "run": work / "run",
            "classifiers": work / "classifiers.pt", "model": C.MODELS / f"{NAME}.safetensors",
            "directions": C.MODELS / f"{NAME}_directions.npz", "measure": work / "measurements.json"}


def step_data(work: Path) -> None:
    p = paths(work)
    C.run(C.datamaker("faces", "--count", 20000, "--size", 128, "--seed", 0, "-o", p["data"], "--quiet"))
    C.run(C.datamaker("faces", "--count", 2000, "--size", 128, "--seed", 1, "-o", p["held"], "--quiet"))


def step_train(work: Path, steps: int = STEPS) -> None:
    p = paths(work)
    C.train_or_resume(p["run"], TRAIN[:1] + ["--data", p["data"]] + TRAIN[1:], steps)


def step_bundle(work: Path) -> None:
    from ganstudio.training.publish import export_safetensors

    p = paths(work)
    export_safetensors(p["run"], p["model"], metadata={"name": NAME, "recipe": "models/recipes/faces.py"})
    print(f"wrote {p['model']} ({p['model'].stat().st_size / 1e6:.1f} MB)")


def _load_labelled(folder: Path, limit: int = 0, size: int = SIZE):
    """(images (N, 3, S, S) uint8 tensor, targets (N, K)) from a faces folder and its labels.jsonl."""
    import cv2
    import torch

    from ganstudio.core.imageio import read_image

    rows = [json.loads(x) for x in (folder / "labels.jsonl").read_text().splitlines()]
    if limit:
        rows = rows[:limit]
    imgs = np.stack([cv2.resize(read_image(folder / r["file"]).rgb8(), (size, size), interpolation=cv2.INTER_AREA)
                     for r in rows])
    targets = np.array([[float(get(r)) for _n, _k, get in ATTRIBUTES] for r in rows], np.float32)
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), targets


def step_classifiers(work: Path) -> None:
    import torch

    from ganstudio.training.attributes import accuracy, train_attribute_model

    p = paths(work)
    x, y = _load_labelled(p["data"], limit=12000)
    hx, hy = _load_labelled(p["held"], limit=1000)
    names, kinds = [a[0] for a in ATTRIBUTES], [a[1] for a in ATTRIBUTES]
    out = {}
    for tag, seed, width in (("A", 0, 32), ("B", 1, 24)):
        model = train_attribute_model(x, y, names, kinds, epochs=4, seed=seed, width=width, log=print)
        acc = accuracy(model, hx.float() / 127.5 - 1, hy)
        print(f"classifier {tag} on held-out renders:", {k: round(v, 3) for k, v in acc.items()})
        out[tag] = {"state": model.state(), "width": width, "heldout": acc}
    torch.save(out, p["classifiers"])


def _classifiers(work: Path):
    import torch

    from ganstudio.training.attributes import AttributeModel

    saved = torch.load(paths(work)["classifiers"], weights_only=True)
    return {k: AttributeModel.from_state(v["state"], width=v["width"]) for k, v in saved.items()}, saved


def _render(lm, w, batch: int = 64):
    """W (N, D) -> images (N, 3, H, W) in [-1, 1], stored noise (the bundled model's fixed noise)."""
    import torch

    from ganstudio.engines.latent import synthesize

    out = []
    for i in range(0, len(w), batch):
        wp = torch.as_tensor(w[i:i + batch], dtype=torch.float32)[:, None].repeat(1, lm.n_latent, 1)
        with torch.no_grad():
            img = synthesize(lm, wp.to(lm.device), noise="stored")
        out.append(torch.as_tensor(img).permute(0, 3, 1, 2).float() / 127.5 - 1
                   if isinstance(img, np.ndarray) else img.float().cpu())
    return torch.cat(out)


def step_directions(work: Path, n: int = 6000, frac: float = 0.3) -> None:
    import torch

    from ganstudio.core.files import file_sha256
    from ganstudio.engines.latent import map_z, open_model
    from ganstudio.engines.latent.directions import DirectionSet, fit_hyperplane, save_directions

    p = paths(work)
    lm = open_model(str(p["model"]), device="cpu", precision="fp32")
    classifiers, _ = _classifiers(work)
    z = np.random.default_rng(123).standard_normal((n, lm.z_dim)).astype(np.float32)
    w = np.asarray(map_z(lm, z))
    scores = classifiers["A"].predict(_render(lm, w))
    vectors, scales, names = [], [], []
    for j, (attr, _kind, _get) in enumerate(ATTRIBUTES):
        order = np.argsort(scores[:, j])
        k = int(n * frac)
        idx = np.concatenate([order[:k], order[-k:]])
        labels = np.concatenate([np.zeros(k, bool), np.ones(k, bool)])
        normal, _offset = fit_hyperplane(w[idx], labels)
        vectors.append(normal)
        scales.append(float(np.std(w @ normal)))
        names.append(DIRECTION_NAMES[attr])
        print(f"direction {attr}: fitted on {2 * k} samples")
    dirs = DirectionSet(names, np.stack(vectors), "w", file_sha256(p["model"]), "supervised",
                        scales=np.array(scales, np.float32),
                        meta={"method": "InterFaceGAN: logistic boundary in W on classifier A's top/bottom 30 %",
                              "samples": n, "attributes": [a[0] for a in ATTRIBUTES]})
    save_directions(p["directions"], dirs)
    print(f"wrote {p['directions']}")
    del torch


def step_measure(work: Path, n: int = 1000, strength: float = 2.0) -> dict:
    import torch

    from ganstudio.engines.latent import map_z, open_model
    from ganstudio.engines.latent.directions import load_directions
    from ganstudio.core.files import file_sha256
    from ganstudio.training.metrics import Embedder, embed_files, frechet_distance

    p = paths(work)
    lm = open_model(str(p["model"]), device="cpu", precision="fp32")
    dirs = load_directions(p["directions"], file_sha256(p["model"]))
    classifiers, saved = _classifiers(work)
    b = classifiers["B"]
    z = np.random.default_rng(7).standard_normal((n, lm.z_dim)).astype(np.float32)
    w = np.asarray(map_z(lm, z))
    matrix = {}
    for i, name in enumerate(dirs.names):
        step = strength * float(dirs.scales[i]) * dirs.vectors[i]
        up = b.predict(_render(lm, w + step))
        down = b.predict(_render(lm, w - step))
        matrix[name] = {a[0]: round(float((up[:, j] - down[:, j]).mean()) / 2, 4) for j, a in enumerate(ATTRIBUTES)}
        print(name, matrix[name])
    # FID of the bundled model against the held-out renders (64 px, as trained)
    emb = Embedder("cpu")
    held = sorted(p["held"].glob("*.png"))[:2000]
    real = embed_files(emb, held, SIZE)
    gen = torch.Generator().manual_seed(11)
    fake = []
    for i in range(0, 2000, 100):
        zz = torch.randn(100, lm.z_dim, generator=gen).numpy()
        fake.append(emb(_render(lm, np.asarray(map_z(lm, zz)))))
    fid = frechet_distance(np.concatenate(fake), real)
    result = {"direction_effects": matrix, "strength_in_std": strength, "samples": n,
              emb.key: round(fid, 2), f"{emb.key}_n": 2000,
              "classifier_B_heldout": {k: round(v, 3) for k, v in saved["B"]["heldout"].items()},
              "classifier_A_heldout": {k: round(v, 3) for k, v in saved["A"]["heldout"].items()}}
    p["measure"].write_text(json.dumps(result, indent=2))
    print(f"{emb.key} {fid:.2f}")
    return result


def step_manifest(work: Path) -> dict:
    p = paths(work)
    entry = {
        "id": NAME, "task": "latent", "arch": "stylegan2",
        "arch_kwargs": {"size": SIZE, "style_dim": 256, "n_mlp": 4,
                        "channels": {"4": 256, "8": 256, "16": 128, "32": 64, "64": 32}},
        "directions": p["directions"].name,
        "license": "MIT (weights, directions and the face renderer that made the training data: GAN Studio)",
        "description": "StyleGAN2 (small config), 64x64 faces drawn by GAN Studio's own parametric face "
                       "renderer (not photos of people), trained by GAN Studio's own trainer; ships 8 "
                       "supervised attribute directions (smile, glasses, hair, beard, head turn, age, ...). "
                       "See models/cards/faces.md.",
        "native_resolution": f"{SIZE}x{SIZE}",
        "recipe": "python models/recipes/faces.py all --work WORK",
    }
    return C.publish_entry("latent", entry, [p["model"], p["directions"]], p["measure"], dict(C.FID_KEYS))


def step_card(work: Path) -> Path:
    p = paths(work)
    m = json.loads(p["measure"].read_text())
    fid_key, fid_kind = C.fid_in(m)
    attrs = [a[0] for a in ATTRIBUTES]
    matrix = C.md_table(["direction \\ measured"] + attrs,
                        [[name] + [f"**{row[a]:+.2f}**" if DIRECTION_NAMES[a] == name else f"{row[a]:+.2f}"
                                   for a in attrs] for name, row in m["direction_effects"].items()])
    kinds = dict((a[0], a[1]) for a in ATTRIBUTES)
    clf = C.md_table(["attribute", "measure", "classifier A", "classifier B"],
                     [(a, "accuracy" if kinds[a] == "binary" else "correlation", f"{m['classifier_A_heldout'][a]:.3f}",
                       f"{m['classifier_B_heldout'][a]:.3f}") for a in attrs])
    # a direction is only as good as classifier A's reading of its attribute on the renders
    weak = [a for a in attrs if m["classifier_A_heldout"][a] < (0.9 if kinds[a] == "binary" else 0.5)]
    weak_line = (f"- Classifier A reads {', '.join(weak)} poorly on held-out renders (table above), so "
                 f"{'that direction is' if len(weak) == 1 else 'those directions are'} weak or unreliable; "
                 "they ship because the tab lets you try them, not because they work well.") if weak else ""
    text = f"""
# Model card: `faces` (Latent tab)

A small StyleGAN2 that draws 64x64 head-and-shoulders portraits, with eight attribute directions (smile,
glasses, hair length, hair colour, beard, head turn, age, open mouth) for the Latent tab's sliders.
The faces are **not photos of people**: they are drawn by GAN Studio's own parametric face renderer
(`ganstudio.datamakers.faces`), because no face photo set with a licence that allows shipping a model could
be had on the machines this project is built on. What it shows is the whole StyleGAN workflow (seeds,
truncation, style mixing, interpolation, supervised and unsupervised directions) on a model that ships.

![faces samples and directions](../../docs/models/faces.png)

## Data and licences
- 20 000 portraits rendered at 128 px (seed 0) with their attribute labels, trained at 64 px; 2 000 more
  (seed 1) held out for the measurements. The renderer is part of GAN Studio: data, weights and directions
  are MIT.

## Recipe
`python models/recipes/faces.py all --work WORK` rebuilds it from nothing: data -> `ganstudio train
stylegan2` -> bundle (fp16 safetensors with the truncation centre) -> two attribute classifiers ->
directions -> measure -> manifest -> card.
Architecture: StyleGAN2 at 64 px with a small config (style dim 256, 4 mapping layers, channels
4:256 8:256 16:128 32:64 64:32), batch 8, lr 0.002, the official losses (non-saturating logistic, R1 every
16 steps, path-length regulariser every 4), EMA generator.
{C.training_facts(p["run"], resumed=True)}

## Metrics
- FID ({fid_kind})
  of 2 000 samples against the 2 000 held-out renders, at 64 px: **{m[fid_key]:.1f}**.
- Directions (InterFaceGAN): classifier A labels 6 000 samples; each attribute's direction is the normal of a
  logistic boundary in W between its top and bottom 30 %. They are judged by another classifier, B (other
  seed and width), so a direction is not graded by the network that defined it. The table is B's mean change
  of each attribute (probability for yes/no attributes, the label scale 0..1 for the others; head turn in
  its label units) when {m["samples"]} samples move by +-{m["strength_in_std"]:g} standard deviations along a
  direction, per unit of movement (half the + minus - difference). The diagonal (bold) is the wanted
  effect; the rest is entanglement.

{matrix}

- The classifiers on the held-out renders:

{clf}

## Limits
- 64x64 and blurry next to real StyleGAN2 models (FFHQ at 1024 px): a small network trained for a few hours
  on 2 CPU cores.
- Rendered faces, not photographs: their look is the renderer's (flat shading, simple hair, plain
  backgrounds). Do not use it to judge anything about real faces.
- Directions are entangled where the data is (e.g. age with hair colour, since the renderer greys old hair).
{weak_line}
- Trained at 64 px, not the 128 px first aimed for: 128 px did not fit the 3-hour CPU budget.
"""
    return C.write_card(NAME, text)


STEPS_ALL = ("data", "train", "bundle", "classifiers", "directions", "measure", "manifest", "card")


def main(argv=None) -> int:
    return C.recipe_main(__doc__, STEPS_ALL, STEPS, globals(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
