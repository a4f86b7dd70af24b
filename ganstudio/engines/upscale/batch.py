"""Upscale many files: ``core.batch`` plans (inputs, mirrored tree, the never-overwrite-an-input rule,
collisions, skip-done) and runs them (decode-ahead, pause / cancel, report, thumbnails); each file is one
``to_file.upscale_file``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ganstudio.core.batch import BatchItem, BatchPlan, plan_batch, run_batch
from ganstudio.core.progress import CancelToken, EtaClock, Progress, format_eta
from ganstudio.engines.upscale import pipeline as P
from ganstudio.engines.upscale.to_file import read_ahead, upscale_file

THUMB = 128


def plan_upscale(inputs, output, *, recursive: bool = True, overwrite: bool = False) -> BatchPlan:
    """The batch plan: outputs keep the input's relative path and name (PNG where the format cannot be
    written); ``output`` may be a file name for one input file."""
    return plan_batch(inputs, output, recursive=recursive, overwrite=overwrite)


def _in_file_reporter(cancel: Optional[CancelToken], i: int, n: int, name: str, clock: EtaClock):
    """In-tile progress of file ``i`` of ``n`` as a fraction of the batch (what run_batch does with the
    Progress a file's job yields, for the reports sent from inside a forward)."""
    if cancel is None:
        return None

    def report(p: Progress) -> None:
        if p.extra.get("notice"):
            cancel.report(Progress(i, n, p.message, extra=p.extra))  # what a large file will take
            return
        done = i + p.fraction
        inner = p.message.split(" · ETA")[0]
        cancel.report(Progress(done, n, f"file {i + 1}/{n} {name} · {inner} · ETA "
                                        f"{format_eta(clock.eta_seconds(done, n))}"))

    return report


def upscale_batch(
    inputs,
    output_dir,
    *,
    model=P.DEFAULT_MODEL,
    scale: Optional[float] = None,
    tile: Optional[int] = None,
    overlap: Optional[int] = None,
    device="auto",
    precision="auto",
    alpha: str = "bicubic",
    recursive: bool = True,
    overwrite: bool = False,
    upscaler: Optional[P.Upscaler] = None,
    plan: Optional[BatchPlan] = None,
    thumb_size: int = THUMB,
    cancel: Optional[CancelToken] = None,
):
    """Generator: upscale files / folders / globs into ``output_dir`` (a mirrored tree; or one file) and
    return the ``core.batch.BatchReport``. Files whose output exists are skipped (outputs are written
    atomically), a bad file is reported and the rest finished; the model is loaded only if there is work.
    ``plan``: one made beforehand with ``plan_upscale`` (the CLI does, to refuse a bad single file first)."""
    scale = P.check_scale(scale)
    if plan is None:
        plan = plan_upscale(inputs, output_dir, recursive=recursive, overwrite=overwrite)
    cancel = cancel or CancelToken()
    up = upscaler
    if plan.items and up is None:
        up = P.load_upscaler(model, device, precision)
    n = len(plan.items)
    index = {id(item): i for i, item in enumerate(plan.items)}
    clock = EtaClock()

    def process(item: BatchItem, decoded):
        item.output.parent.mkdir(parents=True, exist_ok=True)
        i = index[id(item)]
        return upscale_file(item.source, item.output, scale=scale, tile=tile, overlap=overlap, alpha=alpha,
                            upscaler=up, cancel=cancel, image=decoded, thumb_size=thumb_size,
                            report=_in_file_reporter(cancel, i, n, Path(item.source).name, clock))

    return (yield from run_batch(plan, process, read=read_ahead, cancel=cancel))
