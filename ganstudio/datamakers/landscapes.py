"""Procedural landscape label maps (ADE20K ids) paired with photos rendered from them (``landscapes`` SPADE).

A scene is built far to near (sky, mountain ranges, hills, ground, water, roads, buildings, trees, rocks,
flowers). Every element produces one anti-aliased coverage mask that is used twice: pixels with
coverage >= 0.5 get the element's ADE20K id in the label map, and the photo blends the element's
rendered colour with that coverage, so the photo's region edges are soft but sit exactly on the
label edges.

Label ids are looked up by name in ``resources/palettes/ade20k.json`` (never hard-coded). ADE20K has
no "cloud" and no "snow" class: clouds are drawn in the photo but stay ``sky`` in the label map, and
snow caps are drawn on mountains that stay ``mountain``.

Photo textures: scikit-image's CC0 texture photos ``grass``, ``gravel`` and ``brick`` (512x512 grey,
tinted and mapped with ground perspective), plus procedural noise for sky, clouds, water, sand, snow,
foliage and mountain relief; shading from a light direction, distance haze toward the horizon, sky
reflections on water.

API: ``render_landscape(rng_or_seed, size=256) -> (label uint8 HxW, photo uint8 HxWx3, scene dict)``,
``landscape_classes() -> {name: id}``, ``make_landscapes(out_dir, count, size, seed, ...)``.
"""
from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import cv2
import numpy as np

from ganstudio.core.files import write_text_atomic
from ganstudio.datamakers.common import (
    SKIMAGE_TEXTURES,
    as_rng,
    check_meta,
    file_name,
    merge_jsonl,
    rng_for,
    run_items,
    skimage_texture,
    smoothstep,
    to_uint8,
    value_noise,
    write_png,
)

VERSION = 1
CLASS_NAMES = ("sky", "mountain", "hill", "rock", "water", "sea", "river", "sand", "grass", "field", "tree",
               "flower", "road", "building")
ARCHETYPES = ("mountains", "coast", "countryside", "desert", "valley", "forest", "village")


@functools.lru_cache(maxsize=1)
def landscape_classes() -> dict[str, int]:
    """{class name: ADE20K id} for the classes the scenes use, looked up by exact name in the palette."""
    from ganstudio.core.palettes import load_palette

    pal = load_palette("ade20k")
    ids = {}
    for name in CLASS_NAMES:
        hits = [i for i, n in enumerate(pal.names) if n.strip().lower() == name]
        if len(hits) != 1:
            raise RuntimeError(f"ADE20K palette has {len(hits)} labels named {name!r}")
        ids[name] = hits[0]
    return ids


# ---------------------------------------------------------------------------------------- helpers
def fbm1d(rng, n: int, cells: float, octaves: int = 4, persistence: float = 0.5) -> np.ndarray:
    """1-D fractal noise of length n in about [-1, 1]."""
    x = np.arange(n, dtype=np.float64)
    out = np.zeros(n)
    amp, tot, c = 1.0, 0.0, float(cells)
    for _ in range(octaves):
        k = math.ceil(c) + 2
        pts = rng.uniform(-1, 1, k)
        xp = np.linspace(0, n * k / max(c, 1e-6), k)
        # smooth (cosine) interpolation between the random values
        t = x / (n / max(c, 1e-6))
        i0 = np.floor(t).astype(int)
        f = t - i0
        f = (1 - np.cos(f * np.pi)) / 2
        out += amp * (pts[np.minimum(i0, k - 1)] * (1 - f) + pts[np.minimum(i0 + 1, k - 1)] * f)
        del xp
        tot += amp
        amp *= persistence
        c *= 2
    return (out / tot).astype(np.float32)


def _mix(a, b, t):
    return a + (b - a) * t


@functools.lru_cache(maxsize=2)
def _textures():
    """Normalised (zero mean, unit-ish contrast) float32 versions of the CC0 texture photos."""
    out = {}
    for name in ("grass", "gravel", "brick"):
        t = skimage_texture(name).astype(np.float32) / 255.0
        t = (t - t.mean()) / (t.std() + 1e-6)
        out[name] = t
    return out


def _tri(t, n):
    """Texture coordinate reduced to one mirror period; remap's BORDER_REFLECT_101 then tiles the
    non-periodic texture seamlessly (the reduction keeps coordinates in remap's fixed-point range)."""
    return np.mod(t, 2 * (n - 1)).astype(np.float32)


def _ground_texture(name, S, y_h, rng, scale=1.0, stretch=1.0, fade=1.0):
    """A texture mapped on the ground plane (perspective below the horizon row ``y_h``), (S, S) float,
    fading to 0 (its mean) toward the horizon where it would alias."""
    tex = _textures()[name]
    n = tex.shape[0]
    yy, xx = _grid(S)
    d = np.maximum(yy - y_h, 0.5)
    depth = np.minimum(S / d, 40.0)  # 1 at the bottom-ish, large at the horizon (where the texture fades out)
    ox, oy = rng.uniform(0, 4 * n, 2)
    ang = rng.uniform(-0.3, 0.3)
    gx = (xx - S / 2) * depth * (scale * 1.4) * stretch
    gy = depth * S * 0.35 * scale
    tx = gx * math.cos(ang) - gy * math.sin(ang) + ox
    ty = gx * math.sin(ang) + gy * math.cos(ang) + oy
    out = cv2.remap(tex, tx.astype(np.float32), ty.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT_101)
    near = 1.0 - smoothstep(3.0, 18.0 * fade, depth)
    return out * near


def _flat_texture(name, h, w, rng, scale=1.0):
    tex = _textures()[name]
    n = tex.shape[0]
    ox, oy = rng.uniform(0, 4 * n, 2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(tex, _tri(xx * scale + ox, n), _tri(yy * scale + oy, n), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT_101)


@functools.lru_cache(maxsize=4)
def _grid(S):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    return yy, xx


def _poly_cov(S, polys, roi=None):
    """Anti-aliased coverage (float32 0..1) of filled polygons: (S, S), or the ``roi`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = roi or (0, 0, S, S)
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round((np.asarray(p, np.float32) - (x0, y0)) * 16).astype(np.int32) for p in polys], 255,
                 cv2.LINE_AA, shift=4)
    return m.astype(np.float32) / 255.0


def _roi(S, polys, margin=3):
    a = np.concatenate([np.asarray(p, np.float32).reshape(-1, 2) for p in polys])
    x0 = int(max(0, math.floor(a[:, 0].min()) - margin))
    y0 = int(max(0, math.floor(a[:, 1].min()) - margin))
    x1 = int(min(S, math.ceil(a[:, 0].max()) + margin + 1))
    y1 = int(min(S, math.ceil(a[:, 1].max()) + margin + 1))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _blob(cx, cy, rx, ry, rng, n=28, rough=0.18, lumps=5):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = 1 + rough * sum(rng.uniform(-1, 1) * np.sin(k * t + rng.uniform(0, 6.3)) / k ** 0.5 for k in range(2, 2 + lumps))
    return np.stack([cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)], -1)


# ------------------------------------------------------------------------------------------ scene
class _Scene:
    def __init__(self, rng, S: int):
        self.rng = rng
        self.S = S
        self.ids = landscape_classes()
        self.label = np.zeros((S, S), np.uint8)
        self.photo = np.zeros((S, S, 3), np.float32)
        self.yy, self.xx = _grid(S)

    def paint(self, cov, name, color, roi=None):
        """Blend ``color`` ((h, w, 3) or (3,)) with coverage ``cov`` (the whole frame, or the ``roi``
        (x0, y0, x1, y1)); pixels with cov >= 0.5 get the label."""
        x0, y0, x1, y1 = roi or (0, 0, self.S, self.S)
        lab = self.label[y0:y1, x0:x1]
        lab[cov >= 0.5] = self.ids[name]
        ph = self.photo[y0:y1, x0:x1]
        ph += cov[:, :, None] * (np.asarray(color, np.float32) - ph)


def _sample_scene(rng) -> dict:
    u = lambda lo, hi: float(rng.uniform(lo, hi))
    arch = ARCHETYPES[int(rng.choice(len(ARCHETYPES), p=[0.2, 0.16, 0.16, 0.1, 0.14, 0.12, 0.12]))]
    tod = ("day", "hazy", "sunset", "overcast")[int(rng.choice(4, p=[0.5, 0.18, 0.17, 0.15]))]
    season = ("summer", "spring", "autumn", "dry")[int(rng.choice(4, p=[0.45, 0.2, 0.2, 0.15]))]
    if arch == "desert":
        season = "dry"
    sc = {
        "archetype": arch, "time_of_day": tod, "season": season,
        "horizon": u(0.34, 0.58), "cloudiness": u(0, 1) if tod != "overcast" else u(0.6, 1),
        "light_x": u(-1, 1),
        "mountains": int(arch in ("mountains", "valley") or (arch in ("desert", "coast", "forest") and rng.random() < 0.5)
                         or rng.random() < 0.2),
        "snow": 0, "hills": int(arch in ("countryside", "village", "valley") or rng.random() < 0.35),
        "lake": int(arch == "mountains" and rng.random() < 0.6 or arch == "forest" and rng.random() < 0.3),
        "river": int(arch == "valley" or (arch in ("countryside", "forest") and rng.random() < 0.25)),
        "road": int(arch == "village" or (arch in ("countryside", "desert") and rng.random() < 0.35)),
        "buildings": int(arch == "village" or (arch in ("countryside", "coast") and rng.random() < 0.3)),
        "trees": {"forest": 1.0, "countryside": 0.6, "village": 0.5, "valley": 0.6, "mountains": 0.5,
                  "coast": 0.15, "desert": 0.0}[arch] * u(0.4, 1.0),
        "flowers": int(season in ("spring", "summer") and arch in ("countryside", "valley", "mountains", "village")
                       and rng.random() < 0.5),
        "rocks": int(arch in ("coast", "desert", "mountains") and rng.random() < 0.7 or rng.random() < 0.1),
    }
    if sc["mountains"]:
        sc["snow"] = int(rng.random() < (0.65 if arch == "mountains" else 0.35) and season != "dry")
    if sc["lake"] and sc["river"]:
        sc["river"] = 0
    if sc["river"] and sc["road"]:
        sc["road"] = 0
    return sc


_SKIES = {  # zenith, horizon, cloud light, cloud shadow
    "day": ((0.20, 0.42, 0.80), (0.68, 0.80, 0.93), (0.98, 0.98, 0.98), (0.62, 0.66, 0.74)),
    "hazy": ((0.45, 0.58, 0.76), (0.84, 0.86, 0.87), (0.95, 0.95, 0.94), (0.70, 0.72, 0.75)),
    "sunset": ((0.22, 0.27, 0.52), (0.98, 0.62, 0.36), (0.99, 0.80, 0.62), (0.50, 0.36, 0.44)),
    "overcast": ((0.52, 0.55, 0.60), (0.76, 0.77, 0.78), (0.82, 0.82, 0.83), (0.50, 0.52, 0.56)),
}
_GREENS = {"summer": (0.30, 0.50, 0.18), "spring": (0.42, 0.62, 0.22), "autumn": (0.55, 0.50, 0.22),
           "dry": (0.62, 0.56, 0.32)}
_TREE = {"summer": (0.16, 0.34, 0.12), "spring": (0.30, 0.52, 0.18), "autumn": (0.70, 0.38, 0.12),
         "dry": (0.34, 0.38, 0.18)}


def render_landscape(rng_or_seed, size: int = 256) -> tuple[np.ndarray, np.ndarray, dict]:
    """One scene -> (label map (size, size) uint8 ADE20K ids, photo (size, size, 3) uint8, scene dict)."""
    rng = as_rng(rng_or_seed)
    S = int(size)
    sc = _sample_scene(rng)
    scn = _Scene(rng, S)
    y_h = sc["horizon"] * S
    zen, hor, cl_l, cl_s = (np.array(c, np.float32) for c in _SKIES[sc["time_of_day"]])
    hor = hor * rng.uniform(0.95, 1.05)
    sc["sky_horizon"] = [round(float(c), 4) for c in hor]
    lx = sc["light_x"]
    _sky(scn, sc, y_h, zen, hor, cl_l, cl_s)
    haze_col = hor * 0.9 + 0.1
    # far to near: mountains, hills, ground, water, roads, buildings, trees, rocks, flowers
    if sc["mountains"]:
        n_ranges = 1 + int(rng.random() < 0.6)
        for k in range(n_ranges):
            far = n_ranges - 1 - k
            _mountains(scn, sc, y_h, haze_col, lx, far=far / max(n_ranges - 1, 1) if n_ranges > 1 else 0.4)
    if sc["hills"]:
        _hills(scn, sc, y_h, haze_col, lx)
    _ground(scn, sc, y_h, haze_col)
    if sc["archetype"] == "forest" or (sc["trees"] > 0.5 and rng.random() < 0.5):
        _treeline(scn, sc, y_h, haze_col, lx)
    if sc["lake"]:
        _lake(scn, sc, y_h, zen, hor)
    if sc["river"]:
        _river_or_road(scn, sc, y_h, "river", zen, hor)
    if sc["road"]:
        _river_or_road(scn, sc, y_h, "road", zen, hor)
    if sc["buildings"]:
        _buildings(scn, sc, y_h, haze_col, lx)
    if sc["trees"] > 0:
        _trees(scn, sc, y_h, haze_col, lx)
    if sc["rocks"]:
        _rocks(scn, sc, y_h, haze_col, lx)
    if sc["flowers"]:
        _flowers(scn, sc, y_h)
    photo = _finish(scn, sc)
    return scn.label.copy(), photo, sc


# --------------------------------------------------------------------------------------- elements
def _sky(scn, sc, y_h, zen, hor, cl_l, cl_s):
    S, rng = scn.S, scn.rng
    yy, xx = scn.yy, scn.xx
    t = np.clip(yy / max(y_h, 1), 0, 1) ** 0.8
    col = zen * (1 - t[:, :, None]) + hor * t[:, :, None]
    # sun glow
    sx = S * (0.5 + 0.4 * sc["light_x"])
    sy = y_h * (0.85 if sc["time_of_day"] == "sunset" else 0.25)
    g = np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / (2 * (0.25 * S) ** 2))
    glow = np.array([1.0, 0.85, 0.6] if sc["time_of_day"] == "sunset" else [1.0, 0.98, 0.9], np.float32)
    col = col + g[:, :, None] * glow * (0.25 if sc["time_of_day"] != "overcast" else 0.05)
    # clouds: fractal noise, squashed toward the horizon
    c = sc["cloudiness"]
    if c > 0.08:
        n = value_noise(rng, S // 2, S, 3.0, octaves=5)
        n = cv2.resize(n, (S, S), interpolation=cv2.INTER_LINEAR)
        # perspective: rows near the horizon sample the noise compressed vertically
        yrel = np.clip(yy / max(y_h, 1), 0, 0.999)
        src_y = (np.log1p(-yrel) * -0.55 * S) % S
        n = cv2.remap(n, xx, src_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        th = 0.35 - 0.45 * c
        cov = smoothstep(th, th + 0.25, n) * (yy < y_h + 2)
        up = np.clip(-(np.roll(n, 2, 0) - n) * 8 + 0.5, 0, 1)  # lit from above
        ccol = cl_s + (cl_l - cl_s) * (0.35 + 0.65 * up)[:, :, None]
        col = col + cov[:, :, None] * (ccol - col) * 0.95
    scn.paint(np.ones((S, S), np.float32), "sky", col)


def _mountains(scn, sc, y_h, haze_col, lx, far=0.5):
    S, rng = scn.S, scn.rng
    amp = S * rng.uniform(0.12, 0.3) * (1.0 - 0.35 * far)
    base = y_h + S * 0.01
    r = fbm1d(rng, S, rng.uniform(1.0, 2.5), 5, 0.55)
    ridged = 1 - np.abs(fbm1d(rng, S, rng.uniform(1.5, 3.5), 5, 0.5))
    prof = 0.5 * r + 0.5 * ridged
    prof = (prof - prof.min()) / max(float(np.ptp(prof)), 1e-6)
    prof = prof ** rng.uniform(1.1, 1.6) * rng.uniform(0.7, 1.0) + rng.uniform(0.0, 0.2)
    ridge = base - S * 0.02 - amp * prof
    yy = scn.yy
    cov = np.clip(yy - ridge[None, :] + 0.5, 0, 1) * (yy < base + 6)
    # relief: a noise field whose x-slope gives light and shadow sides
    rel = value_noise(rng, S, S, 6.0, octaves=5)
    gull = cv2.resize(value_noise(rng, S // 4, S, 24.0, octaves=2), (S, S), interpolation=cv2.INTER_LINEAR)
    slope_x = np.gradient(ridge)[None, :] * 0.08
    dx = (np.roll(rel, -1, 1) - np.roll(rel, 1, 1)) * S * 0.05 + slope_x * -1
    shade = 0.75 + 0.55 * np.clip(dx * lx * 1.5, -0.6, 0.6) + 0.08 * gull
    rock = np.array([rng.uniform(0.35, 0.5), rng.uniform(0.33, 0.45), rng.uniform(0.32, 0.45)], np.float32)
    if sc["season"] in ("summer", "spring") and rng.random() < 0.5:
        rock = rock * 0.6 + np.array(_GREENS[sc["season"]], np.float32) * 0.4
    col = rock * shade[:, :, None]
    if sc["snow"]:
        depth = (yy - ridge[None, :]) / max(amp, 1)
        line = rng.uniform(0.25, 0.6) * (1 - far * 0.3)
        snow = smoothstep(line + 0.1, line - 0.1, depth + 0.3 * rel + 0.15 * gull)
        scol = np.array([0.93, 0.95, 0.99], np.float32) * (0.82 + 0.3 * np.clip(dx * lx, -0.5, 0.5))[:, :, None]
        scol = scol * np.array([1.0, 1.0, 1.0], np.float32) + (scol < 0) * 0
        col = col + snow[:, :, None] * (scol - col)
    # aerial perspective: far ranges fade into the horizon colour; mist at the foot
    haze = np.clip(0.2 + 0.35 * far + 0.2 * smoothstep(ridge[None, :] + amp * 0.3, base, yy), 0, 0.7)
    col = col + haze[:, :, None] * (haze_col - col)
    scn.paint(cov.astype(np.float32), "mountain", col)


def _hills(scn, sc, y_h, haze_col, lx):
    S, rng = scn.S, scn.rng
    amp = S * rng.uniform(0.05, 0.15)
    ridge = y_h + S * 0.005 - amp * (0.5 + 0.5 * fbm1d(rng, S, rng.uniform(1.0, 2.5), 3, 0.45))
    yy = scn.yy
    cov = np.clip(yy - ridge[None, :] + 0.5, 0, 1) * (yy < y_h + S * 0.03)
    green = np.array(_GREENS[sc["season"]], np.float32) * rng.uniform(0.8, 1.05)
    slope = np.gradient(ridge)[None, :]
    tex = _flat_texture("grass", S, S, rng, 0.5)
    shade = 0.85 - np.clip(slope * lx * 0.25, -0.2, 0.2) + 0.05 * tex
    shade = shade - 0.15 * smoothstep(ridge[None, :], y_h + S * 0.03, yy)
    col = green * shade[:, :, None]
    haze = 0.35 + 0.2 * rng.random()
    col = col + haze * (haze_col - col)
    scn.paint(cov.astype(np.float32), "hill", col)


def _ground(scn, sc, y_h, haze_col):
    S, rng = scn.S, scn.rng
    yy, xx = scn.yy, scn.xx
    arch = sc["archetype"]
    below = np.clip(yy - y_h + 0.5, 0, 1).astype(np.float32)
    dist = 1 - np.clip((yy - y_h) / (S - y_h), 0, 1)  # 1 at the horizon, 0 at the bottom
    haze = (0.55 * dist ** 3)[:, :, None]
    green = np.array(_GREENS[sc["season"]], np.float32)
    sand = np.array([0.86, 0.76, 0.56], np.float32) * rng.uniform(0.9, 1.05)
    if arch == "desert":
        sand = np.array([0.85, 0.62, 0.38], np.float32) * rng.uniform(0.9, 1.08)
    if arch in ("desert",):
        _sand(scn, below, sand, y_h, haze, haze_col)
        return
    if arch == "coast":
        # sea from the horizon to a wavy shoreline, sand (or grass) in front
        shore = y_h + (S - y_h) * rng.uniform(0.35, 0.7) + S * 0.04 * fbm1d(rng, S, 2.0, 3)
        _sand(scn, below, sand, y_h, haze, haze_col)
        sea = np.clip(shore[None, :] - yy + 0.5, 0, 1) * below
        _water(scn, sea, y_h, "sea", sc, deep=True, shore=shore)
        return
    # grass everywhere, then fields as bands in perspective
    g = _ground_texture("grass", S, y_h, rng, 1.6)
    col = green * (0.88 + 0.1 * g)[:, :, None]
    col = col * (0.9 + 0.15 * value_noise(rng, S, S, 4.0, 2))[:, :, None]
    col = col + haze * (haze_col - col)
    scn.paint(below, "grass", col)
    if arch in ("countryside", "village", "valley") or rng.random() < 0.25:
        # fields: bands of the ground plane between wavy boundaries, some cut by a slanted edge
        cuts = np.cumsum(rng.uniform(0.12, 0.45, 6))
        cuts = cuts[cuts < 1.0]
        for k in range(len(cuts) - 1):
            if rng.random() < 0.35:
                continue
            ya = y_h + (S - y_h) * cuts[k] ** 1.5 + S * 0.01 * fbm1d(rng, S, 3.0, 2)
            yb = y_h + (S - y_h) * cuts[k + 1] ** 1.5 + S * 0.015 * fbm1d(rng, S, 3.0, 2)
            cov = np.clip(yy - ya[None, :] + 0.5, 0, 1) * np.clip(yb[None, :] - yy + 0.5, 0, 1) * below
            if rng.random() < 0.5:  # the band ends at a slanted edge on one side
                xe = S * rng.uniform(0.15, 0.85)
                sl = rng.uniform(-1.5, 1.5)
                edge = (xx - xe - sl * (yy - y_h)) * (1 if rng.random() < 0.5 else -1)
                cov = cov * np.clip(edge + 0.5, 0, 1)
            fcol = np.array([(0.80, 0.68, 0.32), (0.62, 0.60, 0.25), (0.55, 0.42, 0.25), (0.45, 0.58, 0.22),
                             (0.72, 0.62, 0.38)][rng.integers(0, 5)], np.float32) * rng.uniform(0.85, 1.1)
            # crop rows converging to a vanishing point on the horizon
            vx = S / 2 + rng.uniform(-1, 1) * S
            ang = np.arctan2(yy - y_h + 1, xx - vx)
            rows = 0.5 + 0.5 * np.sin(ang * rng.uniform(60, 140))
            rows = rows * (1 - smoothstep(0.0, 0.25, 1 - (yy - y_h) / (S - y_h)) * 0)  # keep
            fade = smoothstep(y_h, y_h + (S - y_h) * 0.15, yy)
            tex = _ground_texture("grass", S, y_h, rng, 0.6, stretch=0.4)
            fc = fcol * (0.86 + (0.12 * rows - 0.06) * fade + 0.06 * tex)[:, :, None]
            fc = fc + haze * (haze_col - fc)
            scn.paint(cov.astype(np.float32), "field", fc)


def _sand(scn, cov, sand, y_h, haze, haze_col):
    S, rng = scn.S, scn.rng
    g = _ground_texture("gravel", S, y_h, rng, 0.5)
    ripples = np.sin(np.maximum(scn.yy - y_h, 0) ** 0.7 * 3.0 + value_noise(rng, S, S, 3.0, 2) * 6.0)
    n = value_noise(rng, S, S, 5.0, 3)
    col = sand * (0.9 + 0.06 * g + 0.04 * ripples + 0.08 * n)[:, :, None]
    col = col + haze * (haze_col - col)
    scn.paint(cov, "sand", col)


def _water(scn, cov, y_h, name, sc, deep=False, shore=None, top=None):
    """Water: the sky colour reflected (mirrored about ``top``, default the horizon), darker and
    bluer with ripples; foam along a shoreline."""
    S, rng = scn.S, scn.rng
    yy, xx = scn.yy, scn.xx
    mirror_row = y_h if top is None else top
    src_y = np.clip(2 * mirror_row - yy, 0, S - 1)
    rip = value_noise(rng, S, S // 4, 5.0, octaves=2)
    rip = cv2.resize(rip, (S, S), interpolation=cv2.INTER_LINEAR)
    src_x = np.clip(xx + rip * 1.5 * (yy - y_h + 1) / S * 4, 0, S - 1)
    refl = cv2.remap(scn.photo, src_x.astype(np.float32), src_y.astype(np.float32), cv2.INTER_LINEAR)
    water = np.array([0.10, 0.25, 0.35], np.float32) if deep else np.array([0.12, 0.22, 0.25], np.float32)
    d = np.clip((yy - y_h) / (S - y_h), 0, 1)[:, :, None]
    fres = 0.75 - 0.45 * d  # grazing angles near the horizon reflect more
    col = water * (1 - fres) + refl * fres * 0.9
    col = col * (0.95 + 0.1 * rip[:, :, None])
    glint = np.clip(rip * 3 - 0.8, 0, 1) * (1 - d[:, :, 0]) * 0.25
    col = col + glint[:, :, None]
    if shore is not None:
        foam = np.exp(-((shore[None, :] - yy) / (1.0 + 3.0 * d[:, :, 0])) ** 2) * (0.5 + 0.5 * np.clip(rip * 2, 0, 1))
        col = col + foam[:, :, None] * (np.array([0.95, 0.96, 0.95], np.float32) - col) * 0.8
    scn.paint(cov.astype(np.float32), name, col)


def _treeline(scn, sc, y_h, haze_col, lx):
    S, rng = scn.S, scn.rng
    bumps = np.abs(fbm1d(rng, S, rng.uniform(12, 30), 3, 0.6))
    h = S * rng.uniform(0.02, 0.06) * (0.6 + 0.8 * bumps) * (0.7 + 0.6 * (fbm1d(rng, S, 2.0, 2) * 0.5 + 0.5))
    top = y_h - h
    cov = np.clip(scn.yy - top[None, :] + 0.5, 0, 1) * np.clip(y_h + S * 0.012 - scn.yy + 0.5, 0, 1)
    col = np.array(_TREE[sc["season"]], np.float32) * 0.7
    n = value_noise(rng, S, S, S / 10.0, 2)
    c = col * (0.85 + 0.3 * n)[:, :, None]
    c = c + 0.35 * (haze_col - c)
    scn.paint(cov.astype(np.float32), "tree", c)


def _lake(scn, sc, y_h, zen, hor):
    S, rng = scn.S, scn.rng
    top = y_h + S * rng.uniform(0.0, 0.03)
    bottom = top + (S - y_h) * rng.uniform(0.1, 0.35)
    cx = S * rng.uniform(0.25, 0.75)
    rx = S * rng.uniform(0.3, 0.7)
    t = np.linspace(0, np.pi, 32)
    wob = 1 + 0.08 * np.sin(t * rng.uniform(3, 7) + rng.uniform(0, 6.3))
    pts = np.stack([cx + rx * np.cos(t) * wob, top + (bottom - top) * np.sin(t) ** 0.7 * wob], -1)
    cov = _poly_cov(S, [pts.astype(np.float32)]) * np.clip(scn.yy - top + 0.5, 0, 1)
    _water(scn, cov, y_h, "water", sc, top=top)


def _river_or_road(scn, sc, y_h, kind, zen, hor):
    S, rng = scn.S, scn.rng
    ys = np.linspace(y_h + 0.5, S + 2, 40)
    d = (ys - y_h) / (S - y_h)
    x0 = S * rng.uniform(0.3, 0.7)
    sway = S * rng.uniform(0.05, 0.3) * (1 if kind == "river" else 0.5)
    ph = rng.uniform(0, 6.3)
    xc = x0 + sway * d * np.sin(ph + np.log(d + 0.05) * rng.uniform(1.5, 3.5)) + (rng.uniform(-0.6, 0.6) * S) * d
    w = (S * (0.008 if kind == "river" else 0.004)) + d * S * (rng.uniform(0.15, 0.35) if kind == "river" else rng.uniform(0.2, 0.3))
    left = np.stack([xc - w, ys], -1)
    right = np.stack([xc + w, ys], -1)
    poly = np.vstack([left, right[::-1]]).astype(np.float32)
    cov = _poly_cov(S, [poly]) * np.clip(scn.yy - y_h + 0.5, 0, 1)
    if kind == "river":
        _water(scn, cov, y_h, "river", sc)
        return
    asphalt = rng.random() < 0.6
    base = np.array([0.28, 0.28, 0.29] if asphalt else [0.62, 0.52, 0.38], np.float32) * rng.uniform(0.9, 1.15)
    g = _ground_texture("gravel", S, y_h, rng, 0.5)
    col = base * (0.92 + 0.12 * g)[:, :, None]
    if asphalt:  # dashed centre line
        line = np.zeros((S, S), np.uint8)
        for k in range(0, 39, 3):
            seg = np.stack([xc[k:k + 2], ys[k:k + 2]], -1)
            cv2.polylines(line, [np.round(seg * 16).astype(np.int32)], False, 255,
                          max(1, int(1 + d[k] * S * 0.008)), cv2.LINE_AA, shift=4)
        lc = np.array([0.9, 0.85, 0.55] if rng.random() < 0.5 else [0.9, 0.9, 0.9], np.float32)
        col = col + (line.astype(np.float32) / 255.0)[:, :, None] * (lc - col)
    dist = 1 - np.clip((scn.yy - y_h) / (S - y_h), 0, 1)
    col = col + (0.5 * dist ** 3)[:, :, None] * (hor - col)
    scn.paint(cov, "road", col)


def _buildings(scn, sc, y_h, haze_col, lx):
    S, rng = scn.S, scn.rng
    n = int(rng.integers(1, 7))
    ids = scn.ids
    ground = np.array([ids["grass"], ids["field"], ids["sand"]])
    items = []
    for _ in range(n * 4):
        d = rng.uniform(0.03, 0.45)
        yb = y_h + (S - y_h) * d
        scale = (yb - y_h) / (S - y_h) + 0.05
        w = S * rng.uniform(0.25, 0.6) * scale
        h = w * rng.uniform(0.5, 1.3)
        x = S * rng.uniform(0.05, 0.95)
        # stand on ground: both base corners and the middle
        xs = np.clip(np.array([x - w / 2, x, x + w / 2]), 0, S - 1).astype(int)
        if not np.isin(scn.label[min(int(yb), S - 1), xs], ground).all():
            continue
        items.append((yb, x, w, h))
        if len(items) >= n:
            break
    items.sort()
    for yb, x, w, h in items:
        x0, x1 = x - w / 2, x + w / 2
        side = w * rng.uniform(0.15, 0.35) * (1 if lx < 0 else -1)
        roof_h = h * rng.uniform(0.25, 0.6) if rng.random() < 0.75 else 0.0
        front = np.array([(x0, yb), (x1, yb), (x1, yb - h), (x0, yb - h)], np.float32)
        sx = x1 if side > 0 else x0
        sidep = np.array([(sx, yb), (sx + side, yb - abs(side) * 0.3), (sx + side, yb - h - abs(side) * 0.3),
                          (sx, yb - h)], np.float32)
        polys = [front, sidep]
        if roof_h > 0:
            roof = np.array([(x0 - w * 0.04, yb - h), (x1 + w * 0.04, yb - h), (x + side * 0.5, yb - h - roof_h)], np.float32)
            roof2 = np.array([(x1 + w * 0.04 if side > 0 else x0 - w * 0.04, yb - h), (sx + side, yb - h - abs(side) * 0.3),
                              (x + side * 1.2, yb - h - roof_h - abs(side) * 0.2), (x + side * 0.5, yb - h - roof_h)],
                             np.float32)
            polys += [roof, roof2]
        wall = np.array([(0.92, 0.9, 0.84), (0.85, 0.75, 0.6), (0.75, 0.45, 0.35), (0.7, 0.72, 0.74),
                         (0.95, 0.85, 0.6)][rng.integers(0, 5)], np.float32) * rng.uniform(0.85, 1.05)
        roi = _roi(S, polys)
        if roi is None:
            continue
        rx0, ry0, rx1, ry1 = roi
        lit_front = 0.95 if abs(lx) < 0.5 else 0.85
        cov_all = _poly_cov(S, polys, roi)
        col = np.empty((ry1 - ry0, rx1 - rx0, 3), np.float32)
        col[:] = wall * lit_front
        if rng.random() < 0.4:  # brick (CC0 texture) instead of plaster
            bt = _flat_texture("brick", ry1 - ry0, rx1 - rx0, rng, max(0.3, 60.0 / max(w, 1)))
            col *= (0.9 + 0.08 * bt)[:, :, None]
        side_cov = _poly_cov(S, [sidep], roi)
        col *= (1 - 0.35 * side_cov)[:, :, None]
        if roof_h > 0:
            rc = np.array([(0.55, 0.2, 0.12), (0.3, 0.3, 0.32), (0.45, 0.3, 0.2)][rng.integers(0, 3)], np.float32)
            rcov = _poly_cov(S, [polys[2]], roi)[:, :, None]
            rcov2 = _poly_cov(S, [polys[3]], roi)[:, :, None]
            col = col + rcov * (rc - col)
            col = col + rcov2 * (rc * 0.7 - col)
        # windows
        nx = max(1, int(w / max(S * 0.03, 4)))
        ny = max(1, int(h / max(S * 0.04, 5)))
        ww, wh = w / (nx * 2 + 1), h / (ny * 2 + 1)
        wins = []
        for i in range(nx):
            for j in range(ny):
                wx, wy = x0 + ww * (2 * i + 1), yb - h + wh * (2 * j + 1)
                wins.append(np.array([(wx, wy), (wx + ww, wy), (wx + ww, wy + wh), (wx, wy + wh)], np.float32))
        wcol = np.array([0.2, 0.26, 0.32] if rng.random() < 0.7 else [0.9, 0.8, 0.5], np.float32)
        col = col + _poly_cov(S, wins, roi)[:, :, None] * (wcol - col)
        dist = 1 - np.clip((yb - y_h) / (S - y_h), 0, 1)
        col = col + 0.5 * dist ** 2 * (haze_col - col)
        scn.paint(cov_all, "building", col, roi)


def _trees(scn, sc, y_h, haze_col, lx):
    S, rng = scn.S, scn.rng
    ids = scn.ids
    n = int(sc["trees"] * rng.uniform(5, 30))
    ground_ok = {ids["grass"], ids["field"], ids["hill"], ids["sand"], ids["tree"]}
    cands = []
    for _ in range(n * 3):
        d = rng.uniform(0.0, 1.0) ** 2.2
        yb = y_h + (S - y_h) * d + 1
        x = rng.uniform(-0.05, 1.05) * S
        xi, yi = int(np.clip(x, 0, S - 1)), int(np.clip(yb, 0, S - 1))
        if scn.label[yi, xi] in ground_ok:
            cands.append((yb, x))
        if len(cands) >= n:
            break
    cands.sort()
    green = np.array(_TREE[sc["season"]], np.float32)
    conifer_p = 0.7 if sc["archetype"] in ("mountains", "forest") and sc["snow"] else 0.3
    foliage = value_noise(rng, S, S, S / 3.0, octaves=2) * 0.6 + value_noise(rng, S, S, S / 12.0, octaves=1) * 0.4
    for yb, x in cands:
        scale = (yb - y_h) / (S - y_h)
        hgt = S * (0.03 + 0.32 * scale) * rng.uniform(0.6, 1.25)
        conifer = rng.random() < conifer_p
        trunk_h = hgt * (0.18 if conifer else 0.3)
        trunk_w = max(1.0, hgt * 0.06)
        crown_c = (x, yb - trunk_h - (hgt - trunk_h) * 0.5)
        polys = []
        if conifer:
            tiers = 4
            for k in range(tiers):
                t0 = k / tiers
                wdt = hgt * 0.32 * (1 - t0 * 0.75)
                yt = yb - trunk_h - (hgt - trunk_h) * t0
                polys.append(np.array([(x - wdt, yt), (x + wdt, yt), (x, yt - (hgt - trunk_h) * 0.45)], np.float32))
        else:
            r = (hgt - trunk_h) * 0.55
            polys.append(_blob(crown_c[0], crown_c[1], r * rng.uniform(0.8, 1.1), r, rng, 32, 0.12, 4))
        trunk = np.array([(x - trunk_w / 2, yb), (x + trunk_w / 2, yb), (x + trunk_w / 3, yb - trunk_h * 1.2),
                          (x - trunk_w / 3, yb - trunk_h * 1.2)], np.float32)
        # a soft shadow on the ground, away from the light
        shx, shr = x - lx * hgt * 0.3, hgt * 0.3
        shadow = _blob(shx, yb, shr, max(hgt * 0.06, 1), rng, 16, 0.05, 2)
        roi = _roi(S, polys + [trunk, shadow])
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        sh = _poly_cov(S, [shadow], roi)
        scn.photo[y0:y1, x0:x1] *= (1 - 0.3 * sh)[:, :, None]
        cov = _poly_cov(S, polys + [trunk], roi)
        crown = _poly_cov(S, polys, roi)[:, :, None]
        # crown shading: lit toward the light, darker at the bottom; leafy noise
        dxn = (scn.xx[y0:y1, x0:x1] - crown_c[0]) / max(hgt * 0.4, 1)
        dyn = (scn.yy[y0:y1, x0:x1] - crown_c[1]) / max(hgt * 0.4, 1)
        shade = 0.72 + 0.3 * np.clip(dxn * lx * 0.8 - dyn * 0.6, -1, 1) + 0.45 * foliage[y0:y1, x0:x1]
        col = green * rng.uniform(0.8, 1.15) * (shade * (0.85 if conifer else 1.0))[:, :, None]
        bark = np.array([0.28, 0.2, 0.13], np.float32)
        col = col * crown + bark * (1 - crown)
        dist = 1 - np.clip(scale, 0, 1)
        col = col + 0.45 * dist ** 3 * (haze_col - col)
        scn.paint(cov, "tree", col, roi)


def _rocks(scn, sc, y_h, haze_col, lx):
    S, rng = scn.S, scn.rng
    n = int(rng.integers(1, 6))
    gravel = _flat_texture("gravel", S, S, rng, 0.7)
    base = np.array([0.5, 0.47, 0.44], np.float32) * rng.uniform(0.7, 1.15)
    if sc["archetype"] == "desert":
        base = np.array([0.7, 0.45, 0.3], np.float32)
    items = sorted((y_h + (S - y_h) * rng.uniform(0.1, 1.0) ** 0.8, rng.uniform(0, S)) for _ in range(n))
    for yb, x in items:
        scale = (yb - y_h) / (S - y_h)
        r = S * (0.02 + 0.18 * scale) * rng.uniform(0.5, 1.3)
        if sc["archetype"] == "desert" and rng.random() < 0.4:  # a mesa / butte
            w = r * rng.uniform(2, 4)
            hh = r * rng.uniform(1, 2)
            pts = np.array([(x - w, yb), (x - w * 0.7, yb - hh), (x + w * 0.7, yb - hh), (x + w, yb)], np.float32)
        else:
            pts = _blob(x, yb - r * 0.45, r, r * 0.6, rng, 24, 0.2, 4)
            pts[:, 1] = np.minimum(pts[:, 1], yb)
        roi = _roi(S, [pts])
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        cov = _poly_cov(S, [pts], roi)
        dxn = (scn.xx[y0:y1, x0:x1] - x) / max(r, 1)
        dyn = (scn.yy[y0:y1, x0:x1] - (yb - r * 0.5)) / max(r, 1)
        shade = 0.8 + 0.35 * np.clip(dxn * lx - dyn * 0.6, -1, 1) + 0.12 * gravel[y0:y1, x0:x1]
        col = base * shade[:, :, None]
        col = col + 0.4 * (1 - scale) ** 3 * (haze_col - col)
        scn.paint(cov, "rock", col, roi)


def _flowers(scn, sc, y_h):
    S, rng = scn.S, scn.rng
    ids = scn.ids
    palette = np.array([(0.95, 0.85, 0.2), (0.9, 0.25, 0.2), (0.7, 0.4, 0.85), (0.97, 0.97, 0.95),
                        (0.95, 0.55, 0.2)], np.float32)
    for _ in range(int(rng.integers(1, 5))):
        d = rng.uniform(0.35, 1.0)
        yc = y_h + (S - y_h) * d
        x = rng.uniform(0, S)
        if scn.label[int(min(yc, S - 1)), int(x)] not in (ids["grass"], ids["field"]):
            continue
        rx = S * rng.uniform(0.06, 0.25) * d
        pts = _blob(x, yc, rx, rx * 0.3, rng, 24, 0.25, 5)
        cov = _poly_cov(S, [pts])
        # keep flowers on grass / field only
        keep = np.isin(scn.label, (ids["grass"], ids["field"])).astype(np.float32)
        cov = cov * keep
        if cov.max() < 0.5:
            continue
        col = scn.photo.copy()
        dots = np.zeros((S, S, 3), np.float32)
        dm = np.zeros((S, S), np.float32)
        x0, x1 = int(max(0, x - rx * 1.3)), int(min(S, x + rx * 1.3))
        y0, y1 = int(max(0, yc - rx * 0.5)), int(min(S, yc + rx * 0.5))
        k = int((x1 - x0) * (y1 - y0) * 0.25)
        if k <= 0:
            continue
        px = rng.uniform(x0, x1, k)
        py = rng.uniform(y0, y1, k)
        cols = palette[rng.integers(0, len(palette), 2)]
        ci = rng.integers(0, 2, k)
        for (xx, yy, c) in zip(px, py, ci):
            rad = max(1, round(float(0.5 + 2.2 * (yy - y_h) / (S - y_h))))
            cv2.circle(dots, (int(xx), int(yy)), rad, tuple(float(v) for v in cols[c]), -1, cv2.LINE_AA)
            cv2.circle(dm, (int(xx), int(yy)), rad, 1.0, -1, cv2.LINE_AA)
        col = col + dm[:, :, None] * 0.9 * (dots / np.maximum(dm[:, :, None], 1e-3) - col)
        scn.paint(cov, "flower", col)


def _finish(scn, sc):
    S, rng = scn.S, scn.rng
    img = scn.photo
    if sc["time_of_day"] == "sunset":
        img = img * np.array([1.06, 0.95, 0.88], np.float32)
    elif sc["time_of_day"] == "overcast":
        grey = img.mean(-1, keepdims=True)
        img = img + 0.3 * (grey - img)
    yy, xx = scn.yy, scn.xx
    vig = 1 - 0.18 * (((xx - S / 2) / S) ** 2 + ((yy - S / 2) / S) ** 2) * 2
    img = img * vig[:, :, None]
    img = cv2.GaussianBlur(img, (0, 0), 0.5)
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * 0.012
    return to_uint8(img)


# ------------------------------------------------------------------------------------------ folders
def _landscape_job(i: int, out_dir: str, seed: int, size: int) -> dict:
    out = Path(out_dir)
    lp, ip = out / "labels" / file_name(i), out / "images" / file_name(i)
    if lp.exists() and ip.exists():
        # the scene description is cheap to recompute only by rendering; keep what is on record
        return {"file": lp.name}
    label, photo, sc = render_landscape(rng_for(seed, i, "landscapes"), size)
    write_png(ip, photo)
    write_png(lp, label)
    ids, counts = np.unique(label, return_counts=True)
    return {"file": lp.name, **sc, "classes": {int(k): int(c) for k, c in zip(ids, counts)}}


def make_landscapes(out_dir, count: int, size: int = 256, seed: int = 0, start: int = 0, workers: int = 1,
                    progress: bool = True) -> Path:
    """Write ``labels/NNNNNN.png`` (mode L, ADE20K ids), ``images/NNNNNN.png`` (RGB), ``classes.json`` and
    ``scenes.jsonl`` into ``out_dir``; files already there are kept (resumable)."""
    out = Path(out_dir)
    check_meta(out, {"maker": "landscapes", "version": VERSION, "seed": int(seed), "size": int(size)})
    (out / "labels").mkdir(exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    classes = landscape_classes()
    write_text_atomic(out / "classes.json", json.dumps({
        "palette": "ade20k",
        "classes": [{"id": i, "name": n} for n, i in sorted(classes.items(), key=lambda kv: kv[1])],
        "notes": "ADE20K has no cloud or snow class: clouds are drawn in the photos but labelled sky; snow caps "
                 "are drawn on mountains labelled mountain. 0 (other) is never used.",
        "textures": [{"name": t.name, "license": t.license, "credit": t.credit} for t in SKIMAGE_TEXTURES.values()
                     if t.name in ("skimage:grass", "skimage:gravel", "skimage:brick")],
    }, indent=2) + "\n")
    job = functools.partial(_landscape_job, out_dir=str(out), seed=int(seed), size=int(size))
    rows = run_items(job, range(start, start + count), workers=workers, desc="landscapes", progress=progress)
    new = [r for r in rows if len(r) > 1]
    merge_jsonl(out / "scenes.jsonl", new)
    return out
