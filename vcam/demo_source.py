"""The built-in video source: a still portrait animated like a webcam, so no camera is needed."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vcam.closing import Closing
from vcam.images import PORTRAIT_PATH, read_rgb

logger = logging.getLogger(__name__)

# Noise is drawn once into a few fields and replayed at random offsets: drawing 640x480x3
# Gaussian samples costs ~10 ms, a third of a 30 fps frame budget.
_NOISE_FIELDS = 8
_NOISE_MARGIN = 32


@dataclass(frozen=True)
class DemoSourceConfig:
    """How the demo source moves and looks. Amounts are relative; periods are in seconds.

    Attributes:
        width, height: output frame size in pixels; the portrait is cover-cropped to it.
        fps: frame rate; timestamps are ``index / fps``.
        frames: stop after this many frames (``None``: never stop).
        realtime: pace ``read()`` to ``fps`` like a camera; ``False`` returns frames at once.
        seed: seeds the noise and the phases of every slow motion; same seed, same frames.
        image_path: the portrait (``None``: the bundled astronaut).
        focus: the point of the portrait, as fractions of its width and height, kept at the
            centre of the frame (as far as the crop allows).
        pan_amount: sway of the view, as a fraction of the frame size (each axis).
        pan_periods: periods of the horizontal and vertical sway.
        zoom_amount: extra zoom at the peak of the slow zoom in and out.
        zoom_period: period of the zoom.
        exposure_amount: relative swing of the overall brightness.
        exposure_period: period of the brightness swing.
        white_balance_amount: relative swing of the red and blue gains (in opposite directions).
        white_balance_period: period of the white-balance swing.
        noise_sigma: standard deviation of the Gaussian sensor noise, in 8-bit levels.
    """

    width: int = 640
    height: int = 480
    fps: float = 30.0
    frames: int | None = None
    realtime: bool = True
    seed: int = 0
    image_path: Path | None = None
    focus: tuple[float, float] = (0.5, 0.4)
    pan_amount: float = 0.03
    pan_periods: tuple[float, float] = (7.0, 9.0)
    zoom_amount: float = 0.05
    zoom_period: float = 11.0
    exposure_amount: float = 0.08
    exposure_period: float = 6.0
    white_balance_amount: float = 0.06
    white_balance_period: float = 13.0
    noise_sigma: float = 2.0


class DemoSource(Closing):
    """Frames of a portrait with slow camera motion, exposure and white-balance drift, and noise.

    ``read()`` returns ``(frame, timestamp)``: RGB uint8 HxWx3 C-contiguous and the frame's time
    in seconds from the first frame (``index / fps``, not wall-clock time), or ``None`` when
    ``frames`` have been produced or the source is closed. Iterating yields the same pairs.
    The output depends only on the config: two sources with the same config give the same frames.
    """

    def __init__(self, config: DemoSourceConfig | None = None) -> None:
        self._closed = False
        cfg = config if config is not None else DemoSourceConfig()
        _validate(cfg)
        self._config = cfg

        path = cfg.image_path if cfg.image_path is not None else PORTRAIT_PATH
        self._image = read_rgb(path)

        rng = np.random.default_rng(cfg.seed)
        # Random phases so that different seeds move differently; drawn first, then the noise.
        self._phases = rng.uniform(0.0, 2.0 * math.pi, size=5)
        shape = (cfg.height + _NOISE_MARGIN, cfg.width + _NOISE_MARGIN, 3)
        if cfg.noise_sigma > 0:
            # Rounded to whole levels: a sensor's noise ends up quantised in 8-bit output too.
            self._noise = [
                np.rint(rng.standard_normal(shape, dtype=np.float32) * cfg.noise_sigma).astype(
                    np.int16
                )
                for _ in range(_NOISE_FIELDS)
            ]
        else:
            self._noise = []
        self._noise_seed = int(rng.integers(0, 2**63 - 1))

        self._index = 0
        self._start: float | None = None
        logger.info(
            "demo source %s at %dx%d, %.3g fps", Path(path).name, cfg.width, cfg.height, cfg.fps
        )

    @property
    def config(self) -> DemoSourceConfig:
        return self._config

    @property
    def width(self) -> int:
        return self._config.width

    @property
    def height(self) -> int:
        return self._config.height

    @property
    def fps(self) -> float:
        return self._config.fps

    @property
    def frame_index(self) -> int:
        """How many frames have been read so far."""
        return self._index

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame and its timestamp in seconds, or ``None`` at the end or once closed."""
        cfg = self._config
        if self._closed or (cfg.frames is not None and self._index >= cfg.frames):
            return None
        index = self._index
        if cfg.realtime:
            self._wait_for(index)
        frame = self.render(index)
        self._index = index + 1
        return frame, index / cfg.fps

    def render(self, index: int) -> np.ndarray:
        """Frame number ``index`` (from 0), RGB uint8 HxWx3; pure: no pacing, no state change."""
        cfg = self._config
        t = index / cfg.fps
        warped = cv2.warpAffine(
            self._image,
            self._view_transform(t),
            (cfg.width, cfg.height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        # Per-channel gains as a diagonal colour matrix: OpenCV rounds and saturates to uint8.
        out = cv2.transform(warped, np.diag(self._gains(t)))
        if self._noise:
            # A seed per frame, so that a frame does not depend on which frames were read before.
            pick = np.random.default_rng((self._noise_seed, index)).integers(
                0, (_NOISE_FIELDS, _NOISE_MARGIN + 1, _NOISE_MARGIN + 1)
            )
            field, dy, dx = (int(v) for v in pick)
            noise = self._noise[field][dy : dy + cfg.height, dx : dx + cfg.width]
            out = cv2.add(out, noise, dtype=cv2.CV_8U)
        return np.ascontiguousarray(out)

    def view_transform(self, index: int) -> np.ndarray:
        """The 2x3 float64 affine map from portrait pixels to frame ``index``'s pixels (for
        ``cv2.warpAffine``): a picture aligned with the portrait, its matte say, warped with
        it lines up with the frame."""
        return self._view_transform(index / self._config.fps)

    def gains(self, index: int) -> np.ndarray:
        """Frame ``index``'s per-channel RGB gains (exposure times white balance), float64 (3,)."""
        return self._gains(index / self._config.fps)

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        while (item := self.read()) is not None:
            yield item

    def close(self) -> None:
        """Stop the source: ``read()`` returns ``None`` from now on. Safe to call more than once."""
        self._closed = True


    def _view_transform(self, t: float) -> np.ndarray:
        """2x3 affine matrix from portrait pixels to output pixels at time ``t``."""
        cfg = self._config
        src_h, src_w = self._image.shape[:2]
        out_w, out_h = cfg.width, cfg.height
        ph = self._phases
        # The view is always zoomed in by 2 * pan_amount beyond the cover fit, which is exactly
        # the margin the sway needs, so the view never leaves the portrait and the clamp below
        # stays idle for a centred focus (a kink there would jerk the motion).
        zoom = 1.0 + 2.0 * cfg.pan_amount
        zoom += cfg.zoom_amount * 0.5 * (1.0 - _wave(t, cfg.zoom_period, ph[0]))
        scale = max(out_w / src_w, out_h / src_h) * zoom
        view_w, view_h = out_w / scale, out_h / scale  # view size in portrait pixels
        cx = cfg.focus[0] * src_w + cfg.pan_amount * view_w * _wave(t, cfg.pan_periods[0], ph[1])
        cy = cfg.focus[1] * src_h + cfg.pan_amount * view_h * _wave(t, cfg.pan_periods[1], ph[2])
        cx = min(max(cx, view_w / 2.0), src_w - view_w / 2.0)
        cy = min(max(cy, view_h / 2.0), src_h - view_h / 2.0)
        # In edge coordinates (pixel i spans [i, i + 1]) the map is X_out = scale * (X_src - c)
        # + size / 2; OpenCV indexes pixel centres, x = X - 0.5, hence the (scale - 1) / 2.
        return np.array(
            [
                [scale, 0.0, (out_w + scale - 1.0) / 2.0 - scale * cx],
                [0.0, scale, (out_h + scale - 1.0) / 2.0 - scale * cy],
            ],
            dtype=np.float64,
        )

    def _gains(self, t: float) -> np.ndarray:
        """Per-channel RGB gains at time ``t``: exposure times white balance."""
        cfg = self._config
        ph = self._phases
        exposure = 1.0 + cfg.exposure_amount * _wave(t, cfg.exposure_period, ph[3])
        warmth = cfg.white_balance_amount * _wave(t, cfg.white_balance_period, ph[4])
        return np.array([exposure * (1.0 + warmth), exposure, exposure * (1.0 - warmth)])

    def _wait_for(self, index: int) -> None:
        """Sleep until frame ``index`` is due; after a stall, restart the schedule (no burst)."""
        period = 1.0 / self._config.fps
        now = time.perf_counter()
        if self._start is None:
            self._start = now - index * period
        due = self._start + index * period
        if due > now:
            time.sleep(due - now)
        elif now - due > period:
            self._start = now - index * period


def _wave(t: float, period: float, phase: float) -> float:
    """A slow oscillation in [-1, 1]: smooth, so the motion has no jerks."""
    return math.sin(2.0 * math.pi * t / period + phase)


def _validate(cfg: DemoSourceConfig) -> None:
    for name in ("width", "height"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if not cfg.fps > 0:
        raise ValueError(f"fps must be positive, got {cfg.fps}")
    if cfg.frames is not None and cfg.frames < 0:
        raise ValueError(f"frames must be None or >= 0, got {cfg.frames}")
    if not all(0.0 <= f <= 1.0 for f in cfg.focus) or len(cfg.focus) != 2:
        raise ValueError(f"focus must be two fractions in [0, 1], got {cfg.focus}")
    if cfg.noise_sigma < 0:
        raise ValueError(f"noise_sigma must be >= 0, got {cfg.noise_sigma}")
    for name in ("pan_amount", "zoom_amount", "exposure_amount", "white_balance_amount"):
        value = getattr(cfg, name)
        if not 0.0 <= value < 0.5:
            raise ValueError(f"{name} must be in [0, 0.5), got {value}")
    periods = (*cfg.pan_periods, cfg.zoom_period, cfg.exposure_period, cfg.white_balance_period)
    if any(not p > 0 for p in periods):
        raise ValueError(f"periods must be positive, got {periods}")
