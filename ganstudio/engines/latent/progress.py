"""Progress with an ETA for the latent jobs, moving at least about once a second even inside one long forward.

A latent job is made of units (images of a grid, frames, optimisation steps, samples). Between units the job
yields ``progress.at(done)``; inside one unit that takes long (a 16-image batch at 1024 px on the CPU is tens of
seconds) ``with progress.inside(lm, n):`` lets the network's blocks move the bar
(``runtime.watch_blocks`` / ``block_watch``: thread-local hooks on the shared network) and makes Cancel act
between two blocks instead of after the batch.
"""
from __future__ import annotations

import contextlib
import math

from ganstudio.core.progress import CancelToken, EtaClock, Progress
from ganstudio.runtime import block_watch, watch_blocks

REPORT_EVERY_S = 0.25  # inside a forward: at most this often (the GUI shows it; more would be noise)


def network_blocks(lm) -> list:
    """The blocks of a generator that a forward passes through in order: what progress counts and what
    Cancel waits for at most."""
    net = lm.net
    if hasattr(net, "forward_blocks"):  # StyleGAN2-ADA: its synthesis layers in forward order
        return list(net.forward_blocks())
    if lm.is_stylegan:
        return [net.conv1, net.to_rgb1, *net.convs, *net.to_rgbs]
    return list(net.main)


class JobProgress:
    """Progress of one job of ``total`` units (``unit``: "image", "frame", "step", ...)."""

    def __init__(self, total: float, cancel: CancelToken | None, unit: str = "image") -> None:
        self.total = max(1.0, float(total))
        self.cancel = cancel
        self.unit = unit
        self.done = 0.0
        self.clock = EtaClock()
        self.message = ""

    def at(self, done: float, message: str = "", preview=None) -> Progress:
        """The report for ``done`` units (fractional within a unit), with ``extra["eta_s"]``."""
        self.done = float(done)
        if message:
            self.message = message
        text = self.message or f"{self.unit} {min(math.ceil(done), int(self.total))}/{int(self.total)}"
        return Progress(self.done, self.total, text, preview, {"eta_s": self.clock.eta_seconds(done, self.total)})

    @contextlib.contextmanager
    def inside(self, lm, units: float, message: str = ""):
        """Within the block, one forward of ``lm`` covers ``units`` units: its blocks report the way through
        (via ``cancel.report``) and check Cancel. Without a cancel token it does nothing."""
        if self.cancel is None:
            yield
            return
        per_forward = max(1, watch_blocks(lm.net, network_blocks(lm)))
        start = self.done

        def on_block(count: int) -> None:
            frac = min(1.0, count / per_forward)
            self.cancel.report(self.at(start + frac * units, message))

        with block_watch(self.cancel, on_block, every_s=REPORT_EVERY_S):
            yield
        self.done = start + units
