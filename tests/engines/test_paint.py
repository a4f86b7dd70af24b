"""Paint engine: rendering label maps with small seeded SPADE generators; label-map import / export."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core import palettes
from ganstudio.core.progress import CancelToken, Progress
from ganstudio.engines import paint
from ganstudio.nets import spade


def render(*args, **kwargs):
    """The engine's render in fp32: exact comparisons with the network (precision "auto", the default, picks
    bf16 on a CPU with AMX units)."""
    kwargs.setdefault("precision", "fp32")
    return paint.render(*args, **kwargs)


def make_model(tmp_path, *, label_nc=3, dontcare=True, instance=True, ngf=2, crop=64, seed=0, sidecar=True,
               name="small_G.pth"):
    """A small seeded SPADE generator saved as an official-style plain state dict (+ our JSON metadata)."""
    torch.manual_seed(seed)
    semantic_nc = label_nc + int(dontcare) + int(instance)
    net = spade.SPADEGenerator(semantic_nc, ngf=ngf, label_nc=label_nc, contain_dontcare_label=dontcare,
                               use_instance=instance, crop_size=crop)
    with torch.no_grad():  # non-trivial running statistics, as a trained model has
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    net.eval()
    path = tmp_path / name
    torch.save(net.state_dict(), path)
    if sidecar:
        (tmp_path / (name + ".json")).write_text(json.dumps(
            {"label_nc": label_nc, "contain_dontcare_label": dontcare, "use_instance": instance,
             "crop_size": crop}))
    return path, net


def blobs(h=64, w=64, n=3, seed=1):
    rng = np.random.default_rng(seed)
    lm = np.zeros((h, w), np.uint8)
    for k in range(1, n):
        y, x = rng.integers(0, h - 16), rng.integers(0, w - 16)
        lm[y:y + rng.integers(8, 24), x:x + rng.integers(8, 24)] = k
    return lm


def direct(net, lm, inst=None, label_nc=3, dontcare=True, instance=True):
    """The network applied directly, with the official pre/post-processing written out here."""
    ids = torch.from_numpy(lm.astype(np.int64))
    ids = torch.where(ids == 255, torch.full_like(ids, label_nc), ids) if dontcare else ids
    seg = torch.nn.functional.one_hot(ids, label_nc + int(dontcare)).permute(2, 0, 1)[None].float()
    if instance:
        t = torch.from_numpy((lm if inst is None else inst).astype(np.int64))
        e = torch.zeros_like(t, dtype=torch.bool)
        e[:, 1:] |= t[:, 1:] != t[:, :-1]
        e[:, :-1] |= t[:, 1:] != t[:, :-1]
        e[1:, :] |= t[1:, :] != t[:-1, :]
        e[:-1, :] |= t[1:, :] != t[:-1, :]
        seg = torch.cat([seg, e[None, None].float()], 1)
    with torch.inference_mode():  # NHWC on the CPU, as the engine runs it (same maths, same kernels)
        net = net.to(memory_format=torch.channels_last)
        out = net(seg.contiguous(memory_format=torch.channels_last))
    return np.clip((out[0].permute(1, 2, 0).numpy() + 1) / 2 * 255, 0, 255).astype(np.uint8)


def test_render_equals_network_applied_directly(tmp_path):
    path, net = make_model(tmp_path)
    lm = blobs()
    lm[:4, :4] = 255  # dontcare pixels go to the dontcare channel
    got = render(lm, None, model=str(path), seed=0)
    assert got.shape == (64, 64, 3) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, direct(net, lm))
    # an explicit instance map changes only the edge channel
    inst = np.zeros_like(lm, dtype=np.int64)
    inst[:, 32:] = 7
    np.testing.assert_array_equal(render(lm, inst, model=str(path)), direct(net, lm, inst))
    assert not np.array_equal(direct(net, lm, inst), direct(net, lm))


def test_sizes_native_full_and_more_override(tmp_path):
    path, _ = make_model(tmp_path)
    lm = blobs(100, 70)
    assert render(lm, model=str(path)).shape == (64, 64, 3)  # native: crop 64
    assert render(lm, model=str(path), size="full").shape == (96, 64, 3)
    out = render(lm, model=str(path), overrides={"num_upsampling_layers": "more", "crop_size": 128,
                                                       "aspect_ratio": 2.0})
    assert out.shape == (64, 128, 3)


def test_describe_model_reads_sidecar_and_detects_without_it(tmp_path):
    path, _ = make_model(tmp_path)
    d = paint.describe_model(str(path))
    assert (d["label_nc"], d["contain_dontcare_label"], d["use_instance"]) == (3, True, True)
    assert len(d["label_colors"]) >= 3 and d["native_size"] == (64, 64)
    bare, _ = make_model(tmp_path, sidecar=False, name="bare.pth")
    d = paint.describe_model(str(bare))
    assert (d["label_nc"], d["use_instance"]) == (5, False)  # only the channel count is known
    d = paint.describe_model(str(bare), overrides={"label_nc": 3})
    assert (d["contain_dontcare_label"], d["use_instance"]) == (True, True)


def test_dontcare_refused_without_a_slot_and_bad_ids(tmp_path):
    path, _ = make_model(tmp_path, dontcare=False, instance=False, label_nc=4, name="nodc.pth")
    lm = blobs()
    lm[0, 0] = 255
    with pytest.raises(palettes.LabelMapError, match="dontcare"):
        render(lm, model=str(path))
    lm[0, 0] = 9
    with pytest.raises(palettes.LabelMapError, match="out of range"):
        render(lm, model=str(path))


# ------------------------------------------------------------------------------------------ palettes
def test_builtin_palettes_sizes_and_known_colours():
    ade = palettes.load_palette("ade20k")
    coco = palettes.load_palette("coco_stuff")
    city = palettes.load_palette("cityscapes")
    assert len(ade) == 151 and len(coco) == 182 and len(city) == 35
    assert ade.names[3] == "sky" and ade.color_of(3) == (6, 230, 230)  # PNG value 3 = sky (SPEC §4)
    assert city.names[7] == "road" and city.color_of(7) == (128, 64, 128)
    assert city.names[26] == "car" and city.color_of(26) == (0, 0, 142)
    assert coco.names[0] == "person" and coco.names[181] == "wood" and coco.names[156] == "sky-other"
    assert palettes.palette_for(150).key == "ade20k" and palettes.palette_for(35).key == "cityscapes"
    assert len(palettes.palette_for(7)) == 7


def test_import_colour_coded_maps_colours(tmp_path):
    ade = palettes.load_palette("ade20k")
    ids = np.array([[0, 3, 3, 150], [5, 5, 21, 150]], np.uint8)
    rgb = np.zeros((2, 4, 3), np.uint8)
    for i in np.unique(ids):
        rgb[ids == i] = ade.color_of(int(i))  # written out here, not by the code under test
    Image.fromarray(rgb).save(tmp_path / "map.png")
    imp = palettes.read_label_map(tmp_path / "map.png", ade)
    assert imp.kind == "colour" and not imp.messages
    np.testing.assert_array_equal(imp.label_map, ids)

    rgb[0, 0] = (1, 2, 3)  # a colour that is in no palette entry
    Image.fromarray(rgb).save(tmp_path / "odd.png")
    with pytest.raises(palettes.LabelMapError, match="#010203"):
        palettes.read_label_map(tmp_path / "odd.png", ade)
    imp = palettes.read_label_map(tmp_path / "odd.png", ade, unknown="nearest")
    assert imp.label_map[0, 0] == 0 and "nearest" in imp.messages[0]  # (1,2,3) is nearest to black


def test_import_indexed_rejects_bad_indices_with_a_message(tmp_path):
    city = palettes.load_palette("cityscapes")
    ids = np.full((8, 8), 7, np.uint8)
    ids[2, 2] = 40
    im = Image.fromarray(ids, mode="P")
    im.putpalette(city.png_palette())
    im.save(tmp_path / "bad.png")
    with pytest.raises(palettes.LabelMapError) as err:
        palettes.read_label_map(tmp_path / "bad.png", city, allow_dontcare=False)
    assert "40 (1 px)" in str(err.value) and "0..34" in str(err.value)
    ids[2, 2] = 26
    Image.fromarray(ids, mode="L").save(tmp_path / "good.png")
    np.testing.assert_array_equal(palettes.read_label_map(tmp_path / "good.png", city).label_map, ids)


def test_export_indexed_png_with_palette_round_trips(tmp_path):
    coco = palettes.load_palette("coco_stuff")
    ids = blobs(32, 32, n=5)
    ids[0, 0] = 156
    palettes.write_label_map(tmp_path / "out.png", ids, coco)
    with Image.open(tmp_path / "out.png") as im:
        assert im.mode == "P"
        np.testing.assert_array_equal(np.array(im), ids)
        assert tuple(np.array(im.convert("RGB"))[0, 0]) == (95, 219, 255)  # sky-other's colour is in the file
    back = palettes.read_label_map(tmp_path / "out.png", coco)
    np.testing.assert_array_equal(back.label_map, ids)


def test_photo_to_label_map_by_nearest_palette_colour():
    city = palettes.load_palette("cityscapes")
    truth = np.array([[23, 23, 21], [7, 7, 26]], np.uint8)  # sky, vegetation, road, car
    photo = city.colorize(truth).astype(np.int16) + np.array([[[5, -4, 3]]], np.int16)
    photo = np.clip(photo, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(palettes.photo_to_label_map(photo, city), truth)


# ------------------------------------------------------------------------------------------- batch
def test_synth_generator_folder(tmp_path):
    path, net = make_model(tmp_path)
    src = tmp_path / "maps"
    (src / "sub").mkdir(parents=True)
    a, b = blobs(seed=1), blobs(seed=2)
    Image.fromarray(a, mode="L").save(src / "a.png")
    Image.fromarray(b, mode="L").save(src / "sub" / "b.png")
    bad = a.copy()
    bad[0, 0] = 77
    Image.fromarray(bad, mode="L").save(src / "c_bad.png")
    gen = paint.synth([src], tmp_path / "out", model=str(path), precision="fp32", cancel=CancelToken())
    reports = []
    while True:
        try:
            reports.append(next(gen))
        except StopIteration as stop:
            report = stop.value
            break
    assert all(isinstance(p, Progress) for p in reports)
    assert reports[-1].done == reports[-1].total == 3
    written = sorted(Path(d["output"]).relative_to(tmp_path / "out").as_posix() for d in report.done)
    assert written == ["a.png", "sub/b.png"]
    assert [Path(f["input"]).name for f in report.failed] == ["c_bad.png"] and "77" in report.failed[0]["reason"]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "out" / "sub" / "b.png")), direct(net, b))


def test_synth_reports_progress_inside_a_map_and_never_writes_the_model(tmp_path, monkeypatch):
    """Progress from the watched SPADE layers arrives between the per-file reports (issue 15.3), as a
    fraction of the file in the batch's units; an output that would land on the model file is refused."""
    path, _ = make_model(tmp_path)
    src = tmp_path / "maps"
    src.mkdir()
    for i in range(2):
        Image.fromarray(blobs(seed=i), mode="L").save(src / f"m{i}.png")
    monkeypatch.setattr(paint, "PROGRESS_EVERY_S", 0.0)  # every layer reports: no dependence on speed
    tok = CancelToken()
    inner = []
    tok.set_listener(inner.append)
    from ganstudio.core.progress import run_to_completion

    report = run_to_completion(paint.synth([src], tmp_path / "out", model=str(path), cancel=tok))
    assert len(report.done) == 2
    assert inner and all(p.total == 2 for p in inner)
    assert any(0 < p.done < 1 for p in inner) and any(1 < p.done < 2 for p in inner)
    assert all(a.done <= b.done for a, b in zip(inner, inner[1:]))
    assert "map 2/2 m1.png" in inner[-1].message
    # the model file as a planned output (a map named like it, written into the model's folder): refused
    Image.fromarray(blobs(), mode="L").save(tmp_path / "maps2.png")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="model file itself"):
        run_to_completion(paint.synth([tmp_path / "maps2.png"], path, model=str(path)))
    assert path.read_bytes() == before


def test_synth_cancel(tmp_path):
    path, _ = make_model(tmp_path)
    Image.fromarray(blobs(), mode="L").save(tmp_path / "a.png")
    tok = CancelToken()
    gen = paint.synth([tmp_path / "a.png"], tmp_path / "out", model=str(path), cancel=tok)
    next(gen)
    tok.cancel()
    from ganstudio.core.progress import Cancelled

    with pytest.raises(Cancelled):
        next(gen)


def test_seed_drives_vae_models_only(tmp_path):
    torch.manual_seed(4)
    vae = spade.SPADEGenerator(4, ngf=2, nhidden=8, use_vae=True, z_dim=8, crop_size=64).eval()
    sd = vae.state_dict()
    assert sd["fc.weight"].shape == (16 * 2 * 2 * 2, 8)  # Linear(z_dim -> 16·ngf·sh·sw)
    torch.save(sd, tmp_path / "vae.pth")
    d = paint.describe_model(str(tmp_path / "vae.pth"))
    assert d["use_vae"] and d["native_size"] == (64, 64)
    lm = blobs(n=4)
    a1 = render(lm, model=str(tmp_path / "vae.pth"), seed=1)
    assert np.array_equal(a1, render(lm, model=str(tmp_path / "vae.pth"), seed=1))
    assert not np.array_equal(a1, render(lm, model=str(tmp_path / "vae.pth"), seed=2))
    path, _ = make_model(tmp_path)  # the public kind: deterministic, the seed changes nothing
    np.testing.assert_array_equal(render(blobs(), model=str(path), seed=1),
                                  render(blobs(), model=str(path), seed=2))


def test_live_preview_is_the_network_on_a_nearest_downsampled_map(tmp_path):
    """The panel's live preview: size "fit", scale 0.5 -> half each side, the ids downsampled with nearest
    (PIL NEAREST on a 2x reduction takes the odd rows/columns), then the same network."""
    path, net = make_model(tmp_path)
    lm = blobs()
    lm[:4, :4] = 255
    got = render(lm, model=str(path), size="fit", scale=0.5)
    assert got.shape == (32, 32, 3)
    small = lm[1::2, 1::2]
    assert set(np.unique(small)) <= set(np.unique(lm))  # categorical: no blended ids
    np.testing.assert_array_equal(got, direct(net, small))
    # full resolution ("fit", scale 1) of a native-size map is the native render, the CLI's size
    np.testing.assert_array_equal(render(lm, model=str(path), size="fit"), direct(net, lm))


def test_render_sizes_fit_and_scale(tmp_path):
    path, _ = make_model(tmp_path)
    _, info = paint.load_paint_model(str(path))
    assert paint.render_size((64, 64), info, "fit", 0.5) == (32, 32)
    assert paint.render_size((256, 256), info, "fit") == (64, 64)  # never more pixels than native 64×64
    assert paint.render_size((256, 256), info, "fit", 0.5) == (32, 32)
    # aspect kept at the native pixel count: 64×128 -> 45.3×90.5 -> each side to the multiple 32
    assert paint.render_size((64, 128), info, "fit") == (32, 96)
    assert paint.render_size((40, 40), info, "fit") == (32, 32)  # never upscaled past the map
    assert paint.render_size((20, 20), info, "fit", 0.5) == (32, 32)  # at least one multiple (32)
    assert paint.render_size((100, 70), info, "full") == (96, 64)
    assert render(blobs(64, 128), model=str(path), size="fit", scale=0.5).shape == (32, 32, 3)


def test_render_cancel_stops_within_a_block_and_hooks_are_installed_once(tmp_path):
    from ganstudio.checkpoints.cache import get_model
    from ganstudio.core.progress import Cancelled

    path, _ = make_model(tmp_path)
    render(blobs(), model=str(path))  # cached module
    net, _ = get_model(str(path), device="cpu", family="spade")
    hooks = sum(len(m._forward_pre_hooks) for m in net.modules())
    tok = CancelToken()
    ran = []

    def after_norm(*_args):  # returns None: the layer's output is kept
        ran.append("head_0.norm_0")
        tok.cancel()

    h1 = net.head_0.norm_0.register_forward_hook(after_norm)
    h2 = net.head_0.conv_0.register_forward_hook(lambda *_: ran.append("head_0.conv_0"))
    try:
        with pytest.raises(Cancelled):
            render(blobs(), model=str(path), cancel=tok)
    finally:
        h1.remove()
        h2.remove()
    assert ran == ["head_0.norm_0"]  # cancelled inside the first block: its next layer never ran
    render(blobs(), model=str(path), cancel=CancelToken())  # the module still renders
    # the watch hooks are the shared module's, installed once: before, every render added and removed its own
    # hooks on the shared module, so a render in another thread ran this job's cancel checks
    assert hooks > 0 and sum(len(m._forward_pre_hooks) for m in net.modules()) == hooks


def test_render_reports_the_fraction_of_the_forward(tmp_path, monkeypatch):
    path, _ = make_model(tmp_path)
    monkeypatch.setattr(paint, "PROGRESS_EVERY_S", 0.0)
    tok = CancelToken()
    seen = []
    tok.set_listener(seen.append)
    render(blobs(), model=str(path), cancel=tok)
    fractions = [p.done / p.total for p in seen]
    assert len(fractions) > 10 and all(0 < f < 1 for f in fractions)
    assert fractions == sorted(fractions) and fractions[-1] > 0.9
    got = []
    render(blobs(), model=str(path), cancel=CancelToken(), progress=got.append)  # a caller's own callback
    assert got == fractions


def test_render_never_changes_the_shared_module(tmp_path):
    """The cache hands out shared read-only modules: an override of the upsampling mode and the NHWC layout
    must not change the cached module (before: set_upsampling and .to(channels_last) changed it in place)."""
    from ganstudio.checkpoints.cache import get_model

    path, net0 = make_model(tmp_path)
    render(blobs(), model=str(path))
    net, _ = get_model(str(path), device="cpu", family="spade")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    hparams = (net.num_upsampling_layers, net.crop_size, net.aspect_ratio)
    out = render(blobs(100, 70), model=str(path), overrides={"num_upsampling_layers": "more", "crop_size": 128,
                                                             "aspect_ratio": 2.0})
    assert out.shape == (64, 128, 3)
    assert (net.num_upsampling_layers, net.crop_size, net.aspect_ratio) == hparams
    assert all(p.is_contiguous() for p in net.parameters())  # still NCHW: never converted in place
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    np.testing.assert_array_equal(render(blobs(), model=str(path)), direct(net0, blobs()))


def test_device_and_precision_reach_the_runtime(tmp_path, monkeypatch):
    import ganstudio.runtime as runtime

    path, _ = make_model(tmp_path)
    asked = []

    def spy(device="auto", precision="auto", strict=False):
        asked.append((str(device), precision))
        return runtime.resolve_runtime("cpu", "fp32")

    monkeypatch.setattr(paint, "resolve_runtime", spy)
    paint.render(blobs(), model=str(path))
    paint.render(blobs(), model=str(path), device="cuda:0", precision="bf16")
    assert asked[0] == ("auto", "auto") and ("cuda:0", "bf16") in asked
