"""Load time and peak memory of a StyleGAN2-ADA network pickle against the same network as safetensors.

The pickle is a 1024 px FFHQ-sized training snapshot built from ../shared/parity/stylegan2_ada/SPEC.md with
random weights: {training_set_kwargs, G, D, G_ema, augment_pipe} where G and G_ema are the official FFHQ
configuration (z = w = 512, 8 mapping layers, channel_base 32768, channel_max 512, num_fp16_res 4, conv_clamp
256: 30.4 M parameters each) and D the official 'resnet' discriminator of the same size (29.0 M), written in
NVIDIA's format by tests/nvlabs_pickles.py. The reference is G_ema alone as a safetensors file, official names.

Each measurement runs in a fresh process (files already in the page cache): the time of the call alone,
and the peak resident memory it adds to the process (VmHWM after - before, so torch's import is not
counted; resident pages of a memory-mapped file count too). Two calls are timed:
    read   ganstudio.checkpoints.read_checkpoint(path): the file -> G_ema's tensors
    load   ganstudio.load_model(path): read, detect, check, build, load_state_dict -> the network
The pickle side decodes G_ema only: G, D and their storage blobs are skipped (kept as file positions).
safetensors' read hands out tensors backed by the memory-mapped file, so its "read" touches almost nothing
(the copy happens in load_state_dict): compare "load", the whole path an engine takes.

Usage: python bench/pkl_load.py [--resolution 1024] [--repeats 3] [--folder DIR (keep the files there)]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # nvlabs_pickles: the NVlabs-format writer the tests use

# VmHWM is this process's own high-water mark (ru_maxrss would carry the parent's over the fork). Linux only.
CHILD = r"""
import json, sys, time
from ganstudio.checkpoints import load_model, read_checkpoint

def hwm_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))

mode, path = sys.argv[1], sys.argv[2]
base = hwm_kb()
t = time.perf_counter()
if mode == "read":
    obj, fmt = read_checkpoint(path)
else:
    net, desc = load_model(path)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": (hwm_kb() - base) / 1024}))
"""


def build_files(folder: Path, resolution: int) -> tuple[Path, Path, dict]:
    import numpy as np
    import torch
    from nvlabs_pickles import discriminator_record, dumps, snapshot
    from safetensors.torch import save_file

    from ganstudio.nets import stylegan2_ada

    log2 = int(np.log2(resolution))
    channels = [min(32768 // 2 ** i, 512) for i in range(2, log2 + 1)]
    fp16 = [2 ** i for i in range(max(log2 - 3, 3), log2 + 1)]  # num_fp16_res 4, never 4x4
    kw = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3, channels=channels,
              mapping_layers=8, fp16_resolutions=fp16, conv_clamp=256)
    torch.manual_seed(0)
    g_ema = stylegan2_ada.Generator(**kw).eval()
    g = stylegan2_ada.Generator(**kw).eval()
    d = discriminator_record(resolution)
    pkl = folder / f"ffhq-{resolution}-random.pkl"
    st = folder / f"ffhq-{resolution}-random-G_ema.safetensors"
    t = time.perf_counter()
    data = dumps(snapshot(g_ema, G=g, D=d), protocol=3)  # protocol 3: what NVIDIA's Python 3.7 wrote
    pkl.write_bytes(data)
    save_file({k: v.contiguous() for k, v in g_ema.state_dict().items()}, str(st))
    import pickletools

    n_ops = sum(1 for _ in pickletools.genops(data))
    info = {"G_ema_params": sum(p.numel() for p in g_ema.parameters()), "pickle_ops": n_ops,
            "write_seconds": time.perf_counter() - t}
    del data, g, g_ema, d  # the children measure their own memory; keep this process small meanwhile
    if hasattr(os, "sync"):
        os.sync()  # freshly written pages still being flushed made the first measurements noisy
    return pkl, st, info


def measure(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--folder", help="build the files here and keep them (default: a temporary folder)")
    args = ap.parse_args()
    tmp = None
    if args.folder:
        folder = Path(args.folder)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="pkl_load_")
        folder = Path(tmp.name)
    try:
        pkl, st, info = build_files(folder, args.resolution)
        print(f"pickle {pkl.stat().st_size / 1e6:.0f} MB ({info['pickle_ops']} opcodes, G, D and G_ema; written in "
              f"{info['write_seconds']:.1f} s), safetensors {st.stat().st_size / 1e6:.0f} MB "
              f"(G_ema: {info['G_ema_params'] / 1e6:.1f} M parameters)")
        for p in (pkl, st):
            p.read_bytes()  # both from the page cache
        for mode in ("read", "load"):
            runs: dict[str, list[dict]] = {"pkl": [], "safetensors": []}
            for _ in range(args.repeats):  # interleaved, so drift hits both alike
                runs["pkl"].append(measure(mode, pkl))
                runs["safetensors"].append(measure(mode, st))
            med = {k: {m: statistics.median(r[m] for r in v) for m in ("seconds", "peak_mb")} for k, v in runs.items()}
            p, s = med["pkl"], med["safetensors"]
            print(f"{mode:5s} pkl {p['seconds']:.3f} s, +{p['peak_mb']:.0f} MB peak | safetensors {s['seconds']:.3f} s, "
                  f"+{s['peak_mb']:.0f} MB peak | ratio pkl/safetensors: time {p['seconds'] / s['seconds']:.2f}, "
                  f"memory {p['peak_mb'] / max(s['peak_mb'], 1e-9):.2f}  (median of {args.repeats})")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
