"""Progress reports and cooperative cancellation for long engine operations.

A long operation is a generator: it takes a ``CancelToken``, ``yield``s ``Progress`` objects and
``return``s its result. The same generator drives the CLI (tqdm bar) and the GUI (EngineWorker).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Generator, Optional

import numpy as np


class Cancelled(Exception):
    """Raised inside an engine when its CancelToken was set; the worker reports `cancelled`."""


class CancelToken:
    """A thread-safe flag checked by engines once per step, tile, file or iteration.

    ``pause()`` / ``resume()`` let batch jobs wait between files without losing their place.

    It is also the job's side channel for progress from places that cannot ``yield`` (inside a network's
    forward pass, between its blocks: see ``runtime.block_watch``): ``report(Progress)`` hands the report
    to whoever drives the job (the GUI worker emits it like a yielded one, the CLI moves its bar).
    """

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._listener = None

    def set_listener(self, fn) -> None:
        """``fn(Progress)`` receives every ``report``; None removes it."""
        self._listener = fn

    def report(self, progress: "Progress") -> None:
        listener = self._listener
        if listener is not None:
            listener(progress)

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused job must wake up to see the cancel

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self) -> None:
        """Block while paused; raise ``Cancelled`` if cancel was asked for."""
        self._running.wait()
        if self._cancel.is_set():
            raise Cancelled()


@dataclass
class Progress:
    """One progress report. ``preview`` is an optional (H, W, 3|4) uint8 RGB(A) array."""

    done: float
    total: float
    message: str = ""
    preview: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return 0.0 if not self.total else max(0.0, min(1.0, self.done / self.total))


class EtaClock:
    """Estimates the time left from the rate of progress so far (simple average since start)."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def eta_seconds(self, done: float, total: float) -> Optional[float]:
        if done <= 0 or total <= 0:
            return None
        elapsed = time.monotonic() - self._start
        return elapsed * (total - done) / done


def format_eta(seconds: Optional[float]) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


EngineGenerator = Generator[Progress, None, Any]


def map_progress(gen, fn):
    """Re-yield every item of the generator ``gen`` as ``fn(item)`` and return ``gen``'s return value
    (``result = yield from map_progress(inner, fn)``: an inner job's steps reported as the outer's)."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        yield fn(item)


def run_to_completion(gen, on_progress=None):
    """Drive an engine generator without Qt (CLI, tests); returns the generator's return value."""
    try:
        while True:
            p = next(gen)
            if on_progress is not None:
                on_progress(p)
    except StopIteration as stop:
        return stop.value
