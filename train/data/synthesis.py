"""FFHQH-style training triples from plain photos: foreground masks and composites.

The paper (§3.2) makes FFHQH from FFHQ portraits: a portrait-matting network gives the alpha
mask, the foreground is colour-augmented (:mod:`train.data.augment`) and blended back over the
unchanged background. Without a matting network or a portrait collection, the mask can come
from three places:

- :func:`synth_mask`: drawn shapes. Most are head-and-shoulders silhouettes (a head with or
  without hair volume, neck, shoulders running out of the bottom of the frame) of random size,
  position, body lean, head tilt and three-quarter turn, as a webcam sees a person; the rest are
  objects (ellipses, polygons, smooth blobs), alone or held beside a person. Edges are drawn
  anti-aliased, smoothed with a Gaussian and then binarised, so outlines are smooth curves with
  no staircase or sharp corner.
- :class:`train.corpus.selfie.PersonMasker`: MediaPipe's selfie segmentation through
  ``vcam.segmenter.Segmenter``.
- mask files supplied by the user (handled in :mod:`train.data.photos`).

Every random draw comes from a ``torch.Generator``, so a seeded generator gives the same mask
and composite every time.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from .augment import augment_foreground

logger = logging.getLogger(__name__)

__all__ = [
    "MIN_FOREGROUND", "MAX_FOREGROUND", "MASK_TRIES", "Rng", "draw_mask", "synth_mask",
    "foreground_fraction", "make_composite",
]

MIN_FOREGROUND = 0.05
"""Masks covering less than this fraction of the frame are drawn again."""
MAX_FOREGROUND = 0.95
"""Masks covering more than this fraction of the frame are drawn again."""
MASK_TRIES = 8
"""How many masks :func:`synth_mask` draws before it settles for the best one."""

# What the drawn masks show, with their probabilities: a webcam mostly sees one person; objects
# keep the network honest about non-portrait foregrounds (iHarmony4's kind).
MASK_KINDS: dict[str, float] = {"person": 0.6, "person+object": 0.15, "object": 0.25}

# Blur before binarising, as a fraction of the shorter side: rounds the polygon corners.
_SMOOTH_SIGMA = 0.008


class Rng:
    """Python-number draws from a ``torch.Generator`` (so every draw is reproducible)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        u = torch.rand((), generator=self.generator, device=self.generator.device).item()
        return low + (high - low) * u

    def integer(self, low: int, high: int) -> int:
        """Integer in ``[low, high]`` (both ends included)."""
        return int(torch.randint(low, high + 1, (), generator=self.generator,
                                 device=self.generator.device).item())

    def chance(self, p: float) -> bool:
        return self.uniform() < p

    def choice(self, weights: dict[str, float]) -> str:
        u, acc = self.uniform() * sum(weights.values()), 0.0
        for key, w in weights.items():
            acc += w
            if u < acc:
                return key
        return key


# --------------------------------------------------------------------------- shapes

def _rotate(points: np.ndarray, centre: tuple[float, float], degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    d = points - np.asarray(centre)
    return np.stack((c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]), axis=1) + centre


def _ellipse_points(cx: float, cy: float, ax: float, ay: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack((cx + ax * np.cos(t), cy + ay * np.sin(t)), axis=1)


def _bezier(p0, p1, p2, n: int = 10) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def _fill(canvas: np.ndarray, polygons: Sequence[np.ndarray]) -> None:
    # Fixed-point coordinates (4 fractional bits) keep sub-pixel detail on small canvases.
    shift = 4
    # One call per polygon: fillPoly fills several with the even-odd rule, so overlaps would
    # cut holes.
    for p in polygons:
        pts = np.round(p * (1 << shift)).astype(np.int32).reshape(1, -1, 2)
        cv2.fillPoly(canvas, pts, 255, lineType=cv2.LINE_AA, shift=shift)


def _person(canvas: np.ndarray, rng: Rng) -> None:
    """Head and shoulders, the body running out of the bottom of the frame."""
    h, w = canvas.shape
    r = rng.uniform(0.11, 0.32) * h  # half the head's height
    r = min(r, 0.35 * w)
    cx = rng.uniform(0.2, 0.8) * w
    cy = rng.uniform(0.22, 0.6) * h
    ax = r * rng.uniform(0.72, 0.86)

    neck_y = cy + r * rng.uniform(1.35, 1.75)  # base of the neck, top of the shoulders
    neck_w = ax * rng.uniform(0.45, 0.6)
    turn = rng.uniform(-0.2, 0.2)  # three-quarter view: one shoulder looks wider
    widths = (r * rng.uniform(1.7, 2.5) * (1 + turn), r * rng.uniform(1.7, 2.5) * (1 - turn))
    drop = r * rng.uniform(0.45, 0.85)  # how far the shoulder falls from the neck
    bottom = h + 2 * r

    side = []
    for sign, sw in ((-1, widths[0]), (1, widths[1])):
        top = (cx + sign * neck_w, neck_y - 0.15 * r)
        ctrl = (cx + sign * sw * rng.uniform(0.55, 0.8), neck_y - 0.1 * r)
        tip = (cx + sign * sw, neck_y + drop)
        curve = _bezier(top, ctrl, tip)
        flare = rng.uniform(0.92, 1.12)  # arms hang straight, in or slightly out
        down = np.array([[cx + sign * sw * flare, bottom]])
        side.append(np.concatenate((curve, down)))
    torso = np.concatenate((side[0], side[1][::-1]))
    neck = np.array([
        [cx - neck_w, cy + 0.5 * r], [cx + neck_w, cy + 0.5 * r],
        [cx + neck_w * 1.05, neck_y + 0.1 * r], [cx - neck_w * 1.05, neck_y + 0.1 * r],
    ])

    head = [_ellipse_points(cx, cy, ax, r)]
    # Jaw narrower than the skull: a second, lower, narrower ellipse.
    head.append(_ellipse_points(cx, cy + 0.35 * r, ax * rng.uniform(0.72, 0.85), 0.7 * r))
    if rng.chance(0.75):  # hair volume over the skull
        hx, hy = cx + rng.uniform(-0.1, 0.1) * ax, cy - rng.uniform(0.05, 0.2) * r
        head.append(_ellipse_points(hx, hy, ax * rng.uniform(1.0, 1.3), r * rng.uniform(0.9, 1.1)))
    if rng.chance(0.3):  # long hair falling behind the head to the shoulders
        length = r * rng.uniform(1.0, 1.8)
        head.append(_ellipse_points(cx, cy + 0.5 * length, ax * rng.uniform(1.1, 1.3),
                                    0.5 * length + r))

    pivot = (cx, neck_y)
    tilt = rng.uniform(-18.0, 18.0)
    lean = rng.uniform(-10.0, 10.0)
    head = [_rotate(p, pivot, tilt + lean) for p in head]
    body = [_rotate(p, pivot, lean) for p in (torso, neck)]
    _fill(canvas, head + body)


def _ellipse(canvas: np.ndarray, rng: Rng) -> None:
    h, w = canvas.shape
    s = min(h, w)
    pts = _ellipse_points(rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h,
                          rng.uniform(0.08, 0.45) * s, rng.uniform(0.08, 0.45) * s, n=64)
    _fill(canvas, [_rotate(pts, tuple(pts.mean(axis=0)), rng.uniform(0.0, 180.0))])


def _polygon(canvas: np.ndarray, rng: Rng) -> None:
    """A star-shaped polygon of 3 to 9 corners (convex or not)."""
    h, w = canvas.shape
    n = rng.integer(3, 9)
    radius = rng.uniform(0.12, 0.45) * min(h, w)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    angles = np.sort([rng.uniform(0.0, 2 * math.pi) for _ in range(n)])
    radii = np.array([radius * rng.uniform(0.45, 1.0) for _ in range(n)])
    pts = np.stack((cx + radii * np.cos(angles), cy + radii * np.sin(angles)), axis=1)
    _fill(canvas, [pts])


def _blob(canvas: np.ndarray, rng: Rng) -> None:
    """A smooth closed curve: a circle whose radius has a few random low harmonics."""
    h, w = canvas.shape
    radius = rng.uniform(0.12, 0.4) * min(h, w)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    t = np.linspace(0.0, 2 * math.pi, 96, endpoint=False)
    rho = np.ones_like(t)
    for k in range(1, 5):
        rho += rng.uniform(0.0, 0.35) / k * np.cos(k * t + rng.uniform(0.0, 2 * math.pi))
    rho = radius * np.clip(rho, 0.25, None)
    _fill(canvas, [np.stack((cx + rho * np.cos(t), cy + rho * np.sin(t)), axis=1)])


_OBJECTS = {"ellipse": _ellipse, "polygon": _polygon, "blob": _blob}


def draw_mask(height: int, width: int, generator: torch.Generator) -> np.ndarray:
    """One drawn mask, soft-edged.

    Returns:
        float32 HxW in [0, 1]: the shapes, anti-aliased and smoothed (not yet binarised).
    """
    rng = Rng(generator)
    canvas = np.zeros((height, width), np.uint8)
    kind = rng.choice(MASK_KINDS)
    if kind.startswith("person"):
        _person(canvas, rng)
    if kind.endswith("object"):
        for _ in range(1 if kind != "object" or rng.chance(0.7) else 2):
            _OBJECTS[rng.choice({k: 1.0 for k in _OBJECTS})](canvas, rng)
    sigma = _SMOOTH_SIGMA * min(height, width)
    soft = canvas.astype(np.float32) / 255.0
    if sigma >= 0.3:
        soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                borderType=cv2.BORDER_REPLICATE)
    return soft


def foreground_fraction(mask: np.ndarray | torch.Tensor) -> float:
    """Fraction of the frame where the mask is above 0.5."""
    return float((mask > 0.5).sum()) / max(1, mask.size if isinstance(mask, np.ndarray)
                                            else mask.numel())


def synth_mask(
    height: int,
    width: int,
    generator: torch.Generator,
    min_fraction: float = MIN_FOREGROUND,
    max_fraction: float = MAX_FOREGROUND,
    tries: int = MASK_TRIES,
) -> np.ndarray:
    """A binary foreground mask of drawn shapes (see the module's docstring).

    Masks whose foreground fraction falls outside ``[min_fraction, max_fraction]`` are drawn
    again, up to ``tries`` times; then the one closest to the range is kept.

    Returns:
        float32 HxW with values 0 and 1.
    """
    if height < 1 or width < 1:
        raise ValueError(f"mask size must be positive, got {height}x{width}")
    best, best_miss = None, math.inf
    for _ in range(max(1, tries)):
        mask = (draw_mask(height, width, generator) > 0.5).astype(np.float32)
        frac = float(mask.mean())
        miss = max(min_fraction - frac, frac - max_fraction, 0.0)
        if miss < best_miss:
            best, best_miss = mask, miss
        if miss == 0.0:
            break
    return best


def make_composite(
    real: torch.Tensor, mask: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Colour-augment the foreground (paper §3.2) and put it over the unchanged real image.

    Args:
        real: ``(3, H, W)`` or ``(N, 3, H, W)`` float in [0, 1].
        mask: ``(1, H, W)`` or ``(N, 1, H, W)``, binary (values above 0.5 are foreground).
        generator: source of the augmentation's random draws.

    Returns:
        The composite, like ``real``; equal to ``real`` wherever the mask is 0.
    """
    if mask.shape[-2:] != real.shape[-2:] or mask.shape[-3] != 1:
        raise ValueError(
            f"mask must be (1, H, W) matching real {tuple(real.shape)}, got {tuple(mask.shape)}"
        )
    augmented = augment_foreground(real, generator)
    return torch.where(mask > 0.5, augmented, real)
