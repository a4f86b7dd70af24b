"""`ganstudio stylize IN -o OUT --model M`: CycleGAN / pix2pix style transfer for an image or a folder.

IN is an image (OUT is then a file or a folder) or a folder (OUT is a folder; the tree is mirrored, files
already done are skipped, bad files are listed at the end and the rest finished). --model takes a manifest id
(``ganstudio models`` lists them, e.g. style_monet, horse2zebra) or a generator file / training folder.
"""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("stylize", help="CycleGAN / pix2pix style transfer for an image or a whole folder",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("input", help="an image or a folder of images")
    p.add_argument("-o", "--output", required=True, help="output folder (or file when IN is an image)")
    p.add_argument("--model", "-m", required=True, help="manifest id (e.g. style_monet) or a .pth file / folder")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                   help="for models with both generators (G_A and G_B)")
    p.add_argument("--recursive", "-r", action="store_true", help="include sub-folders (mirrored in OUT)")
    p.add_argument("--then-upscale", metavar="MODEL", default=None,
                   help="upscale each result afterwards with this Upscale model (e.g. x4plus)")
    p.add_argument("--official", action="store_true",
                   help="behave like the official test.py: resize to 256x256 (bicubic), truncate to 8 bits")
    p.add_argument("--pattern", default="{stem}_{model}",
                   help="output file name without suffix; fields {stem} {model} {direction} {ext} "
                        "(default: %(default)s)")
    p.add_argument("--format", default="png", choices=["png", "jpg", "webp", "tif", "same"],
                   help="output format; 'same' keeps the input's (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="redo files whose output already exists")
    p.add_argument("--batch-size", type=int, default=None,
                   help="same-size images per forward pass (default: 8 on CUDA, 1 on CPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", default=None, choices=["fp32", "fp16", "bf16"],
                   help="default: fp16 autocast on CUDA, fp32 elsewhere")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import logging
    import sys
    from pathlib import Path

    from tqdm import tqdm

    from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion
    from ganstudio.engines import stylize as st

    src, out = Path(args.input), Path(args.output)
    token = CancelToken()
    try:
        if src.is_file():
            if out.suffix == "" or out.is_dir():
                out = out / st.output_path_for(src, src.parent, Path("."), args.pattern,
                                               args.format, _model_name(args.model), args.direction).name
            if out.resolve() == src.resolve():
                print(f"error: refusing to overwrite the input image {out}: choose another output",
                      file=sys.stderr)
                return 2
            out.parent.mkdir(parents=True, exist_ok=True)
            res = run_to_completion(st.stylize_image(
                token, src, args.model, direction=args.direction, official=args.official, preview_size=None,
                device=args.device, precision=args.precision))
            image = res["image"]
            if args.then_upscale:
                image = st._upscaler(args.then_upscale, args.device, args.precision, token)(image)
            st.save_result(token, image, out)
            print(f"wrote {out}")
            return 0
        if not src.is_dir():
            print(f"error: {src} is neither an image nor a folder", file=sys.stderr)
            return 2
        out.mkdir(parents=True, exist_ok=True)  # fails here, once, for an output folder that cannot be made
        bar = tqdm(total=0, unit="img", dynamic_ncols=True)

        def on_progress(p):
            bar.total = int(p.total)
            bar.n = int(p.done)
            bar.set_postfix_str(p.message[-60:], refresh=True)

        try:
            report = run_to_completion(st.stylize_folder(
                token, src, out, args.model, direction=args.direction, recursive=args.recursive,
                pattern=args.pattern, fmt=args.format, official=args.official, then_upscale=args.then_upscale,
                batch_size=args.batch_size, device=args.device, precision=args.precision,
                overwrite=args.overwrite), on_progress)
        finally:
            bar.close()
        print(report.summary())
        return 1 if report.failed else 0
    except KeyboardInterrupt:
        token.cancel()
        print("cancelled; run the same command again to finish (done files are skipped)", file=sys.stderr)
        return 130
    except Cancelled:
        return 130
    except ValueError as exc:
        logging.getLogger(__name__).debug("details", exc_info=True)  # the traceback, with -v only
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an output folder under a file or on a read-only disk
        where = exc.filename or out
        logging.getLogger(__name__).debug("details", exc_info=True)
        print(f"error: cannot write {where}: {exc.strerror}" if exc.strerror else f"error: {exc}", file=sys.stderr)
        return 2


def _model_name(model: str) -> str:
    from pathlib import Path

    p = Path(model)
    if p.is_file():
        return p.stem
    return p.name  # a training folder, or a manifest id: whole (library ids such as user.monet hold dots)
