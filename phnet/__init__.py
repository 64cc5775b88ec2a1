"""PHNet: patch-based normalisation for portrait harmonisation, and its runtime.

``build(name)`` makes a network, ``save``/``load`` move it through safetensors, and
``Harmonizer`` runs it on video frames (PyTorch or ONNX Runtime, temporal PN state, guided
upsampling). ``colortransfer`` is the classical baseline with the same call shape.
"""
from . import colortransfer
from .checkpoint import CheckpointError, load, save
from .config import CONFIGS, PHNetConfig, get_config
from .harmonizer import Harmonizer
from .network import PHNet, PHNetOutput, PHNetState, build, check_size
from .pn import PatchNorm, StatsState

__all__ = [
    "CONFIGS", "CheckpointError", "Harmonizer", "PHNet", "PHNetConfig", "PHNetOutput",
    "PHNetState", "PatchNorm", "StatsState", "build", "check_size", "colortransfer",
    "get_config", "load", "save",
]
