"""Recipe of the bundled `fashion` model (Latent tab): a DCGAN trained on real product photos, Fashion-MNIST
(Zalando, MIT; Debian's dataset-fashion-mnist package), with supervised directions from its class labels
for latent arithmetic on a real data set (shirt <-> dress, sneaker <-> boot, ...).

    python models/recipes/fashion.py all --work WORK     # data | train | bundle | classifier | directions | measure

Steps:
1. data:       the 60 000 training and 10 000 test images as 32 px grey PNGs (zero-padded from 28 px).
2. train:      `ganstudio train dcgan` at 32 px, grey (nc 1), the pytorch/examples recipe (TRAIN below).
3. bundle:     fp16 safetensors -> models/fashion.safetensors.
4. classifier: a 10-class classifier on the training images (one-vs-rest heads); its test accuracy is
               reported.
5. directions: 6 000 samples; for each class pair, a linear boundary in Z between the samples the
               classifier puts in one class and those in the other; saved as models/fashion_directions.npz.
6. measure:    how each direction moves the class probabilities (+-2 std over 1 000 samples) and FID
               against the test split.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

NAME = "fashion"
SIZE = 32
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
PAIRS = [("Shirt", "Dress"), ("Sneaker", "Ankle boot"), ("T-shirt/top", "Pullover"), ("Sandal", "Sneaker"),
         ("Trouser", "Dress"), ("Coat", "Bag")]
TRAIN = ["dcgan", "--size", SIZE, "--batch", 64, "--lr", 0.0002, "--seed", 0, "--holdout", 0,
         "--arch", "nc=1", "--arch", "nz=64", "--arch", "ngf=48", "--arch", "ndf=48",
         "--checkpoint-every", 500, "--sample-every", 250, "--no-metrics", "--keep", 2]
STEPS = 6000


def paths(work: Path) -> dict:
    return {"data": work / "data", "run": work / "run", "classifier": work / "classifier.pt",
            "model": C.MODELS / f"{NAME}.safetensors", "directions": C.MODELS / f"{NAME}_directions.npz",
            "measure": work / "measurements.json"}


def step_data(work: Path) -> None:
    C.run(C.datamaker("fashion-mnist", "--size", SIZE, "-o", paths(work)["data"], "--quiet"))


def step_train(work: Path, steps: int = STEPS) -> None:
    p = paths(work)
    C.train_or_resume(p["run"], TRAIN[:1] + ["--data", p["data"] / "train"] + TRAIN[1:], steps)


def step_bundle(work: Path) -> None:
    from ganstudio.training.publish import export_safetensors

    p = paths(work)
    export_safetensors(p["run"], p["model"], metadata={"name": NAME, "recipe": "models/recipes/fashion.py"})
    print(f"wrote {p['model']} ({p['model'].stat().st_size / 1e6:.2f} MB)")


def _load(folder: Path, limit: int = 0):
    import torch

    from ganstudio.core.imageio import read_image

    rows = [json.loads(x) for x in (folder / "labels.jsonl").read_text().splitlines()]
    if limit:
        rows = rows[:limit]
    imgs = np.stack([read_image(folder / r["file"]).pixels[..., :1] for r in rows])
    onehot = np.eye(10, dtype=np.float32)[[int(r["label"]) for r in rows]]
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous(), onehot


def step_classifier(work: Path) -> None:
    import torch

    from ganstudio.training.attributes import train_attribute_model

    p = paths(work)
    x, y = _load(p["data"] / "train", limit=30000)
    tx, ty = _load(p["data"] / "test", limit=5000)
    model = train_attribute_model(x, y, CLASSES, ["binary"] * 10, epochs=3, seed=0, width=24, log=print)
    pred = model.predict(tx.float() / 127.5 - 1)
    acc = float((pred.argmax(1) == ty.argmax(1)).mean())
    print(f"classifier test accuracy {acc:.3f}")
    torch.save({"state": model.state(), "width": 24, "test_accuracy": acc}, p["classifier"])


def _classifier(work: Path):
    import torch

    from ganstudio.training.attributes import AttributeModel

    saved = torch.load(paths(work)["classifier"], weights_only=True)
    return AttributeModel.from_state(saved["state"], width=saved["width"]), saved


def _render(lm, z, batch: int = 256):
    import torch

    from ganstudio.engines.latent import synthesize

    out = []
    for i in range(0, len(z), batch):
        wp = torch.as_tensor(z[i:i + batch], dtype=torch.float32)[:, None]
        img = synthesize(lm, wp.to(lm.device))
        out.append(torch.from_numpy(img[..., :1]).permute(0, 3, 1, 2).float() / 127.5 - 1)
    return torch.cat(out)


def step_directions(work: Path, n: int = 6000) -> None:
    from ganstudio.core.files import file_sha256
    from ganstudio.engines.latent import open_model
    from ganstudio.engines.latent.directions import DirectionSet, fit_hyperplane, save_directions

    p = paths(work)
    lm = open_model(str(p["model"]), device="cpu", precision="fp32")
    clf, _ = _classifier(work)
    z = np.random.default_rng(123).standard_normal((n, lm.z_dim)).astype(np.float32)
    probs = clf.predict(_render(lm, z))
    cls = probs.argmax(1)
    vectors, scales, names = [], [], []
    for a, b in PAIRS:
        ia, ib = CLASSES.index(a), CLASSES.index(b)
        za, zb = z[cls == ia], z[cls == ib]
        if min(len(za), len(zb)) < 20:
            print(f"skipping {a} -> {b}: too few samples ({len(za)}, {len(zb)})")
            continue
        normal, _ = fit_hyperplane(np.concatenate([za, zb]), np.r_[np.zeros(len(za), bool), np.ones(len(zb), bool)])
        vectors.append(normal)
        scales.append(float(np.std(z @ normal)))
        names.append(f"{a} -> {b}")
        print(f"direction {a} -> {b}: {len(za)} / {len(zb)} samples")
    dirs = DirectionSet(names, np.stack(vectors), "z", file_sha256(p["model"]), "supervised",
                        scales=np.array(scales, np.float32),
                        meta={"method": "logistic boundary in Z between samples the classifier assigns to two "
                                        "classes", "samples": n})
    save_directions(p["directions"], dirs)
    print(f"wrote {p['directions']}")


def step_measure(work: Path, n: int = 1000, strength: float = 2.0) -> dict:
    import torch

    from ganstudio.core.files import file_sha256
    from ganstudio.engines.latent import open_model
    from ganstudio.engines.latent.directions import load_directions
    from ganstudio.training.metrics import Embedder, embed_files, frechet_distance

    p = paths(work)
    lm = open_model(str(p["model"]), device="cpu", precision="fp32")
    dirs = load_directions(p["directions"], file_sha256(p["model"]))
    clf, saved = _classifier(work)
    z = np.random.default_rng(7).standard_normal((n, lm.z_dim)).astype(np.float32)
    effects = {}
    for i, name in enumerate(dirs.names):
        step = strength * float(dirs.scales[i]) * dirs.vectors[i]
        up, down = clf.predict(_render(lm, z + step)), clf.predict(_render(lm, z - step))
        a, b = name.split(" -> ")
        effects[name] = {"p_" + b: round(float((up[:, CLASSES.index(b)] - down[:, CLASSES.index(b)]).mean()), 4),
                         "p_" + a: round(float((up[:, CLASSES.index(a)] - down[:, CLASSES.index(a)]).mean()), 4)}
        print(name, effects[name])
    emb = Embedder("cpu")
    test_files = sorted((p["data"] / "test").glob("*.png"))[:5000]
    real = embed_files(emb, test_files, SIZE, channels=1)
    gen = torch.Generator().manual_seed(11)
    fake = [emb(_render(lm, torch.randn(250, lm.z_dim, generator=gen).numpy())) for _ in range(20)]
    fid = frechet_distance(np.concatenate(fake), real)
    result = {"direction_effects": effects, "strength_in_std": strength, emb.key: round(fid, 2),
              f"{emb.key}_n": 5000, "classifier_test_accuracy": round(saved["test_accuracy"], 4)}
    p["measure"].write_text(json.dumps(result, indent=2))
    print(f"{emb.key} {fid:.2f}")
    return result


def step_manifest(work: Path) -> dict:
    p = paths(work)
    entry = {
        "id": NAME, "task": "latent", "arch": "dcgan",
        "arch_kwargs": {"nz": 64, "ngf": 48, "nc": 1, "size": SIZE},
        "directions": p["directions"].name,
        "license": "MIT (weights and directions: GAN Studio); training data Fashion-MNIST, MIT (Zalando Research)",
        "description": "DCGAN, 32x32 grey product photos (Fashion-MNIST), trained by GAN Studio's own trainer; "
                       "ships 6 supervised class directions (shirt -> dress, sneaker -> ankle boot, ...). "
                       "See models/cards/fashion.md.",
        "native_resolution": f"{SIZE}x{SIZE}",
        "recipe": "python models/recipes/fashion.py all --work WORK",
    }
    keys = {**C.FID_KEYS, "classifier_test_accuracy": ("classifier_test_accuracy",)}
    return C.publish_entry("latent", entry, [p["model"], p["directions"]], p["measure"], keys)


def step_card(work: Path) -> Path:
    p = paths(work)
    m = json.loads(p["measure"].read_text())
    fid_key, fid_kind = C.fid_in(m)
    effects = C.md_table(["direction", "change of P(from class)", "change of P(to class)"],
                         [(name, f"{v['p_' + name.split(' -> ')[0]]:+.3f}", f"{v['p_' + name.split(' -> ')[1]]:+.3f}")
                          for name, v in m["direction_effects"].items()])
    into = sorted(m["direction_effects"], key=lambda n: -m["direction_effects"][n]["p_" + n.split(" -> ")[1]])
    out_ok = all(v["p_" + n.split(" -> ")[0]] < 0 for n, v in m["direction_effects"].items())
    reading = ("every direction moves samples out of its first class; " if out_ok else "") + \
        f"the moves into the second class are strongest for {into[0]} and {into[1]}, weakest for {into[-1]}."
    text = f"""
# Model card: `fashion` (Latent tab)

A DCGAN that draws 32x32 grey product photos of clothes, shoes and bags, with six class directions for
latent arithmetic (shirt -> dress, sneaker -> ankle boot, ...). Trained from scratch by GAN Studio's own
trainer on a real photo data set; it is small so that it ships inside the app (1.1 MB) and runs anywhere.

![fashion samples and directions](../../docs/models/fashion.png)

## Data and licences
- Fashion-MNIST (Zalando Research, 2017): 60 000 training and 10 000 test photos of Zalando articles,
  28x28 grey, 10 classes. MIT (Expat) licence; taken from Debian's `dataset-fashion-mnist` package (the
  data maker copies its copyright file next to the data as LICENSE-data.txt). Zero-padded to 32x32.
- The weights and the directions file: MIT, GAN Studio.

## Recipe
`python models/recipes/fashion.py all --work WORK` rebuilds it from nothing: data -> `ganstudio train dcgan`
-> bundle (fp16 safetensors) -> classifier -> directions -> measure -> manifest -> card.
Architecture: the pytorch/examples DCGAN at 32 px (nz 64, ngf 48, ndf 48, nc 1), batch 64, Adam 2e-4
(beta1 0.5), non-saturating loss, no augmentation.
{C.training_facts(p["run"])}

## Metrics
- FID ({fid_kind})
  of 5 000 samples against 5 000 test photos: **{m[fid_key]:.1f}**. FIDs at this sample count are biased upwards;
  compare it with other models measured the same way, not with published figures.
- Class directions: a 10-class classifier trained on the real training photos (test accuracy
  {m["classifier_test_accuracy"]:.3f}) labels 6 000 samples; each direction is the normal of a logistic
  boundary in Z between the samples it puts in the two classes. Measured on 1 000 other samples moved by
  +-{m["strength_in_std"]:g} standard deviations along each direction (mean change of the classifier's
  probabilities, + minus -):

{effects}

  Reading it: {reading}

## Limits
- 32x32 grey only: it is a demonstration of latent arithmetic on real data, not a fashion image generator.
- Samples are sometimes ambiguous between neighbouring classes (shirt / pullover / coat).
- Directions are linear in Z; strong moves (beyond +-3) leave the data manifold.
"""
    return C.write_card(NAME, text)


STEPS_ALL = ("data", "train", "bundle", "classifier", "directions", "measure", "manifest", "card")


def main(argv=None) -> int:
    return C.recipe_main(__doc__, STEPS_ALL, STEPS, globals(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
