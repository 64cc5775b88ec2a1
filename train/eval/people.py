"""Harmonisation judged on real people: the evaluation that would have caught the green face.

``phnet-eval --people --data-root CORPUS --split test`` runs four measurements on the corpus's
held-out people (``phnet-corpus``; people are split by identity, see :mod:`train.corpus.manifest`):

- **recolour**: the person's colours perturbed by the paper's foreground augmentation (FFHQH's
  recipe, :mod:`train.data.corpus` ``people`` triples): fMSE / fPSNR against the photo. Can
  the method bring the person back?
- **identity**: the photo itself goes in (composite = real): fMSE against the photo. How much
  does the method harm a consistent person? 0 is perfect; the composite scores 0.
- **new backgrounds**: each held-out person (soft matte) over each bundled camera background
  and a few held-out scene photos. No ground truth exists, so the alarm is the person's own
  colour: the mean shift of the person's pixels (matte >= 0.95: the blended edge, which holds
  background colour by design, is left out) in CIE Lab (OpenCV's 8-bit scale,
  0-255: L, a, b), output minus photo, and on the face (where the manifest has a face box) the
  shift of the skin region :func:`train.corpus.faces.face_skin_region`. A harmoniser may change the
  light (L, and a little a/b), but a face turning green shows as a large negative ``da``.
- **temporal**: flicker and fR-RTC on synthetic video made from held-out portraits
  (:mod:`train.eval.temporal`), unsmoothed and smoothed.

Every method sees the same pictures; ``h.reset()`` before each still.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..data.corpus import person_crop
from ..corpus.manifest import read_manifest
from ..data.base import DataConfig, _resize, read_mask, read_rgb

log = logging.getLogger(__name__)

__all__ = ["PersonStill", "load_people", "bundled_backgrounds", "scene_backgrounds",
           "cover", "lab_shift", "new_background_shifts", "format_shift_markdown"]

BUNDLED_BACKGROUNDS = ("dune", "meadow", "storm")
CORE_ALPHA = 0.95
"""Pixels with at least this much matte are the person's own colour (the edge is a blend)."""
"""The camera's bundled backgrounds (``vcam/assets/bg_<name>.jpg``)."""


@dataclass
class PersonStill:
    """One held-out person: RGB uint8 HxWx3, soft matte float32 HxW in [0, 1], face boxes
    (x, y, w, h) in the still's pixels."""

    name: str
    image: np.ndarray
    alpha: np.ndarray
    faces: tuple[tuple[int, int, int, int], ...] = ()


def _scale_boxes(boxes, sx: float, sy: float, dx: int = 0, dy: int = 0):
    return tuple((round((x - dx) * sx), round((y - dy) * sy), max(1, round(w * sx)),
                  max(1, round(h * sy))) for x, y, w, h in boxes)


def load_people(root: str | Path, split: str = "test", size: int | None = 256,
                single_only: bool = False) -> list[PersonStill]:
    """The ``split``'s people of the corpus at ``root``.

    ``size``: a square ``size`` x ``size`` cut around the person as the evaluation crops do
    (:func:`train.data.corpus.person_crop`, fixed window), or ``None`` for the whole picture.
    ``single_only``: single portraits only (no group crops).
    """
    entries = [e for e in read_manifest(root) if e.kind == "person" and e.split == split
               and (e.people <= 1 or not single_only)]
    stills = []
    for e in sorted(entries, key=lambda e: e.name):
        img = read_rgb(Path(root) / e.name)
        alpha = read_mask(Path(root) / e.mask)
        if alpha.shape != img.shape[:2]:
            alpha = _resize(alpha, img.shape[1], img.shape[0])
        faces = e.faces
        if size is not None:
            top, left, side = person_crop(alpha, None)
            img = _resize(img[top:top + side, left:left + side], size, size)
            alpha = _resize(alpha[top:top + side, left:left + side], size, size)
            faces = _scale_boxes(faces, size / side, size / side, left, top)
        # Resampling can overshoot 1 by a rounding error; the harmonisers check the range.
        alpha = np.clip(alpha, 0.0, 1.0, dtype=np.float32)
        stills.append(PersonStill(e.name, np.ascontiguousarray(img), alpha, faces))
    return stills


def bundled_backgrounds() -> dict[str, np.ndarray]:
    """The camera's bundled backgrounds as RGB uint8, found through the installed ``vcam``
    package's files (no camera code is imported)."""
    spec = importlib.util.find_spec("vcam")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the vcam package (and its bundled backgrounds) is not installed")
    assets = Path(list(spec.submodule_search_locations)[0]) / "assets"
    return {name: read_rgb(assets / f"bg_{name}.jpg") for name in BUNDLED_BACKGROUNDS}


def scene_backgrounds(root: str | Path, split: str = "test", count: int = 3) -> dict[str, np.ndarray]:
    """``count`` scene photos of ``split`` (evenly spread over the sorted names)."""
    scenes = sorted((e for e in read_manifest(root) if e.kind == "scene" and e.split == split),
                    key=lambda e: e.name)
    if not scenes or count < 1:
        return {}
    picks = sorted({int(i) for i in np.linspace(0, len(scenes) - 1, num=min(count, len(scenes)))})
    return {Path(scenes[i].name).stem: read_rgb(Path(root) / scenes[i].name) for i in picks}


def cover(background: np.ndarray, height: int, width: int) -> np.ndarray:
    """``background`` scaled to cover ``height`` x ``width`` and cut at the centre (RGB uint8)."""
    bh, bw = background.shape[:2]
    s = max(height / bh, width / bw)
    size = (max(width, math.ceil(bw * s)), max(height, math.ceil(bh * s)))
    big = cv2.resize(background, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    top, left = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return np.ascontiguousarray(big[top:top + height, left:left + width])


def composite_over(still: PersonStill, background: np.ndarray) -> np.ndarray:
    """The person blended over ``background`` by the soft matte (RGB uint8)."""
    h, w = still.alpha.shape
    bg = cover(background, h, w).astype(np.float32)
    a = still.alpha[..., None]
    return np.clip(np.rint(bg + a * (still.image.astype(np.float32) - bg)), 0, 255).astype(np.uint8)


def lab_shift(before: np.ndarray, after: np.ndarray, region: np.ndarray) -> tuple[float, float, float] | None:
    """Mean CIE Lab difference ``after - before`` over ``region`` (bool HxW), on OpenCV's 8-bit
    Lab scale (L, a, b each 0-255; a, b centred on 128). None when the region is empty."""
    if not region.any():
        return None
    lab0 = cv2.cvtColor(before, cv2.COLOR_RGB2LAB).astype(np.float64)[region]
    lab1 = cv2.cvtColor(after, cv2.COLOR_RGB2LAB).astype(np.float64)[region]
    d = (lab1 - lab0).mean(axis=0)
    return float(d[0]), float(d[1]), float(d[2])


def _skin_region(still: PersonStill) -> np.ndarray | None:
    if not still.faces:
        return None
    from ..corpus.faces import face_skin_region

    h, w = still.alpha.shape
    region = np.zeros((h, w), bool)
    for box in still.faces:
        x, y, bw, bh = face_skin_region(box, h, w)
        region[max(0, y):max(0, y + bh), max(0, x):max(0, x + bw)] = True
    region &= still.alpha >= CORE_ALPHA
    return region if region.any() else None


@dataclass
class ShiftResult:
    """Per background and method: the mean over people of the person's and the skin's Lab shift
    (signed ``dL, da, db`` and the mean of ``|da|``, ``|db|``), and the per-person rows."""

    backgrounds: list[str] = field(default_factory=list)
    methods: dict[str, dict[str, dict]] = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    n_people: int = 0
    n_faces: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _summarise(shifts: list[tuple[float, float, float]]) -> dict:
    if not shifts:
        return {"n": 0}
    a = np.asarray(shifts)
    return {"n": len(shifts), "dL": float(a[:, 0].mean()), "da": float(a[:, 1].mean()),
            "db": float(a[:, 2].mean()), "abs_da": float(np.abs(a[:, 1]).mean()),
            "abs_db": float(np.abs(a[:, 2]).mean()), "max_abs_ab": float(np.abs(a[:, 1:]).max())}


def new_background_shifts(harmonisers: dict[str, object], people: list[PersonStill],
                          backgrounds: dict[str, np.ndarray],
                          keep: Callable[[str, str, str, np.ndarray], None] | None = None) -> ShiftResult:
    """Every person over every background through every method; the person's Lab shift
    (output vs the person's photo) per background and method. ``keep(person, background,
    method, output)`` sees every output (for a picture grid)."""
    if not people:
        raise ValueError("no people to evaluate (is the corpus's people split empty?)")
    skins = [_skin_region(p) for p in people]
    res = ShiftResult(backgrounds=list(backgrounds), n_people=len(people),
                      n_faces=sum(1 for skin in skins if skin is not None))
    acc: dict[tuple[str, str, str], list] = {}
    for person, skin in zip(people, skins):
        body = person.alpha >= CORE_ALPHA
        for bg_name, bg in backgrounds.items():
            comp = composite_over(person, bg)
            for label, h in harmonisers.items():
                if hasattr(h, "reset"):
                    h.reset()
                out = h(comp, person.alpha)
                if keep is not None:
                    keep(person.name, bg_name, label, out)
                s_body = lab_shift(person.image, out, body)
                s_skin = lab_shift(person.image, out, skin) if skin is not None else None
                res.rows.append({"person": person.name, "background": bg_name, "method": label,
                                 "body": s_body, "skin": s_skin})
                if s_body is not None:
                    acc.setdefault((bg_name, label, "body"), []).append(s_body)
                if s_skin is not None:
                    acc.setdefault((bg_name, label, "skin"), []).append(s_skin)
    for label in harmonisers:
        res.methods[label] = {
            bg: {part: _summarise(acc.get((bg, label, part), [])) for part in ("body", "skin")}
            for bg in backgrounds
        }
    return res


def _f(x, digits: int = 1) -> str:
    return "–" if x is None else f"{x:+.{digits}f}"


def format_shift_markdown(res: ShiftResult) -> str:
    """Markdown: one row per background and method, the person's and the face's Lab shift."""
    lines = [
        f"## New backgrounds: the person's colour shift ({res.n_people} people, "
        f"{res.n_faces} with a face box)",
        "",
        "Mean CIE Lab shift of the person's pixels (matte >= 0.95), output minus the person's own photo, OpenCV "
        "8-bit scale (0-255); |da|, |db| are means of each person's absolute shift. No ground "
        "truth exists here: a harmoniser should change the light a little, never the skin "
        "(a large negative da is a green face).",
        "",
        "| Background | Method | dL | da | db | mean abs(da) | mean abs(db) | face dL | face da | face db |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for bg in res.backgrounds:
        for label, per_bg in res.methods.items():
            b, s = per_bg[bg]["body"], per_bg[bg]["skin"]
            if not b.get("n"):
                continue
            lines.append(
                f"| {bg} | {label} | {_f(b['dL'])} | {_f(b['da'])} | {_f(b['db'])} | "
                f"{b['abs_da']:.1f} | {b['abs_db']:.1f} | {_f(s.get('dL'))} | {_f(s.get('da'))} | "
                f"{_f(s.get('db'))} |")
    return "\n".join(lines) + "\n"


def people_grid(people: list[PersonStill], backgrounds: dict[str, np.ndarray],
                harmonisers: dict[str, object], path: str | Path, tile: int = 176) -> Path:
    """A JPEG/PNG grid: one row per person, for each background the composite and every
    method's output side by side (the composite method is the first column of each group)."""
    from .grid import _label

    rows = []
    for r, person in enumerate(people):
        cells = []
        for bg_name, bg in backgrounds.items():
            comp = composite_over(person, bg)
            for label, h in harmonisers.items():
                if hasattr(h, "reset"):
                    h.reset()
                out = comp if label == "composite" else h(comp, person.alpha)
                img = cv2.resize(out, (round(out.shape[1] * tile / out.shape[0]), tile),
                                 interpolation=cv2.INTER_AREA)
                cells.append(_label(img, f"{bg_name}: {label}") if r == 0 else img)
            cells.append(np.full((cells[-1].shape[0], 6, 3), 255, np.uint8))
        rows.append(np.hstack(cells[:-1]))
    grid = np.vstack(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR), params):
        raise ValueError(f"cannot write the grid to {path} (extension .png or .jpg expected)")
    return path


def people_data_config(root: str, mix: str, size: int | None, samples: int, seed: int = 0) -> DataConfig:
    """The corpus data set of one people measurement (``mix`` ``people:1`` or ``identity:1``)."""
    return DataConfig(kind="corpus", root=str(root), mix=mix, size=size,
                      samples_per_image=samples, seed=seed)
