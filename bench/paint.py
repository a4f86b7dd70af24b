"""Paint benchmark: stroke-to-preview latency for a small SPADE, and the ade20k-size forward time.

    .venv/bin/python bench/paint.py [--threads N] [--runs 30] [--device cpu|cuda] [--precision fp32|auto|...]
                                    [--skip-qt] [--skip-full]
                                    [--live-scale S (fixed; default: the panel's adaptive scale)]

Small model: SPADE with ``--ngf`` (16) and SPADE hidden width ``--nhidden`` (128 upstream; our own small
models may use less), 12 labels + dontcare (semantic_nc 13), 'normal' upsampling, 256×256 output, random
seeded weights (the speed does not depend on the values).
 * engine: ``ganstudio.engines.paint.render`` on a label map changed by one brush dab per run (one-hot, forward,
   tensor2im), the time the worker spends per render: at half size (``size="fit", scale=0.5``: 128×128) and
   at full resolution (256×256);
 * GUI path: the real ``PaintPanel`` (offscreen), each stroke one undoable edit of its canvas
   (``set_label_map(..., reset_history=False)``), so the panel's render scheduler (``PaintRenderScheduler``:
   LatestOnlyRunner with its debounce, the pause timer, the full-render JobSlot), EngineWorker threads and the
   result display are all in the figure:
   - stroke-to-preview while painting: edit -> the live preview shown (``live_rendered``); the next stroke
     follows at once, as a user painting on (no pause, so no full render in between). The preview size is
     the panel's adaptive choice (printed), or ``--live-scale``;
   - full-resolution render after a pause: the automatic render's start -> its result shown (``full_rendered``);
   - stroke during a full render: an edit half-way through the full render (which is cancelled before its
     next layer) -> the live preview shown;
   - before (for comparison): the old path, live renders at full size (``live_scale = 1``).
Full model: the official ade20k configuration (ngf 64, semantic_nc 151, 256×256), random weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pct(xs, q):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[k]


def small_model(tmp: Path, ngf=16, nhidden=128):
    import json

    import torch

    from ganstudio.nets import spade

    torch.manual_seed(0)
    net = spade.SPADEGenerator(13, ngf=ngf, label_nc=12, contain_dontcare_label=True, crop_size=256,
                               nhidden=nhidden).eval()
    path = tmp / "landscape_small_G.pth"
    torch.save(net.state_dict(), path)
    (tmp / "landscape_small_G.pth.json").write_text(json.dumps({"label_nc": 12, "crop_size": 256}))
    n_params = sum(p.numel() for p in net.parameters())
    return path, n_params


def strokes(n, seed=0):
    rng = np.random.default_rng(seed)
    lm = np.zeros((256, 256), np.uint8)
    lm[:100] = 1
    lm[180:] = 2
    yy, xx = np.mgrid[:256, :256]
    for _ in range(n):
        y, x, r, lab = rng.integers(0, 256), rng.integers(0, 256), rng.integers(6, 24), rng.integers(0, 12)
        lm = lm.copy()
        lm[(yy - y) ** 2 + (xx - x) ** 2 <= r * r] = lab
        yield lm


def bench_engine(path, runs, device, scale=1.0, precision="fp32"):
    from ganstudio.engines import paint

    maps = list(strokes(runs + 3))
    kw = dict(model=str(path), device=device, precision=precision, size="fit", scale=scale)
    for lm in maps[:3]:
        paint.render(lm, **kw)  # load + warm up
    times = []
    for lm in maps[3:]:
        t = time.perf_counter()
        out = paint.render(lm, **kw)
        times.append((time.perf_counter() - t) * 1000)
    return times, out.shape[:2]


def line(name, t, extra=""):
    print(f"  {name:34s} p50 {pct(t, 50):7.1f} ms  p95 {pct(t, 95):7.1f} ms  (n={len(t)}){extra}")


def _threads_in_worker(cancel=None):
    """Run as an EngineJob: torch's CPU thread count as an engine worker thread sees it."""
    import torch

    return torch.get_num_threads()


def worker_threads() -> int:
    from PySide6.QtCore import QEventLoop

    from ganstudio.workers.engine_worker import EngineJob, start_job

    loop, got = QEventLoop(), {}
    h = start_job(EngineJob("__main__:_threads_in_worker", {}, name="threads"))
    h.worker.finished.connect(lambda n: (got.setdefault("n", n), loop.quit()))
    loop.exec()
    h.wait()
    return got["n"]


def _wait(app, cond, timeout_s=120.0):
    """Run the event loop until ``cond()``, checked every millisecond from a QTimer.

    Not a Python loop around ``app.processEvents()``: with PySide6 6.12.0 on CPython 3.11 every call of a
    void Qt method from Python drops one reference to None (and every ``emit()`` one to True), and a tight
    polling loop drained None's count until the interpreter aborted (``none_dealloc``). Slots called from
    Qt do not leak."""
    from PySide6.QtCore import QEventLoop, QTimer

    if cond():
        return
    loop, timer, end = QEventLoop(), QTimer(), time.perf_counter() + timeout_s
    state = {"timeout": False}

    def tick():
        if cond():
            loop.quit()
        elif time.perf_counter() > end:
            state["timeout"] = True
            loop.quit()

    timer.setInterval(1)
    timer.timeout.connect(tick)
    timer.start()
    loop.exec()
    timer.stop()
    if state["timeout"]:
        raise TimeoutError("benchmark: the panel did not answer")


def bench_panel(path, runs, device, live_scale=0.0, precision="fp32"):
    """-> dict of latency lists (ms): live, full, during_full, before."""
    from PySide6.QtWidgets import QApplication

    from ganstudio.ui.paint_panel import PaintPanel
    from ganstudio.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    Settings().device = device
    Settings().precision = precision
    panel = PaintPanel()
    sched = panel.scheduler
    if live_scale:  # fixed; else adaptive (the panel's default)
        sched.adaptive_live, sched.live_scale = False, live_scale
    panel.resize(1200, 800)
    panel.show()
    panel.set_model(str(path))
    _wait(app, lambda: sched.full_renders >= 1 and panel.is_idle())
    out = {"live_sizes": Counter(), "full_size": tuple(panel.last_result.shape[:2])}
    stamps = {}
    panel.live_rendered.connect(lambda im: stamps.setdefault("live", (time.perf_counter(), im.shape)))
    maps = strokes(4 * runs + 10, seed=1)

    def stroke():
        stamps.clear()
        t = time.perf_counter()
        panel.canvas.set_label_map(next(maps), reset_history=False)
        return t

    def live_ms(t0, sizes=None):
        _wait(app, lambda: "live" in stamps)
        if sizes is not None:
            sizes["x".join(map(str, stamps["live"][1][1::-1]))] += 1
        return (stamps["live"][0] - t0) * 1000

    # painting on: every stroke right after the previous preview
    live = []
    for i in range(runs + 2):
        t0 = stroke()
        ms = live_ms(t0, out["live_sizes"] if i >= 2 else None)
        if i >= 2:
            live.append(ms)
    out["live"] = live
    # pauses: the full-resolution render after each (its own start -> shown)
    _wait(app, panel.is_idle)
    full = []
    for _ in range(max(3, runs // 2)):
        n = sched.full_renders
        stroke()
        _wait(app, lambda: sched.full_renders > n and panel.is_idle())
        full.append(sched.last_full_ms)
    out["full"] = full
    # a stroke while the full render runs (half-way through a typical one)
    during = []
    half = statistics.median(full) / 2000
    for _ in range(max(3, runs // 3)):
        n = sched.full_started
        stroke()
        _wait(app, lambda: sched.full_started > n)
        t_wait = time.perf_counter() + half
        _wait(app, lambda: time.perf_counter() >= t_wait)
        t0 = stroke()
        during.append(live_ms(t0))
        _wait(app, panel.is_idle)
    out["during_full"] = during
    # before: live renders at full size (the old path), painting on
    sched.adaptive_live, sched.live_scale = False, 1.0
    before = []
    for i in range(runs + 2):
        t0 = stroke()
        ms = live_ms(t0)
        if i >= 2:
            before.append(ms)
    out["before"] = before
    _wait(app, panel.is_idle)
    panel.shutdown()
    panel.close()
    return out


def bench_full(runs, device, precision="fp32", channels_last=False, ngf=64, semantic_nc=151, nhidden=128):
    """-> (times ms, params, output (1, 3, 256, 256) float32 on the CPU)."""
    import torch

    from ganstudio.nets import spade
    from ganstudio.runtime import autocast

    torch.manual_seed(0)
    net = spade.SPADEGenerator(semantic_nc, ngf=ngf, nhidden=nhidden).eval().to(device)
    n_params = sum(p.numel() for p in net.parameters())
    ids = torch.from_numpy(next(strokes(1)).astype(np.int64)) * 7 % semantic_nc
    seg = spade.one_hot(ids, semantic_nc, False).to(device)
    # Random weights with the default running stats (mean 0, var 1) let activations grow block after block,
    # which no trained model does; calibrate the param-free BatchNorms on this input (one cumulative-average
    # batch) so the precision comparison sees trained-like activation scales.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    with torch.no_grad():
        net.train()(seg)
    net.eval()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        seg = seg.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode(), autocast(device, precision):
        for i in range(runs + 1):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t = time.perf_counter()
            out = net(seg)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if i:
                times.append((time.perf_counter() - t) * 1000)
    return times, n_params, out.float().cpu()


def fixture_precision(path, device, precisions):
    """The official-output fixture under autocast: max |diff| to the official float32 output."""
    import torch

    import ganstudio
    from ganstudio.runtime import autocast

    d = torch.load(path, map_location="cpu", weights_only=True)
    net, _ = ganstudio.load_model(d["state_dict"], device=device)
    for prec in precisions:
        with torch.inference_mode(), autocast(device, prec):
            out = net(d["input"].to(device)).float().cpu()
        print(f"  parity fixture {prec:5s} max|diff vs official fp32 output| {(out - d['output']).abs().max().item():.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--full-runs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32",
                    help="engine and GUI path: fp32 (default, comparable across machines), auto, fp16, bf16")
    ap.add_argument("--skip-qt", action="store_true")
    ap.add_argument("--ngf", type=int, default=16, help="small model width")
    ap.add_argument("--nhidden", type=int, default=128, help="small model SPADE hidden width (upstream: 128)")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--live-scale", type=float, default=0.0,
                    help="fix the panel's live preview scale (0 = adaptive, the panel's default)")
    ap.add_argument("--precisions", default="fp32", help="for the ade20k-size forward, e.g. fp32,fp16,bf16 (CUDA)")
    ap.add_argument("--channels-last-check", action="store_true", help="small model forward, NCHW vs NHWC")
    ap.add_argument("--fixture", help="shared/parity/spade/fixture.pt: compare precisions on the official outputs")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    print(f"torch {torch.__version__}, device {args.device}, torch threads {torch.get_num_threads()} "
          f"(--threads {args.threads or 'default'}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
          f"cpu count {os.cpu_count()}, load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GANSTUDIO_HOME"] = str(Path(tmp) / "home")  # the panel's settings: a clean, private home
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        path, n = small_model(Path(tmp), args.ngf, args.nhidden)
        print(f"small SPADE: ngf {args.ngf}, SPADE hidden {args.nhidden}, semantic_nc 13 (12 labels + dontcare), "
              f"normal, 256x256, {n / 1e6:.2f} M params")
        from ganstudio.runtime import resolve_runtime

        print(f"precision {args.precision} -> {resolve_runtime(args.device, args.precision).precision}")
        t, hw = bench_engine(path, args.runs, args.device, scale=0.5, precision=args.precision)
        line(f"engine render live {hw[1]}x{hw[0]}", t)
        t, hw = bench_engine(path, args.runs, args.device, precision=args.precision)
        line(f"engine render full {hw[1]}x{hw[0]}", t)
        if not args.skip_qt:
            from ganstudio.ui import paint_render_scheduler as pp

            r = bench_panel(path, args.runs, args.device, args.live_scale, args.precision)
            mode = (f"live scale fixed {args.live_scale}" if args.live_scale else
                    f"adaptive live scale, budget {pp.LIVE_BUDGET_MS:.0f} ms")
            print(f"  GUI path (PaintPanel + PaintRenderScheduler: debounce {pp.DEBOUNCE_MS} ms, {mode}, full render "
                  f"after a {pp.FULL_DELAY_MS} ms pause; torch threads in the engine worker {worker_threads()}):")
            fh = r["full_size"]
            sizes = ", ".join(f"{k} x{v}" for k, v in r["live_sizes"].most_common())
            line("stroke-to-preview, live", r["live"], f"  <- while painting; preview sizes {sizes}")
            line(f"full-resolution render {fh[1]}x{fh[0]}", r["full"], "  (after a pause; start -> shown)")
            line("stroke during a full render", r["during_full"], "  (the full render is cancelled)")
            line(f"before: live at full size {fh[1]}x{fh[0]}", r["before"], "  (old path, for comparison)")
    load1 = os.getloadavg()
    print(f"load average at the end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if args.fixture:
        fixture_precision(args.fixture, args.device, args.precisions.split(","))
    if args.channels_last_check:
        for cl in (False, True):
            t, _, _ = bench_full(args.runs, args.device, channels_last=cl, ngf=args.ngf, semantic_nc=13,
                                 nhidden=args.nhidden)
            print(f"small SPADE forward only, channels_last={cl}: p50 {pct(t, 50):7.1f} ms")
    if not args.skip_full:
        ref = None
        for prec in args.precisions.split(","):
            t, n, out = bench_full(args.full_runs, args.device, prec)
            if ref is None:
                ref = out
                print(f"ade20k-size SPADE: ngf 64, semantic_nc 151, 256x256, {n / 1e6:.1f} M params, random weights")
            diff = (out - ref).abs().max().item()
            print(f"  forward {prec:5s}      p50 {pct(t, 50):7.1f} ms  min {min(t):7.1f} ms  (n={len(t)})"
                  f"  max|diff vs {args.precisions.split(',')[0]}| {diff:.2e} (output in [-1, 1])")


if __name__ == "__main__":
    main()
