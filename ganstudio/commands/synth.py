"""`ganstudio synth LABELMAP... -o OUT --model M [--seed S]`: semantic label maps -> images with SPADE.

LABELMAP: label-map PNGs (indexed / grey ids, or colour-coded through the model's palette) and folders
(searched recursively; outputs keep the relative layout). OUT is a folder, or a file name for one input.
Bad label maps are listed at the end ("N written, M failed", exit code 1) and the rest finished. The input
label maps and the model file are never overwritten.
"""
from __future__ import annotations

import sys


def _size(text: str):
    if text in ("native", "full"):
        return text
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise ValueError(f"--size must be native, full or HxW (e.g. 256x512), not {text!r}") from None


def register(sub) -> None:
    p = sub.add_parser("synth", help="turn semantic label maps into images (SPADE / GauGAN)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("labelmaps", nargs="+", metavar="LABELMAP", help="label-map PNGs or folders of them")
    p.add_argument("-o", "--output", required=True, help="output folder (or a .png file for one input)")
    p.add_argument("--model", "-m", required=True, help="a SPADE checkpoint (e.g. latest_net_G.pth) or a manifest id")
    p.add_argument("--seed", type=int, default=0, help="latent seed (only models with an encoder/VAE use it)")
    p.add_argument("--size", default="native",
                   help="native (the model's own size, as the official test.py), full (the label map's size, "
                        "rounded to the model's multiple) or HxW (default: %(default)s)")
    p.add_argument("--upsampling", choices=["normal", "more", "most"],
                   help="SPADE upsampling mode when the file cannot tell (e.g. 'more' for a Cityscapes-style model)")
    p.add_argument("--crop-size", type=int, help="the model's training crop size (sets the native width)")
    p.add_argument("--aspect-ratio", type=float, help="the model's width / height (2 for Cityscapes)")
    p.add_argument("--label-nc", type=int, help="number of labels, when the file's channel count is ambiguous")
    p.add_argument("--palette", help="palette of colour-coded label maps: ade20k, coco_stuff, cityscapes or a JSON")
    p.add_argument("--nearest", action="store_true", help="map colours not in the palette to the nearest label "
                                                          "instead of refusing the file")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import logging
    from pathlib import Path

    from tqdm import tqdm  # a dependency (pyproject.toml), as in the other commands

    from ganstudio.core.progress import Cancelled, CancelToken, run_to_completion
    from ganstudio.engines.paint import synth
    from ganstudio.runtime import select_device

    log = logging.getLogger(__name__)
    try:
        size = _size(args.size)
        device = str(select_device(args.device))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    overrides = {"num_upsampling_layers": args.upsampling, "crop_size": args.crop_size,
                 "aspect_ratio": args.aspect_ratio, "label_nc": args.label_nc}
    token = CancelToken()
    bar = None
    out = Path(args.output)

    def report(p) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=int(p.total), unit="map", file=sys.stderr)
        bar.total = int(p.total)
        bar.n = int(p.done)
        bar.set_postfix_str(p.message[-60:], refresh=True)

    error = None
    try:
        result = run_to_completion(
            synth(args.labelmaps, out, model=args.model, seed=args.seed, size=size, device=device,
                  overrides=overrides, palette=args.palette, unknown="nearest" if args.nearest else "error",
                  cancel=token), report)
    except KeyboardInterrupt:
        token.cancel()
        error = "cancelled"
    except Cancelled:
        error = ""
    except ValueError as exc:  # CheckpointError, LabelMapError, refusals to overwrite an input or the model
        log.debug("details", exc_info=True)  # the traceback, with -v only
        error = f"error: {exc}"
    except OSError as exc:  # no such input, an output folder under a file or on a read-only disk
        log.debug("details", exc_info=True)
        if exc.strerror and exc.filename:
            where = Path(exc.filename)
            writing = where == out or where in out.parents or out in where.parents
            error = f"error: cannot {'write' if writing else 'read'} {where}: {exc.strerror}"
        else:
            error = f"error: {exc}"
    finally:
        if bar is not None:
            bar.close()  # before any message: the bar's line must not swallow it
    if error is not None:
        if error:
            print(error, file=sys.stderr)
        return 130 if error in ("", "cancelled") else 2
    for path in result:
        print(path)
    one_file = len(args.labelmaps) == 1 and Path(args.labelmaps[0]).is_file()
    if not one_file:
        print(result.summary())
    for f in result.failed:
        print(f"  failed: {f['reason']}", file=sys.stderr)
    return 1 if result.failed else 0
