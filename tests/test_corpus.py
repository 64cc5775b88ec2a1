"""The corpus builder's parts that need no network: the Qt resource reader, licence notes,
people geometry and splits, labelme masks, the HDRI view, and a whole build from stand-in
sources (layout, manifest, splits, reproducibility)."""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from train.corpus import build as corpus
from train.corpus.fetch import credits_by_file, desktop_credit
from train.corpus.manifest import COLUMNS, hash_fraction, read_manifest
from train.corpus.people import (MIN_CROP_SIDE, PEOPLE, PEOPLE_SPLITS, PeopleTools, faces_in,
                                 head_and_shoulders, labelme_person_mask, solvay_boxes)
from train.corpus.photo import Photo
from train.corpus.hdri import perspective_view, tone_map
from train.corpus.rcc import RccError, iter_rcc, read_rcc


# --------------------------------------------------------------------------- .rcc reader

def _rcc(files: dict[str, tuple[bytes, bool]], version: int = 3) -> bytes:
    """A Qt resource bundle holding ``{"dir/name": (content, compressed)}``, written the way
    ``rcc -binary`` lays it out (folders breadth first, children contiguous)."""
    tree: dict = {}
    for path, value in files.items():
        node = tree
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = value
    names, data = bytearray(), bytearray()
    name_offsets: dict[str, int] = {}

    def name_offset(name: str) -> int:
        if name not in name_offsets:
            name_offsets[name] = len(names)
            encoded = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(name), 0) + encoded)
        return name_offsets[name]

    nodes: list[bytes | None] = [None]  # the root, filled in below
    queue = [(0, tree)]
    while queue:
        index, folder = queue.pop(0)
        first = len(nodes)
        children = sorted(folder.items())
        nodes.extend([None] * len(children))
        for k, (name, value) in enumerate(children):
            if isinstance(value, dict):
                queue.append((first + k, value))
                nodes[first + k] = (name, value)  # placeholder, fixed when dequeued
            else:
                content, compressed = value
                blob = struct.pack(">I", len(content)) + zlib.compress(content) if compressed \
                    else content
                offset = len(data)
                data.extend(struct.pack(">I", len(blob)) + blob)
                nodes[first + k] = struct.pack(">IHHHI", name_offset(name), 1 if compressed
                                               else 0, 0, 0, offset)
        own = name_offset(nodes[index][0]) if index else 0
        nodes[index] = struct.pack(">IHII", own, 2, len(children), first)
    tail = b"\0" * 8 if version >= 2 else b""
    tree_bytes = b"".join(n + tail for n in nodes)
    header_size = 20 if version < 3 else 24
    tree_off = header_size
    data_off = tree_off + len(tree_bytes)
    names_off = data_off + len(data)
    header = b"qres" + struct.pack(">IIII", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + tree_bytes + bytes(data) + bytes(names)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader_plain_and_compressed(tmp_path, version):
    files = {
        "gcompris/src/music/README": (b"Copyright: someone\nLicense: CC0-1.0\nFiles: a.webp\n",
                                      False),
        "gcompris/src/music/a.webp": (bytes(range(256)) * 40, True),
        "gcompris/src/other/b.txt": ("h\u00e9llo".encode(), False),
        "top.bin": (b"", False),
    }
    blob = _rcc(files, version)
    path = tmp_path / "bundle.rcc"
    path.write_bytes(blob)
    got = read_rcc(path)
    assert got == {k: v[0] for k, v in files.items()}
    assert [p for p, _ in iter_rcc(blob)] == ["gcompris/src/music/README",
                                              "gcompris/src/music/a.webp",
                                              "gcompris/src/other/b.txt", "top.bin"]


def test_rcc_reader_rejects_bad_bundles():
    good = _rcc({"a/b": (b"xyz", True)})
    with pytest.raises(RccError, match="magic"):
        list(iter_rcc(b"nope" + good[4:]))
    with pytest.raises(RccError, match="version"):
        list(iter_rcc(good[:4] + struct.pack(">I", 9) + good[8:]))
    with pytest.raises(RccError):
        list(iter_rcc(good[:-12]))  # names table cut short


# --------------------------------------------------------------------------- licence notes

def test_gcompris_readme_credits():
    text = ("Copyright: Timothee Giet, 2020\nLicense: CC-BY-SA 4.0\nFiles:\nsuitcase.svg\n\n"
            "Copyright: Tom Harpel\nLicense: CC-BY 2.0\n"
            "Source: https://commons.wikimedia.org/wiki/File:Onalaska-Practice6.jpg\n"
            "Files:\nwonders/america.webp\n\n"
            "Copyright: 2000, 2008 Bruno Coudoin and others\nLicense: CC-BY 4.0\n"
            "EilanDonanCastle_0.webp\nEilanDonanCastle_background.webp\n"
            "Comment: based on a photo by G. P., license CC-BY 3.0, source at https://x.org/y\n")
    credits = credits_by_file(text)
    assert credits["wonders/america.webp"] == ("CC-BY 2.0; (c) Tom Harpel; "
                                               "https://commons.wikimedia.org/wiki/File:"
                                               "Onalaska-Practice6.jpg")
    assert credits["EilanDonanCastle_background.webp"].startswith(
        "CC-BY 4.0; (c) 2000, 2008 Bruno Coudoin and others; based on a photo by G. P.")
    assert "suitcase.svg" in credits
    desktop = ("[Desktop Entry]\nName=Bee\nX-KDE-PluginInfo-Author=John Severns\n"
               "X-KDE-PluginInfo-Website=http://commons.wikimedia.org/wiki/Image:B.jpg\n"
               "X-KDE-PluginInfo-License=Public Domain\n")
    assert desktop_credit(desktop) == ("Public Domain; (c) John Severns; "
                                       "http://commons.wikimedia.org/wiki/Image:B.jpg")


# --------------------------------------------------------------------------- people

def test_people_split_table_is_complete_and_held_out():
    identities = {r.identity for photos in PEOPLE.values() for r in photos.values()}
    assert identities == set(PEOPLE_SPLITS), "every people photo has a reviewed split"
    assert set(PEOPLE_SPLITS.values()) == {"train", "val", "test"}
    singles = {r.identity for photos in PEOPLE.values() for r in photos.values() if r.people == 1}
    test_singles = {i for i in singles if PEOPLE_SPLITS[i] == "test"}
    assert len(test_singles) * 3 >= len(singles)
    for required in ("astronaut", "grace-hopper", "biden", "rmagick-flower-hat"):
        assert PEOPLE_SPLITS[required] == "test"
    groups = {r.identity for photos in PEOPLE.values() for r in photos.values() if r.people > 1}
    assert {g for g in groups if PEOPLE_SPLITS[g] == "test"}, "some group photos are held out"
    # One identity, several photos: obama's three portraits share one identity (and so a split).
    assert {r.identity for s, r in PEOPLE["face-recognition"].items() if s.startswith("obama")} \
        == {"obama"}


def test_head_and_shoulders_geometry():
    # 3 face widths centred on the face, 4 face heights from 0.9 face heights above it.
    assert head_and_shoulders((100, 100, 40, 50), 1000, 1000) == (60, 55, 120, 200)
    # Clipped, never shifted, at the picture's edges.
    assert head_and_shoulders((0, 10, 40, 50), 150, 1000) == (0, 0, 80, 150)
    x, y, w, h = head_and_shoulders((900, 900, 80, 80), 1000, 1000)
    assert (x + w, y + h) == (1000, 1000)
    faces = [(100, 100, 40, 50), (150, 120, 40, 40), (400, 400, 40, 40), (170, 20, 20, 20)]
    crop = head_and_shoulders(faces[0], 1000, 1000)
    # The second face's centre (170, 140) is inside; the third is far; the fourth's centre
    # (180, 30) is above the crop.
    assert faces_in(crop, faces) == [(40, 45, 40, 50), (90, 65, 30, 40)]


def test_labelme_polygons_to_mask():
    annotation = {
        "imageHeight": 40, "imageWidth": 60,
        "shapes": [
            {"label": "person", "shape_type": "polygon", "group_id": None,
             "points": [[0, 0], [9, 0], [9, 9], [0, 9]]},
            # One person drawn in two parts (same group_id).
            {"label": "person", "shape_type": "polygon", "group_id": 0,
             "points": [[20, 20], [29, 20], [29, 29], [20, 29]]},
            {"label": "person", "shape_type": "polygon", "group_id": 0,
             "points": [[40, 20], [49, 20], [49, 29]]},
            {"label": "bottle", "shape_type": "polygon", "group_id": None,
             "points": [[50, 0], [59, 0], [59, 9], [50, 9]]},
            {"label": "__ignore__", "shape_type": "polygon", "group_id": None,
             "points": [[30, 0], [39, 0], [39, 9]]},
        ],
    }
    mask, count = labelme_person_mask(annotation)
    assert mask.shape == (40, 60) and mask.dtype == np.float32
    assert count == 2
    assert mask[0:10, 0:10].all() and mask[20:30, 20:30].all()
    assert mask[5, 55] == 0 and mask[2, 38] == 0  # bottle and ignored region left out
    assert mask[25, 47] == 1 and mask[28, 41] == 0  # the triangle's inside / outside
    assert mask.sum() == 100 + 100 + 55
    with pytest.raises(ValueError, match="imageHeight"):
        labelme_person_mask({"shapes": []})


def test_solvay_ground_truth_parsing():
    text = ("detection_0\n376 35\n376 114\n454 35\n454 114\n"
            "detection_1\n10 20\n10 30\n16 20\n16 30\n")
    assert solvay_boxes(text) == [(35, 376, 79, 78), (20, 10, 10, 6)]


# --------------------------------------------------------------------------- HDRI

def test_hdri_view_and_tone_map():
    pano = np.zeros((64, 128, 3), np.float32)
    pano[:, :, 0] = np.arange(128, dtype=np.float32)[None, :]  # longitude ramp
    pano[:, :, 1] = np.arange(64, dtype=np.float32)[:, None]  # latitude ramp
    view = perspective_view(pano, 33, 25, fov_deg=90)
    # The view's centre looks at the panorama's centre; 45 degrees either side is a quarter
    # turn = 32 columns, level with the horizon.
    assert view[12, 16, 0] == pytest.approx(63.5, abs=0.6)
    assert view[12, 16, 1] == pytest.approx(31.5, abs=0.6)
    assert view[12, 0, 0] == pytest.approx(63.5 - 16, abs=1.0)
    assert np.all(np.diff(view[12, :, 0]) > 0)
    hdr = np.random.default_rng(0).lognormal(0, 2, size=(40, 40, 3)).astype(np.float32)
    ldr = tone_map(hdr)
    assert ldr.dtype == np.uint8 and ldr.shape == hdr.shape
    grey = tone_map(np.full((4, 4, 3), 7.0, np.float32))
    # Median to 0.18, Reinhard 0.18 / 1.18 = 0.153 linear, sRGB 0.43 -> 110.
    assert np.all(np.abs(grey.astype(int) - 110) <= 1)


# --------------------------------------------------------------------------- a whole build

def _picture(seed: int, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    low = rng.uniform(20, 235, size=(5, 6, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _fake_source(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    licences["fake"] = "Files: *\nLicense: CC0\n"
    for k in range(4):
        yield Photo(f"scene{k}", _picture(k, 300, 400), f"fake 1.0: scene{k}.jpg", "CC0", ".jpg")
    yield Photo("portrait", _picture(10, 600, 400), "fake 1.0: portrait.jpg", "CC0", ".jpg",
                kind="person", group="obama", people=1)
    yield Photo("portrait2", _picture(11, 500, 400), "fake 1.0: portrait2.jpg", "CC0", ".jpg",
                kind="person", group="obama", people=1)
    yield Photo("held-out", _picture(12, 500, 400), "fake 1.0: held-out.jpg", "CC0", ".jpg",
                kind="person", group="biden", people=1)
    # A group photo with its own face boxes: 3 faces give crops, the tiny one does not.
    yield Photo("group", _picture(13, 800, 1200), "fake 1.0: group.jpg", "CC0", ".jpg",
                kind="person", group="solvay-1927", people=4,
                faces=((100, 100, 80, 90), (200, 130, 80, 80), (700, 300, 100, 100),
                       (1000, 50, 20, 20)))
    mask = np.zeros((300, 400), np.float32)
    mask[100:200, 150:250] = 1.0
    yield Photo("animal", _picture(14, 300, 400), "fake 1.0: animal.jpg", "CC0", ".jpg",
                kind="object", mask=mask, mask_source="object")


@pytest.fixture
def fake_corpus(monkeypatch):
    def matte(self, rgb):
        alpha = np.zeros(rgb.shape[:2], np.float32)
        alpha[rgb.shape[0] // 5:, rgb.shape[1] // 5:-rgb.shape[1] // 5] = 1.0
        return cv2.GaussianBlur(alpha, (5, 5), 0), "rvm"

    monkeypatch.setattr(PeopleTools, "matte", matte)
    monkeypatch.setattr(PeopleTools, "faces", lambda self, rgb: [(150, 100, 100, 110)])
    monkeypatch.setitem(corpus.SOURCES, "fake", (_fake_source,))


def test_build_layout_manifest_and_splits(tmp_path, fake_corpus):
    out = tmp_path / "corpus"
    assert corpus.build_corpus(out, ["fake"], max_side=600) == \
        {"fake": {"scene": 4, "person": 6, "object": 1}}
    entries = {e.name: e for e in read_manifest(out)}
    header = (out / "MANIFEST.tsv").read_text().splitlines()[0]
    assert tuple(header.split("\t")) == COLUMNS
    names = sorted(entries)
    assert names == [
        "objects/fake__animal.jpg",
        "people/fake__group-p1.jpg", "people/fake__group-p2.jpg", "people/fake__group-p3.jpg",
        "people/fake__held-out.jpg", "people/fake__portrait.jpg", "people/fake__portrait2.jpg",
        "scenes/fake__scene0.jpg", "scenes/fake__scene1.jpg", "scenes/fake__scene2.jpg",
        "scenes/fake__scene3.jpg",
    ]
    for e in entries.values():
        img = cv2.imread(str(out / e.name))
        assert img is not None
        if e.kind == "scene":
            assert e.mask == "" and e.mask_source == "" and e.people == 0
            assert e.group == e.name.split("/", 1)[1]
            f = hash_fraction(e.group)
            assert e.split == ("test" if f < 0.1 else "val" if f < 0.2 else "train")
            continue
        folder = e.name.split("/")[0]
        assert e.mask == f"{folder}/masks/{Path(e.name).stem}.png"
        mask = cv2.imread(str(out / e.mask), cv2.IMREAD_UNCHANGED)
        assert mask.dtype == np.uint8 and mask.ndim == 2 and mask.shape == img.shape[:2]
        assert 0 < mask.mean() < 255
        for x, y, w, h in e.faces:
            assert 0 <= x and 0 <= y and x + w <= img.shape[1] and y + h <= img.shape[0]
    # People split by identity: obama trains, biden is held out; the group's crops share one.
    assert {entries[n].split for n in ("people/fake__portrait.jpg",
                                       "people/fake__portrait2.jpg")} == {"train"}
    assert entries["people/fake__held-out.jpg"].split == "test"
    crops = [e for e in entries.values() if e.group == "solvay-1927"]
    assert len(crops) == 3 and {e.split for e in crops} == {"train"}
    splits_of_group: dict[str, set[str]] = {}
    for e in entries.values():
        splits_of_group.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in splits_of_group.values())
    # Crops: ~3 x 4 face sizes, the faces inside them, counted in `people`.
    p1 = entries["people/fake__group-p1.jpg"]
    assert cv2.imread(str(out / p1.name)).shape[:2] == (360, 240)
    assert p1.people == len(p1.faces) == 2 and p1.mask_source == "rvm"
    assert p1.faces == ((80, 81, 80, 90), (180, 111, 60, 80))  # the neighbour clipped
    assert min(cv2.imread(str(out / entries["people/fake__group-p3.jpg"].name)).shape[:2]) \
        >= MIN_CROP_SIDE
    single = entries["people/fake__portrait.jpg"]
    assert single.people == 1 and len(single.faces) == 1
    assert entries["objects/fake__animal.jpg"].mask_source == "object"
    assert (out / "licences/fake.copyright").is_file()


def test_build_is_reproducible_and_removes_stale_files(tmp_path, fake_corpus):
    a, b = tmp_path / "a", tmp_path / "b"
    corpus.build_corpus(a, ["fake"], max_side=512)
    (a / "scenes" / "fake__gone.jpg").write_bytes(b"old")
    (a / "fake__flat-layout.jpg").write_bytes(b"old")
    corpus.build_corpus(a, ["fake"], max_side=512)
    corpus.build_corpus(b, ["fake"], max_side=512)
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for name in files_a:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_build_refuses_unknown_sources(tmp_path):
    with pytest.raises(ValueError, match="unknown sources"):
        corpus.build_corpus(tmp_path, ["nope"])


def test_a_source_that_cannot_be_fetched_is_skipped_and_keeps_its_rows(tmp_path, fake_corpus,
                                                                       monkeypatch):
    from train.corpus.photo import SourceUnavailable

    out = tmp_path / "corpus"
    corpus.build_corpus(out, ["fake"], max_side=512)
    before = (out / "MANIFEST.tsv").read_bytes()

    def offline(tmp, licences):
        raise SourceUnavailable("apt-get download fake failed: no network")
        yield  # a generator, like every source

    monkeypatch.setitem(corpus.SOURCES, "fake", (offline,))
    result = corpus.build_corpus(out, ["fake"], max_side=512)
    assert result == {"fake": "skipped: apt-get download fake failed: no network"}
    assert (out / "MANIFEST.tsv").read_bytes() == before
    assert all((out / e.name).is_file() for e in read_manifest(out))
