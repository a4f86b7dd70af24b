"""PaintRenderScheduler on its own: a live preview per request, one full-size render after a pause, a request
drops a full render in flight, the user's Cancel says "cancelling…" at once and ends with ``cancelled``.

The engine is ``ui_fake_paint.gated_render`` (instant live renders; a full-size one waits at a gate), so no
test depends on how fast this machine renders."""
from __future__ import annotations

import numpy as np
import pytest

import ui_fake_paint
from ganstudio.ui import paint_render_scheduler as prs

T = 30000  # ms: upper bounds only


@pytest.fixture
def sched(qtbot, monkeypatch):
    monkeypatch.setattr(prs, "RENDER_TARGET", "ui_fake_paint:gated_render")
    ui_fake_paint.reset()
    calls = []

    def make_kwargs(size, scale):
        calls.append((size, scale))
        return {"label_map": np.zeros((64, 64), np.uint8), "size": size, "scale": scale}

    s = prs.PaintRenderScheduler(make_kwargs)
    s.adaptive_live = False
    s.calls = calls
    states = []
    s.state.connect(states.append)
    s.states = states
    yield s
    ui_fake_paint.FULL_GATE.set()
    s.shutdown()


def test_one_request_one_live_render_then_one_full_render_after_the_pause(qtbot, sched):
    shown = []
    sched.full_rendered.connect(lambda im, on_demand: shown.append((im.shape, on_demand)))
    with qtbot.waitSignal(sched.live_rendered, timeout=T) as live:
        sched.request()
    assert live.args[0].shape == (32, 32, 3) and sched.calls == [("fit", 0.5)]
    qtbot.waitUntil(ui_fake_paint.FULL_REACHED.is_set, timeout=T)  # the pause came: the full render runs
    assert sched.calls[-1] == ("fit", 1.0) and not sched.is_idle()
    qtbot.waitUntil(lambda: "rendering full size… 50%" in sched.states, timeout=T)  # the engine's progress
    ui_fake_paint.FULL_GATE.set()
    qtbot.waitUntil(sched.is_idle, timeout=T)
    assert shown == [((64, 64, 3), False)]
    assert (sched.runner.started_count, sched.full_started, sched.full_renders) == (1, 1, 1)
    assert sched.states[-1] == ""


def test_a_request_drops_the_full_render_in_flight(qtbot, sched):
    shown = []
    sched.full_rendered.connect(lambda im, on_demand: shown.append(on_demand))
    sched.render_full()
    qtbot.waitUntil(ui_fake_paint.FULL_REACHED.is_set, timeout=T)
    handle = sched.full_job.handle()
    with qtbot.waitSignal(sched.live_rendered, timeout=T):
        sched.request()  # an edit: the on-demand render is stale
    assert handle.worker.token.cancelled  # stopped at once, not run to the end
    assert handle.wait(T)
    ui_fake_paint.reset()
    qtbot.waitUntil(ui_fake_paint.FULL_REACHED.is_set, timeout=T)  # the new map's full render after the pause
    ui_fake_paint.FULL_GATE.set()
    qtbot.waitUntil(sched.is_idle, timeout=T)
    assert shown == [False]  # only the automatic one of the new map; the stale one was never shown


def test_cancel_says_cancelling_at_once_and_cancelled_at_the_end(qtbot, sched):
    running = []
    sched.full_running.connect(running.append)
    shown = []
    sched.full_rendered.connect(lambda *a: shown.append(a))
    sched.render_full()
    qtbot.waitUntil(ui_fake_paint.FULL_REACHED.is_set, timeout=T)
    assert running == [True]
    with qtbot.waitSignal(sched.cancelled, timeout=T):
        assert sched.cancel()
        assert sched.states[-1] == "cancelling…"  # at once, before the job has ended
    assert sched.states[-1] == "" and running == [True, False] and shown == []
    assert sched.is_idle() and not sched.cancel()  # nothing left to cancel


def test_choose_live_scale_budget():
    assert prs.choose_live_scale(40, 256, 32, 100) == 1.0
    assert prs.choose_live_scale(460, 256, 32, 100) == 3 / 8
