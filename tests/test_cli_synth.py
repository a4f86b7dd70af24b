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
    # fp32: the exact network ("auto" picks bf16 on a CPU with AMX units)
    assert main(["synth", str(maps), "-o", str(out), "--model", str(path), "--seed", "5", "--precision", "fp32"]) == 0
    np.testing.assert_array_equal(np.array(Image.open(out / "a.png")), _expected(net, a))
    np.testing.assert_array_equal(np.array(Image.open(out / "b.png")), _expected(net, b))
    assert f"2 written, 0 skipped (already done), 0 failed -> {out}" in capsys.readouterr().out
    # a re-run skips what is done (the batch rule of every command)
    assert main(["synth", str(maps), "-o", str(out), "--model", str(path)]) == 0
    assert "0 written, 2 skipped" in capsys.readouterr().out

    # one colour-coded file to a named output, through a generic palette of the model's 4 labels
    pal = palettes.generic_palette(4)
    Image.fromarray(pal.colorize(a)).save(tmp_path / "colour.png")
    single = tmp_path / "single.png"
    assert main(["synth", str(tmp_path / "colour.png"), "-o", str(single), "--model", str(path),
                 "--precision", "fp32"]) == 0
    np.testing.assert_array_equal(np.array(Image.open(single)), _expected(net, a))
    assert capsys.readouterr().out.strip() == f"wrote {single}"


def test_cli_synth_reports_bad_maps(tmp_path, capsys):
    path, _ = _model(tmp_path)
    bad = np.full((64, 64), 9, np.uint8)
    Image.fromarray(bad, mode="L").save(tmp_path / "bad.png")
    assert main(["synth", str(tmp_path / "bad.png"), "-o", str(tmp_path / "o"), "--model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "9 (4096 px)" in err
    assert main(["synth", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"), "--model", str(path)]) == 2
    assert main(["synth", str(tmp_path / "bad.png"), "-o", "o", "--model", str(path), "--size", "x"]) == 2


def test_cli_synth_device_defaults_to_auto_and_a_missing_device_is_refused(tmp_path, capsys, monkeypatch):
    """Like every command: --device auto by default (it was cpu), and --device cuda without CUDA says so."""
    from ganstudio.cli import build_parser
    from ganstudio.commands.common import EXIT_REFUSED

    args = build_parser().parse_args(["synth", "m.png", "-o", "o", "-m", "x.pth"])
    assert (args.device, args.precision) == ("auto", "auto")
    path, _ = _model(tmp_path)
    Image.fromarray(_maps()[0], mode="L").save(tmp_path / "m.png")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rc = main(["synth", str(tmp_path / "m.png"), "-o", str(tmp_path / "o"), "-m", str(path), "--device", "cuda"])
    assert rc == EXIT_REFUSED
    assert "CUDA is not available" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
