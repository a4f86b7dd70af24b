"""Landscape label maps + photos: ADE20K ids by name, determinism, photo colours follow the labels."""
from __future__ import annotations

import numpy as np
import pytest

from ganstudio.core.palettes import load_palette
from ganstudio.datamakers import landscapes
from ganstudio.datamakers.common import rng_for

SIZE = 128


@pytest.fixture(scope="module")
def scenes():
    return [landscapes.render_landscape(rng_for(0, i, "landscapes"), SIZE) for i in range(10)]


def test_class_ids_are_looked_up_by_name():
    pal = load_palette("ade20k")
    ids = landscapes.landscape_classes()
    assert set(ids) == set(landscapes.CLASS_NAMES)
    for name, i in ids.items():
        assert pal.names[i] == name
    assert ids["sky"] == 3 and ids["mountain"] == 17 and ids["sea"] == 27  # ADE20K objectInfo150 order


def test_labels_only_use_listed_ade20k_ids(scenes):
    pal = load_palette("ade20k")
    allowed = set(landscapes.landscape_classes().values())
    seen = set()
    for label, photo, sc in scenes:
        assert label.shape == (SIZE, SIZE) and label.dtype == np.uint8
        assert photo.shape == (SIZE, SIZE, 3) and photo.dtype == np.uint8
        ids = set(np.unique(label).tolist())
        assert ids <= allowed and 0 not in ids
        assert all(i < len(pal.names) for i in ids)
        assert (label[0] == landscapes.landscape_classes()["sky"]).mean() > 0.9  # sky at the top
        seen |= ids
    assert len(seen) >= 8  # the scenes are varied


def test_same_seed_same_pair_different_seed_differs():
    a = landscapes.render_landscape(rng_for(3, 1, "landscapes"), 96)
    b = landscapes.render_landscape(rng_for(3, 1, "landscapes"), 96)
    c = landscapes.render_landscape(rng_for(4, 1, "landscapes"), 96)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[1], c[1])


def test_photo_colours_follow_the_labels(scenes):
    ids = landscapes.landscape_classes()
    checked = 0
    for label, photo, sc in scenes:
        sky, grass = label == ids["sky"], label == ids["grass"]
        if sky.sum() < 50 or grass.sum() < 50:
            continue
        ph = photo.astype(float)
        s, g = ph[sky].mean(0), ph[grass].mean(0)
        assert s[2] > g[2] + 20, sc["time_of_day"]  # bluer
        assert s.mean() > g.mean() + 15  # brighter
        assert g[1] >= g[2]  # grass is not blue
        checked += 1
    assert checked >= 3


def test_water_reflects_the_sky_and_is_darker_than_it():
    ids = landscapes.landscape_classes()
    for i in range(40):
        label, photo, _ = landscapes.render_landscape(rng_for(0, i, "landscapes"), SIZE)
        water = np.isin(label, [ids["sea"], ids["water"], ids["river"]])
        if water.sum() > 200:
            ph = photo.astype(float)
            w, s = ph[water].mean(0), ph[label == ids["sky"]].mean(0)
            assert w.mean() < s.mean()
            assert w[2] >= w[0] - 10  # not red / brown
            return
    pytest.fail("no scene with water in 40 seeds")
