"""Filling the holes the person model leaves inside the person: a held object's dark visor.

The selfie models give a dark, glossy object held in front of the body (a helmet's visor, a
phone, a mug) a middling confidence, 0.3-0.6; where it is below the soft band's midpoint (0.45
with the default band) the object becomes background, and the new scene shows through it. Such
a region is background enclosed by the person. In a webcam picture the body goes on below the
frame, so the bottom edge counts as the person's:
a region bounded by the person and the bottom edge is enclosed too (the visor of a helmet held
at the chest touches the bottom edge). A region that reaches the top, left or right edge is the
room.

An enclosed region is filled when it is small (below ``max_fraction`` of the frame) and the
model saw something there (its mean confidence at least ``min_confidence``): the room seen
between an arm and the body, or between two people, has a confidence near 0 and stays. The
person's pixels around a filled region are made solid too (``grow``): the object's rim, whose
confidence sits inside the band, would otherwise stay half see-through.

A filled region is held (``HoleHold``): when the model's confidence over the whole object sags
for a while, its rim drops below the band, the region joins the room and the search no longer
finds it (the demo's helmet, frames 62-89). Its pixels then stay filled for up to
``HOLD_FRAMES`` frames while they touch the person and each either keeps some of the model's
confidence (``HOLD_MIN_CONFIDENCE``) or, once the search has filled it in
``HOLD_CONFIRM_FRAMES`` frames, keeps the look it had when it was filled (its luma within
``HOLD_MAX_CHANGE``: the object is still there); the person's pixels around them are made
solid, as around a filled region. A held region only shrinks: it never takes a pixel the search
did not fill, so it cannot creep into the room, and where the object moves away the room it
uncovers looks different and is let go.
"""

from __future__ import annotations

import cv2
import numpy as np

from vcam.config import MaskConfig

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


#: A filled pixel stays filled for at most this many frames after the search last filled it:
#: ``[mask] hole_hold_frames``'s default (1.5 s at 30 FPS; the demo's helmet is lost by the
#: search for 28 frames). An object taken away is let go sooner, where the room it uncovers
#: looks different and the model's confidence there is low.
HOLD_FRAMES = MaskConfig.hole_hold_frames

#: A held pixel whose look has changed is kept while the model's confidence there is at least
#: this: the room behind an object reads 0-0.05, most of the demo helmet 0.1-0.45 in the
#: frames the search loses it.
HOLD_MIN_CONFIDENCE = 0.1

#: A held pixel whose luma is within this many levels (of 255) of its luma when it was last
#: filled is kept whatever the model's confidence (once confirmed, ``HOLD_CONFIRM_FRAMES``):
#: the demo helmet's black visor beside her body reads 0-0.05 in frames 65-89, as the room
#: does, but it is still black.
HOLD_MAX_CHANGE = 24

#: The look alone keeps a pixel only once the search has filled it in this many frames: a gap
#: between two people that the search fills in a few frames (their confidence flickers about
#: the floor) is room that looks the same in every frame, and would be held as a ghost.
HOLD_CONFIRM_FRAMES = 10


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


class HoleHold:
    """Keeps the filled holes of past frames filled where the search loses them for a while.

    Call it every frame with that frame's fill (``enclosed_holes``), banded mask, confidence and
    luma, all at one resolution; ``reset`` at the start of a new video. A pixel filled by the
    search is held for up to ``frames`` frames after (at most 250) while it is background in the
    banded mask; its confidence is at least ``min_confidence``, or the search has filled it in
    ``confirm_frames`` frames and its luma is within ``max_change`` of its luma when it was last
    filled; and the held pixels touch the person or this frame's fill (when the person has
    gone, what was held goes too).
    """

    def __init__(self, min_confidence: float = HOLD_MIN_CONFIDENCE,
                 max_change: int = HOLD_MAX_CHANGE,
                 confirm_frames: int = HOLD_CONFIRM_FRAMES) -> None:
        self.min_confidence = np.float32(min_confidence)
        self.max_change = int(max_change)
        self.confirm_frames = min(int(confirm_frames), 255)
        #: uint8 HxW: 0 = not filled; k = filled by the search k - 1 frames ago.
        self._since: np.ndarray | None = None
        #: uint8 HxW: the luma of each filled pixel when the search last filled it.
        self._luma: np.ndarray | None = None
        #: uint8 HxW: in how many frames the search has filled each pixel (up to 255).
        self._count: np.ndarray | None = None

    def reset(self) -> None:
        """Forget every filled region."""
        self._since = None
        self._luma = None
        self._count = None

    def __call__(self, fill: np.ndarray | None, mask: np.ndarray, confidence: np.ndarray,
                 luma: np.ndarray, frames: int = HOLD_FRAMES,
                 grow: int = HOLE_GROW) -> np.ndarray | None:
        """This frame's fill with the held pixels added, and the person's pixels within
        ``grow`` pixels of a held one (as ``enclosed_holes`` grows its fill: the object's rim).

        Args:
            fill: bool HxW from ``enclosed_holes`` (True = fill) or None.
            mask: float32 HxW in [0, 1], the banded mask; below 0.5 is background.
            confidence: float32 HxW in [0, 1], the model's confidence.
            luma: uint8 HxW, the frame's luma.
            frames: how long a pixel is held after the search last filled it; 0 holds nothing.
            grow: see above (not held themselves in the next frame).

        Returns:
            bool HxW (True = set to 1), or None when nothing is to be filled.
        """
        frames = min(int(frames), 250)
        since = self._since
        if since is not None and since.shape != mask.shape:
            since = None
        held = None
        if since is not None and frames > 0:
            kept = ((cv2.absdiff(luma, self._luma) <= self.max_change)
                    & (self._count >= self.confirm_frames)) | (confidence >= self.min_confidence)
            # since - 1 wraps 0 (not filled) to 255, above any ``frames``.
            held = ((since - np.uint8(1)) < frames) & kept & (mask < np.float32(0.5))
            if fill is not None:
                held &= ~fill
            if not (held.any() and _touches_person(held, mask, fill)):
                held = None
        if fill is None and held is None:
            self.reset()
            return None
        out = np.zeros(mask.shape, np.uint8)
        count = np.zeros(mask.shape, np.uint8)
        if held is not None:
            np.add(since, np.uint8(1), out=out, where=held)
            np.copyto(count, self._count, where=held)
        if fill is not None:
            out[fill] = 1
            if since is None:
                self._luma = np.array(luma, np.uint8, copy=True)
                count[fill] = 1
            else:
                np.copyto(self._luma, luma, where=fill)
                count[fill] = np.minimum(self._count[fill], 254) + 1
        self._since = out
        self._count = count
        result = out > 0
        if held is not None and grow > 0:
            # Only around the held pixels' box: it is small, the frame is not.
            x, y, w, h = cv2.boundingRect(held.view(np.uint8))
            rows = slice(max(0, y - grow), y + h + grow)
            cols = slice(max(0, x - grow), x + w + grow)
            near = cv2.dilate(held[rows, cols].view(np.uint8),
                              np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
            result[rows, cols] |= near.view(bool) & (mask[rows, cols] >= np.float32(0.5))
        return result


def _touches_person(held: np.ndarray, mask: np.ndarray, fill: np.ndarray | None) -> bool:
    """Whether ``held`` (bool HxW) touches the person (``mask`` >= 0.5) or ``fill``: when the
    person has gone, what was held is let go. (One test for all held regions: labelling them
    to test each cost as much as the search itself.)"""
    anchor = (mask >= np.float32(0.5)).view(np.uint8)
    if fill is not None:
        anchor = anchor | fill.view(np.uint8)
    near = cv2.dilate(anchor, np.ones((3, 3), np.uint8)).view(bool)
    return bool((near & held).any())
