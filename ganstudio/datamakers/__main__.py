"""Command line of the data makers.

    python -m ganstudio.datamakers faces         --count 20000 --size 128 --seed 0 -o DIR [--workers N]
    python -m ganstudio.datamakers landscapes    --count 10000 --size 256 --seed 0 -o DIR
    python -m ganstudio.datamakers paintings     --count 5000  --size 256 --seed 0 -o DIR [--sources ...]
    python -m ganstudio.datamakers fashion-mnist --size 32 -o DIR [--cache DIR]
    python -m ganstudio.datamakers preview faces -o sheet.png   (a contact sheet, nothing else written)

Every maker resumes: files already in DIR are kept, so an interrupted run can simply be started again,
and ``--start`` extends a folder. The same seed always gives byte-identical files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ganstudio.datamakers.common import DataMakerError


def _common(p: argparse.ArgumentParser, size: int, count: bool = True) -> None:
    if count:
        p.add_argument("--count", type=int, required=True, help="how many images (per domain for paintings)")
        p.add_argument("--start", type=int, default=0, help="index of the first image (to extend a folder)")
    p.add_argument("--size", type=int, default=size, help=f"image size in pixels (default {size})")
    p.add_argument("--seed", type=int, default=0, help="data set seed (default 0)")
    p.add_argument("-o", "--out", required=True, type=Path, help="output folder")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m ganstudio.datamakers",
                                 description="Make GAN Studio's training data sets (deterministic from --seed).")
    sub = ap.add_subparsers(dest="maker", required=True)
    p = sub.add_parser("faces", help="parametric portraits + labels.jsonl (StyleGAN2 'faces')")
    _common(p, 128)
    p.add_argument("--supersample", type=float, default=2.0, help="render at this multiple of --size (default 2)")
    p = sub.add_parser("landscapes", help="ADE20K label maps + rendered photos (SPADE 'landscapes')")
    _common(p, 256)
    p = sub.add_parser("paintings", help="photo crops (trainA) and painting-like crops of other photos (trainB)")
    _common(p, 256)
    p.add_argument("--test-count", type=int, default=None, help="held-out crops per domain (default count/10)")
    p.add_argument("--sources", default="skimage,mate,plasma",
                   help="photo sources, comma-separated: skimage (CC0/public domain), mate, plasma (Debian "
                        "wallpaper packages, GPL-2+, fetched with apt-get download). Default: all three")
    p.add_argument("--style", default="oil", choices=("oil", "watercolor", "mix"))
    p.add_argument("--cache", type=Path, default=None, help="where Debian packages are unpacked")
    p = sub.add_parser("fashion-mnist", help="Debian's Fashion-MNIST as train/ and test/ PNG folders")
    _common(p, 28, count=False)
    p.add_argument("--count", type=int, default=None, help="at most this many images per split (default all)")
    p.add_argument("--cache", type=Path, default=None, help="where the Debian package is unpacked")
    p = sub.add_parser("preview", help="write a contact sheet of a maker's output (nothing else)")
    p.add_argument("kind", choices=("faces", "landscapes", "paintings"))
    p.add_argument("-o", "--out", required=True, type=Path, help="PNG file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sources", default="skimage")
    p.add_argument("--cache", type=Path, default=None)
    return ap


def preview(kind: str, out: Path, seed: int = 0, sources=("skimage",), cache_dir=None) -> Path:
    """Contact sheet: 32 faces, 8 landscape pairs (palette-coloured labels beside photos), or 8 A + 8 B crops."""
    from ganstudio.datamakers.common import contact_sheet, rng_for, write_png

    tiles = []
    if kind == "faces":
        from ganstudio.datamakers.faces import render_face_params, sample_face_params

        tiles = [render_face_params(sample_face_params(rng_for(seed, i, "faces")), 128) for i in range(32)]
        sheet = contact_sheet(tiles, 8)
    elif kind == "landscapes":
        from ganstudio.core.palettes import load_palette
        from ganstudio.datamakers.landscapes import render_landscape

        pal = load_palette("ade20k")
        for i in range(8):
            lab, photo, _ = render_landscape(rng_for(seed, i, "landscapes"), 256)
            tiles += [pal.colorize(lab), photo]
        sheet = contact_sheet(tiles, 4)
    else:
        import tempfile

        from ganstudio.datamakers.paintings import _painting_job, photo_pool, split_pool

        a, b = split_pool(photo_pool(tuple(sources), cache_dir), seed)
        from ganstudio.core.imageio import read_image

        with tempfile.TemporaryDirectory() as tmp:
            for split, half in (("trainA", a), ("trainB", b)):
                (Path(tmp) / split).mkdir()
                for i in range(8):
                    rec = _painting_job(i, tmp, split, seed, 256, tuple((p.name, f) for p, f in half), "oil")
                    tiles.append(read_image(Path(tmp) / rec["file"]).pixels[:, :, :3])
        sheet = contact_sheet(tiles, 8)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, sheet)
    return out


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.maker == "faces":
            from ganstudio.datamakers.faces import make_faces

            make_faces(args.out, args.count, args.size, args.seed, args.start, args.workers, not args.quiet,
                       ss=args.supersample)
        elif args.maker == "landscapes":
            from ganstudio.datamakers.landscapes import make_landscapes

            make_landscapes(args.out, args.count, args.size, args.seed, args.start, args.workers, not args.quiet)
        elif args.maker == "paintings":
            from ganstudio.datamakers.paintings import make_paintings

            make_paintings(args.out, args.count, args.size, args.seed, args.start, args.workers, args.test_count,
                           tuple(s.strip() for s in args.sources.split(",") if s.strip()), args.style, args.cache,
                           not args.quiet)
        elif args.maker == "fashion-mnist":
            from ganstudio.datamakers.fashion_mnist import make_fashion_mnist

            make_fashion_mnist(args.out, args.size, args.cache, args.count, args.workers, not args.quiet)
        else:
            out = preview(args.kind, args.out, args.seed, tuple(s for s in args.sources.split(",") if s), args.cache)
            print(out)
    except DataMakerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
