"""Map a painted label map from one label set to another by label names (plain numpy, no Qt, no torch).

When the Paint tab switches to a model with another label set (ADE20K 150, COCO-Stuff 182, Cityscapes 35, or
a model's own names), the painting is kept: every label whose name the new set also has (case-insensitive,
"-other" / "-stuff" suffixes ignored, a few obvious synonyms such as tree = vegetation, sofa = couch) keeps
its meaning under its new id; the others go to the new set's catch-all label ("other", "unknown",
"unlabeled", ...; else dontcare where the set has it; else id 0) and are counted, so the user is told how many pixels lost their meaning.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

DONTCARE = 255

# names that mean the same thing in the three built-in sets (after normalising: lower case, no "-other")
SYNONYM_GROUPS = (
    ("tree", "trees", "vegetation", "palm"),
    ("sofa", "couch"),
    ("television receiver", "tv", "television", "crt screen", "monitor"),
    ("windowpane", "window", "window-other"),
    ("rug", "carpet"),
    ("rock", "stone"),
    ("earth", "dirt", "ground", "land"),
    ("plant", "potted plant", "plant-other", "flower"),
    ("water", "water-other", "lake", "river", "sea"),
    ("person", "rider"),
    ("table", "dining table", "coffee table"),
    ("building", "building-other", "house", "skyscraper"),
    ("road", "pavement", "path"),
    ("sidewalk", "pavement"),
    ("field", "grass", "playingfield", "terrain"),
    ("motorcycle", "motorbike", "minibike"),
    ("stairs", "stairway", "step"),
    ("traffic light", "traffic signal"),
    ("fence", "railing"),
    ("ashcan", "trash can"),
)
CATCH_ALL = ("other", "other / unknown", "unknown", "unlabeled", "unlabelled", "background", "void")

_UNUSED = re.compile(r"^\(unused\)")


def normalise(name: str) -> str:
    """'Sky-other' -> 'sky', 'wall-brick' stays; '(unused) hat' -> '' (never matched)."""
    n = " ".join(str(name).strip().lower().split())
    if _UNUSED.match(n):
        return ""
    for suffix in ("-other", "-stuff", "-merged"):
        if n.endswith(suffix):
            n = n[: -len(suffix)]
    return n


def _synonyms(name: str) -> list[str]:
    out = []
    for group in SYNONYM_GROUPS:
        normal = [normalise(g) for g in group]
        if name in normal:
            out += [g for g in normal if g != name]
    return out


def catch_all_id(names: list[str], dontcare: bool = False) -> int:
    """The label that takes what has no counterpart: one named like 'other' / 'unlabeled'; else dontcare
    (255) where the set has that slot (COCO-Stuff: its id 0 is 'person'); else 0."""
    lowered = [str(n).strip().lower() for n in names]
    for want in CATCH_ALL:
        if want in lowered:
            return lowered.index(want)
    return DONTCARE if dontcare else 0


@dataclass
class LabelMapping:
    """``lut[old_id] -> new_id`` for every possible uint16 id; ``matched`` (old, new) pairs by name;
    ``unmatched`` old ids that went to ``fallback``."""

    lut: np.ndarray
    fallback: int
    matched: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)

    def apply(self, label_map: np.ndarray) -> tuple[np.ndarray, int]:
        """(the mapped map, in the smallest dtype that holds it; pixels whose label had no counterpart).
        Pixels already holding the catch-all label or dontcare in both sets are not counted."""
        lm = np.asarray(label_map)
        out = self.lut[lm]
        lost = int(np.isin(lm, np.asarray(self.unmatched, dtype=lm.dtype)).sum()) if self.unmatched else 0
        dtype = np.uint8 if out.max(initial=0) < 256 else np.uint16
        return out.astype(dtype), lost


def map_label_sets(old_names: list[str], new_names: list[str], old_dontcare: bool = True,
                   new_dontcare: bool = True) -> LabelMapping:
    """The mapping from label set ``old_names`` (id = position) to ``new_names``.

    Exact names first, then normalised names, then synonyms; the catch-all labels map onto each other.
    Dontcare (255) stays dontcare where the new set has that slot, else goes to the catch-all label too."""
    fallback = catch_all_id(new_names, new_dontcare)
    new_exact = {str(n).strip().lower(): i for i, n in enumerate(new_names)}
    new_normal: dict[str, int] = {}
    for i, n in enumerate(new_names):
        key = normalise(n)
        if key and key not in new_normal:
            new_normal[key] = i
    lut = np.full(65536, fallback, np.uint16)
    matched, unmatched = [], []
    old_catch = catch_all_id(old_names)
    has_catch = bool(old_names) and str(old_names[old_catch]).strip().lower() in CATCH_ALL
    for i, name in enumerate(old_names):
        key = normalise(name)
        j = new_exact.get(str(name).strip().lower())
        if j is None and key:
            j = new_normal.get(key)
        if j is None and key:
            j = next((new_normal[s] for s in _synonyms(key) if s in new_normal), None)
        if j is None and has_catch and i == old_catch:
            j = fallback  # "other" in one set is "unlabeled" in the other: nothing is lost
        if j is None:
            unmatched.append(i)
        else:
            lut[i] = j
            if not (has_catch and i == old_catch):
                matched.append((i, j))
    if old_dontcare:
        if new_dontcare:
            lut[DONTCARE] = DONTCARE
        elif DONTCARE >= len(old_names):
            lut[DONTCARE] = fallback
    return LabelMapping(lut, fallback, matched, unmatched)
