"""iHarmony4 in its own layout: four subsets of composites, masks and real images."""
from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

import torch

from ..corpus.manifest import hash_fraction
from .base import DataConfig, HarmonizationDataset

logger = logging.getLogger(__name__)

__all__ = ["IHARMONY4_SUBSETS", "IHarmony4Dataset"]

IHARMONY4_SUBSETS = ("HAdobe5k", "HCOCO", "Hday2night", "HFlickr")
"""The four subsets of iHarmony4; other folders in the same layout are accepted too."""


def _iharmony4_names(comp_name: str) -> tuple[str, str] | None:
    """Composite ``c100300_1602094_1.jpg`` -> (mask ``c100300_1602094.png``, real
    ``c100300.jpg``); ``None`` when the name does not have the three parts."""
    stem = PurePosixPath(comp_name).stem
    parts = stem.split("_")
    if len(parts) < 3 or not all(parts):
        return None
    return "_".join(parts[:-1]) + ".png", "_".join(parts[:-2]) + ".jpg"


class _DirIndex:
    """File names of one folder, listed once, found by exact name or by stem."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        self.names = set(names)
        self.by_stem: dict[str, str] = {}
        for name in sorted(names):
            self.by_stem.setdefault(os.path.splitext(name)[0], name)

    def find(self, name: str) -> Path | None:
        if name in self.names:
            return self.folder / name
        alt = self.by_stem.get(os.path.splitext(name)[0])
        return self.folder / alt if alt is not None else None


class IHarmony4Dataset(HarmonizationDataset):
    """iHarmony4 in its own layout.

    ``root/<Subset>/`` holds ``composite_images/``, ``masks/``, ``real_images/`` and the lists
    ``<Subset>_train.txt`` / ``<Subset>_test.txt`` (one composite per line, bare or as
    ``<Subset>/composite_images/<name>``). Without a subset's own lists, the root's
    ``IHD_train.txt`` / ``IHD_test.txt`` lines for that subset are used. The "val" split is the
    share ``val_fraction`` of the train list, chosen by hashing the real image's name so all
    composites of one real image fall on the same side; "train" is the rest.

    Item names are the composite file names (``c100300_1602094_1.jpg``); ``subset`` is the
    subset's folder name.
    """

    def __init__(self, cfg: DataConfig, split: str) -> None:
        super().__init__(cfg, split)
        root = Path(cfg.root)
        present = sorted(
            d.name for d in root.iterdir() if d.is_dir() and (d / "composite_images").is_dir()
        )
        if not present:
            raise ValueError(f"no iHarmony4 subset (a folder with composite_images/) in {root}")
        wanted = list(cfg.subsets) or present
        missing = [s for s in wanted if s not in present]
        if missing:
            raise ValueError(f"DataConfig.subsets names {missing} not found in {root}; "
                             f"present: {present}")
        list_split = "test" if split == "test" else "train"
        for subset in wanted:
            self._add_subset(root, subset, list_split)
        logger.info("iharmony4 %s: %d composites from %s (%d skipped)", split,
                    len(self._records), ", ".join(wanted), len(self.skipped))

    def _list_lines(self, root: Path, subset: str, list_split: str) -> list[str]:
        own = root / subset / f"{subset}_{list_split}.txt"
        if own.is_file():
            lines = own.read_text(encoding="utf-8").splitlines()
        else:
            shared = root / f"IHD_{list_split}.txt"
            if not shared.is_file():
                raise ValueError(f"iHarmony4 subset {subset}: neither {own} nor {shared} exists")
            lines = [ln for ln in shared.read_text(encoding="utf-8").splitlines()
                     if ln.strip().replace("\\", "/").startswith(subset + "/")]
        return [PurePosixPath(ln.strip().replace("\\", "/")).name
                for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]

    def _add_subset(self, root: Path, subset: str, list_split: str) -> None:
        base = root / subset
        comps = _DirIndex(base / "composite_images")
        masks = _DirIndex(base / "masks")
        reals = _DirIndex(base / "real_images")
        for comp_name in self._list_lines(root, subset, list_split):
            names = _iharmony4_names(comp_name)
            comp_path = base / "composite_images" / comp_name
            if names is None:
                self._bad(comp_path, "name does not follow <real>_<object>_<k>.jpg")
                continue
            mask_name, real_name = names
            if list_split == "train":
                in_val = hash_fraction(f"{subset}/{os.path.splitext(real_name)[0]}") \
                    < self.cfg.val_fraction
                if in_val != (self.split == "val"):
                    continue
            found = (comps.find(comp_name), masks.find(mask_name), reals.find(real_name))
            wanted = (comp_path, base / "masks" / mask_name, base / "real_images" / real_name)
            gap = next((w for f, w in zip(found, wanted) if f is None), None)
            if gap is not None:
                self._bad(gap, f"file not found (needed by composite {comp_name})")
                continue
            self._records.append((subset, comp_name, tuple(map(str, found))))

    def _load(self, index: int, gen: torch.Generator):
        subset, name, paths = self._records[index]
        composite, mask, real = self._fit_triple(gen, paths)
        return composite, mask, real, name, subset

    @property
    def names(self) -> list[str]:
        """Composite names of the items, in order."""
        return [r[1] for r in self._records]
