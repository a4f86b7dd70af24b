"""The base of every family's training recipe, and the machinery they share.

A recipe (one module per family in ``training/recipes/``) says *what* to train: its defaults (the official
script's values), its data check and dataset, its networks and optimisers, one training step, the fixed
sample grid, its metrics and its exported files. The loop (``training/loop.py``) says *how*: order, resume,
checkpoints, samples, logs, progress, cancel, multi-process.

Shared here:
* ``optimize(name, chunks, loss_fn)``: one optimiser step over a batch split into micro-batches, with
  autocast, the AMP grad scaler and, on CUDA out-of-memory, a retry of this step with twice as many
  micro-batches (the same effective batch; the user is told once);
* ``state_dict`` / ``load_state_dict`` of everything a resume needs (nets, optimisers, schedulers, scalers,
  the recipe's own numbers such as the augmentation probability);
* ``ddp(net)``: DistributedDataParallel under torchrun, SyncBatchNorm on CUDA where the net has BatchNorm;
* fixed random streams (``fixed_generator``) for sample grids, so every grid shows the same inputs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from ganstudio.core.errors import UserError
from ganstudio.runtime import Runtime
from ganstudio.training.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class World:
    """This process's place in a (possibly multi-process) run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def split_batch(batch: dict, parts: int) -> list[dict]:
    """A dict of batched tensors -> ``parts`` dicts of smaller batches (along dim 0)."""
    if parts <= 1:
        return [batch]
    n = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
    parts = min(parts, n)
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [{k: (v[a:b] if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
            for a, b in zip(bounds[:-1], bounds[1:])]


class Recipe:
    """Subclass per family; see the module docstring. Attributes the loop reads: ``task``, ``defaults``."""

    task = ""
    defaults: dict = {}
    # what the perceptual / metric feature network is, said in the logs and the run summary
    notes: tuple = ()

    def __init__(self, cfg: TrainConfig, rt: Runtime, world: World) -> None:
        self.cfg, self.rt, self.world = cfg, rt, world
        self.device = rt.device
        self.nets: dict[str, nn.Module] = {}
        self.opts: dict[str, torch.optim.Optimizer] = {}
        self.scheds: dict[str, object] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.micro = 1  # micro-batches per step (grows on CUDA out-of-memory)
        self.messages: list[str] = []  # things the user must be told once (the loop shows and logs them)
        self.data_report = None
        self.step = 0

    # ------------------------------------------------------------------------------------- to implement
    def check_data(self, cancel=None):
        """Check the data folders (raises training.data.DataError) and return a DataReport."""
        raise NotImplementedError

    def dataset(self):
        raise NotImplementedError

    def build(self) -> None:
        """Make the networks, optimisers and schedulers (from ``cfg.from_model`` when given)."""
        raise NotImplementedError

    def train_step(self, batch: dict, step: int) -> dict:
        """One step on a batch (tensors already on the device); returns losses as floats."""
        raise NotImplementedError

    def sample_grid(self) -> np.ndarray:
        """(H, W, 3) uint8: the fixed inputs through the current generator(s)."""
        raise NotImplementedError

    def evaluate(self) -> dict:
        """Metrics on held-out data (FID, PSNR, SSIM ...), as plain numbers."""
        return {}

    def export(self, folder: Path) -> list[Path]:
        """Write the generator(s) in the official layouts; returns the files."""
        raise NotImplementedError

    def library_entries(self) -> list[dict]:
        """What "Use in ..." registers: [{"task", "file" (under final/), "arch", "role"}]."""
        return []

    # ------------------------------------------------------------------------------------- shared
    @property
    def per_process_batch(self) -> int:
        return self.cfg.batch // self.world.size

    def make_scaler(self) -> torch.amp.GradScaler:
        # the grad scaler matters for fp16 only; bf16 has fp32's range
        enabled = self.rt.precision == "fp16" and self.device.type == "cuda"
        return torch.amp.GradScaler(self.device.type if self.device.type == "cuda" else "cpu", enabled=enabled)

    def add_optimizer(self, name: str, opt: torch.optim.Optimizer, sched=None) -> None:
        self.opts[name] = opt
        self.scalers[name] = self.make_scaler()
        if sched is not None:
            self.scheds[name] = sched

    def autocast(self):
        return self.rt.autocast()

    def optimize(self, name: str, batch: dict, loss_fn: Callable[[dict], tuple]) -> dict:
        """One step of optimiser ``name``: ``loss_fn(chunk) -> (loss tensor, {name: float})`` for every
        micro-batch of ``batch``; gradients accumulate, scaled so the step equals one over the whole
        batch. On CUDA out-of-memory before the step is applied, the step is redone with twice as many
        micro-batches (nothing was applied yet, so nothing is counted twice)."""
        opt, scaler = self.opts[name], self.scalers[name]
        while True:
            opt.zero_grad(set_to_none=True)
            logs: dict[str, float] = {}
            chunks = split_batch(batch, self.micro)
            try:
                for chunk in chunks:
                    with self.autocast():
                        loss, parts = loss_fn(chunk)
                    scaler.scale(loss / len(chunks)).backward()
                    for k, v in parts.items():
                        logs[k] = logs.get(k, 0.0) + float(v) / len(chunks)
            except RuntimeError as exc:
                n = next(v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor))
                if not (self.device.type == "cuda" and is_oom(exc)) or self.micro >= n:
                    raise
                opt.zero_grad(set_to_none=True)
                del exc
                torch.cuda.empty_cache()
                self.micro *= 2
                msg = (f"out of GPU memory: each step now runs as {self.micro} micro-batches "
                       f"(the same effective batch of {self.cfg.batch}, more time per step)")
                self.messages.append(msg)
                log.warning(msg)
                continue
            scaler.step(opt)
            scaler.update()
            return logs

    def requires_grad(self, net: nn.Module, flag: bool) -> None:
        for p in net.parameters():
            p.requires_grad_(flag)

    def ddp(self, net: nn.Module) -> nn.Module:
        """Wrap a trainable net for multi-process training (no-op in a single process)."""
        if not self.world.distributed:
            return net
        from torch.nn.parallel import DistributedDataParallel as DDP

        has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())
        if has_bn and self.device.type == "cuda":  # SyncBatchNorm needs CUDA (gloo / CPU keeps local BN)
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # buffers (BatchNorm statistics) are synced from rank 0 before every forward: DDP's default, left
        # implicit because torch 2.14 deprecates the broadcast_buffers argument (a FutureWarning)
        return DDP(net, device_ids=ids)

    @staticmethod
    def unwrap(net: nn.Module) -> nn.Module:
        return getattr(net, "module", net)

    def fixed_generator(self, salt: str = "samples") -> torch.Generator:
        """A CPU generator seeded from the run's seed: the sample grid's fixed inputs."""
        import hashlib

        h = int.from_bytes(hashlib.blake2b(f"{salt}:{self.cfg.seed}".encode(), digest_size=8).digest(), "little")
        return torch.Generator().manual_seed(h & 0x7FFF_FFFF_FFFF_FFFF)

    def extra_state(self) -> dict:
        """The recipe's own numbers a resume needs (augmentation probability, running means ...)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {
            "nets": {k: self.unwrap(v).state_dict() for k, v in self.nets.items()},
            "opts": {k: v.state_dict() for k, v in self.opts.items()},
            "scheds": {k: v.state_dict() for k, v in self.scheds.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "micro": self.micro,
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        missing = [k for k in self.nets if k not in state["nets"]]
        if missing:
            raise UserError(f"the checkpoint has no {', '.join(missing)} for this {self.task} run")
        for k, net in self.nets.items():
            self.unwrap(net).load_state_dict(state["nets"][k])
        for k, opt in self.opts.items():
            if k in state.get("opts", {}):
                opt.load_state_dict(state["opts"][k])
        for k, sch in self.scheds.items():
            if k in state.get("scheds", {}):
                sch.load_state_dict(state["scheds"][k])
        for k, sc in self.scalers.items():
            if k in state.get("scalers", {}):
                sc.load_state_dict(state["scalers"][k])
        self.micro = int(state.get("micro", 1))
        self.load_extra_state(state.get("extra", {}))

    def train_mode(self, flag: bool = True) -> None:
        for net in self.nets.values():
            net.train(flag)


def grid(images: torch.Tensor, nrow: int = 0, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> (H', W', 3) uint8 contact sheet (grey repeated to RGB)."""
    images = images.detach().float().cpu().clamp(-1, 1)
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    n, _, h, w = images.shape
    nrow = nrow or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / nrow))
    out = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, np.uint8)
    arr = ((images.permute(0, 2, 3, 1).numpy() + 1) * 127.5 + 0.5).clip(0, 255).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = arr[i]
    return out


def load_starting_weights(net: nn.Module, source: str, family: str, role: str = "generator",
                          container_keys: Optional[tuple] = None) -> str:
    """Fine-tuning: load ``source`` (a file or model id) into ``net`` through the safe loader; the
    architectures must match. Returns a description for the log."""
    from ganstudio.checkpoints.cache import resolve_model
    from ganstudio.checkpoints.loader import load_model

    path = resolve_model(source).path
    loaded, desc = load_model(path, family=family, role=role)
    try:
        net.load_state_dict(loaded.state_dict(), strict=True)
    except RuntimeError as exc:
        raise UserError(f"{Path(path).name} is a {desc.summary()}, which does not match the network being "
                        f"trained; set the same architecture (--arch) or train from scratch") from exc
    return f"{role} from {Path(path).name} ({desc.summary()})"
