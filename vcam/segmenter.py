"""Person segmentation with MediaPipe's selfie model (Tasks ``ImageSegmenter``, video mode)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from phnet.bundled import model_path
from vcam.closing import Closing
from vcam.native_logs import captured_stderr

logger = logging.getLogger(__name__)

try:
    #: The bundled model: package data of ``phnet_camera_models`` (the repository's ``models/``).
    DEFAULT_MODEL_PATH: Path | None = model_path("selfie_segmentation.tflite")
    _NOT_BUNDLED = ""
except FileNotFoundError as _exc:  # an install without its package data: said when it is used
    DEFAULT_MODEL_PATH, _NOT_BUNDLED = None, str(_exc)


class Segmenter(Closing):
    """Soft person mask for each video frame.

    Wraps a MediaPipe Tasks ``ImageSegmenter`` in VIDEO running mode that outputs only the
    confidence mask (asking for the category mask as well doubles the cost). The selfie model
    has one label, ``selfie``, so its only confidence mask is the person's.

    Close it explicitly (or use ``with``): MediaPipe's own ``__del__`` cannot release the
    graph once the interpreter is shutting down, and prints a traceback instead.

    Usage::

        with Segmenter() as seg:
            mask = seg(frame_rgb, timestamp_ms)   # float32 HxW in [0, 1]

    Args:
        model_path: the ``.tflite`` file; defaults to the bundled ``selfie_segmentation.tflite``.

    Raises:
        FileNotFoundError: the model file does not exist.
        ValueError: the file is not a model MediaPipe can load (the message names the file).
    """

    def __init__(self, model_path: str | Path | None = None) -> None:
        # Set before anything can raise, so close() always works.
        self._segmenter = None
        self._last_ts_ms: int | None = None

        if model_path is None and DEFAULT_MODEL_PATH is None:
            raise FileNotFoundError(f"segmentation model not found: {_NOT_BUNDLED}")
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
        if not path.is_file():
            raise FileNotFoundError(f"segmentation model not found: {path}")
        self._model_path = path

        # Imported here so that importing vcam stays cheap when segmentation is not used.
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            # MediaPipe and TensorFlow Lite print their start-up lines here, straight to fd 2;
            # they reach the user with -v only (see vcam.native_logs).
            with captured_stderr(logger):
                self._segmenter = vision.ImageSegmenter.create_from_options(options)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(
                f"cannot load segmentation model {path}: {exc} "
                "(expected MediaPipe's selfie_segmentation.tflite)"
            ) from exc

        labels = list(self._segmenter.labels)
        if len(labels) != 1:
            # The code below takes the first confidence mask as the person's; a multi-class
            # model would need the person's index chosen by label.
            self.close()
            raise ValueError(
                f"segmentation model {path} has labels {labels}, expected one (['selfie'])"
            )
        self._labels = labels
        logger.info("segmentation model %s loaded, labels %s", path.name, labels)

    @property
    def model_path(self) -> Path:
        """The model file in use."""
        return self._model_path

    @property
    def labels(self) -> list[str]:
        """The model's labels, from its metadata (``['selfie']`` for the bundled model)."""
        return list(self._labels)

    def __call__(self, frame_rgb: np.ndarray, timestamp_ms: int | float) -> np.ndarray:
        """Segment one frame.

        Args:
            frame_rgb: RGB uint8 HxWx3.
            timestamp_ms: the frame's time in milliseconds. MediaPipe's video mode needs strictly
                increasing timestamps; a repeated or earlier one is moved to just after the last.

        Returns:
            The person's confidence, float32 HxW in [0, 1], C-contiguous, owned by the caller.
        """
        if self._segmenter is None:
            raise RuntimeError("Segmenter is closed")
        if not isinstance(frame_rgb, np.ndarray):
            raise TypeError(f"frame must be a numpy array, got {type(frame_rgb).__name__}")
        if frame_rgb.dtype != np.uint8:
            raise TypeError(f"frame dtype must be uint8, got {frame_rgb.dtype}")
        if frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or 0 in frame_rgb.shape:
            # MediaPipe fails on an empty image with an unrelated TypeError: say it here.
            raise ValueError(f"frame shape must be (H, W, 3) with H, W > 0, got {frame_rgb.shape}")

        ts = int(round(timestamp_ms))
        if self._last_ts_ms is not None and ts <= self._last_ts_ms:
            logger.debug(
                "timestamp %d ms not after %d ms; using %d",
                ts,
                self._last_ts_ms,
                self._last_ts_ms + 1,
            )
            ts = self._last_ts_ms + 1
        self._last_ts_ms = ts

        image = self._mp.Image(
            image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame_rgb)
        )
        result = self._segmenter.segment_for_video(image, ts)
        # The view belongs to MediaPipe's image; copy it out, dropping the trailing channel axis
        # (this MediaPipe version returns HxWx1).
        view = result.confidence_masks[0].numpy_view()
        mask = np.array(view, dtype=np.float32, copy=True).reshape(view.shape[0], view.shape[1])
        np.clip(mask, 0.0, 1.0, out=mask)
        return mask

    def close(self) -> None:
        """Release the MediaPipe graph. Safe to call more than once."""
        segmenter, self._segmenter = self._segmenter, None
        if segmenter is not None:
            segmenter.close()

