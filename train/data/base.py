"""What every data set shares: ``DataConfig``, the items, reading images, the base class.

``build_dataset(DataConfig(...), split)`` (:mod:`train.data.build`) returns a
``torch.utils.data.Dataset`` whose items are dicts:

- ``composite``: ``(3, S, S)`` float32 RGB in [0, 1], the image to harmonise;
- ``mask``: ``(1, S, S)`` float32, the foreground, binarised at 0.5 (the paper trains and
  evaluates on binary masks, §5.1 and its appendix);
- ``real``: ``(3, S, S)`` float32 RGB in [0, 1], the ground truth;
- ``captured``: ``(3, S, S)`` float32 RGB in [0, 1], the camera frame the foreground was cut
  from: the person in their own room (``relight`` triples); for every other kind the
  composite itself (the foreground as it was captured, in its own room);
- ``name``: str, the item's name within its subset;
- ``subset``: str, e.g. ``"HCOCO"``, ``"ffhqh"``, ``"synthetic"``.

With ``size=None`` the tensors keep the files' native size (any H, W). Otherwise the shorter
side is resized to ``size`` and a square is cut: the centre for val/test, a random position
plus a random horizontal flip for train (the same for all three images). The mask is resized
with area averaging (bilinear when enlarging) and then binarised.

Randomness is reproducible: the item ``(split, index, epoch)`` draws from its own
``torch.Generator`` seeded from ``DataConfig.seed``, the split, the index and (train only) the
epoch set with ``set_epoch``. Val and test items never depend on the epoch.

Bad files: every dataset lists what it skipped in ``.skipped`` as ``(path, reason)``. Missing
files are found on construction; files that cannot be decoded when their item is read, and the
item is then replaced by the next good one. With ``on_bad_file="stop"`` the first bad file
raises :class:`BadFileError` (a ``ValueError``) naming it and the reason instead. DataLoader
workers each hold their own copy of ``.skipped``; every skip is also logged where it happens.
"""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .mix import parse_mix
from .synthesis import Rng, make_composite

logger = logging.getLogger(__name__)

__all__ = [
    "KINDS", "SPLITS", "BAD_FILE_POLICIES", "BadFileError", "DataConfig", "HarmonizationDataset",
    "read_rgb", "read_mask", "fit_to_size",
]

KINDS = ("synthetic", "ffhqh", "iharmony4", "corpus")
SPLITS = ("train", "val", "test")
BAD_FILE_POLICIES = ("skip", "stop")

_SUBSTITUTE_TRIES = 16


class BadFileError(ValueError):
    """A file of a dataset is missing or cannot be read; ``path`` and ``reason`` say which/why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"bad file {self.path}: {reason}")


# --------------------------------------------------------------------------- configuration

def _fail(key: str, expected: str, got: object, exc: type[Exception] = ValueError) -> None:
    raise exc(f"DataConfig.{key} must be {expected}, got {got!r}")


@dataclass
class DataConfig:
    """Which data, and how to cut it. Values are checked on construction.

    Attributes:
        kind: ``"synthetic"`` (photos -> on-the-fly triples), ``"ffhqh"``, ``"iharmony4"`` or
            ``"corpus"`` (a ``phnet-corpus`` folder of people, objects and scenes:
            :mod:`train.data.corpus`).
        root: the photo folder (synthetic), the corpus folder or the data set's root folder.
        masks: synthetic only: ``"synth"`` (drawn silhouettes and shapes), ``"mediapipe"``
            (person segmentation with ``vcam.segmenter``) or ``"folder:<path>"`` (mask files
            with the same stem as the photo; a relative path is taken from the current folder).
        size: square side of returned samples; ``None`` keeps the native size.
        val_fraction: the share of source images in val (synthetic; iHarmony4 carves its val
            split out of its train list with it, by real image).
        test_fraction: synthetic only: the share of source images in test.
        samples_per_image: synthetic only: composites drawn per source photo (per epoch).
        subsets: iHarmony4 only: which subsets (empty = all present).
        seed: seeds every random draw (crops, flips, masks, augmentations).
        on_bad_file: ``"skip"`` (log it, list it in ``.skipped``, go on) or ``"stop"`` (raise).
        real_root: FFHQH only: the folder of real images; empty means
            ``{root}/images1024x1024`` (FFHQ's own folder name).
        mix: corpus only: the weights of the triple kinds, ``"people:0.4,objects:0.2,
            identity:0.2,silhouettes:0.2"`` (the default when empty; see
            :mod:`train.data.corpus`).
        soft_masks: return the matte as it is (float in [0, 1]) instead of binarised at 0.5,
            as the camera's refined masks are soft; metrics still binarise.
        balance_sources: corpus only: draw each triple's source uniformly, then a picture of
            it (instead of a picture uniformly), so no one source dominates.
        exclude_sources: corpus only: manifest sources (packages) no picture may come from, in
            any split: the evaluation's held-out sources (``train.eval.heldout``), so that the
            people it judges come from packages and kinds of photo training never saw.
    """

    kind: str = "synthetic"
    root: str = ""
    masks: str = "synth"
    size: int | None = 256
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    samples_per_image: int = 8
    subsets: tuple[str, ...] = ()
    seed: int = 0
    on_bad_file: str = "skip"
    real_root: str = ""
    mix: str = ""
    soft_masks: bool = False
    exclude_sources: tuple[str, ...] = ()
    balance_sources: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            _fail("kind", f"one of {', '.join(map(repr, KINDS))}", self.kind)
        for key in ("root", "real_root"):
            value = getattr(self, key)
            if isinstance(value, os.PathLike):
                setattr(self, key, os.fspath(value))
            elif not isinstance(value, str):
                _fail(key, "a path (str)", value, TypeError)
        if not isinstance(self.masks, str) or not (
            self.masks in ("synth", "mediapipe")
            or (self.masks.startswith("folder:") and len(self.masks) > len("folder:"))
        ):
            _fail("masks", "'synth', 'mediapipe' or 'folder:<path>'", self.masks)
        if self.size is not None:
            if isinstance(self.size, bool) or not isinstance(self.size, int):
                _fail("size", "an int >= 8 or None", self.size, TypeError)
            if self.size < 8:
                _fail("size", "an int >= 8 or None", self.size)
        for key in ("val_fraction", "test_fraction"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                _fail(key, "a number in [0, 1)", value, TypeError)
            if not 0.0 <= value < 1.0:
                _fail(key, "a number in [0, 1)", value)
        if self.val_fraction + self.test_fraction >= 1.0:
            _fail("val_fraction", f"below 1 - test_fraction ({1 - self.test_fraction:g}) so "
                  "that train keeps some images", self.val_fraction)
        if isinstance(self.samples_per_image, bool) or not isinstance(self.samples_per_image, int):
            _fail("samples_per_image", "an int >= 1", self.samples_per_image, TypeError)
        if self.samples_per_image < 1:
            _fail("samples_per_image", "an int >= 1", self.samples_per_image)
        if isinstance(self.subsets, str):
            # A comma-separated string, as a command line gives it.
            self.subsets = tuple(s.strip() for s in self.subsets.split(",") if s.strip())
        if not isinstance(self.subsets, (tuple, list)) or not all(
            isinstance(s, str) and s for s in self.subsets
        ):
            _fail("subsets", "a tuple of subset names (e.g. ('HCOCO', 'HFlickr'))", self.subsets,
                  TypeError)
        self.subsets = tuple(self.subsets)
        if isinstance(self.exclude_sources, str):
            self.exclude_sources = tuple(
                s.strip() for s in self.exclude_sources.split(",") if s.strip())
        if not isinstance(self.exclude_sources, (tuple, list)) or not all(
            isinstance(s, str) and s for s in self.exclude_sources
        ):
            _fail("exclude_sources", "a tuple of corpus source names", self.exclude_sources,
                  TypeError)
        self.exclude_sources = tuple(self.exclude_sources)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            _fail("seed", "an int", self.seed, TypeError)
        if not isinstance(self.balance_sources, bool):
            _fail("balance_sources", "true or false", self.balance_sources, TypeError)
        if not isinstance(self.soft_masks, bool):
            _fail("soft_masks", "true or false", self.soft_masks, TypeError)
        if not isinstance(self.mix, str):
            _fail("mix", "a string like 'people:0.5,identity:0.5'", self.mix, TypeError)
        if self.mix:
            try:
                parse_mix(self.mix)
            except ValueError as exc:
                _fail("mix", f"valid ({exc})", self.mix)
        if self.on_bad_file not in BAD_FILE_POLICIES:
            _fail("on_bad_file", f"one of {', '.join(map(repr, BAD_FILE_POLICIES))}",
                  self.on_bad_file)


# --------------------------------------------------------------------------- files and geometry

def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file as RGB uint8 HxWx3 (grey, 16-bit and alpha files are converted).

    Raises:
        BadFileError: missing, empty, or not decodable.
    """
    data = _read_bytes(path)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise BadFileError(path, "cannot decode image (corrupt or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Decode a mask or alpha matte as float32 HxW in [0, 1].

    Grey files are used as they are; a colour file is turned to grey; a file with a varying
    alpha channel gives its alpha. 8- and 16-bit files are scaled by their full range.

    Raises:
        BadFileError: missing, empty, or not decodable.
    """
    data = _read_bytes(path)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise BadFileError(path, "cannot decode mask (corrupt or not an image)")
    if img.dtype == np.uint8:
        scale = 255.0
    elif img.dtype == np.uint16:
        scale = 65535.0
    elif img.dtype in (np.float32, np.float64):
        scale = 1.0
    else:
        raise BadFileError(path, f"unsupported mask sample type {img.dtype}")
    if img.ndim == 3:
        if img.shape[2] == 4 and img[..., 3].min() != img[..., 3].max():
            img = img[..., 3]
        else:
            img = img[..., :3].max(axis=2)
    return np.clip(img.astype(np.float32) / scale, 0.0, 1.0)


def _read_bytes(path: str | os.PathLike) -> np.ndarray:
    # np.fromfile + imdecode: imread cannot open non-ASCII paths on Windows and answers every
    # failure with a bare None.
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except OSError as exc:
        raise BadFileError(path, f"cannot read file: {exc.strerror or exc}") from None
    if data.size == 0:
        raise BadFileError(path, "empty file")
    return data


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    if img.shape[1] == width and img.shape[0] == height:
        return img
    shrink = width < img.shape[1] or height < img.shape[0]
    return cv2.resize(img, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def fit_to_size(
    images: list[np.ndarray], size: int | None, rng: Rng | None
) -> list[np.ndarray]:
    """Cut the same square from every image and bring it to ``size`` x ``size``.

    Equivalent to resizing the shorter side to ``size`` and cropping ``size`` x ``size``, but
    the square is cut at the source resolution first (cheaper for large photos). With ``rng``
    (training) the square's position is random and the images are flipped left-right with
    probability 0.5; without it the square is centred. With ``size=None`` nothing is resized
    or cut (only the flip is drawn).

    Args:
        images: HxW or HxWxC arrays of one size (uint8 images, float32 masks).
        size: the output side, or ``None``.
        rng: random draws for training, or ``None`` for val/test.
    """
    h, w = images[0].shape[:2]
    for img in images[1:]:
        if img.shape[:2] != (h, w):
            raise ValueError(f"images to crop together differ in size: {(h, w)} vs {img.shape[:2]}")
    out = images
    if size is not None:
        side = min(h, w)
        if rng is None:
            top, left = (h - side) // 2, (w - side) // 2
        else:
            top, left = rng.integer(0, h - side), rng.integer(0, w - side)
        out = [_resize(img[top:top + side, left:left + side], size, size) for img in out]
    if rng is not None and rng.chance(0.5):
        out = [img[:, ::-1] for img in out]
    return [np.ascontiguousarray(img) for img in out]


def _item_seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 HxWx3 -> float32 (3, H, W) in [0, 1]; float32 HxW mask -> (1, H, W) in {0, 1}."""
    if img.ndim == 2:
        return torch.from_numpy((img > 0.5).astype(np.float32))[None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


# --------------------------------------------------------------------------- base class

class HarmonizationDataset(Dataset):
    """Common ground of the datasets (iHarmony4, FFHQH, the synthetic photos, the corpus):
    bad-file policy, epochs, per-item generators.

    Subclasses fill ``self._records`` and implement ``_load(index, generator)`` returning
    ``(composite uint8 HxWx3 or None, mask float32 HxW, real uint8 HxWx3, name, subset)``
    with the geometry already applied, optionally followed by the captured frame (uint8
    HxWx3; without it the composite is the captured frame); a ``None`` composite is made by
    synthesis.
    """

    subset_label = ""

    def __init__(self, cfg: DataConfig, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
        self.cfg = cfg
        self.split = split
        # In shared memory, so that set_epoch reaches persistent DataLoader workers too.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self.skipped: list[tuple[str, str]] = []
        self._skipped_paths: set[str] = set()
        self._bad_items: set[int] = set()
        self._records: list = []

    # -- bad files

    def _bad(self, path: str | os.PathLike, reason: str) -> None:
        """Record a bad file: raise under ``on_bad_file="stop"``, log and list it otherwise."""
        if self.cfg.on_bad_file == "stop":
            raise BadFileError(path, reason)
        if str(path) not in self._skipped_paths:
            self._skipped_paths.add(str(path))
            self.skipped.append((str(path), reason))
            logger.warning("%s %s: skipping %s: %s", self.cfg.kind, self.split, path, reason)

    # -- epochs and randomness

    def set_epoch(self, epoch: int) -> None:
        """Pick the epoch whose random crops, flips, masks and augmentations training items
        use (val and test do not change with it). Call it before iterating the DataLoader
        for that epoch; persistent workers see it too (the value lives in shared memory)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self._epoch.fill_(epoch)

    @property
    def epoch(self) -> int:
        """The epoch set with :meth:`set_epoch` (0 at first)."""
        return int(self._epoch)

    def item_generator(self, index: int) -> torch.Generator:
        """The ``torch.Generator`` of item ``index`` in the current epoch (fresh each call)."""
        epoch = self.epoch if self.split == "train" else 0
        gen = torch.Generator()
        gen.manual_seed(_item_seed(self.cfg.seed, self.cfg.kind, self.split, index, epoch))
        return gen

    # -- Dataset protocol

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> dict:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} items")
        index %= n
        for attempt in range(min(n, _SUBSTITUTE_TRIES)):
            i = (index + attempt) % n
            if i in self._bad_items:
                continue
            gen = self.item_generator(i)
            try:
                composite, mask, real, name, subset, *captured = self._load(i, gen)
            except BadFileError as exc:
                self._bad_items.add(i)
                self._bad(exc.path, exc.reason)
                continue
            real_t = _to_tensor(real)
            if self.cfg.soft_masks:
                mask_t = torch.from_numpy(np.clip(mask, 0.0, 1.0).astype(np.float32))[None]
            else:
                mask_t = _to_tensor(mask)
            if composite is None:
                composite_t = make_composite(real_t, mask_t, gen)
            else:
                composite_t = _to_tensor(composite)
            captured_t = _to_tensor(captured[0]) if captured else composite_t
            return {"composite": composite_t, "mask": mask_t, "real": real_t,
                    "captured": captured_t, "name": name, "subset": subset}
        raise RuntimeError(
            f"{self.cfg.kind} {self.split}: no readable item near index {index} "
            f"({len(self.skipped)} bad files so far; see .skipped)"
        )

    def _load(self, index: int, gen: torch.Generator):
        raise NotImplementedError

    def _rng(self, gen: torch.Generator) -> Rng | None:
        return Rng(gen) if self.split == "train" else None

    def _fit_triple(self, gen: torch.Generator, paths: tuple[str, str, str]):
        """Read (composite, mask, real) from ``paths``, check sizes, apply the geometry."""
        comp_path, mask_path, real_path = paths
        composite = read_rgb(comp_path)
        mask = read_mask(mask_path)
        real = read_rgb(real_path)
        if composite.shape != real.shape:
            raise BadFileError(comp_path, f"composite is {composite.shape[1]}x{composite.shape[0]}"
                               f" but real {real_path} is {real.shape[1]}x{real.shape[0]}")
        if mask.shape != real.shape[:2]:
            if self._mask_resizable(mask.shape, real.shape[:2]):
                mask = _resize(mask, real.shape[1], real.shape[0])
            else:
                raise BadFileError(mask_path, f"mask is {mask.shape[1]}x{mask.shape[0]} but the "
                                   f"image is {real.shape[1]}x{real.shape[0]}")
        return fit_to_size([composite, mask, real], self.cfg.size, self._rng(gen))

    @staticmethod
    def _mask_resizable(mask_hw: tuple[int, int], image_hw: tuple[int, int]) -> bool:
        # A matte stored at another resolution with the same aspect ratio (FFHQH's alphas may be
        # smaller than the 1024 px FFHQ originals) is resized; any other mismatch is an error.
        return abs(mask_hw[0] * image_hw[1] - mask_hw[1] * image_hw[0]) <= max(image_hw)
