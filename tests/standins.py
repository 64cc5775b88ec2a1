"""Stand-ins for parts that do not exist on the test machine: virtual camera devices.

Registered with ``pyvirtualcam.register_backend``, so the real ``pyvirtualcam.Camera`` code path
runs; the ``virtual_backends`` fixture in conftest.py registers them and clears their records.
"""

from __future__ import annotations

import time

import numpy as np
import pyvirtualcam
from pyvirtualcam.util import encode_fourcc

TEST_BACKEND = "phnet-test"
NO_DEVICE_BACKEND = "phnet-nodevice"


class FakeBackend:
    """A pyvirtualcam backend standing in for a device: checks what pyvirtualcam hands it and
    keeps every frame with the time it came (``FakeBackend.instances`` lists them)."""

    instances: list[FakeBackend] = []
    keep_frames = True

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device, **kw):
        if fourcc != encode_fourcc(pyvirtualcam.PixelFormat.RGB.value):
            raise RuntimeError(f"expected RGB frames, got fourcc {fourcc}")
        self.width, self.height, self.fps = width, height, fps
        self.name = device or "/dev/fake-phnet"
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.count = 0
        self.closed = 0
        self.bad: list[str] = []
        FakeBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        # pyvirtualcam passes a flat C-contiguous uint8 array of the frame's bytes.
        if frame.dtype != np.uint8 or frame.ndim != 1 or frame.size != self.width * self.height * 3:
            self.bad.append(f"{frame.dtype} {frame.shape}")
        self.count += 1
        self.times.append(time.perf_counter())
        if self.keep_frames:
            self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self) -> None:
        self.closed += 1

    def device(self) -> str:
        return self.name

    def native_fourcc(self):
        return None


class NoDeviceBackend:
    """Fails the way pyvirtualcam's v4l2loopback backend does on a machine without the module."""

    def __init__(self, **kw):
        raise RuntimeError(
            "No v4l2 loopback device found at /dev/video[0-99]. Did you run 'modprobe "
            "v4l2loopback'? See also pyvirtualcam's documentation."
        )


def register_stand_ins() -> None:
    pyvirtualcam.register_backend(TEST_BACKEND, FakeBackend)
    pyvirtualcam.register_backend(NO_DEVICE_BACKEND, NoDeviceBackend)
