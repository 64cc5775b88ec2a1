"""Backends that run the network at working resolution: PyTorch and ONNX Runtime.

A runner takes ``image`` (1, 3, h, w) and ``mask`` (1, 1, h, w) float32 in [0, 1], an opaque
temporal state (None for the first frame) and the (foreground, background) momenta, and returns
the blended output (1, 3, h, w) float32 and the next state. Inputs are NumPy arrays (the
camera's path; the output is then a NumPy array too) or, for ``TorchRunner`` and the
evaluation's tensor path, torch tensors (the output is then a tensor on the runner's device).
``info()`` says what actually runs.

This module imports no PyTorch: ``OrtRunner`` and the device choice run without it, and
``TorchRunner`` imports it when one is made.
"""
from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from dataclasses import dataclass
from importlib import metadata

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Device:
    """Where the network runs: ``type`` ``cpu`` or ``cuda``, and the GPU's ``index``."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


@functools.cache
def cuda_device_count() -> int:
    """How many CUDA GPUs the NVIDIA driver offers this process (``CUDA_VISIBLE_DEVICES`` is
    honoured), asked of the driver library itself so that no PyTorch is needed; 0 without a
    driver or a GPU."""
    names = {"win32": ["nvcuda.dll"], "linux": ["libcuda.so.1", "libcuda.so"]}.get(sys.platform, [])
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def torch_installed() -> bool:
    """Whether PyTorch can be imported (without importing it)."""
    import importlib.util

    if "torch" in sys.modules:  # imported, or None: an import that is known to fail
        return sys.modules["torch"] is not None
    return importlib.util.find_spec("torch") is not None


def require_torch(what: str) -> None:
    """Raises a one-line ``ModuleNotFoundError`` naming ``what`` needs PyTorch, if it is missing."""
    if not torch_installed():
        raise ModuleNotFoundError(
            f"{what} needs PyTorch, which is not installed: run the bundled ONNX graph "
            "(backend='onnxruntime', a .onnx file) or install PyTorch (README, 'Install')",
            name="torch",
        )


def resolve_device(device: str, backend: str = "onnxruntime") -> Device:
    """``auto`` -> CUDA when there is a CUDA GPU, else CPU; an explicit CUDA request must find one.

    ``backend="torch"`` asks PyTorch (its CUDA build must see the GPU); any other asks the
    NVIDIA driver, so that the ONNX Runtime path needs no PyTorch.
    """
    if not isinstance(device, str):
        device = str(device)  # a torch.device
    kind, _, index = device.partition(":")
    if device != "auto" and (kind not in ("cpu", "cuda") or (index and not index.isdigit())
                             or (kind == "cpu" and index)):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if kind == "cpu":
        return Device("cpu")
    if backend == "torch":
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        where = f"PyTorch sees no CUDA GPU (torch {torch.__version__}, built for CUDA {torch.version.cuda})"
    else:
        count = cuda_device_count()
        where = "the NVIDIA driver reports no CUDA GPU"
    if device == "auto":
        return Device("cuda", 0) if count else Device("cpu")
    if not count:
        raise RuntimeError(f"device {device!r} was requested but {where}")
    return Device("cuda", int(index) if index else None)


class TorchRunner:
    """PyTorch; on CUDA in float16 and channels-last (statistics stay float32 inside PN).

    ``compile``: wrap the network in ``torch.compile`` (on CUDA with ``mode="reduce-overhead"``,
    which replays CUDA graphs). A replay overwrites the previous replay's outputs, and the PN
    state is an output fed back in as the next frame's input, so on CUDA every call marks a new
    graph step and the state leaves as a copy (measured on an H200 before this: the second
    frame raised "accessing tensor output of CUDAGraphs that has been overwritten"). Off by
    default: on this project's 2-core CPU it saved 4 % of the
    lite network's time (42.7 -> 40.8 ms at 256x192) for 40 s of compiling at start; each new
    frame size compiles again.
    """

    backend = "torch"

    def __init__(self, model, device, half: bool | None = None, compile: bool = False):
        import torch

        device = torch.device(str(device))
        self.device = device
        self.half = (device.type == "cuda") if half is None else half
        self.dtype = torch.float16 if self.half else torch.float32
        model = model.to(device).eval()
        if self.half:
            model = model.half()
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        self.compiled = compile
        self._graphs = compile and device.type == "cuda"
        if compile:
            mode = "reduce-overhead" if device.type == "cuda" else "default"
            model = torch.compile(model, mode=mode, dynamic=False)
        self.model = model

    def __call__(self, image, mask, state, momentum: tuple[float, float]):
        import torch

        arrays = isinstance(image, np.ndarray)
        if arrays:
            image, mask = torch.from_numpy(image), torch.from_numpy(mask)
        with torch.inference_mode():
            x = image.to(self.device, self.dtype)
            m = mask.to(self.device, self.dtype)
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            if self._graphs:
                torch.compiler.cudagraph_mark_step_begin()
            out = self.model(x, m, state, torch.tensor(momentum, device=self.device))
            image, new_state = out.image.float(), out.state
            if self._graphs:
                image = image.clone() if image.data_ptr() == out.image.data_ptr() else image
                new_state = torch.utils._pytree.tree_map(
                    lambda t: t.clone() if isinstance(t, torch.Tensor) else t, new_state)
        return (image.cpu().numpy() if arrays else image), new_state

    def info(self) -> dict:
        import torch

        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        return {"backend": "torch", "device": name, "dtype": str(self.dtype).replace("torch.", ""),
                "compiled": self.compiled}


class OrtRunner:
    """ONNX Runtime on the streaming graph of ``phnet.export`` (CPU or CUDA execution provider).

    ``threads``: intra-op threads (default: every core). ``spinning``: whether idle pool threads
    busy-wait for work; off by default, because in the camera the pool shares the cores with
    MediaPipe and OpenCV, and spinning threads take their time slices. Inputs and outputs travel
    as host arrays (``device`` is the CPU's whichever provider runs), so the frame's path around
    the network is NumPy/OpenCV.
    """

    backend = "onnxruntime"

    def __init__(self, onnx_model: bytes | str, device: Device | str = "cpu",
                 threads: int | None = None, spinning: bool = False):
        import onnxruntime as ort

        want = device if isinstance(device, Device) else resolve_device(str(device))
        self.device = Device("cpu")  # inputs and outputs travel as host arrays
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        wanted: list = ["CPUExecutionProvider"]
        available = ort.get_available_providers()
        if want.type == "cuda" and "CUDAExecutionProvider" in available:
            wanted.insert(0, ("CUDAExecutionProvider", {"device_id": want.index or 0}))
        self.session = ort.InferenceSession(onnx_model, opts, providers=wanted)
        self.providers = self.session.get_providers()
        self.fallback = None
        if want.type == "cuda" and "CUDAExecutionProvider" not in self.providers:
            if "CUDAExecutionProvider" not in available:
                why = ("this onnxruntime has no CUDA execution provider (install onnxruntime-gpu "
                       "instead of onnxruntime: README, 'Install')")
            else:
                why = "ONNX Runtime could not initialise its CUDA execution provider"
            self.fallback = f"{why} (available: {available}); it runs on the CPU"
            log.warning(self.fallback)
        _warn_if_both_onnxruntimes()
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta)
        """The graph's metadata (``phnet.config``: the network's config as JSON)."""
        inputs = [i.name for i in self.session.get_inputs()]
        self.state_names = inputs[3:]
        self._empty = [
            np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
            if i.name.endswith((".mean", ".valid"))
            else np.ones([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
            for i in self.session.get_inputs()[3:]
        ]

    def __call__(self, image, mask, state, momentum: tuple[float, float]):
        tensors = not isinstance(image, np.ndarray)  # the evaluation's torch tensors
        feed = {
            "image": image.detach().cpu().float().numpy() if tensors else image,
            "mask": mask.detach().cpu().float().numpy() if tensors else mask,
            "momentum": np.broadcast_to(np.asarray(momentum, dtype=np.float32), (2,)).copy(),
        }
        feed.update(zip(self.state_names, state if state is not None else self._empty))
        out = self.session.run(None, feed)
        if tensors:
            import torch

            return torch.from_numpy(out[0]), out[1:]
        return out[0], out[1:]

    def info(self) -> dict:
        d = {
            "backend": "onnxruntime",
            "device": "cuda" if "CUDAExecutionProvider" in self.providers else "cpu",
            "dtype": "float32",
            "providers": self.providers,
        }
        if self.fallback:
            d["fallback"] = self.fallback
        return d


@functools.cache
def _warn_if_both_onnxruntimes() -> None:
    """Warns once when ``onnxruntime`` and ``onnxruntime-gpu`` are both installed: they write the
    same ``onnxruntime`` package, and whichever came last decides which providers exist."""
    found = []
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    if len(found) == 2:
        log.warning("both %s and %s are installed; they overwrite each other's files. Keep one: "
                    "pip uninstall -y onnxruntime onnxruntime-gpu, then pip install the one you "
                    "want (README, 'Install')", *found)
