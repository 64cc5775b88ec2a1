"""``build_dataset``: the data set a ``DataConfig`` names, of any kind."""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from .base import SPLITS, DataConfig
from .corpus import CorpusDataset
from .ffhqh import FFHQHDataset
from .iharmony4 import IHarmony4Dataset
from .photos import SyntheticDataset

__all__ = ["build_dataset"]


def build_dataset(cfg: DataConfig, split: str) -> Dataset:
    """The dataset ``cfg`` describes, for ``split`` (``"train"``, ``"val"`` or ``"test"``).

    Raises:
        ValueError: an unknown split, an empty or missing root, a layout that does not match
            the kind, or (``on_bad_file="stop"``) a missing file.
        ImportError: ``masks="mediapipe"`` without ``vcam.segmenter`` / MediaPipe.
    """
    if not isinstance(cfg, DataConfig):
        raise TypeError(f"cfg must be a DataConfig, got {type(cfg).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    if not cfg.root:
        raise ValueError("DataConfig.root is empty: set it to the photo folder or dataset root")
    if not Path(cfg.root).is_dir():
        raise ValueError(f"DataConfig.root {cfg.root!r} is not a folder")
    if cfg.kind == "iharmony4":
        return IHarmony4Dataset(cfg, split)
    if cfg.kind == "ffhqh":
        return FFHQHDataset(cfg, split)
    if cfg.kind == "corpus":
        return CorpusDataset(cfg, split)
    return SyntheticDataset(cfg, split)
