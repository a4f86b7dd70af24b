"""Sane bounds on the hyperparameters each family's ``detect()`` reads from a checkpoint's keys and shapes.

A network is built from what its checkpoint claims: a 1.3 MB file whose first SRVGG conv says 12000 output
channels asks for a 5.6 GB network, one key ``body.3999.rdb1.conv1.weight`` for 4000 RRDB blocks. The loader
(``checkpoints.loader.load_model``) checks the detected hyperparameters against these bounds before it builds
anything, then compares the parameter count of the network the shapes describe with the bytes the file holds.

The bounds are several times the largest published models of each family (noted per row), so real files,
including wider or deeper community variants, pass; only absurd claims are refused, with one line naming the
claim: "claims 12000 feature channels (at most 1024 for SRVGGNetCompact)".
"""
from __future__ import annotations

from typing import Callable, Mapping

# (hyperparameter, most, words): the hyperparameter is a key of detect()'s dict, or a function of that dict
Bound = tuple[str | Callable[[Mapping], int], int, str]

_IO = 64  # image channels in / out (RGB 3, RGBA 4, a few label or feature planes)
_MAY_BE_ZERO = {"num_conv"}  # an SRVGG body may have no middle convs; every other count needs at least one

LIMITS: dict[tuple[str, str], tuple[str, list[Bound]]] = {
    # ESRGAN / Real-ESRGAN: num_feat 64, num_grow_ch 32, num_block 23 (x4plus) / 6 (anime_6B)
    ("rrdbnet", "generator"): ("RRDBNet", [
        ("num_feat", 512, "feature channels"), ("num_grow_ch", 512, "growth channels"),
        ("num_block", 100, "RRDB blocks"), ("num_in_ch", _IO, "input channels"),
        ("num_out_ch", _IO, "output channels")]),
    # Real-ESRGAN's U-Net discriminator: num_feat 64
    ("rrdbnet", "discriminator"): ("UNetDiscriminatorSN", [
        ("num_feat", 512, "feature channels"), ("num_in_ch", _IO, "input channels")]),
    # realesr-animevideov3 / general-x4v3: num_feat 64, num_conv 16 / 32, upscale 4
    ("srvgg", "generator"): ("SRVGGNetCompact", [
        ("num_feat", 1024, "feature channels"), ("num_conv", 128, "body convolutions"),
        ("upscale", 8, "x upscale"), ("num_in_ch", _IO, "input channels")]),
    # CycleGAN resnet_9blocks / pix2pix unet_256: ngf 64, 9 blocks, 8 downsamplings
    ("cyclegan", "resnet"): ("CycleGAN ResnetGenerator", [
        ("ngf", 512, "base channels"), ("n_blocks", 64, "residual blocks"),
        ("input_nc", _IO, "input channels"), ("output_nc", _IO, "output channels")]),
    ("cyclegan", "unet"): ("pix2pix UnetGenerator", [
        ("ngf", 512, "base channels"), ("num_downs", 12, "down-sampling levels"),
        ("input_nc", _IO, "input channels"), ("output_nc", _IO, "output channels")]),
    # the 70x70 PatchGAN: ndf 64, n_layers 3
    ("cyclegan", "patchgan"): ("PatchGAN discriminator", [
        ("ndf", 512, "base channels"), ("n_layers", 10, "layers"), ("input_nc", 2 * _IO, "input channels")]),
    # SPADE ade20k / coco / cityscapes: ngf 64 (1024 channels in the head), 151 / 184 / 36 label channels
    ("spade", "generator"): ("SPADEGenerator", [
        ("ngf", 256, "base channels"), ("semantic_nc", 2048, "label channels"),
        ("nhidden", 1024, "SPADE hidden channels"), ("z_dim", 4096, "latent dimensions"),
        ("crop_size", 4096, "px crop size")]),
    ("spade", "discriminator"): ("SPADE MultiscaleDiscriminator", [
        ("ndf", 512, "base channels"), ("n_layers", 10, "layers"), ("num_D", 8, "scales"),
        ("input_nc", 2048 + _IO, "input channels")]),
    # StyleGAN2 FFHQ 1024: style_dim 512, n_mlp 8, 512 channels at most (channel_multiplier 2)
    ("stylegan2", "generator"): ("StyleGAN2 Generator", [
        ("size", 4096, "px output size"), ("style_dim", 2048, "style dimensions"),
        ("n_mlp", 32, "mapping layers"), ("channel_multiplier", 8, "x channel multiplier"),
        (lambda hp: max((hp.get("channels") or {0: 0}).values()), 4096, "channels at one resolution")]),
    ("stylegan2", "discriminator"): ("StyleGAN2 Discriminator", [
        ("size", 4096, "px input size"), ("channel_multiplier", 8, "x channel multiplier"),
        (lambda hp: max((hp.get("channels") or {0: 0}).values()), 4096, "channels at one resolution")]),
    # pytorch/examples DCGAN: nz 100, ngf 64, 64 px (ngf * 8 = 512 channels after the first layer)
    ("dcgan", "generator"): ("DCGAN Generator", [
        ("nz", 4096, "latent dimensions"), ("ngf", 1024, "base channels"), ("nc", _IO, "image channels"),
        ("size", 1024, "px output size"),
        (lambda hp: hp.get("ngf", 64) * hp.get("size", 64) // 8, 8192, "channels in its widest layer")]),
    ("dcgan", "discriminator"): ("DCGAN Discriminator", [
        ("ndf", 1024, "base channels"), ("nc", _IO, "image channels"), ("size", 1024, "px input size"),
        (lambda hp: hp.get("ndf", 64) * hp.get("size", 64) // 8, 8192, "channels in its widest layer")]),
}


def _kind(family: str, hparams: Mapping) -> str:
    if family == "cyclegan":
        return str(hparams.get("arch") or ("patchgan" if hparams.get("role") == "discriminator" else "resnet"))
    return str(hparams.get("role") or "generator")


def exceeded(family: str, hparams: Mapping) -> str | None:
    """"claims N <words> (at most M for <network>)" for the first hyperparameter past its bound, else None.
    Families without a row here are left to the loader's parameter-count check."""
    row = LIMITS.get((family, _kind(family, hparams)))
    if row is None:
        return None
    network, bounds = row
    for key, most, words in bounds:
        if callable(key):
            value = key(hparams)
        elif key in hparams:
            value = hparams[key]
        else:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value > most:
            return f"claims {value} {words} (at most {most} for {network})"
        if value < (0 if callable(key) or key in _MAY_BE_ZERO else 1):
            return f"claims {value} {words} (a {network} needs at least one)"
    return None
