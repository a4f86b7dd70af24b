"""SRVGGNetCompact: official key layout, detection, and the forward pass against an independent reference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import ganstudio
from ganstudio.nets import srvgg


def _official_animevideov3_table(num_feat=64, num_conv=16, upscale=4):
    """Key/shape list of realesr-animevideov3.pth (params), written out from the published layout."""
    table = [["body.0.weight", [num_feat, 3, 3, 3]], ["body.0.bias", [num_feat]], ["body.1.weight", [num_feat]]]
    for i in range(num_conv):
        c = 2 + 2 * i
        table += [[f"body.{c}.weight", [num_feat, num_feat, 3, 3]], [f"body.{c}.bias", [num_feat]],
                  [f"body.{c + 1}.weight", [num_feat]]]
    last = 2 + 2 * num_conv
    table += [[f"body.{last}.weight", [3 * upscale ** 2, num_feat, 3, 3]], [f"body.{last}.bias", [3 * upscale ** 2]]]
    return table


def _reference_forward(sd, x, num_conv, upscale, out_scale=None):
    """Plain functional SRVGG forward (conv, PReLU, ..., conv, pixel shuffle, + nearest input)."""
    out = x
    for i in range(num_conv + 2):
        out = F.conv2d(out, sd[f"body.{2 * i}.weight"], sd[f"body.{2 * i}.bias"], padding=1)
        if i < num_conv + 1:
            out = F.prelu(out, sd[f"body.{2 * i + 1}.weight"])
    out = F.pixel_shuffle(out, upscale) + F.interpolate(x, scale_factor=upscale, mode="nearest")
    if out_scale:
        out = F.interpolate(out, size=(x.shape[2] * out_scale, x.shape[3] * out_scale), mode="bicubic",
                            align_corners=False)
    return out


def test_full_size_keys_match_official_layout():
    with torch.device("meta"):
        net = srvgg.build()
    got = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert got == _official_animevideov3_table()
    sd = {k: torch.empty(s, device="meta") for k, s in _official_animevideov3_table()}
    assert srvgg.detect(sd) == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 64, "num_conv": 16, "upscale": 4,
                                "act_type": "prelu"}


@pytest.mark.parametrize("num_conv,upscale", [(2, 4), (3, 2)])
def test_forward_matches_reference_and_loads_from_params(tmp_path, num_conv, upscale):
    torch.manual_seed(1)
    net = srvgg.build(num_feat=8, num_conv=num_conv, upscale=upscale)
    for p in net.parameters():  # make the PReLU slopes non-trivial too
        p.data.normal_(0, 0.3)
    path = tmp_path / "realesr-animevideov3.pth"
    torch.save({"params": net.state_dict()}, path)
    loaded, desc = ganstudio.load_model(path)
    assert desc.family == "srvgg"
    assert desc.hparams == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": num_conv,
                            "upscale": upscale, "act_type": "prelu"}
    x = torch.rand(2, 3, 7, 9)
    with torch.inference_mode():
        out = loaded(x)
    assert out.shape == (2, 3, 7 * upscale, 9 * upscale)
    ref = _reference_forward(net.state_dict(), x, num_conv, upscale)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_out_scale_round_trips_through_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(2)
    net = srvgg.build(num_feat=8, num_conv=1, upscale=4, out_scale=3)
    assert net.scale == 3 and "out_scale" in net.state_dict()
    path = tmp_path / "x3.safetensors"
    save_file(net.state_dict(), str(path))
    loaded, desc = ganstudio.load_model(path)
    assert desc.hparams["out_scale"] == 3 and loaded.scale == 3
    x = torch.rand(1, 3, 6, 5)
    with torch.inference_mode():
        out = loaded(x)
    assert out.shape == (1, 3, 18, 15)
    torch.testing.assert_close(out, _reference_forward(net.state_dict(), x, 1, 4, out_scale=3), atol=1e-5, rtol=0)


def test_no_out_scale_buffer_when_equal_to_upscale():
    assert "out_scale" not in srvgg.build(num_feat=4, num_conv=1, upscale=4, out_scale=4).state_dict()


def test_detect_refuses_other_layouts():
    assert srvgg.detect({"conv_first.weight": torch.zeros(4, 3, 3, 3)}) is None
    # an RRDBNet-like body with sub-modules is not SRVGG
    assert srvgg.detect({"body.0.weight": torch.zeros(4, 3, 3, 3), "body.0.rdb1.conv1.weight": torch.zeros(1)}) is None
    # parameter-free activations cannot be recognised from the keys
    net = srvgg.build(num_feat=4, num_conv=1, act_type="relu")
    assert srvgg.detect(net.state_dict()) is None


def test_channels_last_and_autocast_cpu():
    torch.manual_seed(3)
    net = srvgg.build(num_feat=8, num_conv=2).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        ref = net(x)
        cl = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x)
    torch.testing.assert_close(cl, ref, atol=1e-5, rtol=0)
    assert (low.float() - ref).abs().max() < 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fp16_autocast():
    torch.manual_seed(3)
    net = srvgg.build(num_feat=8, num_conv=2).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        ref = net(x)
        net = net.cuda()
        with torch.autocast("cuda", dtype=torch.float16):
            out = net(x.cuda())
    assert (out.float().cpu() - ref).abs().max() < 0.05
