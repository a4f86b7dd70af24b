"""GAN objectives and regularisers shared by the recipes.

Adversarial objectives (``objective`` in the config), each as (discriminator loss, generator loss) on the
discriminator's raw outputs (logits) for real and fake images:

* ``nonsaturating``: softplus(-D(x)) + softplus(D(G(z))) / softplus(-D(G(z)))  (StyleGAN2, DCGAN's BCE)
* ``lsgan``: (D(x) - 1)^2 + D(G(z))^2 / (D(G(z)) - 1)^2, halved for D as in CycleGAN
* ``hinge``: relu(1 - D(x)) + relu(1 + D(G(z))) / -D(G(z))  (SPADE)
* ``wgan-gp``: D(G(z)) - D(x) + 10 * gradient penalty / -D(G(z))

Regularisers: lazy R1 (StyleGAN2), the WGAN-GP penalty, path-length (StyleGAN2), feature matching (SPADE).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _mean(x) -> torch.Tensor:
    """Mean over a tensor or a (nested) list of tensors (multiscale discriminators), each averaged first."""
    if isinstance(x, torch.Tensor):
        return x.float().mean()
    parts = [_mean(t) for t in x]
    return sum(parts) / len(parts)


def _map(fn, x):
    if isinstance(x, torch.Tensor):
        return fn(x.float())
    return [_map(fn, t) for t in x]


def d_loss(objective: str, real, fake) -> torch.Tensor:
    """Discriminator loss from its outputs on real and fake images (tensors or nested lists)."""
    if objective == "nonsaturating":
        return _mean(_map(lambda t: F.softplus(-t), real)) + _mean(_map(F.softplus, fake))
    if objective == "lsgan":
        return 0.5 * (_mean(_map(lambda t: (t - 1) ** 2, real)) + _mean(_map(lambda t: t ** 2, fake)))
    if objective == "hinge":
        return _mean(_map(lambda t: F.relu(1 - t), real)) + _mean(_map(lambda t: F.relu(1 + t), fake))
    if objective == "wgan-gp":
        return _mean(fake) - _mean(real)
    raise ValueError(f"unknown objective {objective!r}")


def g_loss(objective: str, fake) -> torch.Tensor:
    """Generator loss from the discriminator's outputs on fake images."""
    if objective == "nonsaturating":
        return _mean(_map(lambda t: F.softplus(-t), fake))
    if objective == "lsgan":
        return _mean(_map(lambda t: (t - 1) ** 2, fake))
    if objective in ("hinge", "wgan-gp"):
        return -_mean(fake)
    raise ValueError(f"unknown objective {objective!r}")


def _flat_outputs(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.float().sum()
    return sum(_flat_outputs(t) for t in out)


def r1_penalty(d, real: torch.Tensor) -> torch.Tensor:
    """R1: the squared gradient norm of D at real images (computed in fp32), averaged over the batch."""
    real = real.detach().float().requires_grad_(True)
    with torch.autocast(real.device.type, enabled=False):
        out = d(real)
    (grad,) = torch.autograd.grad(_flat_outputs(out), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(d, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)|| - 1)^2 at random interpolates of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    x = (alpha * real.detach().float() + (1 - alpha) * fake.detach().float()).requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        out = d(x)
    (grad,) = torch.autograd.grad(_flat_outputs(out), x, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def path_length_penalty(fake: torch.Tensor, latents: torch.Tensor, mean_path_length: torch.Tensor,
                        decay: float = 0.01):
    """StyleGAN2 path-length regularisation: (|J^T y| - a)^2 with a the running mean. Returns
    (penalty, new mean, mean path length of this batch)."""
    noise = torch.randn_like(fake) / math.sqrt(fake.shape[2] * fake.shape[3])
    (grad,) = torch.autograd.grad((fake.float() * noise).sum(), latents, create_graph=True)
    lengths = torch.sqrt(grad.float().pow(2).sum(2).mean(1))
    new_mean = mean_path_length + decay * (lengths.mean().detach() - mean_path_length)
    return (lengths - new_mean).pow(2).mean(), new_mean, lengths.mean().detach()


def feature_matching(real_feats, fake_feats) -> torch.Tensor:
    """SPADE / pix2pixHD feature matching: L1 between D's intermediate features on real and fake, summed
    over layers and averaged over the discriminators (the last entry of each list is the output: not
    matched). Multiply by lambda_feat (10)."""
    total = torch.zeros((), device=real_feats[0][0].device)
    for rf, ff in zip(real_feats, fake_feats):
        for r, f in zip(rf[:-1], ff[:-1]):
            total = total + F.l1_loss(f.float(), r.detach().float())
    return total / len(real_feats)


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters; buffers are copied."""
    with torch.no_grad():
        for e, m in zip(ema.parameters(), model.parameters()):
            e.lerp_(m.detach().to(e.dtype), 1.0 - decay)
        for e, m in zip(ema.buffers(), model.buffers()):
            e.copy_(m)
