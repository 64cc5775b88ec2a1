"""PHNet: patch-based normalisation for portrait harmonisation, and its runtime.

``Harmonizer`` runs PHNet on video frames (ONNX Runtime or PyTorch, temporal PN state, guided
upsampling), ``build(name)`` makes a network, ``save``/``load`` move it through safetensors.
``colortransfer`` is the classical baseline with the same call shape.

Importing ``phnet`` imports no PyTorch: ``Harmonizer`` on the bundled ONNX graph, the configs
and ``colortransfer`` run without it. The network and its checkpoints (``PHNet``, ``build``,
``load``, ``save``, ...) are attributes loaded on first use (PEP 562), and need PyTorch then.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import colortransfer
from .config import CONFIGS, PHNetConfig, get_config
from .harmonizer import Harmonizer

# name -> module that defines it; each of these modules imports torch.
_TORCH_ATTRIBUTES = {
    "CheckpointError": "checkpoint", "load": "checkpoint", "save": "checkpoint",
    "PHNet": "network", "PHNetOutput": "network", "PHNetState": "network", "build": "network",
    "check_size": "network", "PatchNorm": "pn", "StatsState": "pn",
}

if TYPE_CHECKING:
    from .checkpoint import CheckpointError, load, save
    from .network import PHNet, PHNetOutput, PHNetState, build, check_size
    from .pn import PatchNorm, StatsState


def __getattr__(name: str) -> Any:
    module = _TORCH_ATTRIBUTES.get(name)
    if module is None:
        raise AttributeError(f"module 'phnet' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ModuleNotFoundError(
            f"phnet.{name} needs PyTorch, which is not installed (the camera runs the bundled "
            "ONNX graph without it; to train or load .safetensors checkpoints, install PyTorch: "
            "README, 'Install')", name="torch") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_ATTRIBUTES))


__all__ = [
    "CONFIGS", "CheckpointError", "Harmonizer", "PHNet", "PHNetConfig", "PHNetOutput",
    "PHNetState", "PatchNorm", "StatsState", "build", "check_size", "colortransfer",
    "get_config", "load", "save",
]
