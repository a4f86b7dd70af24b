"""pix2pix (Isola et al. 2017), the official recipe (junyanz/pytorch-CycleGAN-and-pix2pix ``pix2pix_model``):
U-Net generator (unet_256: 8 downsamplings; ``--size 128`` uses unet_128), 70x70 PatchGAN on the
(input, output) pair, BatchNorm, dropout in G, vanilla GAN loss (BCE on logits = ``nonsaturating``) + L1
lambda 100, Adam 2e-4 beta1 0.5, constant then linear decay, batch 1, resize to 286/256, random crop, flip.

Data: A/B folders matched by file stem (``--data-a`` inputs, ``--data-b`` targets), or the official
side-by-side ``AB`` images (``--data-a DIR`` alone, ``--option side_by_side=true``).
``--arch norm=instance`` / ``dropout=false`` change the network (e.g. for multi-process runs, where
BatchNorm statistics stay per process on the CPU). Exported: ``final/latest_net_G.pth`` and
``latest_net_D.pth``. Metrics: PSNR / SSIM / FID of outputs against the held-out targets.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ganstudio.nets.cyclegan import NLayerDiscriminator, UnetGenerator
from ganstudio.training import losses
from ganstudio.training.data import (DataError, PairedDataset, check_images, match_pairs,
                                     split_holdout)
from ganstudio.training.recipe import Recipe, grid, load_starting_weights
from ganstudio.training.recipes.translation import init_weights, linear_decay


class Pix2PixRecipe(Recipe):
    task = "pix2pix"
    defaults = {"size": 256, "batch": 1, "lr": 2e-4, "steps": 80000, "objective": "nonsaturating",
                "checkpoint_every": 2000, "sample_every": 500, "holdout": 16, "metric_samples": 64,
                "arch": {"ngf": 64, "ndf": 64, "n_layers_D": 3, "norm": "batch", "dropout": True},
                "options": {"lambda_l1": 100.0, "decay_start": 0.5, "side_by_side": False}}

    def check_data(self, cancel=None):
        side = bool(self.cfg.options.get("side_by_side")) or not self.cfg.data_b
        if side:
            report = check_images(self.cfg.data_a, min_count=2, what="AB images", cancel=cancel)
            pairs = [(f, None) for f in report.files]
        else:
            report = check_images(self.cfg.data_a, min_count=1, what="input (A) images", cancel=cancel)
            rb = check_images(self.cfg.data_b, min_count=1, what="target (B) images", cancel=cancel)
            pairs, unmatched = match_pairs(report.files, rb.files, "input", "target", min_count=2)
            report.unreadable += rb.unreadable
            report.unmatched = unmatched
            report.files = [a for a, _ in pairs]
        self.side_by_side = side
        self.train_pairs, self.hold_pairs = split_holdout(pairs, self.cfg.holdout, self.cfg.seed)
        return report

    def dataset(self):
        load = int(round(self.cfg.size * 286 / 256))
        return PairedDataset(self.train_pairs, self.cfg.size, self.cfg.seed, load_size=load,
                             side_by_side=self.side_by_side)

    def build(self) -> None:
        a, o = self.cfg.arch, self.cfg.options
        size = self.cfg.size
        num_downs = int(a.get("num_downs") or round(math.log2(size)))
        if 2 ** num_downs > size or size % (2 ** num_downs):
            raise DataError(f"pix2pix at {size} px needs the size to be a multiple of 2^{num_downs}")
        norm = str(a.get("norm", "batch"))
        g = UnetGenerator(num_downs=num_downs, ngf=int(a["ngf"]), norm=norm, use_dropout=bool(a.get("dropout", True)))
        d = NLayerDiscriminator(input_nc=6, ndf=int(a["ndf"]), n_layers=int(a["n_layers_D"]), norm=norm)
        g.apply(init_weights)
        d.apply(init_weights)
        if self.cfg.from_model:
            self.messages.append("fine-tuning: " + load_starting_weights(g, self.cfg.from_model, "cyclegan"))
        self.nets = {"g": self.ddp(g.to(self.device)), "d": self.ddp(d.to(self.device))}
        betas = (0.5, 0.999)
        decay = float(o.get("decay_start", 0.5))
        g_opt = torch.optim.Adam(self.nets["g"].parameters(), lr=self.cfg.lr, betas=betas)
        d_opt = torch.optim.Adam(self.nets["d"].parameters(), lr=self.cfg.lr, betas=betas)
        self.add_optimizer("g", g_opt, linear_decay(g_opt, self.cfg.steps, decay))
        self.add_optimizer("d", d_opt, linear_decay(d_opt, self.cfg.steps, decay))
        self.lambda_l1 = float(o.get("lambda_l1", 100.0))
        self._hold = None

    def train_step(self, batch: dict, step: int) -> dict:
        g, d = self.nets["g"], self.nets["d"]
        obj = self.cfg.objective

        def d_step(chunk):
            real_a, real_b = chunk["a"], chunk["b"]
            with torch.no_grad():
                fake_b = self.unwrap(g)(real_a)
            pred_fake = d(torch.cat([real_a, fake_b], 1))
            pred_real = d(torch.cat([real_a, real_b], 1))
            loss = 0.5 * losses.d_loss(obj, pred_real, pred_fake)
            return loss, {"d": loss.detach()}

        logs = self.optimize("d", batch, d_step)
        self.requires_grad(d, False)

        def g_step(chunk):
            real_a, real_b = chunk["a"], chunk["b"]
            fake_b = g(real_a)
            gan = losses.g_loss(obj, self.unwrap(d)(torch.cat([real_a, fake_b], 1)))
            l1 = F.l1_loss(fake_b.float(), real_b.float()) * self.lambda_l1
            return gan + l1, {"g": gan.detach(), "l1": l1.detach() / self.lambda_l1}

        logs.update(self.optimize("g", batch, g_step))
        self.requires_grad(d, True)
        for s in self.scheds.values():
            s.step()
        return logs

    def holdout_tensors(self, limit: int = 0):
        """Held-out (A, B) as tensors at the training size (centre crop), cached."""
        if self._hold is None:
            ds = PairedDataset(self.hold_pairs or self.train_pairs[:4], self.cfg.size, self.cfg.seed,
                               load_size=self.cfg.size, flip=False, side_by_side=self.side_by_side)
            items = [ds[(0, i)] for i in range(len(ds))]
            self._hold = (torch.stack([it["a"] for it in items]), torch.stack([it["b"] for it in items]))
        a, b = self._hold
        return (a[:limit], b[:limit]) if limit else (a, b)

    def translate(self, a: torch.Tensor) -> torch.Tensor:
        g = self.unwrap(self.nets["g"])
        return torch.cat([g(a[i:i + 4].to(self.device)).float().cpu() for i in range(0, len(a), 4)])

    def sample_grid(self):
        a, b = self.holdout_tensors(4)
        return grid(torch.cat([a, self.translate(a), b]), nrow=len(a))

    def evaluate(self) -> dict:
        from ganstudio.training.metrics import fid_between, psnr, ssim

        a, b = self.holdout_tensors(self.cfg.metric_samples)
        fake = self.translate(a)
        out = {"psnr": round(psnr(fake, b), 3), "ssim": round(ssim(fake, b), 4),
               "l1": round(float((fake - b).abs().mean()), 5)}
        out.update(fid_between(fake, b, self.device))
        return out

    def export(self, folder: Path) -> list[Path]:
        out = [folder / "latest_net_G.pth", folder / "latest_net_D.pth"]
        torch.save(self.unwrap(self.nets["g"]).state_dict(), out[0])
        torch.save(self.unwrap(self.nets["d"]).state_dict(), out[1])
        return out

    def library_entries(self) -> list[dict]:
        return [{"task": "stylize", "file": "latest_net_G.pth", "arch": "cyclegan", "role": "generator"}]
