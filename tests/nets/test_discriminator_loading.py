"""ganstudio.load_model recognises the five training discriminators in the files their official repos write.

Convention for every family: a discriminator's hparams carry ``role = "discriminator"``; a generator's carry no
``role`` key; ``build(**hparams)`` builds whichever was detected.

Containers, as the official training code saves them:
* CycleGAN / pix2pix PatchGAN: ``latest_net_D.pth`` / ``<epoch>_net_D_A.pth``, a plain state dict;
* SPADE multiscale discriminator: ``latest_net_D.pth``, a plain state dict (``discriminator_i.modelj.*``);
* DCGAN: ``netD_epoch_N.pth``, a plain state dict;
* Real-ESRGAN / BasicSR UNetDiscriminatorSN: ``*_netD.pth`` with the state dict under ``params``;
* StyleGAN2 (rosinality): the ``d`` entry of the training checkpoint next to ``g``/``g_ema``. ``load_model(path)``
  of that file gives ``g_ema`` (the generator users want); the ``d`` entry loads from the checkpoint's dict, and a
  file holding only the discriminator's state dict loads by path.
Each loaded module must reproduce the original's output exactly (same weights, same ops, eval mode); spectral-norm
vectors are first moved off their initial values by training-mode passes so the stored u, v matter.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

import ganstudio
from ganstudio.nets import cyclegan, dcgan, rrdbnet, spade, srvgg, stylegan2


def _trained_look(net: nn.Module, x: torch.Tensor) -> nn.Module:
    """Seeded non-default norm statistics / affines and spectral-norm vectors, then eval mode."""
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        saved = {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}
        net.train()
        for _ in range(2):  # power iterations update weight_u / weight_v in place
            net(x)
        net.load_state_dict({**net.state_dict(), **saved})  # keep the seeded BN statistics
    return net.eval()


def _flatten(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _flatten(o)]


CASES = {
    # name: (family, factory, input, container(sd) -> saved object, filename, expected class, expected hparams)
    "patchgan_batch": ("cyclegan", lambda: cyclegan.build(arch="patchgan", input_nc=6, ndf=4, n_layers=2,
                                                          norm="batch"),
                       (2, 6, 32, 32), lambda sd: sd, "latest_net_D.pth", cyclegan.NLayerDiscriminator,
                       {"arch": "patchgan", "role": "discriminator", "input_nc": 6, "ndf": 4, "n_layers": 2,
                        "norm": "batch"}),
    "patchgan_instance": ("cyclegan", lambda: cyclegan.build(arch="patchgan", input_nc=3, ndf=4, n_layers=3,
                                                             norm="instance"),
                          (1, 3, 40, 40), lambda sd: sd, "200_net_D_A.pth", cyclegan.NLayerDiscriminator,
                          {"arch": "patchgan", "role": "discriminator", "input_nc": 3, "ndf": 4, "n_layers": 3,
                           "norm": "instance"}),
    "spade_multiscale": ("spade", lambda: spade.MultiscaleDiscriminator(input_nc=9, ndf=4, n_layers=4, num_D=2),
                         (1, 9, 48, 48), lambda sd: sd, "latest_net_D.pth", spade.MultiscaleDiscriminator,
                         {"role": "discriminator", "input_nc": 9, "ndf": 4, "n_layers": 4, "num_D": 2}),
    "spade_multiscale_3d": ("spade", lambda: spade.MultiscaleDiscriminator(input_nc=5, ndf=2, n_layers=3, num_D=3),
                            (1, 5, 40, 40), lambda sd: sd, "latest_net_D.pth", spade.MultiscaleDiscriminator,
                            {"role": "discriminator", "input_nc": 5, "ndf": 2, "n_layers": 3, "num_D": 3}),
    "dcgan": ("dcgan", lambda: dcgan.Discriminator(nc=1, ndf=4), (3, 1, 64, 64), lambda sd: sd,
              "netD_epoch_24.pth", dcgan.Discriminator, {"role": "discriminator", "nc": 1, "ndf": 4}),
    "unet_sn": ("rrdbnet", lambda: rrdbnet.UNetDiscriminatorSN(num_in_ch=3, num_feat=4), (1, 3, 32, 24),
                lambda sd: {"params": sd}, "RealESRGAN_x4plus_netD.pth", rrdbnet.UNetDiscriminatorSN,
                {"role": "discriminator", "num_in_ch": 3, "num_feat": 4, "skip_connection": True}),
    "stylegan2_plain": ("stylegan2", lambda: stylegan2.Discriminator(size=16, channels={4: 8, 8: 8, 16: 4}),
                        (4, 3, 16, 16), lambda sd: sd, "d_only.pt", stylegan2.Discriminator,
                        {"role": "discriminator", "size": 16, "channel_multiplier": 2,
                         "channels": {4: 8, 8: 8, 16: 4}}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_discriminator_file_loads_with_family_role_and_output(tmp_path, name):
    family, factory, shape, container, filename, cls, hparams = CASES[name]
    torch.manual_seed(0)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    d = _trained_look(factory(), x)
    path = tmp_path / filename
    torch.save(container(d.state_dict()), path)

    # the image tools ask for a generator: a discriminator file is refused, saying what it is
    with pytest.raises(ValueError, match="discriminator, not a generator"):
        ganstudio.load_model(path)
    loaded, desc = ganstudio.load_model(path, role="discriminator")
    assert desc.family == family and desc.hparams == hparams
    assert type(loaded) is cls and not loaded.training
    assert desc.container == ("params" if name == "unet_sn" else "")
    with torch.inference_mode():
        want, got = _flatten(d(x)), _flatten(loaded(x))
    assert len(got) == len(want) and len(got) >= 1
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # asking for the family works, another family is refused
    ganstudio.load_model(path, family=family, role=None)
    with pytest.raises(ValueError, match=family):
        ganstudio.load_model(path, family="srvgg" if family != "srvgg" else "dcgan", role=None)


def test_stylegan2_training_checkpoint_gives_g_ema_and_its_d_entry(tmp_path):
    """rosinality train.py saves {"g", "d", "g_ema", "g_optim", "d_optim", "args"}: the file loads as the
    generator; its ``d`` entry (read safely from the same file) loads as the discriminator."""
    torch.manual_seed(0)
    ch = {4: 8, 8: 8, 16: 4}
    g = stylegan2.Generator(size=16, style_dim=8, n_mlp=2, channels=ch)
    d = stylegan2.Discriminator(size=16, channels=ch).eval()
    path = tmp_path / "050000.pt"
    torch.save({"g": g.state_dict(), "d": d.state_dict(), "g_ema": g.state_dict(), "g_optim": {}, "d_optim": {}},
               path)
    net, desc = ganstudio.load_model(path)
    assert desc.container == "g_ema" and "role" not in desc.hparams and isinstance(net, stylegan2.Generator)

    loaded, ddesc = ganstudio.load_model(path, role="discriminator")
    assert ddesc.container == "d"
    assert ddesc.family == "stylegan2" and ddesc.hparams["role"] == "discriminator"
    x = torch.randn(4, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), d(x), rtol=0, atol=0)


GENERATORS = {
    "dcgan": lambda: dcgan.build(nz=8, ngf=4, nc=3),
    "stylegan2": lambda: stylegan2.build(size=16, style_dim=8, n_mlp=2, channels={4: 8, 8: 8, 16: 4}),
    "spade": lambda: spade.build(semantic_nc=6, ngf=4, nhidden=8),
    "cyclegan": lambda: cyclegan.build(arch="resnet", ngf=4, n_blocks=2),
    "rrdbnet": lambda: rrdbnet.build(num_feat=8, num_block=1, num_grow_ch=4, scale=2),
    "srvgg": lambda: srvgg.build(num_feat=8, num_conv=2, upscale=4),
}


@pytest.mark.parametrize("family", list(GENERATORS))
def test_generators_carry_no_role(family):
    net = GENERATORS[family]()
    loaded, desc = ganstudio.load_model(net.state_dict())
    assert desc.family == family and "role" not in desc.hparams
    assert type(loaded) is type(net)


@pytest.mark.parametrize("mod, hp, cls", [
    (cyclegan, {"role": "discriminator", "input_nc": 3, "ndf": 4, "n_layers": 2, "norm": "batch"},
     cyclegan.NLayerDiscriminator),
    (spade, {"role": "discriminator", "input_nc": 4, "ndf": 2, "n_layers": 3, "num_D": 1},
     spade.MultiscaleDiscriminator),
    (rrdbnet, {"role": "discriminator", "num_in_ch": 3, "num_feat": 4}, rrdbnet.UNetDiscriminatorSN),
    (dcgan, {"role": "discriminator", "nc": 3, "ndf": 4}, dcgan.Discriminator),
    (stylegan2, {"role": "discriminator", "size": 8, "channels": {4: 4, 8: 4}}, stylegan2.Discriminator),
])
def test_build_with_role_discriminator(mod, hp, cls):
    assert type(mod.build(**hp)) is cls


def test_cyclegan_role_and_arch_must_agree():
    with pytest.raises(ValueError, match="not a discriminator"):
        cyclegan.build(arch="resnet", role="discriminator", ngf=4, n_blocks=1)


def test_discriminator_files_are_refused_by_engines_and_filed_under_train(tmp_path):
    """A Real-ESRGAN netD dropped into the upscaler is refused saying what it is; imported into the
    library it is described as a discriminator and filed under the "train" task."""
    from ganstudio.checkpoints.library_jobs import describe_checkpoint
    from ganstudio.engines import upscale

    d = rrdbnet.UNetDiscriminatorSN(num_in_ch=3, num_feat=4)
    path = tmp_path / "RealESRGAN_x4plus_netD.pth"
    torch.save({"params": d.state_dict()}, path)
    with pytest.raises(Exception, match="discriminator, not a generator"):
        upscale.load_upscaler(str(path))
    info = describe_checkpoint(path)
    assert info["arch"] == "rrdbnet" and info["task"] == "train"
    assert info["arch_kwargs"]["role"] == "discriminator"
