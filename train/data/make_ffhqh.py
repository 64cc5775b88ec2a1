"""Write a synthetic harmonisation set to disk in FFHQH's layout.

``phnet-make-ffhqh --photos DIR --out OUT`` runs :class:`train.data.photos.SyntheticDataset` over
a photo folder and stores its items the way FFHQH is stored, so the set can be inspected,
shared, or read back with ``DataConfig(kind="ffhqh", root=OUT)``:

    OUT/train_split.txt, val_split.txt, test_split.txt   one item name per line
    OUT/comp/<name>                                       composites
    OUT/alpha/<name>                                      masks, 0 or 255, always PNG
    OUT/images1024x1024/<name>                            real images (FFHQ's folder name,
                                                          whatever the size)
    OUT/synthesis.json                                    the settings that made it

Items are those of epoch 0 (train) and the fixed val/test items, so the same photos and
settings always give the same files. PNG keeps them exact; JPEG (``--format jpg``) is smaller.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import torch

from .base import SPLITS, DataConfig
from .photos import SyntheticDataset

logger = logging.getLogger(__name__)

__all__ = ["REAL_DIR", "item_filename", "write_ffhqh", "make_ffhqh_main"]

REAL_DIR = "images1024x1024"
"""Where FFHQH's loader looks for real images by default."""


def item_filename(name: str, ext: str) -> str:
    """File name for the synthetic item ``<relative path>#<k>``: the path with ``/`` as ``__``,
    the sample number appended, e.g. ``people/ann.jpg#3`` -> ``people__ann_3.png``."""
    rel, _, k = name.rpartition("#")
    path = PurePosixPath(rel)
    stem = "__".join(path.parent.parts + (path.stem,))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("_") or "image"
    return f"{stem}_{k}{ext}"


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> HxWxC (or HxW) uint8."""
    a = (t.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return a[..., 0] if a.shape[2] == 1 else a


def _write(path: Path, img: np.ndarray, ext: str) -> None:
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f"cannot encode {path}")
    buf.tofile(path)


def write_ffhqh(
    cfg: DataConfig,
    out: str | Path,
    image_format: str = "png",
    workers: int = 0,
) -> dict[str, int]:
    """Write the synthetic set described by ``cfg`` (``kind="synthetic"``) to ``out``.

    Returns:
        Number of items written per split.
    """
    if cfg.kind != "synthetic":
        raise ValueError(f"write_ffhqh needs DataConfig.kind='synthetic', got {cfg.kind!r}")
    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be 'png' or 'jpg', got {image_format!r}")
    ext = "." + image_format
    out = Path(out)
    for sub in ("comp", "alpha", REAL_DIR):
        (out / sub).mkdir(parents=True, exist_ok=True)

    counts: dict[str, int] = {}
    taken: dict[str, str] = {}
    for split in SPLITS:
        dataset = SyntheticDataset(cfg, split)
        loader = torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False,
                                             num_workers=workers)
        names = []
        for item in loader:
            filename = item_filename(item["name"], ext)
            if taken.setdefault(filename, item["name"]) != item["name"]:
                # Two photos with one stem (a.jpg and a.png): tell them apart by their path.
                tag = hashlib.sha256(item["name"].encode()).hexdigest()[:8]
                filename = f"{Path(filename).stem}_{tag}{ext}"
                taken[filename] = item["name"]
            _write(out / "comp" / filename, _to_uint8(item["composite"]), ext)
            _write(out / "alpha" / (Path(filename).stem + ".png"), _to_uint8(item["mask"]), ".png")
            _write(out / REAL_DIR / filename, _to_uint8(item["real"]), ext)
            names.append(filename)
        (out / f"{split}_split.txt").write_text("".join(n + "\n" for n in names),
                                                encoding="utf-8")
        counts[split] = len(names)
        if dataset.skipped:
            logger.warning("%s: %d bad files skipped", split, len(dataset.skipped))
        logger.info("%s: %d items written", split, len(names))

    settings = asdict(cfg)
    settings["root"] = Path(cfg.root).name  # where it came from, without this machine's path
    settings.update(format=image_format, counts=counts)
    (out / "synthesis.json").write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return counts


def make_ffhqh_main(argv: list[str] | None = None) -> int:
    """``phnet-make-ffhqh``: write a synthetic data set in FFHQH's layout."""
    parser = argparse.ArgumentParser(
        prog="phnet-make-ffhqh",
        description="Synthesise (composite, mask, real) triples from a photo folder and write "
                    "them in FFHQH's layout (comp/, alpha/, images1024x1024/, *_split.txt).",
    )
    parser.add_argument("--photos", required=True, help="folder of photos (searched recursively)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--size", default="native",
                        help="square side of the samples, or 'native' (default) for the photo's "
                             "own size")
    parser.add_argument("--masks", default="synth",
                        help="'synth' (default), 'mediapipe' or 'folder:<path>'")
    parser.add_argument("--samples-per-image", type=int, default=1,
                        help="composites per photo (default 1)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=("png", "jpg"), default="png",
                        help="composites and real images as PNG (exact, default) or JPEG")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--on-bad-file", choices=("skip", "stop"), default="skip")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.size == "native":
        size = None
    else:
        try:
            size = int(args.size)
        except ValueError:
            parser.error(f"--size must be an integer or 'native', got {args.size!r}")
    try:
        cfg = DataConfig(kind="synthetic", root=args.photos, masks=args.masks, size=size,
                         val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                         samples_per_image=args.samples_per_image, seed=args.seed,
                         on_bad_file=args.on_bad_file)
        if not Path(args.photos).is_dir():
            parser.error(f"--photos {args.photos!r} is not a folder")
        counts = write_ffhqh(cfg, args.out, args.format, args.workers)
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    print(" ".join(f"{k}={v}" for k, v in counts.items()), f"items written to {args.out}")
    return 0
