"""Slider-to-image latency for the Latent tab (p50 / p95), StyleGAN2 at 64x64 and 256x256.

What one slider tick costs: the panel keeps the base image's W+ (the mapping network ran once), so each tick is
``latent.edit(model, base={'wplus': ...}, edits=[direction * strength on a layer range])`` -> uint8 image. We time
    engine   that call alone (what runs in the worker thread), and
    e2e      slider value -> image on screen: LatestOnlyRunner.submit -> worker QThread -> result signal back in
             the GUI thread -> QImage, with the debounce set to 0 (the panel adds its debounce, 10 ms, on top
             of this only for the *last* move of a drag: a drag that keeps moving is rendered continuously).
Models are random-init (weights do not change the cost), saved and loaded through the real checkpoint path:
    64-small     size 64, style_dim 128, n_mlp 8, channels {4: 128, 8: 128, 16: 128, 32: 64, 64: 32}
    64-medium    size 64, style_dim 256, n_mlp 8, channels {4: 256, 8: 256, 16: 256, 32: 128, 64: 64}
    256-config-f size 256, style_dim 512, n_mlp 8, channel_multiplier 2 (the official 256 px layout)

Usage: python bench/latent.py [--device cpu|cuda] [--iters N] [--threads T] [--no-e2e]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganstudio.engines import latent as L  # noqa: E402
from ganstudio.nets import stylegan2  # noqa: E402

CONFIGS = {
    "64-small": dict(size=64, style_dim=128, n_mlp=8, channels={4: 128, 8: 128, 16: 128, 32: 64, 64: 32}),
    "64-medium": dict(size=64, style_dim=256, n_mlp=8, channels={4: 256, 8: 256, 16: 256, 32: 128, 64: 64}),
    "256-config-f": dict(size=256, style_dim=512, n_mlp=8, channel_multiplier=2),
}


FUSED = False


def make_model(folder: Path, name: str) -> str:
    torch.manual_seed(0)
    g = stylegan2.Generator(**CONFIGS[name])
    path = folder / f"sg2_{name}.pt"
    torch.save({"g_ema": g.state_dict()}, path)
    return str(path)


def pct(x):
    a = np.asarray(x) * 1000
    return f"p50 {np.percentile(a, 50):7.1f} ms   p95 {np.percentile(a, 95):7.1f} ms   (n={len(a)})"


def bench_engine(path: str, iters: int, device: str) -> list[float]:
    lm = L.open_model(path, device=device)
    lm.net.set_fused_modconv(FUSED)
    base = L.render_state({"seeds": [1]}, model=lm)
    vec = np.random.default_rng(0).standard_normal(lm.w_dim).astype(np.float32)
    vec /= np.linalg.norm(vec)
    times = []
    for i in range(iters + 3):
        edits = [{"name": "d", "vector": vec, "space": "w", "strength": 0.1 * i, "layers": [0, 6]}]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        L.render_state({"wplus": base["wplus"], "noise": "stored", "edits": edits}, model=lm)
        times.append(time.perf_counter() - t)
    return times[3:]  # warm-up dropped


def bench_autocast(path: str, device: str, iters: int = 20) -> None:
    """fp32 vs autocast fp16 / bf16 on CUDA: max |difference| of the raw output and the forward time."""
    lm = L.open_model(path, device=device)
    lm.net.set_fused_modconv(FUSED)
    wp = torch.as_tensor(L.render_state({"seeds": [1, 2, 3, 4]}, model=lm)["wplus"]).to(device)
    noise = lm.net.stored_noise()
    ref = None
    for name, dtype in (("fp32", None), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        times = []
        for i in range(iters + 3):
            torch.cuda.synchronize()
            t = time.perf_counter()
            with torch.inference_mode(), torch.autocast("cuda", dtype=dtype or torch.float32,
                                                        enabled=dtype is not None):
                out = lm.net.synthesis(wp, noise).float()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        ref = out if ref is None else ref
        diff = (out - ref).abs().max().item()
        print(f"  {name:5s} batch 4: {pct(times[3:])}   max|diff vs fp32| {diff:.2e}")


def bench_e2e(path: str, iters: int, device: str) -> list[float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ganstudio.workers.engine_worker import EngineJob, LatestOnlyRunner, array_to_qimage

    app = QApplication.instance() or QApplication([])
    lm = L.open_model(path, device=device)
    lm.net.set_fused_modconv(FUSED)
    base = L.render_state({"seeds": [1]}, model=lm)
    vec = np.ones(lm.w_dim, np.float32) / np.sqrt(lm.w_dim)
    runner = LatestOnlyRunner(debounce_ms=0)
    times: list[float] = []
    for i in range(iters + 2):
        loop = QEventLoop()
        done = {}

        def on_result(rid, res, loop=loop, done=done):
            array_to_qimage(res["images"][0])
            done["t"] = time.perf_counter()
            loop.quit()

        runner.result.connect(on_result)
        edits = [{"name": "d", "vector": vec, "space": "w", "strength": 0.1 * i, "layers": [0, 6]}]
        t = time.perf_counter()
        runner.submit(EngineJob("ganstudio.engines.latent:edit", {
            "model": path, "base": {"wplus": base["wplus"], "noise": "stored"}, "edits": edits}))
        QTimer.singleShot(120_000, loop.quit)
        loop.exec()
        runner.result.disconnect(on_result)
        if i >= 2:
            times.append(done["t"] - t)
        while runner.is_busy():
            app.processEvents()
    runner.shutdown()
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--iters256", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--fused", action="store_true", help="rosinality's grouped-conv modulated conv")
    args = ap.parse_args()
    global FUSED
    FUSED = args.fused
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, CPU threads {torch.get_num_threads()}, "
          f"modulated conv: {'grouped (fused)' if FUSED else 'input/output scaling'}")
    if args.device.startswith("cuda"):
        print("GPU:", torch.cuda.get_device_name(0))
    with tempfile.TemporaryDirectory() as tmp:
        for name, cfg in CONFIGS.items():
            path = make_model(Path(tmp), name)
            n = args.iters if cfg["size"] == 64 else args.iters256
            print(f"\n{name} StyleGAN2 {cfg}")
            print(f"  engine  {pct(bench_engine(path, n, args.device))}")
            if args.device.startswith("cuda"):
                bench_autocast(path, args.device)
            if not args.no_e2e:
                print(f"  e2e     {pct(bench_e2e(path, n, args.device))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
