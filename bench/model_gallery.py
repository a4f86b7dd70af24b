"""Pictures of the bundled models at work, made through the engines (not the GUI), for the README and cards.

    python bench/model_gallery.py --out docs/models                 # every bundled model that is here
    python bench/model_gallery.py --out docs/models --only faces    # a subset

Models are picked by manifest id, so a re-bundled file (same id) is picked up as it is; a model whose file
is not here yet is skipped with a note (exit code 1 only if nothing could be made).

* faces.png       the ``faces`` StyleGAN2 (Latent): seeds 0-7, then one seed with its shipped directions moved
                  (Smile, Glasses, Age, Hair length) from -2 to +2 standard deviations of the model's latents
                  along each.
* fashion.png     the ``fashion`` DCGAN (Latent): seeds 0-15, then the shipped "Shirt -> Dress" and
                  "Sneaker -> Ankle boot" directions on a shirt seed and a sneaker seed, 0 to +1.5 std.
* landscapes.png  the ``landscapes`` SPADE (Paint): three label maps made by the project's landscape renderer
                  with seeds it was not trained on (9001-9003): the map in the ADE20K palette | the model's
                  picture of it | the renderer's own photo of the same scene (the kind of picture it learnt from).
* painting.png    the ``painting`` CycleGAN (Stylize): scikit-image's astronaut, coffee and chelsea photos |
                  AtoB (photo -> painterly), then the astronaut through the project's own painting filter (the
                  painterly domain it was trained on) | BtoA (painterly -> photo).

Small outputs are enlarged with nearest-neighbour (pixels stay visible, nothing is invented), large ones
reduced with area averaging; every row and cell is labelled with cv2.putText.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ALL = ("faces", "fashion", "landscapes", "painting")
BG = (255, 255, 255)
INK = (40, 40, 40)
FONT = cv2.FONT_HERSHEY_SIMPLEX
GAP = 6

# seeds picked by looking at the grids (a shirt, a sneaker, a face with a clear expression)
FACE_EDIT_SEED = 9
FASHION_SHIRT_SEED = 4
FASHION_SNEAKER_SEED = 41
# the fashion directions are class boundaries in a DCGAN's z: past about 1 std they run on into other classes
# (a shirt becomes a dress, then trousers), so their rows go in quarter steps
FASHION_STDS = [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


# ----------------------------------------------------------------------------------------------- layout
def rgb(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)


def fit(img: np.ndarray, height: int) -> np.ndarray:
    """Scale to ``height`` rows: nearest when enlarging (the model's own pixels), area when reducing."""
    img = rgb(img)
    h, w = img.shape[:2]
    if h == height:
        return img
    width = max(1, round(w * height / h))
    interp = cv2.INTER_NEAREST if height > h else cv2.INTER_AREA
    return cv2.resize(img, (width, height), interpolation=interp)


def text_block(text: str, width: int, height: int = 20, scale: float = 0.45, bold: bool = False) -> np.ndarray:
    out = np.full((height, width, 3), BG, np.uint8)
    cv2.putText(out, text, (2, height - 6), FONT, scale, INK, 2 if bold else 1, cv2.LINE_AA)
    return out


def captioned(img: np.ndarray, caption: str) -> np.ndarray:
    """A cell with a small caption under it."""
    return np.concatenate([img, text_block(caption, img.shape[1], 18, 0.42)], axis=0)


def hcat(cells: list[np.ndarray]) -> np.ndarray:
    h = max(c.shape[0] for c in cells)
    parts = []
    for i, c in enumerate(cells):
        if c.shape[0] < h:
            c = np.concatenate([c, np.full((h - c.shape[0], c.shape[1], 3), BG, np.uint8)], axis=0)
        parts.append(c)
        if i < len(cells) - 1:
            parts.append(np.full((h, GAP, 3), BG, np.uint8))
    return np.concatenate(parts, axis=1)


def vcat(rows: list[np.ndarray]) -> np.ndarray:
    w = max(r.shape[1] for r in rows)
    parts = []
    for r in rows:
        if r.shape[1] < w:
            r = np.concatenate([r, np.full((r.shape[0], w - r.shape[1], 3), BG, np.uint8)], axis=1)
        parts.append(r)
        parts.append(np.full((GAP, w, 3), BG, np.uint8))
    return np.concatenate(parts[:-1], axis=0)


def titled_row(title: str, cells: list[np.ndarray]) -> np.ndarray:
    row = hcat(cells)
    return np.concatenate([text_block(title, row.shape[1], 22, 0.5, bold=True), row], axis=0)


def page(title: str, rows: list[np.ndarray], margin: int = 10) -> np.ndarray:
    body = vcat([text_block(title, max(r.shape[1] for r in rows), 26, 0.55, bold=True)] + rows)
    return cv2.copyMakeBorder(body, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=BG)


def write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(img[:, :, ::-1])):
        raise OSError(f"cannot write {path}")
    print(f"wrote {path} ({img.shape[1]}x{img.shape[0]})", flush=True)


# ----------------------------------------------------------------------------------------------- models
def present(model_id: str) -> bool:
    """The manifest has ``model_id`` and its file(s) are on this machine."""
    from ganstudio.core.manifest import entry_path, load_manifest

    for e in load_manifest():
        if e.id != model_id:
            continue
        files = (e.extra or {}).get("files")
        if files:
            root = entry_path(e)
            base = root.parent if root is not None else None
            return base is not None and all((base / f).is_file() for f in files.values())
        return entry_path(e) is not None
    return False


def latent_edit_row(L, lm, dirs, name: str, seed: int, stds: list[float], cell: int) -> np.ndarray:
    i = dirs.names.index(name)
    scale = float(dirs.scales[i])
    cells = []
    for k in stds:
        state = {"seeds": [seed], "edits": dirs.edits({name: k * scale})}
        img = L.render_state(state, model=lm)["images"][0]
        cells.append(captioned(fit(img, cell), f"{k:+g} std" if k else "seed"))
    return titled_row(f"seed {seed}: {name}", cells)


def seed_rows(L, lm, seeds: list[int], per_row: int, cell: int, title: str) -> list[np.ndarray]:
    imgs = L.render_state({"seeds": seeds}, model=lm)["images"]
    cells = [captioned(fit(im, cell), f"seed {s}") for s, im in zip(seeds, imgs)]
    rows = [hcat(cells[i:i + per_row]) for i in range(0, len(cells), per_row)]
    first = np.concatenate([text_block(title, rows[0].shape[1], 22, 0.5, bold=True), rows[0]], axis=0)
    return [first] + rows[1:]


def gallery_faces(device: str) -> np.ndarray:
    from ganstudio.engines import latent as L
    from ganstudio.engines.latent.jobs import shipped_directions

    lm = L.open_model("faces", device, "fp32")
    dirs = shipped_directions("faces", lm)
    cell = 128
    rows = seed_rows(L, lm, list(range(8)), 8, cell, "random seeds 0-7 (no truncation)")
    stds = [-2, -1, 0, 1, 2]
    for name in ("Smile", "Glasses", "Age", "Hair length"):
        if name in dirs.names:
            rows.append(latent_edit_row(L, lm, dirs, name, FACE_EDIT_SEED, stds, cell))
    res = lm.describe()
    return page(f"faces: StyleGAN2 {res['resolution']} px, trained on GAN Studio's face renderer "
                f"(cells enlarged x{cell // res['resolution']}, nearest)" if cell > res["resolution"]
                else "faces: StyleGAN2 trained on GAN Studio's face renderer", rows)


def gallery_fashion(device: str) -> np.ndarray:
    from ganstudio.engines import latent as L
    from ganstudio.engines.latent.jobs import shipped_directions

    lm = L.open_model("fashion", device, "fp32")
    dirs = shipped_directions("fashion", lm)
    cell = 96
    rows = seed_rows(L, lm, list(range(16)), 8, cell, "random seeds 0-15")
    rows.append(latent_edit_row(L, lm, dirs, "Shirt -> Dress", FASHION_SHIRT_SEED, FASHION_STDS, cell))
    rows.append(latent_edit_row(L, lm, dirs, "Sneaker -> Ankle boot", FASHION_SNEAKER_SEED, FASHION_STDS, cell))
    return page("fashion: DCGAN 32 px grey, trained on Fashion-MNIST (cells enlarged x3, nearest)", rows)


def gallery_landscapes(device: str) -> np.ndarray:
    from ganstudio.core.palettes import load_palette
    from ganstudio.datamakers.landscapes import render_landscape
    from ganstudio.engines import paint

    colors = load_palette("ade20k").colors
    rows = []
    for seed in (9001, 9002, 9003):
        label, photo, scene = render_landscape(seed, 256)
        out = paint.render(label, model="landscapes", device=device)
        kind = scene.get("archetype", "") if isinstance(scene, dict) else ""
        rows.append(titled_row(f"held-out scene, renderer seed {seed}" + (f" ({kind})" if kind else ""), [
            captioned(fit(colors[label], 256), "label map (ADE20K colours)"),
            captioned(fit(out, 256), "landscapes model"),
            captioned(fit(photo, 256), "renderer's photo (reference)")]))
    return page("landscapes: SPADE 256 px, ADE20K labels, trained on GAN Studio's landscape renderer", rows)


def gallery_painting(device: str) -> np.ndarray:
    from skimage import data

    from ganstudio.datamakers.paintings import paint_filter
    from ganstudio.engines.stylize.models import load_generator
    from ganstudio.engines.stylize.pipeline import stylize_array
    from ganstudio.runtime import resolve_runtime

    rt = resolve_runtime(device, "fp32")
    a2b, _, _ = load_generator("painting", "AtoB", rt.device)
    b2a, _, _ = load_generator("painting", "BtoA", rt.device)
    height = 256
    rows = []
    for name in ("astronaut", "coffee", "chelsea"):
        photo = getattr(data, name)()
        out = stylize_array(a2b, photo, runtime=rt)
        h, w = photo.shape[:2]
        rows.append(titled_row(f"{name} ({w}x{h}, run at full size)", [
            captioned(fit(photo, height), "photo"), captioned(fit(out, height), "AtoB: photo -> painterly")]))
    photo = data.astronaut()
    painted, _ = paint_filter(photo, 0, "oil")
    back = stylize_array(b2a, painted, runtime=rt)
    rows.append(titled_row("astronaut through GAN Studio's painting filter, then BtoA", [
        captioned(fit(painted, height), "painting filter (oil)"),
        captioned(fit(back, height), "BtoA: painterly -> photo")]))
    return page("painting: CycleGAN photo <-> painterly (GAN Studio's own filter, not artists' paintings)", rows)


MAKERS = {"faces": gallery_faces, "fashion": gallery_fashion, "landscapes": gallery_landscapes,
          "painting": gallery_painting}
NEEDS = {"faces": "faces", "fashion": "fashion", "landscapes": "landscapes", "painting": "painting"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/models", help="folder for the PNGs (default: %(default)s)")
    parser.add_argument("--only", help=f"a comma list out of {','.join(ALL)}")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(ALL)
    unknown = [n for n in names if n not in MAKERS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}; choose from {', '.join(ALL)}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    made = 0
    for name in names:
        if not present(NEEDS[name]):
            print(f"skipped {name}: the bundled model is not on this machine (yet)", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        write(Path(args.out) / f"{name}.png", MAKERS[name](args.device))
        print(f"  {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        made += 1
    return 0 if made else 1


if __name__ == "__main__":
    raise SystemExit(main())
