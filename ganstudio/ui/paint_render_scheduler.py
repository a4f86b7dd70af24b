"""When the Paint tab renders: a live preview per edit, one full-size render after a pause, stale work dropped.

``PaintRenderScheduler`` owns the timing and the two kinds of job; the panel says *that* the label map
changed (``request``) or that the user wants the map at its own size (``render_full``), and gets images back
through signals. It never reads widgets: ``make_kwargs(size, scale)`` (the panel's) builds a render's
arguments at the moment a job starts.

* Live preview: every request submits one render to a ``LatestOnlyRunner`` (debounced; while one runs, only
  the newest request waits, stale ones are dropped) at ``live_scale`` per side. SPADE is fully convolutional,
  so that is the same network at a smaller size. The scale adapts to the machine: after each timed full-size
  render it is the largest whose expected time (full time × scale², SPADE's cost follows the pixel count)
  fits ``live_budget_ms`` — on 2 CPU threads a 256×256 model previews at 96×96, on a GPU at full size (then
  no second render is needed).
* Full size: once the user pauses (``FULL_DELAY_MS`` with no request, and the live render done) one
  full-resolution render runs in a ``JobSlot``; any new request drops it at once (the engine checks its
  cancel before every layer), so a stale full render is never shown. It reports progress (the engine's
  watched layers) and can be cancelled by the user (``cancel``: "cancelling…", then ``cancelled``).
"""
from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal, Slot

from ganstudio.core.progress import Progress
from ganstudio.workers.engine_worker import EngineJob, LatestOnlyRunner
from ganstudio.workers.jobs import JobSlot

RENDER_TARGET = "ganstudio.engines.paint:render"
# Renders start only when a stroke ends, so the debounce only merges bursts (undo/redo key repeat, quick
# clicks); while a render runs, newer requests wait anyway and only the newest starts. Every ms of it is
# stroke-to-preview latency: 15 (was 40) — bench/paint.py.
DEBOUNCE_MS = 15
LIVE_SCALE = 0.5  # live preview side scale until a full render has been timed (then adaptive)
# The engine time a live preview may take: with the 15 ms debounce, a few ms of thread hand-over and display
# and the jitter of a shared machine, stroke-to-preview p95 stays under 150 ms (bench/paint.py).
LIVE_BUDGET_MS = 100.0
FULL_DELAY_MS = 400  # no edit for this long (and the live render done): render at full resolution


def choose_live_scale(full_ms: float, full_side: int, multiple: int, budget_ms: float = LIVE_BUDGET_MS) -> float:
    """The live preview's side scale: 1.0 when a full-size render fits ``budget_ms``; else the largest
    k / n (n = full_side // multiple, so the preview side is k whole multiples, at least one) whose expected
    time full_ms · (k / n)² fits; one multiple when none does."""
    if full_ms <= budget_ms:
        return 1.0
    n = max(1, int(full_side) // max(1, int(multiple)))
    for k in range(n - 1, 0, -1):
        if full_ms * (k / n) ** 2 <= budget_ms:
            return k / n
    return 1.0 / n


class PaintRenderScheduler(QObject):
    live_rendered = Signal(object)  # (H, W, 3) uint8: a live preview
    full_rendered = Signal(object, bool)  # (H, W, 3) uint8, on_demand ("Render full size") or after a pause
    failed = Signal(str, object)  # "live" | "full", the exception
    state = Signal(str)  # for the status bar: "" when idle
    full_running = Signal(bool)  # a full-size render runs (the panel's Cancel button follows it)
    cancelled = Signal()  # a full-size render the user cancelled has ended

    def __init__(self, make_kwargs: Callable[[str, float], dict], parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.make_kwargs = make_kwargs
        self.live_scale = LIVE_SCALE
        self.adaptive_live = True  # choose live_scale from the timed full renders
        self.live_budget_ms = LIVE_BUDGET_MS
        self.size_multiple = 1
        # counters for tests and benchmarks
        self.render_requests = 0
        self.live_renders = 0
        self.full_started = 0
        self.full_renders = 0
        self.last_full_ms: Optional[float] = None
        self._render_times: list[float] = []  # recent full-resolution render times (ms)
        self._newest_request = 0
        self._full_on_demand = False
        self._full_wanted = False  # the pause came while the live render still ran: full render when idle
        self._live_clock = QElapsedTimer()
        self._full_clock = QElapsedTimer()
        self._pause = QTimer(self)
        self._pause.setSingleShot(True)
        self._pause.setInterval(FULL_DELAY_MS)
        self._pause.timeout.connect(self._on_pause)

        self.runner = LatestOnlyRunner(DEBOUNCE_MS, self)
        self.runner.started.connect(self._on_live_started)
        self.runner.result.connect(self._on_live_result)
        self.runner.failed.connect(self._on_live_failed)
        self.runner.idle.connect(self._on_runner_idle)
        self.full_job = JobSlot(self, "paint: full render")
        self.full_job.progress.connect(self._on_full_progress)
        self.full_job.finished.connect(self._on_full_result)
        self.full_job.failed.connect(self._on_full_failed)
        self.full_job.cancelled.connect(self._on_full_cancelled)
        self.full_job.running_changed.connect(self.full_running)

    # ------------------------------------------------------------------------------------------ requests
    def reset(self, size_multiple: int) -> None:
        """A new model: forget the timings of the old one."""
        self.size_multiple = max(1, int(size_multiple))
        self._render_times = []
        if self.adaptive_live:
            self.live_scale = LIVE_SCALE

    def request(self) -> int:
        """The map (or a render setting) changed: a live preview now, a full-size render after a pause.
        A full-size render in flight is stale: dropped at once. Returns the live request's id."""
        self.render_requests += 1
        self._drop_full()
        job = EngineJob(RENDER_TARGET, self.make_kwargs("fit", self.live_scale), name="paint: preview")
        self._newest_request = self.runner.submit(job)
        self._full_wanted = False
        if self.live_scale < 1.0:
            self._pause.start()  # (re)start: the full render waits for a pause
        else:
            self._pause.stop()
        return self._newest_request

    def render_full(self) -> None:
        """On demand: the label map at its own size (rounded to the model's multiple)."""
        self._pause.stop()
        self._full_wanted = False
        self._start_full("full")

    def cancel(self) -> bool:
        """The user's Cancel: stop the full-size render (it ends with ``cancelled``). True if one ran."""
        self._pause.stop()
        self._full_wanted = False
        if not self.full_job.cancel():
            return False
        self.state.emit("cancelling…")
        return True

    def is_idle(self) -> bool:
        """Nothing rendering and nothing scheduled (tests, benchmarks)."""
        return not (self.runner.is_busy() or self.full_job.is_running() or self._pause.isActive()
                    or self._full_wanted)

    def shutdown(self) -> None:
        self._pause.stop()
        self._full_wanted = False
        self.runner.shutdown()
        self.full_job.shutdown()

    # ------------------------------------------------------------------------------------------ full size
    def _start_full(self, size: str) -> None:
        self.full_started += 1
        self._full_on_demand = size == "full"
        self._full_clock.start()
        self.state.emit("rendering full size…")
        self.full_job.start(RENDER_TARGET, self.make_kwargs(size, 1.0), name="paint: full render")

    def _drop_full(self) -> None:
        if self.full_job.is_running():
            self.full_job.forget()  # cancelled; whatever it still sends is dropped

    @Slot()
    def _on_pause(self) -> None:
        if self.runner.is_busy():
            self._full_wanted = True  # started from _on_runner_idle
        else:
            self._start_full("fit")

    @Slot()
    def _on_runner_idle(self) -> None:
        if self._full_wanted:
            self._full_wanted = False
            self._start_full("fit")
        elif not self.full_job.is_running():
            self.state.emit("")

    @Slot(object)
    def _on_full_progress(self, p: Progress) -> None:
        if not self.full_job.cancelling:
            self.state.emit(f"rendering full size… {p.fraction:.0%}")

    @Slot(object)
    def _on_full_result(self, image) -> None:
        self.full_renders += 1
        self.last_full_ms = float(self._full_clock.elapsed())
        if not self._full_on_demand:
            self._adapt(self.last_full_ms, image.shape)
        self.full_rendered.emit(image, self._full_on_demand)
        self.state.emit("")

    @Slot(object)
    def _on_full_failed(self, exc: BaseException) -> None:
        self.failed.emit("full", exc)
        self.state.emit("")

    @Slot()
    def _on_full_cancelled(self) -> None:
        self.state.emit("")
        self.cancelled.emit()

    # ------------------------------------------------------------------------------------------ live
    @Slot(int)
    def _on_live_started(self, _req_id: int) -> None:
        self._live_clock.start()
        self.state.emit("rendering…")

    @Slot(int, object)
    def _on_live_result(self, _req_id: int, image) -> None:
        self.live_renders += 1
        if self.live_scale >= 1.0 and self._live_clock.isValid():  # a live render at full size is a full one
            self._adapt(float(self._live_clock.elapsed()), image.shape)
        self.live_rendered.emit(image)

    @Slot(int, object)
    def _on_live_failed(self, req_id: int, exc: BaseException) -> None:
        if req_id >= self._newest_request:  # the same map would fail at full size too
            self._pause.stop()
            self._full_wanted = False
        self.failed.emit("live", exc)
        self.state.emit("")

    def _adapt(self, full_ms: float, shape) -> None:
        """Keep the live preview inside the budget: median of the last three full-size render times."""
        self._render_times = (self._render_times + [full_ms])[-3:]
        if not self.adaptive_live:
            return
        ms = sorted(self._render_times)[len(self._render_times) // 2]
        self.live_scale = choose_live_scale(ms, max(shape[:2]), self.size_multiple, self.live_budget_ms)
