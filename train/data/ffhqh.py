"""FFHQH in its own layout: split lists, composites, mattes and FFHQ's real images."""
from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath

import torch

from .base import DataConfig, HarmonizationDataset

logger = logging.getLogger(__name__)

__all__ = ["FFHQHDataset"]

_FFHQ_REAL_DIR = "images1024x1024"


class FFHQHDataset(HarmonizationDataset):
    """FFHQH in its layout: ``{root}/{train,val,test}_split.txt`` list names; the composite is
    ``{root}/comp/<name>``, the matte ``{root}/alpha/<name>``, the real image
    ``{real_root}/<name>`` (default ``{root}/images1024x1024``).

    A file stored with another extension (``.jpg`` for ``.png``) is found by its stem, and a
    real image in FFHQ's thousands sub-folders (``images1024x1024/01000/01234.png``) is found
    too. Mattes are binarised at 0.5 after resizing.
    """

    subset_label = "ffhqh"

    def __init__(self, cfg: DataConfig, split: str) -> None:
        super().__init__(cfg, split)
        root = Path(cfg.root)
        real_root = Path(cfg.real_root) if cfg.real_root else root / _FFHQ_REAL_DIR
        list_file = root / f"{split}_split.txt"
        if not list_file.is_file():
            raise ValueError(f"FFHQH split list not found: {list_file}")
        if not real_root.is_dir():
            raise ValueError(f"FFHQH real images folder not found: {real_root} "
                             "(set DataConfig.real_root to the FFHQ images folder)")
        for line in list_file.read_text(encoding="utf-8").splitlines():
            name = line.strip().replace("\\", "/")
            if not name or name.startswith("#"):
                continue
            comp = self._locate(root / "comp", name)
            alpha = self._locate(root / "alpha", name)
            real = self._locate(real_root, name, ffhq_subdirs=True)
            wanted = (root / "comp" / name, root / "alpha" / name, real_root / name)
            gap = next((w for f, w in zip((comp, alpha, real), wanted) if f is None), None)
            if gap is not None:
                self._bad(gap, "file not found")
                continue
            self._records.append((name, (str(comp), str(alpha), str(real))))
        logger.info("ffhqh %s: %d items (%d skipped)", split, len(self._records),
                    len(self.skipped))

    @staticmethod
    def _locate(folder: Path, name: str, ffhq_subdirs: bool = False) -> Path | None:
        exact = folder / name
        if exact.is_file():
            return exact
        rel = PurePosixPath(name)
        candidates = [folder / rel.parent]
        if ffhq_subdirs and rel.stem.isdigit():
            candidates.append(folder / f"{int(rel.stem) // 1000 * 1000:05d}")
        for base in candidates:
            for ext in (rel.suffix, ".png", ".jpg", ".jpeg"):
                path = base / (rel.stem + ext)
                if path.is_file():
                    return path
        return None

    def _load(self, index: int, gen: torch.Generator):
        name, paths = self._records[index]
        composite, mask, real = self._fit_triple(gen, paths)
        return composite, mask, real, name, self.subset_label

    @property
    def names(self) -> list[str]:
        """Item names (as in the split list), in order."""
        return [r[0] for r in self._records]
