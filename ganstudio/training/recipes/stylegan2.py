"""StyleGAN2 in the rosinality layout (the networks of ``nets/stylegan2.py``), trained the way the official
method describes (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"; defaults as
in rosinality's ``train.py`` unless said):

* non-saturating logistic loss (``--objective`` may pick another);
* lazy R1 on real images every 16 D steps, gamma from the resolution as StyleGAN2-ADA's automatic
  configuration does (0.0002 * size^2 / batch) unless ``--option r1=...``;
* path-length regularisation every 4 G steps (weight 2, batch shrink 2, decay 0.01), ``--option pl=0`` off;
* style mixing with probability 0.9; x-flip of the data;
* EMA of G with a 10 k-image half-life (rosinality: 0.5 ** (32 / 10000) per step at batch 32);
* Adam lr 0.002, betas (0, 0.99), both scaled for lazy regularisation (c = every / (every + 1):
  lr * c, betas ** c);
* for small data, ``--augment diffaug`` or ``ada`` (training/augment.py).

``--arch`` sets the size of the networks: ``style_dim`` (512), ``n_mlp`` (8), ``channel_multiplier`` (2)
or ``channels`` (a resolution -> channels table for small models), ``lr_mlp`` (0.01).
``--from`` fine-tunes a rosinality / GAN Studio ``.pt``: g, d and g_ema are loaded, and the optimisers
when present (a file with only ``g_ema`` starts g from g_ema and D from scratch). NVIDIA's StyleGAN2-ADA
``.pkl`` generators (which the latent tools open) are refused here in one line: their layout is another
network, and their discriminator is not rebuilt from the pickle.

Exported: ``final/stylegan2.pt`` = {"g", "d", "g_ema", "g_optim", "d_optim", "latent_avg"} (what the
official train.py writes, minus its pickled argparse namespace), loadable by ``load_model`` (g_ema).
"""
from __future__ import annotations

import math
import random
from pathlib import Path

import torch

from ganstudio.core.errors import UserError
from ganstudio.nets import stylegan2 as sg
from ganstudio.training import losses
from ganstudio.training.augment import Augmenter
from ganstudio.training.data import ImageFolderDataset, check_images, split_holdout
from ganstudio.training.recipe import Recipe, grid


class StyleGAN2Recipe(Recipe):
    task = "stylegan2"
    defaults = {"size": 256, "batch": 16, "lr": 0.002, "steps": 100000, "objective": "nonsaturating",
                "augment": "none", "checkpoint_every": 1000, "sample_every": 500, "holdout": 500,
                "metric_samples": 1000,
                "arch": {"style_dim": 512, "n_mlp": 8, "channel_multiplier": 2, "lr_mlp": 0.01},
                "options": {"d_reg_every": 16, "g_reg_every": 4, "pl": 2.0, "mixing": 0.9, "ema_kimg": 10.0}}

    def check_data(self, cancel=None):
        # the loop's first call on a recipe: an unusable start model is refused before the folder is read
        self._refuse_unsupported_start()
        report = check_images(self.cfg.data, min_count=8, what="training images", cancel=cancel)
        self.train_files, self.holdout_files = split_holdout(report.files, self.cfg.holdout, self.cfg.seed)
        return report

    def dataset(self):
        return ImageFolderDataset(self.train_files, self.cfg.size, self.cfg.seed)

    def _net_kwargs(self) -> dict:
        a = self.cfg.arch
        kw = {"size": self.cfg.size}
        if a.get("channels"):
            kw["channels"] = {int(k): int(v) for k, v in a["channels"].items()}
        kw["channel_multiplier"] = int(a.get("channel_multiplier", 2))
        return kw

    def build(self) -> None:
        a, o = self.cfg.arch, self.cfg.options
        kw = self._net_kwargs()
        if self.cfg.size & (self.cfg.size - 1) or self.cfg.size < 8:
            raise UserError(f"StyleGAN2 trains at a power of two >= 8, not {self.cfg.size}")
        g = sg.Generator(style_dim=int(a["style_dim"]), n_mlp=int(a["n_mlp"]), lr_mlp=float(a["lr_mlp"]), **kw)
        d = sg.Discriminator(**kw)
        g_ema = sg.Generator(style_dim=int(a["style_dim"]), n_mlp=int(a["n_mlp"]), lr_mlp=float(a["lr_mlp"]), **kw)
        g_ema.load_state_dict(g.state_dict())
        g, d, g_ema = g.to(self.device), d.to(self.device), g_ema.to(self.device).eval()
        g_ema.requires_grad_(False)
        self.d_reg_every, self.g_reg_every = int(o["d_reg_every"]), int(o["g_reg_every"])
        g_ratio = self.g_reg_every / (self.g_reg_every + 1)
        d_ratio = self.d_reg_every / (self.d_reg_every + 1)
        lr = self.cfg.lr
        g_opt = torch.optim.Adam(g.parameters(), lr=lr * g_ratio, betas=(0.0, 0.99 ** g_ratio))
        d_opt = torch.optim.Adam(d.parameters(), lr=lr * d_ratio, betas=(0.0, 0.99 ** d_ratio))
        if self.cfg.from_model:
            self._load_start(g, d, g_ema, g_opt, d_opt)
        self.nets = {"g": self.ddp(g), "d": self.ddp(d), "g_ema": g_ema}
        self.add_optimizer("g", g_opt)
        self.add_optimizer("d", d_opt)
        self.augment = Augmenter(self.cfg.augment, self.device)
        self.r1_gamma = float(o.get("r1", 0.0002 * self.cfg.size ** 2 / self.cfg.batch))
        self.pl_weight = float(o.get("pl", 2.0))
        self.mixing = float(o.get("mixing", 0.9))
        self.mean_path_length = torch.zeros((), device=self.device)
        # EMA decay per step: half-life of ema_kimg thousand images
        self.ema_decay = 0.5 ** (self.cfg.batch / (float(o.get("ema_kimg", 10.0)) * 1000))
        gen = self.fixed_generator()
        self.fixed_z = torch.randn(16, int(a["style_dim"]), generator=gen)
        self.fixed_noise = [torch.randn(s, generator=gen) for s in g_ema.noise_shapes()]

    def _refuse_unsupported_start(self) -> None:
        """--from a StyleGAN2-ADA network pickle (a file, or a manifest / library id of one): not yet. This
        trainer builds rosinality's layout, and the pickle's discriminator is not rebuilt (only G_ema is read)."""
        from ganstudio.checkpoints.nvlabs_pickle import is_nvlabs_pickle
        from ganstudio.core.manifest import UnknownModelError, find_model

        ref = self.cfg.from_model
        if not ref:
            return
        path = Path(str(ref)).expanduser()
        if path.is_file():
            pickle = path.suffix.lower() == ".pkl" or is_nvlabs_pickle(path)
            name = path.name
        else:
            try:
                entry = find_model(str(ref))
            except UnknownModelError:
                return  # resolved (and refused in its own words) when the networks are built
            pickle = entry.arch == "stylegan2_ada"
            name = entry.id
        if pickle:
            raise UserError(f"{name}: fine-tuning StyleGAN2-ADA .pkl generators is not supported yet (the "
                            "trainer fine-tunes rosinality-layout StyleGAN2 .pt files, and the pickle's "
                            "discriminator is not rebuilt); train from scratch, or start from a .pt")

    def _load_start(self, g, d, g_ema, g_opt, d_opt) -> None:
        """Fine-tune from a rosinality-style .pt (g, d, g_ema, optimisers when present)."""
        from ganstudio.checkpoints.cache import resolve_model
        from ganstudio.checkpoints.reader import read_checkpoint

        path = resolve_model(self.cfg.from_model).path
        obj, _ = read_checkpoint(path)
        if isinstance(obj, dict) and not ({"g_ema", "g"} & set(obj)) and sg.detect(obj) is not None:
            # a flat generator file (a bundled safetensors, a converted .pt): it is the EMA generator
            obj = {"g_ema": {k: v for k, v in obj.items() if k != "latent_avg"}}
        if not isinstance(obj, dict) or not ({"g_ema", "g"} & set(obj)):
            raise UserError(f"{path.name} is not a StyleGAN2 generator or training file (no g / g_ema inside)")

        def load(net, key, fallback=None):
            sd = obj.get(key) if isinstance(obj.get(key), dict) else obj.get(fallback) if fallback else None
            if sd is None:
                return False
            try:
                net.load_state_dict(sd, strict=True)
            except RuntimeError as exc:
                raise UserError(f"{path.name}: its {key} does not match the network being trained "
                                f"(set the same --size / --arch): {str(exc).splitlines()[0]}") from exc
            return True

        load(g_ema, "g_ema", "g")
        load(g, "g", "g_ema")
        have_d = load(d, "d")
        said = [f"started from {path.name}: g and g_ema" + (", d" if have_d else " (D from scratch)")]
        for opt, key in ((g_opt, "g_optim"), (d_opt, "d_optim")):
            if isinstance(obj.get(key), dict) and (key == "g_optim" or have_d):
                try:
                    opt.load_state_dict(obj[key])
                    said.append(key)
                except (ValueError, KeyError):
                    pass  # another optimiser layout: fresh Adam state
        self.messages.append(", ".join(said))

    # --------------------------------------------------------------------------------------- steps
    def _styles(self, n: int) -> list:
        dim = int(self.cfg.arch["style_dim"])
        if self.mixing > 0 and random.random() < self.mixing:
            return list(torch.randn(2, n, dim, device=self.device).unbind(0))
        return [torch.randn(n, dim, device=self.device)]

    def train_step(self, batch: dict, step: int) -> dict:
        g, d = self.nets["g"], self.nets["d"]
        obj = self.cfg.objective
        n = batch["image"].shape[0]

        def d_step(chunk):
            real = chunk["image"]
            with torch.no_grad():
                fake, _ = self.unwrap(g)(self._styles(real.shape[0]))
            real_out = d(self.augment(real))
            fake_out = d(self.augment(fake))
            loss = losses.d_loss(obj, real_out, fake_out)
            if obj == "wgan-gp":
                loss = loss + 10.0 * losses.gradient_penalty(self.unwrap(d), real, fake)
            self.augment.observe(real_out)
            return loss, {"d": loss.detach(), "real": real_out.detach().mean(), "fake": fake_out.detach().mean()}

        logs = self.optimize("d", batch, d_step)

        if self.r1_gamma > 0 and step % self.d_reg_every == 0:
            def r1_step(chunk):
                dd = self.unwrap(d)
                r1 = losses.r1_penalty(lambda x: dd(self.augment(x)), chunk["image"])
                # lazy: the penalty times the interval; "+ 0 * D(real)" keeps DDP's graph the same
                return self.r1_gamma / 2 * r1 * self.d_reg_every, {"r1": r1.detach()}

            logs.update(self.optimize("d", batch, r1_step))

        self.requires_grad(d, False)

        def g_step(chunk):
            fake, _ = g(self._styles(chunk["image"].shape[0]))
            loss = losses.g_loss(obj, self.unwrap(d)(self.augment(fake)))
            return loss, {"g": loss.detach()}

        logs.update(self.optimize("g", batch, g_step))

        if self.pl_weight > 0 and step % self.g_reg_every == 0:
            def pl_step(chunk):
                m = max(1, chunk["image"].shape[0] // 2)  # path batch shrink 2
                fake, latents = g(self._styles(m), return_latents=True)
                penalty, new_mean, length = losses.path_length_penalty(fake, latents, self.mean_path_length)
                self.mean_path_length = new_mean.detach()
                loss = self.pl_weight * self.g_reg_every * penalty + 0 * fake[0, 0, 0, 0]
                return loss, {"pl": penalty.detach(), "path_length": length}

            logs.update(self.optimize("g", batch, pl_step))

        self.requires_grad(d, True)
        losses.ema_update(self.nets["g_ema"], self.unwrap(g), self.ema_decay)
        self.augment.update(n)
        if self.augment.adaptive:
            logs["ada_p"] = self.augment.p
        return {k: float(v) for k, v in logs.items()}

    # --------------------------------------------------------------------------------------- samples
    def latent_avg(self, n: int = 4096) -> torch.Tensor:
        return self.nets["g_ema"].mean_latent(n, generator=self.fixed_generator("latent_avg"))

    def sample_grid(self):
        g_ema = self.nets["g_ema"]
        noise = [t.to(self.device) for t in self.fixed_noise]
        img, _ = g_ema([self.fixed_z.to(self.device)], noise=noise, randomize_noise=False)
        return grid(img, nrow=4)

    def evaluate(self) -> dict:
        from ganstudio.training.metrics import fid_for_generator

        if not self.holdout_files:
            return {}
        g_ema = self.nets["g_ema"]
        gen = self.fixed_generator("metrics")
        dim = int(self.cfg.arch["style_dim"])

        def fake_batch(k):
            img, _ = g_ema([torch.randn(k, dim, generator=gen).to(self.device)], randomize_noise=True)
            return img

        return fid_for_generator(fake_batch, self.holdout_files, self.cfg.metric_samples, self.device,
                                 size=self.cfg.size)

    def extra_state(self) -> dict:
        return {"augment": self.augment.state_dict(), "mean_path_length": self.mean_path_length.detach().cpu()}

    def load_extra_state(self, state: dict) -> None:
        if "augment" in state:
            self.augment.load_state_dict(state["augment"])
        if "mean_path_length" in state:
            self.mean_path_length = state["mean_path_length"].to(self.device)

    def export(self, folder: Path) -> list[Path]:
        path = folder / "stylegan2.pt"
        torch.save({"g": self.unwrap(self.nets["g"]).state_dict(), "d": self.unwrap(self.nets["d"]).state_dict(),
                    "g_ema": self.nets["g_ema"].state_dict(), "g_optim": self.opts["g"].state_dict(),
                    "d_optim": self.opts["d"].state_dict(), "latent_avg": self.latent_avg().cpu()}, path)
        return [path]

    def library_entries(self) -> list[dict]:
        return [{"task": "latent", "file": "stylegan2.pt", "arch": "stylegan2", "role": "generator"}]


def small_channels(size: int, widest: int = 256) -> dict:
    """A channel table for small models: ``widest`` channels up to 32 px, halving per octave above
    (never under 32). E.g. size 128, widest 256 -> {4..32: 256, 64: 128, 128: 64}."""
    table = {}
    for r in (2 ** i for i in range(2, int(math.log2(size)) + 1)):
        table[r] = max(32, widest // max(1, r // 32)) if r > 32 else widest
    return table
