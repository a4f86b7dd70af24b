"""`ganstudio synth`: the CLI output equals the SPADE network applied directly."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from ganstudio.cli import main
from ganstudio.core import palettes
from ganstudio.nets import spade


def _model(tmp_path, label_nc=4):
    torch.manual_seed(3)
    net = spade.SPADEGenerator(label_nc + 1, ngf=2, label_nc=label_nc, contain_dontcare_label=True, crop_size=64)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 1.5)
    net.eval()
    path = tmp_path / "latest_net_G.pth"
    torch.save(net.state_dict(), path)
    (tmp_path / "latest_net_G.pth.json").write_text(json.dumps({"label_nc": label_nc, "crop_size": 64}))
    return path, net


def _expected(net, ids, label_nc=4):
    t = torch.from_numpy(ids.astype(np.int64))
    t = torch.where(t == 255, torch.full_like(t, label_nc), t)
    seg = torch.nn.functional.one_hot(t, label_nc + 1).permute(2, 0, 1)[None].float()
    with torch.inference_mode():  # NHWC on the CPU, as the engine runs it (same maths, same kernels)
        net = net.to(memory_format=torch.channels_last)
        out = net(seg.contiguous(memory_format=torch.channels_last))[0].permute(1, 2, 0).numpy()
    return np.clip((out + 1) / 2 * 255, 0, 255).astype(np.uint8)


def _maps():
    a = np.zeros((64, 64), np.uint8)
    a[10:40, 5:50] = 2
    a[45:, :] = 3
    b = np.ones((64, 64), np.uint8)
    b[:, 30:] = 255
    return a, b


def test_cli_synth_files_and_folder(tmp_path, capsys):
    path, net = _model(tmp_path)
    a, b = _maps()
    maps = tmp_path / "maps"
    maps.mkdir()
    Image.fromarray(a, mode="L").save(maps / "a.png")
    Image.fromarray(b, mode="L").save(maps / "b.png")
    out = tmp_path / "out"
    assert main(["synth", str(maps), "-o", str(out), "--model", str(path), "--seed", "5"]) == 0
    np.testing.assert_array_equal(np.array(Image.open(out / "a.png")), _expected(net, a))
    np.testing.assert_array_equal(np.array(Image.open(out / "b.png")), _expected(net, b))
    assert str(out / "a.png") in capsys.readouterr().out

    # one colour-coded file to a named output, through a generic palette of the model's 4 labels
    pal = palettes.generic_palette(4)
    Image.fromarray(pal.colorize(a)).save(tmp_path / "colour.png")
    single = tmp_path / "single.png"
    assert main(["synth", str(tmp_path / "colour.png"), "-o", str(single), "--model", str(path)]) == 0
    np.testing.assert_array_equal(np.array(Image.open(single)), _expected(net, a))


def test_cli_synth_reports_bad_maps(tmp_path, capsys):
    path, _ = _model(tmp_path)
    bad = np.full((64, 64), 9, np.uint8)
    Image.fromarray(bad, mode="L").save(tmp_path / "bad.png")
    assert main(["synth", str(tmp_path / "bad.png"), "-o", str(tmp_path / "o"), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "9 (4096 px)" in err
    assert main(["synth", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"), "--model", str(path)]) == 2
    assert main(["synth", str(tmp_path / "bad.png"), "-o", "o", "--model", str(path), "--size", "x"]) == 2
