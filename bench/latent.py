"""Latent engine speed and precision: slider-to-image latency, a 16-seed grid, and photo projection, each in fp32
and in bf16 / fp16 autocast, with the PSNR of the low-precision output against fp32.

What one slider tick costs: the panel keeps the base image's W+ (the mapping network ran once), so each tick is
``render_state({'wplus': ..., 'edits': [direction * strength on a layer range]})`` -> uint8 image. We time
    slider   that call alone (what runs in the worker thread), batch 1
Each comparison interleaves fp32 and the low precision (one render each, in turn), so on a shared machine a
burst of load hits both alike; the ratio is what to read, not the absolute times.
    grid     ``sample_grid`` of 16 seeds in one batch (what a new grid costs)
    e2e      (--e2e) slider value -> image on screen: LatestOnlyRunner.submit -> worker QThread -> result signal
             back in the GUI thread -> QImage, debounce 0
    project  (--projection) optimisation steps of the projector, fp32 against the same loop under autocast,
             and the reconstruction PSNR each reaches (the engine itself always projects in fp32)
Models are random-init (weights do not change the cost), saved and loaded through the real checkpoint path:
    64-small      size 64, style_dim 128, n_mlp 8, channels {4: 128, 8: 128, 16: 128, 32: 64, 64: 32}
    256-config-f  size 256, style_dim 512, n_mlp 8, channel_multiplier 2 (the official 256 px layout)
    1024-config-f size 1024, the official FFHQ layout (--big)
Low precision is bf16 on the CPU (autocast; native on AMX CPUs), fp16 on CUDA.

Usage: python bench/latent.py [--device cpu|cuda] [--iters N] [--big] [--grids] [--projection] [--e2e]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganstudio.core.progress import run_to_completion  # noqa: E402
from ganstudio.engines import latent as L  # noqa: E402
from ganstudio.nets import stylegan2  # noqa: E402
from ganstudio.runtime import has_native_bf16  # noqa: E402

CONFIGS = {
    "64-small": dict(size=64, style_dim=128, n_mlp=8, channels={4: 128, 8: 128, 16: 128, 32: 64, 64: 32}),
    "256-config-f": dict(size=256, style_dim=512, n_mlp=8, channel_multiplier=2),
    "1024-config-f": dict(size=1024, style_dim=512, n_mlp=8, channel_multiplier=2),
}


def make_model(folder: Path, name: str) -> str:
    torch.manual_seed(0)
    g = stylegan2.Generator(**CONFIGS[name])
    path = folder / f"sg2_{name}.pt"
    torch.save({"g_ema": g.state_dict()}, path)
    return str(path)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def p50(times) -> float:
    return float(np.percentile(np.asarray(times) * 1000, 50))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def time_slider(path: str, device: str, low: str, iters: int) -> tuple[list[float], list[float], float]:
    """Slider renders in fp32 and in ``low``, interleaved (on a shared machine, load then hits both alike).
    Returns (fp32 times, low times, PSNR of the low-precision image against the fp32 one)."""
    models = {p: L.open_model(path, device, p) for p in ("fp32", low)}
    base = L.render_state({"seeds": [1]}, model=models["fp32"])
    vec = np.random.default_rng(0).standard_normal(models["fp32"].w_dim).astype(np.float32)
    vec /= np.linalg.norm(vec)
    times = {"fp32": [], low: []}
    imgs = {}
    for i in range(iters + 2):
        edits = [{"name": "d", "vector": vec, "space": "w", "strength": 0.5 + 0.01 * i, "layers": [0, 6]}]
        for prec, lm in models.items():
            sync(device)
            t = time.perf_counter()
            imgs[prec] = L.render_state({"wplus": base["wplus"], "noise": "stored", "edits": edits},
                                        model=lm)["images"]
            sync(device)
            if i >= 2:  # warm-up dropped
                times[prec].append(time.perf_counter() - t)
    return times["fp32"], times[low], psnr(imgs[low], imgs["fp32"])


def time_grid(path: str, device: str, low: str, iters: int) -> tuple[list[float], list[float], float]:
    """A 16-seed grid in one batch, fp32 and ``low`` interleaved, as time_slider."""
    times = {"fp32": [], low: []}
    imgs = {}
    for i in range(iters + 1):
        for prec in ("fp32", low):
            sync(device)
            t = time.perf_counter()
            imgs[prec] = run_to_completion(L.sample_grid(path, list(range(16)), batch=16, device=device,
                                                         precision=prec))["images"]
            sync(device)
            if i >= 1:
                times[prec].append(time.perf_counter() - t)
    return times["fp32"], times[low], psnr(imgs[low], imgs["fp32"])


def time_projection(path: str, device: str, low: str, steps: int) -> None:
    """The projector's loop (engines/latent/projection.py) as the engine runs it (fp32) and under autocast,
    stepped in lockstep (one fp32 step, one low-precision step: load hits both alike), with the PSNR against
    a reachable target each reaches."""
    import torch.nn.functional as F

    from ganstudio.engines.latent.projection import RandomFeatures, feature_distance

    lm = L.open_model(path, device, "fp32")
    target = torch.as_tensor(L.render_state({"seeds": [21]}, model=lm)["images"][0]).permute(2, 0, 1)[None]
    target = target.float().to(lm.device) / 127.5 - 1
    feats = RandomFeatures().to(lm.device)
    noise = lm.net.stored_noise()
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    runs = {}
    for prec in ("fp32", low):
        lat = lm.latent_avg.reshape(1, 1, -1).repeat(1, lm.n_latent, 1).clone().requires_grad_(True)
        runs[prec] = {"lat": lat, "opt": torch.optim.Adam([lat], lr=0.1), "t": 0.0}
    for step in range(steps):
        ramp = min(1.0, (1 - step / steps) / 0.25)
        lr = 0.1 * (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, (step / steps + 1 / steps) / 0.05)
        for prec, r in runs.items():
            for g in r["opt"].param_groups:
                g["lr"] = lr
            sync(device)
            t = time.perf_counter()
            with torch.autocast(lm.device.type, dtype=dtypes[prec], enabled=prec != "fp32"):
                img = lm.net.synthesis(r["lat"], noise).float()
            loss = F.mse_loss(img, target) + feature_distance(feats, img, target)
            r["opt"].zero_grad(set_to_none=True)
            loss.backward()
            r["opt"].step()
            sync(device)
            r["t"] += time.perf_counter() - t
    tgt = L.to_uint8(target)[0]
    for prec, r in runs.items():
        with torch.no_grad():
            out = L.to_uint8(lm.net.synthesis(r["lat"].detach(), noise))[0]
        print(f"  project {prec:4s}  {r['t'] / steps * 1000:8.1f} ms/step   reconstruction PSNR "
              f"{psnr(out, tgt):6.2f} dB ({steps} steps)")


def bench_e2e(path: str, iters: int, device: str, precision: str) -> list[float]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ganstudio.workers.engine_worker import EngineJob, LatestOnlyRunner, array_to_qimage

    app = QApplication.instance() or QApplication([])
    lm = L.open_model(path, device, precision)
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
        runner.submit(EngineJob("ganstudio.engines.latent.jobs:edit", {
            "model": path, "base": {"wplus": base["wplus"], "noise": "stored"}, "edits": edits,
            "device": device, "precision": precision}))
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
    ap.add_argument("--iters", type=int, default=20, help="slider renders per model and precision")
    ap.add_argument("--big", action="store_true", help="also the 1024 px official layout (slow on a CPU)")
    ap.add_argument("--projection", action="store_true", help="projector steps, fp32 vs low precision")
    ap.add_argument("--steps", type=int, default=40, help="projector steps (--projection)")
    ap.add_argument("--e2e", action="store_true", help="also slider -> image through the GUI worker")
    ap.add_argument("--grids", action="store_true", help="16-seed grids for the big models too (slow on a CPU)")
    args = ap.parse_args()
    low = "fp16" if args.device.startswith("cuda") else "bf16"
    print(f"torch {torch.__version__}, device {args.device}, CPU threads {torch.get_num_threads()}, "
          f"native bf16 (AMX): {has_native_bf16()}; low precision: {low}")
    if args.device.startswith("cuda"):
        print("GPU:", torch.cuda.get_device_name(0))
    names = ["64-small", "256-config-f"] + (["1024-config-f"] if args.big else [])
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = make_model(Path(tmp), name)
            size = CONFIGS[name]["size"]
            n = args.iters if size <= 64 else max(3, args.iters // (4 if size <= 256 else 10))
            print(f"\n{name} StyleGAN2 {CONFIGS[name]}")
            ref, lo, db = time_slider(path, args.device, low, n)
            print(f"  slider  fp32 {p50(ref):8.1f} ms   {low} {p50(lo):8.1f} ms   speed {low}/fp32 "
                  f"{p50(ref) / p50(lo):4.2f}x   PSNR {db:5.1f} dB   (p50, n={n})")
            if size <= 64 or args.grids:
                g = max(2, n // 5) if size <= 64 else 2
                ref, lo, db = time_grid(path, args.device, low, g)
                print(f"  grid16  fp32 {p50(ref):8.1f} ms   {low} {p50(lo):8.1f} ms   speed {low}/fp32 "
                      f"{p50(ref) / p50(lo):4.2f}x   PSNR {db:5.1f} dB   (p50, n={g})")
            if args.projection and size <= 64:
                time_projection(path, args.device, low, args.steps)
            if args.e2e and size <= 64:
                print(f"  e2e     fp32 {p50(bench_e2e(path, n, args.device, 'fp32')):8.1f} ms (p50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
