"""A parametric 2.5D portrait renderer with known attribute labels (training data for the ``faces`` model).

Every image is a head-and-shoulders portrait drawn from a parameter dict (:func:`sample_face_params`):
face shape, skin tone, hair colour / length / texture / parting / bald, eye colour, smile, open mouth,
glasses, beard, age cues, head turn, lighting, background and clothing. The labels of an image are
exactly the parameters it was rendered from, so supervised latent directions can be fitted on them.

How it is drawn (no 3D engine, a few vectorised passes): the head is a stack of horizontal
cross-sections, each an ellipse with a flatter front half (the face) and a deeper back half (the skull),
rotated by the yaw. Each pixel of the head is inverted analytically to its point on that surface, which
gives its surface coordinates (u across, v down) and its normal: skin shading, the hair region (a slightly
larger "hair shell" around the head, cut by a hairline defined on the surface) and the beard region
are per-pixel functions of those. Eyes, brows, nose, mouth, ears and glasses are polygons defined in
surface coordinates and projected with the same rotation (so a turned head foreshortens the far eye
and moves the nose more than the eyes), filled with OpenCV's anti-aliased rasteriser. Everything is
drawn at 2x and area-downscaled.

API: ``render_face(rng_or_seed, size) -> (uint8 HxWx3, labels)``, ``sample_face_params(rng)``,
``render_face_params(params, size)``, ``make_faces(out_dir, count, size, seed, ...)``.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np

from ganstudio.datamakers.common import (
    as_rng,
    check_meta,
    downscale,
    file_name,
    merge_jsonl,
    rng_for,
    run_items,
    sample1d,
    smoothstep,
    to_uint8,
    value_noise,
    write_png,
)

VERSION = 1
MAX_YAW_DEG = 38.0

HAIR_COLORS = ("black", "brown", "blond", "red", "grey")
HAIR_LENGTHS = ("short", "medium", "long")
HAIR_STYLES = ("straight", "curly")
PARTINGS = ("left", "center", "right", "none")
EYE_COLORS = ("brown", "dark", "hazel", "green", "blue", "grey")
GLASSES_STYLES = ("round", "rect")
BACKGROUNDS = ("solid", "gradient", "radial")
CLOTHING_STYLES = ("crew", "vneck", "collar")

_HAIR_RGB = {  # base colour, jitter
    "black": ((0.075, 0.065, 0.065), 0.02),
    "brown": ((0.30, 0.19, 0.11), 0.09),
    "blond": ((0.80, 0.64, 0.40), 0.07),
    "red": ((0.62, 0.26, 0.11), 0.06),
    "grey": ((0.70, 0.70, 0.69), 0.12),
}
_EYE_RGB = {
    "brown": (0.42, 0.25, 0.12), "dark": (0.20, 0.12, 0.07), "hazel": (0.52, 0.42, 0.20),
    "green": (0.30, 0.50, 0.30), "blue": (0.30, 0.52, 0.80), "grey": (0.52, 0.58, 0.62),
}
# skin tone 0 (very light) .. 1 (very dark), sRGB
_SKIN_STOPS = np.array([
    (0.99, 0.87, 0.77), (0.95, 0.77, 0.64), (0.85, 0.63, 0.47), (0.70, 0.48, 0.33),
    (0.50, 0.33, 0.21), (0.32, 0.21, 0.14)], np.float32)


# ------------------------------------------------------------------------------------------ sampling
def _choice(rng, names, weights):
    w = np.asarray(weights, np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def sample_face_params(rng: np.random.Generator) -> dict:
    """Draw one parameter set; every value is JSON-serialisable (floats, 0/1 ints, strings).

    Each attribute is drawn independently except two age cues: grey hair and baldness get likelier
    with ``age`` (as in real faces)."""
    u = lambda lo, hi: float(rng.uniform(lo, hi))
    p: dict = {}
    p["age"] = u(0, 1)
    p["face_width"] = u(0.88, 1.12)
    p["face_height"] = u(0.92, 1.08)
    p["jaw"] = u(0, 1)                     # 0 round .. 1 square
    p["skin_tone"] = u(0, 1)
    grey_w = 0.05 + 0.55 * p["age"] ** 2
    p["hair_color"] = _choice(rng, HAIR_COLORS, [0.28, 0.32, 0.18, 0.09, grey_w])
    p["hair_length"] = _choice(rng, HAIR_LENGTHS, [0.4, 0.3, 0.3])
    p["hair_style"] = _choice(rng, HAIR_STYLES, [0.65, 0.35])
    p["parting"] = _choice(rng, PARTINGS, [0.3, 0.2, 0.3, 0.2])
    p["bangs"] = int(rng.random() < 0.18)
    p["bald"] = int(rng.random() < 0.03 + 0.12 * p["age"])
    if p["bald"]:  # what is left of the hair is short, on the sides and the back
        p["hair_length"], p["bangs"], p["parting"] = "short", 0, "none"
    p["hair_volume"] = u(0, 1)
    p["eye_color"] = _choice(rng, EYE_COLORS, [0.33, 0.2, 0.12, 0.1, 0.16, 0.09])
    p["eye_size"] = u(0.85, 1.15)
    p["eye_spacing"] = u(0.35, 0.42)
    p["gaze_x"] = u(-1, 1)
    p["brow_thickness"] = u(0.6, 1.4)
    p["brow_arch"] = u(0, 1)
    p["nose_size"] = u(0.8, 1.2)
    p["nose_width"] = u(0.8, 1.25)
    p["mouth_width"] = u(0.85, 1.15)
    p["lip_fullness"] = u(0.6, 1.4)
    p["smile"] = u(0, 1)
    p["mouth_open"] = int(rng.random() < 0.3)
    p["glasses"] = int(rng.random() < 0.3)
    p["glasses_style"] = _choice(rng, GLASSES_STYLES, [0.5, 0.5])
    p["glasses_color"] = [round(float(c), 4) for c in _glasses_color(rng)]
    p["beard"] = int(rng.random() < 0.25)
    p["beard_length"] = u(0.3, 1.0)
    p["yaw"] = float(np.clip(rng.normal(0, 0.5), -1, 1))
    p["light_x"] = u(-1, 1)
    p["light_strength"] = u(0.4, 1.0)
    p["background"] = _choice(rng, BACKGROUNDS, [0.35, 0.4, 0.25])
    p["background_color"] = [round(float(c), 4) for c in _hsv(rng.random(), u(0.1, 0.55), u(0.35, 0.9))]
    p["background_color2"] = [round(float(c), 4) for c in _hsv(rng.random(), u(0.05, 0.5), u(0.2, 0.95))]
    p["clothing_color"] = [round(float(c), 4) for c in _hsv(rng.random(), u(0.05, 0.8), u(0.15, 0.9))]
    p["clothing_style"] = _choice(rng, CLOTHING_STYLES, [0.45, 0.3, 0.25])
    p["head_x"] = u(-1, 1)
    p["head_y"] = u(-1, 1)
    p["head_scale"] = u(0.94, 1.06)
    p["texture_seed"] = int(rng.integers(0, 2**31 - 1))
    return p


def _hsv(h, s, v):
    rgb = cv2.cvtColor(np.array([[[h * 179.0, s * 255.0, v * 255.0]]], np.float32).astype(np.uint8),
                       cv2.COLOR_HSV2RGB)[0, 0] / 255.0
    return rgb


def _glasses_color(rng):
    kind = rng.integers(0, 4)
    if kind == 0:
        return (0.06, 0.05, 0.05)
    if kind == 1:
        return (0.28, 0.16, 0.09)
    if kind == 2:
        g = rng.uniform(0.45, 0.75)
        return (g, g * 0.93, g * 0.8)
    return tuple(_hsv(rng.random(), rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.6)))


def hair_rgb(p: dict) -> np.ndarray:
    base, jit = _HAIR_RGB[p["hair_color"]]
    r = rng_for(p["texture_seed"] % (2**31), 0, "hair-colour")
    c = np.array(base, np.float32) * (1.0 + jit * 3 * r.uniform(-1, 1)) + r.uniform(-jit, jit, 3) * 0.3
    if p["hair_color"] == "grey":  # grey to white with age
        c = c + 0.2 * p["age"]
    return np.clip(c, 0.02, 0.95).astype(np.float32)


def skin_rgb(p: dict) -> np.ndarray:
    t = p["skin_tone"] * (len(_SKIN_STOPS) - 1)
    i = min(int(t), len(_SKIN_STOPS) - 2)
    f = t - i
    c = _SKIN_STOPS[i] * (1 - f) + _SKIN_STOPS[i + 1] * f
    grey = c.mean()
    c = c + (grey - c) * 0.15 * p["age"]  # older skin: a little less saturated
    return c.astype(np.float32)


# -------------------------------------------------------------------------------------- geometry
class _Head:
    """Geometry of one head in render pixels."""

    def __init__(self, p: dict, R: int):
        self.R = R
        s = p["head_scale"]
        self.a = 0.183 * R * p["face_width"] * s      # half width of the face
        self.b = 0.262 * R * p["face_height"] * s     # top of skull (v=-1) to chin (v=+1), halved
        self.cx = R * (0.5 + 0.025 * p["head_x"])
        self.cy = R * (0.45 + 0.018 * p["head_y"])
        self.phi = math.radians(MAX_YAW_DEG) * p["yaw"]
        self.cphi, self.sphi = math.cos(self.phi), math.sin(self.phi)
        self.p_jaw = 2.0 + 2.6 * p["jaw"]
        self.taper = 0.22 - 0.14 * p["jaw"]

    def w(self, v):
        """Half width of the head's cross-section at height v (v=-1 top, 0 eyes, 1 chin)."""
        v = np.asarray(v, np.float32)
        neg = np.minimum(np.maximum(-v, 0.0), 1.0)
        up = np.maximum(1.0 - neg ** 2.3, 0.0) ** (1 / 2.3)
        vp = np.minimum(np.maximum(v, 0.0), 1.0)
        lo = np.maximum(1.0 - vp ** self.p_jaw, 0.0) ** (1 / self.p_jaw) * (1.0 - self.taper * vp * vp)
        return self.a * np.where(v < 0, up, lo)

    def proj(self, u, v, dz=0.0):
        """Surface point (u across -1..1, v down, dz = extra depth in units of a) -> (N, 2) pixels."""
        u = np.asarray(u, np.float32)
        v = np.asarray(v, np.float32)
        if v.shape != u.shape:
            v = v + np.zeros_like(u)
        w = self.w(v)
        Z = 0.8 * w * np.sqrt(np.maximum(1.0 - u * u, 0.0)) + np.asarray(dz, np.float32) * self.a
        out = np.empty(u.shape + (2,), np.float32)
        out[..., 0] = self.cx + u * w * self.cphi + Z * self.sphi
        out[..., 1] = self.cy + v * self.b
        return out

    def proj3(self, X, v, Z):
        """A point in head coordinates (X, Z in pixels, v in surface units) -> pixel."""
        return np.array([self.cx + X * self.cphi + Z * self.sphi, self.cy + v * self.b], np.float32)


def _surface(xr, w, df, db, phi):
    """Invert the rotated cross-section ellipses: pixels at x offsets ``xr`` (H, W) in rows with half
    width ``w``, front depth ``df`` and back depth ``db`` (each (H, 1)) -> (alpha, u, zn, nx, nz, front).

    u = X / w (-1..1 across the head), zn = Z / depth (+1 front centre, -1 back), (nx, nz) the view-space
    normal's x and z, ``front`` whether the visible point is on the front half."""
    s = 1.0 if phi >= 0 else -1.0
    ph = abs(phi)
    c, sn = math.cos(ph), math.sin(ph)
    x = xr * s
    w = np.maximum(w, 1e-3)
    df = np.maximum(df, 1e-3)
    db = np.maximum(db, 1e-3)
    r_f = np.sqrt((w * c) ** 2 + (df * sn) ** 2)
    a_f = np.arctan2(df * sn, w * c)
    r_b = np.sqrt((w * c) ** 2 + (db * sn) ** 2)
    a_b = np.arctan2(db * sn, w * c)
    front = x >= -w * c
    th = np.where(front, a_f + np.arccos(np.clip(x / r_f, -1, 1)), a_b + np.arccos(np.clip(x / r_b, -1, 1)))
    depth = np.where(front, df, db)
    ct, st = np.cos(th), np.sin(th)
    nx, nz = ct / w, st / depth
    inv = 1.0 / np.sqrt(nx * nx + nz * nz)
    nx, nz = nx * inv, nz * inv
    vx = (nx * c + nz * sn) * s
    vz = -nx * sn + nz * c
    alpha = np.clip(np.minimum(x + r_b, r_f - x) + 0.5, 0, 1) * (w > 0.5)
    return alpha.astype(np.float32), (ct * s).astype(np.float32), st.astype(np.float32), vx, vz, front


# ---------------------------------------------------------------------------------- drawing helpers
class _Canvas:
    def __init__(self, img: np.ndarray):
        self.img = img  # (R, R, 3) float32
        self.R = img.shape[0]

    def _roi(self, pts_list, margin):
        allp = np.concatenate([np.asarray(p, np.float32).reshape(-1, 2) for p in pts_list])
        x0 = int(max(0, math.floor(allp[:, 0].min() - margin)))
        y0 = int(max(0, math.floor(allp[:, 1].min() - margin)))
        x1 = int(min(self.R, math.ceil(allp[:, 0].max() + margin + 1)))
        y1 = int(min(self.R, math.ceil(allp[:, 1].max() + margin + 1)))
        return x0, y0, x1, y1

    def mask(self, pts_list, thickness=0, closed=True, margin=2, roi=None):
        """Anti-aliased coverage (float32 0..1) of filled polygons (thickness 0) or strokes, in a ROI."""
        x0, y0, x1, y1 = roi or self._roi(pts_list, margin + thickness)
        if x1 <= x0 or y1 <= y0:
            return None, (x0, y0, x1, y1)
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        ipts = [np.round((np.asarray(p, np.float32).reshape(-1, 2) - (x0, y0)) * 16).astype(np.int32)
                for p in pts_list]
        if thickness <= 0:
            cv2.fillPoly(m, ipts, 255, cv2.LINE_AA, shift=4)
        else:
            cv2.polylines(m, ipts, closed, 255, max(1, round(float(thickness))), cv2.LINE_AA, shift=4)
        return m.astype(np.float32) * (1.0 / 255.0), (x0, y0, x1, y1)

    def put(self, alpha, roi, color, opacity=1.0):
        if alpha is None:
            return
        x0, y0, x1, y1 = roi
        a = alpha[:, :, None] * opacity
        dst = self.img[y0:y1, x0:x1]
        col = np.asarray(color, np.float32)
        dst *= 1 - a
        dst += a * col
        return

    def fill(self, pts_list, color, opacity=1.0):
        m, roi = self.mask(pts_list)
        self.put(m, roi, color, opacity)

    def stroke(self, pts, color, thickness, opacity=1.0, closed=False):
        m, roi = self.mask([pts], thickness=thickness, closed=closed)
        self.put(m, roi, color, opacity)


def _ellipse_pts(cx, cy, rx, ry, n=32, rot=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    cr, sr = math.cos(rot), math.sin(rot)
    return np.stack([cx + x * cr - y * sr, cy + x * sr + y * cr], -1)


@functools.lru_cache(maxsize=4)
def _noise_bank(R: int) -> np.ndarray:
    """Fixed noise fields (seeded once, so deterministic) that every face samples with random offsets."""
    rng = rng_for(12345, R, "face-noise-bank")
    fine = value_noise(rng, 2 * R, 2 * R, R / 1.5, octaves=1)           # skin pores / beard grain (2-3 px)
    # curls: a warped grid of bumps (tight coils about 7 render pixels apart)
    yy, xx = np.mgrid[0:2 * R, 0:2 * R].astype(np.float32)
    lam = 7.0 * R / 256.0
    wx = value_noise(rng, 2 * R, 2 * R, R / 16.0, octaves=2) * 14.0
    wy = value_noise(rng, 2 * R, 2 * R, R / 16.0, octaves=2) * 14.0
    blob = np.sin(xx * (2 * np.pi / lam) + wx) * np.sin(yy * (2 * np.pi / lam) + wy)
    soft = value_noise(rng, 2 * R, 2 * R, 6.0, octaves=3)               # blotches, clothing
    return np.stack([fine, blob, soft])


def _noise(bank, k, rng, y0, y1, x0, x1):
    n = bank[k]
    R2 = n.shape[0]
    oy = int(rng.integers(0, R2 - (y1 - y0)))
    ox = int(rng.integers(0, R2 - (x1 - x0)))
    return n[oy:oy + (y1 - y0), ox:ox + (x1 - x0)]


# ------------------------------------------------------------------------------------------- render
def render_face_params(p: dict, size: int = 128, ss: float = 2.0) -> np.ndarray:
    """Render the portrait of parameters ``p`` -> (size, size, 3) uint8 RGB (drawn at ``ss`` x size)."""
    R = round(float(size * ss))
    H = _Head(p, R)
    # one random stream per part, so that switching one attribute never changes another part's texture
    def rng(part):
        return rng_for(p["texture_seed"] % (2**31), 1, "face-" + part)
    bank = _noise_bank(R)
    img = np.empty((R, R, 3), np.float32)
    cv = _Canvas(img)
    skin = skin_rgb(p)
    hair = hair_rgb(p)
    lx = 1.1 * p["light_x"]
    L = np.array([lx, -0.55, 0.85], np.float32)
    L /= np.linalg.norm(L)
    Hv = L + np.array([0, 0, 1], np.float32)
    Hv /= np.linalg.norm(Hv)
    amb = 0.5 - 0.25 * p["light_strength"]

    def lit(nx, ny, nz, wrap=0.2):
        d = (nx * L[0] + ny * L[1] + nz * L[2] + wrap) / (1 + wrap)
        return amb + (1.0 - amb) * np.clip(d, 0, 1)

    _background(img, p, R)
    _clothing(cv, p, H, skin, lit)
    if not p["bald"] and p["hair_length"] in ("medium", "long"):
        _back_hair(cv, p, H, hair, rng("back-hair"), bank)
    _neck(cv, p, H, skin, lit)
    front_alpha, roi = _head_skin(cv, p, H, skin, lit, Hv, bank, rng("skin"))
    _features(cv, p, H, skin, hair, lit, roi, front_alpha, bank, rng("beard"))
    if p["glasses"]:
        _glasses_arms(cv, p, H)
    _hair_shell(cv, p, H, hair, lit, Hv, bank, rng("hair"))
    if p["glasses"]:
        _glasses_front(cv, p, H)
    out = downscale(img, size)
    return to_uint8(out)


def render_face(rng_or_seed, size: int = 128, ss: float = 2.0) -> tuple[np.ndarray, dict]:
    """Sample parameters from ``rng_or_seed`` (Generator or int) and render -> (image, labels)."""
    p = sample_face_params(as_rng(rng_or_seed))
    return render_face_params(p, size, ss), p


@functools.lru_cache(maxsize=4)
def _grid(R):
    yy, xx = np.mgrid[0:R, 0:R].astype(np.float32) / R
    return yy, xx


def _background(img, p, R):
    c1 = np.array(p["background_color"], np.float32)
    c2 = np.array(p["background_color2"], np.float32)
    kind = p["background"]
    if kind == "solid":
        img[:] = c1
        return
    n = 32  # smooth: computed small, resized
    yy, xx = _grid(n)
    if kind == "gradient":
        ang = (p["texture_seed"] % 360) * math.pi / 180
        t = (xx - 0.5) * math.sin(ang) * 0.6 + (yy - 0.5) * math.cos(ang) + 0.5
    else:
        t = np.sqrt((xx - 0.5) ** 2 + (yy - 0.4) ** 2) * 1.5
    t = np.clip(t, 0, 1)[:, :, None]
    img[:] = cv2.resize(c1 * (1 - t) + c2 * t, (R, R), interpolation=cv2.INTER_LINEAR)


def _clothing(cv, p, H, skin, lit):
    R, a, cx = H.R, H.a, H.cx + 0.08 * H.a * H.sphi
    y0 = H.cy + 1.32 * H.b
    nw = 0.46 * a
    W = 2.15 * a
    pts = [(cx - nw * 1.3, y0)]
    for t in np.linspace(0, 1, 12):
        pts.append((cx - nw * 1.3 - (W - nw * 1.3) * t ** 0.7, y0 + 0.1 * R * t ** 1.6 + 0.02 * R * t))
    pts += [(cx - W - 0.1 * R, R + 2), (cx + W + 0.1 * R, R + 2)]
    for t in np.linspace(1, 0, 12):
        pts.append((cx + nw * 1.3 + (W - nw * 1.3) * t ** 0.7, y0 + 0.1 * R * t ** 1.6 + 0.02 * R * t))
    pts = np.array(pts, np.float32)
    m, roi = cv.mask([pts])
    if m is None:
        return
    x0, y0r, x1, y1 = roi
    xx = (np.arange(x0, x1, dtype=np.float32) - cx) / (W * 1.1)
    yy = (np.arange(y0r, y1, dtype=np.float32) - y0) / (0.35 * R)
    nx = np.clip(xx, -0.95, 0.95)[None, :]
    nz = np.sqrt(1 - nx ** 2)
    ny = np.clip(-0.6 + 0.0 * yy, -1, 1)[:, None]
    shade = lit(nx * 0.8, ny * 0.6, nz) * (1.0 - 0.25 * np.clip(yy, 0, 1))[:, None]
    col = np.array(p["clothing_color"], np.float32)
    layer = col[None, None, :] * shade[:, :, None] * 1.1
    cv.put(m, roi, layer)
    style = p["clothing_style"]
    neck_col = skin * 0.78
    if style == "vneck":
        depth = 0.1 * R
        v = np.array([(cx - nw * 1.25, y0 - 2), (cx + nw * 1.25, y0 - 2), (cx, y0 + depth)], np.float32)
        cv.fill([v], neck_col)
        cv.stroke(v[[0, 2, 1]], col * 0.55, max(1, R * 0.008), 0.8)
    elif style == "crew":
        e = _ellipse_pts(cx, y0 + 0.005 * R, nw * 1.28, 0.035 * R, 40)
        lower = e[e[:, 1] >= y0 - 0.002 * R]
        lower = lower[np.argsort(lower[:, 0])]
        cv.fill([np.vstack([lower, [(cx + nw * 1.28, y0 - 0.02 * R), (cx - nw * 1.28, y0 - 0.02 * R)]])], neck_col)
        cv.stroke(lower, col * 0.6, max(2, R * 0.012), 0.9)
    else:  # collar
        ccol = np.array([0.93, 0.93, 0.9], np.float32) if col.mean() < 0.6 else col * 0.7
        for s in (-1, 1):
            tri = np.array([(cx + s * nw * 1.35, y0 - 0.03 * R), (cx + s * nw * 0.1, y0 + 0.075 * R),
                            (cx + s * nw * 2.4, y0 + 0.05 * R)], np.float32)
            cv.fill([tri], ccol)
            cv.stroke(tri, ccol * 0.6, max(1, R * 0.006), 0.8, closed=True)
        v = np.array([(cx - nw * 1.0, y0 - 0.03 * R), (cx + nw * 1.0, y0 - 0.03 * R), (cx, y0 + 0.07 * R)], np.float32)
        cv.fill([v], neck_col)


def _neck(cv, p, H, skin, lit):
    a, b = H.a, H.b
    cxn = H.cx + 0.12 * a * H.sphi
    nw = 0.46 * a
    ytop, ybot = H.cy + 0.35 * b, H.cy + 1.45 * b
    pts = np.array([(cxn - nw, ytop), (cxn + nw, ytop), (cxn + nw * 1.08, ybot), (cxn - nw * 1.08, ybot)], np.float32)
    m, roi = cv.mask([pts])
    if m is None:
        return
    x0, y0, x1, y1 = roi
    nx = np.clip((np.arange(x0, x1, dtype=np.float32) - cxn) / (nw * 1.1), -0.98, 0.98)[None, :]
    nz = np.sqrt(1 - nx ** 2)
    v = (np.arange(y0, y1, dtype=np.float32) - H.cy) / b
    shadow = 0.55 + 0.45 * smoothstep(0.95, 1.35, v)[:, None]
    shade = lit(nx, -0.1, nz) * shadow * 0.92
    cv.put(m, roi, _skin_lut(skin)[np.clip(shade * 200, 0, 299).astype(np.int32)])


def _skin_lut(skin):
    """Shade level (index / 200) -> skin colour; darker shading turns warmer (per-channel gamma)."""
    lv = np.arange(300, dtype=np.float32)[:, None] / 200.0
    return (skin[None, :] * lv ** np.array([0.88, 1.05, 1.22], np.float32)).astype(np.float32)


def _head_skin(cv, p, H, skin, lit, Hv, bank, rng):
    """Skull and face skin with shading; ears in between. Returns the face-front alpha and its ROI."""
    R, a, b = H.R, H.a, H.b
    y0 = int(max(0, H.cy - 1.02 * b))
    y1 = int(min(R, H.cy + 1.03 * b + 2))
    half = 1.35 * a + 2
    x0 = int(max(0, H.cx - half))
    x1 = int(min(R, H.cx + half))
    v = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - H.cy) / b)[:, None]
    xr = (np.arange(x0, x1, dtype=np.float32) + 0.5 - H.cx)[None, :]
    w = H.w(v)
    df = 0.8 * w
    db = np.where(v < 0.25, 1.2 * w, 1.2 * w * (1 - smoothstep(0.25, 0.75, v)) + 0.8 * w * smoothstep(0.25, 0.75, v))
    db = np.maximum(db, df)
    alpha, u, _zn, nx, nz, front = _surface(xr, w, df, db, H.phi)
    # vertical tilt of the normal: the top of the skull and under the chin face away
    ny = np.clip(0.85 * np.sign(v) * np.abs(v) ** 2.6, -0.95, 0.95).astype(np.float32)  # (H, 1)
    k = np.sqrt(1 - ny * ny)
    nxv, nzv = nx * k, nz * k
    shade = lit(nxv, ny, nzv)
    shade *= 0.82 + 0.18 * np.sqrt(np.maximum(nzv, 0.0))
    sp = np.maximum(nxv * Hv[0] + ny * Hv[1] + nzv * Hv[2], 0.0)
    sp *= sp
    sp *= sp
    sp *= sp  # ^8
    spec = sp * sp * sp * (0.10 + 0.08 * p["light_strength"])  # ^24
    col = _skin_lut(skin)[np.minimum(np.maximum(shade * 200, 0.0), 299.0).astype(np.int32)]
    # blush on the cheeks, slight pore noise
    blush = np.exp(-(((np.abs(u) - 0.5) * 5.0) ** 2 + ((v - 0.28) * 6.25) ** 2)) * (0.05 + 0.05 * p["smile"])
    gain = 1 + 0.025 * _noise(bank, 0, rng, y0, y1, x0, x1)
    col *= gain[:, :, None] + blush[:, :, None] * np.array([0.12, -0.1, -0.08], np.float32)
    col += spec[:, :, None]
    roi = (x0, y0, x1, y1)
    back_alpha = alpha * (~front)
    cv.put(back_alpha, roi, col)
    if p["bald"] or p["hair_length"] == "short":
        _ears(cv, p, H, skin, lit)
    front_alpha = alpha * front
    cv.put(front_alpha, roi, col)
    return front_alpha, roi


def _ears(cv, p, H, skin, lit):
    a = H.a
    for s in (-1, 1):
        trailing = max(0.0, -s * H.sphi)
        vc = 0.1
        w0 = float(H.w(vc))
        c = H.proj3(s * (w0 + 0.02 * a), vc, -0.28 * a)
        ew = a * (0.10 + 0.30 * trailing)
        eh = 0.19 * H.b
        off = s * ew * 0.35 * (1 - 2.5 * trailing)
        pts = _ellipse_pts(c[0] + off, c[1], ew, eh, 28)
        # narrower lobe
        t = (pts[:, 1] - c[1]) / eh
        pts[:, 0] = c[0] + off + (pts[:, 0] - c[0] - off) * (1 - 0.25 * np.clip(t, 0, 1))
        shade = float(lit(-s * 0.6 * (1 - trailing) + s * 0.2, 0.0, 0.6 + trailing))
        cv.fill([pts], skin * shade * 0.93)
        inner = _ellipse_pts(c[0] + off + s * ew * 0.1, c[1] - 0.1 * eh, ew * 0.55, eh * 0.62, 20)
        cv.fill([inner], skin * shade * 0.72, 0.35 + 0.5 * trailing)
        cv.stroke(inner[: 14], skin * shade * 0.55, max(1, a * 0.035), 0.5)


def _features(cv, p, H, skin, hair, lit, roi, front_alpha, bank, rng):
    a, b = H.a, H.b
    x0, y0, x1, y1 = roi
    dark = np.zeros((y1 - y0, x1 - x0), np.float32)     # darkening strokes (blurred), head ROI
    light = np.zeros_like(dark)
    org = np.array([x0, y0], np.float32)
    px = lambda u, v, dz=0.0: H.proj(u, v, dz)
    age = p["age"]
    wr = float(smoothstep(0.3, 1.0, age))
    smile = p["smile"]

    def dstroke(layer, pts, val, thick):
        pts16 = np.round((np.asarray(pts, np.float32) - org) * 16).astype(np.int32)
        cv2.polylines(layer, [pts16], False, float(val), max(1, round(float(thick))), cv2.LINE_AA, shift=4)

    def dfill(layer, pts, val):
        pts16 = np.round((np.asarray(pts, np.float32) - org) * 16).astype(np.int32)
        cv2.fillPoly(layer, [pts16], float(val), cv2.LINE_AA, shift=4)

    ve = -0.02
    ue = p["eye_spacing"]
    # --- nose (shading only)
    ns = p["nose_size"]
    nwid = p["nose_width"]
    tip_dz = 0.22 * ns
    shadow_side = -1.0 if p["light_x"] > 0 else 1.0
    if abs(p["yaw"]) > 0.3:
        shadow_side = 1.0 if p["yaw"] > 0 else -1.0
    vs = np.linspace(0.04, 0.34, 8)
    bridge = px(shadow_side * (0.06 + 0.03 * vs), vs, 0.06 + (tip_dz - 0.06) * (vs / 0.34) ** 2)
    dstroke(dark, bridge, 0.22 + 0.2 * abs(p["yaw"]), 0.05 * a)
    for s in (-1, 1):
        nos = px(np.array([s * 0.075 * nwid]), np.array([0.405]), 0.12)[0]
        dfill(dark, _ellipse_pts(nos[0], nos[1], 0.05 * a * nwid * (1 - 0.3 * abs(H.sphi)), 0.026 * b, 16), 0.55)
        ala = px(s * np.array([0.10, 0.135, 0.13, 0.09]) * nwid, np.array([0.31, 0.36, 0.41, 0.425]), 0.08)
        dstroke(dark, ala, 0.35, 0.035 * a)
    under = px(np.array([0.0]), np.array([0.44]), 0.08)[0]
    dfill(dark, _ellipse_pts(under[0], under[1], 0.16 * a * nwid, 0.035 * b, 20), 0.18)
    tipp = px(np.array([-0.03 * np.sign(p["light_x"])]), np.array([0.33]), tip_dz)[0]
    dfill(light, _ellipse_pts(tipp[0], tipp[1], 0.06 * a, 0.04 * b, 16), 0.22)
    if abs(H.sphi) > 0.05:
        sgn = 1.0 if H.sphi > 0 else -1.0
        ridge = px(np.full(6, sgn * 0.03), np.linspace(0.05, 0.37, 6), 0.06 + (tip_dz - 0.06) * np.linspace(0, 1, 6) ** 2)
        dstroke(dark, ridge, 0.5 * min(1.0, abs(H.sphi) * 2.5), 0.03 * a)
    # --- smile folds, wrinkles
    vm = 0.635
    mw = 0.28 * p["mouth_width"] * (1 + 0.3 * smile)
    lift = smile * 0.14 - 0.02
    for s in (-1, 1):
        fold = px(s * np.array([0.17, 0.25, mw + 0.06, mw + 0.08]), np.array([0.40, 0.48, vm - lift + 0.02, vm + 0.1]))
        dstroke(dark, fold, 0.08 + 0.22 * smile + 0.25 * wr, 0.03 * a)
        cheek = px(np.array([s * 0.48]), np.array([0.25 - 0.05 * smile]), 0.02)[0]
        dfill(light, _ellipse_pts(cheek[0], cheek[1], 0.16 * a, 0.1 * b, 20), 0.05 + 0.08 * smile)
    if wr > 0:
        for k, vv in enumerate((-0.47, -0.40, -0.33)):
            us = np.linspace(-0.4, 0.4, 9)
            dstroke(dark, px(us, vv + 0.012 * np.cos(us * 3) + 0.01 * k), 0.22 * wr, 0.022 * a)
        for s in (-1, 1):
            oc = ue + 0.2
            for ang in (-0.5, 0.0, 0.45):
                dstroke(dark, px(s * np.array([oc, oc + 0.1]), ve + np.array([0.0, 0.1 * ang])), 0.3 * wr, 0.02 * a)
            bag = px(s * np.linspace(ue - 0.13, ue + 0.13, 7), ve + 0.11 + 0.03 * np.sin(np.linspace(0, np.pi, 7)))
            dstroke(dark, bag, 0.25 * wr, 0.025 * a)
            mar = px(s * np.array([mw + 0.02, mw + 0.05]), np.array([vm + 0.05, vm + 0.2]))
            dstroke(dark, mar, 0.2 * wr, 0.025 * a)
    # chin and under-lip shadow
    cl = px(np.array([0.0]), np.array([0.84]), 0.05)[0]
    dfill(light, _ellipse_pts(cl[0], cl[1], 0.2 * a, 0.06 * b, 16), 0.07)
    ul = px(np.array([0.0]), np.array([vm + 0.12]), 0.02)[0]
    dfill(dark, _ellipse_pts(ul[0], ul[1], 0.17 * a, 0.03 * b, 16), 0.15)
    # eye sockets
    for s in (-1, 1):
        so = px(np.array([s * ue]), np.array([ve - 0.045]))[0]
        dfill(dark, _ellipse_pts(so[0], so[1], 0.27 * a, 0.09 * b, 20), 0.07 + 0.08 * (1 - p["light_strength"]))
    dark = cv2.GaussianBlur(dark, (0, 0), a * 0.03 + 0.5)
    light = cv2.GaussianBlur(light, (0, 0), a * 0.05 + 0.5)
    sub = cv.img[y0:y1, x0:x1]
    sub *= 1 - (np.minimum(dark, 0.9) * front_alpha)[:, :, None] * np.array([1.0, 1.03, 1.05], np.float32)
    sub += (light * front_alpha)[:, :, None] * 0.6

    if p["beard"]:
        _beard(cv, p, H, hair, lit, bank, rng)
    _mouth(cv, p, H, skin, vm, mw, lift)
    for s in (-1, 1):
        _eye(cv, p, H, s, ue, ve)
        _brow(cv, p, H, s, ue, ve, hair)


def _brow(cv, p, H, s, ue, ve, hair):
    t = np.linspace(0, 1, 10)
    u = s * (ue - 0.17 + 0.42 * t)
    arch = 0.025 + 0.04 * p["brow_arch"]
    vb = ve - 0.155 - arch * np.sin(np.pi * np.clip(t * 1.15, 0, 1) ** 0.9) + 0.01 * p["smile"]
    thick = p["brow_thickness"] * (0.034 * (1 - t) ** 0.7 + 0.01) * (1 - 0.2 * p["age"])
    up = H.proj(u, vb - thick * 0.5, 0.04)
    lo = H.proj(u, vb + thick * 0.5, 0.04)
    col = hair * {"blond": 0.6, "grey": 0.65}.get(p["hair_color"], 0.7)
    cv.fill([np.vstack([up, lo[::-1]])], col, 0.9)


def _eye(cv, p, H, s, ue, ve):
    a, b = H.a, H.b
    smile = p["smile"]
    ew = 0.2 * p["eye_size"]
    eh = 0.078 * p["eye_size"] * (1 - 0.08 * smile)
    n = 16
    t = np.linspace(-1, 1, n)
    tilt = -0.012 * t * s
    up_v = ve - eh * (1 - t ** 2) ** 0.75 * (1 + 0.12 * t * s) + tilt
    lo_v = ve + eh * 0.55 * (1 - t ** 2) ** 0.9 - 0.1 * eh * smile * (1 - t ** 2) + tilt
    u = s * ue + t * ew
    upper = H.proj(u, up_v, 0.02)
    lower = H.proj(u, lo_v, 0.02)
    poly = np.vstack([upper, lower[::-1]])
    m, roi = cv.mask([poly], margin=3)
    if m is None:
        return
    x0, y0, x1, y1 = roi
    # eye interior: sclera + iris + pupil + highlight, clipped to the lids
    sub = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    lum = 0.78 + 0.12 * p["light_strength"]
    sub[:] = np.array([0.93, 0.91, 0.88], np.float32) * lum
    gaze = 0.045 * p["gaze_x"]
    ic = H.proj(np.array([s * ue + gaze]), np.array([ve + 0.005]), 0.03)[0]
    ie = H.proj(np.array([s * ue + gaze + 0.1]), np.array([ve + 0.005]), 0.03)[0]
    rx = max(1.0, abs(ie[0] - ic[0]))
    ry = 0.1 * b * p["eye_size"]
    ecol = np.array(_EYE_RGB[p["eye_color"]], np.float32)

    def local(pts):
        return pts - (x0, y0)

    def fill_local(pts, col, op=1.0):
        mm = np.zeros(sub.shape[:2], np.uint8)
        cv2.fillPoly(mm, [np.round(local(pts) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        al = mm.astype(np.float32)[:, :, None] / 255 * op
        sub[:] = sub * (1 - al) + al * np.asarray(col, np.float32)

    fill_local(_ellipse_pts(ic[0], ic[1], rx, ry, 24), ecol * 0.5)
    fill_local(_ellipse_pts(ic[0], ic[1], rx * 0.8, ry * 0.8, 24), ecol)
    fill_local(_ellipse_pts(ic[0], ic[1], rx * 0.42, ry * 0.42, 20), (0.03, 0.02, 0.02))
    hl = (-0.35 * np.sign(p["light_x"] + 1e-6) * rx * 0.8, -0.35 * ry)
    fill_local(_ellipse_pts(ic[0] + hl[0], ic[1] + hl[1], rx * 0.22, ry * 0.22, 12), (1, 1, 1), 0.9)
    # lid shadow on the top of the eyeball
    yy = (np.arange(y0, y1, dtype=np.float32) - upper[:, 1].min()) / max(1.0, lower[:, 1].max() - upper[:, 1].min())
    sub *= (0.72 + 0.28 * np.clip(yy * 2.2, 0, 1))[:, None, None]
    cv.put(m, roi, sub)
    lash = np.array([0.08, 0.05, 0.045], np.float32)
    cv.stroke(upper, lash, max(1.0, 0.055 * a), 0.95)
    outer = upper[-4:] if s > 0 else upper[:4][::-1]
    cv.stroke(outer + (s * 0.02 * a, -0.015 * b), lash, max(1.0, 0.07 * a), 0.8)
    cv.stroke(lower, np.array([0.3, 0.2, 0.18], np.float32) * skin_rgb(p) * 1.3, max(1.0, 0.025 * a), 0.35)
    crease = H.proj(u[2:-2], up_v[2:-2] - 0.035, 0.02)
    cv.stroke(crease, skin_rgb(p) * 0.6, max(1.0, 0.025 * a), 0.35)


def _mouth(cv, p, H, skin, vm, mw, lift):
    a = H.a
    smile = p["smile"]
    n = 21
    s = np.linspace(-1, 1, n)
    u = s * mw
    line = vm - lift * s ** 2 + 0.012 * smile * (1 - s ** 2)
    tu = 0.04 * p["lip_fullness"] * (1 - 0.35 * smile)
    tl = 0.055 * p["lip_fullness"] * (1 - 0.3 * smile)
    bow = 1 - 0.3 * np.exp(-(s / 0.16) ** 2)
    lipc = skin * 0.5 + np.array([0.72, 0.3, 0.32], np.float32) * 0.5
    lipc = lipc * (0.95 - 0.1 * p["skin_tone"])
    dz = 0.05
    if p["mouth_open"]:
        oh = 0.075 + 0.05 * smile
        up_b = line - oh * 0.25 * (1 - s ** 2)
        lo_t = line + oh * 0.75 * (1 - s ** 2) ** 0.9
    else:
        up_b = line
        lo_t = line
    up_t = up_b - tu * (1 - s ** 2) ** 0.6 * bow
    lo_b = lo_t + tl * (1 - s ** 2) ** 0.8
    P = lambda vv: H.proj(u, vv, dz)
    if p["mouth_open"]:
        cav = np.vstack([P(up_b), P(lo_t)[::-1]])
        m, roi = cv.mask([cav], margin=2)
        if m is not None:
            x0, y0, x1, y1 = roi
            sub = np.empty((y1 - y0, x1 - x0, 3), np.float32)
            sub[:] = np.array([0.22, 0.06, 0.07], np.float32)
            teeth_b = up_b + (lo_t - up_b) * (0.35 + 0.2 * smile)
            tm = np.zeros(sub.shape[:2], np.uint8)
            tp = np.vstack([P(up_b - 0.01), P(teeth_b)[::-1]]) - (x0, y0)
            cv2.fillPoly(tm, [np.round(tp * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
            ta = tm.astype(np.float32)[:, :, None] / 255
            sub[:] = sub * (1 - ta) + ta * np.array([0.92, 0.9, 0.84], np.float32)
            tg = H.proj(np.array([0.0]), np.array([(lo_t.max() * 0.6 + up_b.min() * 0.4)]), dz)[0] - (x0, y0)
            tg_m = np.zeros(sub.shape[:2], np.uint8)
            cv2.fillPoly(tg_m, [np.round(_ellipse_pts(tg[0], tg[1] + 0.02 * H.b, mw * a * 0.6, 0.035 * H.b) * 16)
                                .astype(np.int32)], 255, cv2.LINE_AA, shift=4)
            ga = tg_m.astype(np.float32)[:, :, None] / 255 * 0.8
            sub[:] = sub * (1 - ga) + ga * np.array([0.62, 0.25, 0.28], np.float32)
            cv.put(m, roi, sub)
    cv.fill([np.vstack([P(up_t), P(up_b)[::-1]])], lipc * 0.82)
    cv.fill([np.vstack([P(lo_t), P(lo_b)[::-1]])], lipc)
    hl = H.proj(u[7:14], (lo_t[7:14] + lo_b[7:14]) / 2 + 0.005, dz)
    cv.stroke(hl, np.minimum(lipc * 1.35, 1), max(1.0, 0.03 * a), 0.35)
    ext = np.linspace(-1.06, 1.06, n)
    line_e = vm - lift * ext ** 2 + 0.012 * smile * (1 - ext ** 2)
    dark = np.array([0.16, 0.06, 0.06], np.float32) + skin * 0.15
    cv.stroke(H.proj(ext * mw, line_e, dz), dark, max(1.0, 0.036 * a), 0.9 if not p["mouth_open"] else 0.5)
    if smile > 0.35:  # dimples at the mouth corners
        for sg in (-1, 1):
            cu = np.array([sg * mw * 1.04, sg * mw * 1.12, sg * mw * 1.1])
            cvv = np.array([vm - lift, vm - lift - 0.01, vm - lift + 0.04])
            cv.stroke(H.proj(cu, cvv, dz), dark, max(1.0, 0.025 * a), 0.6 * (smile - 0.35) / 0.65)


def _beard(cv, p, H, hair, lit, bank, rng):
    R, a, b = H.R, H.a, H.b
    L = p["beard_length"]
    ext = 0.06 + 0.22 * L
    y0 = int(max(0, H.cy - 0.1 * b))
    y1 = int(min(R, H.cy + (1 + ext) * b + 3))
    x0 = int(max(0, H.cx - 1.3 * a))
    x1 = int(min(R, H.cx + 1.3 * a))
    if y1 <= y0 or x1 <= x0:
        return
    v = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - H.cy) / b)[:, None]
    xr = (np.arange(x0, x1, dtype=np.float32) + 0.5 - H.cx)[None, :]
    # the beard volume: the jaw stretched down by ext and widened a little
    vv = np.clip(v / (1 + ext), -1, 1)
    w = H.w(np.where(v < 0, v, vv)) * (1.0 + 0.06 * L)
    alpha, u, _zn, nx, nz, front = _surface(xr, w, 0.85 * w, 0.85 * w, H.phi)
    alpha = alpha * front
    au = np.abs(u)
    top = np.clip(0.12 + (0.95 - au) * 1.05, 0.12, 0.58)
    vm = 0.635
    must = (au < 0.33) & (v > vm - 0.15) & (v < vm)
    top = np.where(must, np.minimum(top, vm - 0.13), top)
    cov = np.clip((v - top) * b / (0.05 * a + 1), 0, 1) * (au < 0.985)
    grain = _noise(bank, 0, rng, y0, y1, x0, x1)
    cov = np.clip(cov * (0.8 + 0.5 * grain), 0, 1) * alpha * (0.82 + 0.16 * L)
    base = hair * (0.8 if p["hair_color"] != "grey" else 0.95)
    shade = lit(nx, np.clip(v - 0.6, -0.5, 0.9) * 0.6, nz)
    col = base[None, None, :] * (shade * (0.9 + 0.25 * grain))[:, :, None]
    cv.put(cov, (x0, y0, x1, y1), col)


def _back_hair(cv, p, H, hair, rng, bank):
    R, a, b = H.R, H.a, H.b
    vol = 0.06 + 0.16 * p["hair_volume"] + (0.1 if p["hair_style"] == "curly" else 0.0)
    v_end = 1.15 if p["hair_length"] == "medium" else 2.25
    xc = H.cx - 0.3 * a * H.sphi
    y0 = int(max(0, H.cy - 0.6 * b))
    y1 = int(min(R, H.cy + (v_end + 0.2) * b))
    x0, x1 = 0, R
    if y1 <= y0:
        return
    v = ((np.arange(y0, y1, dtype=np.float32) - H.cy) / b)[:, None]
    x = np.arange(x0, x1, dtype=np.float32)[None, :] - xc
    flare = 0.45 if p["hair_length"] == "long" else 0.12
    vt = vol * 1.1
    top = np.clip(1 - np.clip(-v / (1 + vt), 0, 1) ** 2.3, 0, 1) ** (1 / 2.3)
    hw = a * (1.02 + vol) * (1 + flare * smoothstep(0.6, v_end, v)) * top
    t1 = rng.uniform(-1, 1, 64).astype(np.float32)
    wav = sample1d(t1, (x / a) * 2.0) * 0.04 * (2.0 if p["hair_style"] == "curly" else 1)
    bottom = v_end + wav - 0.12 * (np.abs(x) / (hw + 1)) ** 2
    al = np.clip(hw - np.abs(x) + 0.5, 0, 1) * np.clip((bottom - v) * b + 0.5, 0, 1)
    streak_t = rng.uniform(-1, 1, 128).astype(np.float32)
    if p["hair_style"] == "curly":
        streak = 0.8 + 0.3 * _noise(bank, 1, rng, y0, y1, x0, x1)
    else:
        streak = 0.82 + 0.18 * sample1d(streak_t, x / a * 14 + 2 * np.sin(v * 2.0))
    inner = 0.55 + 0.45 * np.clip(np.abs(x) / hw, 0, 1) ** 1.5
    col = hair[None, None, :] * (0.62 * streak * inner)[:, :, None]
    cv.put(al, (x0, y0, x1, y1), col)


def _hair_shell(cv, p, H, hair, lit, Hv, bank, rng):
    """Hair on a shell slightly larger than the skull, cut by a hairline defined on the surface.

    Below the temples the shell of medium / long hair is a vertical cylinder (hair hanging beside the
    face); its inversion is the same for every row there, so it is computed once and repeated."""
    R, a, b = H.R, H.a, H.b
    curly = p["hair_style"] == "curly"
    length = p["hair_length"]
    bald = bool(p["bald"])
    vol = 0.05 + 0.13 * p["hair_volume"] + (0.09 if curly else 0.0)
    if length == "short":
        vol *= 0.6
    if bald:
        vol = 0.025
    vt = vol * 1.1
    v_end = {"short": 0.42, "medium": 1.15, "long": 2.25}[length]
    y0 = int(max(0, H.cy - (1 + vt) * b - 2))
    y1 = int(min(R, H.cy + (v_end + 0.1) * b))
    half = a * (1 + vol) * 1.45 + 3
    x0 = int(max(0, H.cx - half))
    x1 = int(min(R, H.cx + half))
    if y1 <= y0 or x1 <= x0:
        return
    v = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - H.cy) / b)[:, None]
    xr = (np.arange(x0, x1, dtype=np.float32) + 0.5 - H.cx)[None, :]
    vv = np.minimum(np.maximum(-v / (1 + vt), 0.0), 1.0)
    ws = a * (1 + vol) * np.maximum(1 - vv ** 2.3, 0.0) ** (1 / 2.3)
    if length == "short":
        ws = np.where(v > 0, H.w(v) * (1 + vol), ws)
        n_top = len(v)
    else:  # rows below the eyes: one cylinder row
        n_top = int(np.searchsorted(v[:, 0], 0.0)) + 1
        n_top = min(n_top, len(v))
    fields = _surface(xr, ws[:n_top], 0.85 * ws[:n_top], 1.22 * ws[:n_top], H.phi)
    if n_top < len(v):
        n_bot = len(v) - n_top
        fields = tuple(np.concatenate([f, np.broadcast_to(f[-1:], (n_bot, f.shape[1]))], 0) for f in fields)
    alpha, u, zn, nx, nz, _front = fields
    delta = np.arccos(np.minimum(np.maximum(zn, -1.0), 1.0)) * (1 / np.pi)  # 0 front centre .. 1 back
    # the hairline, as a function of the angle from the front (delta) and u
    recede = 0.14 * float(smoothstep(0.5, 1.0, p["age"])) * (p["texture_seed"] % 3 == 0)
    hl = -0.55 + 0.03 * p["face_height"] - recede
    part = {"left": -0.32, "center": 0.0, "right": 0.32, "none": None}[p["parting"]]
    if part is not None:  # hair swept away from the parting comes a little lower over the temple
        hl_u = hl + 0.1 * u * u + 0.08 * np.minimum(np.maximum(np.abs(u - part) - 0.15, 0.0), 0.6)
    else:
        hl_u = hl + 0.12 * u * u
    if p["bangs"]:
        hl_u = np.where(np.abs(u) < 0.8, -0.3 + 0.06 * u * u, hl_u)
    sideburn, ear_top = 0.02, -0.2
    if length == "short":
        nape = 0.42
        nape = 0.3
        bnd = np.where(delta < 0.3, hl_u + (sideburn - hl_u) * smoothstep(0.04, 0.33, delta) ** 1.6, sideburn)
        mid = (delta >= 0.33) & (delta < 0.75)
        bnd = np.where(mid, ear_top + (sideburn - ear_top) * (1 - smoothstep(0.33, 0.4, delta))
                       + (nape - ear_top) * smoothstep(0.64, 0.75, delta), bnd)
        bnd = np.where(delta >= 0.75, nape, bnd)
    else:
        t0 = 0.36
        bnd = np.where(delta < t0, hl_u + (sideburn - hl_u) * smoothstep(0.0, t0 + 0.02, delta) ** 1.4,
                       sideburn + (v_end - sideburn) * smoothstep(t0, t0 + 0.04, delta))
    if bald:  # a fringe of hair on the sides and the back only, below the crown
        bnd = np.where((v < -0.42) | (delta < 0.4), -9.0, bnd)
    soft = (3.0 if curly else 1.2) * 0.9 / b
    cov = np.minimum(np.maximum((bnd - v) / soft + 0.5, 0.0), 1.0)
    if curly:
        grain = _noise(bank, 1, rng, y0, y1, x0, x1)
        cov = np.minimum(np.maximum(cov * 1.3 + grain * 0.5 * (cov > 0.02) - 0.15, 0.0), 1.0)
        alpha = np.minimum(np.maximum(alpha * 1.3 + (grain * 0.5 - 0.15) * ((alpha > 0.02) & (alpha < 0.999)), 0.0), 1.0)
    cov = cov * alpha
    if not cov.any():
        return
    # colour: streaks along the hair (or curls), shading from the shell normal, a sheen
    ny = -np.minimum(0.9 * np.minimum(np.abs(v), 1.05) ** 2.4, 0.95) * (v < 0)
    k = np.sqrt(1 - ny * ny)
    nxv, nzv = nx * k, nz * k
    shade = lit(nxv, ny, nzv, 0.6)
    if curly:
        tex = 0.8 + 0.3 * grain
    else:
        st = rng.uniform(-1, 1, 256).astype(np.float32)
        st2 = rng.uniform(-1, 1, 256).astype(np.float32)
        ang = np.arctan2(zn, u)
        coord = ang * 40.0 + np.minimum(np.maximum(v + 0.6, 0.0), 3.0) * (0.6 if length == "short" else 2.0)
        tex = 0.86 + 0.1 * sample1d(st, coord) + 0.07 * sample1d(st2, coord * 2.7 + 11)
    sh = np.maximum(nxv * Hv[0] + ny * Hv[1] + nzv * Hv[2], 0.0)
    sh2 = sh * sh
    sh8 = (sh2 * sh2) ** 2
    lightness = float(hair.mean())
    gain = shade * tex * 1.05
    if part is not None and not p["bangs"]:
        gain = gain * (1 - 0.4 * np.exp(-((u - part) / 0.035) ** 2) * ((v < hl - 0.02) & (zn > 0.1)))
    col = hair[None, None, :] * gain[:, :, None]
    col += (sh8 * sh2 * (0.10 + 0.25 * lightness) * tex)[:, :, None] * (0.6 + 0.4 * hair)[None, None, :]
    cv.put(cov.astype(np.float32), (x0, y0, x1, y1), col)


def _glasses_rims(p, H):
    ue = p["eye_spacing"]
    ve = -0.02
    gw, gh = 0.225, 0.105
    n = 4.0 if p["glasses_style"] == "rect" else 2.0
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    c, s_ = np.cos(t), np.sin(t)
    ex = np.sign(c) * np.abs(c) ** (2 / n)
    ey = np.sign(s_) * np.abs(s_) ** (2 / n)
    rims = []
    for s in (-1, 1):
        u = s * ue + ex * gw
        vv = ve + 0.01 + ey * gh * (1 + 0.12 * (ey > 0))
        rims.append(H.proj(u, vv, 0.16))
    return rims, ue, ve, gw


def _glasses_arms(cv, p, H):
    rims, ue, ve, gw = _glasses_rims(p, H)
    col = np.array(p["glasses_color"], np.float32)
    a = H.a
    thick = max(1.0, 0.045 * a)
    for s, rim in zip((-1, 1), rims):
        start = H.proj(np.array([s * (ue + gw)]), np.array([ve - 0.03]), 0.14)[0]
        w0 = float(H.w(ve))
        ear = H.proj3(s * w0 * 1.0, ve + 0.04, -0.3 * a)
        trailing = -s * H.sphi
        if trailing > 0.08:
            cv.stroke(np.array([start, ear]), col, thick, 0.95)
        else:
            edge = start + (ear - start) * 0.25
            cv.stroke(np.array([start, edge]), col, thick, 0.95)


def _glasses_front(cv, p, H):
    rims, ue, ve, gw = _glasses_rims(p, H)
    col = np.array(p["glasses_color"], np.float32)
    a = H.a
    thick = 0.05 * a if p["glasses_color"][0] < 0.4 or p["glasses_style"] == "rect" else 0.03 * a
    for rim in rims:
        cv.fill([rim], np.array([0.75, 0.85, 0.95], np.float32), 0.12)
        c = rim.mean(0)
        r = np.ptp(rim, 0)
        glare = np.array([(c[0] - 0.3 * r[0], c[1] + 0.1 * r[1]), (c[0] + 0.1 * r[0], c[1] - 0.3 * r[1])], np.float32)
        cv.stroke(glare, (1, 1, 1), max(1.0, 0.06 * a), 0.22)
        cv.stroke(rim, col, max(1.0, thick), 0.97, closed=True)
    bridge = H.proj(np.array([-(ue - gw), -0.08, 0.0, 0.08, ue - gw]),
                    np.array([ve - 0.01, ve - 0.04, ve - 0.05, ve - 0.04, ve - 0.01]), 0.2)
    cv.stroke(bridge, col, max(1.0, thick * 0.9), 0.97)


# ------------------------------------------------------------------------------------------ folders
def _face_job(i: int, out_dir: str, seed: int, size: int, ss: float = 2.0) -> dict:
    path = Path(out_dir) / file_name(i)
    p = sample_face_params(rng_for(seed, i, "faces"))
    if not path.exists():
        write_png(path, render_face_params(p, size, ss))
    return {"file": path.name, **p}


def make_faces(out_dir, count: int, size: int = 128, seed: int = 0, start: int = 0, workers: int = 1,
               progress: bool = True, ss: float = 2.0) -> Path:
    """Write ``count`` portraits ``{start:06d}.png...`` and ``labels.jsonl`` into ``out_dir``; resumable.

    Labels of files already there are recomputed from (seed, index), which is cheap (no rendering)."""
    out = Path(out_dir)
    check_meta(out, {"maker": "faces", "version": VERSION, "seed": int(seed), "size": int(size), "supersample": ss})
    job = functools.partial(_face_job, out_dir=str(out), seed=int(seed), size=int(size), ss=float(ss))
    rows = run_items(job, range(start, start + count), workers=workers, desc="faces", progress=progress)
    merge_jsonl(out / "labels.jsonl", rows)
    return out
