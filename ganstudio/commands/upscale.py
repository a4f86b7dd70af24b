"""`ganstudio upscale IN... -o OUT`: Real-ESRGAN super-resolution for files, folders or globs.

IN may be image files, folders (their images, with --recursive also sub-folders, mirrored in OUT) or glob
patterns. OUT is a folder; with exactly one input file it may also be a file name. Files already done are
skipped (--overwrite redoes them), bad files are listed at the end and the rest finished. No input is ever
written to, --overwrite included; inputs that would share an output name are renamed (and listed). A large
image says first what it will take (memory, time); a large PNG result is written tile by tile. Models:
x4plus (photos, default), x4plus-anime, animevideov3-x2/-x3/-x4 (fast), a manifest id, or any RRDBNet /
ESRGAN / Real-ESRGAN / SRVGG checkpoint file.
"""
from __future__ import annotations

MODEL_HELP = "x4plus (default), x4plus-anime, animevideov3-x2/-x3/-x4, a manifest id or a checkpoint file"


def register(sub) -> None:
    from ganstudio.commands.common import add_batch_args, add_runtime_args

    p = sub.add_parser("upscale", help="Real-ESRGAN super-resolution for images, folders or globs",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    add_batch_args(p)
    p.add_argument("--model", "-m", default="x4plus", help=MODEL_HELP)
    # a string, checked by the engine: 'inf', 'nan', '-2' or '1e9' get one clear line, not argparse's usage
    p.add_argument("--scale", "-s", default=None,
                   help="output scale, 0.25 to 16 (default: the model's); other values than the model's resize "
                        "with Lanczos afterwards")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in input pixels (default: from free memory; 0 = whole image)")
    p.add_argument("--overlap", type=int, default=None, help="context pixels around each tile (default: per model)")
    add_runtime_args(p)
    p.add_argument("--half", action="store_true", help="deprecated: the same as --precision fp16")
    p.add_argument("--alpha", choices=["bicubic", "network"], default="bicubic",
                   help="how the alpha channel is upscaled (default: %(default)s)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import sys

    from ganstudio.commands.common import ProgressBar, error, handled, print_report, runtime_kwargs
    from ganstudio.core.progress import CancelToken, run_to_completion
    from ganstudio.engines import upscale as U

    if args.half and args.precision not in ("auto", "fp16"):
        return error(f"--half means --precision fp16; it contradicts --precision {args.precision}")
    # refusals first, in one line each and before any bar is drawn
    with handled() as refused:
        scale = U.check_scale(args.scale)
        if args.half:  # deprecated alias, as it always was: fp16 where the device has it, ignored elsewhere
            args.precision = "fp16" if _has_fp16(args.device) else args.precision
            print("note: --half is deprecated; use --precision fp16"
                  + ("" if args.precision == "fp16" else " (there is no fp16 here: ignored)"), file=sys.stderr)
        rt = runtime_kwargs(args)  # strict: a device this machine lacks is refused, never run elsewhere
        plan = U.plan_upscale(args.inputs, args.output, recursive=args.recursive, overwrite=args.overwrite)
        if plan.single_file and plan.report.failed:  # the one file asked for cannot be written
            return error(f"refusing to overwrite the input image {args.inputs[0]}: choose another output")
    if refused.code:
        return refused.code

    token = CancelToken()
    bar = ProgressBar()

    def show(p) -> None:
        notice = p.extra.get("notice") if p.extra else None
        if notice:
            bar.bar.write(notice, file=sys.stderr)  # what a large image will take: above the bar, kept
        else:
            bar(p)

    token.set_listener(show)  # progress from inside a tile, between the network's blocks
    with handled(bar) as outcome:
        report = run_to_completion(
            U.upscale_batch(args.inputs, args.output, model=args.model, scale=scale, tile=args.tile,
                            overlap=args.overlap, alpha=args.alpha, plan=plan, thumb_size=0, cancel=token, **rt),
            show)
        bar.close()
        if plan.single_file and report.failed:  # one file is not a batch: its failure is the command's
            return error(report.failed[0]["reason"])
        outcome.code = print_report(report)
    token.set_listener(None)
    return outcome.code


def _has_fp16(device: str) -> bool:
    from ganstudio.runtime import select_device, supported_precisions

    return "fp16" in supported_precisions(select_device(device, strict=True))
