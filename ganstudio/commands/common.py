"""What every command shares: the runtime flags, the batch flags, the progress bar, the report and the
exit codes. One place, so every command reads and behaves alike.

Exit codes (all commands):
    0    everything done (or already done)
    1    finished, but some files failed (listed on stderr)
    2    refused before starting: bad arguments, an unusable model or output, a device this machine lacks
    130  cancelled (Ctrl-C); whatever was written is complete and is skipped on a re-run
"""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path

EXIT_OK, EXIT_SOME_FAILED, EXIT_REFUSED, EXIT_CANCELLED = 0, 1, 2, 130

log = logging.getLogger("ganstudio.commands")


def add_runtime_args(p) -> None:
    """--device / --precision, the same on every command that runs a network (default: auto)."""
    p.add_argument("--device", default="auto",
                   help="auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s); "
                        "a device this machine does not have is refused")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                   help="auto = fp16 on CUDA, bf16 on CPUs with bf16 matrix units (AMX), else fp32 "
                        "(default: %(default)s)")


def runtime_kwargs(args) -> dict:
    """``{"device", "precision"}`` for an engine call, checked strictly: ``--device cuda`` without CUDA is
    an error (raised as DeviceError, a UserError), never a silent run on the CPU."""
    from ganstudio.runtime import resolve_runtime

    rt = resolve_runtime(args.device, args.precision, strict=True)
    return rt.as_kwargs()


def add_batch_args(p, recursive_default: bool = False) -> None:
    """-o, --recursive, --overwrite: the same on upscale, stylize and synth."""
    p.add_argument("-o", "--output", required=True,
                   help="output folder (the input tree is mirrored there), or a file name for one input image")
    p.add_argument("--recursive", "-r", action="store_true", default=recursive_default,
                   help="include sub-folders of folder inputs")
    p.add_argument("--overwrite", action="store_true",
                   help="redo files whose output already exists (inputs are never overwritten)")


def error(msg) -> int:
    """Print one 'error: ...' line (the traceback only with -v) and return EXIT_REFUSED."""
    from ganstudio.core.errors import user_message

    if sys.exc_info()[0] is not None:
        log.debug("details", exc_info=True)
    text = user_message(msg) if isinstance(msg, BaseException) else str(msg)
    print(f"error: {text}", file=sys.stderr)
    return EXIT_REFUSED


class ProgressBar:
    """A tqdm bar fed with Progress reports (fractional 'done', the message as postfix)."""

    def __init__(self, unit: str = "img") -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=0, unit=unit, dynamic_ncols=True, file=sys.stderr,
                        bar_format="{l_bar}{bar}| {n:.2f}/{total_fmt} [{elapsed}<{remaining}]{postfix}")

    def __call__(self, p) -> None:
        self.bar.total = max(float(p.total), 1)
        self.bar.n = float(p.done)
        if p.message:
            self.bar.set_postfix_str(p.message[-80:], refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def print_report(report) -> int:
    """Print a ``core.batch.BatchReport``: the summary on stdout, one line per failure / rename on stderr.
    Returns its exit code."""
    print(report.summary())
    for line in report.detail_lines():
        print(f"  {line}", file=sys.stderr)
    return report.exit_code


def report_outcome(report, inputs) -> int:
    """The end of a batch command. One input file asked for: the job *is* that file, so its failure is
    a refusal in one line (as a bad model is) and its success names the file written; anything else prints
    the batch report. Returns the exit code."""
    one_file = len(inputs) == 1 and Path(inputs[0]).is_file() and report.total == 1
    if one_file and report.failed:
        failure = report.failed[0]
        print(f"error: {failure['input']}: {failure['reason']}", file=sys.stderr)
        return EXIT_REFUSED
    if one_file and report.done:
        print(f"wrote {report.done[0]['output']}")
        return EXIT_OK
    return print_report(report)


@contextmanager
def handled(bar: "ProgressBar | None" = None):
    """Run a command body; turn what users cause into one line and an exit code.

        with handled(bar) as outcome:
            ...
            outcome.code = print_report(report)
        return outcome.code
    """
    from ganstudio.core.errors import is_user_error
    from ganstudio.core.progress import Cancelled

    class Outcome:
        code = EXIT_OK

    outcome = Outcome()
    try:
        yield outcome
    except (KeyboardInterrupt, Cancelled) as exc:
        if bar is not None:
            bar.close()
        report = getattr(exc, "report", None)
        if report is not None:
            print(report.summary(), file=sys.stderr)
        print("cancelled", file=sys.stderr)
        outcome.code = EXIT_CANCELLED
    except Exception as exc:  # noqa: BLE001 - sorted below: user errors are one line, bugs keep the traceback
        if bar is not None:
            bar.close()
        if not is_user_error(exc):
            raise
        outcome.code = error(exc)
    else:
        if bar is not None:
            bar.close()
