"""Scene sources of the corpus: photos with no person in them (backgrounds, silhouette sources).

Every scene passes :func:`train.corpus.photo.reject_reason` (not tiny, not grey, not a drawing).
Photos of people are never scenes: scikit-image's astronaut and OpenCV's ``messi5`` and
``basketball1`` are in :mod:`train.corpus.people`.

- ``skimage``, ``sklearn``: the libraries' sample photos (public domain / CC0; CC BY 2.0).
- ``opencv-doc``: Debian's OpenCV sample data, photos only (no calibration patterns, logos,
  text, drawings, people, and one image of each stereo / flow pair so that near-duplicates never
  straddle a split).
- ``mate-backgrounds``: the ``nature/`` photos (GPL-2+).
- ``gcompris-qt-data``: GCompris's monuments, the photo backgrounds of its ``details`` activity
  (paintings and photos already taken from the monuments left out), the underwater photos of
  ``clickgame`` and the music photos with nobody in them, read from the ``.rcc`` bundles
  (:mod:`train.corpus.rcc`); licence and credit per file from the activity's ``README``; a
  file the ``README`` does not credit is left out.
- ``lxqt-themes``: the eleven photographs among the wallpapers (CC-BY-SA-3.0; the rest is
  artwork).
- ``blender-data``: the eight HDRI Haven panoramas of Blender's studio lights (CC0), each as a
  90-degree view of its centre, tone-mapped (:mod:`train.corpus.hdri`).
- ``palapeli-data``: the five puzzle photos, credit from their ``.desktop`` files.
- ``libjxl-testdata``: ``hdr_room``, ``flower`` and the three 500 px ``wesaturate`` photos.
- ``digikam-data``: the 4032x3024 landscape behind digiKam's about page (GPL-2+).
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from train.corpus.fetch import (copyright_stanzas, credits_by_file, desktop_credit, fetch_deb,
                                licence_for)
from train.corpus.photo import Photo, SourceUnavailable, decode_image, read_photo, reject_reason
from train.corpus.rcc import RccError, read_rcc

logger = logging.getLogger(__name__)

__all__ = ["SCENE_SOURCES"]

# --------------------------------------------------------------------------- scikit-image

SKIMAGE_SCENES = {
    # name: (file in skimage/data, licence note from scikit-image's docstring)
    "chelsea": ("chelsea.png", "CC0 (photographer Stefan van der Walt)"),
    "coffee": ("coffee.png", "CC0 (photographer Rachel Michetti; Pikolo Espresso Bar)"),
    "rocket": ("rocket.jpg", "public domain (SpaceX, DSCOVR launch)"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "public domain (NASA, Hubble XDF)"),
}
# Left out: astronaut (a person: see corpus_people), motorcycle_left/right (Middlebury 2014; no
# licence stated), retina and ihc (medical and microscopy), the grey textures and drawings.


def skimage_images(names: dict[str, tuple[str, str]]) -> Iterator[tuple[str, np.ndarray, str,
                                                                        str, str]]:
    """(name, RGB uint8, original, licence, ext) of scikit-image sample photos."""
    try:
        import skimage
        import skimage.data
    except ImportError as exc:
        raise SourceUnavailable(f"scikit-image is not installed ({exc})") from exc
    version = getattr(skimage, "__version__", "?")
    for name, (filename, licence) in sorted(names.items()):
        try:
            rgb = np.ascontiguousarray(getattr(skimage.data, name)())
        except Exception as exc:  # noqa: BLE001 - one missing image must not end the source
            logger.warning("skimage: cannot load %s: %s", name, exc)
            continue
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            logger.warning("skimage: %s is not RGB uint8 (%s, %s)", name, rgb.shape, rgb.dtype)
            continue
        yield (name, rgb, f"scikit-image {version}: skimage/data/{filename}", licence,
               os.path.splitext(filename)[1])


def _skimage(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    for name, rgb, original, licence, ext in skimage_images(SKIMAGE_SCENES):
        yield Photo(name, rgb, original, licence, ext)


def _sklearn(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    try:
        import sklearn
        from sklearn.datasets import load_sample_images
    except ImportError as exc:
        raise SourceUnavailable(f"scikit-learn is not installed ({exc})") from exc
    bunch = load_sample_images()
    authors = {"china.jpg": "danielbuechele", "flower.jpg": "vultilion"}
    for path, rgb in sorted(zip(bunch.filenames, bunch.images), key=lambda t: str(t[0])):
        filename = os.path.basename(str(path))
        licence = f"CC BY 2.0 (Flickr user {authors.get(filename, 'unknown')})"
        yield Photo(os.path.splitext(filename)[0], np.ascontiguousarray(rgb),
                    f"scikit-learn {sklearn.__version__}: sklearn/datasets/images/{filename}",
                    licence, ".jpg")


def _ext(path: Path | str) -> str:
    return ".png" if str(path).lower().endswith(".png") else ".jpg"


def _deb_files(package: str, tmp: Path, licences: dict[str, str], folder: str,
               names: list[str] | None = None, pattern: str = r".*\.(jpe?g|png)$",
               licence_path: str | None = None, what: str = "",
               exclude: re.Pattern | None = None) -> Iterator[Photo]:
    """Scene photos of ``folder`` in a Debian package, filtered by :func:`reject_reason`.

    ``names`` picks files by name (in that order); else every file matching ``pattern`` whose
    stem ``exclude`` does not match.
    ``licence_path`` maps a file name to the path its DEP-5 ``Files:`` globs use ("{name}").
    """
    pkg = fetch_deb(package, tmp)
    licences[package] = pkg.copyright
    stanzas = copyright_stanzas(pkg.copyright)
    base = pkg.root / folder
    if not base.is_dir():
        raise SourceUnavailable(f"{package} has no {folder}")
    files = [base / n for n in names] if names is not None else \
        [p for p in sorted(base.iterdir()) if re.match(pattern, p.name, re.IGNORECASE)
         and not (exclude and exclude.match(p.stem))]
    for path in files:
        if not path.is_file():
            logger.warning("%s: %s is missing", package, path.name)
            continue
        rgb, reason = read_photo(path)
        if reason is not None:
            logger.info("%s: skipping %s: %s", package, path.name, reason)
            continue
        note = licence_for(stanzas, (licence_path or "{name}").format(name=path.name)) + what
        yield Photo(path.stem, rgb, f"{package} {pkg.version}: {folder}/{path.name}", note,
                    _ext(path))


# Not photos (calibration boards, logos, text, drawings, masks, a painting) or the second image
# of a stereo / flow / before-after pair.
_OPENCV_EXCLUDE = re.compile(
    r"^(left\d+|right\d*|chessboard|board|.*logo.*|.*text.*|digits|sudoku|notes|gradient|mask|"
    r"templ|tmpl|ml|ellipses|detect_blob|pic\d|.*GT|aloeR|rubberwhale2|leuvenB|graf3|aero3|"
    r"basketball2|Blender_Suzanne2|ela_modified|starry_night|pca_test1|cards|box.*)$",
    re.IGNORECASE,
)
_OPENCV_PEOPLE = re.compile(r"^(messi5|basketball1)$")
"""Photos of people in OpenCV's sample data: people, never scenes (see corpus_people)."""
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
OPENCV_NOTE = " (OpenCV sample data; photographer not recorded)"


def _opencv_doc(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    # The package installs upstream's samples/data/ under examples/data/.
    for photo in _deb_files("opencv-doc", tmp, licences, OPENCV_DATA,
                            pattern=r".*\.(jpe?g|png)$", licence_path="samples/data/{name}",
                            what=OPENCV_NOTE, exclude=_OPENCV_EXCLUDE):
        if not _OPENCV_PEOPLE.match(photo.name):
            yield photo


def _mate(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    # Only nature/ holds photographs; abstract/ and desktop/ are artwork.
    yield from _deb_files("mate-backgrounds", tmp, licences, "usr/share/backgrounds/mate/nature",
                          licence_path="nature/{name}")


# --------------------------------------------------------------------------- GCompris

GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
_ACTIVITIES = "gcompris/src/activities/"


def gcompris_bundle(tmp: Path, licences: dict[str, str], activity: str
                    ) -> tuple[str, dict[str, bytes]]:
    """(package version, ``{path inside the bundle: bytes}``) of GCompris's ``<activity>.rcc``."""
    pkg = fetch_deb("gcompris-qt-data", tmp)
    licences["gcompris-qt-data"] = pkg.copyright
    path = pkg.root / GCOMPRIS_RCC / f"{activity}.rcc"
    try:
        return pkg.version, read_rcc(path)
    except (OSError, RccError) as exc:
        raise SourceUnavailable(f"cannot read {path.name}: {exc}") from exc


def _credit(readmes: dict[str, dict[str, str]], path: str) -> str | None:
    """The credit of ``path`` in the nearest README above it that names it."""
    folder = path
    while "/" in folder:
        folder = folder.rsplit("/", 1)[0]
        credits = readmes.get(folder)
        if credits:
            rel = path[len(folder) + 1:]
            note = credits.get(rel) or credits.get(rel.rsplit("/", 1)[-1])
            if note:
                return note
    return None


def gcompris_pictures(tmp: Path, licences: dict[str, str], activity: str, folder: str,
                      keep_grey: bool = False
                      ) -> Iterator[tuple[str, str, np.ndarray, str, str]]:
    """(file name, sub-path under ``folder``, RGB uint8, original, licence) of each credited
    ``.webp`` / ``.jpg`` / ``.png`` under ``<activity>/resource/<folder>`` of the bundle.

    Credits come from the ``README`` of the picture's own folder; pictures it does not credit,
    or that cannot be decoded, are left out (logged).
    """
    version, files = gcompris_bundle(tmp, licences, activity)
    prefix = f"{_ACTIVITIES}{activity}/resource/" + (f"{folder}/" if folder else "")
    readmes = {p.rsplit("/", 1)[0]: credits_by_file(data.decode("utf-8", errors="replace"))
               for p, data in files.items() if p.endswith("/README")}
    for path in sorted(files):
        if not path.startswith(prefix) or not re.search(r"\.(webp|jpe?g|png)$", path, re.I):
            continue
        filename = path.rsplit("/", 1)[1]
        licence = _credit(readmes, path)
        if licence is None:
            logger.info("gcompris-qt-data: %s has no credit in its README; left out", path)
            continue
        rgb = decode_image(files[path], keep_grey=keep_grey)
        if rgb is None:
            logger.info("gcompris-qt-data: cannot decode %s (or it is grey)", path)
            continue
        original = (f"gcompris-qt-data {version}: {GCOMPRIS_RCC}/{activity}.rcc:"
                    f"{path[len(_ACTIVITIES):]}")
        yield filename, path[len(prefix):], rgb, original, licence


_PAINTING = re.compile(r"(gogh|portrait|eglise_dauvers)", re.IGNORECASE)
"""``details`` backgrounds that are paintings (Van Gogh), not photos."""
GCOMPRIS_MUSIC_SCENES = ("africa.webp", "america.webp", "middleeast.webp")
"""The world-music photos with nobody in them (instruments); the others are people."""
_COMMONS = re.compile(r"https?://commons\.wikimedia\.org/wiki/\S+?(?=[\s,;]|$)")


def _gcompris(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    seen_sources: set[str] = set()

    def fresh(licence: str) -> bool:
        """False for a second picture from the same Commons file (a near-duplicate)."""
        urls = [u.lower().rstrip(".") for u in _COMMONS.findall(licence)]
        if any(u in seen_sources for u in urls):
            return False
        seen_sources.update(urls)
        return True

    def scene(name: str, rgb: np.ndarray, original: str, licence: str) -> Photo | None:
        reason = reject_reason(rgb)
        if reason is not None:
            logger.info("gcompris-qt-data: skipping %s: %s", name, reason)
            return None
        return Photo(name, rgb, original, licence, ".jpg")

    for filename, sub, rgb, original, licence in gcompris_pictures(
            tmp, licences, "explore_monuments", ""):
        fresh(licence)
        photo = scene("monuments-" + os.path.splitext(sub)[0].replace("/", "-"), rgb, original,
                      licence)
        if photo:
            yield photo
    for filename, sub, rgb, original, licence in gcompris_pictures(
            tmp, licences, "details", "image"):
        if not filename.endswith("_background.webp") or _PAINTING.search(filename):
            continue
        if not fresh(licence):
            logger.info("gcompris-qt-data: details %s is a monument photo already taken", sub)
            continue
        photo = scene("details-" + filename[:-len("_background.webp")], rgb, original, licence)
        if photo:
            yield photo
    for filename, sub, rgb, original, licence in gcompris_pictures(
            tmp, licences, "clickgame", ""):
        if re.fullmatch(r"sea\d+\.webp", filename) and (photo := scene(
                "clickgame-" + os.path.splitext(filename)[0], rgb, original, licence)):
            yield photo
    for filename, sub, rgb, original, licence in gcompris_pictures(
            tmp, licences, "explore_world_music", "music"):
        if filename in GCOMPRIS_MUSIC_SCENES and (photo := scene(
                "music-" + os.path.splitext(filename)[0], rgb, original, licence)):
            yield photo


# --------------------------------------------------------------------------- other packages

LXQT_PHOTOS = {
    # file: credit from wallpapers/License (the ones it does not name: the LXQt team's)
    "after-the-rain.jpg": "stefonarch",
    "appleflower.png": "stefonarch",
    "beam.png": "stefonarch",
    "Butterfly-Kenneth-Wimer.jpg": "Kenneth Wimer (per the file name)",
    "butterfly.png": "stefonarch",
    "cloud.png": "LXQt Project Team",
    "drop.png": "stefonarch",
    "flowers.png": "stefonarch",
    "fog.jpg": "stefonarch",
    "this-is-not-windows.jpg": "stefonarch",
    "Valendas.png": "LXQt Project Team",
}
"""The photographs among LXQt's wallpapers; the others are logos and abstract artwork."""


def _lxqt(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    folder = "usr/share/lxqt/wallpapers"
    pkg = fetch_deb("lxqt-themes", tmp)
    licence_file = pkg.root / folder / "License"
    stated = licence_file.read_text(encoding="utf-8", errors="replace") \
        if licence_file.is_file() else ""
    licences["lxqt-themes"] = pkg.copyright + ("\n\nwallpapers/License:\n" + stated
                                               if stated else "")
    licence = "CC-BY-SA-3.0 (wallpapers/License)" if "by-sa/3.0" in stated else \
        "licence not stated"
    for photo in _deb_files("lxqt-themes", tmp, {}, folder, names=sorted(LXQT_PHOTOS)):
        credit = LXQT_PHOTOS[photo.original.rsplit("/", 1)[1]]
        yield photo.with_(licence=f"{licence}; (c) {credit}")


BLENDER_HDRIS = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise",
                 "sunset")
HDRI_VIEW = (512, 384, 90.0)
"""Width, height and horizontal field of view (degrees) of the view taken from each HDRI:
the panoramas are 1024 px round, so a 90-degree view holds ~256 source pixels across."""


def _blender(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    from train.corpus.hdri import HdriUnavailable, hdri_photo

    pkg = fetch_deb("blender-data", tmp)
    folder = "usr/share/blender/datafiles/studiolights/world"
    stated_file = pkg.root / folder / "license.txt"
    stated = " ".join(stated_file.read_text(encoding="utf-8", errors="replace").split()) \
        if stated_file.is_file() else ""
    licences["blender-data"] = pkg.copyright + (f"\n\nstudiolights/world/license.txt:\n{stated}"
                                                if stated else "")
    licence = ("CC0; (c) Greg Zaal, HDRI Haven (studiolights/world/license.txt)"
               if "CC0" in stated else "licence not stated")
    width, height, fov = HDRI_VIEW
    for name in BLENDER_HDRIS:
        path = pkg.root / folder / f"{name}.exr"
        if not path.is_file():
            logger.warning("blender-data: %s is missing", path.name)
            continue
        try:
            rgb = hdri_photo(path, width, height, fov)
        except HdriUnavailable as exc:
            raise SourceUnavailable(str(exc)) from exc
        reason = reject_reason(rgb)
        if reason is not None:
            logger.info("blender-data: skipping %s: %s", name, reason)
            continue
        yield Photo(name, rgb, f"blender-data {pkg.version}: {folder}/{name}.exr "
                    f"({fov:g}-degree view of the centre, tone-mapped)", licence, ".jpg")


def _palapeli(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    folder = "usr/share/palapeli/collection"
    pkg = fetch_deb("palapeli-data", tmp)
    for photo in _deb_files("palapeli-data", tmp, licences, folder, pattern=r".*\.jpe?g$"):
        desktop = pkg.root / folder / f"{photo.name}.desktop"
        note = desktop_credit(desktop.read_text(encoding="utf-8", errors="replace")) \
            if desktop.is_file() else "licence not stated"
        yield photo.with_(licence=note)


LIBJXL_PHOTOS = ("jxl/hdr_room.png", "jxl/flower/flower.png",
                 "external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png",
                 "external/wesaturate/500px/tmshre_riaphotographs_srgb8.png",
                 "external/wesaturate/500px/u76c0g_bliznaca_srgb8.png")


def _libjxl(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    pkg = fetch_deb("libjxl-testdata", tmp)
    licences["libjxl-testdata"] = pkg.copyright
    stanzas = copyright_stanzas(pkg.copyright)
    base = "usr/share/libjxl-testdata"
    for rel in LIBJXL_PHOTOS:
        path = pkg.root / base / rel
        if not path.is_file():
            logger.warning("libjxl-testdata: %s is missing", rel)
            continue
        rgb, reason = read_photo(path)
        if reason is not None:
            logger.info("libjxl-testdata: skipping %s: %s", rel, reason)
            continue
        name = path.stem.removesuffix("_srgb8")
        yield Photo(name, rgb, f"libjxl-testdata {pkg.version}: {base}/{rel}",
                    licence_for(stanzas, rel), ".png")


def _digikam(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    for photo in _deb_files("digikam-data", tmp, licences, "usr/share/digikam/about/images",
                            names=["body-background.jpg"]):
        # The copyright file is free text, not DEP-5: "almost all software is GPL" (v2+).
        yield photo.with_(name="landscape", licence="GPL-2+ (digikam-data copyright; the "
                          "background photo of digiKam's about page)")


SCENE_SOURCES = {
    "skimage": _skimage,
    "sklearn": _sklearn,
    "opencv-doc": _opencv_doc,
    "mate-backgrounds": _mate,
    "gcompris-qt-data": _gcompris,
    "lxqt-themes": _lxqt,
    "blender-data": _blender,
    "palapeli-data": _palapeli,
    "libjxl-testdata": _libjxl,
    "digikam-data": _digikam,
}
"""Source name -> scenes(temporary folder, licence texts to fill by package name)."""
