"""The corpus manifest (``MANIFEST.tsv`` written by ``phnet-corpus``): one row per picture.

Layout of a corpus folder::

    MANIFEST.tsv                 this table, tab-separated, header row, sorted by name
    scenes/<source>__<stem>.jpg  backgrounds and silhouette sources (no person in them)
    people/<...>.jpg             real people (single portraits, and crops of group photos)
    people/masks/<stem>.png      their mattes (grey uint8, 255 = person, soft edges kept)
    objects/<...>.jpg            real subjects (animals, objects) on their real background
    objects/masks/<stem>.png     their masks
    licences/                    the Debian packages' copyright files

Columns (:data:`COLUMNS`): ``name`` (the path above), ``kind`` (``scene`` | ``person`` |
``object``), ``split`` (``train`` | ``val`` | ``test``, fixed at corpus time: people by identity,
the rest by source photo), ``group`` (the unit the split keeps together: a person's identity, or
the source photo of group crops, objects and scenes), ``people`` (persons in the picture),
``mask`` and ``mask_source`` (how the mask was made: ``labelme``, ``rvm``, ``selfie``,
``object``), ``faces`` (``x,y,w,h;...`` in the picture's pixels), ``source``, ``original``,
``licence``, ``sha256``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MANIFEST", "COLUMNS", "ENTRY_KINDS", "CorpusEntry", "read_manifest",
           "parse_faces", "format_faces", "hash_fraction"]

MANIFEST = "MANIFEST.tsv"
COLUMNS = ("name", "kind", "split", "group", "people", "mask", "mask_source", "faces",
           "source", "original", "licence", "sha256")
ENTRY_KINDS = ("scene", "person", "object")

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class CorpusEntry:
    """One manifest row. Paths are relative to the corpus folder (POSIX)."""

    name: str
    kind: str
    split: str
    group: str
    people: int = 0
    mask: str = ""
    mask_source: str = ""
    faces: tuple[Box, ...] = ()
    source: str = ""
    original: str = ""
    licence: str = ""
    sha256: str = ""

    def row(self) -> tuple[str, ...]:
        """The entry as manifest fields, in :data:`COLUMNS` order."""
        values = {**self.__dict__, "people": str(self.people), "faces": format_faces(self.faces)}
        return tuple(str(values[c]).replace("\t", " ").replace("\n", " ") for c in COLUMNS)


def parse_faces(text: str) -> tuple[Box, ...]:
    """``"x,y,w,h;x,y,w,h"`` -> boxes; ``""`` -> ``()``. Raises ValueError on a malformed box."""
    boxes = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        nums = [int(float(v)) for v in part.split(",")]
        if len(nums) != 4 or nums[2] <= 0 or nums[3] <= 0:
            raise ValueError(f"a face box must be x,y,w,h with w, h > 0, got {part!r}")
        boxes.append(tuple(nums))
    return tuple(boxes)


def format_faces(boxes) -> str:
    return ";".join(",".join(str(int(v)) for v in box) for box in boxes)


def read_manifest(root: str | os.PathLike) -> list[CorpusEntry]:
    """The entries of ``root/MANIFEST.tsv``, in file order.

    Raises:
        ValueError: no manifest (the folder is not a corpus made by ``phnet-corpus``), a header
            without the columns of :data:`COLUMNS`, or a malformed row (the line is named).
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise ValueError(f"{root} has no {MANIFEST}: build the corpus with `phnet-corpus --out {root}`")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}: the header lacks {', '.join(missing)} (an older corpus? "
                         f"rebuild it with phnet-corpus)")
    col = {c: header.index(c) for c in COLUMNS}
    entries = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < len(header):
            raise ValueError(f"{path}:{lineno}: {len(fields)} fields, expected {len(header)}")
        f = {c: fields[i] for c, i in col.items()}
        try:
            entry = CorpusEntry(**{**f, "people": int(f["people"] or 0),
                                   "faces": parse_faces(f["faces"])})
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from None
        if entry.kind not in ENTRY_KINDS:
            raise ValueError(f"{path}:{lineno}: kind must be one of {', '.join(ENTRY_KINDS)}, "
                             f"got {entry.kind!r}")
        if entry.split not in ("train", "val", "test"):
            raise ValueError(f"{path}:{lineno}: split must be train, val or test, got {entry.split!r}")
        if entry.kind != "scene" and not entry.mask:
            raise ValueError(f"{path}:{lineno}: a {entry.kind} needs a mask file")
        entries.append(entry)
    return entries


def hash_fraction(key: str) -> float:
    """A fixed number in [0, 1) for ``key`` (SHA-256), for splits that never move."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64
