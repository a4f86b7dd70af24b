"""`ganstudio stylize IN... -o OUT --model M`: CycleGAN / pix2pix style transfer for images, folders or globs.

IN: image files, folders (with --recursive also their sub-folders, mirrored in OUT) or glob patterns. OUT is a
folder, or a file name for one input file. The batch rules are every batch command's (core.batch): files
already done are skipped (--overwrite redoes them), inputs sharing an output name are renamed and listed, bad
files are listed at the end and the rest finished, and no input (nor the model file) is ever written to.
--model takes a manifest id (``ganstudio models`` lists them, e.g. style_monet, horse2zebra), a generator file
or a training folder. Exit codes as every command (commands/common.py); one input file that cannot be
stylized is an error (2), like a model that cannot be used.
"""
from __future__ import annotations



def register(sub) -> None:
    from ganstudio.commands.common import add_batch_args, add_runtime_args

    p = sub.add_parser("stylize", help="CycleGAN / pix2pix style transfer for images, folders or globs",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders or glob patterns")
    add_batch_args(p)
    p.add_argument("--model", "-m", required=True, help="manifest id (e.g. style_monet) or a .pth file / folder")
    p.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB",
                   help="for models with both generators (G_A and G_B)")
    p.add_argument("--then-upscale", metavar="MODEL", default=None,
                   help="upscale each result afterwards with this Upscale model (e.g. x4plus)")
    p.add_argument("--official", action="store_true",
                   help="behave like the official test.py: resize to 256x256 (bicubic), truncate to 8 bits")
    p.add_argument("--pattern", default="{stem}_{model}",
                   help="output file name without suffix; fields {stem} {model} {direction} {ext} "
                        "(default: %(default)s)")
    p.add_argument("--format", default="png", choices=["png", "jpg", "webp", "tif", "same"],
                   help="output format; 'same' keeps the input's (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="same-size images per forward pass (default: 8 on CUDA, 1 on the CPU)")
    add_runtime_args(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ganstudio.commands.common import ProgressBar, error, handled, report_outcome, runtime_kwargs
    from ganstudio.core.progress import CancelToken, run_to_completion
    from ganstudio.engines.stylize import check_pattern, stylize_batch

    try:
        check_pattern(args.pattern)  # before anything is read or loaded
    except ValueError as exc:
        return error(exc)
    token = CancelToken()
    bar = _LazyBar(ProgressBar)
    token.set_listener(bar)  # progress from inside a forward pass (watched convolutions)
    with handled(bar) as outcome:
        report = run_to_completion(stylize_batch(
            token, args.inputs, args.output, args.model, direction=args.direction, recursive=args.recursive,
            pattern=args.pattern, fmt=args.format, official=args.official, then_upscale=args.then_upscale,
            batch_size=args.batch_size, overwrite=args.overwrite, **runtime_kwargs(args)), bar)
        bar.close()
        outcome.code = report_outcome(report, args.inputs)
    return outcome.code


class _LazyBar:
    """The progress bar, drawn from the first report on: a refusal before any work (a bad pattern, an
    output folder under a file, an unusable model) is then the one line on the terminal, not an empty bar
    followed by the error."""

    def __init__(self, make) -> None:
        self.make, self.bar = make, None

    def __call__(self, p) -> None:
        if self.bar is None:
            self.bar = self.make(unit="img")
        self.bar(p)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
