"""Image reading and writing for every task: one place that gets the awkward files right.

Reading (``read_image``):
  * EXIF orientation is applied to the pixels, and the kept EXIF says orientation 1 afterwards;
  * modes: 1, L, LA, P (with and without transparency), PA, RGB, RGBA, I;16 / I;16B / I (16-bit grey),
    F, CMYK (converted through its embedded ICC profile when there is one), YCbCr, 16-bit RGB(A) PNG
    and TIFF (Pillow cannot hold 16-bit colour, so those go through OpenCV, BGR turned into RGB);
  * alpha is kept apart from the colour (``ImageData.alpha``), 16-bit stays 16-bit;
  * decompression bombs (more than ``max_pixels``), truncated files and non-images are refused with
    an ``ImageReadError`` naming the file.
Paths may hold any characters: files are read as bytes and decoded in memory.

Writing (``write_image``): PNG, JPEG, WebP, TIFF by suffix; 8 or 16 bit (JPEG and WebP are 8-bit only);
alpha where the format holds it (JPEG: composited onto white); ICC and EXIF kept where the format
allows. The encoded bytes go to a temp file in the same folder which is then renamed, so a crash or a
full disk never leaves half a file under the real name.
"""
from __future__ import annotations

import io
import logging
import os
import struct
import tempfile
import threading
import warnings
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ganstudio.core.errors import UserError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
WRITE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF",
                  ".tiff": "TIFF"}

# About 179 megapixels (e.g. 13k x 13k): Pillow's own "this is a bomb" limit. A 16-bit RGB image of
# that size is already ~1 GB in memory; callers that really need more pass max_pixels.
DEFAULT_MAX_PIXELS = 2 * 89_478_485
_PIL_LIMIT_LOCK = threading.Lock()

_ORIENTATION_TAG = 0x0112


class ImageReadError(UserError, ValueError):
    """An image that cannot be read, with a message for the user that names the file."""


class ImageWriteError(UserError, OSError):
    """An image that cannot be written (read-only folder, unsupported suffix, bad array)."""


@dataclass
class ImageData:
    pixels: np.ndarray                 # (H, W, C) uint8 or uint16, C = 1 (grey) or 3 (RGB); orientation applied
    alpha: np.ndarray | None = None    # (H, W), same dtype as pixels
    bit_depth: int = 8                 # 8 or 16
    source_mode: str = ""              # PIL mode of the file ("P", "CMYK", "I;16", "RGBA", "RGB;16", ...)
    icc_profile: bytes | None = None
    exif: bytes | None = None          # orientation reset to 1
    path: str = ""
    format: str = ""                   # "PNG", "JPEG", "TIFF", "WEBP", ...

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    def rgb8(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB for display."""
        px = self.pixels
        if px.dtype == np.uint16:
            px = _to8(px)
        return np.repeat(px, 3, axis=2) if px.shape[2] == 1 else px

    def rgba8(self) -> np.ndarray:
        """(H, W, 4) uint8 RGBA for display (alpha 255 where the image has none)."""
        rgb = self.rgb8()
        if self.alpha is None:
            a = np.full(rgb.shape[:2], 255, np.uint8)
        else:
            a = _to8(self.alpha) if self.alpha.dtype == np.uint16 else self.alpha
        return np.dstack([rgb, a])


# --------------------------------------------------------------------------------------------- helpers
def _to8(a: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 with rounding (65535 -> 255, 257 -> 1)."""
    return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _to16(a: np.ndarray) -> np.ndarray:
    return a.astype(np.uint16) * 257


def _apply_orientation(a: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H, W[, C]) into the displayed image for an EXIF orientation 1..8."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:  # transpose
        a = np.swapaxes(a, 0, 1)
    elif orientation == 6:  # rotate 90 degrees clockwise
        a = np.rot90(a, k=-1)
    elif orientation == 7:  # transverse
        a = np.rot90(np.swapaxes(a, 0, 1), k=2)
    elif orientation == 8:  # rotate 90 degrees counter-clockwise
        a = np.rot90(a, k=1)
    return np.ascontiguousarray(a)


def _png_header(data: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None when it is not a PNG."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return data[24], data[25]


def _tiff_is_16bit_colour(im: Image.Image) -> bool:
    tags = getattr(im, "tag_v2", None)
    if tags is None:
        return False
    bits = tags.get(258)
    if bits is None:
        return False
    if isinstance(bits, (tuple, list)):
        samples = len(bits)
        bits = max(bits)
    else:
        samples = int(tags.get(277, 1))
    return int(bits) == 16 and samples >= 3


def _decode_cv2(data: bytes, path: Path):
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageReadError(f"{path}: the file is truncated or damaged (it could not be decoded)")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    c = arr.shape[2]
    alpha = None
    if c == 2:
        pixels, alpha = arr[:, :, :1], arr[:, :, 1]
    elif c == 3:
        pixels = arr[:, :, ::-1]
    elif c == 4:
        pixels, alpha = arr[:, :, 2::-1], arr[:, :, 3]
    else:
        pixels = arr
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: {arr.dtype} samples are not supported (8 or 16 bit only)")
    return np.ascontiguousarray(pixels), (None if alpha is None else np.ascontiguousarray(alpha))


def _cmyk_to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bool]:
    """Convert CMYK to RGB through the embedded profile when there is one; returns (image, used_icc)."""
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            return ImageCms.profileToProfile(im, src, dst, outputMode="RGB"), True
        except Exception as exc:  # a broken or unsupported profile: the plain formula still works
            log.info("CMYK profile not usable (%s); converting without it", exc)
    return im.convert("RGB"), False


def _int_to_uint16(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint16:
        return a
    if a.dtype.kind == "f":
        a = np.nan_to_num(a)
        if a.size and float(a.max()) <= 1.0:
            a = a * 65535.0
        return np.clip(np.rint(a), 0, 65535).astype(np.uint16)
    return np.clip(a, 0, 65535).astype(np.uint16)


def _pil_to_arrays(im: Image.Image, path: Path) -> tuple[np.ndarray, np.ndarray | None, int, bytes | None]:
    """Pixels (H, W, C), alpha, bit depth, and the icc profile that still applies to the pixels."""
    mode = im.mode
    icc = im.info.get("icc_profile") or None
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode == "P" or mode == "PA":
        has_t = mode == "PA" or "transparency" in im.info or (
            im.palette is not None and im.palette.mode == "RGBA")
        im = im.convert("RGBA" if has_t else "RGB")
        mode = im.mode
    elif mode in ("La",):
        im = im.convert("LA")
        mode = "LA"
    elif mode in ("RGBa",):
        im = im.convert("RGBA")
        mode = "RGBA"
    elif mode in ("RGBX", "YCbCr", "HSV", "LAB"):
        im = im.convert("RGB")
        mode = "RGB"
    elif mode == "CMYK":
        im, used = _cmyk_to_rgb(im, icc)
        icc = None  # the pixels are now sRGB (or the plain-formula RGB): the CMYK profile no longer applies
        mode = "RGB"

    if mode == "L":
        return np.asarray(im, np.uint8)[:, :, None].copy(), None, 8, icc  # copies: Pillow's arrays are read-only
    if mode == "LA":
        a = np.asarray(im, np.uint8)
        return a[:, :, :1].copy(), a[:, :, 1].copy(), 8, icc
    if mode == "RGB":
        return np.asarray(im, np.uint8).copy(), None, 8, icc
    if mode == "RGBA":
        a = np.asarray(im, np.uint8)
        return a[:, :, :3].copy(), a[:, :, 3].copy(), 8, icc
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im)
        return _int_to_uint16(a)[:, :, None].copy(), None, 16, icc
    try:
        return np.asarray(im.convert("RGB"), np.uint8).copy(), None, 8, icc
    except Exception as exc:
        raise ImageReadError(f"{path}: images in mode {mode} are not supported ({exc})") from exc


def _open_pil(data: bytes, path: Path, max_pixels: int) -> Image.Image:
    """Open (header only) with Pillow, its own bomb check set to our limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if max_pixels > DEFAULT_MAX_PIXELS:
            # Pillow errors out at twice MAX_IMAGE_PIXELS: raise it for this call only
            with _PIL_LIMIT_LOCK:
                old = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = max_pixels
                try:
                    return Image.open(io.BytesIO(data))
                finally:
                    Image.MAX_IMAGE_PIXELS = old
        return Image.open(io.BytesIO(data))


_DAMAGE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError)

_PNG_METADATA = {b"iCCP": "colour profile (iCCP chunk)", b"zTXt": "compressed text (zTXt chunk)",
                 b"iTXt": "text (iTXt chunk)"}


def _png_metadata_chunks(data: bytes) -> list[str]:
    """The compressed metadata chunks of a PNG before its image data, named (walks the chunk headers only)."""
    found, pos = [], 8
    while pos + 8 <= len(data) and len(found) < 64:
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind in (b"IDAT", b"IEND"):
            break
        if kind in _PNG_METADATA and _PNG_METADATA[kind] not in found:
            found.append(_PNG_METADATA[kind])
        pos += 12 + length
    return found


def _damaged(path: Path, exc: BaseException, data: bytes) -> ImageReadError:
    """"truncated or damaged", except for what Pillow refuses on purpose: a colour profile or text chunk that
    inflates past Pillow's safety limit (MAX_TEXT_CHUNK / MAX_TEXT_MEMORY) is a possible decompression bomb,
    not a file cut short."""
    text = str(exc)
    if isinstance(exc, ValueError) and ("Decompressed data too large" in text or "Too much memory used in text"
                                        in text):
        what = " or ".join(_png_metadata_chunks(data)) or "metadata"
        return ImageReadError(f"{path}: refused, its {what} inflates past the safety limit for image metadata "
                              "(a possible decompression bomb); the pixels were not read")
    return ImageReadError(f"{path}: the file is truncated or damaged ({exc})")


# --------------------------------------------------------------------------------------------- reading
def read_image(path, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageData:
    """Read an image file into an ``ImageData`` (see the module docstring for what is handled)."""
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if not path.is_file():
        raise ImageReadError(f"{path}: not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    if not data:
        raise ImageReadError(f"{path}: the file is empty")

    try:
        im = _open_pil(data, path, max_pixels)
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"{path}: refused, the image is too large to be safe to open (a possible decompression bomb): {exc}"
        ) from exc
    except UnidentifiedImageError as exc:
        # Pillow cannot read some TIFF layouts that OpenCV can; other files are simply not images
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            pixels, alpha = _decode_cv2(data, path)
            return _finish(pixels, alpha, "TIFF", "TIFF", None, None, 1, path, max_pixels)
        raise ImageReadError(f"{path}: not an image, or a format GAN Studio cannot read") from exc
    except _DAMAGE_ERRORS as exc:
        raise _damaged(path, exc, data) from exc

    w, h = im.size
    if w * h > max_pixels:
        raise ImageReadError(
            f"{path}: refused, {w}x{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
            "(a possible decompression bomb)")
    if w == 0 or h == 0:
        raise ImageReadError(f"{path}: the image is empty ({w}x{h})")

    fmt = im.format or ""
    source_mode = im.mode
    icc = im.info.get("icc_profile") or None
    png = _png_header(data)
    wide_colour = (png is not None and png[0] == 16 and png[1] in (2, 4, 6)) or (
        fmt == "TIFF" and _tiff_is_16bit_colour(im))
    if wide_colour:
        # Pillow would squeeze 16-bit colour to 8 bits: decode with OpenCV instead
        pixels, alpha = _decode_cv2(data, path)
        if pixels.dtype == np.uint16 and pixels.shape[2] == 3 and png is not None and png[1] == 4:
            pixels = pixels[:, :, :1]  # grey + alpha came back as BGRA: keep one grey channel
        orientation, exif_bytes = _exif_info(im)  # OpenCV ignores the orientation: apply it ourselves
        mode_names = {2: "RGB;16", 4: "LA;16", 6: "RGBA;16"}
        source_mode = mode_names.get(png[1], source_mode) if png is not None else f"{source_mode};16"
        return _finish(pixels, alpha, fmt, source_mode, icc, exif_bytes, orientation, path, max_pixels)

    try:
        im.load()
        # after load: Pillow has already turned TIFFs upright (and dropped their orientation tag)
        orientation, exif_bytes = _exif_info(im)
        pixels, alpha, _bits, icc = _pil_to_arrays(im, path)
    except ImageReadError:
        raise
    except MemoryError as exc:
        raise ImageReadError(f"{path}: not enough memory to open a {w}x{h} image") from exc
    except _DAMAGE_ERRORS as exc:
        raise _damaged(path, exc, data) from exc
    finally:
        im.close()
    return _finish(pixels, alpha, fmt, source_mode, icc, exif_bytes, orientation, path, max_pixels)


# TIFF tags describing the file layout: meaningless (and harmful) once copied into another file's EXIF
_TIFF_LAYOUT_TAGS = (254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 282, 283, 284,
                     296, 317, 320, 322, 323, 324, 325, 338, 339, 340, 341, 530, 531, 532, 34675, 50341)


def _exif_info(im: Image.Image) -> tuple[int, bytes | None]:
    """(EXIF orientation, EXIF bytes to keep with orientation reset to 1) without touching ``im``."""
    try:
        exif = im.getexif()
        orientation = int(exif.get(_ORIENTATION_TAG, 1) or 1)
    except Exception:  # a damaged EXIF block must not make the pixels unreadable
        return 1, None
    if orientation not in range(1, 9):
        orientation = 1
    if not len(exif):
        return orientation, None
    try:
        copy = Image.Exif()
        copy.load(exif.tobytes())
        if im.format == "TIFF":
            for tag in _TIFF_LAYOUT_TAGS:
                copy.pop(tag, None)
        if _ORIENTATION_TAG in copy:
            copy[_ORIENTATION_TAG] = 1
        return orientation, (copy.tobytes() if len(copy) else None)
    except Exception:
        return orientation, None


def _finish(pixels, alpha, fmt, source_mode, icc, exif_bytes, orientation, path, max_pixels) -> ImageData:
    if pixels.shape[0] * pixels.shape[1] > max_pixels:
        raise ImageReadError(f"{path}: refused, the image is over the limit of {max_pixels:,} pixels")
    if orientation != 1:
        pixels = _apply_orientation(pixels, orientation)
        if alpha is not None:
            alpha = _apply_orientation(alpha, orientation)
    if alpha is not None and alpha.dtype != pixels.dtype:
        alpha = _to16(alpha) if pixels.dtype == np.uint16 else _to8(alpha)
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    return ImageData(pixels=pixels, alpha=alpha, bit_depth=bit_depth, source_mode=source_mode,
                     icc_profile=icc, exif=exif_bytes, path=str(path), format=fmt)


# --------------------------------------------------------------------------------------------- writing
def _as_image_data(img) -> ImageData:
    if isinstance(img, ImageData):
        return img
    a = np.asarray(img)
    if a.dtype not in (np.uint8, np.uint16):
        raise ImageWriteError(f"cannot write a {a.dtype} array: convert it to uint8 or uint16 "
                              "(from_float_rgb does that for float images)")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageWriteError(f"cannot write an array of shape {a.shape}: expected (H, W) or (H, W, 1|3|4)")
    alpha = None
    if a.shape[2] == 4:
        a, alpha = a[:, :, :3], a[:, :, 3]
    elif a.shape[2] == 2:
        a, alpha = a[:, :, :1], a[:, :, 1]
    return ImageData(pixels=a, alpha=alpha, bit_depth=16 if a.dtype == np.uint16 else 8)


def _encode(img: ImageData, fmt: str, quality: int) -> bytes:
    px = np.ascontiguousarray(img.pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    alpha = img.alpha
    if alpha is not None and alpha.shape != px.shape[:2]:
        raise ImageWriteError(f"alpha of shape {alpha.shape} does not match the image {px.shape[:2]}")
    sixteen = px.dtype == np.uint16
    if alpha is not None and alpha.dtype != px.dtype:
        alpha = _to16(alpha) if sixteen else _to8(alpha)

    if fmt in ("JPEG", "WEBP") and sixteen:
        px, sixteen = _to8(px), False
        alpha = None if alpha is None else _to8(alpha)
    if fmt == "JPEG" and alpha is not None:  # no alpha in JPEG: composite onto white like other editors
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        px = np.clip(np.rint(px * a + 255.0 * (1.0 - a)), 0, 255).astype(np.uint8)
        alpha = None

    grey = px.shape[2] == 1
    if sixteen and not (grey and alpha is None):
        # 16-bit colour (or grey + alpha): Pillow cannot hold it, OpenCV can (no ICC/EXIF in its writer)
        import cv2

        if grey:
            arr = np.dstack([px[:, :, 0]] * 3 + [alpha])
            arr = arr[:, :, [2, 1, 0, 3]]
        else:
            arr = px[:, :, ::-1]
            if alpha is not None:
                arr = np.dstack([arr, alpha])
        if fmt == "PNG" and grey:  # grey + alpha: write the PNG ourselves to keep it a 2-channel file
            return _png_add_chunks(_encode_png16(np.dstack([px[:, :, 0], alpha])), img.icc_profile, img.exif)
        ext = ".png" if fmt == "PNG" else ".tiff"
        ok, buf = cv2.imencode(ext, np.ascontiguousarray(arr))
        if not ok:
            raise ImageWriteError(f"OpenCV could not encode a 16-bit {fmt}")
        if fmt == "PNG":  # OpenCV writes no ICC/EXIF: add the chunks Pillow would have written
            return _png_add_chunks(buf.tobytes(), img.icc_profile, img.exif)
        return buf.tobytes()

    if sixteen:  # 16-bit grey without alpha: Pillow's I;16
        pil = Image.fromarray(px[:, :, 0].astype(np.uint16))
    elif grey:
        pil = Image.fromarray(px[:, :, 0]) if alpha is None else Image.fromarray(np.dstack([px[:, :, 0], alpha]))
    else:
        pil = Image.fromarray(px) if alpha is None else Image.fromarray(np.dstack([px, alpha]))
    if sixteen and pil.mode != "I;16":
        pil = pil.convert("I;16")

    params: dict = {}
    if img.icc_profile and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        params["icc_profile"] = img.icc_profile
    if img.exif and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        params["exif"] = img.exif
    if fmt == "JPEG":
        params.update(quality=int(quality), subsampling=0 if quality >= 90 else 2, optimize=True)
    elif fmt == "WEBP":
        params.update(quality=int(min(quality, 100)), lossless=quality >= 100, method=4)
    elif fmt == "PNG":
        params.update(compress_level=6)
    elif fmt == "TIFF":
        params.update(compression="tiff_deflate")
    buf = io.BytesIO()
    try:
        pil.save(buf, format=fmt, **params)
    except (OSError, ValueError, TypeError) as exc:
        if "exif" in params or "icc_profile" in params:  # a damaged side block must not lose the image
            params.pop("exif", None)
            params.pop("icc_profile", None)
            buf = io.BytesIO()
            pil.save(buf, format=fmt, **params)
        else:
            raise ImageWriteError(f"cannot encode the image as {fmt}: {exc}") from exc
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_add_chunks(png: bytes, icc: bytes | None, exif: bytes | None) -> bytes:
    """Insert iCCP / eXIf chunks right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    extra = b""
    if icc:
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += _png_chunk(b"eXIf", body)
    return png[:33] + extra + png[33:] if extra else png


def _encode_png16(a: np.ndarray) -> bytes:
    """A 16-bit PNG of (H, W, 1|2|3|4) uint16 samples (grey, grey+alpha, RGB, RGBA), sub-filtered rows."""
    h, w, c = a.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(a.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    # filter type 1 (Sub): each byte minus the byte one pixel to the left, modulo 256
    bpp = c * 2
    filtered = rows.copy()
    filtered[:, bpp:] = rows[:, bpp:] - rows[:, :-bpp]
    raw = np.hstack([np.ones((h, 1), np.uint8), filtered]).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw, 6))
            + _png_chunk(b"IEND", b""))


def write_image(path, img, quality: int = 95) -> None:
    """Write ``img`` (ImageData or an (H, W[, C]) uint8/uint16 array, C in 1, 3, 4) to ``path``.

    The format comes from the suffix (.png .jpg .jpeg .webp .tif .tiff). The file appears under its
    name only once it is complete (temp file in the same folder, then an atomic rename).
    """
    path = Path(path)
    fmt = WRITE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ImageWriteError(f"{path}: cannot write {path.suffix or 'files without a suffix'}; "
                              f"use one of {', '.join(sorted(WRITE_SUFFIXES))}")
    data = _encode(_as_image_data(img), fmt, quality)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageWriteError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=".tmp")
    except PermissionError as exc:
        raise ImageWriteError(
            f"cannot write {path}: the folder {folder} is read-only or you may not write there") from exc
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, PermissionError):
            raise ImageWriteError(f"cannot write {path}: permission denied") from exc
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------------------------- float views
def to_float_rgb(img: ImageData) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1]; grey is repeated into three channels. Alpha is not included."""
    px = img.pixels
    if px.ndim == 2:
        px = px[:, :, None]
    scale = 65535.0 if px.dtype == np.uint16 else 255.0
    out = px.astype(np.float32) / np.float32(scale)
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return out


def from_float_rgb(arr, like: ImageData | None = None, bit_depth: int | None = None) -> ImageData:
    """Wrap a (H, W, 3) (or (H, W) / (H, W, 1)) float array in [0, 1] as ImageData.

    ``like`` lends its ICC profile, EXIF, source mode, format and alpha (resized when the new image has
    another size, e.g. after upscaling). ``bit_depth`` defaults to ``like``'s, else 8.
    """
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"from_float_rgb expects (H, W, 3) or (H, W), got {a.shape}")
    if bit_depth is None:
        bit_depth = like.bit_depth if like is not None else 8
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    scale, dtype = (65535.0, np.uint16) if bit_depth == 16 else (255.0, np.uint8)
    pixels = np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * scale).astype(dtype)
    out = ImageData(pixels=pixels, alpha=None, bit_depth=bit_depth)
    if like is not None:
        out = replace(out, source_mode=like.source_mode, icc_profile=like.icc_profile, exif=like.exif,
                      format=like.format, path="")
        if like.alpha is not None:
            al = like.alpha
            if al.shape != pixels.shape[:2]:
                import cv2

                al = cv2.resize(al, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_LINEAR)
            if al.dtype != dtype:
                al = _to16(al) if dtype == np.uint16 else _to8(al)
            out.alpha = np.ascontiguousarray(al)
    return out


# --------------------------------------------------------------------------------------------- grids
def compose_grid(images, cols: int | None = None, fill: int = 0) -> np.ndarray:
    """Tile same-size (H, W, C) uint8 images (a list or an (N, H, W, C) array) into rows of ``cols``
    (default: a square-ish grid, ceil(sqrt(N)) wide); empty cells are ``fill``."""
    import math

    n = len(images)
    h, w, c = images[0].shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = (n + cols - 1) // cols
    out = np.full((rows * h, cols * w, c), fill, np.uint8)
    for i, im in enumerate(images):
        r, k = divmod(i, cols)
        out[r * h:(r + 1) * h, k * w:(k + 1) * w] = im
    return out


# --------------------------------------------------------------------------------------------- folders
def is_image_path(path) -> bool:
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def list_images(folder, recursive: bool = True) -> list[Path]:
    """Image files (by suffix, hidden files skipped) under ``folder``, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and is_image_path(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts[:-1]))


# Never let Pillow silently fill a truncated file with grey (another library may have flipped this).
if getattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False):
    log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated images will not be detected")
