"""Real-ESRGAN's high-order degradation model, written from the paper (Wang et al., "Real-ESRGAN: Training
Real-World Blind Super-Resolution with Pure Synthetic Data", ICCVW 2021, section 3 and its tables):

    HR -> [blur -> resize -> noise -> JPEG] -> [blur -> resize -> noise] -> [sinc + resize to HR/scale, JPEG]
                                                                             (in either order, 50/50)

* blur kernels (sizes 7..21, odd): isotropic / anisotropic Gaussian, generalized Gaussian, plateau, with
  probabilities 0.45 / 0.25 / 0.12 / 0.03 / 0.12 / 0.03 (iso / aniso for the last two); sigma 0.2..3
  (0.2..1.5 in the second stage, which is skipped with probability 0.2); a 2-D sinc (ideal low-pass)
  kernel instead with probability 0.1; a final sinc with probability 0.8;
* resize: up / down / keep with 0.2 / 0.7 / 0.1 (scales 1..1.5 / 0.15..1), second stage 0.3 / 0.4 / 0.3
  (1..1.2 / 0.3..1.2), by area, bilinear or bicubic;
* noise: Gaussian (sigma 1..30, then 1..25) or Poisson (scale 0.05..3, then 0.05..2.5), 50/50, in grey
  with probability 0.4;
* JPEG quality 30..95.

Every random choice of one training sample is drawn in the dataset from that sample's own stream
(``training.data.sample_rng``), so the degradation is reproducible and independent of workers and resume.
Blur, resize and noise then run as tensor operations on the training device (the GPU when there is one);
JPEG runs through OpenCV's encoder on the CPU (there is no JPEG codec on the GPU here).
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

KERNEL_MAX = 21
KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KIND_P = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)


# ---------------------------------------------------------------------------------------------- kernels
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.arange(size) - size // 2
    return np.meshgrid(r, r, indexing="xy")


def _inverse_cov(sx: float, sy: float, theta: float) -> np.ndarray:
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cov = rot @ np.diag([sx ** 2, sy ** 2]) @ rot.T
    return np.linalg.inv(cov)


def _mahalanobis(size: int, sx: float, sy: float, theta: float) -> np.ndarray:
    xx, yy = _grid(size)
    inv = _inverse_cov(sx, sy, theta)
    pts = np.stack([xx, yy], -1).astype(np.float64)
    return np.einsum("...i,ij,...j->...", pts, inv, pts)


def blur_kernel(rng: np.random.Generator, size: int, sigma_range: tuple, kind: str) -> np.ndarray:
    sx = rng.uniform(*sigma_range)
    sy, theta = (sx, 0.0) if kind.endswith("iso") and not kind.endswith("aniso") else (
        rng.uniform(*sigma_range), rng.uniform(-math.pi, math.pi))
    d = _mahalanobis(size, sx, sy, theta)
    if kind.startswith("generalized"):
        beta = rng.uniform(0.5, 4.0)
        k = np.exp(-0.5 * np.power(d, beta))
    elif kind.startswith("plateau"):
        beta = rng.uniform(1.0, 2.0)
        k = 1.0 / (np.power(d, beta) + 1.0)
    else:
        k = np.exp(-0.5 * d)
    return k / k.sum()


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    """J1(x) = (1/pi) * integral_0^pi cos(t - x sin t) dt, by the midpoint rule (exact enough here)."""
    t = (np.arange(256) + 0.5) * math.pi / 256
    return np.cos(t[None, :] - np.asarray(x, np.float64).reshape(-1, 1) * np.sin(t[None, :])).mean(1).reshape(
        np.shape(x))


def sinc_kernel(omega_c: float, size: int) -> np.ndarray:
    """2-D circular low-pass (ideal) filter with cutoff ``omega_c``, ``size`` x ``size``."""
    xx, yy = _grid(size)
    r = np.sqrt(xx ** 2 + yy ** 2).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * _bessel_j1(omega_c * r) / (2 * math.pi * r)
    k[r == 0] = omega_c ** 2 / (4 * math.pi)
    return k / k.sum()


def _pad_kernel(k: np.ndarray) -> np.ndarray:
    p = (KERNEL_MAX - k.shape[0]) // 2
    return np.pad(k, p)


def first_kernel(rng: np.random.Generator, sigma_range=(0.2, 3.0), sinc_p: float = 0.1) -> np.ndarray:
    size = int(rng.choice(np.arange(7, KERNEL_MAX + 1, 2)))
    if rng.random() < sinc_p:
        omega = rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi)
        return _pad_kernel(sinc_kernel(omega, size))
    kind = KINDS[int(rng.choice(len(KINDS), p=KIND_P))]
    return _pad_kernel(blur_kernel(rng, size, sigma_range, kind))


def draw_params(rng: np.random.Generator) -> dict:
    """Every random choice of one sample's degradation, as plain numbers and kernels."""
    p: dict = {"k1": first_kernel(rng)}
    p["blur2"] = rng.random() < 0.8
    p["k2"] = first_kernel(rng, (0.2, 1.5))
    if rng.random() < 0.8:
        size = int(rng.choice(np.arange(7, KERNEL_MAX + 1, 2)))
        p["k_final"] = _pad_kernel(sinc_kernel(rng.uniform(math.pi / 3, math.pi), size))
    else:
        p["k_final"] = _pad_kernel(np.pad(np.ones((1, 1)), 0))  # identity (a pulse)
    for stage, (probs, up, down) in (("1", ((0.2, 0.7, 0.1), (1, 1.5), (0.15, 1))),
                                     ("2", ((0.3, 0.4, 0.3), (1, 1.2), (0.3, 1.2)))):
        mode = rng.choice(3, p=probs)
        p[f"scale{stage}"] = float(rng.uniform(*up) if mode == 0 else rng.uniform(*down) if mode == 1 else 1.0)
        p[f"interp{stage}"] = int(rng.integers(0, 3))
        p[f"gauss{stage}"] = rng.random() < 0.5
        p[f"sigma{stage}"] = float(rng.uniform(1, 30 if stage == "1" else 25))
        p[f"poisson{stage}"] = float(rng.uniform(0.05, 3 if stage == "1" else 2.5))
        p[f"grey{stage}"] = rng.random() < 0.4
        p[f"noise_seed{stage}"] = int(rng.integers(0, 2 ** 31 - 1))
    p["jpeg1"] = int(rng.integers(30, 96))
    p["jpeg2"] = int(rng.integers(30, 96))
    p["final_interp"] = int(rng.integers(0, 3))
    p["jpeg_first"] = rng.random() < 0.5
    return p


def params_to_tensors(p: dict) -> dict:
    """For the DataLoader: kernels as float tensors, the rest as 0-d tensors."""
    out = {}
    for k, v in p.items():
        if isinstance(v, np.ndarray):
            out[f"deg_{k}"] = torch.from_numpy(v.astype(np.float32))
        else:
            out[f"deg_{k}"] = torch.tensor(float(v))
    return out


# ---------------------------------------------------------------------------------------------- apply
_MODES = ("area", "bilinear", "bicubic")


def _filter(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-sample 2-D filtering: x (B, C, H, W), kernels (B, k, k) -> (B, C, H, W), reflect padding."""
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    # reflect needs the image larger than the pad; a tiny intermediate image (strong downscale) replicates
    x = F.pad(x, [k // 2] * 4, mode="reflect" if min(h, w) > k // 2 else "replicate")
    weight = kernels.to(x.dtype).repeat_interleave(c, 0)[:, None]  # (B*C, 1, k, k)
    y = F.conv2d(x.reshape(1, b * c, x.shape[2], x.shape[3]), weight, groups=b * c)
    return y.view(b, c, h, w)


def _resize(x: torch.Tensor, size: tuple, mode: int) -> torch.Tensor:
    name = _MODES[int(mode) % 3]
    if name == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=name, align_corners=False)


def _noise(x: torch.Tensor, gauss: bool, sigma: float, poisson: float, grey: bool, seed: int) -> torch.Tensor:
    """Gaussian noise of std ``sigma`` (in 8-bit levels), or Poisson (shot) noise of an 8-bit image scaled
    by ``poisson``; one channel repeated when ``grey``. Drawn from a generator seeded per sample."""
    g = torch.Generator(device=x.device).manual_seed(int(seed))
    channels = 1 if grey else x.shape[1]
    if gauss:
        n = torch.randn((x.shape[0], channels) + tuple(x.shape[2:]), generator=g, device=x.device)
        return x + (n * (sigma / 255.0)).to(x.dtype)
    base = x.mean(dim=1, keepdim=True) if grey else x
    levels = 256.0  # 8-bit images: BasicSR counts the distinct values, rounded up to a power of two
    counts = torch.poisson((base.float().clamp(0, 1) * levels), generator=g) / levels
    return x + ((counts - base.float()) * poisson).to(x.dtype)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip through OpenCV (CPU), per image."""
    out = []
    for img in x:
        arr = (img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        dec = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        out.append(torch.from_numpy(dec).permute(2, 0, 1).float() / 255.0)
    return torch.stack(out).to(x.device, x.dtype)


def degrade(hr: torch.Tensor, params: dict, scale: int) -> torch.Tensor:
    """HR (B, 3, H, W) in [0, 1] -> LR (B, 3, H/scale, W/scale) in [0, 1], sample i with its own
    ``params`` (the ``deg_*`` tensors of the batch, stacked along dim 0)."""
    b, _, h, w = hr.shape
    p = {k[4:]: v for k, v in params.items() if k.startswith("deg_")}
    outs = []
    for i in range(b):  # sizes differ per sample, so the stages run per image
        x = hr[i:i + 1]
        x = _filter(x, p["k1"][i:i + 1].to(x.device))
        s = float(p["scale1"][i])
        x = _resize(x, (max(4, round(h * s)), max(4, round(w * s))), int(p["interp1"][i]))
        x = _noise(x, bool(p["gauss1"][i]), float(p["sigma1"][i]), float(p["poisson1"][i]), bool(p["grey1"][i]),
                   int(p["noise_seed1"][i])).clamp(0, 1)
        x = _jpeg(x, int(p["jpeg1"][i]))
        if bool(p["blur2"][i]):
            x = _filter(x, p["k2"][i:i + 1].to(x.device))
        s2 = float(p["scale2"][i])
        x = _resize(x, (max(4, round(h / scale * s2)), max(4, round(w / scale * s2))), int(p["interp2"][i]))
        x = _noise(x, bool(p["gauss2"][i]), float(p["sigma2"][i]), float(p["poisson2"][i]), bool(p["grey2"][i]),
                   int(p["noise_seed2"][i])).clamp(0, 1)
        lr_size = (h // scale, w // scale)
        if bool(p["jpeg_first"][i]):
            x = _jpeg(x, int(p["jpeg2"][i]))
            x = _filter(_resize(x, lr_size, int(p["final_interp"][i])), p["k_final"][i:i + 1].to(x.device))
        else:
            x = _filter(_resize(x, lr_size, int(p["final_interp"][i])), p["k_final"][i:i + 1].to(x.device))
            x = _jpeg(x.clamp(0, 1), int(p["jpeg2"][i]))
        outs.append(x.clamp(0, 1))
    return torch.cat(outs)


def usm_sharpen(img: torch.Tensor, weight: float = 0.5, threshold: float = 10 / 255) -> torch.Tensor:
    """Unsharp masking of the HR target (Real-ESRGAN sharpens the ground truth for the L1 and perceptual
    losses): img + weight * (img - blur) where the detail exceeds ``threshold``, softly masked."""
    k = torch.tensor(cv2.getGaussianKernel(51, 0) @ cv2.getGaussianKernel(51, 0).T, dtype=img.dtype,
                     device=img.device)
    blur = _filter(img, k[None].expand(img.shape[0], -1, -1))
    residual = img - blur
    mask = (residual.abs() * 255 > threshold * 255).to(img.dtype)
    soft = _filter(mask, torch.tensor(cv2.getGaussianKernel(51, 0) @ cv2.getGaussianKernel(51, 0).T,
                                      dtype=img.dtype, device=img.device)[None].expand(img.shape[0], -1, -1))
    sharp = (img + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img
