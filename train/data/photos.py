"""FFHQH-style triples made on the fly from a folder of photos (``DataConfig.kind="synthetic"``)."""
from __future__ import annotations

import logging
import os
from pathlib import Path, PurePosixPath

import torch

from ..corpus.manifest import hash_fraction
from ..corpus.selfie import PersonMasker
from .base import BadFileError, DataConfig, HarmonizationDataset, _resize, fit_to_size, read_mask, read_rgb
from .synthesis import MAX_FOREGROUND, MIN_FOREGROUND, foreground_fraction, synth_mask

logger = logging.getLogger(__name__)

__all__ = ["IMAGE_EXTENSIONS", "MASK_EXTENSIONS", "SyntheticDataset", "list_photos"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
"""Photo files the synthetic dataset picks up (case-insensitive)."""
MASK_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_photos(root: str | os.PathLike, exclude: str | os.PathLike | None = None) -> list[str]:
    """Relative POSIX paths of the photos (``IMAGE_EXTENSIONS``) under ``root``, sorted;
    anything under ``exclude`` (e.g. a mask folder inside the photo folder) is left out."""
    root = Path(root)
    skip = Path(exclude).resolve() if exclude is not None else None
    found = []
    for folder, dirs, files in os.walk(root):
        if skip is not None and Path(folder).resolve() == skip:
            dirs[:] = []
            continue
        dirs.sort()
        for f in files:
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                found.append(Path(folder, f).relative_to(root).as_posix())
    return sorted(found)


class SyntheticDataset(HarmonizationDataset):
    """FFHQH-style triples made on the fly from any folder of photos (paper §3.2).

    Every photo (``.jpg``/``.jpeg``/``.png``, searched recursively) gives ``samples_per_image``
    items: ``real`` is a crop of the photo (see :func:`fit_to_size`), ``mask`` comes from
    ``DataConfig.masks``, and ``composite`` is the real crop with its foreground colour-augmented
    (:func:`train.data.augment.augment_foreground`), the background left bit-exact.

    Photos are split by source image, never by crop: the hash of the photo's relative path puts
    it in test (below ``test_fraction``), val (below ``test_fraction + val_fraction``) or train,
    independently of the seed and of the other photos, so adding photos never moves one.

    Masks: ``"synth"`` draws a new silhouette or shape per item (:func:`synth_mask`), resampled
    while the foreground covers less than 5 % or more than 95 %. ``"mediapipe"`` segments the
    crop with ``vcam.segmenter``; where that finds no usable person (the same 5-95 % bounds,
    e.g. a photo of a landscape) a drawn mask is used instead. ``"folder:<path>"`` reads the mask
    file with the photo's relative path and stem (or, failing that, its bare stem) in that
    folder; photos without one are skipped.

    Item names are ``<relative path>#<k>``, ``k`` counting the samples of one photo.
    """

    subset_label = "synthetic"

    def __init__(self, cfg: DataConfig, split: str) -> None:
        super().__init__(cfg, split)
        root = Path(cfg.root)
        self._mask_dir: Path | None = None
        self._mask_files: dict[str, Path] = {}
        self._masker: PersonMasker | None = None
        self._fallback_logged: set[str] = set()
        if cfg.masks.startswith("folder:"):
            self._mask_dir = Path(cfg.masks[len("folder:"):])
            if not self._mask_dir.is_dir():
                raise ValueError(f"DataConfig.masks folder not found: {self._mask_dir}")
            self._index_masks()
        elif cfg.masks == "mediapipe":
            self._masker = PersonMasker()

        photos = list_photos(root, exclude=self._mask_dir)
        if not photos:
            raise ValueError(f"no photos ({', '.join(IMAGE_EXTENSIONS)}) under {root}")
        self.photos: list[str] = []
        for rel in photos:
            if self.split_of(rel, cfg) != split:
                continue
            if self._mask_dir is not None and self._find_mask(rel) is None:
                self._bad(root / rel, f"no mask file for it in {self._mask_dir}")
                continue
            self.photos.append(rel)
        self._records = [(rel, k) for rel in self.photos for k in range(cfg.samples_per_image)]
        if not self.photos:
            logger.warning("synthetic %s: none of the %d photos under %s falls in this split "
                           "(val_fraction=%g, test_fraction=%g)", split, len(photos), root,
                           cfg.val_fraction, cfg.test_fraction)
        logger.info("synthetic %s: %d photos x %d samples, masks %s", split, len(self.photos),
                    cfg.samples_per_image, cfg.masks)

    @staticmethod
    def split_of(rel_path: str, cfg: DataConfig) -> str:
        """The split of the photo at ``rel_path`` (relative POSIX path) under ``cfg``."""
        u = hash_fraction(rel_path)
        if u < cfg.test_fraction:
            return "test"
        if u < cfg.test_fraction + cfg.val_fraction:
            return "val"
        return "train"

    def _index_masks(self) -> None:
        by_stem: dict[str, list[Path]] = {}
        for folder, dirs, files in os.walk(self._mask_dir):
            dirs.sort()
            for f in sorted(files):
                if f.lower().endswith(MASK_EXTENSIONS):
                    path = Path(folder, f)
                    rel = path.relative_to(self._mask_dir).with_suffix("").as_posix()
                    self._mask_files[rel] = path
                    by_stem.setdefault(path.stem, []).append(path)
        self._mask_by_stem = {k: v[0] for k, v in by_stem.items() if len(v) == 1}

    def _find_mask(self, rel: str) -> Path | None:
        key = PurePosixPath(rel).with_suffix("").as_posix()
        return self._mask_files.get(key) or self._mask_by_stem.get(PurePosixPath(rel).stem)

    def _load(self, index: int, gen: torch.Generator):
        rel, k = self._records[index]
        path = Path(self.cfg.root) / rel
        photo = read_rgb(path)
        rng = self._rng(gen)
        name = f"{rel}#{k}"
        if self._mask_dir is not None:
            mask_path = self._find_mask(rel)
            mask = read_mask(mask_path)
            if mask.shape != photo.shape[:2]:
                if not self._mask_resizable(mask.shape, photo.shape[:2]):
                    raise BadFileError(mask_path, f"mask is {mask.shape[1]}x{mask.shape[0]} "
                                       f"but the photo is {photo.shape[1]}x{photo.shape[0]}")
                mask = _resize(mask, photo.shape[1], photo.shape[0])
            real, mask = fit_to_size([photo, mask], self.cfg.size, rng)
            return None, mask, real, name, self.subset_label

        (real,) = fit_to_size([photo], self.cfg.size, rng)
        mask = None
        if self._masker is not None:
            person = self._masker(real)
            if MIN_FOREGROUND <= foreground_fraction(person) <= MAX_FOREGROUND:
                mask = person
            elif rel not in self._fallback_logged:
                self._fallback_logged.add(rel)
                logger.info("no usable person mask in %s (foreground %.1f %%): drawing one",
                            rel, 100 * foreground_fraction(person))
        if mask is None:
            mask = synth_mask(real.shape[0], real.shape[1], gen)
        return None, mask, real, name, self.subset_label
