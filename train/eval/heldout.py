"""The people the harmoniser is judged on: whole sources that no training picture came from.

A held-out identity is not held-out footage: people from the same packages and kinds of photo
as the training people share their lighting, framing and processing, and a model can look good
on them while harming everyone else. The evaluation's people therefore come from **sources**
(packages) that training never sees, in any split (``DataConfig.exclude_sources``):

- ``face-recognition``: official White House portraits (upper body, studio flags);
- ``skimage``: NASA's portrait of an astronaut (also the demo's source);
- ``matplotlib``: a US Navy portrait (Grace Hopper);
- ``labelme-examples``: two PASCAL VOC (Flickr) photos of people outdoors.

Together: four packages, three kinds of photo (official portraits, a snapshot of a group, an
outdoor scene), eight photos. Training keeps the Solvay 1927 group photo, GCompris's musicians,
xmorph's faces, OpenCV's samples and RMagick's examples.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..corpus.manifest import read_manifest
from ..data.base import read_mask, read_rgb

HELD_OUT_SOURCES = ("face-recognition", "skimage", "matplotlib", "labelme-examples")


CAMERA_LONG_SIDE = 640
"""Held-out photos are brought to a webcam's size (long side 640) before anything runs."""


@dataclass
class HeldOutPerson:
    """One held-out photo as the camera would see it: RGB uint8 HxWx3 (the person in their own
    room), their soft matte float32 HxW in [0, 1] (several people in a group photo), face boxes
    (x, y, w, h), the manifest's source and a seed of its own for the draws made from it."""

    name: str
    source: str
    image: np.ndarray
    alpha: np.ndarray
    faces: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def seed(self) -> int:
        return zlib.crc32(self.name.encode("utf-8"))


def load_heldout(root: str | Path, sources: tuple[str, ...] = HELD_OUT_SOURCES,
                 long_side: int = CAMERA_LONG_SIDE) -> list[HeldOutPerson]:
    """Every person photo of ``sources`` in the corpus at ``root``, whatever its split, at
    ``long_side`` (area downscale; smaller photos keep their size).

    Raises:
        ValueError: a source has no person photo in the corpus (a misspelt source, or a corpus
            built without it): every held-out source must be there to be judged.
    """
    entries = [e for e in read_manifest(root) if e.kind == "person" and e.source in sources]
    missing = sorted(set(sources) - {e.source for e in entries})
    if missing:
        raise ValueError(f"no person photos of source(s) {', '.join(missing)} in the corpus at "
                         f"{root}; rebuild it with phnet-corpus or pick other --sources")
    people = []
    for e in sorted(entries, key=lambda e: e.name):
        img = read_rgb(Path(root) / e.name)
        alpha = read_mask(Path(root) / e.mask)
        h, w = img.shape[:2]
        s = min(1.0, long_side / max(h, w))
        size = (max(8, round(w * s)), max(8, round(h * s)))
        if size != (w, h):
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        if alpha.shape != img.shape[:2]:
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
        faces = tuple((round(x * s), round(y * s), max(1, round(bw * s)), max(1, round(bh * s)))
                      for x, y, bw, bh in e.faces)
        people.append(HeldOutPerson(e.name, e.source, np.ascontiguousarray(img),
                                    np.clip(alpha, 0.0, 1.0).astype(np.float32), faces))
    return people
