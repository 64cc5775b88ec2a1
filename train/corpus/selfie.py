"""Person masks of still photos with the camera's MediaPipe selfie segmenter.

The corpus's fallback person matte when RVM (:mod:`train.corpus.matting`) is unavailable, and
the masks of ``DataConfig(masks="mediapipe")`` photo folders (:mod:`train.data.photos`).
"""
from __future__ import annotations

import importlib.util
import os

import cv2
import numpy as np

__all__ = ["PersonMasker"]


class PersonMasker:
    """Person masks of still photos with the project's MediaPipe segmenter.

    ``vcam.segmenter.Segmenter`` runs MediaPipe in video mode; for unrelated stills this wrapper
    gives every photo a timestamp one minute after the previous one, so nothing is carried from
    photo to photo. The segmenter is created lazily and again in every process (a MediaPipe
    graph cannot cross ``fork`` into DataLoader workers).

    Raises:
        ImportError: on construction, when ``vcam.segmenter`` or MediaPipe cannot be imported;
            the message says what is missing.
    """

    _STEP_MS = 60_000

    def __init__(self, model_path: str | None = None) -> None:
        hint = ("Install the project with its dependencies, or use masks='synth' or "
                "masks='folder:<path>'.")
        try:
            segmenter = importlib.import_module("vcam.segmenter")
        except ImportError as exc:
            raise ImportError(
                "masks='mediapipe' needs the PHNet Camera segmenter (vcam.segmenter.Segmenter), "
                f"which could not be imported: {exc}. {hint}"
            ) from exc
        # MediaPipe itself is imported by the Segmenter when it starts: check for it now, so a
        # missing package fails here and not inside a DataLoader worker.
        if importlib.util.find_spec("mediapipe") is None:
            raise ImportError(f"masks='mediapipe' needs the mediapipe package. {hint}")
        default = getattr(segmenter, "DEFAULT_MODEL_PATH", None)
        if model_path is None and default is not None and not os.path.isfile(default):
            raise FileNotFoundError(f"masks='mediapipe': segmentation model not found: {default}")
        self._model_path = model_path
        self._segmenter = None
        self._pid = None
        self._ts = 0

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray:
        """Soft person mask, float32 HxW in [0, 1], of an RGB uint8 HxWx3 photo."""
        if self._segmenter is None or self._pid != os.getpid():
            from vcam.segmenter import Segmenter

            self._segmenter = Segmenter(self._model_path)
            self._pid = os.getpid()
            self._ts = 0
        self._ts += self._STEP_MS
        mask = self._segmenter(np.ascontiguousarray(image_rgb), self._ts)
        height, width = image_rgb.shape[:2]
        if mask.shape != (height, width):  # the segmenter answers at its own input size
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
            np.clip(mask, 0.0, 1.0, out=mask)
        return mask

    def close(self) -> None:
        """Release the segmenter (of this process). Safe to call more than once."""
        seg, self._segmenter = self._segmenter, None
        if seg is not None and self._pid == os.getpid():
            seg.close()

    def __getstate__(self) -> dict:
        # Workers rebuild their own segmenter; the live graph is not picklable.
        state = self.__dict__.copy()
        state["_segmenter"] = None
        state["_pid"] = None
        return state
