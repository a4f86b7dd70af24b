"""DCGAN, the pytorch/examples recipe (``dcgan/main.py``): Adam 2e-4, beta1 0.5, batch 64, nz 100,
ngf = ndf = 64, weights N(0, 0.02) (BatchNorm weights N(1, 0.02)), BCE loss, one D step then one G step.

Here at any power-of-two size (``--size``, default 64) and with a selectable objective (BCE is
``nonsaturating`` on logits; also lsgan, hinge, wgan-gp). The official D ends in a sigmoid; the losses take
logits, so its output is turned back into a logit (clamped), which keeps the official D layout and files.
Grey data (e.g. Fashion-MNIST) trains with ``--arch nc=1``. Optional DiffAugment / ADA (``--augment``).

Exported: ``final/netG.pth`` and ``final/netD.pth`` (state dicts, official names).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ganstudio.nets import dcgan
from ganstudio.training import losses
from ganstudio.training.augment import Augmenter
from ganstudio.training.data import ImageFolderDataset, check_images, split_holdout
from ganstudio.training.recipe import Recipe, grid, load_starting_weights


def init_weights(m: nn.Module) -> None:
    """pytorch/examples weights_init."""
    name = type(m).__name__
    if "Conv" in name:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif "BatchNorm" in name:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANRecipe(Recipe):
    task = "dcgan"
    defaults = {"size": 64, "batch": 64, "lr": 2e-4, "steps": 20000, "objective": "nonsaturating",
                "augment": "none", "checkpoint_every": 1000, "sample_every": 500, "holdout": 500,
                "metric_samples": 1000, "arch": {"nz": 100, "ngf": 64, "ndf": 64, "nc": 3}, "options": {}}

    def check_data(self, cancel=None):
        report = check_images(self.cfg.data, min_count=8, what="training images", cancel=cancel)
        self.train_files, self.holdout_files = split_holdout(report.files, self.cfg.holdout, self.cfg.seed)
        return report

    def dataset(self):
        return ImageFolderDataset(self.train_files, self.cfg.size, self.cfg.seed, channels=self.arch["nc"])

    @property
    def arch(self) -> dict:
        return self.cfg.arch

    def build(self) -> None:
        a, size = self.arch, self.cfg.size
        g = dcgan.Generator(nz=a["nz"], ngf=a["ngf"], nc=a["nc"], size=size).to(self.device)
        d = dcgan.Discriminator(nc=a["nc"], ndf=a["ndf"], size=size).to(self.device)
        g.apply(init_weights)
        d.apply(init_weights)
        if self.cfg.from_model:
            self.messages.append(load_starting_weights(g, self.cfg.from_model, "dcgan"))
        self.nets = {"g": self.ddp(g), "d": self.ddp(d)}
        betas = (0.5, 0.999)
        self.add_optimizer("g", torch.optim.Adam(g.parameters(), lr=self.cfg.lr, betas=betas))
        self.add_optimizer("d", torch.optim.Adam(d.parameters(), lr=self.cfg.lr, betas=betas))
        self.augment = Augmenter(self.cfg.augment, self.device)
        self.fixed_z = torch.randn(64, a["nz"], 1, 1, generator=self.fixed_generator())

    def _d_logits(self, d, x):
        # the official D ends in a sigmoid: turn its probability back into a logit for the losses
        p = d(x).float().clamp(1e-6, 1 - 1e-6)
        return torch.log(p) - torch.log1p(-p)

    def train_step(self, batch: dict, step: int) -> dict:
        g, d = self.nets["g"], self.nets["d"]
        real = batch["image"]
        n, nz = real.shape[0], self.arch["nz"]
        obj = self.cfg.objective

        def d_loss(chunk):
            r = chunk["image"]
            z = torch.randn(r.shape[0], nz, 1, 1, device=r.device)
            with torch.no_grad():
                fake = g(z)
            real_out = self._d_logits(d, self.augment(r))
            fake_out = self._d_logits(d, self.augment(fake.detach()))
            loss = losses.d_loss(obj, real_out, fake_out)
            if obj == "wgan-gp":
                loss = loss + 10.0 * losses.gradient_penalty(lambda x: self._d_logits(d, x), r, fake)
            self.augment.observe(real_out)
            return loss, {"d": loss.detach()}

        logs = self.optimize("d", batch, d_loss)
        self.requires_grad(d, False)

        def g_loss(chunk):
            z = torch.randn(chunk["image"].shape[0], nz, 1, 1, device=real.device)
            fake_out = self._d_logits(self.unwrap(d), self.augment(g(z)))
            loss = losses.g_loss(obj, fake_out)
            return loss, {"g": loss.detach()}

        logs.update(self.optimize("g", batch, g_loss))
        self.requires_grad(d, True)
        self.augment.update(n)
        if self.augment.adaptive:
            logs["ada_p"] = self.augment.p
        return logs

    def sample_grid(self):
        g = self.unwrap(self.nets["g"])
        return grid(g(self.fixed_z.to(self.device)), nrow=8)

    def evaluate(self) -> dict:
        from ganstudio.training.metrics import fid_for_generator

        if not self.holdout_files:
            return {}
        g = self.unwrap(self.nets["g"])
        nz = self.arch["nz"]
        gen = self.fixed_generator("metrics")

        def fake_batch(n):
            return g(torch.randn(n, nz, 1, 1, generator=gen).to(self.device))

        return fid_for_generator(fake_batch, self.holdout_files, self.cfg.metric_samples, self.device,
                                 size=self.cfg.size, channels=self.arch["nc"])

    def extra_state(self) -> dict:
        return {"augment": self.augment.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "augment" in state:
            self.augment.load_state_dict(state["augment"])

    def export(self, folder: Path) -> list[Path]:
        out = [folder / "netG.pth", folder / "netD.pth"]
        torch.save(self.unwrap(self.nets["g"]).state_dict(), out[0])
        torch.save(self.unwrap(self.nets["d"]).state_dict(), out[1])
        return out

    def library_entries(self) -> list[dict]:
        return [{"task": "latent", "file": "netG.pth", "arch": "dcgan", "role": "generator"}]
