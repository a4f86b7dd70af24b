"""Test helper (not a test module): tiny seeded checkpoints written the way their official code saves them.

Import it from any test file (tests/ is on sys.path through tests/conftest.py):
``from tiny_models import tiny_stylegan2_file``.
"""
from __future__ import annotations

import torch

from ganstudio.nets import stylegan2

TINY_STYLEGAN2_CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}


def tiny_stylegan2_file(path, seed: int = 0) -> str:
    """A seeded 32 px StyleGAN2 generator (style_dim 16, 2 mapping layers) saved as rosinality's
    ``{"g_ema": state_dict}`` at ``path``; returns the path as a string."""
    torch.manual_seed(seed)
    g = stylegan2.Generator(32, 16, 2, channels=TINY_STYLEGAN2_CHANNELS)
    torch.save({"g_ema": g.state_dict()}, path)
    return str(path)


def tiny_cyclegan_file(path, seed: int = 0) -> str:
    """A seeded CycleGAN ResnetGenerator (ngf 4, 2 blocks) saved as a plain state dict, as the official
    ``latest_net_G.pth`` files are; returns the path as a string."""
    from ganstudio.nets import cyclegan

    torch.manual_seed(seed)
    net = cyclegan.ResnetGenerator(ngf=4, n_blocks=2).eval()
    torch.save(net.state_dict(), path)
    return str(path)


def tiny_srvgg_file(path, seed: int = 0):
    """A seeded x2 SRVGGNetCompact (4 features, 1 conv, PReLU) saved as a plain state dict; returns ``path``."""
    from ganstudio.nets import srvgg

    torch.manual_seed(seed)
    torch.save(srvgg.build(num_feat=4, num_conv=1, upscale=2, act_type="prelu").state_dict(), path)
    return path


def tiny_spade_file(path, seed: int = 0):
    """A seeded SPADE generator (3 labels + dontcare + instance edges = 5 input channels, ngf 2, hidden 8,
    crop 64) saved as a plain state dict, with the ``<file>.json`` sidecar that tells the paint engine its
    label set (keys alone cannot); returns ``path``."""
    import json
    from pathlib import Path

    from ganstudio.nets import spade

    torch.manual_seed(seed)
    net = spade.SPADEGenerator(5, ngf=2, label_nc=3, contain_dontcare_label=True, use_instance=True,
                               crop_size=64, nhidden=8).eval()
    path = Path(path)
    torch.save(net.state_dict(), path)
    path.with_name(path.name + ".json").write_text(json.dumps(
        {"label_nc": 3, "contain_dontcare_label": True, "use_instance": True, "crop_size": 64}))
    return path
