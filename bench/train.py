"""Training speed: our trainer's steps per second against a plain loop written the way the official script
runs, on the same machine in the same run (interleaved rounds, median), for

* CycleGAN: ResNet-9 generators, ngf 64, 256 px, batch 1 (junyanz/pytorch-CycleGAN-and-pix2pix's
  ``optimize_parameters``: forward, G step with D frozen, D step; fp32, no AMP);
* StyleGAN2: 64 px small config (rosinality ``train.py``'s loop: D step, lazy R1, G step, lazy path
  length, EMA accumulate; fp32).

Ours runs with the runtime ``auto`` picks (bf16 autocast on CPUs with AMX, fp16 + channels_last on CUDA)
and everything the loop does per step. Prints each median and ours / reference (aim: >= 1.0 on the CPU,
>= 1.5 on the GPU).

    python bench/train.py [--device cpu|cuda] [--rounds 3] [--steps 3] [--only cyclegan|stylegan2]
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
import torch.nn.functional as F

from ganstudio.runtime import resolve_runtime
from ganstudio.training.config import TrainConfig
from ganstudio.training.loop import defaults_for, recipe_class
from ganstudio.training.recipe import World

SG_ARCH = {"style_dim": 256, "n_mlp": 4, "channels": {4: 256, 8: 256, 16: 256, 32: 128, 64: 64}}


# --------------------------------------------------------------------------------------- references
def reference_cyclegan(device, size):
    """The official loop's arithmetic, written plainly (fp32, separate forwards, no AMP)."""
    from ganstudio.nets.cyclegan import NLayerDiscriminator, ResnetGenerator
    from ganstudio.training.recipes.translation import ImagePool

    g_a, g_b = ResnetGenerator(n_blocks=9).to(device), ResnetGenerator(n_blocks=9).to(device)
    d_a, d_b = NLayerDiscriminator().to(device), NLayerDiscriminator().to(device)
    opt_g = torch.optim.Adam(list(g_a.parameters()) + list(g_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()), lr=2e-4, betas=(0.5, 0.999))
    pool_a, pool_b = ImagePool(50), ImagePool(50)
    real_a = torch.rand(1, 3, size, size, device=device) * 2 - 1
    real_b = torch.rand(1, 3, size, size, device=device) * 2 - 1

    def mse_gan(pred, target):
        return F.mse_loss(pred, torch.full_like(pred, float(target)))

    def step():
        fake_b = g_a(real_a)
        rec_a = g_b(fake_b)
        fake_a = g_b(real_b)
        rec_b = g_a(fake_a)
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(False)
        opt_g.zero_grad()
        idt_a, idt_b = g_a(real_b), g_b(real_a)
        loss = (mse_gan(d_a(fake_b), 1) + mse_gan(d_b(fake_a), 1) + F.l1_loss(rec_a, real_a) * 10
                + F.l1_loss(rec_b, real_b) * 10 + F.l1_loss(idt_a, real_b) * 5 + F.l1_loss(idt_b, real_a) * 5)
        loss.backward()
        opt_g.step()
        for p in list(d_a.parameters()) + list(d_b.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad()
        fb, fa = pool_b.query(fake_b), pool_a.query(fake_a)
        ld = ((mse_gan(d_a(real_b), 1) + mse_gan(d_a(fb.detach()), 0)) * 0.5
              + (mse_gan(d_b(real_a), 1) + mse_gan(d_b(fa.detach()), 0)) * 0.5)
        ld.backward()
        opt_d.step()

    return step


def reference_stylegan2(device, size, batch):
    """rosinality train.py's loop, plainly (fp32)."""
    import copy

    from ganstudio.nets import stylegan2 as sg

    kw = dict(size=size, channels=SG_ARCH["channels"])
    g = sg.Generator(style_dim=SG_ARCH["style_dim"], n_mlp=SG_ARCH["n_mlp"], **kw).to(device)
    d = sg.Discriminator(**kw).to(device)
    g_ema = copy.deepcopy(g).eval()
    gr, dr = 4 / 5, 16 / 17
    g_optim = torch.optim.Adam(g.parameters(), lr=0.002 * gr, betas=(0.0, 0.99 ** gr))
    d_optim = torch.optim.Adam(d.parameters(), lr=0.002 * dr, betas=(0.0, 0.99 ** dr))
    real = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    dim = SG_ARCH["style_dim"]
    state = {"i": 0, "mean_path_length": 0.0}

    def noise():
        if random.random() < 0.9:
            return list(torch.randn(2, batch, dim, device=device).unbind(0))
        return [torch.randn(batch, dim, device=device)]

    def step():
        i = state["i"]
        for p in g.parameters():
            p.requires_grad_(False)
        for p in d.parameters():
            p.requires_grad_(True)
        fake, _ = g(noise())
        d_loss = F.softplus(d(fake)).mean() + F.softplus(-d(real)).mean()
        d.zero_grad()
        d_loss.backward()
        d_optim.step()
        if i % 16 == 0:
            r = real.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(d(r).sum(), r, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            d.zero_grad()
            (0.0002 * size ** 2 / batch / 2 * r1 * 16).backward()
            d_optim.step()
        for p in g.parameters():
            p.requires_grad_(True)
        for p in d.parameters():
            p.requires_grad_(False)
        fake, _ = g(noise())
        g_loss = F.softplus(-d(fake)).mean()
        g.zero_grad()
        g_loss.backward()
        g_optim.step()
        if i % 4 == 0:
            fake, lat = g([torch.randn(batch // 2, dim, device=device)], return_latents=True)
            nz = torch.randn_like(fake) / (fake.shape[2] * fake.shape[3]) ** 0.5
            (grad,) = torch.autograd.grad((fake * nz).sum(), lat, create_graph=True)
            lengths = torch.sqrt(grad.pow(2).sum(2).mean(1))
            mean = state["mean_path_length"] + 0.01 * (lengths.mean().item() - state["mean_path_length"])
            state["mean_path_length"] = mean
            g.zero_grad()
            (2 * 4 * (lengths - mean).pow(2).mean()).backward()
            g_optim.step()
        with torch.no_grad():
            for pe, p in zip(g_ema.parameters(), g.parameters()):
                pe.mul_(0.5 ** (32 / 10000)).add_(p, alpha=1 - 0.5 ** (32 / 10000))
        state["i"] += 1

    return step


# --------------------------------------------------------------------------------------- ours
def ours(task, device, size, batch, arch, precision="auto"):
    rt = resolve_runtime(device, precision)
    cfg = TrainConfig(task=task, size=size, batch=batch, steps=1000, arch=arch).with_defaults(defaults_for(task))
    recipe = recipe_class(task)(cfg, rt, World())
    recipe.build()
    recipe.train_mode(True)
    cl = rt.device.type == "cuda"
    mk = lambda: (torch.rand(batch, 3, size, size, device=rt.device) * 2 - 1).contiguous(  # noqa: E731
        memory_format=torch.channels_last if cl else torch.contiguous_format)
    batch_data = {"a": mk(), "b": mk()} if task == "cyclegan" else {"image": mk()}
    state = {"i": 0}

    def step():
        recipe.train_step(batch_data, state["i"])
        state["i"] += 1

    return step, rt


def timed(step, n, device) -> float:
    step()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--only", choices=["cyclegan", "stylegan2"])
    ap.add_argument("--precision", default="auto", help="ours: auto (the trainer's default), fp32, bf16, fp16")
    args = ap.parse_args()
    torch.manual_seed(0)
    cases = []
    if args.only in (None, "cyclegan"):
        step, rt = ours("cyclegan", args.device, 256, 1, {"ngf": 64, "n_blocks": 9}, args.precision)
        cases.append(("cyclegan ngf64 256px b1", step, reference_cyclegan(args.device, 256), rt))
    if args.only in (None, "stylegan2"):
        step, rt = ours("stylegan2", args.device, 64, 16, SG_ARCH, args.precision)
        cases.append(("stylegan2 64px small b16", step, reference_stylegan2(args.device, 64, 16), rt))
    print(f"device {args.device}; ours runs as: {cases[0][3].describe()}")
    for name, mine, ref, _rt in cases:
        a, b = [], []
        for _ in range(args.rounds):  # interleaved, so machine load hits both alike
            a.append(timed(mine, args.steps, args.device))
            b.append(timed(ref, args.steps, args.device))
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"{name:28s} ours {ma:7.3f} steps/s   reference {mb:7.3f} steps/s   ratio {ma / mb:5.2f}")


if __name__ == "__main__":
    main()
