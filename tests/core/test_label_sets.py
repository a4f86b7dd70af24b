"""core.label_sets: a painting keeps its meaning across label sets where both sets name a label alike."""
from __future__ import annotations

import numpy as np

from ganstudio.core.label_sets import map_label_sets
from ganstudio.core.palettes import load_palette


def test_ade20k_to_cityscapes_by_name_and_synonym():
    ade, city = load_palette("ade20k").names, load_palette("cityscapes").names
    lm = np.zeros((4, 6), np.uint8)  # 0 = "other / unknown" in ADE20K
    lm[0] = 3  # sky
    lm[1] = 5  # tree -> vegetation
    lm[2, :3] = 7  # road
    lm[2, 3:] = 8  # bed: Cityscapes has no bed
    m = map_label_sets(ade, city, new_dontcare=False)
    out, lost = m.apply(lm)
    assert out.dtype == np.uint8
    assert (out[0] == 23).all() and (out[1] == 21).all()  # Cityscapes: 23 sky, 21 vegetation (written out)
    assert (out[2, :3] == 7).all()  # road is 7 in both
    assert (out[2, 3:] == 0).all() and (out[3] == 0).all()  # bed and "other" -> "unlabeled"
    assert lost == 3  # only the bed pixels lost their meaning; "other" -> "unlabeled" loses nothing
    assert 8 in m.unmatched and 0 not in m.unmatched


def test_case_suffixes_and_dontcare():
    m = map_label_sets(["Sky", "Wall", "hat"], ["person", "wall-other", "sky-other"], old_dontcare=True,
                       new_dontcare=True)
    lm = np.array([[0, 1, 2, 255]], np.uint8)
    out, lost = m.apply(lm)
    # COCO-Stuff's id 0 is "person": what has no counterpart goes to dontcare (255), never to a real label
    assert out.tolist() == [[2, 1, 255, 255]] and lost == 1
    out, _ = map_label_sets(["sky"], ["sky", "x"], new_dontcare=False).apply(np.array([[255, 0]], np.uint8))
    assert out.tolist() == [[0, 0]]  # no dontcare slot in the new set: the catch-all (here 0)


def test_ade20k_to_coco_keeps_most_scene_labels():
    ade, coco = load_palette("ade20k").names, load_palette("coco_stuff").names
    m = map_label_sets(ade, coco)
    for a, c in (("sky", "sky-other"), ("tree", "tree"), ("grass", "grass"), ("water", "water-other"),
                 ("mountain", "mountain"), ("building", "building-other"), ("sofa", "couch")):
        assert coco[int(m.lut[ade.index(a)])] == c, a
