"""Process-wide settings of the native libraries, made before they start: their own log lines
(MediaPipe, TensorFlow Lite, OpenCV, FFmpeg) quiet unless the user asks with ``-v``.

Log lines: these libraries write to the process's stderr from C++, past Python's ``logging``.
OpenCV and FFmpeg take a level (``cv2.utils.logging``, ``OPENCV_FFMPEG_LOGLEVEL``, read when
FFmpeg first opens something); MediaPipe's graph and TensorFlow Lite's delegate print while the
segmentation model is created whatever ``GLOG_minloglevel`` or ``TF_CPP_MIN_LOG_LEVEL`` say (set
anyway, for the versions that read them), so ``captured_stderr()`` catches file descriptor 2
around that one call and hands the lines to ``logging`` at DEBUG level.

(PyTorch's OpenMP thread waits are set apart, first of all, by ``vcam.runtime``.)

A variable the user has set is kept.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

#: Set (unless already set) when quiet; read by the libraries when they start.
QUIET_ENVIRONMENT = {
    "GLOG_minloglevel": "2",  # glog (MediaPipe's graph): errors only
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow (Lite): errors only
    "OPENCV_FFMPEG_LOGLEVEL": "-8",  # FFmpeg through OpenCV: AV_LOG_QUIET
}


def configure(verbose: int) -> None:
    """Quiet native log lines (``verbose`` 0), or show them (1: OpenCV's own default level,
    2: OpenCV at INFO with its video I/O debugging). Call before any camera or model opens."""
    import cv2

    levels = cv2.utils.logging
    user_level = "OPENCV_LOG_LEVEL" in os.environ  # the user's choice wins
    if verbose <= 0:
        for name, value in QUIET_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        if not user_level:
            # FATAL, not ERROR: a missing webcam makes OpenCV log ERROR lines for backends it
            # merely tried; the camera's own message says what went wrong.
            levels.setLogLevel(levels.LOG_LEVEL_FATAL)
        return
    if not user_level:
        levels.setLogLevel(levels.LOG_LEVEL_WARNING if verbose == 1 else levels.LOG_LEVEL_INFO)
    if verbose >= 2:
        os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "1")


@contextmanager
def captured_stderr(log: logging.Logger = logger) -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 inside the block and log it at DEBUG
    level, unless ``log`` is enabled for INFO (``-v``), when it goes to stderr as it comes.

    Process-wide while it lasts: meant for short calls (creating the segmentation model), not
    for anything that runs alongside the camera.
    """
    if log.isEnabledFor(logging.INFO):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no fd 2 (a GUI without a console)
        yield
        return
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    log.debug("native: %s", line)
