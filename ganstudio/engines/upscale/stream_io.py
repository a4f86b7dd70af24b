"""Image files read and written a band of rows at a time, so that a huge image's memory follows the tile.

What is streamed, and what is not (Pillow and OpenCV decide most of it):

* **Output: PNG**, written band by band as the tiler finishes rows (``PngBandWriter``): 8 / 16 bit, grey,
  grey + alpha, RGB, RGBA, with the ICC profile and EXIF. The upscale engine streams a PNG when the result
  is large and the output scale is the network's own; another scale needs a Lanczos resize of the whole
  result, so that result is held in memory. JPEG / WebP / TIFF results are encoded whole (Pillow's
  encoders take a whole image).
* **Input: uncompressed BMP and TIFF** (8-bit RGB or grey, no EXIF orientation to apply) are read strip by
  strip straight from the file (``StripReader``). PNG, JPEG, WebP, GIF and compressed TIFF are decoded whole:
  Pillow and OpenCV offer no way to decode them in pieces. The decoded 8-bit input is 1/16 of a x4 result,
  and the engine never makes a float copy of it (it converts one tile at a time), so this is rarely the
  part that matters.

Plain numpy + Pillow + zlib: no torch.
"""
from __future__ import annotations

import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganstudio.core.imageio import DEFAULT_MAX_PIXELS, ImageReadError

# ------------------------------------------------------------------------------------------- reading
# Pillow's raw decoder modes we can read ourselves: bytes per pixel and which of them are R, G, B
_RAW_MODES = {"RGB": (3, (0, 1, 2)), "BGR": (3, (2, 1, 0)), "RGBX": (4, (0, 1, 2)), "BGRX": (4, (2, 1, 0)),
              "L": (1, (0,))}
# TIFF tags that only describe the file's layout (what read_image leaves out of the EXIF it keeps); a TIFF
# with any other tag (orientation, description, camera data) is decoded whole so that nothing is lost
_TIFF_LAYOUT_ONLY = frozenset({254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 282, 283, 284, 296,
                               317, 338, 339, 34675})


@dataclass
class _Segment:
    y0: int
    y1: int
    offset: int  # file offset of the segment's first stored row
    stride: int  # bytes from one stored row to the next
    bottom_up: bool  # BMP stores the last row first


class StripReader:
    """Rows of an uncompressed image file, read from disk only when asked for (``rows(y0, y1)``)."""

    def __init__(self, path: Path, width: int, height: int, rawmode: str, segments: list[_Segment],
                 channels: int, fmt: str, icc: Optional[bytes]) -> None:
        self.path, self.width, self.height = Path(path), width, height
        self.channels, self.format, self.icc_profile = channels, fmt, icc
        self._bpp, self._order = _RAW_MODES[rawmode]
        self._segments = segments
        self.source_mode = "L" if channels == 1 else "RGB"

    def rows(self, y0: int, y1: int) -> np.ndarray:
        """(y1 - y0, W, C) uint8 for 0 <= y0 < y1 <= H."""
        out = np.empty((y1 - y0, self.width, self.channels), np.uint8)
        row_bytes = self.width * self._bpp
        try:
            with open(self.path, "rb") as fh:
                for seg in self._segments:
                    a, b = max(y0, seg.y0), min(y1, seg.y1)
                    if a >= b:
                        continue
                    if seg.bottom_up:  # stored rows b-1 ... a, contiguous on disk
                        first = seg.offset + (seg.y1 - b) * seg.stride
                    else:
                        first = seg.offset + (a - seg.y0) * seg.stride
                    fh.seek(first)
                    data = fh.read((b - a) * seg.stride)
                    if len(data) < (b - a - 1) * seg.stride + row_bytes:
                        raise ImageReadError(f"{self.path}: the file is truncated")
                    data = data + bytes((b - a) * seg.stride - len(data))  # the last row's padding may be cut
                    block = np.frombuffer(data, np.uint8).reshape(b - a, seg.stride)[:, :row_bytes]
                    block = block.reshape(b - a, self.width, self._bpp)[:, :, list(self._order)]
                    out[a - y0:b - y0] = block[::-1] if seg.bottom_up else block
        except OSError as exc:
            raise ImageReadError(f"{self.path}: cannot read the file ({exc.strerror or exc})") from exc
        return out


def open_strips(path) -> Optional[StripReader]:
    """A ``StripReader`` for an uncompressed 8-bit RGB / grey BMP or TIFF whose pixels read_image would
    return unchanged; None for every other file (the caller decodes it whole with read_image, which also
    gives the proper error for a broken one)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt, mode, (w, h) = im.format, im.mode, im.size
                tiles = list(im.tile)
                icc = im.info.get("icc_profile") or None
                exif = dict(im.getexif()) if fmt == "TIFF" else {}
                frames = getattr(im, "n_frames", 1)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None
    if fmt not in ("BMP", "TIFF") or mode not in ("RGB", "L") or frames != 1 or not 0 < w * h <= DEFAULT_MAX_PIXELS:
        return None
    if fmt == "TIFF" and not set(exif) <= _TIFF_LAYOUT_ONLY:
        return None
    segments, rawmode = [], None
    for t in tiles:
        args = t.args if isinstance(t.args, tuple) else (t.args,)
        if t.codec_name != "raw" or not args or args[0] not in _RAW_MODES:
            return None
        if rawmode not in (None, args[0]) or (args[0] == "L") != (mode == "L"):
            return None
        rawmode = args[0]
        x0, y0, x1, y1 = t.extents
        if x0 != 0 or x1 != w:
            return None
        bpp = _RAW_MODES[rawmode][0]
        stride = int(args[1]) if len(args) > 1 and args[1] else w * bpp
        orientation = int(args[2]) if len(args) > 2 else 1
        if stride < w * bpp or orientation not in (1, -1):
            return None
        segments.append(_Segment(y0, y1, int(t.offset), stride, orientation == -1))
    segments.sort(key=lambda s: s.y0)
    if not segments or segments[0].y0 != 0 or segments[-1].y1 != h or any(
            a.y1 != b.y0 for a, b in zip(segments, segments[1:])):
        return None
    size = path.stat().st_size
    if any(s.offset + (s.y1 - s.y0 - 1) * s.stride + w * _RAW_MODES[rawmode][0] > size for s in segments):
        return None  # truncated: read_image says so properly
    return StripReader(path, w, h, rawmode, segments, 1 if mode == "L" else 3, fmt, icc)


def image_size(path) -> Optional[tuple[int, int]]:
    """(width, height) from the file's header without decoding it; None when Pillow cannot tell."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return None


# ------------------------------------------------------------------------------------------- writing
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


class PngBandWriter:
    """A PNG written a band of rows at a time: ``write(rows)`` as rows are finished, then ``close()``.

    Each row gets the PNG filter (None, Sub, Up, Average, Paeth) with the smallest sum of absolute
    differences, as libpng and Pillow choose; the filtered rows go through one zlib stream (level 6, as
    ``core.imageio.write_image``). Memory: the band being written and one previous row."""

    CHUNK_ROWS = 32  # rows filtered at once: bounds the filter's temporaries for very wide images
    IDAT_BYTES = 1 << 20

    def __init__(self, fh: BinaryIO, width: int, height: int, channels: int, bit_depth: int = 8,
                 icc: Optional[bytes] = None, exif: Optional[bytes] = None, level: int = 6) -> None:
        if channels not in (1, 2, 3, 4) or bit_depth not in (8, 16):
            raise ValueError(f"cannot write {channels} channels at {bit_depth} bits as PNG")
        self.fh, self.width, self.height, self.channels, self.bit_depth = fh, width, height, channels, bit_depth
        self.rows_written = 0
        self._bpp = channels * bit_depth // 8
        self._prev = np.zeros(width * self._bpp, np.uint8)
        self._z = zlib.compressobj(level)
        self._pending = bytearray()
        colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
        head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                                                   colour_type, 0, 0, 0))
        if icc:
            head += _chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
        if exif:
            head += _chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif)
        fh.write(head)

    def write(self, rows: np.ndarray) -> None:
        """(n, W, C) uint8 (8-bit) or uint16 (16-bit) rows, top to bottom."""
        if rows.ndim == 2:
            rows = rows[:, :, None]
        n, w, c = rows.shape
        if w != self.width or c != self.channels:
            raise ValueError(f"rows of {w}x{c} for a {self.width}-wide, {self.channels}-channel PNG")
        if self.rows_written + n > self.height:
            raise ValueError("more rows than the PNG's height")
        for i in range(0, n, self.CHUNK_ROWS):
            part = rows[i:i + self.CHUNK_ROWS]
            if self.bit_depth == 16:
                raw = np.ascontiguousarray(part, dtype=">u2").view(np.uint8).reshape(len(part), -1)
            else:
                raw = np.ascontiguousarray(part, dtype=np.uint8).reshape(len(part), -1)
            self._pending += self._z.compress(self._filter(raw).tobytes())
            self._flush(final=False)
        self.rows_written += n

    def _filter(self, raw: np.ndarray) -> np.ndarray:
        """Rows with their filter byte in front, the best of the five filters per row."""
        n, length = raw.shape
        bpp = self._bpp
        x = raw.astype(np.int16)
        b = np.vstack([self._prev[None].astype(np.int16), x[:-1]])  # the row above
        a = np.zeros_like(x)  # the pixel to the left
        a[:, bpp:] = x[:, :-bpp]
        c = np.zeros_like(x)  # above-left
        c[:, bpp:] = b[:, :-bpp]
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        cands = np.stack([x, x - a, x - b, x - ((a + b) >> 1), x - paeth]).astype(np.uint8)  # modulo 256
        signed = cands.view(np.int8).astype(np.int16)
        best = np.abs(signed).sum(axis=2).argmin(axis=0)  # per row
        out = np.empty((n, length + 1), np.uint8)
        out[:, 0] = best
        out[:, 1:] = cands[best, np.arange(n)]
        self._prev = raw[-1].copy()
        return out

    def _flush(self, final: bool) -> None:
        if len(self._pending) >= self.IDAT_BYTES or (final and self._pending):
            self.fh.write(_chunk(b"IDAT", bytes(self._pending)))
            self._pending.clear()

    def close(self) -> None:
        """Finish the file (all rows must have been written)."""
        if self.rows_written != self.height:
            raise ValueError(f"the PNG got {self.rows_written} of its {self.height} rows")
        self._pending += self._z.flush()
        self._flush(final=True)
        self.fh.write(_chunk(b"IEND", b""))
