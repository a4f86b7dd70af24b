"""Stylize throughput: GAN Studio's batch engine vs a plain per-image loop (like the official test.py).

    python bench/stylize.py                       # 64 photos at 512x512, the device "auto" picks
    python bench/stylize.py --count 8 --size 256  # quicker, e.g. on a small CPU-only machine

Both sides use the same network: a full-size CycleGAN resnet_9blocks generator (ngf 64, random init, seed 0),
at the photos' own 512x512 size. The photos are crops of scikit-image's sample photographs with random
scale, flips and noise, saved as JPEG (as camera photos are); both sides write PNG.

* plain loop: for each file, one at a time: PIL open -> RGB -> [-1, 1] tensor -> net under no_grad in fp32
  -> (x + 1) / 2 * 255 -> uint8 -> PIL PNG save (the official test.py / util.save_image path).
* GAN Studio: ``engines.stylize.stylize_batch`` on the shared batch runner (``core.batch``): decode ahead in
  a thread pool, same-size images stacked per forward and encoding overlapped with compute on CUDA,
  inference_mode, uint8 over the bus, the precision ``auto`` picks (fp16 on CUDA, bf16 on CPUs with AMX,
  else fp32; ``--precision fp32`` for the same arithmetic as the plain loop).

Prints images/s for each, the ratio, and how far the outputs are apart (8-bit levels).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_photos(folder: Path, count: int, size: int, seed: int = 0) -> list[Path]:
    from skimage import data

    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.retina(),
               data.hubble_deep_field(), data.immunohistochemistry(), data.colorwheel()]
    sources = [s[..., :3] for s in sources if s.ndim == 3]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        src = sources[i % len(sources)]
        h, w = src.shape[:2]
        side = int(rng.uniform(0.5, 1.0) * min(h, w))
        y0, x0 = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = Image.fromarray(src[y0:y0 + side, x0:x0 + side]).resize((size, size), Image.BICUBIC)
        arr = np.asarray(crop).astype(np.float32)
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        arr = np.clip(arr + rng.normal(0, 4, arr.shape), 0, 255).astype(np.uint8)
        p = folder / f"photo_{i:03d}.jpg"
        Image.fromarray(arr).save(p, quality=92)
        paths.append(p)
    return paths


def plain_loop(net, files: list[Path], out: Path, device) -> float:
    """One image at a time, as the official test script does."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for p in files:
        img = Image.open(p).convert("RGB")
        x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)[None]
        x = (x - 0.5) / 0.5
        with torch.no_grad():
            y = net(x.to(device))
        im = (y[0].cpu().float().numpy().transpose(1, 2, 0) + 1) / 2.0 * 255.0
        Image.fromarray(im.astype(np.uint8)).save(out / f"{p.stem}.png")
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def precision_table(device: str = "auto", batch: int = 4) -> None:
    import torch

    from ganstudio.nets.cyclegan import ResnetGenerator, UnetGenerator
    from ganstudio.runtime import autocast, select_device, supported_precisions

    dev = select_device(device)
    for name, make, size in (("resnet_9blocks", lambda: ResnetGenerator(), 512),
                             ("unet_256", lambda: UnetGenerator(num_downs=8), 256)):
        torch.manual_seed(0)
        net = make().eval().to(dev)
        x = torch.rand(batch, 3, size, size, device=dev) * 2 - 1
        ref = None
        for cl in (False, True):
            if cl:
                net.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            for prec in ("fp32", "fp16", "bf16"):
                if prec not in supported_precisions(dev):
                    continue
                with torch.inference_mode(), autocast(dev, prec):
                    for _ in range(2):
                        y = net(x)
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    reps = 5 if dev.type == "cuda" else 1
                    for _ in range(reps):
                        y = net(x)
                    if dev.type == "cuda":
                        torch.cuda.synchronize()
                    dt = (time.perf_counter() - t0) / reps
                y = y.float()
                if ref is None:
                    ref = y
                d = (y - ref).abs() * 127.5  # in 8-bit levels
                print(f"{name:15s} {size}px x{batch} channels_last={cl!s:5s} {prec}: {dt * 1000:8.1f} ms "
                      f"({batch / dt:7.1f} img/s)  vs fp32: max {d.max().item():.2f} mean {d.mean().item():.3f} levels")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the engine's (8 on CUDA, 1 on CPU)")
    ap.add_argument("--workers", type=int, default=None, help="I/O threads; default: the engine's")
    ap.add_argument("--precision", default="auto",
                    help="auto / fp32 / fp16 / bf16 for GAN Studio's side (default: %(default)s)")
    ap.add_argument("--ngf", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=9)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--precision-table", action="store_true",
                    help="also time one forward of resnet_9blocks (512) and unet_256 (256) in fp32 / fp16 / bf16 "
                         "with and without channels_last, and print the autocast differences")
    args = ap.parse_args(argv)
    if args.precision_table:
        precision_table(args.device)

    import torch

    import ganstudio
    from ganstudio.core.progress import CancelToken, run_to_completion
    from ganstudio.engines import stylize as st
    from ganstudio.nets.cyclegan import ResnetGenerator
    from ganstudio.runtime import describe_device, resolve_runtime

    rt = resolve_runtime(args.device, args.precision)
    dev = rt.device
    tmp = Path(tempfile.mkdtemp(prefix="ganstudio-bench-stylize-"))
    try:
        files = make_photos(tmp / "in", args.count, args.size)
        torch.manual_seed(0)
        model = tmp / "latest_net_G.pth"
        torch.save(ResnetGenerator(ngf=args.ngf, n_blocks=args.blocks).state_dict(), model)
        # the same weights on both sides; the plain loop gets its own module, as the official script builds it
        net, _ = ganstudio.load_model(str(model), device=dev)
        print(f"device: {describe_device(dev)}; torch threads {torch.get_num_threads()}; "
              f"{args.count} photos {args.size}x{args.size}; resnet_{args.blocks}blocks ngf {args.ngf}")

        # warm-up both paths (cuDNN autotuning, allocator) on a couple of images
        warm = files[:2]
        (tmp / "warm_in").mkdir()
        for p in warm:
            shutil.copy(p, tmp / "warm_in" / p.name)
        plain_loop(net, warm, tmp / "warm_plain", dev)
        run_to_completion(st.stylize_batch(CancelToken(), [tmp / "warm_in"], tmp / "warm_ours", str(model),
                                           device=str(dev), batch_size=args.batch_size, workers=args.workers,
                                           precision=rt.precision, recursive=False))
        shutil.rmtree(tmp / "warm_ours")

        t_plain = plain_loop(net, files, tmp / "plain", dev)
        t0 = time.perf_counter()
        report = run_to_completion(st.stylize_batch(
            CancelToken(), [tmp / "in"], tmp / "ours", str(model), device=str(dev), batch_size=args.batch_size,
            workers=args.workers, precision=rt.precision, recursive=False))
        t_ours = time.perf_counter() - t0
        assert len(report.done) == args.count and not report.failed, report.text()

        diffs = []
        for p in files[:8]:
            a = np.asarray(Image.open(tmp / "plain" / f"{p.stem}.png")).astype(int)
            b = np.asarray(Image.open(tmp / "ours" / f"{p.stem}_latest_net_G.png")).astype(int)
            diffs.append(np.abs(a - b))
        d = np.stack(diffs)
        plain_ips, ours_ips = args.count / t_plain, args.count / t_ours
        print(f"plain loop : {t_plain:8.2f} s  {plain_ips:7.2f} images/s")
        print(f"GAN Studio : {t_ours:8.2f} s  {ours_ips:7.2f} images/s  (batch {args.batch_size or 'auto'}, "
              f"{args.workers or 'auto'} I/O threads, "
              f"precision {rt.precision})")
        print(f"ratio      : {ours_ips / plain_ips:.2f}x")
        print(f"outputs    : max |diff| {d.max()} levels, mean {d.mean():.3f} (plain truncates, ours rounds)")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
