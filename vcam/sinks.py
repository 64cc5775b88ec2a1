"""Where output frames go: the virtual camera, a video file, and the panel's preview.

Every sink takes RGB uint8 HxWx3 frames through ``send(frame)`` and has an idempotent
``close()``. The ``paced`` attribute tells the pipeline how to feed it: a paced sink (the virtual
camera) is fed by a sender thread at a steady rate, with the last frame sent again when no new
one is ready, because a conferencing app treats a silent camera as a broken one; an unpaced sink
(recorder, preview) gets each processed frame exactly once. The recorder writes beside its
target and replaces it only on ``commit()``: a failed run never loses the file that was there.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
from pathlib import Path

import cv2
import numpy as np

from vcam.closing import Closing
from vcam.files import temporary_beside

logger = logging.getLogger(__name__)

#: The name conferencing apps should list the virtual camera under.
CAMERA_NAME = "PHNet Camera"

#: The Linux command that creates the loopback device (``exclusive_caps=1``: Chrome/WebRTC).
MODPROBE_COMMAND = (
    f'sudo modprobe v4l2loopback devices=1 card_label="{CAMERA_NAME}" exclusive_caps=1'
)


class SinkError(RuntimeError):
    """A sink cannot be opened or written to; the message names the device or file."""


class NoVirtualCameraError(SinkError):
    """No virtual camera device is available. The message is one line saying what to install or
    run on this operating system; ``reasons`` keeps pyvirtualcam's per-backend errors."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


def install_hint(system: str | None = None) -> str:
    """What to do on ``system`` (``platform.system()`` by default) to get a virtual camera."""
    system = platform.system() if system is None else system
    if system == "Linux":
        return f"create one with: {MODPROBE_COMMAND}"
    if system == "Windows":
        return (
            "install OBS Studio and start its Virtual Camera once (then stop it), or install "
            f'Unity Capture and register it with the name "{CAMERA_NAME}"'
        )
    if system == "Darwin":
        return "install OBS Studio 30 or newer and start its Virtual Camera once (then stop it)"
    return f"no virtual camera backend is known for {system or 'this system'}"


def _check_frame(frame: np.ndarray, width: int, height: int) -> None:
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"frame dtype must be uint8, got {frame.dtype}")
    if frame.shape != (height, width, 3):
        raise ValueError(f"unexpected frame shape: {frame.shape} != {(height, width, 3)}")


def _check_size(width: int, height: int, fps: float) -> None:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")


class VirtualCameraSink(Closing):
    """The virtual camera ("PHNet Camera") through ``pyvirtualcam.Camera`` in RGB.

    Args:
        width, height: frame size; every frame sent must have it.
        fps: the rate frames will be sent at (a hint for the device).
        device: the device to use (``/dev/videoN`` on Linux, the camera's name on Windows and
            macOS); ``None``: the first one available.
        backend: a pyvirtualcam backend name (``v4l2loopback``, ``obs``, ``unitycapture``, or one
            registered with ``pyvirtualcam.register_backend``); ``None``: try each in turn.

    Raises:
        NoVirtualCameraError: no device (or not the one asked for) could be opened.
        ValueError: a bad size or rate, or a backend name pyvirtualcam does not know.
    """

    paced = True

    def __init__(
        self,
        width: int,
        height: int,
        fps: float,
        device: str | None = None,
        backend: str | None = None,
    ) -> None:
        self._camera = None  # set first: close() must work whatever raises below
        self._lock = threading.Lock()
        self._frames_sent = 0
        _check_size(width, height, fps)
        self._width, self._height, self._fps = width, height, float(fps)

        import pyvirtualcam  # here, so that importing vcam does not load the native backends

        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise ValueError(f"unknown virtual camera backend {backend!r} (available: {known})")
        try:
            self._camera = pyvirtualcam.Camera(
                width,
                height,
                self._fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                device=device,
                backend=backend,
            )
        except RuntimeError as exc:
            # pyvirtualcam joins one line per backend tried; keep them for the log, and give the
            # user one line that says what to do.
            reasons = [line for line in str(exc).splitlines() if line.strip()]
            what = f"virtual camera device {device!r} is not available" if device else (
                "no virtual camera device found"
            )
            raise NoVirtualCameraError(f"{what}; {install_hint()}", reasons) from exc
        logger.info(
            "virtual camera %s (%s backend) at %dx%d, %.3g fps",
            self.device,
            self._camera.backend,
            width,
            height,
            self._fps,
        )

    @property
    def device(self) -> str | None:
        """The device in use, as the backend reports it; ``None`` once closed."""
        return self._camera.device if self._camera is not None else None

    @property
    def backend(self) -> str | None:
        return self._camera.backend if self._camera is not None else None

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
    def frames_sent(self) -> int:
        return self._frames_sent

    def send(self, frame: np.ndarray) -> None:
        """Send one RGB uint8 HxWx3 frame of the sink's size."""
        _check_frame(frame, self._width, self._height)
        with self._lock:
            if self._camera is None:
                raise RuntimeError("VirtualCameraSink is closed")
            self._camera.send(np.ascontiguousarray(frame))
            self._frames_sent += 1

    def close(self) -> None:
        """Release the device. Safe to call more than once."""
        with self._lock:
            camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()
            logger.info("virtual camera closed after %d frames", self._frames_sent)



#: Codec per container: MPEG-4 Part 2 plays almost everywhere and is in every OpenCV build
#: (H.264 is not); Motion JPEG is the safe choice for AVI.
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def check_recording(path: str | Path, width: int, height: int, fps: float) -> Path:
    """Everything ``RecorderSink`` can check before it writes anything; returns ``path``.

    Raises:
        ValueError: another file extension, or a bad size or rate (the message names them); an
            odd width or height (the codecs need even ones).
        SinkError: the folder does not exist.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FOURCC:
        raise ValueError(
            f"cannot record to {path}: the extension must be one of "
            f"{', '.join(_FOURCC)}, got {suffix or 'none'}"
        )
    _check_size(width, height, fps)
    if width % 2 or height % 2:
        # Both codecs would drop the odd column and row and say nothing.
        raise ValueError(
            f"cannot record {width}x{height} video to {path}: MPEG-4 and Motion JPEG need an "
            "even width and height"
        )
    if not path.parent.is_dir():
        raise SinkError(f"cannot write video {path}: folder {path.parent} does not exist")
    return path


class RecorderSink(Closing):
    """Writes frames to a video file (``.mp4``: MPEG-4 ``mp4v``; ``.avi``: Motion JPEG) without
    ever losing the file that was there.

    Frames go to a temporary file beside ``path``; ``commit()`` finishes it and renames it over
    ``path``. ``close()`` without ``commit()`` (a run that failed or was interrupted) removes the
    temporary file and leaves ``path`` as it was. ``with RecorderSink(...) as rec:`` commits
    when the block ends without an exception.

    Raises:
        ValueError: another file extension, a bad size or rate, an odd width or height.
        SinkError: the file cannot be opened for writing (the message names it).
    """

    paced = False

    def __init__(self, path: str | Path, width: int, height: int, fps: float) -> None:
        self._writer = None  # set first: close() must work whatever raises below
        self._tmp: Path | None = None
        self._frames = 0
        self._lock = threading.Lock()
        self._path = check_recording(path, width, height, fps)
        self._width, self._height, self._fps = width, height, float(fps)
        fourcc = _FOURCC[self._path.suffix.lower()]
        try:
            self._tmp = temporary_beside(self._path)
        except OSError as exc:
            raise SinkError(f"cannot write video {self._path}: {exc.strerror or exc}") from exc
        writer = cv2.VideoWriter(
            str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), self._fps, (width, height)
        )
        if not writer.isOpened():
            writer.release()
            self._remove_tmp()
            raise SinkError(
                f"cannot write video {self._path}: OpenCV could not open it with codec {fourcc}"
            )
        self._writer = writer
        logger.info("recording to %s at %dx%d, %.3g fps", self._path, width, height, self._fps)

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
    def frames_written(self) -> int:
        return self._frames

    def send(self, frame: np.ndarray) -> None:
        """Append one RGB uint8 HxWx3 frame of the recorder's size."""
        _check_frame(frame, self._width, self._height)
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)  # the one conversion, at the file's edge
        with self._lock:
            if self._writer is None:
                raise RuntimeError(f"recorder for {self._path} is closed")
            self._writer.write(bgr)
            self._frames += 1

    def commit(self) -> Path:
        """Finish the file and rename it over ``path``; returns ``path``.

        Raises:
            SinkError: the rename failed; ``path`` is left as it was and the temporary file is
                removed.
        """
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is None:
            raise RuntimeError(f"recorder for {self._path} is already closed")
        writer.release()
        try:
            os.replace(self._tmp, self._path)
            self._tmp = None
        except OSError as exc:
            raise SinkError(f"cannot write video {self._path}: {exc.strerror or exc}") from exc
        finally:
            self._remove_tmp()
        logger.info("wrote %d frames to %s", self._frames, self._path)
        return self._path

    def close(self) -> None:
        """Stop; without ``commit()``, the recording is dropped. Safe to call more than once."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
            logger.info("recording to %s dropped (not committed)", self._path)
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self._writer is not None:
            self.commit()
        else:
            self.close()



class PreviewSink:
    """Keeps the newest output frame (and, with ``keep_input``, the camera frame it came from)
    for a GUI to fetch from its own thread.

    Frames are kept by reference, not copied: the pipeline never writes into a frame it has
    published. ``latest()`` returns a read-only view.
    """

    paced = False

    def __init__(self, keep_input: bool = False) -> None:
        self.keep_input = keep_input
        self._lock = threading.Lock()
        self._output: np.ndarray | None = None
        self._input: np.ndarray | None = None
        self._count = 0
        self._closed = False

    def send(self, frame: np.ndarray, source: np.ndarray | None = None) -> None:
        """Keep ``frame`` (RGB uint8 HxWx3) as the newest output, and ``source`` as its input."""
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
            got = frame.dtype if isinstance(frame, np.ndarray) else type(frame).__name__
            raise TypeError(f"frame must be an RGB uint8 HxWx3 array, got {got}")
        with self._lock:
            if self._closed:
                return
            self._output = frame
            if self.keep_input and source is not None:
                self._input = source
            self._count += 1

    def latest(self) -> np.ndarray | None:
        """The newest output frame (read-only), or ``None`` before the first."""
        with self._lock:
            return _readonly(self._output)

    def latest_input(self) -> np.ndarray | None:
        """The camera frame of the newest output (read-only); ``None`` unless ``keep_input``."""
        with self._lock:
            return _readonly(self._input)

    @property
    def frames_received(self) -> int:
        """How many frames were sent here: a GUI compares it to see whether one is new."""
        with self._lock:
            return self._count

    def close(self) -> None:
        """Drop the frames and ignore later ones. Safe to call more than once."""
        with self._lock:
            self._closed = True
            self._output = self._input = None


def _readonly(frame: np.ndarray | None) -> np.ndarray | None:
    if frame is None:
        return None
    view = frame.view()
    view.flags.writeable = False
    return view
