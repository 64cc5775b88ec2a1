"""``Harmonizer``: the object the camera and the evaluation use to run PHNet on frames.

It owns what the network should not: colour order and dtype, the working resolution, the
temporal PN state of a video, the backend, and the return to full resolution. The network runs
on an area-downscaled copy (long side ``resolution``, aspect kept, multiples of 8); local affine
colour models fitted between that copy and the network's output are applied to the full-size
composite (fast guided upsampling), so the person's detail is the camera's, and the result is
blended with the full-size mask, so background pixels come back bit-exact.

Given the camera frame the person was cut from (``captured``), a model trained for it
(``PHNetConfig.light_prior``) first has the person moved from the room's light to the scene's
(``phnet.light``, smoothed over the video by a ``LightTracker``), and the network refines that;
the colour models are fitted from the composite itself, so the move reaches full resolution
with them.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from .bundled import models_dir as bundled_models_dir
from .config import PHNetConfig
from .frames import check_captured, check_frame
from .guided_upsample import FrameColourModel, fit_affine_array
from .latest_worker import LatestWorker
from .light import LightConfig, LightTracker, apply_change, estimate_change, light_change
from .network_rate import NetworkRate
from .runners import (
    Device,
    OrtRunner,
    TorchRunner,
    cuda_device_count,
    require_torch,
    resolve_device,
    torch_installed,
)

if TYPE_CHECKING:
    from torch import Tensor

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")

DEFAULT_MOMENTUM = 0.2
"""EMA weight of the current frame's background PN statistics in a video (~5-frame time constant)."""

DEFAULT_FG_MOMENTUM = 1.0
"""EMA weight of the current frame's foreground PN statistics: 1 tracks the person frame by frame,
so the normalisation cancels exposure jitter instead of letting it through (see ``phnet.pn``)."""


def default_model(device: Device | str = "cpu", backend: str = "onnxruntime",
                  models_dir: Path | None = None) -> Path:
    """The best bundled model this device runs in real time, in the form ``backend`` runs:
    ``paper`` on a GPU, else ``lite``; the streaming ONNX graph (``.onnx``) for ONNX Runtime,
    the checkpoint (``.safetensors``) for PyTorch. ``models_dir``: default, the installed
    bundle (``phnet.bundled``)."""
    suffix = ".safetensors" if backend == "torch" else ".onnx"
    names = [f"phnet-paper{suffix}", f"phnet-lite{suffix}"]
    if str(device).split(":")[0] != "cuda":
        names = names[1:]
    folder = models_dir if models_dir is not None else bundled_models_dir()
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no bundled PHNet model: looked for {', '.join(names)} in {folder}. "
        "Train one with phnet-train (and phnet-export), or pass path= a .safetensors or .onnx file"
    )


def choose_backend(backend: str = "auto", device: str = "auto") -> tuple[str, Device]:
    """The backend and device ``Harmonizer.load`` uses for the bundled model.

    ``auto``: PyTorch where it is the better choice, a CUDA GPU that an installed PyTorch can use
    (float16, CUDA graphs); everywhere else ONNX Runtime, on its CUDA execution provider where
    there is a GPU, on the CPU otherwise. PyTorch is imported only to ask it about a GPU the
    driver has already reported.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'auto', 'torch' or 'onnxruntime', got {backend!r}")
    if backend == "torch":
        require_torch("backend='torch'")
        return "torch", resolve_device(device, "torch")
    if backend == "auto" and device != "cpu" and cuda_device_count() and torch_installed():
        import torch

        if torch.cuda.is_available():
            return "torch", resolve_device(device, "torch")
    return "onnxruntime", resolve_device(device, "onnxruntime")


def work_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """Network input size for a frame: long side at most ``resolution``, multiples of 8."""
    scale = min(1.0, resolution / max(height, width))
    h, w = max(8, round(height * scale / 8) * 8), max(8, round(width * scale / 8) * 8)
    return (h, 16) if h == w == 8 else (h, w)


def _downscale_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    low = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    out = np.ascontiguousarray(low.transpose(2, 0, 1), dtype=np.float32)[None]
    out /= np.float32(255.0)
    return out


def downscale_for_network(
    composite: np.ndarray, mask: np.ndarray, size: tuple[int, int],
    captured: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """RGB uint8 HxWx3 and float32 HxW -> the network's ``(1, 3, h, w)`` and ``(1, 1, h, w)``
    float32 arrays in [0, 1] at ``size = (h, w)`` (OpenCV area averaging), and the captured
    frame's ``(1, 3, h, w)`` copy (None without one)."""
    h, w = size
    low_mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
    low_cap = None if captured is None else _downscale_image(captured, size)
    return _downscale_image(composite, size), np.clip(low_mask, 0.0, 1.0)[None, None], low_cap


def _to_device(image: np.ndarray, device: Any) -> Tensor:
    """RGB uint8 HxWx3 -> ``(1, 3, H, W)`` float32 in [0, 1] on ``device`` (PyTorch)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def _hwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[0].transpose(1, 2, 0))


class ColourModels:
    """The latest colour model of the video being harmonised; read and replaced atomically.

    A frame reads ``(generation, model)`` in one step and applies that model whatever happens
    meanwhile. ``generation`` counts videos: ``reset()`` starts a new one and drops the model;
    a model fitted for an older generation (a network run under way during the reset) is
    refused by ``put()``, so it never reaches the new video. An error of the network thread is
    kept for the next frame to raise. Every method is thread-safe and none blocks for long:
    ``wait()`` ends when its generation ends, on an error, or when ``give_up()`` says so.
    """

    _ANY = object()

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._generation = 0
        self._model: Any = None
        self._error: BaseException | None = None

    @property
    def generation(self) -> int:
        return self._generation

    def read(self) -> tuple[int, Any]:
        """(generation, model); the model is ``None`` until the video has one."""
        with self._cond:
            return self._generation, self._model

    def reset(self) -> None:
        """A new video: no model, and models of the old one are refused from now on."""
        with self._cond:
            self._generation += 1
            self._model = None
            self._cond.notify_all()

    def put(self, generation: int, model: Any, replacing: Any = _ANY) -> bool:
        """Make ``model`` the latest if ``generation`` is still the current video (and, with
        ``replacing``, if that is still the latest model); returns whether it was taken."""
        with self._cond:
            if generation != self._generation:
                return False
            if replacing is not ColourModels._ANY and self._model is not replacing:
                return False
            self._model = model
            self._cond.notify_all()
            return True

    def fail(self, error: BaseException) -> None:
        """The network thread failed: the next frame raises ``error``."""
        with self._cond:
            self._error = error
            self._cond.notify_all()

    def take_error(self) -> BaseException | None:
        with self._cond:
            error, self._error = self._error, None
            return error

    def wake(self) -> None:
        """Wake waiting frames so that they look at ``give_up()`` again (the thread closed)."""
        with self._cond:
            self._cond.notify_all()

    def wait(self, generation: int, give_up: Callable[[], bool]) -> Any:
        """The model of ``generation`` once there is one; ``None`` as soon as that video ends,
        an error is pending, or ``give_up()`` is true (checked on every wake and ten times a
        second)."""
        with self._cond:
            while True:
                if self._generation != generation or self._error is not None or give_up():
                    return None
                if self._model is not None:
                    return self._model
                self._cond.wait(0.1)


class NetworkSchedule:
    """When the network runs in the frame's path: for the first frame of a video, then on every
    ``every``-th frame (the frames between reuse the last colour model). Thread-safe.

    With the network thread, the thread takes the newest frame whenever it is free instead, and
    this schedule only serves once the thread is closed.
    """

    def __init__(self, every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"network_every must be >= 1, got {every}")
        self.every = every
        self._lock = threading.Lock()
        self._since = 0

    def due(self, have_model: bool) -> bool:
        """Called once per frame: True when this frame runs the network."""
        with self._lock:
            self._since += 1
            if have_model and self._since < self.every:
                return False
            self._since = 0
            return True


class Harmonizer:
    """Harmonises composites with PHNet; successive calls without ``reset()`` are one video.

    ``h(composite, mask)``: ``composite`` RGB uint8 HxWx3 of any size, ``mask`` float32 HxW in
    [0, 1] (1 = person). Returns RGB uint8 HxWx3 of the same size.

    Thread safety: frame calls, ``reset()`` and ``close()`` may come from different threads at
    any time. None blocks for longer than about one network run, and a frame in flight during a
    ``reset()`` or ``close()`` gets a picture (made with the old video's colour model or a new
    one), never an exception. Two small pieces keep this simple: a ``NetworkSchedule`` says when
    the network runs in the frame's path, and ``ColourModels`` holds the latest colour model,
    which a frame reads in one step. The network and its temporal state are used under a lock.
    """

    def __init__(
        self,
        runner: TorchRunner | OrtRunner,
        config: PHNetConfig | None,
        resolution: int,
        momentum: float = DEFAULT_MOMENTUM,
        source: str = "",
        radius: int = 2,
        eps: float = 1e-3,
        fg_momentum: float = DEFAULT_FG_MOMENTUM,
        network_every: int = 1,
        network_thread: bool = False,
        network_rate: float | None = None,
        light: LightConfig | None = None,
    ):
        self._schedule = NetworkSchedule(network_every)
        self._rate = NetworkRate(network_rate)
        self.network_every = network_every
        if resolution < 8 or resolution % 8:
            raise ValueError(f"resolution must be a positive multiple of 8, got {resolution}")
        for name, value in (("momentum", momentum), ("fg_momentum", fg_momentum)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {value}")
        self.fg_momentum = fg_momentum
        self.light = light
        """How the person is moved to the scene's light before the network when a frame comes
        with ``captured`` (None: never; ``load`` sets it for models trained with it)."""
        self._light = LightTracker(momentum)
        """The light change of the video, smoothed with the background statistics' momentum."""
        self.runner = runner
        self.config = config
        self.resolution = resolution
        self.momentum = momentum
        self.source = source
        self.radius = radius
        self.eps = eps
        self.models = ColourModels()
        """The latest colour model: low-resolution coefficients, or (CPU) upsampled to the frame."""
        self._network_lock = threading.Lock()  # the runner and the temporal state below
        self._state = None
        self._state_generation = 0
        self.network_runs = 0
        """How many times the network has run (with the network thread: how often it keeps up)."""
        self._worker: LatestWorker | None = None
        if network_thread:
            self._worker = LatestWorker(self._network_job, name="phnet-network")

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None = None,
        device: str = "auto",
        backend: str = "auto",
        resolution: int | None = None,
        momentum: float = DEFAULT_MOMENTUM,
        threads: int | None = None,
        fg_momentum: float = DEFAULT_FG_MOMENTUM,
        network_every: int = 1,
        network_thread: bool = False,
        network_rate: float | None = None,
        compile: bool = False,
    ) -> "Harmonizer":
        """Loads a streaming graph (``.onnx``, ONNX Runtime) or a checkpoint (``.safetensors``,
        PyTorch).

        ``path=None``: the bundled model, in the form ``choose_backend`` picks: the ONNX graph
        on ONNX Runtime (no PyTorch needed), or the checkpoint on PyTorch where a CUDA GPU and
        PyTorch are there or ``backend='torch'`` asks for it. A ``.safetensors`` file needs
        PyTorch (``backend='onnxruntime'`` exports it first). ``device``: ``auto``, ``cpu`` or
        ``cuda[:N]``. ``backend``: ``auto``, ``torch`` or ``onnxruntime``.
        ``resolution``: long side of the network input (default: the config's). ``momentum`` and
        ``fg_momentum``: EMA weights of this frame's background and foreground PN statistics.
        ``network_every``: run the network on every k-th frame only and apply the last fitted
        colour model to the frames between (the full-resolution cost is then a few
        multiply-adds per pixel on k - 1 of k frames). ``network_thread``: run the network on
        its own thread on the newest frame whenever it is free, and apply the latest colour
        model to every frame without waiting (``network_every`` is then unused; the first frame
        of a video waits for its model); call ``close()`` when done (frames after it run the
        network in their own path). ``network_rate``: with the network thread, hand it a frame
        at most this many times a second, sooner when the scene changes (``NetworkRate``; None
        or 0: every frame it can take). ``compile``: PyTorch backend only, ``torch.compile`` the network
        (CUDA graphs on a GPU; see ``TorchRunner``).

        Raises:
            FileNotFoundError: no such file (or no bundled model).
            ModuleNotFoundError: PyTorch is needed (a ``.safetensors`` file, ``backend='torch'``)
                and not installed; the message says so in one line.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnxruntime', got {backend!r}")
        if path is None:  # compile=True is PyTorch's: the checkpoint, then
            backend, dev = choose_backend("torch" if compile and backend == "auto" else backend,
                                          device)
            path = default_model(dev, backend)
        path = Path(path)
        if compile and (path.suffix == ".onnx" or backend == "onnxruntime"):
            raise ValueError("compile=True needs the PyTorch backend (torch.compile), not ONNX Runtime")
        if path.suffix == ".onnx":
            if backend == "torch":
                raise ValueError(f"{path} is an ONNX graph: it runs with backend='onnxruntime'")
            if not path.is_file():
                raise FileNotFoundError(f"ONNX model {path} does not exist")
            runner: TorchRunner | OrtRunner = OrtRunner(str(path), resolve_device(device), threads)
            config = _onnx_config(runner)
        else:
            if not path.is_file():
                raise FileNotFoundError(f"checkpoint {path} does not exist")
            onnx = path.with_suffix(".onnx")
            require_torch(f"the PyTorch checkpoint {path}"
                          + (f" (its ONNX graph {onnx} runs without it)" if onnx.is_file() else ""))
            from .checkpoint import load as load_checkpoint

            model = load_checkpoint(path)
            config = model.config
            if backend == "onnxruntime":
                from .export import export_onnx

                runner = OrtRunner(export_onnx(model), resolve_device(device), threads)
            else:
                runner = TorchRunner(model, resolve_device(device, "torch"), compile=compile)
        res = resolution or (config.work_resolution if config else 256)
        light = LightConfig() if config is not None and config.light_prior else None
        return cls(runner, config, res, momentum, source=str(path), fg_momentum=fg_momentum,
                   network_every=network_every, network_thread=network_thread,
                   network_rate=network_rate, light=light)

    def reset(self) -> None:
        """Forgets the temporal state: the next call starts a new video (new background, cut)."""
        self.models.reset()  # the state follows: the next network run sees the new generation
        self._rate.reset()
        if self._worker is not None:
            self._worker.clear()  # an offer of the old video need not run

    def close(self) -> None:
        """Stops the network thread, if any (idempotent). Later frames run the network in their
        own path, as without the thread."""
        if self._worker is not None:
            self._worker.close()
            self.models.wake()

    def info(self) -> dict:
        """What actually runs: method, config, backend, device, dtype, resolution, momentum."""
        d = {
            "method": "phnet",
            "config": self.config.name if self.config else "unknown",
            "checkpoint": self.source,
            "resolution": self.resolution,
            "momentum": self.momentum,
            "fg_momentum": self.fg_momentum,
            "network_every": self.network_every,
            "network_thread": self._worker is not None,
            "network_rate": self._rate.rate if self._worker is not None else None,
            "network_runs": self.network_runs,
            "light_prior": self.light is not None,
        }
        d.update(self.runner.info())
        return d

    def __call__(self, composite: np.ndarray, mask: np.ndarray,
                 captured: np.ndarray | None = None) -> np.ndarray:
        """One frame: ``composite`` RGB uint8 HxWx3, ``mask`` float32 HxW in [0, 1], and
        optionally ``captured``, the camera frame before compositing (RGB uint8, the same size,
        the same person under ``mask``): the light reference of a model with ``light_prior``.
        Returns RGB uint8 HxWx3."""
        _, hi = check_frame(composite, mask)
        if captured is not None:
            check_captured(captured, composite)
            if self.light is None:
                captured = None  # this model does not use it
        if hi <= 0.0:
            return composite.copy()
        height, width = composite.shape[:2]
        if self.runner.device.type == "cpu":
            # NumPy/OpenCV (ONNX Runtime on any provider, PyTorch on the CPU): downscaled with
            # OpenCV, a colour model fitted and upsampled once per network run (on the network
            # thread when there is one), applied inside the mask's box.
            size = work_size(height, width, self.resolution)
            offer = self._worker is None or self._rate.due(composite, mask)
            model = self._colour_model(
                lambda: downscale_for_network(composite, mask, size, captured), (height, width), offer)
            return model.apply(composite, mask)
        import torch

        dev = self.runner.device
        comp = _to_device(composite, dev)
        m = torch.from_numpy(np.ascontiguousarray(mask)).to(dev)[None, None]
        # The captured frame is uploaded only for a frame whose network runs.
        cap = None if captured is None else (lambda: _to_device(captured, dev))
        out = self._harmonise_full(comp, m, cap)
        return out[0].permute(1, 2, 0).mul(255.0).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()

    def _harmonise_full(self, comp: Tensor, mask: Tensor,
                        captured: Tensor | Callable[[], Tensor] | None = None) -> Tensor:
        """The tensor path (PyTorch on a GPU): (1, 3, H, W), (1, 1, H, W) float32 in [0, 1]
        (and the captured frame's (1, 3, H, W), a function giving it, called only when the
        network runs, or None) -> (1, 3, H, W) float32 in [0, 1]."""
        import torch.nn.functional as F

        from .guided_upsample import apply_affine

        h, w = work_size(comp.shape[2], comp.shape[3], self.resolution)

        def low(x: Tensor | None) -> Tensor | None:
            return None if x is None else F.interpolate(x, size=(h, w), mode="area")

        coeffs = self._colour_model(lambda: (
            low(comp), low(mask), low(captured() if callable(captured) else captured)))
        up = apply_affine(coeffs, comp).clamp_(0.0, 1.0)
        return comp + mask * (up - comp)

    def _colour_model(
        self, downscaled: Callable[[], tuple[Any, Any]],
        frame_size: tuple[int, int] | None = None, offer: bool = True,
    ) -> Tensor | FrameColourModel:
        """The colour model for this frame: the latest one, or a fresh network run when the
        video has none yet or the schedule says so. ``downscaled()`` makes the network's input
        (only when it is needed); ``frame_size``: upsample the model to it (the CPU path);
        ``offer``: with the network thread, whether this frame goes to it (``NetworkRate``)."""
        error = self.models.take_error()
        if error is not None:
            raise error
        generation, model = self.models.read()
        worker = self._worker
        if worker is not None and not worker.closed:
            if model is not None and not offer:
                return self._sized(generation, model, frame_size)
            low_in, low_mask, low_cap = downscaled()
            worker.offer(generation, low_in, low_mask, low_cap, frame_size)
            if model is None:  # the first frame of a video waits for its colour model
                model = self.models.wait(generation, give_up=lambda: worker.closed)
                if model is None:
                    error = self.models.take_error()
                    if error is not None:
                        raise error
                    # Reset or closed while waiting: this frame fits its own model.
                    model = self._fit(generation, low_in, low_mask, low_cap, frame_size)
        elif self._schedule.due(model is not None):
            model = self._fit(generation, *downscaled(), frame_size)
        return self._sized(generation, model, frame_size)

    def _sized(self, generation: int, model, frame_size: tuple[int, int] | None):
        """``model`` upsampled to ``frame_size`` if the camera changed size (CPU path)."""
        if frame_size is not None and model.size != frame_size:
            resized = FrameColourModel(model.coeffs, *frame_size)
            self.models.put(generation, resized, replacing=model)
            model = resized
        return model

    def _network_job(self, _offer: int, generation: int, low_in: Any, low_mask: Any,
                     low_cap: Any, frame_size: tuple[int, int] | None) -> None:
        """The network thread's work on the newest offer (skipped when its video has ended);
        an error is kept for the next frame to raise."""
        if generation != self.models.generation:
            return
        try:
            self._fit(generation, low_in, low_mask, low_cap, frame_size)
        except Exception as exc:  # noqa: BLE001 - raised by the next frame call
            self.models.fail(exc)

    def _fit(
        self, generation: int, low_in: Any, low_mask: Any, low_cap: Any = None,
        frame_size: tuple[int, int] | None = None,
    ) -> Tensor | FrameColourModel:
        """Runs the network for video ``generation`` (carrying its temporal state), fits the local
        colour models, upsampled to ``frame_size`` when given, and offers them to ``models``.
        ``low_in``, ``low_mask``, ``low_cap`` (the captured frame, or None): NumPy arrays (fitted
        in NumPy) or tensors (fitted in PyTorch)."""
        with self._network_lock:
            if generation > self._state_generation:  # a reset since the last run
                self._state, self._state_generation = None, generation
                self._light.reset()
            current = generation == self._state_generation
            # A run for a video that has ended (a frame in flight during a reset) is stateless
            # and leaves the new video's state alone.
            state = self._state if current else None
            momenta = (self.fg_momentum, self.momentum)
            net_in = low_in
            if low_cap is not None and self.light is not None:
                net_in = self._light_input(low_in, low_mask, low_cap, current)
            low_out, state = self.runner(net_in, low_mask, state, momenta)
            if current:
                self._state = state
            self.network_runs += 1
        if isinstance(low_in, np.ndarray):
            coeffs = fit_affine_array(low_in, low_out, self.radius, self.eps)
        else:
            from .guided_upsample import fit_affine

            coeffs = fit_affine(low_in, low_out.to(low_in.device), self.radius, self.eps)
        model = coeffs if frame_size is None else FrameColourModel(coeffs, *frame_size)
        self.models.put(generation, model)
        return model

    def _light_input(self, low_in: Any, low_mask: Any, low_cap: Any, current: bool) -> Any:
        """The network's input with the person moved to the scene's light: the change from the
        captured room's light, smoothed over the video (a stateless estimate for a video that
        has ended). NumPy in, NumPy out; tensors go through NumPy (they are small)."""
        as_tensor = not isinstance(low_in, np.ndarray)
        arrays = [x.detach().float().cpu().numpy() if as_tensor else x
                  for x in (low_in, low_mask, low_cap)]
        comp, cap, m = _hwc(arrays[0]), _hwc(arrays[2]), arrays[1][0, 0]
        if current:
            self._light.momentum = self.momentum
            change = self._light.update(estimate_change(comp, m, cap, self.light))
        else:
            change = light_change(comp, m, cap, self.light)
        moved = apply_change(comp, m, change, self.light).transpose(2, 0, 1)[None]
        moved = np.ascontiguousarray(moved, dtype=np.float32)
        if as_tensor:
            import torch

            return torch.from_numpy(moved).to(low_in.device, low_in.dtype)
        return moved

    def harmonize_batch(self, images: Tensor, masks: Tensor) -> Tensor:
        """Tensor path for evaluation: stateless, at the given size, no up/down-sampling.

        ``images`` (N, 3, H, W) float in [0, 1], ``masks`` (N, 1, H, W) in [0, 1], H and W
        multiples of 8. Returns (N, 3, H, W) float32 with the input's background. Needs PyTorch.
        """
        import torch

        from .network import check_size

        check_size(images.shape[2], images.shape[3])
        outs = [
            self.runner(images[i : i + 1], masks[i : i + 1], None, (1.0, 1.0))[0].to(images.device)
            for i in range(images.shape[0])
        ]
        return torch.cat(outs).float()


def _onnx_config(runner: OrtRunner) -> PHNetConfig | None:
    """The network's config from the graph's metadata (written by ``phnet.export``)."""
    text = runner.metadata.get("phnet.config")
    return PHNetConfig.from_json(text) if text else None
