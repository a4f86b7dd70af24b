"""Benchmark: what "auto" precision buys on this CPU — Real-ESRGAN x4plus in fp32 and in bf16.

Run:  .venv/bin/python bench/runtime.py              (64 and 128 px crops of the astronaut photo)
      .venv/bin/python bench/runtime.py --sizes 64 --crops 1 --repeat 1     (quick)

For each crop size, a few crops of scikit-image's astronaut photo (NASA, public domain: face, suit, flag
and background) go through ``engines.upscale.run_network`` as the user's job would (whole image, one tile),
once in fp32 and once in bf16 autocast, on the CPU. Printed per size: the best-of-``--repeat`` seconds of
each precision (after a warm-up, the two interleaved so that other load hits both alike), their ratio
(fp32 / bf16: above 1 means bf16 is faster), and the PSNR of the bf16 result against the fp32 one on the
8-bit output a user gets (min / max over the crops).

``runtime.resolve_runtime`` picks bf16 for "auto" only where the CPU has bf16 matrix units (Intel AMX,
``runtime.has_native_bf16()``); without them bf16 is emulated and slower, which this bench shows too.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# top-left corners (y, x) in the 512 x 512 photo: face, suit with the badge, the flag, dark background
CORNERS = [(100, 180), (330, 120), (20, 330), (380, 400)]


def crops(size: int, n: int) -> list[np.ndarray]:
    import skimage.data

    img = skimage.data.astronaut()
    out = []
    for y, x in CORNERS[:n]:
        y, x = min(y, img.shape[0] - size), min(x, img.shape[1] - size)
        out.append(np.ascontiguousarray(img[y:y + size, x:x + size]))
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def run(up, img: np.ndarray) -> tuple[float, np.ndarray]:
    from ganstudio.core.progress import run_to_completion
    from ganstudio.engines import upscale as U

    t0 = time.perf_counter()
    out = run_to_completion(U.run_network(up, img, tile=0))
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="x4plus")
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--crops", type=int, default=3, help=f"crops per size (at most {len(CORNERS)})")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    import torch

    from ganstudio.engines import upscale as U
    from ganstudio.runtime import auto_precision, describe_device, has_native_bf16

    if args.threads:
        torch.set_num_threads(args.threads)
    fp32 = U.load_upscaler(args.model, "cpu", "fp32")
    bf16 = U.load_upscaler(args.model, "cpu", "bf16")
    print(f"{args.model} on {describe_device(fp32.device)}, torch {torch.__version__}; native bf16 (AMX): "
          f"{has_native_bf16()}; 'auto' here = {auto_precision(fp32.device)}")
    print(f"{'crop':>6} {'crops':>5} {'fp32 s':>8} {'bf16 s':>8} {'fp32/bf16':>9} {'PSNR bf16 vs fp32 (dB)':>24}")
    for size in args.sizes:
        images = crops(size, max(1, min(args.crops, len(CORNERS))))
        run(fp32, images[0])  # warm-up: oneDNN picks its kernels on the first call of each shape
        run(bf16, images[0])
        t32 = t16 = 0.0
        scores = []
        for img in images:
            best32 = best16 = math.inf
            for _ in range(args.repeat):
                s32, out32 = run(fp32, img)
                s16, out16 = run(bf16, img)
                best32, best16 = min(best32, s32), min(best16, s16)
            t32 += best32
            t16 += best16
            scores.append(psnr(out32, out16))
        n = len(images)
        print(f"{size:>4}px {n:>5} {t32 / n:>8.2f} {t16 / n:>8.2f} {t32 / t16:>9.2f} "
              f"{min(scores):>11.1f} – {max(scores):<10.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
