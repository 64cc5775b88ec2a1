"""The virtual camera as a sink the panel can connect and disconnect while the pipeline runs.

``Pipeline`` takes its sinks when it is made, and starts its paced sender thread only if one
of them is paced. The panel wants "Start virtual camera" without rebuilding the pipeline (the
segmenter and harmoniser take seconds to load), so the pipeline always gets this paced slot,
and the slot forwards frames to a ``VirtualCameraSink`` while one is connected and drops them
otherwise. Closing the slot (the pipeline's ``stop()``) releases the device.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from vcam.sinks import VirtualCameraSink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VirtualCameraState:
    """What the panel shows about the virtual camera.

    Attributes:
        active: a device is connected and receiving frames.
        device, backend: as pyvirtualcam reports them (empty when inactive).
        width, height, fps: what the device was opened with (0 when inactive).
        frames_sent: frames sent to the device since it was connected.
        error: why the last attempt to connect failed (one line), else empty.
        hint: what the user can do about ``error`` (``vcam.sinks.install_hint``), else empty.
    """

    active: bool = False
    device: str = ""
    backend: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frames_sent: int = 0
    error: str = ""
    hint: str = ""


class VirtualCameraOutput:
    """A paced sink that forwards to a connected ``VirtualCameraSink`` (or to nothing)."""

    paced = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sink: VirtualCameraSink | None = None
        self._closed = False

    @property
    def width(self) -> int | None:
        """The device's width (the pipeline scales frames to it); ``None`` when disconnected."""
        sink = self._sink
        return sink.width if sink is not None else None

    @property
    def height(self) -> int | None:
        sink = self._sink
        return sink.height if sink is not None else None

    @property
    def connected(self) -> bool:
        return self._sink is not None

    def connect(self, sink: VirtualCameraSink) -> None:
        """Forward frames to ``sink`` from now on; it is closed with this slot."""
        with self._lock:
            if self._closed:
                sink.close()
                raise RuntimeError("the virtual camera output is closed")
            old, self._sink = self._sink, sink
        if old is not None:
            old.close()

    def disconnect(self) -> None:
        """Release the device; frames are dropped until the next ``connect``."""
        with self._lock:
            sink, self._sink = self._sink, None
        if sink is not None:
            sink.close()

    def state(self) -> VirtualCameraState:
        sink = self._sink
        if sink is None:
            return VirtualCameraState()
        return VirtualCameraState(
            active=True, device=str(sink.device or ""), backend=str(sink.backend or ""),
            width=sink.width, height=sink.height, fps=sink.fps, frames_sent=sink.frames_sent,
        )

    def send(self, frame: np.ndarray) -> None:
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            # The device may have been swapped for one of another size since the pipeline
            # read ``width``/``height``: fit here rather than fail the frame.
            if frame.shape[:2] != (sink.height, sink.width):
                frame = cv2.resize(frame, (sink.width, sink.height), interpolation=cv2.INTER_AREA)
            sink.send(frame)

    def close(self) -> None:
        """Release the device and refuse later connections. Safe to call more than once."""
        with self._lock:
            self._closed = True
        self.disconnect()
