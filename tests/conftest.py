"""Shared test set-up: offscreen Qt, the parity fixtures folder, and a guard against leaked QThreads."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# keep the user's real settings and model library out of the tests
os.environ.setdefault("GANSTUDIO_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / "ganstudio-test-home"))

PARITY_DIR = Path(os.environ.get("GANSTUDIO_PARITY_DIR", Path(__file__).resolve().parents[1] / ".." / "shared" / "parity")).resolve()


@pytest.fixture
def parity_dir() -> Path:
    if not PARITY_DIR.is_dir():
        pytest.skip(f"parity fixtures not found at {PARITY_DIR} (../shared/parity beside the checkout)")
    return PARITY_DIR


@pytest.fixture(autouse=True)
def _no_leaked_threads(request):
    """Fail a test that leaves an EngineWorker thread running (DESIGN.md: no QThread left running)."""
    yield
    import sys

    if "ganstudio.workers.engine_worker" not in sys.modules:
        return
    from ganstudio.workers import engine_worker

    leaked = [h for h in engine_worker.active_jobs() if h.thread.isRunning()]
    if leaked:
        for h in leaked:
            h.cancel()
            h.wait(10000)
        pytest.fail(f"test left {len(leaked)} worker thread(s) running: {[h.thread.objectName() for h in leaked]}")
