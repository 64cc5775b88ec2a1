"""Backends that run the network at working resolution: PyTorch and ONNX Runtime.

A runner takes ``image`` (1, 3, h, w) and ``mask`` (1, 1, h, w) float32 torch tensors on its
``device`` plus an opaque temporal state (None for the first frame) and a momentum, and returns
the blended output (1, 3, h, w) float32 on the same device and the next state. ``info()`` says
what actually runs.
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch
from torch import Tensor

from .network import PHNet

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when PyTorch sees a GPU, else CPU; an explicit CUDA request must work."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was requested but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda})"
        )
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


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

    def __init__(self, model: PHNet, device: torch.device, half: bool | None = None,
                 compile: bool = False):
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

    def __call__(self, image: Tensor, mask: Tensor, state, momentum: tuple[float, float]) -> tuple[Tensor, object]:
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
                    lambda t: t.clone() if isinstance(t, Tensor) else t, new_state)
        return image, new_state

    def info(self) -> dict:
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        return {"backend": "torch", "device": name, "dtype": str(self.dtype).replace("torch.", ""),
                "compiled": self.compiled}


class OrtRunner:
    """ONNX Runtime on the streaming graph of ``phnet.export`` (CPU or CUDA execution provider).

    ``threads``: intra-op threads (default: every core). ``spinning``: whether idle pool threads
    busy-wait for work; off by default, because in the camera the pool shares the cores with
    MediaPipe, OpenCV and PyTorch, and spinning threads take their time slices.
    """

    backend = "onnxruntime"

    def __init__(self, onnx_model: bytes | str, device: torch.device, threads: int | None = None,
                 spinning: bool = False):
        import onnxruntime as ort

        self.device = torch.device("cpu")  # inputs and outputs travel as host arrays
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        wanted = ["CPUExecutionProvider"]
        if device.type == "cuda":
            wanted.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        self.session = ort.InferenceSession(onnx_model, opts, providers=wanted)
        self.providers = self.session.get_providers()
        self.fallback = None
        if device.type == "cuda" and "CUDAExecutionProvider" not in self.providers:
            self.fallback = (
                "ONNX Runtime could not initialise its CUDA execution provider "
                f"(available: {ort.get_available_providers()}); it runs on the CPU"
            )
            log.warning(self.fallback)
        inputs = [i.name for i in self.session.get_inputs()]
        self.state_names = inputs[3:]
        self._empty = [
            np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
            if i.name.endswith((".mean", ".valid"))
            else np.ones([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
            for i in self.session.get_inputs()[3:]
        ]

    def __call__(self, image: Tensor, mask: Tensor, state, momentum: tuple[float, float]) -> tuple[Tensor, object]:
        feed = {
            "image": image.detach().cpu().numpy(),
            "mask": mask.detach().cpu().numpy(),
            "momentum": np.broadcast_to(np.asarray(momentum, dtype=np.float32), (2,)).copy(),
        }
        feed.update(zip(self.state_names, state if state is not None else self._empty))
        out = self.session.run(None, feed)
        return torch.from_numpy(out[0]), out[1:]

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

