"""What every corpus source yields: :class:`Photo`, and the checks a picture must pass.

:mod:`train.corpus.build` re-exports these names; they live here so that the source modules
(:mod:`train.corpus.scenes`, :mod:`train.corpus.people`, :mod:`train.corpus.objects`) and the
writer can all import them without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

__all__ = ["KINDS", "Photo", "SourceUnavailable", "reject_reason", "decode_image", "read_photo",
           "to_rgb", "MIN_SIDE"]

KINDS = ("scene", "person", "object")

MIN_SIDE = 256
"""Scenes whose shorter side is below this are too small to crop from."""
MIN_COLOURFULNESS = 6.0
"""Mean |R-G| + |G-B| (0-255) below which a picture counts as grey."""
MIN_COLOURS = 120
"""Distinct colours (16 levels a channel) below which a picture counts as a drawing."""


@dataclass
class Photo:
    """One picture from a source, before it is written.

    ``mask`` (float32 HxW in [0, 1], 1 = the person or object) and ``faces`` (``(x, y, w, h)``
    boxes in the image's pixels) travel with the image: the writer scales all three together.
    ``group`` is the unit the split keeps together (a person's identity, the source photo of
    group crops); empty means the written file name. ``people`` counts the persons in it.
    """

    name: str  # stable name within the source, no extension
    image: np.ndarray  # RGB uint8 HxWx3
    original: str  # where it came from (package-relative, never a local absolute path)
    licence: str
    ext: str  # ".jpg" or ".png", after the original (people and objects are always written as .jpg)
    kind: str = "scene"
    mask: np.ndarray | None = None
    faces: tuple[tuple[int, int, int, int], ...] = ()
    group: str = ""
    people: int = 0
    mask_source: str = ""  # labelme | rvm | selfie | object

    def with_(self, **changes) -> Photo:
        """A copy with some fields changed."""
        return replace(self, **changes)


class SourceUnavailable(RuntimeError):
    """A source could not be fetched or read."""


def to_rgb(img: np.ndarray, keep_grey: bool = False) -> np.ndarray | None:
    """Decoded OpenCV image (BGR/BGRA/grey, 8 or 16 bit) -> RGB uint8.

    A grey file gives None, or an RGB image with three equal channels when ``keep_grey``
    (people photos may be black and white). Transparent pixels are put on white.
    """
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.dtype != np.uint8:
        return None
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2RGB) if keep_grey else None
    if img.ndim != 3:
        return None
    if img.shape[2] == 4:
        alpha = img[..., 3:].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).round()
        img = img.astype(np.uint8)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)


def reject_reason(rgb: np.ndarray) -> str | None:
    """Why ``rgb`` is not a usable scene photo (tiny, grey, a drawing), or None when it is."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        return f"too small ({w}x{h})"
    c = rgb.astype(np.int16)
    colourfulness = float(np.abs(c[..., 0] - c[..., 1]).mean()
                          + np.abs(c[..., 1] - c[..., 2]).mean())
    if colourfulness < MIN_COLOURFULNESS:
        return f"grey (colourfulness {colourfulness:.1f})"
    q = (rgb // 16).astype(np.int32)
    colours = len(np.unique(q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]))
    if colours < MIN_COLOURS:
        return f"a drawing ({colours} colours)"
    return None


def decode_image(data: bytes, keep_grey: bool = False) -> np.ndarray | None:
    """Encoded bytes (JPEG, PNG, WebP) -> RGB uint8, upright per EXIF; None when undecodable
    or grey (unless ``keep_grey``)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        return None
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        # IMREAD_UNCHANGED ignores the EXIF orientation; IMREAD_COLOR applies it.
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return to_rgb(img, keep_grey)


def read_photo(path: Path) -> tuple[np.ndarray | None, str | None]:
    """(RGB uint8, None) for a usable scene photo at ``path``, else (None or image, reason)."""
    rgb = decode_image(path.read_bytes())
    if rgb is None:
        return None, "cannot decode, or grey"
    return rgb, reject_reason(rgb)
