"""A normal-looking photo from an equirectangular HDR panorama (Blender's studio-light HDRIs).

Three steps, each kept deliberately simple:

1. :func:`read_exr`: the RGB channels of an OpenEXR file as float32 HxWx3 (linear light). The
   ``OpenEXR`` package (pip) reads every compression, DWAB included; OpenCV's reader does not.
2. :func:`perspective_view`: a pinhole-camera view (horizontal field of view ``fov_deg``,
   looking at the panorama's centre, level with the horizon) resampled from the equirectangular
   image: for an output pixel the ray ``(x, y, f)`` has longitude ``atan2(x, f)`` and latitude
   ``atan2(-y, hypot(x, f))``, which index the panorama linearly (``u = (lon / 2pi + 0.5) W``,
   ``v = (0.5 - lat / pi) H``). This is the panorama's central band, without the stretching
   an equirectangular crop shows away from the horizon.
3. :func:`tone_map`: exposure that puts the median luminance at mid grey (0.18), Reinhard's
   global operator on luminance ``L / (1 + L)`` (colours scaled by the same ratio, so hues keep),
   then the sRGB transfer curve, to uint8.
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np

__all__ = ["HdriUnavailable", "read_exr", "perspective_view", "tone_map", "hdri_photo"]

MID_GREY = 0.18
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
"""Rec. 709 / sRGB luminance weights (linear light)."""


class HdriUnavailable(RuntimeError):
    """The EXR reader is missing or the file cannot be read."""


def read_exr(path: str | os.PathLike) -> np.ndarray:
    """Linear RGB float32 HxWx3 of the OpenEXR file at ``path``.

    Raises:
        HdriUnavailable: the ``OpenEXR`` package is not installed, or the file has no R, G, B.
    """
    try:
        import OpenEXR
    except ImportError as exc:
        raise HdriUnavailable(f"the OpenEXR package is needed to read .exr files "
                              f"(pip install OpenEXR): {exc}") from exc
    try:
        with OpenEXR.File(str(path)) as exr:
            channels = exr.channels()
            if "RGB" in channels:
                rgb = channels["RGB"].pixels
            elif all(c in channels for c in "RGB"):
                rgb = np.stack([channels[c].pixels for c in "RGB"], axis=-1)
            else:
                raise HdriUnavailable(f"{os.path.basename(path)}: no R, G, B channels "
                                      f"(has {', '.join(sorted(channels))})")
    except HdriUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - OpenEXR raises bare Exceptions on bad files
        raise HdriUnavailable(f"cannot read {os.path.basename(path)}: {exc}") from exc
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise HdriUnavailable(f"{os.path.basename(path)}: unexpected pixel shape {rgb.shape}")
    return np.ascontiguousarray(np.nan_to_num(rgb[..., :3], nan=0.0, posinf=0.0).clip(0, None))


def perspective_view(pano: np.ndarray, width: int, height: int, fov_deg: float = 90.0,
                     yaw_deg: float = 0.0) -> np.ndarray:
    """A ``height`` x ``width`` pinhole view of the equirectangular ``pano`` (HxWxC, any dtype
    OpenCV can remap), horizontal field of view ``fov_deg``, turned ``yaw_deg`` from the
    panorama's centre column, level with the horizon (bilinear, wrapping round in longitude)."""
    if not 0 < fov_deg < 180:
        raise ValueError(f"fov_deg must be in (0, 180), got {fov_deg}")
    ph, pw = pano.shape[:2]
    f = (width / 2) / math.tan(math.radians(fov_deg) / 2)
    x = np.arange(width, dtype=np.float64) - (width - 1) / 2
    y = np.arange(height, dtype=np.float64) - (height - 1) / 2
    xx, yy = np.meshgrid(x, y)
    lon = np.arctan2(xx, f) + math.radians(yaw_deg)
    lat = np.arctan2(-yy, np.hypot(xx, f))
    u = ((lon / (2 * math.pi) + 0.5) * pw - 0.5) % pw
    v = (0.5 - lat / math.pi) * ph - 0.5
    # One wrapped column on the right, so bilinear sampling across the seam stays continuous.
    padded = np.concatenate([pano, pano[:, :1]], axis=1)
    return cv2.remap(padded, u.astype(np.float32), v.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, 12.92 * linear,
                    1.055 * np.power(np.maximum(linear, 0.0031308), 1 / 2.4) - 0.055)


def tone_map(rgb: np.ndarray) -> np.ndarray:
    """Linear float RGB HxWx3 -> sRGB uint8: median luminance to mid grey, Reinhard on
    luminance, sRGB curve (see the module docstring)."""
    rgb = rgb.astype(np.float32)
    lum = rgb @ LUMA
    median = float(np.median(lum))
    exposure = MID_GREY / median if median > 1e-8 else 1.0
    lum = lum * exposure
    ratio = np.where(lum > 1e-12, 1.0 / (1.0 + lum), 0.0).astype(np.float32)  # L_d / L
    mapped = rgb * exposure * ratio[..., None]
    out = _srgb_encode(np.clip(mapped, 0.0, 1.0))
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def hdri_photo(path: str | os.PathLike, width: int = 512, height: int = 384,
               fov_deg: float = 90.0) -> np.ndarray:
    """RGB uint8 ``height`` x ``width``: the tone-mapped central view of the HDRI at ``path``."""
    return tone_map(perspective_view(read_exr(path), width, height, fov_deg))
