"""Object sources of the corpus: one real subject on its real background, with its mask.

Like iHarmony4's objects, these are foregrounds whose lighting belongs to their own photo. The
subjects are GCompris's animal photos (``gcompris-qt-data``): the 33 animals in nature of the
``erase`` activity (1920x1080) and the farm and world animals of ``explore_farm_animals`` and
``explore_world_animals`` (~1024 px), with the licence and credit of each file from the
activity's ``README``.

Masks come from :func:`train.corpus.object_masks.object_mask`. When it finds no clear single subject
(it returns None), the photo is kept as a scene instead, if it passes the scene filter.
OpenCV's random generator is reseeded before each mask, so a mask never depends on which
photos were masked before it (GrabCut and k-means draw from it).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2

from train.corpus.photo import Photo, reject_reason
from train.corpus.scenes import gcompris_pictures

logger = logging.getLogger(__name__)

__all__ = ["OBJECT_SOURCES", "GCOMPRIS_ANIMALS"]

GCOMPRIS_ANIMALS = (
    # (activity, folder under resource/, name prefix)
    ("erase", "", "erase"),
    ("explore_farm_animals", "animals", "farm"),
    ("explore_world_animals", "animals", "world"),
)


def masked(photo: Photo) -> Photo | None:
    """``photo`` as an object with its mask, else as a scene (no clear subject), else None."""
    from train.corpus.object_masks import object_mask

    cv2.setRNGSeed(0)
    mask = object_mask(photo.image)
    if mask is not None:
        return photo.with_(kind="object", mask=mask, mask_source="object")
    reason = reject_reason(photo.image)
    if reason is not None:
        logger.info("%s: no clear subject, and not a scene either (%s)", photo.name, reason)
        return None
    logger.info("%s: no clear subject; kept as a scene", photo.name)
    return photo.with_(kind="scene")


def _gcompris_animals(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    for activity, folder, prefix in GCOMPRIS_ANIMALS:
        for filename, _sub, rgb, original, licence in gcompris_pictures(
                tmp, licences, activity, folder):
            name = f"{prefix}-{os.path.splitext(filename)[0]}"
            photo = masked(Photo(name, rgb, original, licence, ".jpg"))
            if photo is not None:
                yield photo


OBJECT_SOURCES = {
    "gcompris-qt-data": _gcompris_animals,
}
"""Source name -> objects(temporary folder, licence texts to fill by package name)."""
