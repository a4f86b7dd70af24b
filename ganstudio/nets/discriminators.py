"""The discriminators that training needs, named in one place.

Nothing is implemented here: every class lives in its family module (next to the generator it trains) and is
re-exported under a descriptive name. :func:`build_discriminator` builds one by kind:

* ``"patchgan"``: :data:`PatchGANDiscriminator` (``cyclegan.NLayerDiscriminator``), the layout of
  junyanz/pytorch-CycleGAN-and-pix2pix ``NLayerDiscriminator`` (keys ``model.N.*``).
* ``"spade_multiscale"``: :data:`SPADEMultiscaleDiscriminator` (``spade.MultiscaleDiscriminator``), NVlabs/SPADE
  ``MultiscaleDiscriminator`` (keys ``discriminator_i.modelj.*``; one PatchGAN per scale is
  :data:`SPADEPatchDiscriminator`).
* ``"stylegan2"``: :data:`StyleGAN2Discriminator` (``stylegan2.Discriminator``), rosinality/stylegan2-pytorch
  ``Discriminator``, the ``d`` entry of its checkpoints (keys ``convs.*``, ``final_conv.*``, ``final_linear.*``).
* ``"dcgan"``: :data:`DCGANDiscriminator` (``dcgan.Discriminator``), pytorch/examples ``dcgan/main.py`` ``netD``
  (keys ``main.N.*``).
* ``"unet_sn"``: :class:`UNetDiscriminatorSN` (``rrdbnet.UNetDiscriminatorSN``), xinntao/Real-ESRGAN and
  XPixelGroup/BasicSR ``UNetDiscriminatorSN``, the ``net_d`` of their training (keys ``convN.*``).

Use ``describe_discriminator(kind)`` for the paper, repository and input/output of each kind.

``ganstudio.load_model`` recognises each of them in the files their training code writes (PatchGAN
``latest_net_D.pth`` / ``*_net_D_A.pth``, SPADE ``latest_net_D.pth``, DCGAN ``netD_epoch_*.pth``, Real-ESRGAN
``*_netD.pth`` under ``params``, a StyleGAN2 ``d`` state dict): the family's ``detect`` returns hparams with
``role = "discriminator"`` (generators carry no ``role`` key) and its ``build(**hparams)`` builds the
discriminator.
"""
from __future__ import annotations

from torch import nn

from ganstudio.nets.cyclegan import NLayerDiscriminator as PatchGANDiscriminator
from ganstudio.nets.dcgan import Discriminator as DCGANDiscriminator
from ganstudio.nets.rrdbnet import UNetDiscriminatorSN
from ganstudio.nets.spade import MultiscaleDiscriminator as SPADEMultiscaleDiscriminator
from ganstudio.nets.spade import NLayerDiscriminator as SPADEPatchDiscriminator
from ganstudio.nets.stylegan2 import Discriminator as StyleGAN2Discriminator

__all__ = [
    "PatchGANDiscriminator",
    "SPADEMultiscaleDiscriminator",
    "SPADEPatchDiscriminator",
    "StyleGAN2Discriminator",
    "DCGANDiscriminator",
    "UNetDiscriminatorSN",
    "DISCRIMINATORS",
    "KIND_DOCS",
    "build_discriminator",
    "describe_discriminator",
]

DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "patchgan": PatchGANDiscriminator,
    "spade_multiscale": SPADEMultiscaleDiscriminator,
    "stylegan2": StyleGAN2Discriminator,
    "dcgan": DCGANDiscriminator,
    "unet_sn": UNetDiscriminatorSN,
}

KIND_DOCS: dict[str, str] = {
    "patchgan": (
        "PatchGAN (NLayerDiscriminator; n_layers=3 is the 70x70 PatchGAN used by pix2pix and CycleGAN). "
        "Paper: Isola, Zhu, Zhou, Efros, 'Image-to-Image Translation with Conditional Adversarial Networks', "
        "CVPR 2017. Official repo: junyanz/pytorch-CycleGAN-and-pix2pix (models/networks.py), BSD licence. "
        "Args: input_nc, ndf, n_layers, norm ('batch' | 'instance'). "
        "(B, input_nc, H, W) -> (B, 1, H', W') patch logits; 4x4 convs, padding 1."
    ),
    "spade_multiscale": (
        "Multiscale PatchGAN discriminator of SPADE / GauGAN (num_D PatchGANs on the input at 1, 1/2, ... scale; "
        "spectral norm + instance norm on the inner convs; from pix2pixHD). "
        "Paper: Park, Liu, Wang, Zhu, 'Semantic Image Synthesis with Spatially-Adaptive Normalization', "
        "CVPR 2019. Official repo: NVlabs/SPADE (models/networks/discriminator.py), CC BY-NC-SA 4.0. "
        "Args: input_nc (= semantic_nc + 3: cat(seg, image)), ndf, n_layers, num_D. "
        "Returns one list of feature maps per scale; the last map of each list is the patch logits."
    ),
    "stylegan2": (
        "StyleGAN2 residual discriminator with minibatch standard deviation. "
        "Paper: Karras et al., 'Analyzing and Improving the Image Quality of StyleGAN', CVPR 2020. "
        "Official repo: NVlabs/stylegan2 (TensorFlow); the key layout followed is rosinality/stylegan2-pytorch "
        "(model.py Discriminator, the 'd' entry of its checkpoints), MIT. "
        "Args: size, channel_multiplier, channels (resolution -> width table). "
        "(B, 3, size, size) -> (B, 1) logits."
    ),
    "dcgan": (
        "DCGAN discriminator (strided 4x4 convs, BatchNorm, LeakyReLU 0.2, sigmoid). "
        "Paper: Radford, Metz, Chintala, 'Unsupervised Representation Learning with Deep Convolutional "
        "Generative Adversarial Networks', ICLR 2016. Official repo: pytorch/examples (dcgan/main.py, netD), "
        "BSD-3-Clause. Args: nc, ndf. (B, nc, 64, 64) -> (B,) probabilities."
    ),
    "unet_sn": (
        "U-Net discriminator with spectral normalisation (per-pixel realness for super-resolution). "
        "Paper: Wang, Xie, Dong, Shan, 'Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure "
        "Synthetic Data', ICCV-W 2021. Official repos: xinntao/Real-ESRGAN and XPixelGroup/BasicSR "
        "(basicsr/archs/discriminator_arch.py, net_d), BSD-3-Clause. "
        "Args: num_in_ch, num_feat, skip_connection. (B, C, H, W), H and W multiples of 8 -> (B, 1, H, W) logits."
    ),
}


def describe_discriminator(kind: str) -> str:
    """Paper, official repository, arguments and tensor shapes of ``kind``."""
    _check_kind(kind)
    return KIND_DOCS[kind]


def build_discriminator(kind: str, **kwargs) -> nn.Module:
    """Build the discriminator ``kind`` (one of :data:`DISCRIMINATORS`) with its class's keyword arguments.

    * ``"patchgan"``: ``PatchGANDiscriminator(input_nc=3, ndf=64, n_layers=3, norm="batch")`` -- pix2pix /
      CycleGAN (Isola et al. 2017), junyanz/pytorch-CycleGAN-and-pix2pix.
    * ``"spade_multiscale"``: ``SPADEMultiscaleDiscriminator(input_nc, ndf=64, n_layers=4, num_D=2)`` -- SPADE
      (Park et al. 2019), NVlabs/SPADE.
    * ``"stylegan2"``: ``StyleGAN2Discriminator(size, channel_multiplier=2, channels=None)`` -- StyleGAN2
      (Karras et al. 2020), rosinality/stylegan2-pytorch layout of NVlabs/stylegan2.
    * ``"dcgan"``: ``DCGANDiscriminator(nc=3, ndf=64)`` -- DCGAN (Radford et al. 2016), pytorch/examples.
    * ``"unet_sn"``: ``UNetDiscriminatorSN(num_in_ch=3, num_feat=64, skip_connection=True)`` -- Real-ESRGAN
      (Wang et al. 2021), xinntao/Real-ESRGAN / XPixelGroup/BasicSR.

    The module is returned in training mode (as built); call ``.eval()`` for inference.
    """
    _check_kind(kind)
    return DISCRIMINATORS[kind](**kwargs)


def _check_kind(kind: str) -> None:
    if kind not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator kind {kind!r}; expected one of {sorted(DISCRIMINATORS)}")
