"""`ganstudio upscale IN... -o OUT`: Real-ESRGAN super-resolution for files, folders or globs.

IN may be image files, folders (their images, with --recursive also sub-folders, mirrored in OUT) or glob
patterns. OUT is a folder; with exactly one input file it may also be a file name. Files already done are
skipped (--overwrite redoes them), bad files are listed at the end and the rest finished. The input is never
overwritten. Models: x4plus (photos, default), x4plus-anime, animevideov3-x2/-x3/-x4 (fast), a manifest id,
or any RRDBNet / ESRGAN / Real-ESRGAN / SRVGG checkpoint file.
"""
from __future__ import annotations

MODEL_HELP = "x4plus (default), x4plus-anime, animevideov3-x2/-x3/-x4, a manifest id or a checkpoint file"


def register(sub) -> None:
    p = sub.add_parser("upscale", help="Real-ESRGAN super-resolution for images, folders or globs",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output folder (or a file for a single input file)")
    p.add_argument("--model", "-m", default="x4plus", help=MODEL_HELP)
    p.add_argument("--scale", "-s", type=float, default=None,
                   help="output scale (default: the model's); other values resize with Lanczos afterwards")
    p.add_argument("--tile", type=int, default=None,
                   help="tile side in input pixels (default: from free memory; 0 = whole image)")
    p.add_argument("--overlap", type=int, default=None, help="context pixels around each tile (default: per model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--half", action="store_true", help="fp16 on CUDA/MPS (ignored on the CPU)")
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    p.add_argument("--alpha", choices=["bicubic", "network"], default="bicubic",
                   help="how the alpha channel is upscaled (default: %(default)s)")
    p.add_argument("--recursive", "-r", action="store_true", help="include sub-folders of folder inputs")
    p.add_argument("--overwrite", action="store_true", help="redo files whose output already exists")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import logging
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from ganstudio.core.files import same_file
    from ganstudio.core.imageio import WRITE_SUFFIXES
    from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion
    from ganstudio.engines import upscale as U

    token = CancelToken()
    out = Path(args.output)
    try:
        pairs = U.expand_inputs(args.inputs, recursive=args.recursive, exclude=out)
    except (FileNotFoundError, ValueError) as exc:
        logging.getLogger(__name__).debug("details", exc_info=True)  # the traceback, with -v only
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not pairs:
        print("error: no images found in the inputs", file=sys.stderr)
        return 2
    try:
        up = U.load_upscaler(args.model, args.device, args.precision, args.half)
    except (ValueError, OSError) as exc:
        logging.getLogger(__name__).debug("details", exc_info=True)  # the traceback, with -v only
        print(f"error: {exc}", file=sys.stderr)
        return 2

    bar = tqdm(total=0, unit="img", dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.2f}/{total_fmt} images [{elapsed}]{postfix}")

    def on_progress(p):
        bar.total = max(int(p.total), 1)
        bar.n = float(p.done)
        bar.set_postfix_str(p.message[-70:], refresh=True)

    try:
        single_file = (len(args.inputs) == 1 and Path(args.inputs[0]).is_file()
                       and out.suffix.lower() in WRITE_SUFFIXES and not out.is_dir())
        if single_file:
            src = Path(args.inputs[0])
            if same_file(out, src):
                bar.close()
                print(f"error: refusing to overwrite the input image {out}: choose another output",
                      file=sys.stderr)
                return 2
            if out.exists() and not args.overwrite:
                bar.close()
                print(f"skipped {src}: {out} already exists (--overwrite to redo)")
                return 0
            out.parent.mkdir(parents=True, exist_ok=True)
            bar.total = 1
            res = run_to_completion(U.upscale_file(src, out, scale=args.scale, tile=args.tile, overlap=args.overlap,
                                                   alpha=args.alpha, upscaler=up, cancel=token), on_progress)
            bar.close()
            print(f"wrote {res['output']} ({res['size'][0]}x{res['size'][1]}, {res['seconds']:.1f} s)")
            return 0
        out.mkdir(parents=True, exist_ok=True)  # fails here, once, for an output folder that cannot be made
        report = run_to_completion(U.upscale_batch(
            args.inputs, out, scale=args.scale, tile=args.tile, overlap=args.overlap, alpha=args.alpha,
            recursive=args.recursive, overwrite=args.overwrite, upscaler=up, cancel=token), on_progress)
    except KeyboardInterrupt:
        token.cancel()
        bar.close()
        print("cancelled", file=sys.stderr)
        return 130
    except Cancelled:
        bar.close()
        return 130
    except ValueError as exc:
        bar.close()
        logging.getLogger(__name__).debug("details", exc_info=True)  # the traceback, with -v only
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder under a file or on a read-only disk
        bar.close()
        logging.getLogger(__name__).debug("details", exc_info=True)
        print(f"error: cannot write {exc.filename or out}: {exc.strerror}" if exc.strerror else f"error: {exc}",
              file=sys.stderr)
        return 2
    bar.close()
    print(f"{len(report['done'])} written, {len(report['skipped'])} skipped (already done), "
          f"{len(report['failed'])} failed -> {report['output_dir']}")
    for f in report["failed"]:
        reason = str(f["reason"])
        prefix = f"{f['input']}: "
        print(f"  failed: {prefix}{reason[len(prefix):] if reason.startswith(prefix) else reason}",
              file=sys.stderr)
    return 1 if report["failed"] else 0
