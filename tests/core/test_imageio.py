"""Image I/O on every awkward mode: the tests write the odd files themselves (Pillow and OpenCV)."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
from PIL import Image, ImageCms

from ganstudio.core.imageio import (
    ImageData,
    ImageReadError,
    ImageWriteError,
    from_float_rgb,
    list_images,
    read_image,
    to_float_rgb,
    write_image,
)

RNG = np.random.default_rng(1234)


def rand8(*shape):
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


def rand16(*shape):
    return RNG.integers(0, 65536, size=shape, dtype=np.uint16)


# ------------------------------------------------------------------------------------------ 8-bit Pillow modes
def test_grey_L(tmp_path):
    a = rand8(9, 13)
    Image.fromarray(a).save(tmp_path / "l.png")
    img = read_image(tmp_path / "l.png")
    assert img.pixels.shape == (9, 13, 1) and img.pixels.dtype == np.uint8
    assert np.array_equal(img.pixels[:, :, 0], a)
    assert img.alpha is None and img.bit_depth == 8 and img.source_mode == "L" and img.format == "PNG"
    img.pixels[0, 0, 0] = 1  # callers may edit the pixels in place


def test_grey_alpha_LA(tmp_path):
    a = rand8(8, 6, 2)
    Image.fromarray(a, "LA").save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    assert img.source_mode == "LA"
    assert img.pixels.shape == (8, 6, 1)
    assert np.array_equal(img.pixels[:, :, 0], a[:, :, 0])
    assert np.array_equal(img.alpha, a[:, :, 1])


def _palette_image(transparent_index=None):
    idx = np.zeros((6, 8), np.uint8)
    idx[:, 4:] = 1
    idx[0, 0] = 2
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 9))
    if transparent_index is not None:
        im.info["transparency"] = transparent_index
    return im


def test_palette_without_transparency(tmp_path):
    _palette_image().save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    assert img.source_mode == "P" and img.alpha is None
    assert img.pixels.shape == (6, 8, 3)
    assert img.pixels[3, 1].tolist() == [255, 0, 0]
    assert img.pixels[3, 6].tolist() == [0, 0, 255]
    assert img.pixels[0, 0].tolist() == [0, 255, 0]


def test_palette_with_transparency(tmp_path):
    _palette_image(transparent_index=1).save(tmp_path / "pt.png", transparency=1)
    img = read_image(tmp_path / "pt.png")
    assert img.source_mode == "P"
    assert img.alpha is not None
    assert img.alpha[:, 4:].max() == 0          # index 1 is transparent
    assert img.alpha[:, 1:4].min() == 255
    assert img.pixels[2, 2].tolist() == [255, 0, 0]


def test_rgb_and_rgba(tmp_path):
    rgb, rgba = rand8(7, 5, 3), rand8(7, 5, 4)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    a = read_image(tmp_path / "rgb.png")
    b = read_image(tmp_path / "rgba.png")
    assert np.array_equal(a.pixels, rgb) and a.alpha is None
    assert a.pixels.flags.writeable and b.pixels.flags.writeable and b.alpha.flags.writeable
    assert np.array_equal(b.pixels, rgba[:, :, :3]) and np.array_equal(b.alpha, rgba[:, :, 3])
    assert b.source_mode == "RGBA"


# ------------------------------------------------------------------------------------------ 16-bit
def test_16bit_grey_png_I16(tmp_path):
    a = rand16(10, 12)
    Image.fromarray(a).save(tmp_path / "g16.png")
    img = read_image(tmp_path / "g16.png")
    assert img.bit_depth == 16 and img.pixels.dtype == np.uint16
    assert img.source_mode in ("I;16", "I")
    assert np.array_equal(img.pixels[:, :, 0], a)


def test_16bit_grey_big_endian_I16B(tmp_path):
    a = rand16(5, 7)
    im = Image.frombytes("I;16B", (7, 5), a.astype(">u2").tobytes())
    im.save(tmp_path / "g16b.tif")
    img = read_image(tmp_path / "g16b.tif")
    assert img.bit_depth == 16
    assert np.array_equal(img.pixels[:, :, 0], a)


def test_16bit_grey_from_I_mode(tmp_path):
    a = rand16(6, 6).astype(np.int32)
    Image.fromarray(a, "I").save(tmp_path / "gi.tif")  # a 32-bit integer TIFF holding 16-bit values
    img = read_image(tmp_path / "gi.tif")
    assert img.source_mode == "I"
    assert img.pixels.dtype == np.uint16
    assert np.array_equal(img.pixels[:, :, 0].astype(np.int32), a)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_written_by_opencv(tmp_path, suffix):
    rgb = rand16(9, 11, 3)
    rgb[0, 0] = (65535, 0, 1000)  # a pixel whose channel order is unmistakable
    path = tmp_path / f"rgb16{suffix}"
    assert cv2.imwrite(str(path), rgb[:, :, ::-1].copy())  # OpenCV wants BGR
    img = read_image(path)
    assert img.bit_depth == 16 and img.pixels.dtype == np.uint16
    assert img.pixels.shape == (9, 11, 3)
    assert img.pixels[0, 0].tolist() == [65535, 0, 1000]
    assert np.array_equal(img.pixels, rgb)


def test_16bit_rgba_png_keeps_16bit_alpha(tmp_path):
    rgba = rand16(5, 4, 4)
    assert cv2.imwrite(str(tmp_path / "rgba16.png"), rgba[:, :, [2, 1, 0, 3]].copy())
    img = read_image(tmp_path / "rgba16.png")
    assert np.array_equal(img.pixels, rgba[:, :, :3])
    assert img.alpha.dtype == np.uint16 and np.array_equal(img.alpha, rgba[:, :, 3])


# ------------------------------------------------------------------------------------------ CMYK, EXIF
def test_cmyk_jpeg_becomes_rgb(tmp_path):
    im = Image.new("CMYK", (16, 8), (255, 0, 0, 0))  # pure cyan ink
    im.paste((0, 0, 0, 255), (8, 0, 16, 8))          # pure black ink on the right half
    im.save(tmp_path / "cmyk.jpg", quality=95)
    img = read_image(tmp_path / "cmyk.jpg")
    assert img.source_mode == "CMYK"
    assert img.pixels.shape == (8, 16, 3) and img.pixels.dtype == np.uint8
    r, g, b = img.pixels[4, 2].astype(int)
    assert r < 40 and g > 200 and b > 200           # cyan
    assert img.pixels[4, 12].max() < 40             # black


def test_exif_orientation_applied(tmp_path):
    # stored 40 wide x 20 high, a red block in the stored top-left corner, blue elsewhere
    a = np.zeros((20, 40, 3), np.uint8)
    a[:] = (0, 0, 255)
    a[:8, :8] = (255, 0, 0)
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6            # "rotate 90 degrees clockwise to display"
    exif[0x010F] = "TestCam"    # another tag that must survive
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    img = read_image(tmp_path / "rot.jpg")
    assert img.pixels.shape == (40, 20, 3)          # displayed: 20 wide, 40 high
    top_right = img.pixels[:6, -6:].reshape(-1, 3).mean(0)
    top_left = img.pixels[:6, :6].reshape(-1, 3).mean(0)
    assert top_right[0] > 200 and top_right[2] < 60  # the red block is now top-right
    assert top_left[2] > 200
    kept = Image.Exif()
    kept.load(img.exif)
    assert kept.get(0x0112) == 1 and kept.get(0x010F) == "TestCam"


def test_tiff_orientation_applied_exactly_once(tmp_path):
    # Pillow turns TIFFs upright itself while loading: the reader must not turn them a second time
    a = np.zeros((20, 30, 3), np.uint8)
    a[:5, :5] = (255, 0, 0)
    Image.fromarray(a).save(tmp_path / "o.tif", tiffinfo={0x0112: 6, 0x010F: "TestCam"})
    img = read_image(tmp_path / "o.tif")
    assert img.pixels.shape == (30, 20, 3)
    assert img.pixels[0, -1].tolist() == [255, 0, 0] and img.pixels[0, 0].tolist() == [0, 0, 0]
    kept = Image.Exif()
    kept.load(img.exif)
    assert kept.get(0x010F) == "TestCam" and 256 not in kept and 273 not in kept  # layout tags dropped
    write_image(tmp_path / "o.jpg", img)  # and the kept EXIF is valid in another format
    assert read_image(tmp_path / "o.jpg").pixels.shape == (30, 20, 3)


# ------------------------------------------------------------------------------------------ refusals
def test_truncated_png_is_refused_with_its_name(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray(rand8(64, 64, 3)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(path)
    assert "cut.png" in str(info.value)


def test_truncated_jpeg_is_refused(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(rand8(64, 64, 3)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)


def test_decompression_bomb_is_refused(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (200, 100)).save(path)
    with pytest.raises(ImageReadError, match="decompression bomb") as info:
        read_image(path, max_pixels=10_000)
    assert "200x100" in str(info.value)
    assert read_image(path, max_pixels=20_000).pixels.shape == (100, 200, 1)


def test_not_an_image_and_missing_file(tmp_path):
    (tmp_path / "notes.png").write_text("this is text, not a picture")
    with pytest.raises(ImageReadError, match="not an image"):
        read_image(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "absent.png")


# ------------------------------------------------------------------------------------------ writing
@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("shape,dtype", [((6, 5), np.uint8), ((6, 5, 3), np.uint8), ((6, 5, 4), np.uint8),
                                         ((6, 5), np.uint16), ((6, 5, 3), np.uint16), ((6, 5, 4), np.uint16)])
def test_lossless_round_trip(tmp_path, suffix, shape, dtype):
    a = rand16(*shape) if dtype == np.uint16 else rand8(*shape)
    path = tmp_path / f"out{suffix}"
    write_image(path, a)
    img = read_image(path)
    assert img.pixels.dtype == dtype
    colour = a[..., :3] if a.ndim == 3 else a[..., None]
    assert np.array_equal(img.pixels, colour)
    if a.ndim == 3 and a.shape[2] == 4:
        assert np.array_equal(img.alpha, a[:, :, 3])
    else:
        assert img.alpha is None


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_grey_alpha_png_round_trip(tmp_path, dtype):
    a = rand16(5, 6, 2) if dtype == np.uint16 else rand8(5, 6, 2)
    write_image(tmp_path / "ga.png", a)
    img = read_image(tmp_path / "ga.png")
    assert img.source_mode in ("LA", "LA;16") and img.pixels.dtype == dtype
    assert np.array_equal(img.pixels[:, :, 0], a[:, :, 0]) and np.array_equal(img.alpha, a[:, :, 1])


def test_16bit_png_keeps_icc_and_exif(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    src = ImageData(pixels=rand16(4, 5, 3), alpha=rand16(4, 5), bit_depth=16, icc_profile=icc, exif=exif.tobytes())
    write_image(tmp_path / "k16.png", src)
    back = read_image(tmp_path / "k16.png")
    assert np.array_equal(back.pixels, src.pixels) and np.array_equal(back.alpha, src.alpha)
    assert back.icc_profile == icc
    got = Image.Exif()
    got.load(back.exif)
    assert got.get(0x010F) == "TestCam"


def test_jpeg_and_webp_are_8bit_and_jpeg_flattens_alpha_on_white(tmp_path):
    a = np.zeros((8, 8, 4), np.uint16)
    a[..., :3] = 65535 // 2
    a[:, :4, 3] = 0        # transparent left half
    a[:, 4:, 3] = 65535
    write_image(tmp_path / "o.jpg", a)
    write_image(tmp_path / "o.webp", a, quality=100)
    j = read_image(tmp_path / "o.jpg")
    w = read_image(tmp_path / "o.webp")
    assert j.bit_depth == 8 and j.alpha is None
    assert j.pixels[:, :3].min() > 240              # transparent -> white
    assert abs(int(j.pixels[4, 6, 0]) - 128) < 8
    assert w.bit_depth == 8 and w.alpha is not None
    assert w.alpha[:, :4].max() == 0 and w.alpha[:, 4:].min() == 255


def test_icc_and_exif_survive_png_and_jpeg(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    src = ImageData(pixels=rand8(6, 6, 3), icc_profile=icc, exif=exif.tobytes())
    for name in ("k.png", "k.jpg", "k.webp", "k.tif"):
        write_image(tmp_path / name, src)
        back = read_image(tmp_path / name)
        assert back.icc_profile == icc, name
        got = Image.Exif()
        got.load(back.exif)
        assert got.get(0x010F) == "TestCam", name


def test_non_ascii_path_with_spaces(tmp_path):
    folder = tmp_path / "dossier été 写真"
    folder.mkdir()
    for name, a in [("ünï cödé.png", rand8(5, 5, 3)), ("深 度 16.png", rand16(5, 5, 3)), ("tïff 16.tif", rand16(4, 3, 3))]:
        write_image(folder / name, a)
        assert np.array_equal(read_image(folder / name).pixels, a), name
    assert [p.name for p in list_images(tmp_path)] == sorted(["ünï cödé.png", "深 度 16.png", "tïff 16.tif"])


def test_read_only_folder_gives_a_clear_error(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: make the folder refuse like a read-only one would
        import tempfile

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(folder))

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(ImageWriteError, match="read-only") as info:
            write_image(folder / "x.png", rand8(4, 4, 3))
        assert "x.png" in str(info.value)
    finally:
        folder.chmod(0o755)
    assert list(folder.iterdir()) == []


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "keep.png"
    write_image(path, np.full((4, 4, 3), 7, np.uint8))
    with pytest.raises(ImageWriteError):
        write_image(path, np.zeros((4, 4, 3), np.float64))
    with pytest.raises(ImageWriteError, match="suffix|cannot write"):
        write_image(tmp_path / "x.gif", np.zeros((4, 4, 3), np.uint8))
    assert read_image(path).pixels.max() == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


# ------------------------------------------------------------------------------------------ helpers
def test_float_views_round_trip():
    img = ImageData(pixels=np.array([[[0], [65535]]], np.uint16), bit_depth=16,
                    alpha=np.array([[0, 65535]], np.uint16))
    f = to_float_rgb(img)
    assert f.shape == (1, 2, 3) and f.dtype == np.float32
    assert f[0, 0].tolist() == [0.0, 0.0, 0.0] and f[0, 1].tolist() == [1.0, 1.0, 1.0]
    back = from_float_rgb(np.full((2, 4, 3), 0.5, np.float32), like=img)
    assert back.bit_depth == 16 and back.pixels.dtype == np.uint16
    assert back.pixels[0, 0, 0] == 32768  # round(0.5 * 65535)
    assert back.alpha.shape == (2, 4)     # the alpha was resized with the image
    eight = from_float_rgb(np.array([[[1.2, -0.1, 0.5]]]))
    assert eight.pixels.tolist() == [[[255, 0, 128]]] and eight.bit_depth == 8


def test_list_images_skips_other_files(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b.PNG", "a.jpg", "sub/c.tiff", "notes.txt", "model.pth", ".secret.png", ".hidden/d.png",
                 "e.webp.part"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "sub/c.tiff"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["a.jpg", "b.PNG"]


def test_compose_grid_rows_columns_and_fill():
    from ganstudio.core.imageio import compose_grid

    tiles = [np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30)]
    square = compose_grid(tiles)  # ceil(sqrt(3)) = 2 columns, 2 rows
    assert square.shape == (4, 6, 3)
    assert square[0, 0, 0] == 10 and square[0, 3, 0] == 20 and square[2, 0, 0] == 30
    assert square[2, 3, 0] == 0  # the empty cell
    row = compose_grid(np.stack(tiles), 4, fill=32)  # an (N, H, W, C) array works too
    assert row.shape == (2, 12, 3)
    assert [row[0, 3 * k, 0] for k in range(4)] == [10, 20, 30, 32]
