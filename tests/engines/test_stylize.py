"""Stylize engine: batches (bad files, resume, read-only input, name clashes, patterns), single image, official
mode, tiling, tiny and extreme image sizes, the shared module left unchanged, progress and cancel from inside a
forward pass."""
from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.progress import Cancelled, CancelToken, run_to_completion
from ganstudio.engines import stylize as st
from ganstudio.nets import cyclegan as cg

# ------------------------------------------------------------------------------------------ helpers
CPU = {"device": "cpu", "precision": "fp32"}  # exact comparisons (auto may pick bf16 on a CPU with AMX)


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
        st.stylize_batch(CancelToken(), [root], out, model, **CPU, batch_size=2, workers=2),
        messages.append)
    assert _tree_digest(root) == before  # input folder byte-for-byte unchanged, nothing added

    assert {Path(f["input"]) for f in report.failed} == bad
    assert all(f["reason"] for f in report.failed)
    assert len(report.done) == len(good) and not report.skipped
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
    assert "2 failed" in report.summary() and "truncated.png" in report.text()


def test_cancel_half_way_then_resume_does_not_redo(tmp_path, model_file):
    model, _net = model_file
    root = tmp_path / "in"
    root.mkdir()
    for i in range(8):
        Image.fromarray(_rng_image(24, 24, seed=i)).save(root / f"img{i:02d}.png")
    out = tmp_path / "out"
    token = CancelToken()
    gen = st.stylize_batch(token, [root], out, model, **CPU, batch_size=2, workers=1)
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
    report = run_to_completion(st.stylize_batch(CancelToken(), [root], out, model, **CPU))
    assert len(report.skipped) == len(first)
    assert len(report.done) == 8 - len(first)
    assert {p: p.stat().st_mtime_ns for p in first} == first  # done files were not rewritten
    assert len(list(out.rglob("*.png"))) == 8


def test_output_pattern_format_and_refusals(tmp_path, model_file):
    model, _ = model_file
    root = tmp_path / "in"
    root.mkdir()
    Image.fromarray(_rng_image(20, 20)).save(root / "a.png")
    out = tmp_path / "o"
    report = run_to_completion(st.stylize_batch(CancelToken(), [root], out, model, **CPU,
                                                pattern="{model}-{direction}-{stem}", fmt="jpg"))
    assert [Path(d["output"]).name for d in report.done] == ["myexp-AtoB-a.jpg"]
    with pytest.raises(ValueError, match="is the input folder"):  # the one rule: output == input is refused
        run_to_completion(st.stylize_batch(CancelToken(), [root], root, model, **CPU))


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
    res = run_to_completion(st.stylize_image(CancelToken(), img_path, model, direction="BtoA", **CPU))
    _close(res["image"], _expected(net_b, rgb))


# ---------------------------------------------------------------------------------------- single image


def test_single_image_equals_network_and_keeps_alpha(tmp_path, model_file):
    model, net = model_file
    rgba = _rng_image(34, 50, c=4, seed=11)
    p = tmp_path / "rgba.png"
    Image.fromarray(rgba, "RGBA").save(p)
    progress = []
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, **CPU, preview_size=20),
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
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, **CPU, preview_size=None))
    assert res["image"].shape[:2] == (36, 20)


def test_official_mode_matches_test_py(tmp_path, model_file):
    model, net = model_file
    arr = _rng_image(50, 70, seed=2)
    p = tmp_path / "o.png"
    Image.fromarray(arr).save(p)
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, official=True, **CPU))
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
        st.stylize_image(CancelToken(), p, model, **CPU, preview_size=None, tile_pixels=64 * 64,
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
        assert len(stats) == len(st.instance_norms(net)) == 2 + 2 * 2 + 2 + 1  # stem, down, blocks, up
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
    res = run_to_completion(st.stylize_image(CancelToken(), p, path, **CPU, preview_size=None))
    assert res["image"].shape == (40, 70, 3)
    res = run_to_completion(st.stylize_image(CancelToken(), p, path, **CPU, official=True))
    assert res["image"].shape == (256, 256, 3)


def test_unknown_model_and_missing_download_messages(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        st.resolve_model("no_such_model_xyz")
    with pytest.raises(ValueError, match="not on this machine: download it .*ganstudio models download horse2zebra"):
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
    report = run_to_completion(st.stylize_batch(CancelToken(), [root], tmp_path / "out", model, **CPU,
                                                then_upscale=str(sr_path)))
    assert len(report.done) == 1
    got = np.asarray(Image.open(report.done[0]["output"]))
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
    cpu = run_to_completion(st.stylize_batch(CancelToken(), [root], tmp_path / "cpu", model, **CPU))
    for prec, tol in (("fp32", 1), ("fp16", 3)):
        gpu = run_to_completion(st.stylize_batch(CancelToken(), [root], tmp_path / prec, model, device="cuda",
                                                 precision=prec, batch_size=4))
        assert len(gpu.done) == 5
        pairs = zip(sorted(d["output"] for d in cpu.done), sorted(d["output"] for d in gpu.done))
        for a, b in pairs:
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
    cpu = run_to_completion(st.stylize_image(CancelToken(), p, model, **CPU, **kw))["image"]
    gpu = run_to_completion(st.stylize_image(CancelToken(), p, model, device="cuda", precision="fp16", **kw))["image"]
    d = np.abs(cpu.astype(int) - gpu.astype(int))
    assert d.mean() < 0.5 and d.max() <= 4


# ------------------------------------------------------------------- the shared batch rules (issue 14)
def _photo(path: Path, h=20, w=24, seed=0, fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_rng_image(h, w, seed=seed)).save(path, format=fmt)
    return path


def test_colliding_output_names_are_renamed_and_reported(tmp_path, model_file):
    """14.4: a.jpg, a.png and a.webp all became one a_<model>.png (reported as 3 written; a rerun said 3
    done)."""
    model, _ = model_file
    root = tmp_path / "in"
    for i, (suffix, fmt) in enumerate(((".jpg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"))):
        _photo(root / f"a{suffix}", seed=i, fmt=fmt)
    out = tmp_path / "out"
    report = run_to_completion(st.stylize_batch(CancelToken(), [root], out, model, **CPU))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a_jpg_myexp.png", "a_png_myexp.png", "a_webp_myexp.png"]
    assert len(report.done) == 3 and len(report.renamed) == 3
    assert {Path(r["input"]).name for r in report.renamed} == {"a.jpg", "a.png", "a.webp"}
    assert "3 renamed" in report.summary()
    again = run_to_completion(st.stylize_batch(CancelToken(), [root], out, model, **CPU))
    assert len(again.skipped) == 3 and not again.done


def test_output_folder_inside_the_input_is_never_read_back(tmp_path, model_file):
    model, _ = model_file
    root = tmp_path / "in"
    _photo(root / "a.png")
    _photo(root / "sub" / "b.png", seed=1)
    out = root / "styled"
    for _ in range(2):
        report = run_to_completion(st.stylize_batch(CancelToken(), [root], out, model, recursive=True, **CPU))
        assert report.total == 2  # the first run's results are not inputs of the second
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.png")) == [
        "a.png", "styled/a_myexp.png", "styled/sub/b_myexp.png", "sub/b.png"]


@pytest.mark.parametrize("pattern, says", [
    ("{0}", "uses {0}"), ("{}", "uses {}"), ("{stem", "not valid"), ("x_{name}", "uses {name}"),
    ("{stem:>9}", "without ':'"), ("{model}", "has no {stem}"), ("", "empty")])
def test_bad_name_patterns_are_one_clear_error_before_anything_runs(tmp_path, model_file, pattern, says):
    """14.9: `--pattern "{0}"` was an IndexError traceback (after the model had loaded)."""
    from ganstudio.core.errors import InputError

    model, _ = model_file
    root = tmp_path / "in"
    _photo(root / "a.png")
    with pytest.raises(InputError, match=re.escape(says)) as err:
        run_to_completion(st.stylize_batch(CancelToken(), [root], tmp_path / "out", model, pattern=pattern, **CPU))
    assert "\n" not in str(err.value) and "{stem} {model} {direction} {ext}" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_pattern_leaving_the_output_folder_is_refused(tmp_path, model_file):
    """14.9: `--pattern "../../x_{stem}"` wrote outside the output folder."""
    from ganstudio.core.errors import InputError

    model, _ = model_file
    root = tmp_path / "deep" / "in"
    _photo(root / "a.png")
    out = tmp_path / "deep" / "er" / "out"
    for pattern in ("../../x_{stem}", "/tmp/x_{stem}"):
        with pytest.raises(InputError, match="outside the output folder"):
            run_to_completion(st.stylize_batch(CancelToken(), [root], out, model, pattern=pattern, **CPU))
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["a.png"]


# ------------------------------------------------------------------------ any image size (issue 14.9)
def _replicate_expected(net, rgb01: np.ndarray, side: int) -> np.ndarray:
    """The network on the image replicated out to side x side (bottom / right), cropped back."""
    x = torch.from_numpy(rgb01.astype(np.float32)).permute(2, 0, 1)[None] * 2 - 1
    h, w = x.shape[-2:]
    x = torch.nn.functional.pad(x, (0, side - w, 0, side - h), mode="replicate")
    with torch.no_grad():
        y = net(x)[0, :, :h, :w]
    return np.clip(np.rint((y.permute(1, 2, 0).numpy() + 1) / 2 * 255), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("h, w", [(1, 1), (4, 4), (2, 3), (3, 200), (1, 20000), (300, 1)])
def test_tiny_and_strip_images_are_stylized_at_their_own_size(tmp_path, model_file, h, w):
    """14.9: a 1x20000 strip failed with a padding RuntimeError and images of 4 px or less with "Expected more
    than 1 spatial element"; they are padded to the smallest size the network runs at and cropped back."""
    model, net = model_file
    p = _photo(tmp_path / "s.png", h, w, seed=h + w)
    res = run_to_completion(st.stylize_image(CancelToken(), p, model, preview_size=None, **CPU))
    assert res["image"].shape == (h, w, 3) and res["image"].dtype == np.uint8
    if max(h, w) <= 8:  # exactly the network on the replicated 8x8 image
        rgb = np.asarray(Image.open(p).convert("RGB"), np.float32) / 255
        np.testing.assert_array_equal(res["image"], _replicate_expected(net, rgb, 8))
    report = run_to_completion(st.stylize_batch(CancelToken(), [p], tmp_path / "out", model, **CPU))
    assert not report.failed and len(report.done) == 1
    with Image.open(report.done[0]["output"]) as im:
        assert im.size == (w, h)


def test_tiny_images_on_a_unet(tmp_path):
    torch.manual_seed(1)
    net = cg.UnetGenerator(num_downs=5, ngf=4).eval()
    path = tmp_path / "pix2pix_G.pth"
    torch.save(net.state_dict(), path)
    for h, w in ((3, 3), (1, 300)):
        p = _photo(tmp_path / f"u{h}x{w}.png", h, w)
        res = run_to_completion(st.stylize_image(CancelToken(), p, path, preview_size=None, **CPU))
        assert res["image"].shape == (h, w, 3)
    assert st.min_side(net) == 32


# ------------------------------------------------------------- the shared cached module stays as it is
def _module_fingerprint(net) -> dict:
    return {"state": {k: v.clone() for k, v in net.state_dict().items()},
            "attrs": {name: sorted(k for k in vars(m) if not k.startswith("_")) for name, m in net.named_modules()},
            "formats": {k: v.is_contiguous() for k, v in net.state_dict().items()}}


def test_runs_leave_the_shared_cached_module_unchanged(tmp_path, model_file):
    """Issue 10: the cache's module is shared and read-only; tiling (frozen InstanceNorm statistics) and the
    official pix2pix mode (BatchNorm on batch statistics) used to change it in place."""
    from ganstudio.checkpoints.cache import get_model

    model, _ = model_file
    torch.manual_seed(1)
    unet = cg.UnetGenerator(num_downs=5, ngf=4).eval()
    unet_path = tmp_path / "pix2pix_G.pth"
    torch.save(unet.state_dict(), unet_path)
    big = _photo(tmp_path / "big.png", 96, 120, seed=5)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    for path, kw in ((model, {"tile_pixels": 48 * 48, "overlap": 16}), (unet_path, {"official": True})):
        shared, _ = get_model(str(path), device="cpu", family="cyclegan")
        before = _module_fingerprint(shared)
        with torch.no_grad():
            y0 = shared(x)
        run_to_completion(st.stylize_image(CancelToken(), big, path, preview_size=None, **CPU, **kw))
        after = _module_fingerprint(shared)
        assert after["attrs"] == before["attrs"] and after["formats"] == before["formats"]
        for k, v in before["state"].items():
            assert torch.equal(after["state"][k], v), k
        with torch.no_grad():
            assert torch.equal(shared(x), y0)


@pytest.mark.parametrize("mode", ["frozen", "batch_stats"])
def test_per_call_norm_changes_stay_in_their_thread(mode):
    """Two jobs may run one cached module at once: a tiled job's frozen statistics (or the official BatchNorm
    mode) must not change another thread's forward (before: the module's forward was replaced in place)."""
    import threading

    from ganstudio.engines.stylize import norms

    torch.manual_seed(0)
    net = _tiny_resnet(seed=4) if mode == "frozen" else cg.UnetGenerator(num_downs=5, ngf=4).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = net(x)
        with st.tiled_norm_stats(net) as collected:
            net(x * 0.3)
    ctx = (st.frozen_instance_norm(net, collected.result()) if mode == "frozen"
           else norms.official_batch_norm(net))
    inside, go, seen = threading.Event(), threading.Event(), {}

    def other_job():
        inside.wait(10)
        with torch.no_grad():
            seen["y"] = net(x)
        go.set()

    t = threading.Thread(target=other_job)
    t.start()
    with torch.no_grad(), ctx:
        changed = net(x)
        inside.set()
        assert go.wait(10)
    t.join(10)
    assert (changed - expected).abs().max() > 1e-3  # the change is real in its own thread ...
    assert torch.equal(seen["y"], expected)  # ... and invisible in the other one


def test_no_process_wide_thread_count_change(tmp_path, model_file, monkeypatch):
    """Issue 10: the batch lowered torch's process-wide thread count (and every other job's with it) on
    machines with more than 2 threads."""
    model, _ = model_file
    _photo(tmp_path / "in" / "a.png")
    calls = []
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    report = run_to_completion(st.stylize_batch(CancelToken(), [tmp_path / "in"], tmp_path / "out", model, **CPU))
    assert len(report.done) == 1 and calls == []


# ------------------------------------------------ progress and cancel from inside a forward pass (15.3/15.4)
def test_progress_from_inside_a_forward_pass(tmp_path, model_file, monkeypatch):
    from ganstudio.engines.stylize import pipeline

    monkeypatch.setattr(pipeline, "REPORT_EVERY_S", 0.0)  # every watched convolution reports (no clock)
    model, _ = model_file
    p = _photo(tmp_path / "a.png", 32, 40)
    token = CancelToken()
    inside = []
    token.set_listener(inside.append)
    yielded = []
    run_to_completion(st.stylize_image(token, p, model, preview_size=None, **CPU), yielded.append)
    full = [q for q in inside if q.message.startswith("full resolution")]
    assert len(full) >= 5 and all(1 < q.done < 3 and q.total == 3 for q in full)
    assert [q.done for q in full] == sorted(q.done for q in full) and "%" in full[-1].message
    # the batch: the same reports in the batch's terms (file i of n), naming the file
    _photo(tmp_path / "in" / "b.png", 24, 24)
    _photo(tmp_path / "in" / "c.png", 24, 24, seed=1)
    inside.clear()
    run_to_completion(st.stylize_batch(token, [tmp_path / "in"], tmp_path / "out", model, **CPU))
    assert {int(q.done) for q in inside} == {0, 1} and all(q.total == 2 and "ETA" in q.message for q in inside)
    assert all(q.done % 1 and q.extra["input"].endswith(("b.png", "c.png")) for q in inside)


@pytest.mark.parametrize("tiled", [False, True])
def test_cancel_acts_within_one_convolution(tmp_path, model_file, tiled):
    """15.4: Cancel waited for the whole tile (a minute on a CPU for a big one); now it stops the forward
    before the next convolution."""
    from ganstudio.checkpoints.cache import get_model

    model, _ = model_file
    p = _photo(tmp_path / "a.png", 64, 64)
    shared, _ = get_model(str(model), device="cpu", family="cyclegan")
    convs = [m for m in shared.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    ran = []
    handles = [m.register_forward_hook(lambda *_: ran.append(1)) for m in convs]
    token = CancelToken()

    def cancel_after_three_convs(_progress):
        if len(ran) >= 3:
            token.cancel()

    token.set_listener(cancel_after_three_convs)
    from ganstudio.engines.stylize import pipeline

    old = pipeline.REPORT_EVERY_S
    pipeline.REPORT_EVERY_S = 0.0
    try:
        with pytest.raises(Cancelled):
            kw = {"tile_pixels": 32 * 32, "overlap": 8} if tiled else {}
            run_to_completion(st.stylize_image(token, p, model, preview_size=None, **CPU, **kw))
    finally:
        pipeline.REPORT_EVERY_S = old
        for h in handles:
            h.remove()
    assert 3 <= len(ran) <= 4 < len(convs)  # stopped inside the first pass, not at its end
