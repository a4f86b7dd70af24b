"""CycleGAN (Zhu et al. 2017), the official recipe (junyanz/pytorch-CycleGAN-and-pix2pix ``cycle_gan_model``):
two ResNet generators (9 blocks at 256 px; ``--arch n_blocks=6`` for 128 px), two 70x70 PatchGANs,
InstanceNorm, LSGAN, cycle loss lambda 10 (both directions), identity loss 0.5 * lambda, a 50-image pool
per D, Adam 2e-4 beta1 0.5, constant then linear decay, batch 1, resize to 286/256 of the crop, random
crop, flip.

``--from`` fine-tunes from a G_A file (its G_B sibling ``*_net_G_B.pth`` is used when it lies next to it).
Exported: ``final/latest_net_G_A.pth`` (A -> B), ``latest_net_G_B.pth`` (B -> A) and both
``latest_net_D_*.pth``, the official names, loadable by ``load_model`` and the official test.py.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ganstudio.nets.cyclegan import NLayerDiscriminator, ResnetGenerator
from ganstudio.training import losses
from ganstudio.training.data import DataError, UnpairedDataset, check_images, split_holdout
from ganstudio.training.recipe import Recipe, grid, load_starting_weights, split_batch
from ganstudio.training.recipes.translation import ImagePool, init_weights, linear_decay


class CycleGANRecipe(Recipe):
    task = "cyclegan"
    defaults = {"size": 256, "batch": 1, "lr": 2e-4, "steps": 200000, "objective": "lsgan",
                "checkpoint_every": 2000, "sample_every": 500, "holdout": 16, "metric_samples": 64,
                "arch": {"ngf": 64, "ndf": 64, "n_blocks": 9, "n_layers_D": 3},
                "options": {"lambda_cycle": 10.0, "lambda_identity": 0.5, "pool": 50, "decay_start": 0.5}}

    def check_data(self, cancel=None):
        ra = check_images(self.cfg.data_a, min_count=2, what="domain A images", cancel=cancel)
        rb = check_images(self.cfg.data_b, min_count=2, what="domain B images", cancel=cancel)
        self.train_a, self.hold_a = split_holdout(ra.files, self.cfg.holdout, self.cfg.seed)
        self.train_b, self.hold_b = split_holdout(rb.files, self.cfg.holdout, self.cfg.seed + 1)
        ra.unreadable += rb.unreadable
        ra.notes += rb.notes
        ra.files = ra.files + rb.files
        self._summary = f"{len(self.train_a) + len(self.hold_a)} A and {len(self.train_b) + len(self.hold_b)} B images"
        return ra

    def dataset(self):
        return UnpairedDataset(self.train_a, self.train_b, self.cfg.size, self.cfg.seed)

    def build(self) -> None:
        a, o = self.cfg.arch, self.cfg.options
        if self.cfg.size % 4 or self.cfg.size < 2 ** (int(a["n_layers_D"]) + 2):
            raise DataError(f"CycleGAN at {self.cfg.size} px: the size must be a multiple of 4 and at least "
                            f"{2 ** (int(a['n_layers_D']) + 2)} for a {a['n_layers_D']}-layer discriminator")
        nets = {
            "g_a": ResnetGenerator(ngf=int(a["ngf"]), n_blocks=int(a["n_blocks"]), norm="instance"),
            "g_b": ResnetGenerator(ngf=int(a["ngf"]), n_blocks=int(a["n_blocks"]), norm="instance"),
            "d_a": NLayerDiscriminator(ndf=int(a["ndf"]), n_layers=int(a["n_layers_D"]), norm="instance"),
            "d_b": NLayerDiscriminator(ndf=int(a["ndf"]), n_layers=int(a["n_layers_D"]), norm="instance"),
        }
        for net in nets.values():
            net.apply(init_weights)
        if self.cfg.from_model:
            self._load_start(nets)
        self.nets = {k: self.ddp(v.to(self.device)) for k, v in nets.items()}
        betas = (0.5, 0.999)
        g_params = list(self.nets["g_a"].parameters()) + list(self.nets["g_b"].parameters())
        d_params = list(self.nets["d_a"].parameters()) + list(self.nets["d_b"].parameters())
        g_opt = torch.optim.Adam(g_params, lr=self.cfg.lr, betas=betas)
        d_opt = torch.optim.Adam(d_params, lr=self.cfg.lr, betas=betas)
        decay = float(o.get("decay_start", 0.5))
        self.add_optimizer("g", g_opt, linear_decay(g_opt, self.cfg.steps, decay))
        self.add_optimizer("d", d_opt, linear_decay(d_opt, self.cfg.steps, decay))
        self.pool_a, self.pool_b = ImagePool(int(o.get("pool", 50))), ImagePool(int(o.get("pool", 50)))
        self.lambda_cycle = float(o.get("lambda_cycle", 10.0))
        self.lambda_idt = float(o.get("lambda_identity", 0.5))
        self._fixed = None

    def _load_start(self, nets) -> None:
        import re

        said = [load_starting_weights(nets["g_a"], self.cfg.from_model, "cyclegan")]
        src = Path(self.cfg.from_model)
        m = re.match(r"^(.*_net_G_)A(\.\w+)$", src.name)
        if m and (src.parent / f"{m.group(1)}B{m.group(2)}").is_file():
            said.append(load_starting_weights(nets["g_b"], str(src.parent / f"{m.group(1)}B{m.group(2)}"),
                                              "cyclegan"))
        self.messages.append("fine-tuning: " + "; ".join(said))

    def train_step(self, batch: dict, step: int) -> dict:
        g_a, g_b, d_a, d_b = (self.nets[k] for k in ("g_a", "g_b", "d_a", "d_b"))
        obj = self.cfg.objective
        lc, li = self.lambda_cycle, self.lambda_idt
        self.requires_grad(d_a, False)
        self.requires_grad(d_b, False)
        fakes = {}

        def g_step(chunk):
            real_a, real_b = chunk["a"], chunk["b"]
            fake_b, fake_a = g_a(real_a), g_b(real_b)
            rec_a, rec_b = g_b(fake_b), g_a(fake_a)
            loss_g_a = losses.g_loss(obj, self.unwrap(d_a)(fake_b))
            loss_g_b = losses.g_loss(obj, self.unwrap(d_b)(fake_a))
            cycle = (F.l1_loss(rec_a.float(), real_a.float()) + F.l1_loss(rec_b.float(), real_b.float())) * lc
            idt = torch.zeros((), device=real_a.device)
            if li > 0:
                idt = (F.l1_loss(g_a(real_b).float(), real_b.float()) +
                       F.l1_loss(g_b(real_a).float(), real_a.float())) * lc * li
            fakes.setdefault("b", []).append(fake_b.detach())
            fakes.setdefault("a", []).append(fake_a.detach())
            loss = loss_g_a + loss_g_b + cycle + idt
            return loss, {"g": (loss_g_a + loss_g_b).detach(), "cycle": cycle.detach(), "idt": idt.detach()}

        logs = self.optimize("g", batch, g_step)
        self.requires_grad(d_a, True)
        self.requires_grad(d_b, True)
        # the fakes of the micro-batches of the step that was applied (an out-of-memory retry adds more)
        k = len(split_batch(batch, self.micro))
        pooled_b = self.pool_b.query(torch.cat(fakes["b"][-k:]))  # fake B for D_A, as the official names go
        pooled_a = self.pool_a.query(torch.cat(fakes["a"][-k:]))
        batch = dict(batch, pooled_a=pooled_a, pooled_b=pooled_b)

        def d_step(chunk):
            # the official D loss is halved (it learns slower than G)
            la = 0.5 * losses.d_loss(obj, d_a(chunk["b"]), d_a(chunk["pooled_b"]))
            lb = 0.5 * losses.d_loss(obj, d_b(chunk["a"]), d_b(chunk["pooled_a"]))
            return la + lb, {"d_a": la.detach(), "d_b": lb.detach()}

        logs.update(self.optimize("d", batch, d_step))
        for s in self.scheds.values():
            s.step()
        return logs

    def _fixed_inputs(self):
        if self._fixed is None:
            from ganstudio.training.data import load_rgb, resize_short, to_tensor

            def load(files):
                out = []
                for f in files[:4]:
                    img = resize_short(load_rgb(f), self.cfg.size)
                    h, w = img.shape[:2]
                    y, x = (h - self.cfg.size) // 2, (w - self.cfg.size) // 2
                    out.append(to_tensor(img[y:y + self.cfg.size, x:x + self.cfg.size]))
                return torch.stack(out)

            self._fixed = (load(self.hold_a or self.train_a), load(self.hold_b or self.train_b))
        return self._fixed

    def sample_grid(self):
        a, b = (t.to(self.device) for t in self._fixed_inputs())
        g_a, g_b = self.unwrap(self.nets["g_a"]), self.unwrap(self.nets["g_b"])
        rows = torch.cat([a, g_a(a), b, g_b(b)])  # A, A->B, B, B->A
        return grid(rows, nrow=len(a))

    def evaluate(self) -> dict:
        """FID per direction (outputs against the other domain's held-out images) and how much content
        survives (SSIM of edge maps between each input and its output)."""
        from ganstudio.training.metrics import fid_between
        from ganstudio.training.metrics_content import edge_ssim

        if not (self.hold_a and self.hold_b):
            return {}
        a, b = self._load_holdout()
        g_a, g_b = self.unwrap(self.nets["g_a"]), self.unwrap(self.nets["g_b"])
        fa = torch.cat([g_a(a[i:i + 4].to(self.device)).cpu() for i in range(0, len(a), 4)])
        fb = torch.cat([g_b(b[i:i + 4].to(self.device)).cpu() for i in range(0, len(b), 4)])
        out = {}
        for key, value in fid_between(fa, b, self.device).items():
            out[f"{key}_AtoB"] = value
        for key, value in fid_between(fb, a, self.device).items():
            out[f"{key}_BtoA"] = value
        out["edge_ssim_AtoB"] = round(edge_ssim(a, fa), 4)
        out["edge_ssim_BtoA"] = round(edge_ssim(b, fb), 4)
        return out

    def _load_holdout(self):
        from ganstudio.training.data import load_rgb, resize_short, to_tensor

        def load(files):
            out = []
            for f in files[: max(2, self.cfg.metric_samples)]:
                img = resize_short(load_rgb(f), self.cfg.size)
                h, w = img.shape[:2]
                y, x = (h - self.cfg.size) // 2, (w - self.cfg.size) // 2
                out.append(to_tensor(img[y:y + self.cfg.size, x:x + self.cfg.size]))
            return torch.stack(out)

        return load(self.hold_a), load(self.hold_b)

    def extra_state(self) -> dict:
        return {"pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "pool_a" in state:
            self.pool_a.load_state_dict(state["pool_a"], self.device)
            self.pool_b.load_state_dict(state["pool_b"], self.device)

    def export(self, folder: Path) -> list[Path]:
        out = []
        for key, name in (("g_a", "latest_net_G_A.pth"), ("g_b", "latest_net_G_B.pth"),
                          ("d_a", "latest_net_D_A.pth"), ("d_b", "latest_net_D_B.pth")):
            path = folder / name
            torch.save(self.unwrap(self.nets[key]).state_dict(), path)
            out.append(path)
        return out

    def library_entries(self) -> list[dict]:
        return [{"task": "stylize", "file": "latest_net_G_A.pth", "arch": "cyclegan", "role": "generator",
                 "files": {"AtoB": "latest_net_G_A.pth", "BtoA": "latest_net_G_B.pth"}}]
