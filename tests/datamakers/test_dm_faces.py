"""Face renderer: determinism, and every attribute label shows where it should (and nowhere else)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ganstudio.datamakers import faces
from ganstudio.datamakers.common import rng_for

SIZE = 64  # small and fast; the geometry is resolution independent


def _params(i=3, **over):
    p = faces.sample_face_params(rng_for(7, i, "faces"))
    base = {"glasses": 0, "beard": 0, "bald": 0, "hair_length": "short", "bangs": 0, "yaw": 0.0, "smile": 0.3,
            "mouth_open": 0}
    p.update(base)
    p.update(over)
    return p


def _rows(p, size, v0, v1):
    h = faces._Head(p, size * 2)
    return int((h.cy + v0 * h.b) / 2), int(np.ceil((h.cy + v1 * h.b) / 2))


def test_same_seed_same_image_and_labels():
    a, la = faces.render_face(rng_for(0, 5, "faces"), SIZE)
    b, lb = faces.render_face(rng_for(0, 5, "faces"), SIZE)
    c, lc = faces.render_face(rng_for(1, 5, "faces"), SIZE)
    assert a.shape == (SIZE, SIZE, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and la == lb
    assert not np.array_equal(a, c) and la != lc


def test_labels_are_json_and_complete():
    _, lab = faces.render_face(11, SIZE)
    json.dumps(lab)
    for key in ("smile", "mouth_open", "glasses", "beard", "hair_length", "hair_color", "hair_style", "yaw",
                "age", "skin_tone", "eye_color", "light_x", "background", "clothing_color", "face_width", "jaw"):
        assert key in lab
    assert isinstance(lab["smile"], float) and 0 <= lab["smile"] <= 1
    assert lab["glasses"] in (0, 1) and lab["beard"] in (0, 1) and lab["mouth_open"] in (0, 1)
    assert lab["hair_length"] in faces.HAIR_LENGTHS and lab["hair_color"] in faces.HAIR_COLORS
    assert -1 <= lab["yaw"] <= 1


def test_attribute_distributions_cover_all_values():
    ps = [faces.sample_face_params(rng_for(0, i, "faces")) for i in range(400)]
    for key, values in (("hair_color", faces.HAIR_COLORS), ("hair_length", faces.HAIR_LENGTHS),
                        ("eye_color", faces.EYE_COLORS)):
        assert {p[key] for p in ps} == set(values)
    for key in ("glasses", "beard", "mouth_open", "bald"):
        share = np.mean([p[key] for p in ps])
        assert 0.02 < share < 0.6, key
    assert all(p["hair_length"] == "short" for p in ps if p["bald"])


def test_glasses_change_only_the_eye_band():
    p0, p1 = _params(glasses=0), _params(glasses=1)
    a = faces.render_face_params(p0, SIZE).astype(int)
    b = faces.render_face_params(p1, SIZE).astype(int)
    d = np.abs(a - b).sum(-1)
    r0, r1 = _rows(p0, SIZE, -0.3, 0.22)
    assert d[r0:r1].sum() > 200 * 3  # clearly visible frames
    assert d[:r0].sum() == 0 and d[r1:].sum() == 0


@pytest.mark.parametrize("i", [3, 6, 9])
def test_smile_changes_the_mouth_and_cheeks_only(i):
    p = _params(i)
    a = faces.render_face_params(_params(i, smile=0.0), SIZE).astype(int)
    b = faces.render_face_params(_params(i, smile=1.0), SIZE).astype(int)
    d = np.abs(a - b).sum(-1)
    m0, m1 = _rows(p, SIZE, 0.42, 0.85)
    top = _rows(p, SIZE, -0.3, 0)[0]
    bottom = _rows(p, SIZE, 1.0, 0)[0]
    assert d[m0:m1].sum() > 300 and d[m0:m1].sum() > 0.2 * d.sum()  # the mouth changes visibly
    assert d[:top].sum() == 0 and d[bottom + 1:].sum() == 0  # forehead, hair, neck, clothes do not



def test_smile_lifts_the_mouth_corners():
    p = _params(6)
    h = faces._Head(p, 256)
    m0, m1 = _rows(p, 128, 0.42, 0.85)
    col = int((h.cx - 0.22 * h.a) / 2)  # near the left mouth corner

    def line_y(smile):
        img = faces.render_face_params(dict(p, smile=smile), 128).astype(int)
        return m0 + int(np.argmin(img[m0:m1, col].sum(-1)))

    assert line_y(1.0) < line_y(0.0) - 1


def test_beard_and_open_mouth_show_below_the_nose():
    p = _params()
    for key in ("beard", "mouth_open"):
        a = faces.render_face_params(_params(**{key: 0}), SIZE).astype(int)
        b = faces.render_face_params(_params(**{key: 1}), SIZE).astype(int)
        d = np.abs(a - b).sum(-1)
        r0 = _rows(p, SIZE, 0.0, 0)[0]
        assert d.sum() > 300, key
        assert d[:r0].sum() == 0, key


def test_head_turn_moves_the_features_sideways():
    def glasses_x(yaw):
        a = faces.render_face_params(_params(glasses=0, yaw=yaw), SIZE).astype(int)
        b = faces.render_face_params(_params(glasses=1, yaw=yaw), SIZE).astype(int)
        d = np.abs(a - b).sum(-1).astype(float)
        band = d[_rows(_params(), SIZE, -0.3, 0.22)[0]:_rows(_params(), SIZE, -0.3, 0.22)[1]]
        lenses = band * (band > 60)
        return (lenses.sum(0) * np.arange(SIZE)).sum() / lenses.sum()

    left, mid, right = glasses_x(-0.8), glasses_x(0.0), glasses_x(0.8)
    assert left < mid - 2 and right > mid + 2


def test_long_hair_falls_beside_the_face_onto_the_shoulders():
    p = _params(hair_length="short", hair_color="black", background="solid", background_color=[0.9, 0.9, 0.9])
    a = faces.render_face_params(p, SIZE).astype(int)
    b = faces.render_face_params(dict(p, hair_length="long"), SIZE).astype(int)
    d = np.abs(a - b).sum(-1)
    chin = _rows(p, SIZE, 1.0, 1.0)[0]
    assert d[chin:].sum() > 2000  # hair below the chin
    assert (b[chin + 2:, :, :].sum(-1) < 150).sum() > (a[chin + 2:, :, :].sum(-1) < 150).sum() + 20


@pytest.mark.parametrize("size", [32, 128])
def test_other_sizes(size):
    img, _ = faces.render_face(3, size)
    assert img.shape == (size, size, 3)
    assert img.std() > 10
