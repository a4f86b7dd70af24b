"""ganstudio.nets.discriminators: every kind builds, gives the hand-derived output shape, passes gradients to its
input, updates spectral-norm vectors only in training, and uses the official state-dict layout.

No keys_full*.json exists for the discriminators in ../shared/parity, so the expected key lists below are written
out by hand from the official layouts (junyanz NLayerDiscriminator, NVlabs/SPADE MultiscaleDiscriminator,
rosinality Discriminator, pytorch/examples netD, BasicSR UNetDiscriminatorSN) for tiny configurations.
Conv output size used throughout: out = floor((in + 2*pad - kernel) / stride) + 1.
"""
from __future__ import annotations

import pytest
import torch

from ganstudio.nets import cyclegan, dcgan, discriminators, rrdbnet, spade, stylegan2
from ganstudio.nets.discriminators import build_discriminator

KINDS = ["patchgan", "spade_multiscale", "stylegan2", "dcgan", "unet_sn"]


def _bn(prefix: str, c: int) -> list:
    """Official BatchNorm2d entries, in state_dict order."""
    return [[f"{prefix}.weight", [c]], [f"{prefix}.bias", [c]], [f"{prefix}.running_mean", [c]],
            [f"{prefix}.running_var", [c]], [f"{prefix}.num_batches_tracked", []]]


def _sn(prefix: str, w: list) -> list:
    """torch.nn.utils.spectral_norm entries: weight_orig, u [out], v [in*kh*kw] (bias-free conv)."""
    return [[f"{prefix}.weight_orig", w], [f"{prefix}.weight_u", [w[0]]],
            [f"{prefix}.weight_v", [w[1] * w[2] * w[3]]]]


# ------------------------------------------------------------------------------------------------ configs
# Each case: kwargs, input shape, expected output shape(s), expected [key, shape] list (official order).

# PatchGAN, junyanz NLayerDiscriminator, input_nc=3, ndf=8, n_layers=3, norm="batch" (pix2pix default).
# Convs 4x4 pad 1: 64 -s2-> (64+2-4)//2+1 = 32 -s2-> 16 -s2-> 8 -s1-> 8+2-4+1 = 7 -s1-> 6   => (B, 1, 6, 6)
# Sequential indices: 0 conv, 1 lrelu, [2 conv, 3 bn, 4 lrelu], [5 conv, 6 bn, 7 lrelu], [8 conv (s1), 9 bn,
# 10 lrelu], 11 conv -> 1. Widths ndf*min(2^n, 8): 8, 16, 32, 64. Conv bias only where no BatchNorm follows.
PATCHGAN_KEYS = (
    [["model.0.weight", [8, 3, 4, 4]], ["model.0.bias", [8]], ["model.2.weight", [16, 8, 4, 4]]]
    + _bn("model.3", 16) + [["model.5.weight", [32, 16, 4, 4]]] + _bn("model.6", 32)
    + [["model.8.weight", [64, 32, 4, 4]]] + _bn("model.9", 64)
    + [["model.11.weight", [1, 64, 4, 4]], ["model.11.bias", [1]]]
)

# SPADE MultiscaleDiscriminator, input_nc=8 (5 semantic + 3 image), ndf=4, n_layers=4, num_D=2.
# Convs 4x4 pad 2 (ceil((4-1)/2)); strides 2, 2, 2, then 1 (n == n_layers-1), then the final conv stride 1.
# Scale 0 (64): 64 -> (64+4-4)//2+1 = 33 -> (33)//2+1 = 17 -> 17//2+1 = 9 -> 9+4-4+1 = 10 -> 11  => (B, 1, 11, 11)
# Downsample between scales: avg_pool k3 s2 p1: (64+2-3)//2+1 = 32.
# Scale 1 (32): 32 -> 17 -> 9 -> 5 -> 6 -> 7  => (B, 1, 7, 7)
# Widths: 4, 8, 16, 32, 1. Inner convs: spectral norm (bias removed) inside Sequential(conv, InstanceNorm).
SPADE_FEATS = [[(4, 33), (8, 17), (16, 9), (32, 10), (1, 11)], [(4, 17), (8, 9), (16, 5), (32, 6), (1, 7)]]
SPADE_KEYS = []
for _i in range(2):
    _p = f"discriminator_{_i}"
    SPADE_KEYS += ([[f"{_p}.model0.0.weight", [4, 8, 4, 4]], [f"{_p}.model0.0.bias", [4]]]
                   + _sn(f"{_p}.model1.0.0", [8, 4, 4, 4]) + _sn(f"{_p}.model2.0.0", [16, 8, 4, 4])
                   + _sn(f"{_p}.model3.0.0", [32, 16, 4, 4])
                   + [[f"{_p}.model4.0.weight", [1, 32, 4, 4]], [f"{_p}.model4.0.bias", [1]]])

# StyleGAN2 (rosinality), size 32, channels {4: 16, 8: 16, 16: 8, 32: 8}.
# convs.0 = 1x1 ConvLayer(3 -> ch[32]=8); ResBlocks for log2 32 = 5 down to 3: 8->ch[16]=8 (32->16),
# 8->ch[8]=16 (16->8), 16->ch[4]=16 (8->4). Down path: blur pad (2,2): 32+4-4+1 = 33, conv3 s2: (33-3)//2+1 = 16;
# skip: blur pad (1,1): 34-3 = 31, conv1 s2: 30//2+1 = 16. Then stddev (+1 channel): final_conv 17 -> 16 on 4x4,
# final_linear 16*4*4 = 256 -> 16 -> 1   => (B, 1).
def _resblock(p: str, cin: int, cout: int) -> list:
    return [[f"{p}.conv1.0.weight", [cin, cin, 3, 3]], [f"{p}.conv1.1.bias", [cin]],
            [f"{p}.conv2.0.kernel", [4, 4]], [f"{p}.conv2.1.weight", [cout, cin, 3, 3]], [f"{p}.conv2.2.bias", [cout]],
            [f"{p}.skip.0.kernel", [4, 4]], [f"{p}.skip.1.weight", [cout, cin, 1, 1]]]


STYLEGAN2_CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}
STYLEGAN2_KEYS = (
    [["convs.0.0.weight", [8, 3, 1, 1]], ["convs.0.1.bias", [8]]]
    + _resblock("convs.1", 8, 8) + _resblock("convs.2", 8, 16) + _resblock("convs.3", 16, 16)
    + [["final_conv.0.weight", [16, 17, 3, 3]], ["final_conv.1.bias", [16]],
       ["final_linear.0.weight", [16, 256]], ["final_linear.0.bias", [16]],
       ["final_linear.1.weight", [1, 16]], ["final_linear.1.bias", [1]]]
)

# DCGAN netD (pytorch/examples), nc=3, ndf=8. 4x4 convs s2 p1: 64 -> 32 -> 16 -> 8 -> 4, then 4x4 s1 p0: 1;
# view(-1, 1).squeeze(1)  => (B,). Indices: 0 conv, 1 lrelu, 2 conv, 3 bn, 4 lrelu, 5 conv, 6 bn, 7 lrelu,
# 8 conv, 9 bn, 10 lrelu, 11 conv, 12 sigmoid. No conv biases.
DCGAN_KEYS = (
    [["main.0.weight", [8, 3, 4, 4]], ["main.2.weight", [16, 8, 4, 4]]] + _bn("main.3", 16)
    + [["main.5.weight", [32, 16, 4, 4]]] + _bn("main.6", 32) + [["main.8.weight", [64, 32, 4, 4]]]
    + _bn("main.9", 64) + [["main.11.weight", [1, 64, 4, 4]]]
)

# UNetDiscriminatorSN (BasicSR), num_in_ch=3, num_feat=4. Encoder 4x4 s2 p1 halves: 32x40 -> 16x20 -> 8x10 ->
# 4x5; the decoder upsamples x2 three times back to 32x40; 3x3 p1 convs keep size  => (B, 1, 32, 40).
# conv0 / conv9 plain with bias; conv1..conv8 spectral norm without bias.
UNET_KEYS = (
    [["conv0.weight", [4, 3, 3, 3]], ["conv0.bias", [4]]]
    + _sn("conv1", [8, 4, 4, 4]) + _sn("conv2", [16, 8, 4, 4]) + _sn("conv3", [32, 16, 4, 4])
    + _sn("conv4", [16, 32, 3, 3]) + _sn("conv5", [8, 16, 3, 3]) + _sn("conv6", [4, 8, 3, 3])
    + _sn("conv7", [4, 4, 3, 3]) + _sn("conv8", [4, 4, 3, 3])
    + [["conv9.weight", [1, 4, 3, 3]], ["conv9.bias", [1]]]
)

CASES = {
    "patchgan": (dict(input_nc=3, ndf=8, n_layers=3, norm="batch"), (2, 3, 64, 64), PATCHGAN_KEYS),
    "spade_multiscale": (dict(input_nc=8, ndf=4, n_layers=4, num_D=2), (2, 8, 64, 64), SPADE_KEYS),
    "stylegan2": (dict(size=32, channels=STYLEGAN2_CHANNELS), (4, 3, 32, 32), STYLEGAN2_KEYS),
    "dcgan": (dict(nc=3, ndf=8), (2, 3, 64, 64), DCGAN_KEYS),
    "unet_sn": (dict(num_in_ch=3, num_feat=4), (2, 3, 32, 40), UNET_KEYS),
}
EXPECTED_OUT = {
    "patchgan": (2, 1, 6, 6),
    "stylegan2": (4, 1),
    "dcgan": (2,),
    "unet_sn": (2, 1, 32, 40),
}
SN_KINDS = {"spade_multiscale", "unet_sn"}


def _build(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_discriminator(kind, **CASES[kind][0])


def _score(kind: str, out):
    """A scalar from the output, touching every scale's final map for the multiscale discriminator."""
    if kind == "spade_multiscale":
        return sum(feats[-1].sum() for feats in out)
    return out.sum()


def test_kinds_are_the_family_classes_not_copies():
    assert set(discriminators.DISCRIMINATORS) == set(KINDS)
    assert discriminators.PatchGANDiscriminator is cyclegan.NLayerDiscriminator
    assert discriminators.SPADEMultiscaleDiscriminator is spade.MultiscaleDiscriminator
    assert discriminators.SPADEPatchDiscriminator is spade.NLayerDiscriminator
    assert discriminators.StyleGAN2Discriminator is stylegan2.Discriminator
    assert discriminators.DCGANDiscriminator is dcgan.Discriminator
    assert discriminators.UNetDiscriminatorSN is rrdbnet.UNetDiscriminatorSN
    for kind in KINDS:
        doc = discriminators.describe_discriminator(kind)
        assert "Paper" in doc and "repo" in doc.lower()
        assert type(_build(kind)) is discriminators.DISCRIMINATORS[kind]


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown discriminator kind 'patch'.*patchgan"):
        build_discriminator("patch")
    with pytest.raises(ValueError, match="unknown discriminator kind"):
        discriminators.describe_discriminator("nope")


@pytest.mark.parametrize("kind", sorted(EXPECTED_OUT))
def test_output_shape(kind):
    d = _build(kind).eval()
    with torch.inference_mode():
        out = d(torch.randn(CASES[kind][1]))
    assert tuple(out.shape) == EXPECTED_OUT[kind]
    if kind == "dcgan":
        assert ((out > 0) & (out < 1)).all()  # sigmoid probabilities


def test_spade_multiscale_feature_shapes():
    d = _build("spade_multiscale").eval()
    with torch.inference_mode():
        out = d(torch.randn(CASES["spade_multiscale"][1]))
    assert len(out) == 2
    for feats, want in zip(out, SPADE_FEATS):
        assert [(f.shape[1], f.shape[2]) for f in feats] == want
        assert all(f.shape[0] == 2 and f.shape[2] == f.shape[3] for f in feats)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_reach_the_input_and_weights(kind):
    d = _build(kind).train()
    x = torch.randn(CASES[kind][1], requires_grad=True)
    _score(kind, d(x)).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    first = next(p for p in d.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_matches_official_layout(kind):
    got = [[k, list(v.shape)] for k, v in _build(kind).state_dict().items()]
    assert got == CASES[kind][2]


@pytest.mark.parametrize("kind", KINDS)
def test_spectral_norm_u_updates_in_train_only(kind):
    d = _build(kind)
    u_keys = [k for k in d.state_dict() if k.endswith("weight_u")]
    if kind not in SN_KINDS:
        assert u_keys == []  # no spectral norm in this official architecture
        return
    assert u_keys
    x = torch.randn(CASES[kind][1])
    before = {k: d.state_dict()[k].clone() for k in u_keys}
    d.eval()
    with torch.no_grad():
        d(x)
    assert all(torch.equal(d.state_dict()[k], before[k]) for k in u_keys)  # eval: stored u, v used as is
    d.train()
    with torch.no_grad():
        d(x)
    changed = [k for k in u_keys if not torch.equal(d.state_dict()[k], before[k])]
    assert changed == u_keys  # train: one power iteration per forward on every SN conv
    for k in u_keys:
        assert torch.allclose(d.state_dict()[k].norm(), torch.tensor(1.0), atol=1e-5)


def test_eval_forward_is_batch_independent_where_expected():
    # PatchGAN with instance norm and the U-Net discriminator have no cross-sample terms: each sample's
    # output is the same alone or in a batch (StyleGAN2's minibatch-stddev layer deliberately is not).
    # PatchGAN n_layers=2 on 48: 48 -s2-> 24 -s2-> 12 -s1-> 11 -s1-> 10; the U-Net keeps 16x24.
    for kind, kwargs, shape, want in [
            ("patchgan", dict(input_nc=3, ndf=4, n_layers=2, norm="instance"), (3, 3, 48, 48), (3, 1, 10, 10)),
            ("unet_sn", dict(num_feat=4), (3, 3, 16, 24), (3, 1, 16, 24))]:
        torch.manual_seed(0)
        d = build_discriminator(kind, **kwargs)
        with torch.no_grad():  # converge the spectral-norm vectors (fresh random u, v give huge weights)
            for _ in range(10):
                d(torch.randn(shape))
        d.eval()
        x = torch.randn(shape)
        with torch.inference_mode():
            full = d(x)
            one = d(x[1:2])
        assert full.shape == want
        torch.testing.assert_close(full[1:2], one, atol=1e-5, rtol=0)


def test_stylegan2_minibatch_stddev_couples_the_batch():
    d = _build("stylegan2").eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        a = d(x)
        x2 = x.clone()
        x2[3] = torch.randn(3, 32, 32)
        b = d(x2)
    assert not torch.allclose(a[0], b[0])  # sample 0 sees the batch's standard deviation
