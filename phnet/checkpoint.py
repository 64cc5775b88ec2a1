"""PHNet checkpoints as safetensors: weights plus the architecture config in the metadata.

A checkpoint is data, never code: no pickle is read or written anywhere. The metadata holds
``format`` (``FORMAT``), ``config`` (``PHNetConfig`` as JSON) and ``pfe_enabled``; extra
string metadata (training step, data, ...) may ride along. Files are written to a temporary
name and renamed, so a crash never leaves half a checkpoint.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import PHNetConfig
from .network import PHNet

FORMAT = "phnet-camera/1"


class CheckpointError(ValueError):
    """A checkpoint file that exists but cannot be used; the message names the file."""


def save(
    model: PHNet,
    path: str | os.PathLike,
    *,
    half: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Writes ``model``'s weights (and BatchNorm running statistics) to ``path``.

    ``half=True`` stores floating-point tensors as float16 (halves the file; ``load`` returns
    float32 weights either way).
    """
    path = Path(path)
    tensors = {}
    for name, t in model.state_dict().items():
        t = t.detach().to("cpu").contiguous()
        if half and t.is_floating_point():
            t = t.half()
        tensors[name] = t
    meta = dict(metadata or {})
    meta.update(
        format=FORMAT,
        config=model.config.to_json(),
        pfe_enabled=str(bool(model.pfe_enabled)).lower(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The checkpoint's metadata; raises FileNotFoundError or CheckpointError naming ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"checkpoint {path} is not a readable safetensors file (truncated or corrupt?): {exc}"
        ) from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} is not a PHNet Camera checkpoint: metadata format is "
            f"{meta.get('format')!r}, expected {FORMAT!r}"
        )
    return meta


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> PHNet:
    """The model stored at ``path``, float32, in eval mode, on ``device``."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        config = PHNetConfig.from_json(meta["config"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"checkpoint {path} has an unusable config: {exc}") from None
    model = PHNet(config)
    model.pfe_enabled = meta.get("pfe_enabled", "true") == "true" and model.pfe is not None
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as f:
            names = set(f.keys())
            missing = sorted(set(expected) - names)
            unexpected = sorted(names - set(expected))
            if missing or unexpected:
                raise CheckpointError(
                    f"checkpoint {path} does not match its config {config.name!r}: "
                    f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                    f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
                )
            loaded = {}
            for name in names:
                t = f.get_tensor(name)
                if tuple(t.shape) != tuple(expected[name].shape):
                    raise CheckpointError(
                        f"checkpoint {path} does not match its config {config.name!r}: "
                        f"{name} has shape {tuple(t.shape)}, expected {tuple(expected[name].shape)}"
                    )
                loaded[name] = t.to(expected[name].dtype)
    except SafetensorError as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt: {exc}") from None
    model.load_state_dict(loaded)
    return model.to(device).eval()
