"""The one batch runner: every command and panel that processes many files (upscale, stylize, synth, the
trainer's data check) plans and runs its batch here, with the same rules, report and progress.

Two steps:

``plan_batch(inputs, output, name=...)`` -> ``BatchPlan``
    Inputs are files, folders or glob patterns; folders are walked (``recursive``) and mirrored below the
    output folder (several folders each get a subfolder named after them). The rules, the same for all:

    * **outputs are never inputs.** An output folder equal to an input folder is refused; an output folder
      inside an input folder is allowed, and nothing under it is ever read as input (no ``A/A/A/...``
      growth). A planned output that *is* an input file (or a ``protected`` file such as the model) is
      refused for that file, ``overwrite`` or not: no command ever writes over a file it was given;
    * **collisions are resolved before anything runs**: inputs that would land on one output name
      (``a.jpg``, ``a.png`` -> ``a_x4.png``) keep their extension in the name (``a_jpg_x4.png``, ...),
      numbered if that still collides, and the report lists every rename;
    * a name that would leave the output folder (a pattern like ``../../x_{stem}``) is refused;
    * an output folder under a file or on a read-only disk is refused once, before any work;
    * an output that exists is skipped as done (outputs are written atomically, so an existing file is
      complete) unless ``overwrite``; temp files a killed run left beside the planned outputs are removed.

``run_batch(plan, process, read=...)``: a generator (an engine job)
    Decodes ahead in a worker thread (``read``), calls ``process(item, decoded)`` per file (which may itself
    be a generator of Progress within the file), goes on past a bad file and reports it, checks the
    CancelToken between files (pause blocks there; ``process`` checks it within a file), yields Progress
    with an ETA, the file names and a thumbnail, and returns the ``BatchReport``. On cancel it raises
    ``Cancelled`` carrying the partial report as ``.report``.

Plain Python + numpy: the engines bring the torch work as ``process``.
"""
from __future__ import annotations

import concurrent.futures as cf
import glob
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from ganstudio.core.errors import InputError, is_user_error, user_message
from ganstudio.core.files import same_file
from ganstudio.core.imageio import IMAGE_SUFFIXES, is_image_path
from ganstudio.core.progress import CancelToken, Cancelled, EtaClock, Progress, format_eta

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- report
@dataclass
class BatchReport:
    """What a batch did. Every entry names its input once; ``failed`` reasons never repeat the path."""

    output_dir: str = ""
    total: int = 0
    done: list = field(default_factory=list)  # {"input", "output"}
    skipped: list = field(default_factory=list)  # {"input", "output", "reason"}
    failed: list = field(default_factory=list)  # {"input", "reason"}
    renamed: list = field(default_factory=list)  # {"input", "output", "reason"}: collisions resolved
    cancelled: bool = False
    seconds: float = 0.0

    def fail(self, src, exc_or_reason) -> None:
        reason = exc_or_reason if isinstance(exc_or_reason, str) else user_message(exc_or_reason)
        self.failed.append({"input": str(src), "reason": strip_path(reason, src)})

    def summary(self) -> str:
        """One line: '3 written, 1 skipped (already done), 1 failed -> out'."""
        s = f"{len(self.done)} written, {len(self.skipped)} skipped (already done), {len(self.failed)} failed"
        if self.renamed:
            s += f", {len(self.renamed)} renamed to avoid a name clash"
        if self.cancelled:
            s += ", cancelled"
        return s + (f" -> {self.output_dir}" if self.output_dir else "")

    def detail_lines(self) -> list[str]:
        """One line per failed / renamed file, the path named once."""
        out = [f"failed: {f['input']}: {f['reason']}" for f in self.failed]
        out += [f"renamed: {r['input']} -> {Path(r['output']).name} ({r['reason']})" for r in self.renamed]
        return out

    def text(self) -> str:
        return "\n".join([self.summary()] + ["  " + line for line in self.detail_lines()])

    @property
    def exit_code(self) -> int:
        """The CLI's exit code: 0 when nothing failed, 1 when some file failed (2 = refused before
        starting and 130 = cancelled are the commands' own)."""
        return 1 if self.failed else 0


def strip_path(reason: str, src) -> str:
    """``reason`` without a leading 'PATH: ' / 'NAME: ' (the report names the file already)."""
    for prefix in (f"{src}: ", f"{Path(src).name}: "):
        if reason.startswith(prefix):
            return reason[len(prefix):]
    return reason


# ------------------------------------------------------------------------------------------- inputs
def _is_glob(s: str) -> bool:
    return any(ch in s for ch in "*?[") and not Path(s).exists()


def gather_inputs(inputs: Iterable, recursive: bool = True, output: Optional[Path] = None,
                  accept: Callable[[Path], bool] = is_image_path) -> list[tuple[Path, Path]]:
    """Files, folders or globs -> [(file, path relative to the output folder)], in order, each file once.

    A folder's files keep their path below it; with several folders each gets a subfolder named after it
    so their trees cannot collide; loose files go to the top. Hidden files and folders are skipped; files
    under ``output`` (when it lies inside an input folder) are never taken: outputs are never inputs."""
    items: list[Path] = []
    for raw in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs):
        s = str(raw)
        if _is_glob(s):
            matches = sorted(glob.glob(s, recursive=True))
            if not matches:
                raise InputError(f"{s}: matches no files")
            items.extend(Path(m) for m in matches)
        else:
            p = Path(s)
            if not p.exists():
                raise InputError(f"{s}: no such file or folder")
            items.append(p)
    out_res = Path(output).resolve() if output is not None else None
    folders = [p for p in items if p.is_dir()]
    pairs: list[tuple[Path, Path]] = []
    seen: set[Path] = set()

    def add(f: Path, rel: Path, holds_output: bool, key: Path) -> None:
        if key in seen:
            return  # the same file given twice (a file and its folder): processed once
        if holds_output and out_res in key.parents:
            return  # an earlier result inside an input folder's tree
        seen.add(key)
        pairs.append((f, rel))

    for p in items:
        if p.is_dir():
            pr = p.resolve()
            if out_res is not None and out_res == pr:
                raise InputError(f"the output folder {output} is the input folder {p}: its results would mix "
                                 "with the originals (and be read as inputs next time); choose another folder")
            prefix = Path(pr.name) if len(folders) > 1 else Path()
            walker = p.rglob("*") if recursive else p.iterdir()
            files = sorted(f for f in walker if f.is_file() and accept(f)
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            # only an output folder *inside* this input folder holds earlier results to leave out; an output
            # folder above it (-o ~/maps for ~/maps/city) holds the inputs themselves
            holds_output = out_res is not None and pr in out_res.parents
            for f in files:
                rel = f.relative_to(p)
                # the resolved folder + the relative path: one realpath per folder instead of one per file
                # (resolving each of 60 000 files took 20 s)
                add(f, prefix / rel, holds_output, key=pr / rel)
        elif accept(p) or not folders:
            add(p, Path(p.name), False, key=p.resolve())
    return pairs


def check_output_dir(output_dir) -> None:
    """Refuse at once an output folder that cannot be made (a path under a file, a read-only parent)
    instead of failing every file with the same error. Creates nothing."""
    out = Path(output_dir)
    p = out
    while not p.exists() and p != p.parent:
        p = p.parent
    if not p.is_dir():
        raise InputError(f"cannot create the output folder {out}: {p} is a file, not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to the output folder {out}: {p} is read-only")


# ------------------------------------------------------------------------------------------- plan
@dataclass
class BatchItem:
    source: Path
    output: Path
    rel: Path  # the source's path relative to the mirrored tree


@dataclass
class BatchPlan:
    items: list  # BatchItem, to do
    report: BatchReport  # pre-filled: skipped, failed (refused outputs), renamed
    output_dir: Path
    single_file: bool = False

    @property
    def total(self) -> int:
        return self.report.total


def default_name(rel: Path, src: Path) -> Path:
    """Same relative path, PNG unless the source's format can be written as it is."""
    from ganstudio.core.imageio import WRITE_SUFFIXES

    suffix = src.suffix if src.suffix.lower() in WRITE_SUFFIXES else ".png"
    return rel.with_suffix(suffix)


_TMP_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{8}\.(tmp|part)$")


def clean_stale_temp_files(outputs: Iterable[Path]) -> int:
    """Remove the hidden temp files (``.<name>.<8 hex>.tmp``, what ``core.files.atomic_path`` writes) that
    a killed earlier run left beside ``outputs``. Only temp files of those exact names are touched."""
    by_dir: dict[Path, set[str]] = {}
    for o in outputs:
        by_dir.setdefault(Path(o).parent, set()).add(Path(o).name)
    removed = 0
    for folder, names in by_dir.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            m = _TMP_RE.match(e.name)
            if m and m.group("name") in names and e.is_file(follow_symlinks=False):
                try:
                    os.unlink(e.path)
                    removed += 1
                except OSError:
                    pass
    if removed:
        log.info("removed %d temp file(s) left by an interrupted run", removed)
    return removed


def plan_batch(inputs, output, *, name: Callable[[Path, Path], Path] = default_name, recursive: bool = True,
               overwrite: bool = False, protected: Iterable = (), single_file_ok: bool = True,
               accept: Callable[[Path], bool] = is_image_path) -> BatchPlan:
    """Plan a batch (see the module docstring for the rules). ``name(rel, src)`` gives an output's path
    relative to the output folder from the source's relative path (``rel``) and the source.

    With ``single_file_ok``, one input file and an ``output`` with an image suffix (not a folder) mean
    "write exactly this file"."""
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    output = Path(output)
    single = (single_file_ok and len(items) == 1 and not _is_glob(str(items[0])) and Path(items[0]).is_file()
              and output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir())
    out_dir = output.parent if single else output
    check_output_dir(out_dir)
    pairs = gather_inputs(items, recursive=recursive, output=None if single else output, accept=accept)
    if not pairs:
        raise InputError(f"no images found in {', '.join(str(i) for i in items)}")
    report = BatchReport(output_dir=str(out_dir), total=len(pairs))
    inputs_res = {src.resolve() for src, _ in pairs}
    guarded = [Path(p) for p in protected if p]

    # names first, then collisions, then the checks against the inputs
    planned: list[tuple[Path, Path, Path]] = []  # (src, rel, dst)
    out_res = out_dir.resolve()
    for src, rel in pairs:
        dst = output if single else out_dir / name(rel, src)
        dst_res = dst.resolve()
        if not single and out_res not in dst_res.parents:
            raise InputError(f"the output name for {src.name} ({name(rel, src)}) would be written outside the "
                             f"output folder {out_dir}; use a name pattern without '..' or a leading '/'")
        planned.append((src, rel, dst))
    planned = _resolve_collisions(planned, name, out_dir, report)

    todo: list[BatchItem] = []
    for src, rel, dst in planned:
        dst_res = dst.resolve()
        if dst_res in inputs_res or any(same_file(dst, q) for q in guarded) or same_file(dst, src):
            what = "the model file" if any(same_file(dst, q) for q in guarded) else (
                "this input" if same_file(dst, src) else "another input")
            report.fail(src, f"its output {dst} would overwrite {what}; inputs are never written to "
                             "(choose another output folder or name)")
        elif dst.exists() and not overwrite:
            report.skipped.append({"input": str(src), "output": str(dst), "reason": "already done"})
        else:
            todo.append(BatchItem(src, dst, rel))
    clean_stale_temp_files(i.output for i in todo)
    return BatchPlan(todo, report, out_dir, single)


def _resolve_collisions(planned, name, out_dir: Path, report: BatchReport):
    """Inputs sharing an output name keep their extension in it; numbered if that still clashes."""
    groups: dict[Path, list[int]] = {}
    for i, (_src, _rel, dst) in enumerate(planned):
        groups.setdefault(dst.resolve(), []).append(i)
    taken = {k for k, v in groups.items() if len(v) == 1}
    out = list(planned)
    for _key, idxs in groups.items():
        if len(idxs) < 2:
            continue
        for i in idxs:
            src, rel, dst = planned[i]
            ext = src.suffix.lstrip(".").lower() or "file"
            base_rel = rel.with_name(f"{rel.stem}_{ext}{rel.suffix}")
            new = out_dir / name(base_rel, src)
            n = 2
            while new.resolve() in taken:
                new = out_dir / name(rel.with_name(f"{rel.stem}_{ext}_{n}{rel.suffix}"), src)
                n += 1
            taken.add(new.resolve())
            out[i] = (src, rel, new)
            report.renamed.append({"input": str(src), "output": str(new),
                                   "reason": f"{len(idxs)} inputs would be written to {dst.name}"})
    return out


# ------------------------------------------------------------------------------------------- run
def run_batch(plan: BatchPlan, process: Callable[[BatchItem, Any], Any], *, read: Optional[Callable] = None,
              cancel: Optional[CancelToken] = None, read_ahead: int = 2, label: str = "file"):
    """Generator: run ``process(item, decoded)`` for every planned item; returns the ``BatchReport``.

    ``read(path)`` decodes a source in a background thread, ``read_ahead`` files ahead (None: ``process``
    gets ``None`` and reads itself). ``process`` may be a plain function or a generator yielding Progress
    for its own steps; it writes the output and may return a dict whose ``thumb`` (small uint8 image) and
    ``preview`` travel with the progress report. Any exception but ``Cancelled`` fails that file only."""
    cancel = cancel or CancelToken()
    report = plan.report
    t0 = time.monotonic()
    items = plan.items
    n = len(items)
    clock = EtaClock()
    if n == 0:
        report.seconds = time.monotonic() - t0
        yield Progress(0, 0, "nothing to do: " + report.summary(), extra=_extra(report, None, None, 0.0))
        return report
    yield Progress(0, n, f"{n} to do, {len(report.skipped)} already done", extra=_extra(report, None, None, None))
    pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-read") if read is not None else None
    futures: dict[int, cf.Future] = {}

    def prefetch(upto: int) -> None:
        if pool is None:
            return
        for j in range(upto, min(n, upto + read_ahead + 1)):
            if j not in futures:
                futures[j] = pool.submit(read, items[j].source)

    try:
        for i, item in enumerate(items):
            cancel.check()
            prefetch(i)
            name = item.source.name
            yield Progress(i, n, f"{label} {i + 1}/{n} {name}", extra=_extra(report, item, None, None))
            result = None
            try:
                decoded = futures.pop(i).result() if pool is not None else None
                result = process(item, decoded)
                if hasattr(result, "__next__"):  # a generator: relay its steps as a fraction of this file
                    result = yield from _relay(result, i, n, name, label, clock, report, item)
                report.done.append({"input": str(item.source), "output": str(item.output)})
            except Cancelled:
                raise
            except Exception as exc:  # one bad file is one line in the report, never the end of the batch
                if not is_user_error(exc):  # a bug, not a bad file: keep the traceback in the log
                    log.exception("%s: %s failed", label, item.source)
                report.fail(item.source, exc)
            decoded = None  # do not hold the decoded image while the next one is processed
            eta = clock.eta_seconds(i + 1, n)
            thumb = result.get("thumb") if isinstance(result, dict) else None
            preview = result.get("preview") if isinstance(result, dict) else None
            msg = f"{label} {i + 1}/{n} {name} · ETA {format_eta(eta)}"
            if report.failed:
                msg += f" · {len(report.failed)} failed"
            yield Progress(i + 1, n, msg, preview=preview, extra=_extra(report, item, thumb, eta))
    except Cancelled as exc:
        report.cancelled = True
        report.seconds = time.monotonic() - t0
        exc.report = report
        raise
    finally:
        if pool is not None:
            for f in futures.values():
                f.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
    report.seconds = time.monotonic() - t0
    yield Progress(n, n, "finished: " + report.summary(), extra=_extra(report, None, None, 0.0))
    return report


def _relay(gen, i: int, n: int, name: str, label: str, clock: EtaClock, report: BatchReport, item: BatchItem):
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        frac = p.fraction if isinstance(p, Progress) else 0.0
        done = i + frac
        eta = clock.eta_seconds(done, n)
        inner = p.message.split(" · ")[0] if isinstance(p, Progress) and p.message else ""
        msg = f"{label} {i + 1}/{n} {name}" + (f" · {inner}" if inner else "") + f" · ETA {format_eta(eta)}"
        yield Progress(done, n, msg, preview=getattr(p, "preview", None),
                       extra=_extra(report, item, None, eta))


def _extra(report: BatchReport, item: Optional[BatchItem], thumb, eta) -> dict:
    return {"input": str(item.source) if item else None, "output": str(item.output) if item else None,
            "thumb": thumb, "eta_s": eta, "done": len(report.done), "skipped": len(report.skipped),
            "failed": len(report.failed)}
