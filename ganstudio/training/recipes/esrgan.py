"""Real-ESRGAN fine-tuning (Wang et al. 2021; the RealESRGANModel recipe of xinntao/Real-ESRGAN): HR
photo patches, their low-resolution versions made on the fly by the two-stage degradation
(``training/degradations.py``), RRDBNet x4 generator (the packaged x4plus by default: ``--from x4plus``,
``--from none`` trains from scratch), U-Net discriminator with spectral norm, L1 (1.0) + perceptual (1.0)
+ GAN (0.1, vanilla), the target sharpened by unsharp masking for L1 and perceptual, Adam 1e-4 betas
(0.9, 0.99) for both, EMA of G with decay 0.999. The official perceptual term is VGG19 (not installable
here): EfficientNet-Lite0 features stand in (see training/features.py).

``--size`` is the HR patch side (official 256; a multiple of 4 * 8). ``--arch num_block=6`` etc. for
smaller generators when training from scratch. Exported: ``final/net_g.pth`` = {"params_ema", "params"}
(BasicSR's layout, loadable by ``load_model`` and Real-ESRGAN's inference script) and ``net_d.pth``.
Metrics: PSNR / SSIM of the super-resolved held-out degraded patches against their HR originals.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ganstudio.nets.rrdbnet import RRDBNet, UNetDiscriminatorSN
from ganstudio.training import losses
from ganstudio.training.data import ImageFolderDataset, check_images, sample_rng, split_holdout
from ganstudio.training.degradations import degrade, draw_params, params_to_tensors, usm_sharpen
from ganstudio.training.recipe import Recipe, grid, load_starting_weights


class DegradationDataset(ImageFolderDataset):
    """HR patches plus the parameters of their degradation (drawn from each sample's own stream)."""

    def __getitem__(self, key):
        item = super().__getitem__(key)
        position, _index = key
        item.update(params_to_tensors(draw_params(sample_rng(self.seed + 7919, position))))
        return item


class ESRGANRecipe(Recipe):
    task = "esrgan"
    defaults = {"size": 256, "batch": 12, "lr": 1e-4, "steps": 400000, "objective": "nonsaturating",
                "checkpoint_every": 5000, "sample_every": 1000, "holdout": 8, "metric_samples": 8,
                "from_model": "x4plus",
                "arch": {"num_feat": 64, "num_block": 23, "num_grow_ch": 32, "scale": 4, "d_feat": 64},
                "options": {"l1": 1.0, "perceptual": 1.0, "gan": 0.1, "ema": 0.999, "usm": True}}
    notes = ("perceptual loss: EfficientNet-Lite0 features (VGG19, the official network, cannot be installed "
             "here)",)

    def check_data(self, cancel=None):
        report = check_images(self.cfg.data, min_count=2, min_side=self.cfg.size // 2, what="HR photos",
                              cancel=cancel)
        self.train_files, self.holdout_files = split_holdout(report.files, self.cfg.holdout, self.cfg.seed)
        return report

    def dataset(self):
        return DegradationDataset(self.train_files, self.cfg.size, self.cfg.seed, crop="random")

    def build(self) -> None:
        a, o = self.cfg.arch, self.cfg.options
        if self.cfg.size % (int(a["scale"]) * 8):
            raise ValueError(f"the HR patch size must be a multiple of {int(a['scale']) * 8}")
        kw = dict(num_in_ch=3, num_out_ch=3, scale=int(a["scale"]), num_feat=int(a["num_feat"]),
                  num_block=int(a["num_block"]), num_grow_ch=int(a["num_grow_ch"]))
        g = RRDBNet(**kw)
        start = (self.cfg.from_model or "").strip()
        if start and start.lower() != "none":
            self.messages.append("fine-tuning: " + load_starting_weights(g, start, "rrdbnet"))
        g_ema = RRDBNet(**kw)
        g_ema.load_state_dict(g.state_dict())
        d = UNetDiscriminatorSN(num_feat=int(a["d_feat"]))
        self.nets = {"g": self.ddp(g.to(self.device)), "d": self.ddp(d.to(self.device)),
                     "g_ema": g_ema.to(self.device).eval()}
        self.nets["g_ema"].requires_grad_(False)
        betas = (0.9, 0.99)
        self.add_optimizer("g", torch.optim.Adam(self.nets["g"].parameters(), lr=self.cfg.lr, betas=betas))
        self.add_optimizer("d", torch.optim.Adam(self.nets["d"].parameters(), lr=self.cfg.lr, betas=betas))
        self.w_l1, self.w_perc, self.w_gan = float(o["l1"]), float(o["perceptual"]), float(o["gan"])
        self.ema_decay, self.usm = float(o["ema"]), bool(o.get("usm", True))
        self.feats = None
        if self.w_perc > 0:
            from ganstudio.training.features import efficientnet_lite0

            self.feats = efficientnet_lite0(self.device)
        self.scale = int(a["scale"])
        self._hold = None

    def _pair(self, batch: dict):
        hr = (batch["image"].float() + 1) / 2
        params = {k: v for k, v in batch.items() if k.startswith("deg_")}
        with torch.no_grad():
            lr = degrade(hr, params, self.scale)
        target = usm_sharpen(hr) if self.usm else hr
        return lr, hr, target

    def train_step(self, batch: dict, step: int) -> dict:
        g, d = self.nets["g"], self.nets["d"]
        lr, hr, target = self._pair(batch)
        batch = {"lr": lr, "hr": hr, "target": target}
        obj = self.cfg.objective

        self.requires_grad(d, False)

        def g_step(chunk):
            sr = g(chunk["lr"])
            l1 = F.l1_loss(sr.float(), chunk["target"].float()) * self.w_l1
            perc = torch.zeros((), device=sr.device)
            if self.feats is not None:
                from ganstudio.training.features import perceptual_distance

                perc = perceptual_distance(self.feats, sr * 2 - 1, chunk["target"] * 2 - 1) * self.w_perc
            gan = losses.g_loss(obj, self.unwrap(d)(sr)) * self.w_gan
            return l1 + perc + gan, {"l1": l1.detach(), "perceptual": perc.detach(), "g": gan.detach()}

        logs = self.optimize("g", batch, g_step)
        self.requires_grad(d, True)

        def d_step(chunk):
            with torch.no_grad():
                sr = self.unwrap(g)(chunk["lr"])
            loss = losses.d_loss(obj, d(chunk["hr"]), d(sr.detach().clamp(0, 1)))
            return loss, {"d": loss.detach()}

        logs.update(self.optimize("d", batch, d_step))
        losses.ema_update(self.nets["g_ema"], self.unwrap(g), self.ema_decay)
        return logs

    def holdout_pairs(self):
        if self._hold is None:
            files = self.holdout_files or self.train_files[:4]
            ds = DegradationDataset(files, self.cfg.size, self.cfg.seed + 1, crop="center", flip=False)
            items = [ds[(i, i)] for i in range(len(ds))]
            batch = {k: torch.stack([it[k] for it in items]) for k in items[0] if k != "index"}
            hr = (batch["image"] + 1) / 2
            lr = degrade(hr, batch, self.scale)
            self._hold = (lr, hr)
        return self._hold

    def super_resolve(self, lr: torch.Tensor) -> torch.Tensor:
        g = self.nets["g_ema"]
        return torch.cat([g(lr[i:i + 2].to(self.device)).float().clamp(0, 1).cpu() for i in range(0, len(lr), 2)])

    def sample_grid(self):
        lr, hr = self.holdout_pairs()
        lr, hr = lr[:4], hr[:4]
        sr = self.super_resolve(lr)
        up = F.interpolate(lr, size=hr.shape[-2:], mode="nearest")
        return grid(torch.cat([up, sr, hr]) * 2 - 1, nrow=len(lr))

    def evaluate(self) -> dict:
        from ganstudio.training.metrics import psnr, ssim

        lr, hr = self.holdout_pairs()
        sr = self.super_resolve(lr)
        bicubic = F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        return {"psnr": round(psnr(sr * 2 - 1, hr * 2 - 1), 3), "ssim": round(ssim(sr * 2 - 1, hr * 2 - 1), 4),
                "psnr_bicubic": round(psnr(bicubic * 2 - 1, hr * 2 - 1), 3)}

    def export(self, folder: Path) -> list[Path]:
        out = [folder / "net_g.pth", folder / "net_d.pth"]
        torch.save({"params_ema": self.nets["g_ema"].state_dict(), "params": self.unwrap(self.nets["g"]).state_dict()},
                   out[0])
        torch.save({"params": self.unwrap(self.nets["d"]).state_dict()}, out[1])
        return out

    def library_entries(self) -> list[dict]:
        return [{"task": "upscale", "file": "net_g.pth", "arch": "rrdbnet", "role": "generator"}]
