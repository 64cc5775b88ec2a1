"""How often the network thread gets a new frame: a few times a second, sooner on a scene change.

A colour model describes the light on the person, which changes slowly; running PHNet on every
frame it can keep up with costs a whole core on a laptop CPU for colour models nobody can tell
apart. :class:`NetworkRate` lets a frame through to the network at most ``rate`` times a second,
and at once when the scene changes: the frame's mean colour moves by ``light`` levels (0-255) in
any channel since the last frame let through (a lamp switched on, auto-exposure), or the share
of the frame covered by the person moves by ``motion`` (they stood up or came closer). A new
background or a scene cut is a ``reset()`` of the harmoniser, whose first frame always runs.

The signature of a frame is taken on a 1-in-16 grid of its pixels (about 1,200 of a 640x480
frame), so the check costs microseconds, not a pass over the frame.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

__all__ = ["NetworkRate", "frame_signature"]

_STEP = 16


def frame_signature(composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(4,)`` float64: the mean R, G, B (0-255) and the person's share of the frame (0-1), on a
    sparse grid. ``composite``: RGB uint8 HxWx3; ``mask``: float32 HxW in [0, 1]."""
    rgb = composite[::_STEP, ::_STEP].reshape(-1, 3).mean(axis=0, dtype=np.float64)
    share = float(mask[::_STEP, ::_STEP].mean(dtype=np.float64))
    return np.append(rgb, share)


class NetworkRate:
    """Says which frames the network thread should take (see the module). Thread-safe.

    Args:
        rate: network runs a second at most when nothing changes; ``None`` or 0: every frame
            (as fast as the thread can).
        light: a change of the frame's mean colour, 0-255 levels in any channel, that counts as
            a scene change.
        motion: a change of the person's share of the frame (0-1) that counts as one.
        clock: seconds, monotonic (a parameter for tests).
    """

    def __init__(self, rate: float | None = 3.0, light: float = 6.0, motion: float = 0.04,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and not rate >= 0.0:
            raise ValueError(f"network_rate must be >= 0 runs a second (0 = unbounded), got {rate}")
        self.interval = 1.0 / rate if rate else 0.0
        self.light = light
        self.motion = motion
        self._clock = clock
        self._lock = threading.Lock()
        self._last_time: float | None = None
        self._last_signature: np.ndarray | None = None

    @property
    def rate(self) -> float:
        """Runs a second at most (0 = unbounded)."""
        return 1.0 / self.interval if self.interval else 0.0

    def reset(self) -> None:
        """A new video: its first frame goes through."""
        with self._lock:
            self._last_time = self._last_signature = None

    def due(self, composite: np.ndarray, mask: np.ndarray) -> bool:
        """True when this frame should go to the network (and it then counts as the last one)."""
        if not self.interval:
            return True
        now = self._clock()
        signature = frame_signature(composite, mask)
        with self._lock:
            last = self._last_signature
            if (self._last_time is None or now - self._last_time >= self.interval
                    or np.abs(signature[:3] - last[:3]).max() >= self.light
                    or abs(signature[3] - last[3]) >= self.motion):
                self._last_time, self._last_signature = now, signature
                return True
            return False
