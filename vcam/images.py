"""Still images: reading files as RGB, cover-cropping, and the pictures bundled with vcam."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

#: Pictures shipped with the package; their sources and licences are in ``LICENSES.md`` there.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"

#: The portrait the built-in demo source animates (NASA, public domain).
PORTRAIT_PATH = ASSETS_DIR / "astronaut.jpg"

#: The bundled background gallery, by name.
BACKGROUND_PATHS: dict[str, Path] = {
    "dune": ASSETS_DIR / "bg_dune.jpg",  # warm: golden grass, low sun
    "storm": ASSETS_DIR / "bg_storm.jpg",  # cool and dark: blue storm sky
    "meadow": ASSETS_DIR / "bg_meadow.jpg",  # bright green grass
}


def background_name(path: str | Path) -> str | None:
    """The name (``dune``) of the bundled picture at ``path``, also where another installation
    of this package keeps it (``.../vcam/assets/bg_dune.jpg`` in an environment since rebuilt
    elsewhere); ``None`` for any other file."""
    path = Path(path)
    for name, bundled in BACKGROUND_PATHS.items():
        if path == bundled or (path.name == bundled.name
                               and path.parent.parts[-2:] == bundled.parent.parts[-2:]):
            return name
    return None


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 HxWx3 (grey and alpha files are converted).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an image OpenCV can decode.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    # np.fromfile + imdecode instead of cv2.imread: imread cannot open non-ASCII paths on
    # Windows, and it answers every failure with a bare None.
    data = np.fromfile(path, dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError(f"cannot decode image {path}: corrupt, or a format OpenCV cannot read")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def cover_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``image`` to cover ``size`` = (width, height) and crop the centre to exactly that.

    The aspect ratio is kept (nothing is stretched); the side that overflows is cropped evenly.

    Args:
        image: uint8 HxWxC (or HxW).
        size: (width, height) of the result, both positive.

    Returns:
        uint8 array of shape (height, width[, C]), C-contiguous.
    """
    width, height = _check_size(size)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image dtype must be uint8, got {image.dtype}")
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image shape must be non-empty (H, W) or (H, W, C), got {image.shape}")

    src_h, src_w = image.shape[:2]
    # Crop the source to the target aspect first, then resize once: cheaper than resizing the
    # whole image, and the result has exactly the requested size.
    if src_w * height > width * src_h:  # source is wider than the target
        crop_w, crop_h = max(1, round(src_h * width / height)), src_h
    else:
        crop_w, crop_h = src_w, max(1, round(src_w * height / width))
    x0 = (src_w - crop_w) // 2
    y0 = (src_h - crop_h) // 2
    crop = image[y0 : y0 + crop_h, x0 : x0 + crop_w]
    if (crop_w, crop_h) == (width, height):
        return np.ascontiguousarray(crop)
    # INTER_AREA avoids aliasing when shrinking; it is not meant for enlarging.
    interp = cv2.INTER_AREA if crop_w >= width and crop_h >= height else cv2.INTER_LINEAR
    out = cv2.resize(crop, (width, height), interpolation=interp)
    # cv2.resize drops a single trailing channel axis; keep the caller's layout.
    return np.ascontiguousarray(out.reshape((height, width) + image.shape[2:]))


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise TypeError(f"size must be (width, height), got {size!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive (width, height), got {size!r}")
    return width, height
