"""A fake batch engine for the BatchView tests: the real ``core.batch`` planner / runner with a trivial
``process`` (no torch). Named so it cannot clash with another test folder's helper module."""
from __future__ import annotations

import threading

import numpy as np

from ganstudio.core.batch import plan_batch, run_batch
from ganstudio.core.imageio import read_image, write_image


def copy_batch(cancel, inputs, output, hold_at: int = -1, reached: threading.Event | None = None,
               gate: threading.Event | None = None):
    """Writes each input image (flipped) as PNG; at file ``hold_at`` it sets ``reached`` and waits for
    ``gate`` (so a test can press Pause / Cancel while a file is in progress)."""
    plan = plan_batch(inputs, output, name=lambda rel, src: rel.with_suffix(".png"))
    count = [0]

    def process(item, decoded):
        if count[0] == hold_at:
            reached.set()
            gate.wait(20)
        count[0] += 1
        px = np.ascontiguousarray(decoded.pixels[::-1])
        item.output.parent.mkdir(parents=True, exist_ok=True)
        write_image(str(item.output), px)
        return {"thumb": px[:8, :8, :3].astype(np.uint8)}

    return (yield from run_batch(plan, process, read=read_image, cancel=cancel))
