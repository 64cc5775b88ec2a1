"""A small, reproducible photo corpus from openly licensed offline sources.

``phnet-corpus --out DIR`` gathers natural RGB photos for the synthetic dataset
(:class:`train.datasets.SyntheticDataset`) from sources that need no web scraping:

- ``skimage``: photos bundled with scikit-image (``skimage.data``): public-domain or CC0.
- ``sklearn``: scikit-learn's two sample images (CC BY 2.0), if scikit-learn is installed.
- ``opencv-doc``: the sample data of Debian's ``opencv-doc`` package, fetched with
  ``apt-get download`` and unpacked with ``dpkg -x`` into a temporary folder; only photos are
  kept (no calibration patterns, logos, text, synthetic drawings, grey or tiny images, and one
  image of each stereo / optical-flow pair so that near-duplicates never straddle a split).
- ``mate-backgrounds``: the nature photos of Debian's ``mate-backgrounds`` package (GPL-2+).

Every photo is written as ``<source>__<name>.jpg`` (or ``.png`` when the original is a PNG),
scaled down to ``--max-side`` when larger, and listed in ``MANIFEST.tsv`` (name, source,
original path, licence note, sha256), sorted by name. Licence notes of the Debian packages come
from their ``copyright`` files, which are copied to ``licences/``. Two runs with the same
package versions give byte-identical output. A source that cannot be fetched is reported and
skipped.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["SOURCES", "Photo", "build_corpus", "corpus_main"]

JPEG_QUALITY = 95
PNG_COMPRESSION = 6
MIN_SIDE = 256
"""Photos whose shorter side is below this are too small to crop from."""
MIN_COLOURFULNESS = 6.0
"""Mean |R-G| + |G-B| (0-255) below which a picture counts as grey."""
MIN_COLOURS = 120
"""Distinct colours (16 levels a channel) below which a picture counts as a drawing."""

MANIFEST = "MANIFEST.tsv"
MANIFEST_HEADER = ("name", "source", "original", "licence", "sha256")


@dataclass
class Photo:
    """One photo from a source, before it is written."""

    name: str  # stable name within the source, no extension
    image: np.ndarray  # RGB uint8 HxWx3
    original: str  # where it came from (package-relative, never a local absolute path)
    licence: str
    ext: str  # ".jpg" or ".png", after the original


class SourceUnavailable(RuntimeError):
    """A source could not be fetched or read."""


# --------------------------------------------------------------------------- quality filters

def _to_rgb(img: np.ndarray) -> np.ndarray | None:
    """Decoded OpenCV image (BGR/BGRA/grey, 8 or 16 bit) -> RGB uint8, or None if grey."""
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.dtype != np.uint8 or img.ndim != 3:
        return None
    if img.shape[2] == 4:
        alpha = img[..., 3:].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).round()
        img = img.astype(np.uint8)
    return cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)


def reject_reason(rgb: np.ndarray) -> str | None:
    """Why ``rgb`` is not a usable photo (tiny, grey, a drawing), or None when it is."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        return f"too small ({w}x{h})"
    c = rgb.astype(np.int16)
    colourfulness = float(np.abs(c[..., 0] - c[..., 1]).mean()
                          + np.abs(c[..., 1] - c[..., 2]).mean())
    if colourfulness < MIN_COLOURFULNESS:
        return f"grey (colourfulness {colourfulness:.1f})"
    q = (rgb // 16).astype(np.int32)
    colours = len(np.unique(q[..., 0] * 256 + q[..., 1] * 16 + q[..., 2]))
    if colours < MIN_COLOURS:
        return f"a drawing ({colours} colours)"
    return None


# --------------------------------------------------------------------------- Debian copyright

def _copyright_stanzas(text: str) -> list[tuple[list[str], str, str]]:
    """(file globs, copyright, licence name) of each ``Files:`` stanza of a DEP-5 file."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip()
                fields[key] = value.strip()
        if "Files" in fields and "License" in fields:
            globs = fields["Files"].split()
            names = [ln.strip() for ln in fields.get("Copyright", "").splitlines() if ln.strip()]
            # Long holder lists (OpenCV names eight companies) are cut; the full text is copied
            # to licences/.
            holders = " / ".join(names[:2]) + (" et al." if len(names) > 2 else "")
            stanzas.append((globs, holders, fields["License"].splitlines()[0].strip()))
    return stanzas


def _licence_for(stanzas: list[tuple[list[str], str, str]], path: str) -> str:
    """DEP-5 rule: the last stanza whose glob matches wins."""
    note = "licence not stated"
    for globs, holders, licence in stanzas:
        if any(fnmatch.fnmatchcase(path, g) for g in globs):
            note = f"{licence}; (c) {holders}" if holders else licence
    return note


# --------------------------------------------------------------------------- sources

_SKIMAGE = {
    # name: (file in skimage/data, licence note from scikit-image's docstring)
    "astronaut": ("astronaut.png", "public domain (NASA; Eileen Collins)"),
    "chelsea": ("chelsea.png", "CC0 (photographer Stefan van der Walt)"),
    "coffee": ("coffee.png", "CC0 (photographer Rachel Michetti; Pikolo Espresso Bar)"),
    "rocket": ("rocket.jpg", "public domain (SpaceX, DSCOVR launch)"),
    "hubble_deep_field": ("hubble_deep_field.jpg", "public domain (NASA, Hubble XDF)"),
}
# Left out: motorcycle_left/right (Middlebury 2014; no licence stated), retina and ihc (medical
# and microscopy), the grey textures and drawings.


def _skimage_photos(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    try:
        import skimage
        import skimage.data
    except ImportError as exc:
        raise SourceUnavailable(f"scikit-image is not installed ({exc})") from exc
    version = getattr(skimage, "__version__", "?")
    for name, (filename, licence) in sorted(_SKIMAGE.items()):
        try:
            rgb = np.ascontiguousarray(getattr(skimage.data, name)())
        except Exception as exc:  # noqa: BLE001 - one missing image must not end the source
            logger.warning("skimage: cannot load %s: %s", name, exc)
            continue
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            logger.warning("skimage: %s is not RGB uint8 (%s, %s)", name, rgb.shape, rgb.dtype)
            continue
        yield Photo(name, rgb, f"scikit-image {version}: skimage/data/{filename}", licence,
                    os.path.splitext(filename)[1])


def _sklearn_photos(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
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


def _fetch_deb(package: str, tmp: Path) -> tuple[Path, str, str]:
    """``apt-get download`` + ``dpkg -x``: (unpacked root, package version, copyright text)."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise SourceUnavailable(f"{tool} not found (a Debian or Ubuntu system is needed)")
    workdir = tmp / package
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(["apt-get", "download", package], cwd=workdir, check=True,
                       capture_output=True, text=True, timeout=600)
    except subprocess.CalledProcessError as exc:
        raise SourceUnavailable(f"apt-get download {package} failed: "
                                f"{exc.stderr.strip().splitlines()[-1:] or exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise SourceUnavailable(f"apt-get download {package} timed out") from exc
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not debs:
        raise SourceUnavailable(f"apt-get download {package} produced no .deb")
    version = debs[-1].name[len(package) + 1:].rsplit("_", 1)[0]
    unpacked = workdir / "root"
    try:
        subprocess.run(["dpkg", "-x", str(debs[-1]), str(unpacked)], check=True,
                       capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise SourceUnavailable(f"dpkg -x {debs[-1].name} failed: {exc}") from exc
    copyright_file = unpacked / "usr/share/doc" / package / "copyright"
    text = copyright_file.read_text(encoding="utf-8", errors="replace") \
        if copyright_file.is_file() else ""
    return unpacked, version, text


def _read_photo(path: Path) -> tuple[np.ndarray | None, str | None]:
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        return None, "cannot decode"
    rgb = _to_rgb(img)
    if rgb is None:
        return None, "grey file"
    return rgb, reject_reason(rgb)


# Not photos (calibration boards, logos, text, drawings, masks, a painting) or the second image
# of a stereo / flow / before-after pair.
_OPENCV_EXCLUDE = re.compile(
    r"^(left\d+|right\d*|chessboard|board|.*logo.*|.*text.*|digits|sudoku|notes|gradient|mask|"
    r"templ|tmpl|ml|ellipses|detect_blob|pic\d|.*GT|aloeR|rubberwhale2|leuvenB|graf3|aero3|"
    r"basketball2|Blender_Suzanne2|ela_modified|starry_night|pca_test1|cards|box.*)$",
    re.IGNORECASE,
)


def _opencv_doc_photos(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    root, version, copyright_text = _fetch_deb("opencv-doc", tmp)
    licences["opencv-doc"] = copyright_text
    stanzas = _copyright_stanzas(copyright_text)
    data = root / "usr/share/doc/opencv-doc/examples/data"
    if not data.is_dir():
        raise SourceUnavailable("opencv-doc has no examples/data folder")
    for path in sorted(data.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or not path.is_file():
            continue
        if _OPENCV_EXCLUDE.match(path.stem):
            logger.debug("opencv-doc: %s is not a photo (by name)", path.name)
            continue
        rgb, reason = _read_photo(path)
        if reason is not None:
            logger.info("opencv-doc: skipping %s: %s", path.name, reason)
            continue
        # The package installs upstream's samples/data/ under examples/data/.
        licence = _licence_for(stanzas, f"samples/data/{path.name}") + \
            " (OpenCV sample data; photographer not recorded)"
        yield Photo(path.stem, rgb,
                    f"opencv-doc {version}: usr/share/doc/opencv-doc/examples/data/{path.name}",
                    licence, ".png" if path.suffix.lower() == ".png" else ".jpg")


def _mate_photos(tmp: Path, licences: dict[str, str]) -> Iterator[Photo]:
    root, version, copyright_text = _fetch_deb("mate-backgrounds", tmp)
    licences["mate-backgrounds"] = copyright_text
    stanzas = _copyright_stanzas(copyright_text)
    # Only nature/ holds photographs; abstract/ and desktop/ are artwork.
    nature = root / "usr/share/backgrounds/mate/nature"
    if not nature.is_dir():
        raise SourceUnavailable("mate-backgrounds has no usr/share/backgrounds/mate/nature")
    for path in sorted(nature.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or not path.is_file():
            continue
        rgb, reason = _read_photo(path)
        if reason is not None:
            logger.info("mate-backgrounds: skipping %s: %s", path.name, reason)
            continue
        licence = _licence_for(stanzas, f"nature/{path.name}")
        yield Photo(path.stem, rgb,
                    f"mate-backgrounds {version}: usr/share/backgrounds/mate/nature/{path.name}",
                    licence, ".png" if path.suffix.lower() == ".png" else ".jpg")


SOURCES: dict[str, Callable[[Path, dict[str, str]], Iterator[Photo]]] = {
    # name: photos(temporary folder, licence texts to fill by package name)
    "skimage": _skimage_photos,
    "sklearn": _sklearn_photos,
    "opencv-doc": _opencv_doc_photos,
    "mate-backgrounds": _mate_photos,
}


# --------------------------------------------------------------------------- writing

def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


def _encode(rgb: np.ndarray, ext: str) -> bytes:
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if ext == ".png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY,
                                             cv2.IMWRITE_JPEG_OPTIMIZE, 0])
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def _shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def build_corpus(
    out: str | os.PathLike, sources: list[str] | None = None, max_side: int = 1024
) -> dict[str, int | str]:
    """Write the corpus to ``out`` (created if needed).

    Files named ``<source>__*`` of the chosen sources that this run did not write are removed,
    so ``out`` always matches its manifest; other files there are left alone (the manifest also
    keeps the rows of sources not chosen this time).

    Returns:
        For each chosen source, the number of photos written, or the reason it was skipped.
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
    rows: dict[str, tuple[str, ...]] = {}
    if manifest_path.is_file():
        for line in manifest_path.read_text(encoding="utf-8").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) == len(MANIFEST_HEADER) and fields[1] not in sources:
                rows[fields[0]] = tuple(fields)

    result: dict[str, int | str] = {}
    licence_texts: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="phnet-corpus-") as tmp_name:
        tmp = Path(tmp_name)
        for source in sources:
            written: set[str] = set()
            try:
                for photo in SOURCES[source](tmp, licence_texts):
                    filename = f"{source}__{_safe(photo.name)}{photo.ext}"
                    if filename in written:
                        raise RuntimeError(f"two photos of {source} are both named {filename}")
                    data = _encode(_shrink(photo.image, max_side), photo.ext)
                    target = out / filename
                    if not target.is_file() or target.read_bytes() != data:
                        tmp_target = target.with_name(target.name + ".part")
                        tmp_target.write_bytes(data)
                        os.replace(tmp_target, target)
                    written.add(filename)
                    rows[filename] = (filename, source, photo.original,
                                      photo.licence.replace("\t", " ").replace("\n", " "),
                                      hashlib.sha256(data).hexdigest())
            except SourceUnavailable as exc:
                logger.warning("source %s skipped: %s", source, exc)
                result[source] = f"skipped: {exc}"
                continue
            for stale in sorted(out.glob(f"{source}__*")):
                if stale.name not in written:
                    stale.unlink()
                    rows.pop(stale.name, None)
            result[source] = len(written)
            logger.info("source %s: %d photos", source, len(written))

    licence_texts = {k: v for k, v in licence_texts.items() if v}
    if licence_texts:
        licences = out / "licences"
        licences.mkdir(exist_ok=True)
        for package, text in sorted(licence_texts.items()):
            (licences / f"{package}.copyright").write_text(text, encoding="utf-8")
    lines = ["\t".join(MANIFEST_HEADER)] + ["\t".join(rows[k]) for k in sorted(rows)]
    manifest_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return result


def corpus_main(argv: list[str] | None = None) -> int:
    """``phnet-corpus``: gather the offline photo corpus into a folder."""
    parser = argparse.ArgumentParser(
        prog="phnet-corpus",
        description="Gather openly licensed offline photos (scikit-image, scikit-learn, "
                    "Debian's opencv-doc and mate-backgrounds) into one folder, with a "
                    "MANIFEST.tsv of sources, licences and checksums.",
    )
    parser.add_argument("--out", required=True, help="output folder (keep it out of the repo)")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help=f"comma-separated subset of: {','.join(SOURCES)} (default: all)")
    parser.add_argument("--max-side", type=int, default=1024,
                        help="scale larger photos down to this long side (default 1024)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every decision")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    try:
        result = build_corpus(args.out, sources, args.max_side)
    except ValueError as exc:
        parser.error(str(exc))
    total = 0
    for source, outcome in result.items():
        print(f"{source:18s} {outcome}")
        total += outcome if isinstance(outcome, int) else 0
    print(f"{total} photos in {args.out} (see {MANIFEST})")
    return 0
