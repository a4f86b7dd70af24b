"""Label palettes (names + colours per label id) and label-map files: import, export, colour mapping.

Plain numpy + pillow (core layer): the paint canvas uses it directly, the paint engine and CLI too.

Data: ``resources/palettes/{ade20k,coco_stuff,cityscapes}.json`` — each says in ``source`` / ``notes`` where
its names and colours come from and how sure that is. A label map is a (H, W) uint8 (or uint16) array of
label ids; 255 is the "dontcare / unknown" value of ADE20K and COCO-Stuff annotations.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ganstudio.core.errors import UserError
from ganstudio.core.files import atomic_path

PALETTE_DIR = Path(__file__).resolve().parents[2] / "resources" / "palettes"
BUILTIN = ("ade20k", "coco_stuff", "cityscapes")
DONTCARE = 255

# a model's label count -> the dataset palette it was trained with
_BY_LABEL_NC = {150: "ade20k", 182: "coco_stuff", 35: "cityscapes"}


class LabelMapError(UserError, ValueError):
    """A label-map file that cannot be used as it is, with a message meant for the user."""


@dataclass
class Palette:
    key: str
    name: str
    names: list[str]
    colors: np.ndarray  # (N, 3) uint8, row i = colour of label id i
    dontcare_value: int | None = DONTCARE
    unused: frozenset = frozenset()  # ids that exist only to keep the numbering (COCO's unused slots)
    source: str = ""
    notes: str = ""

    def __len__(self) -> int:
        return len(self.names)

    @property
    def n_labels(self) -> int:
        return len(self.names)

    def name_of(self, i: int) -> str:
        if self.dontcare_value is not None and i == self.dontcare_value:
            return "dontcare / unlabeled"
        return self.names[i] if 0 <= i < len(self.names) else f"label {i}"

    def color_of(self, i: int) -> tuple[int, int, int]:
        if 0 <= i < len(self.colors):
            return tuple(int(c) for c in self.colors[i])
        return (0, 0, 0)

    def find(self, text: str) -> list[int]:
        """Label ids whose name contains ``text`` (case-insensitive), or whose id equals it."""
        t = text.strip().lower()
        if not t:
            return list(range(len(self.names)))
        return [i for i, n in enumerate(self.names) if t in n.lower() or t == str(i)]

    def lut(self) -> np.ndarray:
        """(65536, 3) uint8 lookup table id -> colour (ids past the palette are black)."""
        lut = np.zeros((65536, 3), np.uint8)
        lut[: len(self.colors)] = self.colors
        return lut

    def colorize(self, label_map: np.ndarray) -> np.ndarray:
        """(H, W) ids -> (H, W, 3) uint8 RGB."""
        return self.lut()[np.asarray(label_map).astype(np.int64) & 0xFFFF]

    def png_palette(self) -> list[int]:
        """768 ints for PIL's putpalette (ids past 256 cannot be in an indexed PNG)."""
        pal = np.zeros((256, 3), np.uint8)
        n = min(256, len(self.colors))
        pal[:n] = self.colors[:n]
        return pal.reshape(-1).tolist()

    def color_to_index(self) -> dict[int, int]:
        """Packed 0xRRGGBB -> label id; for a colour used twice the lowest id wins."""
        out: dict[int, int] = {}
        for i, (r, g, b) in enumerate(self.colors.astype(np.int64)):
            out.setdefault(int(r) << 16 | int(g) << 8 | int(b), i)
        return out

    @classmethod
    def from_json(cls, path: Path | str) -> "Palette":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        labels = sorted(data["labels"], key=lambda d: d["id"])
        if [d["id"] for d in labels] != list(range(len(labels))):
            raise ValueError(f"{path}: label ids must be 0..N-1 without gaps")
        return cls(
            key=data.get("key", Path(path).stem), name=data.get("name", Path(path).stem),
            names=[d["name"] for d in labels], colors=np.array([d["color"] for d in labels], np.uint8).reshape(-1, 3),
            dontcare_value=data.get("dontcare_value", DONTCARE),
            unused=frozenset(d["id"] for d in labels if d.get("unused")),
            source=data.get("source", ""), notes=data.get("notes", ""))


@lru_cache(maxsize=None)
def load_palette(key: str) -> Palette:
    """A built-in palette by key ("ade20k", "coco_stuff", "cityscapes") or a palette JSON path."""
    path = Path(key)
    if path.suffix.lower() == ".json" and path.is_file():
        return Palette.from_json(path)
    if key not in BUILTIN:
        raise KeyError(f"unknown palette {key!r}; built-in: {', '.join(BUILTIN)}")
    return Palette.from_json(PALETTE_DIR / f"{key}.json")


def generic_palette(n: int, names: list[str] | None = None) -> Palette:
    """Distinct colours for a model with its own label list (bit-interleaved colour map of id + 1)."""
    colors = np.zeros((n, 3), np.uint8)
    for i in range(n):
        cid, r, g, b = i + 1, 0, 0, 0
        for j in range(7):
            r |= (cid & 1) << (7 - j)
            g |= ((cid >> 1) & 1) << (7 - j)
            b |= ((cid >> 2) & 1) << (7 - j)
            cid >>= 3
        colors[i] = (r, g, b)
    names = list(names) if names else [f"label {i}" for i in range(n)]
    return Palette(key=f"generic{n}", name=f"{n} labels", names=names, colors=colors, dontcare_value=None)


def palette_for(label_nc: int, dataset: str = "") -> Palette:
    """The palette of a model with ``label_nc`` labels (the dataset name wins when it is a built-in)."""
    alias = {"ade20k": "ade20k", "ade": "ade20k", "coco": "coco_stuff", "coco_stuff": "coco_stuff",
             "cityscapes": "cityscapes"}.get(dataset.lower())
    key = alias or _BY_LABEL_NC.get(label_nc)
    if key is not None:
        pal = load_palette(key)
        if key == "ade20k" and label_nc == 150 or len(pal) == label_nc:
            return pal
    return generic_palette(label_nc)


# ------------------------------------------------------------------------------------ label-map files
@dataclass
class LabelMapImport:
    label_map: np.ndarray  # (H, W) uint8 / uint16 ids
    kind: str  # "indexed", "grey", "colour"
    messages: list[str] = field(default_factory=list)  # what was mapped approximately, for the user


def _max_valid(palette: Palette | None, n_labels: int | None) -> int:
    if n_labels is not None:
        return n_labels
    return len(palette) if palette is not None else 65536


def check_label_ids(label_map: np.ndarray, n_labels: int, allow_dontcare: bool = True) -> None:
    """Raise LabelMapError naming the ids >= n_labels (255 allowed as dontcare when asked)."""
    ids, counts = np.unique(label_map, return_counts=True)
    bad = [(int(i), int(c)) for i, c in zip(ids, counts) if i >= n_labels and not (allow_dontcare and i == DONTCARE)]
    if bad:
        listed = ", ".join(f"{i} ({c} px)" for i, c in bad[:8])
        raise LabelMapError(f"label ids out of range: {listed}{' ...' if len(bad) > 8 else ''}; this palette has "
                            f"ids 0..{n_labels - 1}{' and 255 (dontcare)' if allow_dontcare else ''}")


def map_colors(rgb: np.ndarray, palette: Palette, unknown: str = "error") -> tuple[np.ndarray, list[str]]:
    """Colour-coded (H, W, 3) uint8 -> ids through ``palette`` (exact colours).

    Unknown colours: ``unknown="error"`` raises LabelMapError listing them; ``"nearest"`` maps each to the
    nearest palette colour and reports it in the returned messages.
    """
    rgb = np.asarray(rgb)[..., :3].astype(np.int64)
    packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    uniq, inverse, counts = np.unique(packed.reshape(-1), return_inverse=True, return_counts=True)
    table = palette.color_to_index()
    ids = np.empty(len(uniq), np.int64)
    missing = []
    for j, c in enumerate(uniq.tolist()):
        i = table.get(c)
        if i is None:
            missing.append(j)
            ids[j] = -1
        else:
            ids[j] = i
    messages: list[str] = []
    if missing:
        described = ", ".join(f"#{int(uniq[j]):06x} ({int(counts[j])} px)"
                              for j in sorted(missing, key=lambda j: -counts[j])[:8])
        if unknown != "nearest":
            raise LabelMapError(f"{len(missing)} colour(s) are not in the {palette.name} palette: {described}"
                                f"{' ...' if len(missing) > 8 else ''}")
        cols = np.stack([(uniq[missing] >> 16) & 255, (uniq[missing] >> 8) & 255, uniq[missing] & 255], 1)
        ids[missing] = nearest_ids(cols.astype(np.uint8)[None], palette)[0]
        messages.append(f"{len(missing)} colour(s) not in the {palette.name} palette were mapped to the nearest "
                        f"label: {described}")
    dtype = np.uint8 if len(palette) <= 256 else np.uint16
    return ids[inverse].reshape(packed.shape).astype(dtype), messages


def nearest_ids(rgb: np.ndarray, palette: Palette, exclude: set[int] | frozenset | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) ids of the nearest palette colour (RGB distance).

    A 32-level-per-channel lookup table keeps this O(pixels) for large photos. ``exclude`` (default: the
    palette's unused slots and the later duplicates of a shared colour) are never chosen.
    """
    rgb = np.asarray(rgb)[..., :3]
    if exclude is None:
        exclude = set(palette.unused)
        seen = set()
        for i, c in enumerate(map(tuple, palette.colors.tolist())):
            if c in seen:
                exclude.add(i)
            seen.add(c)
    allowed = np.array([i for i in range(len(palette)) if i not in exclude], np.int64)
    cols = palette.colors[allowed].astype(np.float32)
    levels = (np.arange(32, dtype=np.float32) * 8 + 4)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    d = (cols ** 2).sum(1)[None, :] - 2.0 * grid @ cols.T  # |g|² is the same for every column
    lut = allowed[d.argmin(1)]
    q = (rgb.astype(np.int64) >> 3)
    out = lut[(q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]]
    return out.astype(np.uint8 if len(palette) <= 256 else np.uint16)


def photo_to_label_map(rgb: np.ndarray, palette: Palette, size: tuple[int, int] | None = None) -> np.ndarray:
    """A photo (H, W, 3) uint8 -> an editable label map by nearest palette colour (no segmentation model).

    ``size`` (H, W) resizes the photo first (area filter) so the map has the canvas size."""
    from PIL import Image

    rgb = np.asarray(rgb)[..., :3]
    if rgb.dtype != np.uint8:
        rgb = (rgb.astype(np.float64) / (65535.0 if rgb.dtype == np.uint16 else 1.0) * 255).clip(0, 255).astype(np.uint8)
    if size is not None and (rgb.shape[0], rgb.shape[1]) != tuple(size):
        rgb = np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.Resampling.BOX))
    return nearest_ids(rgb, palette)


def read_label_map(path: Path | str, palette: Palette | None = None, n_labels: int | None = None,
                   unknown: str = "error", allow_dontcare: bool = True) -> LabelMapImport:
    """Import a label map PNG: indexed ('P') and grey ('L', 'I;16', 'I') files give ids directly; RGB(A) files are
    colour-coded and go through ``palette``. Ids >= n_labels (default: the palette size) other than 255 raise
    LabelMapError, as do unknown colours unless ``unknown="nearest"``."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode == "P":
                arr, kind = np.array(im), "indexed"
            elif mode in ("L", "I;16", "I;16B", "I;16L", "I", "1"):
                arr, kind = np.array(im), "grey"
            else:
                arr, kind = np.array(im.convert("RGB")), "colour"
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise LabelMapError(f"{path.name}: not a readable image ({exc})") from exc
    limit = _max_valid(palette, n_labels)
    if kind == "colour":
        if palette is None:
            raise LabelMapError(f"{path.name} is a colour image: choose the palette its colours come from")
        ids, messages = map_colors(arr, palette, unknown)
        check_label_ids(ids, limit, allow_dontcare)
        return LabelMapImport(ids, kind, messages)
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.dtype.kind == "i":
        if arr.size and arr.min() < 0:
            raise LabelMapError(f"{path.name}: negative label ids")
        arr = arr.astype(np.uint16 if arr.max(initial=0) < 65536 else np.int64)
    if arr.dtype == np.int64:
        raise LabelMapError(f"{path.name}: label ids above 65535")
    check_label_ids(arr, limit, allow_dontcare)
    if arr.dtype != np.uint8 and arr.max(initial=0) < 256:
        arr = arr.astype(np.uint8)
    return LabelMapImport(arr, kind, [])


def write_label_map(path: Path | str, label_map: np.ndarray, palette: Palette | None = None) -> None:
    """Export ids as an indexed PNG carrying the palette's colours (ids < 256), else a 16-bit grey PNG.
    Written to a temporary file in the same folder, then renamed."""
    from PIL import Image

    path = Path(path)
    lm = np.asarray(label_map)
    if lm.ndim != 2:
        raise ValueError(f"a label map is (H, W), got {lm.shape}")
    if lm.max(initial=0) < 256:
        im = Image.fromarray(lm.astype(np.uint8), mode="P")
        im.putpalette((palette or generic_palette(256)).png_palette())
    else:
        im = Image.fromarray(lm.astype(np.uint16))
    with atomic_path(path, suffix=".png") as tmp:
        im.save(tmp, format="PNG")


def looks_like_label_map(path: Path | str, palette: Palette | None = None) -> bool:
    """True for indexed/grey PNGs and for colour PNGs whose colours (nearly) all belong to ``palette``;
    False for photos (JPEG, or colour images with many colours off the palette)."""
    from PIL import Image

    path = Path(path)
    try:
        with Image.open(path) as im:
            fmt, mode = im.format, im.mode
            if fmt != "PNG":
                return False
            if mode in ("P", "L", "I;16", "I;16B", "I;16L", "I", "1"):
                return True
            im.thumbnail((256, 256), Image.Resampling.NEAREST)
            rgb = np.asarray(im.convert("RGB")).astype(np.int64)
    except OSError:
        return False
    if palette is None:
        return False
    packed = rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]
    uniq, counts = np.unique(packed, return_counts=True)
    table = palette.color_to_index()
    on = sum(int(c) for u, c in zip(uniq.tolist(), counts) if u in table)
    return len(uniq) <= 512 and on >= 0.95 * packed.size
