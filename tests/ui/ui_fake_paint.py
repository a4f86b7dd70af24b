"""Fake engine jobs for the Paint tests: a render whose full-size call waits at a gate (so a test can cancel
it mid-render, whatever the machine's speed), and model downloads. Named so it cannot clash with another
test folder's helper module (the tests folders have no __init__.py)."""
from __future__ import annotations

import shutil
import threading

import numpy as np

from ganstudio.core.progress import Progress

# set by the tests; module-level because the scheduler builds the render kwargs itself
FULL_REACHED = threading.Event()
FULL_GATE = threading.Event()


def reset() -> None:
    FULL_REACHED.clear()
    FULL_GATE.clear()


def gated_render(cancel, label_map=None, size="fit", scale=1.0, **_):
    """Live renders return at once; a full-size one reports 50 %, then waits for FULL_GATE or a cancel."""
    h, w = np.asarray(label_map).shape[:2]
    if scale >= 1.0 and size in ("fit", "full"):
        cancel.report(Progress(0.5, 1.0, "rendering 50%"))
        FULL_REACHED.set()
        while not FULL_GATE.wait(0.005):
            cancel.check()  # raises Cancelled: the job ends as cancelled
    return np.full((max(1, int(h * scale)), max(1, int(w * scale)), 3), 7, np.uint8)


def fake_download(cancel, model_id: str = "", **_):
    """Puts tests' tiny SPADE file where the manifest expects ``model_id``, with progress."""
    from ganstudio.core import manifest

    entry = manifest.find_model(model_id)
    src = entry.extra["test_source"]
    target = manifest.download_path(entry)
    for i in range(1, 4):
        cancel.check()
        yield Progress(i, 4, f"{model_id}: {i} of 4 MB")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    shutil.copyfile(src + ".json", str(target) + ".json")
    yield Progress(4, 4, f"{model_id}: done")
    return entry


DOWNLOAD_REACHED = threading.Event()


def stuck_download(cancel, model_id: str = "", **_):
    """Reports 1 of 10, then waits until it is cancelled."""
    yield Progress(1, 10, f"{model_id}: 1 of 10 MB")
    DOWNLOAD_REACHED.set()
    while True:
        cancel.check()
        threading.Event().wait(0.005)
