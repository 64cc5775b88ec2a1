"""Frontal face boxes with OpenCV's bundled Haar cascade, at corpus time, and the skin region
inside a face box (used to measure a face's colour shift).

Detection is Viola-Jones ("Rapid object detection using a boosted cascade of simple
features", CVPR 2001) with the cascades OpenCV ships inside the cv2 wheel (no download):
``haarcascade_frontalface_default.xml`` finds the faces and a box is kept only where
``haarcascade_frontalface_alt2.xml`` finds one too. The default cascade alone put boxes on
hands, a desk and a helmet in 4 of 8 people photos; the two together gave no false box there
and kept 28 of the 30 faces of the Solvay 1927 group photo (visp-images-data's ground truth,
1280 px). Frontal faces only. Sizes are relative to the picture, so another resolution of the
same photo gives the same boxes, as long as faces stay above the cascades' 24 px window.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

__all__ = ["CASCADE_FILE", "detect_faces", "face_skin_region"]

CASCADE_FILE = "haarcascade_frontalface_default.xml"
CONFIRM_CASCADE_FILE = "haarcascade_frontalface_alt2.xml"
DETECT_SIDE = 1280
"""Pictures with a longer side are scaled down to this before detection (speed)."""
MIN_FACE = 0.04
"""Smallest face side, as a fraction of the picture's shorter side (a face in a group photo)."""
MIN_FACE_PX = 24
"""... and never below the default cascade's 24 px window."""
SCALE_FACTOR = 1.1
MIN_NEIGHBOURS = 5
CONFIRM_NEIGHBOURS = 2
CONFIRM_IOU = 0.4
"""A face box needs a box of the confirming cascade overlapping it by this IoU."""
DUPLICATE_OVERLAP = 0.5
"""A box with this share of its area inside a larger kept box is the same face."""

Box = tuple[int, int, int, int]


@functools.lru_cache(maxsize=2)
def _cascade(name: str = CASCADE_FILE) -> cv2.CascadeClassifier:
    path = Path(cv2.data.haarcascades) / name
    if not path.is_file():
        raise RuntimeError(f"OpenCV's face cascade is missing: {path} (expected in the cv2 wheel)")
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():
        raise RuntimeError(f"cannot load OpenCV's face cascade {path}")
    return cascade


def _grey(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise TypeError(f"rgb must be a uint8 numpy array, got {got}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"rgb must be HxWx3 (RGB) or HxW (grey), got shape {image.shape}")


def _intersection(a, b) -> int:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return int(max(0, ix) * max(0, iy))


def _iou(a, b) -> float:
    inter = _intersection(a, b)
    return inter / float(int(a[2]) * int(a[3]) + int(b[2]) * int(b[3]) - inter)


def detect_faces(rgb: np.ndarray) -> list[Box]:
    """Frontal faces in a picture.

    Not thread-safe (the cascades are shared): call it from one thread.

    Args:
        rgb: RGB uint8 HxWx3, or grey uint8 HxW / HxWx1.

    Returns:
        ``(x, y, w, h)`` boxes in pixels of ``rgb`` (Python ints, inside the picture), sorted
        left to right; ``[]`` when there is no face.

    Raises:
        TypeError: ``rgb`` is not a uint8 array.
        ValueError: ``rgb`` is neither HxWx3 nor HxW.
        RuntimeError: OpenCV's cascade file is missing or unreadable.
    """
    grey = _grey(rgb)
    height, width = grey.shape
    scale = min(1.0, DETECT_SIDE / max(height, width))
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    min_side = max(MIN_FACE_PX, round(MIN_FACE * min(grey.shape)))
    if min(grey.shape) < min_side:
        return []
    # Equalised so that dim or low-contrast photos reach the cascade's trained contrast.
    grey = cv2.equalizeHist(grey)
    size = (min_side, min_side)
    found = np.asarray(_cascade().detectMultiScale(
        grey, scaleFactor=SCALE_FACTOR, minNeighbors=MIN_NEIGHBOURS, minSize=size)).reshape(-1, 4)
    if len(found) == 0:
        return []
    confirm = np.asarray(_cascade(CONFIRM_CASCADE_FILE).detectMultiScale(
        grey, scaleFactor=SCALE_FACTOR, minNeighbors=CONFIRM_NEIGHBOURS, minSize=size)
    ).reshape(-1, 4)
    found = [b for b in found if any(_iou(b, c) >= CONFIRM_IOU for c in confirm)]

    kept: list[np.ndarray] = []
    for b in sorted(found, key=lambda b: -int(b[2]) * int(b[3])):
        if all(_intersection(b, k) < DUPLICATE_OVERLAP * int(b[2]) * int(b[3]) for k in kept):
            kept.append(b)
    boxes = []
    for x, y, w, h in kept:
        x0, y0 = int(round(x / scale)), int(round(y / scale))
        x1, y1 = min(width, int(round((x + w) / scale))), min(height, int(round((y + h) / scale)))
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(boxes)


def face_skin_region(box: Box, h: int, w: int) -> Box:
    """The part of a face box that is mostly skin (cheeks, nose, forehead below the hairline).

    The middle 50 % of the box's width, from 25 % to 85 % of its height (below the hair and
    above the chin's edge, which often has the neck's shadow or a beard), clipped to the picture.

    Args:
        box: ``(x, y, w, h)`` face box in pixels.
        h, w: the picture's height and width in pixels.

    Returns:
        ``(x, y, w, h)`` in pixels, inside both ``box`` and the picture, at least 1x1.

    Raises:
        ValueError: a non-positive size, or a box that does not overlap the picture.
    """
    bx, by, bw, bh = (int(v) for v in box)
    if bw <= 0 or bh <= 0:
        raise ValueError(f"face box must have a positive size, got {tuple(box)}")
    if h <= 0 or w <= 0:
        raise ValueError(f"picture size must be positive, got h={h}, w={w}")
    x0 = max(bx + int(round(0.25 * bw)), bx, 0)
    x1 = min(bx + int(round(0.75 * bw)), bx + bw, w)
    y0 = max(by + int(round(0.25 * bh)), by, 0)
    y1 = min(by + int(round(0.85 * bh)), by + bh, h)
    if x1 <= x0 or y1 <= y0:
        # A tiny box: keep its centre pixel rather than an empty region.
        cx, cy = bx + bw // 2, by + bh // 2
        if not (0 <= cx < w and 0 <= cy < h):
            raise ValueError(f"face box {tuple(box)} is outside the {h}x{w} picture")
        return (cx, cy, 1, 1)
    return (x0, y0, x1 - x0, y1 - y0)
