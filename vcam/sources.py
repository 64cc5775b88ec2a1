"""Where frames come from: a webcam, a video file, or the built-in demo.

Every source has ``read() -> (frame, t) | None``: ``frame`` RGB uint8 HxWx3 C-contiguous (BGR is
converted once, here), ``t`` the frame's time in seconds, and ``None`` when no frame came.
``width``, ``height`` and ``fps`` say what the source delivers; ``close()`` releases it.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from vcam.closing import Closing
from vcam.config import CameraConfig
from vcam.demo_source import DemoSource, DemoSourceConfig

logger = logging.getLogger(__name__)

#: Still pictures: ``open_source`` animates these with the demo source instead of reading them
#: as a one-frame video.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

#: Video files: a ``spec`` ending so names a file, never a camera device.
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})

# Weight of the newest frame interval in the measured frame rate: a time constant of ~10 frames.
_FPS_SMOOTHING = 0.1


class SourceError(RuntimeError):
    """A source could not be opened or read; the message names it and what to check."""


@runtime_checkable
class FrameSource(Protocol):
    """What the pipeline needs of a source (CameraSource, VideoFileSource, DemoSource)."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def fps(self) -> float: ...

    def read(self) -> tuple[np.ndarray, float] | None: ...

    def close(self) -> None: ...


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """A captured image (BGR, BGRA or grey uint8) as RGB uint8 HxWx3, C-contiguous."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _camera_hint() -> str:
    if sys.platform.startswith("linux"):
        return "(Linux: ls /dev/video*; your user needs to be in the 'video' group)"
    if sys.platform == "darwin":
        return "(macOS: allow camera access in System Settings > Privacy & Security > Camera)"
    if sys.platform == "win32":
        return "(Windows: Settings > Privacy > Camera must allow desktop apps)"
    return ""


class CameraSource(Closing):
    """A webcam (or anything ``cv2.VideoCapture`` opens) as RGB frames with wall-clock times.

    The camera opens on construction; ``open()`` reopens it after ``close()`` and does nothing
    while it is open. Use it as a context manager to close it.

    Args:
        config: ``device`` is a camera index when it is all digits (``"0"``), else a device
            path (``/dev/video2``), a stream URL or a video file (how the tests drive it).
            ``width``, ``height`` and ``fps`` are requested; the camera decides.

    Attributes (read-only):
        requested: the config as given.
        width, height, fps: what the camera delivers: the size of the frames read (the
            driver's answer before the first one), and the rate the driver reports (the
            requested one when it reports none).
        measured_fps: the rate frames actually arrive at, smoothed (0 before two frames).

    Raises:
        SourceError: the camera cannot be opened (the message names it and what to check).
    """

    def __init__(self, config: CameraConfig | None = None) -> None:
        # Set before anything can raise, so close() always works.
        self._cap: cv2.VideoCapture | None = None
        self._config = config if config is not None else CameraConfig()
        self._width = self._config.width
        self._height = self._config.height
        self._fps = self._config.fps
        self._measured_fps = 0.0
        self._last_arrival: float | None = None
        self.open()

    @property
    def requested(self) -> CameraConfig:
        return self._config

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def measured_fps(self) -> float:
        return self._measured_fps

    @property
    def is_open(self) -> bool:
        return self._cap is not None

    def open(self) -> None:
        """Open the camera and ask for the configured size and rate; no-op when open."""
        if self._cap is not None:
            return
        cfg = self._config
        device = cfg.device.strip()
        target: int | str = int(device) if device.isdigit() else device
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            if isinstance(target, int):
                raise SourceError(
                    f"camera {target} could not be opened: is it connected and not used by "
                    f"another app? {_camera_hint()}".rstrip()
                )
            what = "file" if Path(target).is_file() else "device"
            raise SourceError(
                f"camera {target!r} could not be opened: check that the {what} exists and "
                f"can be read {_camera_hint() if what == 'device' else ''}".rstrip()
            )
        # Drivers ignore what they cannot do; read back below what was granted.
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        self._width = width if width > 0 else cfg.width
        self._height = height if height > 0 else cfg.height
        self._fps = fps if fps > 0 else cfg.fps
        self._measured_fps = 0.0
        self._last_arrival = None
        self._cap = cap
        logger.info(
            "camera %s opened: %dx%d at %.3g fps (asked for %dx%d at %.3g fps)",
            device,
            self._width,
            self._height,
            self._fps,
            cfg.width,
            cfg.height,
            cfg.fps,
        )

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame, RGB uint8 HxWx3, and ``time.monotonic()`` when it arrived.

        ``None`` when the camera gave no frame (unplugged, taken by another app, the end of a
        file) or is closed; a live camera may deliver again on a later call.
        """
        cap = self._cap
        if cap is None:
            return None
        ok, image = cap.read()
        t = time.monotonic()
        if not ok or image is None:
            return None
        frame = _to_rgb(image)
        if self._config.mirror:
            frame = cv2.flip(frame, 1)
        self._height, self._width = frame.shape[:2]
        self._update_rate(time.perf_counter())
        return frame, t

    def _update_rate(self, now: float) -> None:
        last, self._last_arrival = self._last_arrival, now
        if last is None or now <= last:
            return
        rate = 1.0 / (now - last)
        if self._measured_fps == 0.0:
            self._measured_fps = rate
        else:
            self._measured_fps += _FPS_SMOOTHING * (rate - self._measured_fps)

    def close(self) -> None:
        """Release the camera. Safe to call more than once."""
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
            logger.info("camera %s closed", self._config.device)

    def __enter__(self) -> CameraSource:
        self.open()
        return self


class VideoFileSource(Closing):
    """A video file as RGB frames, played once or looped.

    Timestamps are ``frames read so far / fps`` in seconds, increasing across loops (like the
    demo source), not wall-clock time.

    Args:
        path: the video file.
        loop: start again at the end; ``False``: ``read()`` returns ``None`` at the end.
        realtime: pace ``read()`` to the file's frame rate, like a camera; ``False`` returns
            frames as fast as they decode.

    Raises:
        SourceError: the file is missing, or OpenCV cannot decode a frame of it.
    """

    def __init__(self, path: str | Path, loop: bool = True, realtime: bool = False) -> None:
        self._cap: cv2.VideoCapture | None = None
        self._path = Path(path)
        self._loop = bool(loop)
        self._realtime = bool(realtime)
        self._index = 0
        self._loops = 0
        self._start: float | None = None
        self._pending: np.ndarray | None = None
        self._ended = False

        if self._path.is_dir():
            raise SourceError(f"video file {self._path}: a folder; expected a video file")
        if not self._path.is_file():
            raise SourceError(f"video file not found: {self._path}")
        cap = self._open_capture()
        # Decode the first frame now, so a corrupt file fails here and not mid-stream.
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise SourceError(f"cannot decode video file {self._path}: corrupt or unsupported")
        self._pending = image
        self._cap = cap
        self._height, self._width = image.shape[:2]
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        # Files without a usable rate (some streams report 0 or absurd values) play at 30.
        self._fps = fps if 0.0 < fps <= 1000.0 else 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._frame_count = count if count > 0 else None
        logger.info(
            "video %s: %dx%d at %.3g fps, %s frames%s",
            self._path.name,
            self._width,
            self._height,
            self._fps,
            self._frame_count if self._frame_count is not None else "unknown",
            ", looping" if self._loop else "",
        )

    def _open_capture(self) -> cv2.VideoCapture:
        if not self._path.is_file():  # moved or deleted while it played as the camera
            raise SourceError(f"video file not found: {self._path}")
        cap = cv2.VideoCapture(str(self._path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video file {self._path}: corrupt or unsupported")
        return cap

    @property
    def path(self) -> Path:
        return self._path

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        """Frames in the file, as its header says (``None`` when it does not say)."""
        return self._frame_count

    @property
    def frame_index(self) -> int:
        """How many frames have been read so far, across loops."""
        return self._index

    @property
    def loops(self) -> int:
        """How many times playback went back to the start (a scene cut for the harmoniser)."""
        return self._loops

    def read(self) -> tuple[np.ndarray, float] | None:
        """The next frame, RGB uint8 HxWx3, and its time in seconds; ``None`` at the end
        (``loop=False``), when the file stops decoding, or once closed."""
        if self._cap is None or self._ended:
            return None
        image = self._next_image()
        if image is None:
            self._ended = True
            return None
        index = self._index
        if self._realtime:
            self._wait_for(index)
        self._index = index + 1
        return _to_rgb(image), index / self._fps

    def _next_image(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._cap.read()
        if ok and image is not None:
            return image
        if not self._loop or self._index == 0:
            return None
        # Seeking is not exact with every codec; reopening always starts at frame 0.
        self._cap.release()
        self._cap = self._open_capture()
        ok, image = self._cap.read()
        if not ok or image is None:
            logger.warning("video %s: no frame after going back to the start", self._path)
            return None
        self._loops += 1
        return image

    def _wait_for(self, index: int) -> None:
        """Sleep until frame ``index`` is due; after a stall, restart the schedule (no burst)."""
        period = 1.0 / self._fps
        now = time.perf_counter()
        if self._start is None:
            self._start = now - index * period
        due = self._start + index * period
        if due > now:
            time.sleep(due - now)
        elif now - due > period:
            self._start = now - index * period

    def close(self) -> None:
        """Release the file. Safe to call more than once."""
        cap, self._cap = self._cap, None
        self._pending = None
        if cap is not None:
            cap.release()



def open_source(spec: str, camera: CameraConfig | None = None) -> FrameSource:
    """The source ``spec`` names, open and ready to read.

    - ``"demo"``: the built-in demo at ``camera``'s width, height and fps, paced like a camera;
    - an existing image file: the demo source animating that picture;
    - an existing video file: ``VideoFileSource``, looped and paced like a camera;
    - anything else (``"0"``, ``/dev/video2``, a URL): ``CameraSource`` with ``device=spec``
      (an empty ``spec`` keeps ``camera.device``).

    Raises:
        SourceError: the camera or file cannot be opened.
    """
    camera = camera if camera is not None else CameraConfig()
    spec = spec.strip()
    if spec.lower() == "demo":
        return DemoSource(
            DemoSourceConfig(width=camera.width, height=camera.height, fps=camera.fps)
        )
    path = Path(spec)
    suffix = path.suffix.lower()
    expected = ("expected a camera index such as 0, a device such as /dev/video0, 'demo', or an "
                "existing video or picture file")
    if spec and path.is_dir():
        raise SourceError(f"camera {spec}: a folder; {expected}")
    if suffix in IMAGE_SUFFIXES | VIDEO_SUFFIXES and not path.is_file():
        what = "picture" if suffix in IMAGE_SUFFIXES else "video file"
        raise SourceError(f"camera {what} not found: {spec} ({expected})")
    # is_file() and not exists(): /dev/video0 exists too, but it is a camera.
    if spec and path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                return DemoSource(
                    DemoSourceConfig(
                        width=camera.width, height=camera.height, fps=camera.fps, image_path=path
                    )
                )
            except (FileNotFoundError, ValueError) as exc:
                raise SourceError(f"cannot use picture {path} as a source: {exc}") from exc
        return VideoFileSource(path, loop=True, realtime=True)
    return CameraSource(replace(camera, device=spec) if spec else camera)
