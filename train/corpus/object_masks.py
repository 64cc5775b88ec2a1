"""Classical foreground masks for photos of one real subject (an animal, an object) on its real
background, at corpus time.

No segmentation network for non-person subjects is available offline, so :func:`object_mask`
combines two cues into a foreground prior and lets GrabCut (Rother et al., "GrabCut: interactive
foreground extraction using iterated graph cuts", SIGGRAPH 2004) settle the boundary:

1. *Boundary prior*: the frame's border is mostly background, so each pixel's Lab distance to
   the nearest of a few k-means colours of a border strip says how unlike the background it is.
2. *Saliency*: OpenCV's fine-grained static saliency (opencv-contrib, installed by mediapipe)
   for local contrast, under a mild centre bias.

The prior above a multiple of its Otsu threshold gives seeds; their bounding box (grown a
little) bounds GrabCut, the convex hull of the seeds is "probably foreground" and the prior's
strong core "surely foreground". The result keeps the largest connected component, fills its
holes and is softened by a Gaussian of ~0.3 % of the long side.

Limits. It works when the subject's colours differ from its surroundings (a sheep or horses on
grass, a duck on dark water, a parrot on stone). It fails where they do not: it cuts off parts
coloured like the background (a black tail on a dark shadow, white legs), keeps what the
subject stands on or between its legs (a rock, a branch, water, grass), and keeps only the
largest subject of a group. :func:`object_mask` returns ``None`` when the result is implausible
(too small or too large, reaching the frame's border, fragmented, GrabCut rejecting most of
its own seed region, foreground and background colours barely differing). A mask that passes
can still be wrong: of gcompris' 24 animal photos, 13 masks looked right, 2 partly wrong (grass
under a belly, legs cut off), 2 wrong (trees or water kept) and 7 were None. Look at a contact
sheet before using a new source.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["MaskStats", "object_mask", "object_mask_with_stats"]

WORK_SIDE = 400
"""Long side (px) at which the prior and GrabCut run; the mask is scaled back up."""
BORDER_STRIP = 0.04
"""Width of the border strip that models the background, as a fraction of the short side."""
BORDER_COLOURS = 8
GRABCUT_ITERATIONS = 8
SEED_FACTOR = 0.7
"""Seeds are the prior above this multiple of its Otsu threshold. Below 1 so that the seeds
reach the parts of a subject coloured like its surroundings (a tan dog on dry grass: at 1.0 only
its black back). Retrying refused photos at 1.0 recovered 1 of 5 on gcompris' animals and gave
4 wrong masks, so there is no second try."""
SOFT_EDGE = 0.003
"""Sigma of the edge softening, as a fraction of the long side (3 px at 1024)."""

MIN_AREA = 0.05
MAX_AREA = 0.70
"""Plausible foreground area, as a fraction of the frame."""
MAX_BORDER = 0.05
"""Largest fraction of the frame's perimeter the foreground may cover. Strict on purpose: a
mask that reaches the frame's edge has usually spilled onto the ground or the surroundings, and
for training a refused photo costs less than a wrong mask; subjects cut by the frame are lost."""
MIN_MAIN_COMPONENT = 0.75
"""Smallest share of GrabCut's foreground in its largest connected component."""
MIN_SEED_AGREEMENT = 0.5
"""Smallest share of the seeds' convex hull that GrabCut keeps as foreground."""
MIN_COLOUR_DISTANCE = 0.25
"""Smallest Hellinger distance between foreground and background colour histograms."""


@dataclass(frozen=True)
class MaskStats:
    """Why a mask was accepted or refused (fractions in [0, 1])."""

    area: float  # foreground share of the frame
    border: float  # share of the frame's perimeter on the foreground
    main_component: float  # share of GrabCut's foreground in its largest component
    seed_agreement: float  # share of the seeds' hull that GrabCut kept
    colour_distance: float  # Hellinger distance of fg / bg colour histograms
    reason: str  # "" when plausible, else what failed


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        got = rgb.dtype if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise TypeError(f"rgb must be a uint8 numpy array, got {got}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be HxWx3, got shape {rgb.shape}")
    if min(rgb.shape[:2]) < 16:
        raise ValueError(f"rgb must be at least 16x16, got shape {rgb.shape}")


def _prior(small: np.ndarray) -> np.ndarray:
    """Foreground prior of RGB uint8 hxwx3: float32 hxw in [0, 1]."""
    h, w = small.shape[:2]
    lab = cv2.cvtColor(cv2.GaussianBlur(small, (0, 0), 2.0), cv2.COLOR_RGB2Lab).astype(np.float32)
    b = max(2, round(BORDER_STRIP * min(h, w)))
    border = np.concatenate([lab[:b].reshape(-1, 3), lab[-b:].reshape(-1, 3),
                             lab[:, :b].reshape(-1, 3), lab[:, -b:].reshape(-1, 3)])
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)  # k-means++ draws its first centres from OpenCV's RNG
    k = min(BORDER_COLOURS, len(np.unique(border.astype(np.uint8), axis=0)))
    _, _, centres = cv2.kmeans(border, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    dist = np.full((h, w), np.inf, np.float32)
    for c in centres:
        dist = np.minimum(dist, np.linalg.norm(lab - c, axis=2))
    scale = float(np.percentile(dist, 99))
    # Below ~6 Lab units the whole frame is the border's colours: no subject stands out.
    dist = np.clip(dist / max(scale, 6.0), 0.0, 1.0)

    ok, sal = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(
        cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    sal = cv2.GaussianBlur(np.asarray(sal, np.float32), (0, 0), 4.0) if ok else np.zeros_like(dist)
    sal /= max(float(sal.max()), 1e-6)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    centre = np.exp(-0.5 * (((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2))
    prior = (0.7 * dist + 0.3 * sal) * (0.4 + 0.6 * centre)
    return np.clip(prior, 0.0, 1.0).astype(np.float32)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, cv2.FILLED)
    return out.astype(bool)


def _hellinger(small: np.ndarray, fg: np.ndarray) -> float:
    """Hellinger distance in [0, 1] between 8x8x8 RGB histograms inside and outside ``fg``."""
    fg8 = fg.astype(np.uint8)
    hists = [cv2.calcHist([small], [0, 1, 2], m, [8, 8, 8], [0, 256] * 3).ravel()
             for m in (fg8, 1 - fg8)]
    p, q = (hh / max(float(hh.sum()), 1.0) for hh in hists)
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q))))))


def _segment(small: np.ndarray) -> tuple[np.ndarray, MaskStats]:
    """Binary foreground (bool hxw) of RGB uint8 hxwx3 at working size, and its statistics."""
    h, w = small.shape[:2]
    refused = np.zeros((h, w), bool)

    def stats(fg: np.ndarray, main: float, agree: float, colour: float, reason: str):
        border = np.concatenate([fg[0], fg[-1], fg[1:-1, 0], fg[1:-1, -1]])
        return MaskStats(float(fg.mean()), float(border.mean()), main, agree, colour, reason)

    prior8 = np.round(_prior(small) * 255).astype(np.uint8)
    if int(prior8.max()) - int(prior8.min()) < 32:
        return refused, stats(refused, 0.0, 0.0, 0.0, "no foreground stands out")
    otsu, _ = cv2.threshold(prior8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    seeds = cv2.morphologyEx((prior8 > SEED_FACTOR * otsu).astype(np.uint8), cv2.MORPH_OPEN,
                             np.ones((5, 5), np.uint8))
    n, labels, cc, _ = cv2.connectedComponentsWithStats(seeds, connectivity=8)
    if n <= 1:
        return refused, stats(refused, 0.0, 0.0, 0.0, "no seed region")
    areas = cc[1:, cv2.CC_STAT_AREA]
    keep = [1 + i for i, a in enumerate(areas) if a >= 0.2 * areas.max()]
    kept = np.isin(labels, keep)

    x, y, bw, bh = cv2.boundingRect(kept.astype(np.uint8))
    mx, my = round(0.06 * w), round(0.06 * h)
    x0, y0, x1, y1 = max(0, x - mx), max(0, y - my), min(w, x + bw + mx), min(h, y + bh + my)
    hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(kept.astype(np.uint8))), 1)
    core = cv2.erode((prior8 > otsu + 0.5 * (255 - otsu)).astype(np.uint8),
                     np.ones((5, 5), np.uint8)).astype(bool)

    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    trimap = np.full((h, w), cv2.GC_BGD, np.uint8)
    trimap[inside] = cv2.GC_PR_BGD
    trimap[inside & ((hull > 0) | (prior8 > otsu))] = cv2.GC_PR_FGD
    trimap[inside & core] = cv2.GC_FGD
    cv2.setRNGSeed(0)  # GrabCut seeds its GMMs with k-means on OpenCV's RNG
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), trimap, None, bgd, fgd,
                GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    fg = ((trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)).astype(np.uint8)

    k = max(3, round(0.01 * max(h, w)) | 1)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, cc, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return refused, stats(refused, 0.0, 0.0, 0.0, "GrabCut kept nothing")
    areas = cc[1:, cv2.CC_STAT_AREA]
    main = float(areas.max() / areas.sum())
    fg = _fill_holes(labels == 1 + int(np.argmax(areas)))
    agree = float((fg & (hull > 0)).sum() / max(int(hull.sum()), 1))
    colour = _hellinger(small, fg)

    st = stats(fg, main, agree, colour, "")
    reason = ""
    if st.area < MIN_AREA:
        reason = f"foreground {st.area:.0%} of the frame < {MIN_AREA:.0%}"
    elif st.area > MAX_AREA:
        reason = f"foreground {st.area:.0%} of the frame > {MAX_AREA:.0%}"
    elif st.border > MAX_BORDER:
        reason = f"foreground on {st.border:.0%} of the border > {MAX_BORDER:.0%}"
    elif main < MIN_MAIN_COMPONENT:
        reason = f"fragmented: largest part {main:.0%} of the foreground < {MIN_MAIN_COMPONENT:.0%}"
    elif agree < MIN_SEED_AGREEMENT:
        reason = f"GrabCut kept {agree:.0%} of the seed hull < {MIN_SEED_AGREEMENT:.0%}"
    elif colour < MIN_COLOUR_DISTANCE:
        reason = f"fg/bg colour distance {colour:.2f} < {MIN_COLOUR_DISTANCE}"
    return fg, dataclasses.replace(st, reason=reason)


def object_mask_with_stats(rgb: np.ndarray) -> tuple[np.ndarray | None, MaskStats]:
    """:func:`object_mask` plus the statistics that decided it (for contact sheets and logs)."""
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(16, round(width * scale)), max(16, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    fg, st = _segment(np.ascontiguousarray(small))
    if st.reason:
        return None, st
    alpha = cv2.resize(fg.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, SOFT_EDGE * max(height, width)))
    return np.clip(alpha, 0.0, 1.0), st


def object_mask(rgb: np.ndarray) -> np.ndarray | None:
    """Soft mask of the main subject of a photo, or ``None`` when no plausible one is found.

    Deterministic: OpenCV's RNG is seeded before k-means and GrabCut (which changes OpenCV's
    global RNG state in the calling thread).

    Args:
        rgb: RGB uint8 HxWx3, at least 16x16.

    Returns:
        float32 HxW in [0, 1] (1 on the subject, edges softened over a few px), or ``None``.

    Raises:
        TypeError: ``rgb`` is not a uint8 array.
        ValueError: ``rgb`` is not HxWx3 or smaller than 16x16.
    """
    return object_mask_with_stats(rgb)[0]
