"""A tiny corpus in ``phnet-corpus``'s layout, drawn in the test: people, objects, scenes.

People are drawn figures (a skin-toned head over a coloured shirt) on a coloured backdrop,
with their soft matte and a face box; each has an identity, and the splits hold identities
apart the way the real corpus does.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from train.corpus.manifest import MANIFEST, COLUMNS, CorpusEntry

# (name, identity, split, people)
PEOPLE = [
    ("people/t__ann.jpg", "ann", "train", 1),
    ("people/t__ann2.jpg", "ann", "train", 1),
    ("people/t__bob.jpg", "bob", "train", 1),
    ("people/t__cat.jpg", "cat", "val", 1),
    ("people/t__dan.jpg", "dan", "test", 1),
    ("people/t__eve.jpg", "eve", "test", 1),
    ("people/t__band-p1.jpg", "t__band", "test", 2),
]
OBJECTS = [("objects/t__fox.jpg", "train"), ("objects/t__owl.jpg", "val"), ("objects/t__cow.jpg", "test")]
SCENES = [("scenes/t__lake.jpg", "train"), ("scenes/t__hill.jpg", "train"),
          ("scenes/t__sea.jpg", "val"), ("scenes/t__sky.jpg", "test")]


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def _backdrop(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    base = rng.integers(30, 220, size=3)
    ramp = np.linspace(-30, 30, w)[None, :, None]
    noise = rng.normal(0, 6, size=(h, w, 3))
    return np.clip(base[None, None, :] + ramp + noise, 0, 255).astype(np.uint8)


def _figure(h: int, w: int, rng: np.random.Generator):
    """(picture RGB uint8, matte float32, face box) of a head-and-shoulders figure."""
    img = _backdrop(h, w, rng)
    m = np.zeros((h, w), np.uint8)
    cx, cy, r = w // 2, int(h * 0.38), int(w * 0.16)
    cv2.ellipse(m, (cx, int(h * 0.95)), (int(w * 0.38), int(h * 0.35)), 0, 180, 360, 255, -1)
    cv2.circle(m, (cx, cy), r, 255, -1)
    shirt = rng.integers(20, 230, size=3)
    skin = np.array([205, 160, 130]) + rng.integers(-25, 25, size=3)
    body = np.zeros_like(img)
    body[:] = shirt
    yy = np.arange(h)[:, None]
    body[(yy < cy + r).repeat(w, 1)] = skin
    body = np.clip(body + rng.normal(0, 5, size=img.shape), 0, 255)
    alpha = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 1.2)
    out = img * (1 - alpha[..., None]) + body * alpha[..., None]
    face = (cx - r, cy - r, 2 * r, 2 * r)
    return np.clip(out, 0, 255).astype(np.uint8), alpha, face


def make_tiny_corpus(root: Path, seed: int = 0, sources: dict[str, str] | None = None) -> Path:
    """Writes the tiny corpus under ``root`` and returns ``root``. ``sources``: picture name ->
    the source its manifest row names (default ``t`` for every picture)."""
    sources = sources or {}
    rng = np.random.default_rng(seed)
    rows = []
    for name, ident, split, people in PEOPLE:
        img, alpha, face = _figure(120, 96, rng)
        mask = f"people/masks/{Path(name).stem}.png"
        _write(root / name, img)
        (root / mask).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / mask), np.rint(alpha * 255).astype(np.uint8))
        rows.append(CorpusEntry(name, "person", split, ident, people, mask, "test", (face,),
                                sources.get(name, "t"), f"drawn {name}", "CC0 (drawn in the test)", ""))
    for name, split in OBJECTS:
        img, alpha, _ = _figure(96, 128, rng)
        mask = f"objects/masks/{Path(name).stem}.png"
        _write(root / name, img)
        cv2.imwrite(str((root / mask).parent.mkdir(parents=True, exist_ok=True) or root / mask),
                    np.rint(alpha * 255).astype(np.uint8))
        rows.append(CorpusEntry(name, "object", split, Path(name).stem, 0, mask, "test", (),
                                "t", f"drawn {name}", "CC0 (drawn in the test)", ""))
    for name, split in SCENES:
        _write(root / name, _backdrop(96, 128, rng))
        rows.append(CorpusEntry(name, "scene", split, Path(name).name, 0, "", "", (),
                                "t", f"drawn {name}", "CC0 (drawn in the test)", ""))
    lines = ["\t".join(COLUMNS)] + ["\t".join(e.row()) for e in sorted(rows, key=lambda e: e.name)]
    (root / MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
