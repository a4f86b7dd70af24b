"""Stylize engine: batch folders (bad files, resume, read-only input), single image, official mode, tiling."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.progress import CancelToken, Cancelled, run_to_completion
from ganstudio.engines import stylize as st
from ganstudio.nets import cyclegan as cg


# ------------------------------------------------------------------------------------------ helpers


def _tiny_resnet(seed=0, ngf=4, n_blocks=2):
    torch.manual_seed(seed)
    net = cg.ResnetGenerator(ngf=ngf, n_blocks=n_blocks).eval()
    with torch.no_grad():  # give the (zero-initialised-looking) biases some life so outputs vary
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return net


@pytest.fixture
def model_file(tmp_path):
    net = _tiny_resnet()
    path = tmp_path / "myexp" / "latest_net_G_A.pth"  # a training folder: the name is the folder
    path.parent.mkdir()
    torch.save(net.state_dict(), path)
    return path, net


def _expected(net, rgb01: np.ndarray) -> np.ndarray:
    """The network applied directly, written out independently of the engine's helpers."""
    x = torch.from_numpy(rgb01.astype(np.float32)).permute(2, 0, 1)[None] * 2 - 1
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
    with torch.no_grad():
        y = net(x)[0, :, :h, :w]
    return np.clip(np.rint((y.permute(1, 2, 0).numpy() + 1) / 2 * 255), 0, 255).astype(np.uint8)


def _close(a: np.ndarray, b: np.ndarray):
    """Equal up to a one-level rounding flip on a few pixels (batched vs single float sums)."""
    assert a.shape == b.shape
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 1
    assert (diff > 0).mean() < 0.01


def _tree_digest(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def _rng_image(h, w, c=3, seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    hi = 65535 if dtype == np.uint16 else 255
    base = rng.integers(0, hi, (h // 4 + 1, w // 4 + 1, c)).astype(np.float32)
    img = cv2.resize(base, (w, h), interpolation=cv2.INTER_LINEAR)  # smooth, photo-like
    return np.clip(img, 0, hi).astype(dtype)


@pytest.fixture
def mixed_folder(tmp_path):
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    good = {}
    for i, (h, w) in enumerate([(36, 52), (36, 52), (40, 40)]):
        p = root / f"photo{i}.png"
        Image.fromarray(_rng_image(h, w, seed=i)).save(p)
        good[p] = np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
    p = root / "sub" / "café_Ünïcode 写真.png"
    Image.fromarray(_rng_image(30, 26, seed=7)).save(p)
    good[p] = np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
    p16 = root / "sub" / "deep16.png"
    a16 = _rng_image(28, 44, seed=8, dtype=np.uint16)
    assert cv2.imwrite(str(p16), a16[..., ::-1].copy())
    good[p16] = a16.astype(np.float32) / 65535
    pc = root / "sub" / "deeper" / "cmyk.jpg"
    Image.fromarray(_rng_image(32, 32, c=4, seed=9), "CMYK").save(pc, quality=95)
    good[pc] = np.asarray(Image.open(pc).convert("RGB"), np.float32) / 255
    # bad files
    buf = io.BytesIO()
    Image.fromarray(_rng_image(64, 64, seed=3)).save(buf, format="PNG")
    (root / "truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (root / "sub" / "notes.jpg").write_text("this is a text file, not a JPEG\n", encoding="utf-8")
    (root / "readme.txt").write_text("not an image suffix: ignored\n", encoding="utf-8")
    bad = {root / "truncated.png", root / "sub" / "notes.jpg"}
    return root, good, bad


# -------------------------------------------------------------------------------------------- batch


def test_folder_writes_good_reports_bad_and_never_touches_input(tmp_path, mixed_folder, model_file):
    root, good, bad = mixed_folder
    model, net = model_file
    before = _tree_digest(root)
    out = tmp_path / "out"
    messages = []
    report = run_to_completion(
        st.stylize_folder(CancelToken(), root, out, model, device="cpu", batch_size=2, workers=2),
        messages.append)
    assert _tree_digest(root) == before  # input folder byte-for-byte unchanged, nothing added

    assert {Path(p) for p, _ in report.failed} == bad
    assert all(reason for _, reason in report.failed)
    assert len(report.written) == len(good) and not report.skipped
    for src, rgb in good.items():
        dst = out / src.relative_to(root).parent / f"{src.stem}_myexp.png"  # same tree, pattern
        assert dst.is_file(), dst
        got = np.asarray(Image.open(dst))
        assert got.dtype == np.uint8 and got.shape[:2] == rgb.shape[:2]
        _close(got[..., :3], _expected(net, rgb))
    assert not (out / "readme_myexp.png").exists()
    # progress: ETA in the messages, output paths and thumbnails for the GUI grid
    with_out = [m for m in messages if m.extra.get("output") and m.extra.get("thumb") is not None]
    assert len(with_out) == len(good)
    assert all("ETA" in m.message for m in with_out)
    assert all(m.extra["thumb"].dtype == np.uint8 and max(m.extra["thumb"].shape[:2]) <= 128 for m in with_out)
    assert "2 failed" in report.summary() and "truncated.png" in report.summary()


def test_cancel_half_way_then_resume_does_not_redo(tmp_path, model_file):
    model, _net = model_file
    root = tmp_path / "in"
    root.mkdir()
    for i in range(8):
        Image.fromarray(_rng_image(24, 24, seed=i)).save(root / f"img{i:02d}.png")
    out = tmp_path / "out"
    token = CancelToken()
    gen = st.stylize_folder(token, root, out, model, device="cpu", batch_size=2, workers=1)
    written = 0
    with pytest.raises(Cancelled):
        for p in gen:
            if p.extra.get("output") and p.extra.get("thumb") is not None:
                written += 1
                if written == 3:
                    token.cancel()
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert 3 <= len(first) < 8  # in-flight writes may finish, the rest was not done
    assert not list(out.rglob("*.tmp"))  # no half-written files
    report = run_to_completion(st.stylize_folder(CancelToken(), root, out, model, device="cpu"))
    assert len(report.skipped) == len(first)
    assert len(report.written) == 8 - len(first)
    assert {p: p.stat().st_mtime_ns for p in first} == first  # done files were not rewritten
    assert len(list(out.rglob("*.png"))) == 8


def test_output_pattern_format_and_refusals(tmp_path, model_file):
    model, _ = model_file
    root = tmp_path / "in"
    root.mkdir()
    Image.fromarray(_rng_image(20, 20)).save(root / "a.png")
    out = tmp_path / "o"
    report = run_to_completion(st.stylize_folder(CancelToken(), root, out, model, device="cpu",
                                                 pattern="{model}-{direction}-{stem}", fmt="jpg"))
    assert [Path(o).name for _, o in report.written] == ["myexp-AtoB-a.jpg"]
    with pytest.raises(ValueError, match="outside the input"):
        run_to_completion(st.stylize_folder(CancelToken(), root, root / "out", model, device="cpu"))


def test_both_directions_from_a_training_pair(tmp_path, model_file):
    model, net_a = model_file
    net_b = _tiny_resnet(seed=5)
    model_b = model.with_name("latest_net_G_B.pth")
    torch.save(net_b.state_dict(), model_b)
    assert st.resolve_model(model, "BtoA")[0] == model_b
    assert st.resolve_model(model_b, "AtoB")[0] == model
    img_path = tmp_path / "x.png"
    Image.fromarray(_rng_image(24, 28, seed=3)).save(img_path)
    rgb = np.asarray(Image.open(img_path).convert("RGB"), np.float32) / 255
    res = run_to_completion(st.stylize_image(CancelToken(), img_path, model, direction="BtoA", device="cpu"))
    _close(res["image"], _expected(net_b, rgb))


# ---------------------------------------------------------------------------------------- single image


def test_single_image_equals_network_and_keeps_alpha(tmp_path, model_file):
    model, net = model_file
    rgba = _rng_image(34, 50, c=4, seed=11)
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    progress = []
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, device="cpu", preview_size=20),
                            progress.append)
    img = res["image"]
    assert img.shape == (34, 50, 4)
    np.testing.assert_array_equal(img[..., 3], rgba[..., 3])
    _close(img[..., :3], _expected(net, rgba[..., :3].astype(np.float32) / 255))  # channels_last: float noise
    previews = [q.preview for q in progress if q.preview is not None]
    assert previews[0].shape[:2] == (14, 20)  # quick preview at the asked size first
    assert previews[-1].shape[:2] == (34, 50)


def test_exif_orientation_respected(tmp_path, model_file):
    model, net = model_file
    arr = _rng_image(20, 36, seed=4)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    p = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(p, exif=exif.tobytes(), quality=98)
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, device="cpu", preview_size=None))
    assert res["image"].shape[:2] == (36, 20)


def test_official_mode_matches_test_py(tmp_path, model_file):
    model, net = model_file
    arr = _rng_image(50, 70, seed=2)
    p = tmp_path / "o.png"
    Image.fromarray(arr).save(p)
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, official=True, device="cpu"))
    resized = np.asarray(Image.fromarray(arr).resize((256, 256), Image.BICUBIC), np.float32) / 255
    x = torch.from_numpy(resized).permute(2, 0, 1)[None] * 2 - 1
    with torch.no_grad():
        y = net(x)[0].permute(1, 2, 0).numpy()
    expected = ((y + 1) / 2 * 255).astype(np.uint8)  # test.py truncates
    assert res["image"].shape == (256, 256, 3)
    assert np.abs(res["image"].astype(int) - expected.astype(int)).max() <= 1
    assert (res["image"] != expected).mean() < 0.01


def test_large_image_is_tiled_and_close_to_whole(tmp_path, model_file):
    model, net = model_file
    arr = _rng_image(160, 200, seed=6)
    p = tmp_path / "big.png"
    Image.fromarray(arr).save(p)
    progress = []
    res = run_to_completion(
        st.stylize_image(CancelToken(), p, model, device="cpu", preview_size=None, tile_pixels=64 * 64,
                         overlap=32),
        progress.append)
    # really tiled: 3 x 4 tiles of 64 (+ context), twice (InstanceNorm statistics pass, then the output pass)
    assert any("tile 24/24" in q.message for q in progress)
    whole = _expected(net, arr.astype(np.float32) / 255)
    assert res["image"].shape == whole.shape
    # with image-wide InstanceNorm statistics the tiles agree: mean |difference| from the untiled result is
    # about 2.2 levels (per-tile normalisation gives 7.7; the image's own spread around mid-grey is about 50)
    assert np.abs(res["image"].astype(float) - whole).mean() < 3.5


def test_frozen_instance_norm_with_whole_image_stats_is_exact_and_restores():
    net = _tiny_resnet(seed=4)
    x = torch.rand(1, 3, 40, 48) * 2 - 1
    with torch.no_grad():
        y0 = net(x)
        with st.tiled_norm_stats(net) as collected:
            net(x)
        stats = collected.result()
        assert len(stats) == len(st._instance_norms(net)) == 2 + 2 * 2 + 2 + 1  # stem, down, blocks, up
        with st.frozen_instance_norm(net, stats):
            y1 = net(x)
            y_other = net(x * 0.5)  # another input, normalised with x's (frozen) statistics
        y2 = net(x)
        own = net(x * 0.5)
    torch.testing.assert_close(y1, y0, atol=1e-5, rtol=0)
    torch.testing.assert_close(y2, y0, atol=0, rtol=0)  # the module is itself again
    assert (y_other - own).abs().max() > 1e-2  # the freeze really replaced the statistics


def test_unet_model_pads_to_its_multiple(tmp_path):
    torch.manual_seed(1)
    net = cg.UnetGenerator(num_downs=5, ngf=4).eval()
    path = tmp_path / "pix2pix_G.pth"
    torch.save(net.state_dict(), path)
    p = tmp_path / "u.png"
    Image.fromarray(_rng_image(40, 70, seed=1)).save(p)
    res = run_to_completion(st.stylize_image(CancelToken(), p, path, device="cpu", preview_size=None))
    assert res["image"].shape == (40, 70, 3)
    res = run_to_completion(st.stylize_image(CancelToken(), p, path, device="cpu", official=True))
    assert res["image"].shape == (256, 256, 3)


def test_unknown_model_and_missing_download_messages(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        st.resolve_model("no_such_model_xyz")
    with pytest.raises(ValueError, match="efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra"):
        st.resolve_model("horse2zebra")  # listed in the manifest, not downloaded in the test home
    # an official one-direction entry finds its reverse entry for BtoA
    with pytest.raises(ValueError, match="zebra2horse"):
        st.resolve_model("horse2zebra", "BtoA")


def test_then_upscale_chain(tmp_path, model_file):
    up = pytest.importorskip("ganstudio.engines.upscale")
    if not hasattr(up, "upscale_array"):
        pytest.skip("the Upscale engine has no upscale_array() to chain with")
    from ganstudio.nets.srvgg import SRVGGNetCompact

    model, net = model_file
    torch.manual_seed(2)
    sr = SRVGGNetCompact(num_feat=8, num_conv=2, upscale=2).eval()
    sr_path = tmp_path / "tiny_sr_x2.pth"
    torch.save(sr.state_dict(), sr_path)
    root = tmp_path / "in"
    root.mkdir()
    rgba = _rng_image(20, 28, c=4, seed=1)
    Image.fromarray(rgba, "RGBA").save(root / "p.png")
    report = run_to_completion(st.stylize_folder(CancelToken(), root, tmp_path / "out", model, device="cpu",
                                                 then_upscale=str(sr_path)))
    assert report.upscaled and len(report.written) == 1
    got = np.asarray(Image.open(report.written[0][1]))
    assert got.shape == (40, 56, 4)  # stylized, then x2, alpha carried along
    stylized = _expected(net, rgba[..., :3].astype(np.float32) / 255)
    expected = up.upscale_array(np.dstack([stylized, rgba[..., 3]]), model=str(sr_path), device="cpu")
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_matches_cpu(tmp_path, model_file):
    model, net = model_file
    root = tmp_path / "in"
    root.mkdir()
    for i in range(5):
        Image.fromarray(_rng_image(48, 64, seed=i)).save(root / f"i{i}.png")
    cpu = run_to_completion(st.stylize_folder(CancelToken(), root, tmp_path / "cpu", model, device="cpu"))
    for prec, tol in (("fp32", 1), ("fp16", 3)):
        gpu = run_to_completion(st.stylize_folder(CancelToken(), root, tmp_path / prec, model, device="cuda",
                                                  precision=prec, batch_size=4))
        assert len(gpu.written) == 5
        for (_, a), (_, b) in zip(sorted(cpu.written), sorted(gpu.written)):
            d = np.abs(np.asarray(Image.open(a)).astype(int) - np.asarray(Image.open(b)).astype(int))
            assert d.max() <= tol, (prec, d.max())


def test_library_entry_with_both_directions(tmp_path, monkeypatch, model_file):
    import json

    from ganstudio.core import paths

    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    model, _ = model_file
    lib = paths.library_manifest_path()
    lib.write_text(json.dumps({"models": [{"id": "my_pair", "task": "stylize", "arch": "cyclegan",
                                           "files": {"AtoB": str(model), "BtoA": "pair/B.pth"}}]}))
    (paths.user_models_dir() / "pair").mkdir()
    torch.save(_tiny_resnet(seed=9).state_dict(), paths.user_models_dir() / "pair" / "B.pth")
    assert st.resolve_model("my_pair", "AtoB") == (model, "my_pair")
    assert st.resolve_model("my_pair", "BtoA") == (paths.user_models_dir() / "pair" / "B.pth", "my_pair")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tiled_fp16_matches_cpu(tmp_path, model_file):
    model, _ = model_file
    p = tmp_path / "big.png"
    Image.fromarray(_rng_image(160, 200, seed=6)).save(p)
    kw = dict(preview_size=None, tile_pixels=64 * 64, overlap=32)
    cpu = run_to_completion(st.stylize_image(CancelToken(), p, model, device="cpu", **kw))["image"]
    gpu = run_to_completion(st.stylize_image(CancelToken(), p, model, device="cuda", precision="fp16", **kw))["image"]
    d = np.abs(cpu.astype(int) - gpu.astype(int))
    assert d.mean() < 0.5 and d.max() <= 4
