"""Harmonisation datasets: iHarmony4, FFHQH, and FFHQH-style triples synthesised from photos.

``build_dataset(DataConfig(...), split)`` returns a ``torch.utils.data.Dataset`` whose items are
dicts:

- ``composite``: ``(3, S, S)`` float32 RGB in [0, 1], the image to harmonise;
- ``mask``: ``(1, S, S)`` float32, the foreground, binarised at 0.5 (the paper trains and
  evaluates on binary masks, §5.1 and its appendix);
- ``real``: ``(3, S, S)`` float32 RGB in [0, 1], the ground truth;
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
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .synthesis import (
    MAX_FOREGROUND, MIN_FOREGROUND, PersonMasker, Rng, foreground_fraction, make_composite,
    synth_mask,
)

logger = logging.getLogger(__name__)

__all__ = [
    "KINDS", "SPLITS", "BAD_FILE_POLICIES", "IHARMONY4_SUBSETS", "IMAGE_EXTENSIONS",
    "BadFileError", "DataConfig", "build_dataset", "HarmonizationDataset", "IHarmony4Dataset",
    "FFHQHDataset", "SyntheticDataset", "read_rgb", "read_mask", "fit_to_size", "hash_fraction",
    "list_photos",
]

KINDS = ("synthetic", "ffhqh", "iharmony4", "corpus")
SPLITS = ("train", "val", "test")
BAD_FILE_POLICIES = ("skip", "stop")
IHARMONY4_SUBSETS = ("HAdobe5k", "HCOCO", "Hday2night", "HFlickr")
"""The four subsets of iHarmony4; other folders in the same layout are accepted too."""
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
"""Photo files the synthetic dataset picks up (case-insensitive)."""
MASK_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_FFHQ_REAL_DIR = "images1024x1024"
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
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            _fail("seed", "an int", self.seed, TypeError)
        if not isinstance(self.soft_masks, bool):
            _fail("soft_masks", "true or false", self.soft_masks, TypeError)
        if not isinstance(self.mix, str):
            _fail("mix", "a string like 'people:0.5,identity:0.5'", self.mix, TypeError)
        if self.mix:
            from .corpus import parse_mix

            try:
                parse_mix(self.mix)
            except ValueError as exc:
                _fail("mix", f"valid ({exc})", self.mix)
        if self.on_bad_file not in BAD_FILE_POLICIES:
            _fail("on_bad_file", f"one of {', '.join(map(repr, BAD_FILE_POLICIES))}",
                  self.on_bad_file)


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
        from .corpus import CorpusDataset

        return CorpusDataset(cfg, split)
    return SyntheticDataset(cfg, split)


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


def hash_fraction(key: str) -> float:
    """A fixed number in [0, 1) for ``key`` (SHA-256), for splits that never move."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


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
    """Common ground of the three datasets: bad-file policy, epochs, per-item generators.

    Subclasses fill ``self._records`` and implement ``_load(index, generator)`` returning
    ``(composite uint8 HxWx3 or None, mask float32 HxW, real uint8 HxWx3, name, subset)``
    with the geometry already applied; a ``None`` composite is made by synthesis.
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
                composite, mask, real, name, subset = self._load(i, gen)
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
            return {"composite": composite_t, "mask": mask_t, "real": real_t,
                    "name": name, "subset": subset}
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


# --------------------------------------------------------------------------- iHarmony4

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


# --------------------------------------------------------------------------- FFHQH

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


# --------------------------------------------------------------------------- synthetic

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
