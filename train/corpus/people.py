"""People sources of the corpus: real persons with their mattes and face boxes.

Sources (each photo reviewed by eye; :data:`PEOPLE` lists them with identity and head count):

- ``skimage``: the astronaut (NASA, public domain).
- ``matplotlib``: Grace Hopper (US Navy, public domain), from matplotlib's ``sample_data``.
- ``face-recognition``: the 1.3.0 source archive's test photos (official White House portraits):
  obama, obama2, obama3 (one identity) and biden.
- ``ruby-rmagick-doc``: Flower_Hat, Ballerina and Ballerina3 (taken as one identity), Shorts,
  Polynesia (a group).
- ``labelme-examples``: two PASCAL VOC photos whose person instances are annotated: the mask
  is the union of the person polygons (:func:`labelme_person_mask`).
- ``gtkmorph-example``: xmorph's two faces (AD/image1, AD/image2), two people.
- ``opencv-doc``: messi5; basketball1 (grey, two people).
- ``visp-images-data``: the 1927 Solvay conference photograph (grey), with ViSP's own face
  boxes, mapped onto the package's larger 2126 px version of the picture.
- ``gcompris-qt-data``: the world-music photos with musicians in them (inside
  ``explore_world_music.rcc``).

Each photo goes through :meth:`PeopleTools.finish`:

- Faces: the source's own boxes (Solvay) else :func:`train.corpus.faces.detect_faces` (none when that
  module is missing). A single portrait keeps only its largest face.
- Group photos (more than one person) become head-and-shoulders crops, one per face
  (:func:`head_and_shoulders`: ~3 face widths by 4 face heights, clipped to the picture; crops
  with a side under :data:`MIN_CROP_SIDE` px are dropped), named ``<stem>-p<k>``, with the faces
  inside them; the whole photo is kept only when it gives no crop (no face found, or all too
  small).
- Masks: the source's own (labelme) when it has one, else RVM
  (:class:`train.corpus.matting.PersonMatter`), else MediaPipe's selfie segmenter
  (:class:`train.corpus.selfie.PersonMasker`), recorded as ``labelme`` / ``rvm`` / ``selfie``. A
  crop's mask is the crop of the photo's own mask, or the matte of the crop itself. A picture
  whose mask covers under :data:`MIN_PERSON_AREA` of it is dropped.

Splits (:data:`PEOPLE_SPLITS`): a reviewed table by identity, or by source photo for group
photos, so that no person is in two splits and all crops of one photo share one. The set is too
small for a hash to give balanced splits. Held-out test: the astronaut, Grace Hopper, Biden,
RMagick's Flower_Hat, the crops of two GCompris music photos and one labelme photo; validation:
xmorph's image1, RMagick's Shorts and one GCompris music photo; the rest trains.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from train.corpus.fetch import copyright_stanzas, fetch_deb, fetch_sdist, licence_for
from train.corpus.photo import Photo, SourceUnavailable, decode_image
from train.corpus.scenes import (OPENCV_DATA, OPENCV_NOTE, gcompris_pictures, skimage_images)

logger = logging.getLogger(__name__)

__all__ = ["PEOPLE", "PEOPLE_SPLITS", "PEOPLE_SOURCES", "MIN_CROP_SIDE", "PeopleTools",
           "head_and_shoulders", "labelme_person_mask", "people_split"]

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Reviewed:
    """A people photo as reviewed by eye: its identity (or group photo) and head count."""

    identity: str
    people: int


PEOPLE: dict[str, dict[str, Reviewed]] = {
    # source -> {file stem: identity / group, persons in the picture}
    "skimage": {"astronaut": Reviewed("astronaut", 1)},
    "matplotlib": {"grace_hopper": Reviewed("grace-hopper", 1)},
    "face-recognition": {"obama": Reviewed("obama", 1), "obama2": Reviewed("obama", 1),
                         "obama3": Reviewed("obama", 1), "biden": Reviewed("biden", 1)},
    "ruby-rmagick-doc": {"Flower_Hat": Reviewed("rmagick-flower-hat", 1),
                         # The same dancer, as far as one can tell: one identity.
                         "Ballerina": Reviewed("rmagick-ballerina", 1),
                         "Ballerina3": Reviewed("rmagick-ballerina", 1),
                         "Shorts": Reviewed("rmagick-shorts", 1),
                         "Polynesia": Reviewed("rmagick-polynesia", 3)},
    "labelme-examples": {"2011_000003": Reviewed("labelme-2011_000003", 2),
                         "2011_000006": Reviewed("labelme-2011_000006", 4)},
    "gtkmorph-example": {"image1": Reviewed("xmorph-ad-image1", 1),
                         "image2": Reviewed("xmorph-ad-image2", 1)},
    "opencv-doc": {"messi5": Reviewed("messi", 1),
                   "basketball1": Reviewed("opencv-basketball1", 2)},
    "visp-images-data": {"solvay-1927": Reviewed("solvay-1927", 29)},
    "gcompris-qt-data": {"music-australia": Reviewed("gcompris-music-australia", 1),
                         "music-ireland": Reviewed("gcompris-music-ireland", 4),
                         "music-italy": Reviewed("gcompris-music-italy", 9),
                         "music-japan": Reviewed("gcompris-music-japan", 20),
                         "music-mexico": Reviewed("gcompris-music-mexico", 6),
                         "music-orchestra": Reviewed("gcompris-music-orchestra", 60)},
}
"""Every people photo the sources yield. Head counts of crowds are estimates; a group photo's
crops count the faces inside them."""

PEOPLE_SPLITS: dict[str, str] = {
    # held-out test: a third of the single-person identities and some group crops
    "astronaut": "test",
    "grace-hopper": "test",
    "biden": "test",
    "rmagick-flower-hat": "test",
    "gcompris-music-mexico": "test",
    "gcompris-music-italy": "test",
    "labelme-2011_000006": "test",
    # validation
    "xmorph-ad-image1": "val",
    "rmagick-shorts": "val",
    "gcompris-music-ireland": "val",
    # training
    "obama": "train",
    "rmagick-ballerina": "train",
    "xmorph-ad-image2": "train",
    "rmagick-polynesia": "train",
    "messi": "train",
    "opencv-basketball1": "train",
    "solvay-1927": "train",
    "gcompris-music-australia": "train",
    "gcompris-music-japan": "train",
    "gcompris-music-orchestra": "train",
    "labelme-2011_000003": "train",
}
"""Identity or group photo -> split, reviewed by hand."""


def people_split(identity: str) -> str:
    """The split of a person's identity (or group photo); "train" with a warning if unlisted."""
    split = PEOPLE_SPLITS.get(identity)
    if split is None:
        logger.warning("people: %r is not in PEOPLE_SPLITS; it trains. Review it and add it.",
                       identity)
        return "train"
    return split


# --------------------------------------------------------------------------- geometry

MIN_CROP_SIDE = 160
"""Head-and-shoulders crops whose shorter side is below this (px) are dropped."""
MIN_PERSON_AREA = 0.02
"""A picture whose person mask covers less than this share of it is dropped (crowds of tiny
figures, silhouettes against the light: RVM finds little or nothing there)."""
CROP_WIDTH = 3.0
CROP_HEIGHT = 4.0
"""A crop's size in face widths and face heights."""
CROP_ABOVE = 0.9
"""Face heights of room above the face box (hair, headroom); the rest is below (shoulders)."""


def head_and_shoulders(face: Box, height: int, width: int) -> Box:
    """``(x, y, w, h)`` of the head-and-shoulders crop around ``face`` (``x, y, w, h``), clipped
    to a ``height`` x ``width`` picture: :data:`CROP_WIDTH` face widths centred on the face,
    :data:`CROP_HEIGHT` face heights from :data:`CROP_ABOVE` face heights above it."""
    fx, fy, fw, fh = face
    cx = fx + fw / 2
    x0 = round(cx - CROP_WIDTH * fw / 2)
    y0 = round(fy - CROP_ABOVE * fh)
    x1 = x0 + round(CROP_WIDTH * fw)
    y1 = y0 + round(CROP_HEIGHT * fh)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def faces_in(crop: Box, faces: list[Box]) -> list[Box]:
    """The faces whose centre lies in ``crop``, clipped to it, in the crop's pixels."""
    cx0, cy0, cw, ch = crop
    out = []
    for x, y, w, h in faces:
        if cx0 <= x + w / 2 < cx0 + cw and cy0 <= y + h / 2 < cy0 + ch:
            x0, y0 = max(x, cx0), max(y, cy0)
            x1, y1 = min(x + w, cx0 + cw), min(y + h, cy0 + ch)
            out.append((x0 - cx0, y0 - cy0, x1 - x0, y1 - y0))
    return out


def labelme_person_mask(annotation: dict, label: str = "person") -> tuple[np.ndarray, int]:
    """(float32 HxW mask in {0, 1}, instance count) of the ``label`` shapes of a labelme JSON.

    The mask is the union of the polygons (and rectangles) labelled ``label``; shapes that share
    a ``group_id`` are one instance (labelme's way of drawing one person in several parts).

    Raises:
        ValueError: the annotation has no image size.
    """
    try:
        h, w = int(annotation["imageHeight"]), int(annotation["imageWidth"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"a labelme annotation needs imageHeight and imageWidth: {exc}") from exc
    mask = np.zeros((h, w), np.uint8)
    instances: set[object] = set()
    for i, shape in enumerate(annotation.get("shapes", [])):
        if shape.get("label") != label:
            continue
        points = np.asarray(shape.get("points", []), dtype=np.float64)
        kind = shape.get("shape_type") or "polygon"
        if kind == "rectangle" and len(points) == 2:
            (x0, y0), (x1, y1) = points
            points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        elif kind != "polygon" or len(points) < 3:
            continue
        cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
        group = shape.get("group_id")
        instances.add(("group", group) if group is not None else ("shape", i))
    return mask.astype(np.float32), len(instances)


# --------------------------------------------------------------------------- masks and faces

class PeopleTools:
    """Face boxes and person mattes for the people photos of one build, created on first use.

    Mattes: RVM, else the selfie segmenter; :meth:`matte` returns None when neither is there.
    Faces: :func:`train.corpus.faces.detect_faces`, or none when that module cannot be imported.
    """

    def __init__(self) -> None:
        self._matter = None
        self._matter_kind = ""
        self._matter_tried: list[str] = []
        self._detect = None
        self._detect_tried = False

    def __enter__(self) -> PeopleTools:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Releases the matting session; safe to call twice."""
        matter, self._matter = self._matter, None
        if matter is not None and hasattr(matter, "close"):
            matter.close()

    def matte(self, rgb: np.ndarray) -> tuple[np.ndarray, str] | None:
        """(float32 HxW alpha in [0, 1], "rvm" | "selfie") for an RGB uint8 photo, or None."""
        if self._matter is None and not self._matter_tried:
            self._start_matter()
        if self._matter is None:
            return None
        alpha = np.asarray(self._matter(np.ascontiguousarray(rgb)), dtype=np.float32)
        return np.clip(alpha, 0.0, 1.0), self._matter_kind

    def _start_matter(self) -> None:
        try:
            from train.corpus.matting import PersonMatter

            self._matter, self._matter_kind = PersonMatter(), "rvm"
            return
        except (ImportError, RuntimeError) as exc:  # MattingUnavailable is a RuntimeError
            self._matter_tried.append(f"RVM: {exc}")
        try:
            from train.corpus.selfie import PersonMasker

            self._matter, self._matter_kind = PersonMasker(), "selfie"
            logger.warning("people: RVM matting unavailable (%s); using the selfie segmenter",
                           self._matter_tried[-1])
        except (ImportError, OSError, RuntimeError) as exc:
            self._matter_tried.append(f"selfie segmenter: {exc}")
            logger.warning("people: no person matting available (%s); people are skipped",
                           "; ".join(self._matter_tried))

    def faces(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes ``(x, y, w, h)`` in ``rgb``'s pixels; [] when no detector is available."""
        if self._detect is None and not self._detect_tried:
            self._detect_tried = True
            try:
                from train.corpus.faces import detect_faces

                self._detect = detect_faces
            except ImportError as exc:
                logger.warning("people: no face detector (train.corpus.faces: %s); faces left empty",
                               exc)
        if self._detect is None:
            return []
        return [tuple(int(v) for v in box) for box in self._detect(np.ascontiguousarray(rgb))]

    def finish(self, photo: Photo) -> list[Photo]:
        """A raw people photo -> the pictures to write (itself, or its crops), with masks and
        faces; [] when no mask can be made."""
        h, w = photo.image.shape[:2]
        faces = list(photo.faces) if photo.faces else self.faces(photo.image)
        faces = sorted(faces, key=lambda b: (b[0], b[1], b[2], b[3]))
        if photo.people > 1:
            crops = []
            for face in faces:
                crop = head_and_shoulders(face, h, w)
                if min(crop[2], crop[3]) >= MIN_CROP_SIDE:
                    crops.append(crop)
                else:
                    logger.debug("%s: crop %s around face %s is too small", photo.name, crop,
                                 face)
            if crops:
                out = []
                for k, crop in enumerate(crops, start=1):
                    made = self._crop(photo, crop, faces, k)
                    if made is not None:
                        out.append(made)
                return out
            logger.info("%s: %d faces, no crop of %d px; the whole photo is kept", photo.name,
                        len(faces), MIN_CROP_SIDE)
        else:
            faces = [max(faces, key=lambda b: b[2] * b[3])] if faces else []
        return self._with_mask(photo.with_(faces=tuple(faces)))

    def _with_mask(self, photo: Photo) -> list[Photo]:
        if photo.mask is None:
            made = self.matte(photo.image)
            if made is None:
                logger.warning("%s: no mask (no matting available); skipped", photo.name)
                return []
            photo = photo.with_(mask=made[0], mask_source=made[1])
        area = float(photo.mask.mean())
        if area < MIN_PERSON_AREA:
            logger.warning("%s: the person mask covers %.1f %% of the picture (people too small "
                           "or not found); skipped", photo.name, 100 * area)
            return []
        return [photo]

    def _crop(self, photo: Photo, crop: Box, faces: list[Box], k: int) -> Photo | None:
        x, y, cw, ch = crop
        inside = faces_in(crop, faces)
        part = photo.with_(
            name=f"{photo.name}-p{k}",
            image=np.ascontiguousarray(photo.image[y:y + ch, x:x + cw]),
            mask=None if photo.mask is None else
            np.ascontiguousarray(photo.mask[y:y + ch, x:x + cw]),
            original=f"{photo.original} (crop x={x} y={y} w={cw} h={ch})",
            faces=tuple(inside), people=len(inside))
        made = self._with_mask(part)
        return made[0] if made else None


# --------------------------------------------------------------------------- sources

def _reviewed(source: str, stem: str) -> Reviewed:
    return PEOPLE[source][stem]


def _person(source: str, stem: str, rgb: np.ndarray, original: str, licence: str,
            **extra) -> Photo:
    r = _reviewed(source, stem)
    return Photo(stem, rgb, original, licence, ".jpg", kind="person", group=r.identity,
                 people=r.people, **extra)


def _skimage(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    names = {"astronaut": ("astronaut.png", "public domain (NASA; Eileen Collins)")}
    for name, rgb, original, licence, _ext in skimage_images(names):
        yield _person("skimage", name, rgb, original, licence)


def _matplotlib(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    licence = "public domain (US Navy portrait of Grace Hopper; matplotlib sample_data)"
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        original = f"matplotlib {matplotlib.__version__}: mpl-data/sample_data/grace_hopper.jpg"
    except ImportError:
        path = None
    if path is None or not path.is_file():
        pkg = fetch_deb("python-matplotlib-data", tmp)
        rel = "usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
        path, original = pkg.root / rel, f"python-matplotlib-data {pkg.version}: {rel}"
    rgb = decode_image(path.read_bytes()) if path.is_file() else None
    if rgb is None:
        raise SourceUnavailable(f"cannot read {path}")
    yield _person("matplotlib", "grace_hopper", rgb, original, licence)


def _face_recognition(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    pkg = fetch_sdist("face-recognition==1.3.0", tmp)
    licences["face-recognition"] = pkg.copyright
    for stem in PEOPLE["face-recognition"]:
        rel = f"tests/test_images/{stem}.jpg"
        rgb = decode_image((pkg.root / rel).read_bytes()) if (pkg.root / rel).is_file() else None
        if rgb is None:
            logger.warning("face-recognition: cannot read %s", rel)
            continue
        yield _person("face-recognition", stem, rgb,
                      f"face-recognition {pkg.version} sdist: {rel}",
                      "public domain (official White House portrait, a US federal work); "
                      "MIT package, (c) 2017 Adam Geitgey")


def _deb_people(source: str, package: str, folder: str, ext: str, tmp: Path,
                licences: dict[str, str], licence_path: str = "{name}", what: str = "",
                keep_grey: bool = False) -> Iterator[Photo]:
    pkg = fetch_deb(package, tmp)
    licences[package] = pkg.copyright
    stanzas = copyright_stanzas(pkg.copyright)
    for stem in PEOPLE[source]:
        path = pkg.root / folder / f"{stem}{ext}"
        rgb = decode_image(path.read_bytes(), keep_grey=keep_grey) if path.is_file() else None
        if rgb is None:
            logger.warning("%s: cannot read %s", package, path.name)
            continue
        note = licence_for(stanzas, licence_path.format(name=path.name)) + what
        yield _person(source, stem, rgb, f"{package} {pkg.version}: {folder}/{path.name}", note)


def _rmagick(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    yield from _deb_people("ruby-rmagick-doc", "ruby-rmagick-doc",
                           "usr/share/doc/ruby-rmagick-doc/html/ex/images", ".jpg", tmp, licences,
                           what=" (RMagick example photo; origin not documented)")


def _gtkmorph(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    yield from _deb_people("gtkmorph-example", "gtkmorph-example", "usr/share/xmorph/example/AD",
                           ".png", tmp, licences, what=" (xmorph example faces)")


def _opencv_people(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    pkg = fetch_deb("opencv-doc", tmp)
    licences["opencv-doc"] = pkg.copyright
    stanzas = copyright_stanzas(pkg.copyright)
    for stem in PEOPLE["opencv-doc"]:
        path = next((p for p in sorted((pkg.root / OPENCV_DATA).glob(f"{stem}.*"))
                     if p.suffix.lower() in (".jpg", ".jpeg", ".png")), None)
        rgb = decode_image(path.read_bytes(), keep_grey=True) if path else None
        if rgb is None:
            logger.warning("opencv-doc: cannot read %s", stem)
            continue
        note = licence_for(stanzas, f"samples/data/{path.name}") + OPENCV_NOTE
        yield _person("opencv-doc", stem, rgb, f"opencv-doc {pkg.version}: {OPENCV_DATA}/"
                      f"{path.name}", note)


LABELME_DIR = "usr/share/doc/labelme-examples/examples/instance_segmentation/data_annotated"


def _labelme(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    pkg = fetch_deb("labelme-examples", tmp)
    licences["labelme-examples"] = pkg.copyright
    note = licence_for(copyright_stanzas(pkg.copyright), "examples/instance_segmentation/x") + \
        " (package); the photo is from PASCAL VOC 2011 (Flickr)"
    for stem, reviewed in PEOPLE["labelme-examples"].items():
        image_path = pkg.root / LABELME_DIR / f"{stem}.jpg"
        json_path = image_path.with_suffix(".json")
        if not (image_path.is_file() and json_path.is_file()):
            logger.warning("labelme-examples: %s.jpg or its .json is missing", stem)
            continue
        rgb = decode_image(image_path.read_bytes())
        mask, count = labelme_person_mask(json.loads(json_path.read_text(encoding="utf-8")))
        if rgb is None or mask.shape != rgb.shape[:2] or count == 0:
            logger.warning("labelme-examples: %s is unreadable or has no person", stem)
            continue
        if count != reviewed.people:
            logger.warning("labelme-examples: %s has %d person instances, %d reviewed", stem,
                           count, reviewed.people)
        yield _person("labelme-examples", stem, rgb,
                      f"labelme-examples {pkg.version}: {LABELME_DIR}/{stem}.jpg", note,
                      mask=mask, mask_source="labelme")


VISP_DIR = "usr/share/visp-images-data/ViSP-images"
SOLVAY_SMALL = "faces/1280px-Solvay_conference_1927.png"
SOLVAY_BOXES = "faces/ground_truth_detection.txt"
SOLVAY_LARGE = "Solvay/Solvay_conference_1927_Version2_2126x1463.jpg"
SOLVAY_SMALL_TO_LARGE = np.array([[1.57276, 0.01957, 81.580], [-0.01957, 1.57276, 14.177]])
"""Similarity (scale 1.573, 0.7 degrees) from the 1280 px picture the face boxes belong to onto
the 2126 px version, measured once from ORB matches (113 RANSAC inliers); checked on every
build by :func:`_solvay`, which falls back to the small picture if it does not hold."""
MIN_ALIGNMENT = 0.7


def solvay_boxes(text: str) -> list[Box]:
    """ViSP's ``ground_truth_detection.txt``: ``detection_k`` then four ``row col`` corners."""
    boxes, corners = [], []
    for line in text.splitlines() + ["detection_end"]:
        parts = line.split()
        if line.startswith("detection"):
            if corners:
                rows, cols = zip(*corners)
                boxes.append((min(cols), min(rows), max(cols) - min(cols), max(rows) - min(rows)))
            corners = []
        elif len(parts) == 2:
            corners.append((int(float(parts[0])), int(float(parts[1]))))
    return boxes


def _map_box(box: Box, matrix: np.ndarray) -> Box:
    x, y, w, h = box
    pts = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], np.float64)
    mapped = pts @ matrix.T
    x0, y0 = np.floor(mapped.min(axis=0)).astype(int)
    x1, y1 = np.ceil(mapped.max(axis=0)).astype(int)
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def _solvay(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    pkg = fetch_deb("visp-images-data", tmp)
    licences["visp-images-data"] = pkg.copyright
    root = pkg.root / VISP_DIR
    small = decode_image((root / SOLVAY_SMALL).read_bytes(), keep_grey=True) \
        if (root / SOLVAY_SMALL).is_file() else None
    if small is None or not (root / SOLVAY_BOXES).is_file():
        raise SourceUnavailable(f"visp-images-data lacks {SOLVAY_SMALL} or {SOLVAY_BOXES}")
    boxes = solvay_boxes((root / SOLVAY_BOXES).read_text(encoding="utf-8", errors="replace"))
    rgb, rel = small, SOLVAY_SMALL
    large = decode_image((root / SOLVAY_LARGE).read_bytes(), keep_grey=True) \
        if (root / SOLVAY_LARGE).is_file() else None
    if large is not None:
        size = (large.shape[1], large.shape[0])
        warped = cv2.warpAffine(small[..., 0], SOLVAY_SMALL_TO_LARGE, size)
        valid = cv2.warpAffine(np.ones(small.shape[:2], np.uint8), SOLVAY_SMALL_TO_LARGE, size,
                               flags=cv2.INTER_NEAREST) > 0
        corr = float(np.corrcoef(warped[valid].astype(np.float64),
                                 large[..., 0][valid].astype(np.float64))[0, 1])
        if corr >= MIN_ALIGNMENT:
            rgb, rel = large, SOLVAY_LARGE
            boxes = [_map_box(b, SOLVAY_SMALL_TO_LARGE) for b in boxes]
        else:
            logger.warning("visp-images-data: the face boxes do not map onto %s (correlation "
                           "%.2f); using the 1280 px picture", SOLVAY_LARGE, corr)
    note = ("public domain (the 1927 Solvay conference photograph); GPL-2 package, "
            "(c) 2005-2018 Inria; face boxes from faces/ground_truth_detection.txt")
    yield _person("visp-images-data", "solvay-1927", rgb,
                  f"visp-images-data {pkg.version}: {VISP_DIR}/{rel}", note,
                  faces=tuple(boxes))


def _gcompris_music(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    wanted = PEOPLE["gcompris-qt-data"]
    for filename, _sub, rgb, original, licence in gcompris_pictures(
            tmp, licences, "explore_world_music", "music"):
        stem = "music-" + filename.rsplit(".", 1)[0]
        if stem in wanted:
            yield _person("gcompris-qt-data", stem, rgb, original, licence)


PEOPLE_SOURCES = {
    "skimage": _skimage,
    "matplotlib": _matplotlib,
    "face-recognition": _face_recognition,
    "ruby-rmagick-doc": _rmagick,
    "labelme-examples": _labelme,
    "gtkmorph-example": _gtkmorph,
    "opencv-doc": _opencv_people,
    "visp-images-data": _solvay,
    "gcompris-qt-data": _gcompris_music,
}
"""Source name -> raw people photos(temporary folder, licence texts to fill by package name);
:meth:`PeopleTools.finish` turns each into the pictures to write."""
