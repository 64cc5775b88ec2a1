"""The checks every harmoniser makes of a frame: an RGB uint8 composite and a float32 mask."""
from __future__ import annotations

import numpy as np


def check_frame(composite: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Refuses anything but a non-empty RGB uint8 HxWx3 ``composite`` and a float32 HxW ``mask``
    in [0, 1]; returns the mask's (min, max).

    Raises:
        TypeError: not a NumPy array, or the wrong dtype.
        ValueError: the wrong shape, an empty image, a mask of another size, or mask values
            outside [0, 1] (NaN and infinities named as such, with where the first one is).
    """
    if not isinstance(composite, np.ndarray) or composite.dtype != np.uint8:
        got = composite.dtype if isinstance(composite, np.ndarray) else type(composite).__name__
        raise TypeError(f"composite must be a uint8 RGB array, got {got}")
    if composite.ndim != 3 or composite.shape[2] != 3 or 0 in composite.shape:
        raise ValueError(f"composite must be RGB HxWx3 with H, W > 0, got shape {composite.shape}")
    if not isinstance(mask, np.ndarray) or mask.dtype != np.float32:
        got = mask.dtype if isinstance(mask, np.ndarray) else type(mask).__name__
        raise TypeError(f"mask must be a float32 array in [0, 1], got {got}")
    if mask.shape != composite.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match composite {composite.shape}")
    lo, hi = float(mask.min()), float(mask.max())
    if not (0.0 <= lo and hi <= 1.0):  # NaN fails both comparisons, so it is refused too
        raise ValueError(_mask_range_message(mask, lo, hi))
    return lo, hi


def _mask_range_message(mask: np.ndarray, lo: float, hi: float) -> str:
    bad = ~np.isfinite(mask)
    count = int(np.count_nonzero(bad))
    if count:
        row, col = (int(i) for i in np.argwhere(bad)[0])
        return (f"mask values must be finite and lie in [0, 1], got {count} non-finite "
                f"value{'s' if count > 1 else ''} (the first, {mask[row, col]}, at row {row}, "
                f"column {col})")
    return f"mask values must be finite and lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]"


def check_captured(captured: np.ndarray, composite: np.ndarray) -> None:
    """Refuses a ``captured`` frame that is not RGB uint8 of the composite's shape.

    Raises:
        TypeError: not a uint8 NumPy array.
        ValueError: another shape than the composite's.
    """
    if not isinstance(captured, np.ndarray) or captured.dtype != np.uint8:
        got = captured.dtype if isinstance(captured, np.ndarray) else type(captured).__name__
        raise TypeError(f"captured must be the uint8 RGB camera frame, got {got}")
    if captured.shape != composite.shape:
        raise ValueError(f"captured shape {captured.shape} does not match composite {composite.shape}")
