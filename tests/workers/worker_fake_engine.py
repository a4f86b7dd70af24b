"""Tiny fake engine functions for the EngineWorker tests (plain Python + numpy: no torch needed).

Named so it cannot clash with another test folder's helper module (tests have no __init__.py)."""
from __future__ import annotations

import threading

import numpy as np

from ganstudio.core.progress import Progress


def count(cancel, n=5, preview=False):
    """Yields Progress(i, n) for i = 1..n, optionally with a solid-colour preview; returns n * 10."""
    for i in range(1, n + 1):
        cancel.check()
        pv = None
        if preview:
            pv = np.zeros((4, 6, 3), np.uint8)
            pv[:] = (10 * i, 100, 200)
        yield Progress(i, n, f"step {i}", pv)
    return n * 10


def plain(cancel, x=1):
    """A job that is not a generator."""
    return x + 1


def gated(cancel, steps: list, reached: threading.Event, gate: threading.Event, n=50, stop_at=2):
    """Records every step it runs; at ``stop_at`` it signals ``reached`` and waits for ``gate``.
    Deliberately does NOT check ``cancel`` itself: the worker must stop it between steps."""
    for i in range(n):
        steps.append(i)
        if i == stop_at:
            reached.set()
            gate.wait(10)
        yield Progress(i + 1, n)
    return "ran to the end"


def fail(cancel):
    yield Progress(1, 2, "about to fail")
    raise RuntimeError("boom 42")


def value_after_gate(cancel, value, ran: list, gate: threading.Event | None = None):
    """Records ``value`` as run; if ``gate`` is given, waits for it (a slow render)."""
    ran.append(value)
    if gate is not None:
        gate.wait(10)
    return value


def fail_for_user(cancel, path="x.pth"):
    """Fails the way a bad input does: a UserError whose text is for the user."""
    from ganstudio.core.errors import InputError

    raise InputError(f"{path} is truncated")


def wait_for(cancel, value, gate: threading.Event, ran: list | None = None):
    """Returns ``value`` once ``gate`` is set; checks ``cancel`` while waiting."""
    if ran is not None:
        ran.append(value)
    while not gate.wait(0.01):
        cancel.check()
    return value


def reports_inside(cancel, n=3):
    """Not a generator: reports progress through the token's side channel, as a long forward does."""
    for i in range(n):
        cancel.report(Progress(i + 0.5, n, f"half of step {i + 1}"))
    return "ok"
