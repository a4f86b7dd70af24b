"""Every family's generator under the layouts and precisions issue 3 asks for, all under torch.inference_mode:

* channels_last (4-D weights and the input in NHWC) gives the contiguous output within float rounding;
* CPU autocast bfloat16 gives a finite output within 5e-2 of the fp32 output's range;
* CUDA autocast float16 / bfloat16 (skipped without a GPU), likewise, plus channels_last on the GPU.

Tiny seeded configurations with their norm affines, PReLU slopes and noise strengths set away from the
defaults (so that every layer kind takes part) and BatchNorm running statistics calibrated on the input (as a
trained model's fit its activations). The fp32 contiguous output is the reference; the tolerance is
relative to its range (max - min), since the families' outputs live on different scales.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from torch import nn

from ganstudio.nets import cyclegan, dcgan, rrdbnet, spade, srvgg, stylegan2

CL_TOL = 1e-4       # channels_last vs contiguous, relative to the output range (reordered float sums)
AUTOCAST_TOL = 5e-2  # bf16 / fp16 autocast vs fp32, relative to the output range


@dataclass
class Case:
    build: Callable[[], nn.Module]
    inputs: Callable[[torch.Generator], tuple]
    call: Callable | None = None  # (net, *inputs) -> image tensor


def _stylegan_call(net, z, noise):
    return net([z], noise=noise)[0]


def _stylegan_inputs(g):
    z = torch.randn(2, 16, generator=g)
    noise = [torch.randn(2, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), generator=g) for i in range(5)]
    return z, noise


def _seg(g, nc=6, b=1, h=64, w=64):
    ids = torch.randint(0, nc, (b, h // 8, w // 8), generator=g)
    ids = ids.repeat_interleave(8, 1).repeat_interleave(8, 2)  # blocky label map, like a painted one
    return (torch.zeros(b, nc, h, w).scatter_(1, ids[:, None], 1.0),)


CASES = {
    "dcgan": Case(lambda: dcgan.build(nz=8, ngf=4, nc=3), lambda g: (torch.randn(2, 8, 1, 1, generator=g),)),
    "stylegan2": Case(lambda: stylegan2.build(size=16, style_dim=16, n_mlp=2, channels={4: 16, 8: 16, 16: 8}),
                      _stylegan_inputs, _stylegan_call),
    "spade": Case(lambda: spade.build(semantic_nc=6, ngf=4, nhidden=8), _seg),
    "cyclegan_resnet": Case(lambda: cyclegan.build(arch="resnet", ngf=4, n_blocks=2),
                            lambda g: (torch.rand(1, 3, 32, 32, generator=g) * 2 - 1,)),
    "pix2pix_unet": Case(lambda: cyclegan.build(arch="unet", ngf=4, num_downs=5, norm="batch"),
                         lambda g: (torch.rand(1, 3, 32, 32, generator=g) * 2 - 1,)),
    "rrdbnet_x2": Case(lambda: rrdbnet.build(num_feat=8, num_block=1, num_grow_ch=4, scale=2),
                       lambda g: (torch.rand(1, 3, 16, 16, generator=g),)),
    "srvgg_x4": Case(lambda: srvgg.build(num_feat=8, num_conv=2, upscale=4),
                     lambda g: (torch.rand(1, 3, 16, 16, generator=g),)),
}

GENERATOR_CLASSES = [dcgan.Generator, stylegan2.Generator, spade.SPADEGenerator, cyclegan.ResnetGenerator,
                     cyclegan.UnetGenerator, rrdbnet.RRDBNet, srvgg.SRVGGNetCompact]


def _make(name: str):
    torch.manual_seed(0)
    case = CASES[name]
    net = case.build()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move every statistic / slope / strength off its default so each layer matters
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                if m.affine:
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5)
            elif isinstance(m, stylegan2.NoiseInjection):
                m.weight.fill_(0.3)
    inputs = case.inputs(torch.Generator().manual_seed(2))
    call = case.call or (lambda n, *a: n(*a))
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    if bns:
        # a trained model's running statistics fit its activations; random ones blow a deep stack (SPADE)
        # up to ~1e19 and saturate the tanh. Calibrate them on the input, as a trained model's would be.
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration passes
        net.train()
        with torch.no_grad():
            call(net, *inputs)
    net.eval()
    return net, inputs, call


def _to_channels_last(net: nn.Module) -> nn.Module:
    """NHWC for every 4-D parameter and buffer. ``net.to(memory_format=...)`` would do this for most families,
    but it refuses StyleGAN2's 5-D modulated weights."""
    for m in net.modules():
        for p in m.parameters(recurse=False):
            if p.ndim == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)
        for name, b in m.named_buffers(recurse=False):
            if b is not None and b.ndim == 4:
                setattr(m, name, b.contiguous(memory_format=torch.channels_last))
    return net


def _cl_inputs(inputs):
    def conv(t):
        if isinstance(t, torch.Tensor) and t.ndim == 4:
            return t.contiguous(memory_format=torch.channels_last)
        if isinstance(t, list):
            return [conv(x) for x in t]
        return t
    return tuple(conv(t) for t in inputs)


def _to(inputs, device):
    def mv(t):
        if isinstance(t, torch.Tensor):
            return t.to(device)
        if isinstance(t, list):
            return [mv(x) for x in t]
        return t
    return tuple(mv(t) for t in inputs)


def _rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    span = float(ref.max() - ref.min())
    assert span > 0, "degenerate reference output"
    return float((out.float() - ref).abs().max()) / span


@pytest.mark.parametrize("cls", GENERATOR_CLASSES, ids=lambda c: c.__name__)
def test_every_generator_declares_its_layout(cls):
    assert isinstance(cls.__dict__.get("prefers_channels_last"), bool)


@pytest.mark.parametrize("name", list(CASES))
def test_channels_last_gives_the_same_output(name):
    net, inputs, call = _make(name)
    with torch.inference_mode():
        ref = call(net, *inputs)
        net_cl = _to_channels_last(copy.deepcopy(net))
        # 4-D tensors whose layout really changes (StyleGAN2: the constant input; its conv weights are 5-D)
        four_d = [p for p in net_cl.parameters() if p.ndim == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1]
        assert four_d and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                              for p in four_d)
        inputs_cl = _cl_inputs(inputs)
        out = call(net_cl, *inputs_cl)
    assert out.shape == ref.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert _rel_err(out, ref) <= CL_TOL


@pytest.mark.parametrize("name", list(CASES))
def test_cpu_bf16_autocast_is_close(name):
    net, inputs, call = _make(name)
    with torch.inference_mode():
        ref = call(net, *inputs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = call(net, *inputs)
    assert out.shape == ref.shape
    assert torch.isfinite(out.float()).all()
    err = _rel_err(out, ref)
    assert err <= AUTOCAST_TOL, f"bf16 autocast off by {err:.3g} of the output range"
    assert not torch.equal(out.float(), ref), "autocast changed nothing: it did not run in bf16"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_autocast_is_close(name, dtype):
    net, inputs, call = _make(name)
    with torch.inference_mode():
        ref = call(net, *inputs)  # fp32 on the CPU
        net_gpu = copy.deepcopy(net).cuda()
        gin = _to(inputs, "cuda")
        with torch.autocast("cuda", dtype=dtype):
            out = call(net_gpu, *gin).float().cpu()
        with torch.autocast("cuda", dtype=dtype):  # and channels_last on the GPU
            out_cl = call(_to_channels_last(net_gpu), *_cl_inputs(gin)).float().cpu()
    for o in (out, out_cl):
        assert o.shape == ref.shape and torch.isfinite(o).all()
        assert _rel_err(o, ref) <= AUTOCAST_TOL


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", list(CASES))
def test_cuda_fp32_channels_last_matches_cpu(name, monkeypatch):
    net, inputs, call = _make(name)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # true fp32 for the comparison
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    with torch.inference_mode():
        ref = call(net, *inputs)
        net_gpu = _to_channels_last(copy.deepcopy(net).cuda())
        out = call(net_gpu, *_cl_inputs(_to(inputs, "cuda"))).cpu()
    assert _rel_err(out, ref) <= CL_TOL
