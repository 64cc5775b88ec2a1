"""Filling the holes the person model leaves inside the person: a held object's dark visor.

The selfie models give a dark, glossy object held in front of the body (a helmet's visor, a
phone, a mug) a middling confidence, 0.3-0.6; where it is below the soft band's midpoint (0.45
with the default band) the object becomes background, and the new scene shows through it. Such a region is background enclosed by the person. In a
webcam picture the body goes on below the frame, so the bottom edge counts as the person's:
a region bounded by the person and the bottom edge is enclosed too (the visor of a helmet held
at the chest touches the bottom edge). A region that reaches the top, left or right edge is the
room.

An enclosed region is filled when it is small (below ``max_fraction`` of the frame) and the
model saw something there (its mean confidence at least ``min_confidence``): the room seen
between an arm and the body, or between two people, has a confidence near 0 and stays. The
person's pixels around a filled region are made solid too (``grow``): the object's rim, whose
confidence sits inside the band, would otherwise stay half see-through.
"""

from __future__ import annotations

import cv2
import numpy as np

#: An enclosed region is filled only where the model's mean confidence over it is at least
#: this: the dark visor of the demo's helmet reads 0.3-0.45, the room between an arm and the
#: body below 0.1 (``phnet-eval-matte``; docs/MATTING.md).
HOLE_MIN_CONFIDENCE = 0.25

#: Specks smaller than this fraction of the frame (77 working pixels at 640x480, a 17-pixel
#: square of the frame) are left as they are: checking each of the dozen a frame holds cost
#: more than the rest of the search.
MIN_HOLE_FRACTION = 0.001

#: The person's pixels within this many pixels of a filled region are made solid as well, at the
#: refinement's working resolution (8 frame pixels at 640x480): on the demo's helmet, the share
#: at alpha 0.5-0.9 fell from 35 to 16 % (frames 0-61).
HOLE_GROW = 4


def enclosed_holes(mask: np.ndarray, confidence: np.ndarray, max_fraction: float,
                   min_confidence: float = HOLE_MIN_CONFIDENCE,
                   grow: int = HOLE_GROW) -> np.ndarray | None:
    """The pixels to fill: background regions enclosed by the person (the bottom edge counting
    as the person's) from ``MIN_HOLE_FRACTION`` up to ``max_fraction`` of the frame, where the
    model's mean confidence is at least ``min_confidence``.

    Args:
        mask: float32 HxW in [0, 1], the banded person mask; below 0.5 is background.
        confidence: float32 HxW in [0, 1], the model's confidence at the same size.
        max_fraction: the largest region filled, as a fraction of the frame; 0 fills nothing.
        min_confidence: the least mean confidence of a region that is filled.
        grow: the person's pixels (``mask`` >= 0.5) within this many pixels of a filled region
            are returned too; the room beyond a thin rim never is.

    Returns:
        bool HxW (True = set to 1), or None when nothing is to be filled.
    """
    if max_fraction <= 0.0:
        return None
    background = (mask < np.float32(0.5)).view(np.uint8)
    # Labels without statistics: a fifth of the cost (OpenCV's statistics pass is the dear part).
    count, labels = cv2.connectedComponents(background, connectivity=4)
    if count <= 1:
        return None
    room = np.zeros(count, bool)
    room[0] = True  # label 0 is the person
    room[labels[0]] = True
    room[labels[:, 0]] = True
    room[labels[:, -1]] = True
    candidates = np.flatnonzero(~room)
    if candidates.size == 0:
        return None
    area = np.bincount(labels.reshape(-1), minlength=count)[candidates]
    sized = (area >= MIN_HOLE_FRACTION * mask.size) & (area < max_fraction * mask.size)
    fill = None
    for index in candidates[sized]:
        region = (labels == index).view(np.uint8)
        if cv2.mean(confidence, mask=region)[0] >= min_confidence:
            fill = region if fill is None else fill | region
    if fill is None:
        return None
    if grow > 0:
        near = cv2.dilate(fill, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        fill = fill | (near & (background ^ np.uint8(1)))
    return fill.view(bool)
