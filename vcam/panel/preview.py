"""The live preview: the pipeline's newest output (or its input, or both split) painted at
~30 Hz.

Frames are shown without copying: a ``QImage`` wraps the NumPy buffer (the pipeline never
writes into a frame it has published), and the widget keeps the array alive as long as the
image. Only the scaling to the widget's size costs anything, and Qt does it while painting.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from vcam.panel.settings_io import VIEW_MODES

#: (frames received, output, input) from the pipeline; frames are RGB uint8 HxWx3.
FrameFeed = Callable[[], tuple[int, "np.ndarray | None", "np.ndarray | None"]]

PREVIEW_INTERVAL_MS = 33
_BACKGROUND = QColor(24, 24, 28)


def qimage_view(frame: np.ndarray) -> tuple[np.ndarray, QImage]:
    """A ``QImage`` over an RGB uint8 HxWx3 array's memory, and the array it reads: keep that
    array alive as long as the image. No copy unless the rows are not contiguous (pipeline
    frames always are)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 HxWx3 frame, got {frame.dtype} {frame.shape}")
    if not frame.flags.c_contiguous:
        frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    image = QImage(frame.data, width, height, frame.strides[0], QImage.Format.Format_RGB888)
    return frame, image


class PreviewWidget(QWidget):
    """Paints the newest frames from ``feed`` in one of ``VIEW_MODES``; in ``split`` the
    camera picture is left of a line the user can drag, the output right of it.

    Signals:
        split_moved(float): the user dragged the split line (fraction of the picture width).
    """

    split_moved = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self._feed: FrameFeed | None = None
        self._seen = -1
        self._frames: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self._images: tuple[QImage | None, QImage | None] = (None, None)
        self._mode = "output"
        self._split = 0.5
        self._placeholder = "Starting the camera…"
        self._painted = 0
        self._timer = QTimer(self)
        self._timer.setInterval(PREVIEW_INTERVAL_MS)
        self._timer.timeout.connect(self.poll)

    # ------------------------------------------------------------------------- feeding

    def set_feed(self, feed: FrameFeed | None) -> None:
        """Poll ``feed`` from now on (``None``: stop polling)."""
        self._feed = feed
        self._seen = -1
        if feed is None:
            self._timer.stop()
        else:
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._feed = None

    def poll(self) -> None:
        """Take the newest frames if there are new ones, and schedule a repaint."""
        if self._feed is None:
            return
        seq, output, source = self._feed()
        if seq == self._seen:
            return
        self._seen = seq
        self.show_frames(output, source)

    def show_frames(self, output: np.ndarray | None, source: np.ndarray | None) -> None:
        """Show these frames (RGB uint8 HxWx3, not written to afterwards) at the next paint."""
        frames: list[np.ndarray | None] = []
        images: list[QImage | None] = []
        for frame in (output, source):
            if frame is None:
                frames.append(None)
                images.append(None)
            else:
                kept, image = qimage_view(frame)
                frames.append(kept)
                images.append(image)
        self._frames = (frames[0], frames[1])  # the memory the images read
        self._images = (images[0], images[1])
        self.update()

    def set_placeholder(self, text: str) -> None:
        """The text shown while there is no frame."""
        self._placeholder = text
        self.update()

    @property
    def frames_painted(self) -> int:
        return self._painted

    @property
    def has_frame(self) -> bool:
        return self._images[0] is not None

    # ------------------------------------------------------------------------------ view

    @property
    def mode(self) -> str:
        return self._mode

    def set_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"mode must be one of {', '.join(VIEW_MODES)}, got {mode!r}")
        self._mode = mode
        self.setCursor(Qt.CursorShape.SplitHCursor if mode == "split" else
                       Qt.CursorShape.ArrowCursor)
        self.update()

    @property
    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        self._split = min(0.95, max(0.05, float(fraction)))
        self.update()

    # ---------------------------------------------------------------------------- paint

    def _target(self, image: QImage) -> QRectF:
        """The largest rectangle of the image's aspect centred in the widget."""
        w, h = self.width(), self.height()
        scale = min(w / image.width(), h / image.height())
        tw, th = image.width() * scale, image.height() * scale
        return QRectF((w - tw) / 2, (h - th) / 2, tw, th)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), _BACKGROUND)
        output, source = self._images
        main = source if self._mode == "input" and source is not None else output
        if main is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = self._target(main)
        if self._mode == "split" and source is not None and source.size() == main.size():
            cut = self._split * main.width()
            left = QRectF(0, 0, cut, main.height())
            right = QRectF(cut, 0, main.width() - cut, main.height())
            sx = target.width() / main.width()
            painter.drawImage(QRectF(target.x(), target.y(), cut * sx, target.height()),
                              source, left)
            painter.drawImage(QRectF(target.x() + cut * sx, target.y(),
                                     target.width() - cut * sx, target.height()), output, right)
            x = target.x() + cut * sx
            painter.setPen(QPen(QColor(255, 255, 255, 220), 2))
            painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
            self._label(painter, QPointF(target.x() + 8, target.y() + 8), "before")
            self._label(painter, QPointF(target.right() - 8, target.y() + 8), "after",
                        right_aligned=True)
        else:
            painter.drawImage(target, main)
        painter.end()
        self._painted += 1

    def _label(self, painter: QPainter, at: QPointF, text: str,
               right_aligned: bool = False) -> None:
        font = QFont(self.font())
        font.setBold(True)
        painter.setFont(font)
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 4
        x = at.x() - w if right_aligned else at.x()
        box = QRectF(x, at.y(), w, h)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    # ---------------------------------------------------------------------------- mouse

    def _split_at(self, event: QMouseEvent) -> None:
        output = self._images[0]
        if self._mode != "split" or output is None:
            return
        target = self._target(output)
        if target.width() <= 0:
            return
        self.set_split((event.position().x() - target.x()) / target.width())
        self.split_moved.emit(self._split)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._split_at(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._split_at(event)
