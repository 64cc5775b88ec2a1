"""Masked Reinhard colour transfer in Lab: the quality baseline and fast fallback of PHNet.

Reinhard et al., "Color Transfer between Images" (2001): every Lab channel of the foreground is
shifted and scaled so that its mean and standard deviation become the background's,

    t = (x - mu_f) / sd_f * sd_b + mu_b,

with the statistics taken under the mask (foreground) and under ``1 - mask`` (background) of the
same composite, and the result is blended back with the soft mask so background pixels are
returned bit-exact. Lab is OpenCV's float32 Lab (L in [0, 100], a and b roughly in [-128, 127]).
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

MIN_WEIGHT = 1e-3
"""Total mask weight (in pixels) at or below which a region counts as empty."""

STD_EPS = 1e-3
"""Floor on a Lab standard deviation, so a flat region divides by a small number, never 0."""

RATIO_RANGE = (0.2, 5.0)
"""Bounds of ``sd_b / sd_f``. A near-flat foreground (a plain shirt, a tiny mask) would otherwise
have its sensor noise amplified many times over, and a flat background would erase all detail;
a factor of 5 either way is more than any real lighting change needs."""


class LabStats(NamedTuple):
    """Weighted Lab statistics of one composite, each a ``(3,)`` float64 array (L, a, b)."""

    fg_mean: np.ndarray
    fg_std: np.ndarray
    bg_mean: np.ndarray
    bg_std: np.ndarray

    def blend(self, prev: LabStats | None, momentum: float) -> LabStats:
        """``(1 - momentum) * prev + momentum * self`` field by field; ``self`` when no ``prev``."""
        if prev is None or momentum == 1.0:
            return self
        return LabStats(*((1.0 - momentum) * p + momentum * s for p, s in zip(prev, self)))


def _check_inputs(composite: np.ndarray, mask: np.ndarray) -> None:
    if not isinstance(composite, np.ndarray):
        raise TypeError(f"composite must be a numpy array, got {type(composite).__name__}")
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}")
    if composite.dtype != np.uint8:
        raise TypeError(f"composite must be RGB uint8 HxWx3, got dtype {composite.dtype}")
    if mask.dtype != np.float32:
        raise TypeError(f"mask must be float32 HxW in [0, 1], got dtype {mask.dtype}")
    if composite.ndim != 3 or composite.shape[2] != 3 or 0 in composite.shape:
        raise ValueError(f"composite must be RGB HxWx3 with H, W > 0, got shape {composite.shape}")
    if mask.shape != composite.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match composite {composite.shape}")
    lo, hi = float(mask.min()), float(mask.max())
    if not (lo >= 0.0 and hi <= 1.0):
        raise ValueError(f"mask values must lie in [0, 1], got range [{lo}, {hi}]")


def _to_lab(composite: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> Lab float32 HxWx3 (C-contiguous)."""
    rgb = composite.astype(np.float32) * np.float32(1.0 / 255.0)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)


def _weighted_mean_std(lab: np.ndarray, w: np.ndarray,
                       total: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of ``lab`` (HxWx3) under weights ``w`` (HxW) summing to
    ``total``, accumulated in float64."""
    flat = lab.reshape(-1, 3).astype(np.float64)
    wf = w.reshape(-1).astype(np.float64)
    mean = wf @ flat / total
    var = wf @ np.square(flat - mean) / total
    return mean, np.sqrt(np.maximum(var, 0.0))


def lab_stats(lab: np.ndarray, mask: np.ndarray) -> LabStats | None:
    """Foreground (under ``mask``) and background (under ``1 - mask``) Lab statistics.

    ``lab`` is float32 HxWx3 Lab, ``mask`` float32 HxW in [0, 1]. Returns None when either region
    weighs at most ``MIN_WEIGHT`` pixels: there is then nothing to transfer from or to.
    """
    fg_w = float(mask.sum(dtype=np.float64))
    bg_w = mask.size - fg_w
    if fg_w <= MIN_WEIGHT or bg_w <= MIN_WEIGHT:
        return None
    fg_mean, fg_std = _weighted_mean_std(lab, mask, fg_w)
    bg_mean, bg_std = _weighted_mean_std(lab, 1.0 - mask, bg_w)
    return LabStats(fg_mean, fg_std, bg_mean, bg_std)


def _apply(composite: np.ndarray, lab: np.ndarray, mask: np.ndarray, stats: LabStats,
           strength: float = 1.0) -> np.ndarray:
    """Transfers ``stats`` onto the foreground and blends it in with weight ``mask * strength``."""
    ratio = np.clip(stats.bg_std / np.maximum(stats.fg_std, STD_EPS), *RATIO_RANGE)
    scale = ratio.astype(np.float32)
    shift = (stats.bg_mean - stats.fg_mean * ratio).astype(np.float32)
    t_lab = lab * scale + shift
    np.clip(t_lab[..., 0], 0.0, 100.0, out=t_lab[..., 0])
    t = cv2.cvtColor(t_lab, cv2.COLOR_Lab2RGB)
    t *= np.float32(255.0)
    # Out-of-gamut Lab can map outside [0, 1]; clip before blending so the mask edge stays sane.
    np.clip(t, 0.0, 255.0, out=t)
    m = (mask * np.float32(strength))[..., None]
    src = composite.astype(np.float32)
    out = t * m + src * (np.float32(1.0) - m)
    return np.clip(np.rint(out), 0.0, 255.0).astype(np.uint8)


def reinhard_transfer(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Harmonises the foreground of ``composite`` to its background by Reinhard transfer in Lab.

    Args:
        composite: RGB uint8 HxWx3, any strides.
        mask: float32 HxW in [0, 1], 1 on the person (foreground).

    Returns:
        RGB uint8 HxWx3, a new C-contiguous array: ``round(t * mask + composite * (1 - mask))``
        with ``t`` the transferred colours, so pixels with ``mask == 0`` equal the composite
        bit-exact. An empty or all-one mask returns a copy of the composite.

    Raises:
        TypeError: a dtype other than uint8 (composite) or float32 (mask).
        ValueError: composite not HxWx3, mask not HxW of the same size, or mask outside [0, 1].
    """
    _check_inputs(composite, mask)
    lab = _to_lab(composite)
    stats = lab_stats(lab, mask)
    if stats is None:
        return np.ascontiguousarray(composite).copy()
    return _apply(composite, lab, mask, stats)


class ColorTransfer:
    """Reinhard colour transfer with the call shape of ``phnet.Harmonizer``.

    Args:
        strength: in [0, 1]; 0 returns the composite, 1 the full transfer.
        momentum: in (0, 1]; weight of the current frame in the exponential moving average of
            the Lab statistics, ``s = (1 - momentum) * s_prev + momentum * s_now``. 1 (default)
            is stateless; lower values steady the colours on video, as PHNet's smoothed
            statistics do. ``reset()`` forgets the previous statistics (call it on a scene cut).
    """

    def __init__(self, strength: float = 1.0, momentum: float = 1.0) -> None:
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {strength}")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum}")
        self.strength = float(strength)
        self.momentum = float(momentum)
        self._stats: LabStats | None = None

    def __call__(self, composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 composite and float32 HxW mask in [0, 1] -> RGB uint8 HxWx3.

        Same contract and errors as :func:`reinhard_transfer`. A frame with an empty or all-one
        mask is returned unchanged and leaves the smoothed statistics as they were.
        """
        _check_inputs(composite, mask)
        lab = _to_lab(composite)
        now = lab_stats(lab, mask)
        if now is None:
            return np.ascontiguousarray(composite).copy()
        self._stats = now.blend(self._stats, self.momentum)
        if self.strength == 0.0:
            return np.ascontiguousarray(composite).copy()
        return _apply(composite, lab, mask, self._stats, self.strength)

    def reset(self) -> None:
        """Forgets the smoothed statistics; the next call starts from its own frame."""
        self._stats = None

    def info(self) -> dict:
        return {
            "method": "colortransfer",
            "backend": "opencv",
            "device": "cpu",
            "strength": self.strength,
            "momentum": self.momentum,
        }
