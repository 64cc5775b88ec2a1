"""Small pictures for the background gallery, made once and cached.

Thumbnails are decoded on a thread of their own (a folder of 4K wallpapers takes seconds to
decode) and handed to the GUI as ``QImage`` through a Qt signal; ``QImage`` may be made on any
thread, ``QPixmap`` only on the GUI thread, so the GUI turns them into icons. Each one is
cached in memory and, when a cache folder is given, as a PNG keyed by the file's path, size
and modification time, so the next start shows the gallery at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from vcam.images import cover_crop

logger = logging.getLogger(__name__)

THUMB_SIZE = (96, 72)  # width, height: 4:3 like most webcams
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def make_thumbnail(path: str | os.PathLike, size: tuple[int, int] = THUMB_SIZE) -> np.ndarray:
    """The picture (or a video's first frame) cover-cropped to ``size``, RGB uint8 HxWx3.

    JPEGs are decoded at a quarter of their size (libjpeg scales while decoding), which makes
    a 4K wallpaper about ten times cheaper and is still far more than a thumbnail needs.

    Raises:
        ValueError: the file cannot be decoded.
        FileNotFoundError: no such file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if is_video(path):
        cap = cv2.VideoCapture(str(path))
        try:
            ok, bgr = cap.read()
        finally:
            cap.release()
        if not ok or bgr is None:
            raise ValueError(f"cannot decode a frame of {path}")
    else:
        data = np.fromfile(path, dtype=np.uint8)
        bgr = cv2.imdecode(data, cv2.IMREAD_REDUCED_COLOR_4) if data.size else None
        if bgr is None or min(bgr.shape[:2]) < size[1]:
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if bgr is None:
            raise ValueError(f"cannot decode {path}")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cover_crop(rgb, size)


def to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB uint8 HxWx3 array as a ``QImage`` that owns its pixels (a copy: thumbnails are
    tiny and outlive the array)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, rgb.strides[0], QImage.Format.Format_RGB888).copy()


class ThumbnailLoader(QObject):
    """Makes thumbnails on a background thread.

    Args:
        cache_dir: where PNG copies are kept between runs; ``None``: memory only.

    Signals:
        ready(path, QImage): the thumbnail of ``path`` (as requested) is ready.
        failed(path, message): it cannot be made (the file is gone or not a picture).

    Call ``close()`` before the application quits: it stops the thread.
    """

    ready = Signal(str, QImage)
    failed = Signal(str, str)

    def __init__(self, cache_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[str, QImage] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pending: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="vcam-panel-thumbnails",
                                        daemon=True)
        self._closed = False
        self._thread.start()

    def cached(self, path: str) -> QImage | None:
        """The thumbnail if it was made before in this session, else ``None``."""
        with self._lock:
            return self._memory.get(path)

    def request(self, path: str) -> None:
        """Make the thumbnail of ``path``; ``ready`` or ``failed`` follows (once per path)."""
        with self._lock:
            if self._closed or path in self._pending:
                return
            image = self._memory.get(path)
            if image is None:
                self._pending.add(path)
        if image is not None:
            self.ready.emit(path, image)
        else:
            self._queue.put(path)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread (after the thumbnail it is making). Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # Drop the waiting requests so the thread sees the sentinel at once.
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            if path is None:
                return
            try:
                image = to_qimage(self._load(path))
            except (OSError, ValueError) as exc:
                with self._lock:
                    self._pending.discard(path)
                logger.info("no thumbnail for %s: %s", path, exc)
                if not self._closed:
                    self.failed.emit(path, str(exc))
                continue
            with self._lock:
                self._memory[path] = image
                self._pending.discard(path)
                closed = self._closed
            if not closed:
                self.ready.emit(path, image)

    def _cache_file(self, path: str) -> Path | None:
        if self._cache_dir is None:
            return None
        stat = os.stat(path)
        key = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}|{THUMB_SIZE}"
        return self._cache_dir / (hashlib.sha1(key.encode("utf-8")).hexdigest() + ".png")

    def _load(self, path: str) -> np.ndarray:
        cache = self._cache_file(path)
        if cache is not None and cache.is_file():
            data = np.fromfile(cache, dtype=np.uint8)
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if bgr is not None:
                return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rgb = make_thumbnail(path)
        if cache is not None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                if ok:
                    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
                    png.tofile(str(tmp))
                    os.replace(tmp, cache)
            except OSError as exc:  # a read-only cache folder costs speed, nothing else
                logger.debug("cannot cache thumbnail %s: %s", cache, exc)
        return rgb
