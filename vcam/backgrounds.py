"""What goes behind the person: a picture, a looping video, the real background blurred, a
solid colour, or nothing new.

``BackgroundProvider(config)(frame, mask)`` returns the background for one frame, RGB uint8 of
the frame's size. Pictures and colours are scaled once per output size and cached; the arrays
returned from a cache are read-only, so a caller cannot spoil the next frame's background.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from vcam.closing import Closing
from vcam.config import BackgroundConfig
from vcam.images import BACKGROUND_PATHS, cover_crop, read_rgb
from vcam.mask_refiner import Matte, halve

logger = logging.getLogger(__name__)

#: Where Linux desktops keep their wallpapers (GNOME, KDE and others); read if present.
SYSTEM_WALLPAPER_DIRS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))

#: Picture types the gallery lists.
GALLERY_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})

#: The gallery lists at most this many system wallpapers.
GALLERY_LIMIT = 200

#: Blur at strength 1: Gaussian sigma as a fraction of the frame's shorter side.
MAX_BLUR_SIGMA_FRACTION = 0.06

#: The blur runs on a copy scaled down (by 2 at least) so that its sigma is about this many
#: pixels: a background blur has no detail worth computing at full resolution.
BLUR_WORK_SIGMA = 3.0

# Sizes kept per cache: a preview and the camera output may ask for different sizes.
_CACHE_SIZES = 4

# A video background that falls this many frames behind the clock (a paused pipeline)
# restarts its schedule instead of decoding its way through the gap.
_MAX_SKIP = 8


class BackgroundError(ValueError):
    """A background could not be used; the message names the file."""


def gallery(
    roots: tuple[Path, ...] = SYSTEM_WALLPAPER_DIRS, limit: int = GALLERY_LIMIT
) -> list[Path]:
    """The bundled pictures, then up to ``limit`` JPEG/PNG wallpapers found under ``roots``.

    Folders are walked recursively in sorted order; missing or unreadable ones are skipped.
    """
    found = [p for p in BACKGROUND_PATHS.values() if p.is_file()]
    extra: list[Path] = []
    for root in roots:
        if len(extra) >= limit or not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root, onerror=lambda _err: None):
            dirs.sort()
            for name in sorted(files):
                if Path(name).suffix.lower() in GALLERY_SUFFIXES:
                    extra.append(Path(folder) / name)
                    if len(extra) >= limit:
                        break
            if len(extra) >= limit:
                break
    return found + extra


class BackgroundProvider(Closing):
    """The background for each frame, as configured.

    Usage::

        backgrounds = BackgroundProvider(BackgroundConfig(kind="blur"))
        bg = backgrounds(frame, mask)    # RGB uint8 HxWx3, frame's size
        out = composite(frame, bg, mask)

    Safe to reconfigure from another thread while frames are being made: ``set_config``
    prepares the new background first and swaps it in between two frames.

    Args:
        config: the background to show.
        clock: seconds, for the pace of a video background (tests pass a fake one).

    Raises:
        BackgroundError: the configured file is missing or cannot be decoded.
    """

    gallery = staticmethod(gallery)

    def __init__(
        self,
        config: BackgroundConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._renderer: _Renderer | None = None
        self._lock = threading.Lock()
        self._clock = clock
        config = config if config is not None else BackgroundConfig()
        self._renderer = _make_renderer(config, clock)
        self._config = config

    @property
    def config(self) -> BackgroundConfig:
        return self._config

    def set_config(self, config: BackgroundConfig) -> None:
        """Switch to another background from the next frame on.

        Raises:
            BackgroundError: the new file is missing or cannot be decoded; the previous
                background stays in use.
        """
        renderer = _make_renderer(config, self._clock)
        with self._lock:
            old, self._renderer = self._renderer, renderer
            self._config = config
        if old is not None:
            old.close()
        logger.info("background: %s", renderer.describe())

    def __call__(self, frame: np.ndarray, mask: np.ndarray | Matte) -> np.ndarray:
        """The background for ``frame``.

        Args:
            frame: RGB uint8 HxWx3, the camera picture.
            mask: the person (used by the blur only): float32 HxW in [0, 1], or the mask
                refiner's ``Matte`` (whose low-resolution mask the blur uses as it is).

        Returns:
            RGB uint8 HxWx3 of the frame's size, C-contiguous. Pictures, video frames and
            colours are read-only shared arrays; ``none`` returns ``frame`` itself.
        """
        return self.render(frame, mask)[0]

    def render(self, frame: np.ndarray, mask: np.ndarray | Matte
               ) -> tuple[np.ndarray, BackgroundConfig]:
        """The background for ``frame`` and the config it was made with: a ``set_config`` on
        another thread may swap the background at any time, so ``config`` may already be newer."""
        _check_frame(frame)
        with self._lock:
            renderer = self._renderer
            if renderer is None:
                raise RuntimeError("BackgroundProvider is closed")
            return renderer.render(frame, mask), self._config

    def close(self) -> None:
        """Release a video background. Safe to call more than once."""
        with self._lock:
            renderer, self._renderer = self._renderer, None
        if renderer is not None:
            renderer.close()



class _Renderer:
    def render(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _SizeCache:
    """Read-only arrays by (width, height), the oldest dropped beyond ``_CACHE_SIZES``."""

    def __init__(self, make: Callable[[tuple[int, int]], np.ndarray]) -> None:
        self._make = make
        self._items: dict[tuple[int, int], np.ndarray] = {}

    def get(self, size: tuple[int, int]) -> np.ndarray:
        item = self._items.get(size)
        if item is None:
            item = np.ascontiguousarray(self._make(size))
            item.flags.writeable = False
            if len(self._items) >= _CACHE_SIZES:
                del self._items[next(iter(self._items))]
            self._items[size] = item
        return item

    def clear(self) -> None:
        self._items.clear()


def _frame_size(frame: np.ndarray) -> tuple[int, int]:
    return frame.shape[1], frame.shape[0]


class _ImageRenderer(_Renderer):
    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            self._image = read_rgb(path)
        except (FileNotFoundError, ValueError) as exc:
            raise BackgroundError(f"cannot use background image {path}: {exc}") from exc
        self._cache = _SizeCache(lambda size: cover_crop(self._image, size))

    def render(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._cache.get(_frame_size(frame))

    def describe(self) -> str:
        h, w = self._image.shape[:2]
        return f"image {self._path} ({w}x{h})"


class _ColorRenderer(_Renderer):
    def __init__(self, rgb: tuple[int, int, int]) -> None:
        self._rgb = rgb
        self._cache = _SizeCache(lambda size: np.full((size[1], size[0], 3), rgb, np.uint8))

    def render(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self._cache.get(_frame_size(frame))

    def describe(self) -> str:
        return f"colour RGB{self._rgb}"


class _NoneRenderer(_Renderer):
    def render(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return frame

    def describe(self) -> str:
        return "none (the real background)"


class _VideoRenderer(_Renderer):
    """A looping video, one frame per ``1 / fps`` of the clock whatever the pipeline's rate."""

    def __init__(self, path: Path, clock: Callable[[], float]) -> None:
        self._path = path
        self._clock = clock
        self._cap: cv2.VideoCapture | None = None
        if not path.is_file():
            raise BackgroundError(f"background video not found: {path}")
        self._cap = self._open()
        ok, image = self._cap.read()
        if not ok or image is None:
            self.close()
            raise BackgroundError(f"cannot decode background video {path}: corrupt or unsupported")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self._fps = fps if 0.0 < fps <= 1000.0 else 30.0
        self._shown = 0  # frames shown since the schedule started
        self._start: float | None = None
        self._set_image(image)

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self._path))
        if not cap.isOpened():
            cap.release()
            raise BackgroundError(
                f"cannot open background video {self._path}: corrupt or unsupported"
            )
        return cap

    def _set_image(self, bgr: np.ndarray) -> None:
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else cv2.cvtColor(
            bgr, cv2.COLOR_GRAY2RGB
        )
        self._cache = _SizeCache(lambda size: cover_crop(rgb, size))

    def _grab(self) -> bool:
        """Step to the next frame, back to the first at the end; False if none decodes."""
        if self._cap.grab():
            return True
        self._cap.release()
        self._cap = self._open()
        return self._cap.grab()

    def _advance(self) -> None:
        now = self._clock()
        if self._start is None:
            self._start = now
        # The tolerance keeps a frame period measured in float from landing just short.
        due = int((now - self._start) * self._fps + 1e-6)
        steps = due - self._shown
        if steps <= 0:
            return
        if steps > _MAX_SKIP:
            steps = 1
            self._start = now - (self._shown + 1) / self._fps
        for _ in range(steps):
            if not self._grab():
                logger.warning("background video %s stopped decoding", self._path)
                return
            self._shown += 1
        ok, image = self._cap.retrieve()
        if ok and image is not None:
            self._set_image(image)

    def render(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self._cap is None:
            raise RuntimeError("background video is closed")
        self._advance()
        return self._cache.get(_frame_size(frame))

    def describe(self) -> str:
        return f"video {self._path} ({self._fps:.3g} fps, looping)"

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()


class _BlurRenderer(_Renderer):
    """The real background, blurred without the person in it ("normalised convolution").

    The person's pixels get weight 0 and the background's 1, and the blurred image is
    ``blur(frame * w) / blur(w)``: only background colours spread, so the person leaves no
    glow around themself. Where no background is near (behind the person) the result fades to
    the background's mean colour, which the soft mask edge may reveal and which keeps the
    harmoniser's background statistics free of the person's colours.

    All of it runs on a copy of the frame halved two or three times (a blur has no detail worth
    computing at full resolution; exact halvings are OpenCV's fastest resize, where an area
    resize by a fraction costs ~3 ms at 1280x720), with the mask refiner's low-resolution mask
    when it is given a ``Matte``; only the final enlargement is at full resolution.
    """

    # Added to the denominator: where blur(w) is much smaller, the mean colour takes over.
    _EPS = 1e-3

    def __init__(self, strength: float) -> None:
        self._strength = strength

    def render(self, frame: np.ndarray, mask) -> np.ndarray:
        height, width = frame.shape[:2]
        matte = mask if isinstance(mask, Matte) else None
        if matte is None:
            _check_mask(mask, height, width)
        elif matte.shape != (height, width):
            raise ValueError(
                f"mask shape must be {(height, width)} to match the frame, got {matte.shape}"
            )
        sigma = self._strength * MAX_BLUR_SIGMA_FRACTION * min(height, width)
        if sigma < 0.5:
            return frame
        factor = max(2, int(sigma / BLUR_WORK_SIGMA))
        exact = 1
        while (2 * exact <= 1.4 * factor and height % (2 * exact) == 0
               and width % (2 * exact) == 0):
            exact *= 2
        if exact >= 2:
            # Halvings only: the power of two nearest the wanted factor (the blur's sigma at
            # that size stays above ~2 pixels, so the enlargement is smooth).
            factor = exact
            times = exact.bit_length() - 1
            frame_low = halve(frame, times)
            low_size = (frame_low.shape[1], frame_low.shape[0])
            if matte is not None and matte.scale <= exact:
                m = halve(matte.low, times - (matte.scale.bit_length() - 1))
            else:
                m = _mask_at(mask, low_size)
        else:  # odd sizes
            low_size = (max(1, round(width / factor)), max(1, round(height / factor)))
            frame_low = cv2.resize(frame, low_size, interpolation=cv2.INTER_AREA)
            m = _mask_at(mask, low_size)
        # Background weight: only confident background counts (mixed edge pixels carry the
        # person's colour), and a one-pixel erosion keeps hair the segmenter missed out too.
        w = 1.0 - 2.0 * m
        np.clip(w, 0.0, 1.0, out=w)
        w = cv2.erode(w, np.ones((3, 3), np.uint8))
        weighted = cv2.multiply(frame_low, cv2.merge((w, w, w)), dtype=cv2.CV_32F)
        total = cv2.sumElems(w)[0]
        if total > 1.0:
            mean = np.array(cv2.sumElems(weighted)[:3], np.float32) / np.float32(total)
        else:  # the person fills the frame: there is no background to show
            mean = np.array(cv2.mean(frame_low)[:3], np.float32)
        low_sigma = sigma / factor
        num = cv2.GaussianBlur(weighted, (0, 0), low_sigma, borderType=cv2.BORDER_REFLECT)
        den = cv2.GaussianBlur(w, (0, 0), low_sigma, borderType=cv2.BORDER_REFLECT)
        num += (self._EPS * mean).astype(np.float32)
        den += np.float32(self._EPS)
        out = num / den[..., None]
        # Rounded and saturated to uint8 by OpenCV, at the low resolution, then enlarged.
        out = cv2.convertScaleAbs(out)
        return cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)

    def describe(self) -> str:
        return f"blur (strength {self._strength:g})"


def _mask_at(mask, size: tuple[int, int]) -> np.ndarray:
    """A float mask (or a Matte's) area-averaged to ``size`` = (width, height), float32."""
    if isinstance(mask, Matte):
        m = mask.low
    else:
        m = np.ascontiguousarray(mask.reshape(mask.shape[:2]), dtype=np.float32)
    return cv2.resize(m, size, interpolation=cv2.INTER_AREA)


def _make_renderer(config: BackgroundConfig, clock: Callable[[], float]) -> _Renderer:
    if not isinstance(config, BackgroundConfig):
        raise TypeError(f"config must be a BackgroundConfig, got {type(config).__name__}")
    if config.kind == "image":
        path = Path(config.path) if config.path else next(iter(BACKGROUND_PATHS.values()))
        return _ImageRenderer(path)
    if config.kind == "video":
        return _VideoRenderer(Path(config.path), clock)
    if config.kind == "blur":
        return _BlurRenderer(config.blur_strength)
    if config.kind == "color":
        return _ColorRenderer(config.color)
    return _NoneRenderer()


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"frame dtype must be uint8 (RGB), got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"frame shape must be (H, W, 3), got {frame.shape}")


def _check_mask(mask: np.ndarray, height: int, width: int) -> None:
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}")
    if mask.dtype not in (np.float32, np.float64):
        raise TypeError(f"mask dtype must be float32 in [0, 1], got {mask.dtype}")
    if mask.shape not in ((height, width), (height, width, 1)):
        raise ValueError(
            f"mask shape must be {(height, width)} to match the frame, got {mask.shape}"
        )
