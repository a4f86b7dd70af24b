"""`ganstudio synth LABELMAP... -o OUT --model M [--seed S]`: semantic label maps -> images with SPADE.

LABELMAP: label-map PNGs (indexed / grey ids, or colour-coded through the model's palette), folders (with
--recursive also their sub-folders, mirrored in OUT) or glob patterns. OUT is a folder, or a file name for
one input file (`synth map.png -o out.png`). The batch rules are every batch command's (core.batch): maps
already rendered are skipped (--overwrite redoes them), inputs sharing an output name are renamed, bad maps
are listed at the end and the rest finished, and neither an input label map nor the model file is ever
written to. Exit codes as every command (commands/common.py); one input file that cannot be rendered is an
error (2), like a model that cannot be used.
"""
from __future__ import annotations



def _size(text: str):
    if text in ("native", "full"):
        return text
    try:
        h, w = text.lower().split("x")
        return int(h), int(w)
    except ValueError:
        raise ValueError(f"--size must be native, full or HxW (e.g. 256x512), not {text!r}") from None


def register(sub) -> None:
    from ganstudio.commands.common import add_batch_args, add_runtime_args

    p = sub.add_parser("synth", help="turn semantic label maps into images (SPADE / GauGAN)",
                       description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("labelmaps", nargs="+", metavar="LABELMAP", help="label-map PNGs, folders or glob patterns")
    add_batch_args(p, recursive_default=True)
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
    add_runtime_args(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ganstudio.commands.common import ProgressBar, error, handled, report_outcome, runtime_kwargs
    from ganstudio.core.progress import CancelToken, run_to_completion
    from ganstudio.engines.paint import synth

    try:
        size = _size(args.size)
    except ValueError as exc:
        return error(exc)
    overrides = {"num_upsampling_layers": args.upsampling, "crop_size": args.crop_size,
                 "aspect_ratio": args.aspect_ratio, "label_nc": args.label_nc}
    token = CancelToken()
    bar = ProgressBar(unit="map")
    token.set_listener(bar)  # progress from inside a map's forward (watched SPADE layers)
    with handled(bar) as outcome:
        report = run_to_completion(
            synth(args.labelmaps, args.output, model=args.model, seed=args.seed, size=size, overrides=overrides,
                  palette=args.palette, unknown="nearest" if args.nearest else "error", recursive=args.recursive,
                  overwrite=args.overwrite, cancel=token, **runtime_kwargs(args)), bar)
        bar.close()
        outcome.code = report_outcome(report, args.labelmaps)
    return outcome.code
