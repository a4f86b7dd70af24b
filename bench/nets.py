"""Benchmark: every full-size generator at its native resolution — forward time, parameters, MACs.

Run:  .venv/bin/python bench/nets.py                      (CPU, fp32)
      .venv/bin/python bench/nets.py --device cuda --precision all --channels-last
      .venv/bin/python bench/nets.py --only rrdbnet srvgg
      OMP_NUM_THREADS=1 .venv/bin/python bench/nets.py --quick --only dcgan srvgg   (smoke run: 1 repeat,
                                                                               smallest valid inputs)

Networks are built with random weights (timing and counts do not depend on the values) from their family
module in ``ganstudio.nets`` (the modules ``ganstudio.checkpoints`` registers). A family whose module is not
present is skipped, saying so.

MACs are counted twice:
  * ``hook MACs``: forward hooks on nn.Conv2d / nn.ConvTranspose2d / nn.Linear (out elements x in-channels/groups x
    kernel area); misses layers that call the functional ops directly (StyleGAN2's modulated convs and
    equalized linears, SPADE's spectral-norm convs), hence
  * ``aten MACs``: torch.utils.flop_counter at the aten level (half its FLOP count), which sees every conv and
    matmul wherever it comes from.
With ``--precision all`` on CUDA each network also runs under autocast fp16 and bf16, and the bench prints the
max abs difference from the fp32 output next to the speed.
"""
from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Case:
    name: str
    family: str            # module under ganstudio.nets
    make: Callable         # module -> nn.Module
    inputs: Callable       # (device) -> tuple of forward args, at the network's native resolution
    note: str = ""
    repeat_scale: float = 1.0  # heavy cases run fewer repeats on CPU
    call: Callable | None = None  # (net, *args) -> tensor, when forward needs keywords
    quick: Callable | None = None  # (device) -> the smallest valid inputs, for --quick (None: same as inputs)


def _rand(*shape, lo=0.0, hi=1.0):
    return lambda dev: (torch.rand(1, 3, *shape, device=dev) * (hi - lo) + lo,)


def _spade_inputs(h=256, w=256, label_nc=150, semantic_nc=151):
    """One-hot label map (labels in [0, label_nc)); the dontcare / instance-edge channels stay zero."""
    def make(dev):
        g = torch.Generator().manual_seed(0)
        labels = torch.randint(0, label_nc, (1, h, w), generator=g)
        seg = torch.zeros(1, semantic_nc, h, w)
        seg.scatter_(1, labels[:, None], 1.0)
        return (seg.to(dev),)
    return make


def _stylegan_call(net, z):
    return net([z], randomize_noise=False)[0]


def _spade(semantic_nc, label_nc, dontcare, instance, mode="normal", crop=256, aspect=1.0):
    return lambda m: m.build(semantic_nc=semantic_nc, ngf=64, num_upsampling_layers=mode, label_nc=label_nc,
                             contain_dontcare_label=dontcare, use_instance=instance, crop_size=crop,
                             aspect_ratio=aspect)


CASES = [
    Case("RRDBNet x4 (23 blocks) 128->512", "rrdbnet",
         lambda m: m.build(num_feat=64, num_block=23, num_grow_ch=32, scale=4),
         _rand(128, 128), "RealESRGAN_x4plus", 0.34, quick=_rand(32, 32)),
    Case("RRDBNet x2 (23 blocks) 256->512", "rrdbnet",
         lambda m: m.build(num_feat=64, num_block=23, num_grow_ch=32, scale=2),
         _rand(256, 256), "RealESRGAN_x2plus (body at 128x128 after unshuffle)", 0.34, quick=_rand(32, 32)),
    Case("RRDBNet x4 anime (6 blocks) 128->512", "rrdbnet",
         lambda m: m.build(num_feat=64, num_block=6, num_grow_ch=32, scale=4),
         _rand(128, 128), "RealESRGAN_x4plus_anime_6B", quick=_rand(32, 32)),
    Case("SRVGGNetCompact x4 128->512", "srvgg",
         lambda m: m.build(num_feat=64, num_conv=16, upscale=4),
         _rand(128, 128), "realesr-animevideov3", quick=_rand(32, 32)),
    Case("CycleGAN resnet9 256", "cyclegan",
         lambda m: m.build(arch="resnet", ngf=64, n_blocks=9, norm="instance"),
         _rand(256, 256, lo=-1), "horse2zebra etc.", quick=_rand(64, 64, lo=-1)),
    Case("CycleGAN resnet6 128", "cyclegan",
         lambda m: m.build(arch="resnet", ngf=64, n_blocks=6, norm="instance"),
         _rand(128, 128, lo=-1), "resnet_6blocks (the paper's 128x128 setting)", quick=_rand(64, 64, lo=-1)),
    Case("pix2pix unet256 256", "cyclegan",
         lambda m: m.build(arch="unet", ngf=64, num_downs=8, norm="batch"),
         _rand(256, 256, lo=-1), "facades etc."),  # 256 is also its smallest input (2^8)
    Case("pix2pix unet128 128", "cyclegan",
         lambda m: m.build(arch="unet", ngf=64, num_downs=7, norm="batch"),
         _rand(128, 128, lo=-1), "unet_128"),  # 128 is also its smallest input (2^7)
    Case("SPADE ade20k 256", "spade", _spade(151, 150, True, False),
         _spade_inputs(), "label_nc 150 + dontcare", 0.5, quick=_spade_inputs(32, 32)),
    Case("SPADE coco 256", "spade", _spade(184, 182, True, True),
         _spade_inputs(256, 256, 182, 184), "label_nc 182 + dontcare + instance edges", 0.5,
         quick=_spade_inputs(32, 32, 182, 184)),
    Case("SPADE cityscapes 256x512 (more)", "spade", _spade(36, 35, False, True, "more", 512, 2.0),
         _spade_inputs(256, 512, 35, 36), "label_nc 35 + instance edges, 'more' upsampling", 0.34,
         quick=_spade_inputs(64, 128, 35, 36)),
    Case("StyleGAN2 256", "stylegan2",
         lambda m: m.build(size=256, channel_multiplier=2),
         lambda dev: (torch.randn(1, 512, device=dev),), "rosinality, cm 2", 0.5, _stylegan_call),
    Case("StyleGAN2 1024", "stylegan2",
         lambda m: m.build(size=1024, channel_multiplier=2),
         lambda dev: (torch.randn(1, 512, device=dev),), "FFHQ config-f", 0.2, _stylegan_call),
    Case("DCGAN 64", "dcgan",
         lambda m: m.build(nz=100, ngf=64, nc=3),
         lambda dev: (torch.randn(1, 100, device=dev),), "pytorch/examples"),
]


def _set_memory_format(net: nn.Module, fmt: torch.memory_format) -> None:
    """channels_last for the 4-D weights only (StyleGAN2 keeps 5-D modulated weights, which refuse it)."""
    for m in net.modules():
        for name, p in list(m.named_parameters(recurse=False)):
            if p.ndim == 4:
                p.data = p.data.contiguous(memory_format=fmt)


def hook_macs(net: nn.Module, run: Callable[[], torch.Tensor]) -> int:
    total = 0

    def on_conv(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        if isinstance(mod, nn.ConvTranspose2d):  # each input element meets out_ch/groups x k filters
            total += inp[0].numel() * (mod.out_channels // mod.groups) * k
        else:
            total += out.numel() * (mod.in_channels // mod.groups) * k

    def on_linear(mod, inp, out):
        nonlocal total
        total += out.numel() * mod.in_features

    handles = []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            handles.append(m.register_forward_hook(on_conv))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(on_linear))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return total


def aten_macs(run: Callable[[], torch.Tensor]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() // 2


def time_it(run: Callable[[], torch.Tensor], device: torch.device, repeat: int) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()  # warm-up (cudnn autotune, allocator)
    sync()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _fmt_count(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "all"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--channels-last", action="store_true", help="also time channels_last memory format")
    ap.add_argument("--only", nargs="*", help="families to run (rrdbnet srvgg cyclegan spade stylegan2 dcgan)")
    ap.add_argument("--quick", action="store_true",
                    help="one repeat and each network's smallest valid input (a smoke run, not native resolution)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.quick:
        args.repeat = 1
    precisions = ["fp32", "fp16", "bf16"] if args.precision == "all" else [args.precision]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        desc = torch.cuda.get_device_name(device)
    else:
        desc = f"CPU, {torch.get_num_threads()} threads"
    print(f"# bench/nets.py  torch {torch.__version__}  device {device} ({desc})  repeat {args.repeat} (median)"
          + ("  QUICK: smallest inputs, not native resolution" if args.quick else ""))
    header = f"{'network':40s} {'params':>9s} {'hook MACs':>10s} {'aten MACs':>10s} {'fp32 ms':>9s}"
    if args.channels_last:
        header += f" {'cl ms':>9s}"
    for p in precisions[1:] if precisions[0] == "fp32" else precisions:
        header += f" {p + ' ms':>9s} {p + ' maxdiff':>11s}"
    print(header)
    for case in CASES:
        if args.only and case.family not in args.only:
            continue
        mod = importlib.import_module(f"ganstudio.nets.{case.family}")
        torch.manual_seed(0)
        try:
            net = case.make(mod).eval().to(device)
        except Exception as exc:  # a family whose build() signature differs: say so, go on
            print(f"{case.name:40s} skipped: cannot build ({type(exc).__name__}: {exc})")
            continue
        args_in = (case.quick or case.inputs)(device) if args.quick else case.inputs(device)
        call = case.call or (lambda n, *a: n(*a))
        n_params = sum(p.numel() for p in net.parameters())
        repeat = 1 if args.quick else max(1, round(args.repeat * (case.repeat_scale if device.type == "cpu" else 1)))
        with torch.inference_mode():
            def run(n=net, a=args_in):
                return call(n, *a)

            macs_h = hook_macs(net, run)
            macs_a = aten_macs(run)
            row = f"{case.name:40s} {_fmt_count(n_params):>9s} {_fmt_count(macs_h):>10s} {_fmt_count(macs_a):>10s}"
            ref = run().float()
            row += f" {time_it(run, device, repeat) * 1e3:9.1f}"
            if args.channels_last:
                _set_memory_format(net, torch.channels_last)
                a_cl = tuple(t.to(memory_format=torch.channels_last) if t.ndim == 4 else t for t in args_in)
                row += f" {time_it(lambda: call(net, *a_cl), device, repeat) * 1e3:9.1f}"
                _set_memory_format(net, torch.contiguous_format)
            for p in precisions:
                if p == "fp32":
                    continue
                dtype = torch.float16 if p == "fp16" else torch.bfloat16

                def run_ac(n=net, a=args_in, dt=dtype):
                    with torch.autocast(device.type, dtype=dt):
                        return call(n, *a)

                try:
                    diff = (run_ac().float() - ref).abs().max().item()
                    row += f" {time_it(run_ac, device, repeat) * 1e3:9.1f} {diff:11.2e}"
                except RuntimeError as exc:
                    row += f" {'n/a':>9s} {type(exc).__name__:>11s}"
        note = case.note
        if args.quick:
            note += f"  [quick input {'x'.join(map(str, args_in[0].shape))}]"
        print(f"{row}   {note}", flush=True)
        del net
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
