"""Paint benchmark: stroke-to-preview latency for a small SPADE, and the ade20k-size forward time.

    .venv/bin/python bench/paint.py [--threads N] [--runs 30] [--device cpu|cuda] [--skip-qt] [--skip-full]

Small model: SPADE with ``--ngf`` (16) and SPADE hidden width ``--nhidden`` (128 upstream; our own small
models may use less), 12 labels + dontcare (semantic_nc 13), 'normal' upsampling, 256×256 output, random
seeded weights (the speed does not depend on the values).
 * engine: ``ganstudio.engines.paint.render`` on a label map changed by one brush dab per run (one-hot, forward,
   tensor2im), the time the worker spends per preview;
 * stroke-to-preview: the same through the GUI path — ``LatestOnlyRunner(debounce)`` + EngineWorker thread —
   from submit() (the end of a stroke) to the result signal; includes the debounce.
Full model: the official ade20k configuration (ngf 64, semantic_nc 151, 256×256), random weights.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
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


def bench_engine(path, runs, device):
    from ganstudio.engines import paint

    maps = list(strokes(runs + 3))
    for lm in maps[:3]:
        paint.render(lm, model=str(path), device=device)  # load + warm up
    times = []
    for lm in maps[3:]:
        t = time.perf_counter()
        paint.render(lm, model=str(path), device=device)
        times.append((time.perf_counter() - t) * 1000)
    return times


def bench_qt(path, runs, device, debounce_ms):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from ganstudio.workers.engine_worker import EngineJob, LatestOnlyRunner

    app = QCoreApplication.instance() or QCoreApplication([])
    runner = LatestOnlyRunner(debounce_ms)
    times = []
    for i, lm in enumerate(strokes(runs + 2, seed=1)):
        loop = QEventLoop()
        got = {}

        def on_result(rid, res, loop=loop, got=got):
            got["t"] = time.perf_counter()
            loop.quit()

        runner.result.connect(on_result)
        t0 = time.perf_counter()
        runner.submit(EngineJob("ganstudio.engines.paint:render",
                                dict(label_map=lm, model=str(path), device=device), name="paint preview"))
        QTimer.singleShot(60000, loop.quit)
        loop.exec()
        runner.result.disconnect(on_result)
        if i >= 2:
            times.append((got["t"] - t0) * 1000)
    runner.shutdown()
    del app
    return times


def bench_full(runs, device, precision="fp32", channels_last=False, ngf=64, semantic_nc=151, nhidden=128):
    """-> (times ms, params, output (1, 3, 256, 256) float32 on the CPU)."""
    import torch

    from ganstudio.engines.device import autocast
    from ganstudio.nets import spade

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
    from ganstudio.engines.device import autocast

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
    ap.add_argument("--debounce", type=int, default=40, help="the panel's debounce in ms")
    ap.add_argument("--skip-qt", action="store_true")
    ap.add_argument("--ngf", type=int, default=16, help="small model width")
    ap.add_argument("--nhidden", type=int, default=128, help="small model SPADE hidden width (upstream: 128)")
    ap.add_argument("--skip-full", action="store_true")
    ap.add_argument("--precisions", default="fp32", help="for the ade20k-size forward, e.g. fp32,fp16,bf16 (CUDA)")
    ap.add_argument("--channels-last-check", action="store_true", help="small model forward, NCHW vs NHWC")
    ap.add_argument("--fixture", help="shared/parity/spade/fixture.pt: compare precisions on the official outputs")
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"cpu count {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        path, n = small_model(Path(tmp), args.ngf, args.nhidden)
        print(f"small SPADE: ngf {args.ngf}, SPADE hidden {args.nhidden}, semantic_nc 13 (12 labels + dontcare), "
              f"normal, 256x256, {n / 1e6:.2f} M params")
        t = bench_engine(path, args.runs, args.device)
        print(f"  engine render      p50 {pct(t, 50):7.1f} ms  p95 {pct(t, 95):7.1f} ms  mean {statistics.mean(t):7.1f} ms"
              f"  (n={len(t)})")
        if not args.skip_qt:
            t = bench_qt(path, args.runs, args.device, args.debounce)
            print(f"  stroke-to-preview  p50 {pct(t, 50):7.1f} ms  p95 {pct(t, 95):7.1f} ms  "
                  f"(LatestOnlyRunner, debounce {args.debounce} ms included, n={len(t)})")
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
