"""``phnet-eval-matte``: the camera's person mask against reference mattes, with its peers.

Every clip is a short video at 640x480 (``--size``) and every method sees it from its first
frame, as a camera would. Measures, per set and method (``MatteScores``):

- **SAD**: mean |alpha - reference| x 1000 per pixel, over the whole frame.
- **ghost**: % of the frame where alpha >= 0.25 and the reference < 0.05 (old room shown as
  person: haze, strips).
- **hole**: % of the person (reference >= 0.95) where alpha < 0.5 (the person cut away).
- **flicker**: mean |e_t - e_{t-1}| x 1000 over the edge band, e = alpha - reference: the edge's
  change from frame to frame that the reference does not make.
- **spill**: mean |output - ideal| in 8-bit levels over the edge band where alpha > 0 and the
  reference >= 0.05 (some person: old room shown where there is none is the ghost's); output
  is the method's picture over a dark solid colour (``SCENE_COLOUR``), ideal the same alpha
  with the reference's foreground colour: the old room the edge carries onto the new scene.

The edge band is every pixel within ``EDGE_RADIUS`` px of the reference's 0.5 contour. The
ghost and hole pixels are also split by their distance from that contour (``NEAR_PX``,
``FAR_PX``): errors at the edge are a refinement's to fix, errors far from it are whole regions
the person model got wrong.

Sets (``--sets``):

- ``demo``: the built-in demo source (``vcam.demo_source``, 90 frames); reference: RVM's matte
  and foreground colour of its portrait, made here offline at the portrait's size, its small
  enclosed holes filled (RVM cuts the name badge out) and the helmet she holds added
  (``DEMO_HELMET``; RVM leaves it half transparent), warped as the source warps the portrait.
- ``corpus``: every person of a ``phnet-corpus`` folder (all splits: nothing is trained here),
  animated as the demo source animates its portrait (camera sway and zoom, exposure and white
  balance drift, sensor noise); reference: the corpus matte (RVM or labelme) warped the same way,
  foreground colour from RVM.
- ``composited``: each corpus person's RVM foreground and matte over a corpus scene, then
  animated the same way: the alpha and the foreground are the truth by construction, so RVM
  itself is scored too.

Methods (``--methods``):

- ``camera``: ``vcam.pipeline.Pipeline.process_one`` at default settings (harmonisation off,
  which does not touch the mask) over ``SCENE_COLOUR``: the segmenter, the refiner and the
  compositor the user runs.
- ``lfbw``: Linux-Fake-Background-Webcam's recipe (github.com/fangfufu/Linux-Fake-Background-
  Webcam at 73eb71d, reimplemented from its description, no code copied) on the same model and
  frames: the frame resized to 256 px wide and given to MediaPipe as LFBW does, the person where
  the confidence is above 0.5 (its category mask), a 7x7 Gaussian, threshold 0.75, a 5x5
  dilation, a 10x10 box blur, an EMA of weight 0.5 (its ``mask_update_speed`` 50 %), a float
  blend.
- ``rvm``: Robust Video Matting (``vcam.rvm_matter``, its recurrent state carried, RVM's own
  foreground colour), on the ``composited`` set only: it made the other sets' references. Its
  graph comes from the user cache (``train.corpus.matting.fetch_model``).

Usage::

    phnet-eval-matte --corpus corpus --out runs/matte.json --grid docs/matting-grid.jpg
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

KNOWN_SETS = ("demo", "corpus", "composited")
KNOWN_METHODS = ("camera", "lfbw", "rvm")
EDGE_RADIUS = 6
"""Half-width of the edge band in pixels (at 640x480)."""
SCENE_COLOUR = (16, 24, 40)
"""The dark solid scene the methods composite over for the spill measure (RGB)."""
GHOST_ALPHA, GHOST_REF = 0.25, 0.05
HOLE_ALPHA, HOLE_REF = 0.5, 0.95
NEAR_PX, FAR_PX = 4, 16
"""Ghost and hole pixels within ``NEAR_PX`` of the reference's 0.5 contour are "at the edge",
those beyond ``FAR_PX`` "far" (whole regions), those between "near" (at 640x480)."""
DEMO_FILL_FRACTION = 0.01
"""The demo reference's enclosed holes smaller than this share of the portrait are filled."""
DEMO_HELMET = ((391, 461), (111, 114))
"""The held helmet's outline in the demo portrait's pixels (512x512): an ellipse's centre and
half-axes, fitted by eye to its rim; it runs off the picture's bottom."""


@dataclass
class MatteScores:
    """Sums of one method on one set; ``summary()`` gives the measures (module docstring)."""

    frames: int = 0
    pixels: int = 0
    abs_diff: float = 0.0
    ghost_px: int = 0
    person_px: int = 0
    hole_px: int = 0
    flicker_sum: float = 0.0
    flicker_px: int = 0
    spill_sum: float = 0.0
    spill_px: int = 0
    ghost_edge_px: int = 0
    ghost_far_px: int = 0
    hole_edge_px: int = 0
    hole_far_px: int = 0

    def summary(self) -> dict:
        def ratio(a: float, b: float, scale: float) -> float | None:
            return round(scale * a / b, 3) if b else None

        return {
            "frames": self.frames,
            "sad": ratio(self.abs_diff, self.pixels, 1000.0),
            "ghost_pct": ratio(self.ghost_px, self.pixels, 100.0),
            "hole_pct": ratio(self.hole_px, self.person_px, 100.0),
            "flicker": ratio(self.flicker_sum, self.flicker_px, 1000.0),
            "spill": ratio(self.spill_sum, self.spill_px, 1.0),
            # The ghost and hole shares split by distance from the reference's edge: at it
            # (within NEAR_PX), far from it (beyond FAR_PX); the rest lies between.
            "ghost_edge_pct": ratio(self.ghost_edge_px, self.pixels, 100.0),
            "ghost_far_pct": ratio(self.ghost_far_px, self.pixels, 100.0),
            "hole_edge_pct": ratio(self.hole_edge_px, self.person_px, 100.0),
            "hole_far_pct": ratio(self.hole_far_px, self.person_px, 100.0),
        }


@dataclass
class RefFrame:
    """One frame of a clip: the camera picture (RGB uint8 HxWx3), the reference alpha (float32
    HxW in [0, 1]) and the reference foreground colour (RGB float32 HxWx3, 0-255) or None."""

    frame: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray | None
    _distance: np.ndarray | None = field(default=None, repr=False, compare=False)

    def contour_distance(self) -> np.ndarray:
        """float32 HxW: each pixel's distance in px from the reference's 0.5 contour, inside
        and outside alike (huge where the reference has no contour); computed once."""
        if self._distance is None:
            inside = (self.alpha >= 0.5).view(np.uint8)
            to_out = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
            to_in = cv2.distanceTransform(inside ^ np.uint8(1), cv2.DIST_L2, 3)
            self._distance = np.where(inside > 0, to_out, to_in)
        return self._distance


@dataclass
class Clip:
    """A named short video with references; ``frames()`` yields ``RefFrame`` in order."""

    set: str
    name: str
    fps: float
    frames: Callable[[], Iterator[RefFrame]]
    people: int = 1


class _Track:
    """Per-clip state of one method: the previous frame's error and band, for flicker."""

    def __init__(self) -> None:
        self.prev_err: np.ndarray | None = None
        self.prev_band: np.ndarray | None = None


def edge_band(alpha: np.ndarray, radius: int = EDGE_RADIUS) -> np.ndarray:
    """bool HxW: pixels within ``radius`` px of ``alpha``'s 0.5 contour."""
    inside = (alpha >= 0.5).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return (cv2.dilate(inside, kernel) != cv2.erode(inside, kernel))


def score_frame(scores: MatteScores, track: _Track, alpha: np.ndarray, ref: RefFrame,
                output: np.ndarray | None) -> None:
    """Add one frame: ``alpha`` the method's (float32 HxW in [0, 1]), ``output`` its picture
    over ``SCENE_COLOUR`` (RGB uint8 HxWx3) or None (no spill measure)."""
    truth = ref.alpha
    err = alpha - truth
    scores.frames += 1
    scores.pixels += truth.size
    scores.abs_diff += float(np.abs(err).sum())
    ghost = (alpha >= GHOST_ALPHA) & (truth < GHOST_REF)
    person = truth >= HOLE_REF
    hole = person & (alpha < HOLE_ALPHA)
    ghosts, holes = int(np.count_nonzero(ghost)), int(np.count_nonzero(hole))
    scores.ghost_px += ghosts
    scores.person_px += int(np.count_nonzero(person))
    scores.hole_px += holes
    if ghosts or holes:
        distance = ref.contour_distance()
        ghost_d, hole_d = distance[ghost], distance[hole]
        scores.ghost_edge_px += int(np.count_nonzero(ghost_d <= NEAR_PX))
        scores.ghost_far_px += int(np.count_nonzero(ghost_d > FAR_PX))
        scores.hole_edge_px += int(np.count_nonzero(hole_d <= NEAR_PX))
        scores.hole_far_px += int(np.count_nonzero(hole_d > FAR_PX))
    band = edge_band(truth)
    if track.prev_err is not None and track.prev_err.shape == err.shape:
        both = band | track.prev_band
        scores.flicker_sum += float(np.abs(err - track.prev_err)[both].sum())
        scores.flicker_px += int(np.count_nonzero(both))
    track.prev_err, track.prev_band = err, band
    if output is not None and ref.foreground is not None:
        where = band & (alpha > 0.0) & (truth >= GHOST_REF)
        a = alpha[where][:, None]
        ideal = a * ref.foreground[where] + (1.0 - a) * np.float32(SCENE_COLOUR)
        scores.spill_sum += float(np.abs(output[where].astype(np.float32) - ideal).mean(1).sum())
        scores.spill_px += int(np.count_nonzero(where))


# ------------------------------------------------------------------------------ references


def fill_small_holes(alpha: np.ndarray, max_fraction: float) -> np.ndarray:
    """``alpha`` with every region below 0.5 that touches no border and covers less than
    ``max_fraction`` of the picture set to 1 (float32 HxW)."""
    outside = (alpha < 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(outside, connectivity=4)
    h, w = alpha.shape
    out = alpha.copy()
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        touches = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not touches and area < max_fraction * alpha.size:
            out[labels == i] = 1.0
    return out


class RvmStills:
    """RVM's alpha and foreground colour of stills, kept in a cache folder by content hash (PNG
    files: ``<sha>-alpha.png``, ``<sha>-fg.png``), so a second run does not matte again."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._matter = None

    def __call__(self, rgb: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(alpha float32 HxW in [0, 1], foreground RGB uint8 HxWx3) of ``rgb``."""
        a_path = self.cache_dir / f"{key}-alpha.png"
        f_path = self.cache_dir / f"{key}-fg.png"
        if a_path.is_file() and f_path.is_file():
            alpha = cv2.imread(str(a_path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535.0
            fg = cv2.cvtColor(cv2.imread(str(f_path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            if alpha.shape == rgb.shape[:2] and fg.shape == rgb.shape:
                return alpha, fg
        if self._matter is None:
            from train.corpus.matting import PersonMatter

            self._matter = PersonMatter()
        alpha, fg = self._matter.matte(rgb)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(a_path), np.rint(alpha * 65535.0).astype(np.uint16))
        cv2.imwrite(str(f_path), cv2.cvtColor(fg, cv2.COLOR_RGB2BGR))
        return alpha, fg


def _focus(alpha: np.ndarray, faces: tuple = ()) -> tuple[float, float]:
    """Where a webcam would point, as fractions of the still: below the first face's centre by
    half its height (head and shoulders), else the person's centroid."""
    h, w = alpha.shape
    if faces:
        x, y, fw, fh = faces[0]
        return (min(1.0, max(0.0, (x + fw / 2) / w)), min(1.0, max(0.0, (y + fh) / h)))
    m = cv2.moments((alpha >= 0.5).astype(np.uint8), binaryImage=True)
    if m["m00"] == 0:
        return 0.5, 0.4
    return m["m10"] / m["m00"] / w, m["m01"] / m["m00"] / h


def _animated(set_name: str, name: str, image_path: Path, alpha: np.ndarray, fg: np.ndarray,
              frames: int, size: tuple[int, int], seed: int,
              focus: tuple[float, float] = (0.5, 0.4), people: int = 1) -> Clip:
    """A clip of the still at ``image_path`` animated by ``vcam.demo_source.DemoSource``
    (centred on ``focus``), its reference ``alpha`` and foreground ``fg`` (aligned with the
    still) warped with it."""
    from vcam.demo_source import DemoSource, DemoSourceConfig

    width, height = size
    cfg = DemoSourceConfig(width=width, height=height, frames=frames, realtime=False, seed=seed,
                           image_path=image_path, focus=focus)
    premult = fg.astype(np.float32) * alpha[..., None]

    def generate() -> Iterator[RefFrame]:
        source = DemoSource(cfg)
        clean = DemoSource(DemoSourceConfig(**{**asdict(cfg), "noise_sigma": 0.0}))
        try:
            for i in range(frames):
                frame = source.render(i)
                m = source.view_transform(i)
                warp = dict(dsize=(width, height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT_101)
                a = cv2.warpAffine(alpha, m, **warp)
                p = cv2.warpAffine(premult, m, **warp)
                f = p / np.maximum(a, 1e-3)[..., None]
                f *= source.gains(i).astype(np.float32)
                # The frame's own sensor noise belongs to the person's colour too.
                f += frame.astype(np.float32) - clean.render(i).astype(np.float32)
                np.clip(f, 0.0, 255.0, out=f)
                yield RefFrame(frame, np.clip(a, 0.0, 1.0), f)
        finally:
            source.close()
            clean.close()

    return Clip(set_name, name, cfg.fps, generate, people)


def demo_clip(stills: RvmStills, frames: int, size: tuple[int, int]) -> Clip:
    """The built-in demo source's clip (seed 0, as ``phnet-cam demo``) with RVM references."""
    from vcam.images import PORTRAIT_PATH, read_rgb

    rgb = read_rgb(PORTRAIT_PATH)
    alpha, fg = stills(rgb, "demo-portrait")
    alpha = fill_small_holes(alpha, DEMO_FILL_FRACTION)
    # The helmet she holds is part of what the camera should show; RVM leaves it half
    # transparent, so it is added as the ellipse that outlines it (drawn at 4x, averaged down).
    (cx, cy), (ax, ay) = DEMO_HELMET
    big = np.zeros((rgb.shape[0] * 4, rgb.shape[1] * 4), np.uint8)
    cv2.ellipse(big, (cx * 4 + 2, cy * 4 + 2), (ax * 4, ay * 4), 0, 0, 360, 255, -1)
    helmet = cv2.resize(big, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_AREA)
    helmet = helmet.astype(np.float32) / 255.0
    fg = np.where((helmet > alpha)[..., None], rgb, fg)
    alpha = np.maximum(alpha, helmet)
    return _animated("demo", "demo", PORTRAIT_PATH, alpha, fg, frames, size, seed=0)


def corpus_clips(root: Path, stills: RvmStills, frames: int, size: tuple[int, int],
                 work: Path, limit: int = 0) -> tuple[list[Clip], list[Clip]]:
    """(real, composited) clips of every person in the corpus at ``root`` (all splits)."""
    from train.corpus.manifest import read_manifest
    from vcam.images import cover_crop, read_rgb

    entries = read_manifest(root)
    people = [e for e in entries if e.kind == "person"]
    scenes = [e for e in entries if e.kind == "scene"]
    if limit:
        people = people[:limit]
    real, composited = [], []
    for k, entry in enumerate(people):
        rgb = read_rgb(root / entry.name)
        matte = cv2.imread(str(root / entry.mask), cv2.IMREAD_GRAYSCALE)
        if matte is None or matte.shape != rgb.shape[:2]:
            log.warning("skipping %s: its mask %s is missing or of another size", entry.name,
                        entry.mask)
            continue
        rvm_alpha, fg = stills(rgb, entry.sha256 or Path(entry.name).stem)
        stem = Path(entry.name).stem
        alpha = matte.astype(np.float32) / 255.0
        focus = _focus(alpha, entry.faces)
        real.append(_animated("corpus", stem, root / entry.name, alpha, fg, frames, size,
                              seed=k + 1, focus=focus, people=entry.people))
        if scenes:
            scene = read_rgb(root / scenes[(7 * k) % len(scenes)].name)
            bg = cover_crop(scene, (rgb.shape[1], rgb.shape[0])).astype(np.float32)
            a = rvm_alpha[..., None]
            still = np.clip(np.rint(a * fg + (1.0 - a) * bg), 0, 255).astype(np.uint8)
            path = work / f"composited-{k:03d}.png"
            cv2.imwrite(str(path), cv2.cvtColor(still, cv2.COLOR_RGB2BGR))
            composited.append(_animated("composited", stem, path, rvm_alpha, fg, frames, size,
                                        seed=1000 + k, focus=focus, people=entry.people))
    return real, composited


# ---------------------------------------------------------------------------------- methods


class CameraMethod:
    """The camera's ``Pipeline`` at default settings over ``SCENE_COLOUR``, one per clip."""

    name = "camera"

    def __init__(self) -> None:
        self._pipeline = None

    def start(self, width: int, height: int, fps: float) -> None:
        from vcam.config import BackgroundConfig, HarmoniseConfig
        from vcam.pipeline import Pipeline, PipelineConfig

        self.stop()

        class _Size:  # the pipeline reads the source's size and rate only
            def __init__(self) -> None:
                self.width, self.height, self.fps = width, height, fps

            def read(self):
                return None

            def close(self) -> None:
                pass

        config = PipelineConfig(background=BackgroundConfig(kind="color", color=SCENE_COLOUR),
                                harmonise=HarmoniseConfig(mode="off"))
        self._pipeline = Pipeline(_Size(), [], config)

    def __call__(self, frame: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        result = self._pipeline.process_one(frame, t)
        if result.mask is None:  # the pipeline's fallback: no mask this frame
            return np.zeros(frame.shape[:2], np.float32), frame
        return np.asarray(result.mask.to_float()), result.composite

    def stop(self) -> None:
        if self._pipeline is not None:
            self._pipeline.stop()
            self._pipeline = None


class LfbwMethod:
    """LFBW's recipe (module docstring) on the camera's segmentation model, one EMA per clip."""

    name = "lfbw"
    THRESHOLD = 0.75
    UPDATE = 0.5

    def __init__(self) -> None:
        self._graph = None
        self._old: np.ndarray | None = None
        self._ts = 0

    def start(self, width: int, height: int, fps: float) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        from vcam.segmenter import DEFAULT_MODEL_PATH, LANDSCAPE_MODEL_PATH, model_for_aspect

        self.stop()
        path = LANDSCAPE_MODEL_PATH if model_for_aspect(width, height) == "landscape" \
            else DEFAULT_MODEL_PATH
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            running_mode=vision.RunningMode.IMAGE, output_confidence_masks=True,
            output_category_mask=False)
        self._mp = mp
        self._graph = vision.ImageSegmenter.create_from_options(options)
        self._old = None

    def __call__(self, frame: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (256, int(256 * h / w)), interpolation=cv2.INTER_AREA)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB,
                               data=np.ascontiguousarray(small))
        view = self._graph.segment(image).confidence_masks[0].numpy_view()
        person = (np.asarray(view).reshape(view.shape[:2]) > 0.5).astype(np.float32)
        mask = cv2.resize(person, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = cv2.GaussianBlur(mask, (7, 7), 0)
        _, mask = cv2.threshold(mask, self.THRESHOLD, 1.0, cv2.THRESH_BINARY)
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        mask = cv2.blur(mask, (10, 10))
        if self._old is None:
            self._old = mask
        else:
            self._old = cv2.addWeighted(self._old, 1.0 - self.UPDATE, mask, self.UPDATE, 0.0)
        mask = self._old
        scene = np.empty_like(frame)
        scene[:] = SCENE_COLOUR
        out = cv2.blendLinear(frame, scene, mask, 1.0 - mask)
        return mask, out

    def stop(self) -> None:
        if self._graph is not None:
            self._graph.close()
            self._graph = None


class RvmMethod:
    """Robust Video Matting (``vcam.rvm_matter.RvmMatter``), recurrent state carried through
    the clip, its own foreground colour composited over ``SCENE_COLOUR``."""

    name = "rvm"

    def __init__(self, model_path: Path | None = None, downsample_ratio: float = 0.0) -> None:
        from vcam.rvm_matter import RvmMatter

        if model_path is None:
            from train.corpus.matting import fetch_model

            model_path = fetch_model()
        self._matter = RvmMatter(model_path, downsample_ratio=downsample_ratio)

    def start(self, width: int, height: int, fps: float) -> None:
        self._matter.reset()

    def __call__(self, frame: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        alpha = self._matter(frame)
        a = alpha[..., None]
        out = a * self._matter.foreground + (1.0 - a) * np.float32(SCENE_COLOUR)
        return alpha, np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self._matter.close()


# ------------------------------------------------------------------------------------- run


@dataclass
class MatteReport:
    """Per set (and its one-person clips: "corpus, one person"), per method:
    ``MatteScores.summary()``; per clip too when asked."""

    size: tuple[int, int]
    sets: dict[str, dict[str, dict]] = field(default_factory=dict)
    clips: dict[str, dict[str, dict]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def evaluate(clips: list[Clip], methods: dict[str, object], size: tuple[int, int],
             keep: dict[tuple[str, int], dict] | None = None,
             per_clip: bool = False) -> MatteReport:
    """Run every method on every clip and score it. ``keep`` maps (clip name, frame index) to
    a dict that receives that frame's picture, reference and each method's output (for
    ``grid``)."""
    report = MatteReport(size=size)
    totals: dict[str, dict[str, MatteScores]] = {}
    for clip in clips:
        names = [n for n in methods if n != "rvm" or clip.set == "composited"]
        for n in names:
            methods[n].start(size[0], size[1], clip.fps)
        tracks = {n: _Track() for n in names}
        clip_scores = {n: MatteScores() for n in names}
        for i, ref in enumerate(clip.frames()):
            t = i / clip.fps
            kept = keep.get((f"{clip.set}/{clip.name}", i)) if keep is not None else None
            if kept is not None:
                kept.update(frame=ref.frame, reference=ref.alpha)
            for n in names:
                alpha, out = methods[n](ref.frame, t)
                score_frame(clip_scores[n], tracks[n], alpha, ref, out)
                if kept is not None:
                    kept[n] = out
        groups = [clip.set] + ([f"{clip.set}, one person"] if clip.set != "demo"
                               and clip.people == 1 else [])
        for n in names:
            methods[n].stop()
            for group in groups:
                total = totals.setdefault(group, {}).setdefault(n, MatteScores())
                for f in MatteScores.__dataclass_fields__:
                    setattr(total, f, getattr(total, f) + getattr(clip_scores[n], f))
            if per_clip:
                report.clips.setdefault(f"{clip.set}/{clip.name}", {})[n] = \
                    clip_scores[n].summary()
        log.info("%s/%s: %s", clip.set, clip.name,
                 {n: clip_scores[n].summary()["sad"] for n in names})
    report.sets = {s: {n: sc.summary() for n, sc in by.items()} for s, by in totals.items()}
    return report


MEASURES = (("sad", "SAD (x1000)"), ("ghost_pct", "ghost % of frame"),
            ("hole_pct", "hole % of person"), ("flicker", "edge flicker (x1000)"),
            ("spill", "edge spill (levels)"))


def format_markdown(report: MatteReport) -> str:
    """Two tables, a row per set and method: a column per measure; then where the ghosts and
    holes lie (at the reference's edge, between, far from it)."""
    head = "| set | method | frames | " + " | ".join(label for _, label in MEASURES) + " |"
    lines = [head, "|---|---|---:|" + "---:|" * len(MEASURES)]
    for set_name, by in report.sets.items():
        for method, s in by.items():
            cells = ["-" if s[k] is None else f"{s[k]:.2f}" for k, _ in MEASURES]
            lines.append(f"| {set_name} | {method} | {s['frames']} | " + " | ".join(cells) + " |")
    lines += ["", f"| set | method | ghost % of frame: within {NEAR_PX} px / {NEAR_PX}-{FAR_PX} "
              f"/ beyond {FAR_PX} px of the reference's edge | hole % of person: the same |",
              "|---|---|---|---|"]
    for set_name, by in report.sets.items():
        for method, s in by.items():
            lines.append(f"| {set_name} | {method} | {_split(s, 'ghost')} | {_split(s, 'hole')} |")
    return "\n".join(lines)


def _split(summary: dict, kind: str) -> str:
    """The text "edge / between / far of total" for ``kind`` (ghost or hole) of a
    ``summary()``."""
    total = summary[f"{kind}_pct"]
    if total is None:
        return "-"
    edge, far = summary[f"{kind}_edge_pct"], summary[f"{kind}_far_pct"]
    return f"{edge:.2f} / {total - edge - far:.2f} / {far:.2f} of {total:.2f}"


def grid(kept: dict[tuple[str, int], dict], columns: list[str], path: Path,
         tile_height: int = 180) -> Path:
    """A JPEG grid: a row per kept frame; the frame, the reference over ``SCENE_COLOUR`` and
    each method's picture, ``tile_height`` px high, labelled on the first row."""
    rows = []
    for (name, index), cells in kept.items():
        if "frame" not in cells:
            continue
        ref = cells["reference"][..., None]
        ref_pic = np.clip(np.rint(ref * cells["frame"] + (1 - ref) * np.float32(SCENE_COLOUR)),
                          0, 255).astype(np.uint8)
        tiles = [("frame", cells["frame"]), ("reference", ref_pic)]
        blank = np.full_like(cells["frame"], 40)
        tiles += [(c if c in cells else f"{c}: not run", cells.get(c, blank)) for c in columns]
        h, w = cells["frame"].shape[:2]
        width = round(w * tile_height / h)
        row = []
        for label, pic in tiles:
            tile = cv2.resize(pic, (width, tile_height), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, f"{label} ({name} {index})" if label == "frame" else label,
                        (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                        cv2.LINE_AA)
            row.append(tile)
        rows.append(np.hstack(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 85])
    return path


#: Where the demo's defects of issue 20 show, in the portrait's pixels (512x512) as (x0, y0, x1,
#: y1): the haze was old wall between the neck ring and the model shuttle, the strip the wall
#: between her left arm and the dark stand, the badge the name badge on her chest.
DEMO_REGIONS = {"haze": (300, 110, 380, 260), "strip": (352, 270, 385, 345),
                "badge": (280, 342, 328, 372)}
#: A frame shows a defect when, in its region: haze, more than 400 ghost pixels (alpha >= 0.25
#: where the reference < 0.05; at 640x480); strip, more than 150; badge, more than 1 % of the
#: badge below alpha 0.5; helmet, more than 5 % of the helmet (its ellipse shrunk by 6 px)
#: below alpha 0.5 (see-through).
DEMO_LIMITS = {"haze": 400, "strip": 150, "badge": 0.01, "helmet": 0.05}


def demo_defects(stills: RvmStills, method, size: tuple[int, int] = (640, 480)) -> dict:
    """Each defect of issue 20 in the built-in demo (90 frames, seed 0) as ``method`` shows it
    (``DEMO_REGIONS``, ``DEMO_LIMITS``): {defect: {"frames": [indices of the frames over the
    limit], "measure": [the measure in every frame]}}. The measure is the defect's count of
    ghost pixels (haze, strip) or its share below alpha 0.5 (badge, helmet)."""
    from vcam.demo_source import DemoSource, DemoSourceConfig

    clip = demo_clip(stills, 90, size)
    source = DemoSource(DemoSourceConfig(width=size[0], height=size[1], frames=90,
                                         realtime=False, seed=0))
    (cx, cy), (ax, ay) = DEMO_HELMET
    helmet = np.zeros((512, 512), np.float32)
    cv2.ellipse(helmet, (cx, cy), (ax - 6, ay - 6), 0, 0, 360, 1.0, -1)
    regions = {}
    for name, (x0, y0, x1, y1) in DEMO_REGIONS.items():
        regions[name] = np.zeros((512, 512), np.float32)
        regions[name][y0:y1, x0:x1] = 1.0
    found: dict[str, dict[str, list]] = {k: {"frames": [], "measure": []} for k in DEMO_LIMITS}
    method.start(size[0], size[1], clip.fps)

    def warped(plane: np.ndarray, i: int) -> np.ndarray:
        return cv2.warpAffine(plane, source.view_transform(i), size) > 0.5

    for i, ref in enumerate(clip.frames()):
        alpha, _ = method(ref.frame, i / clip.fps)
        ghost = (alpha >= GHOST_ALPHA) & (ref.alpha < GHOST_REF)
        measures = {}
        for name, region in regions.items():
            inside = warped(region, i)
            if name == "badge":
                measures[name] = float((alpha[inside] < HOLE_ALPHA).mean())
            else:
                measures[name] = int(np.count_nonzero(ghost & inside))
        measures["helmet"] = float((alpha[warped(helmet, i)] < HOLE_ALPHA).mean())
        for name, value in measures.items():
            found[name]["measure"].append(value)
            if value > DEMO_LIMITS[name]:
                found[name]["frames"].append(i)
    method.stop()
    return found


def rvm_cost(sizes: list[tuple[int, int]], ratios: list[float], frames: int = 30,
             model_path: Path | None = None) -> list[dict]:
    """Robust Video Matting's cost on the CPU: for each frame size and downsample ratio, the
    median milliseconds of one ``RvmMatter`` call on demo frames (state carried, after 3
    warm-up frames) and the process CPU time per frame; ``cores_at_30fps`` is that CPU time
    times 30 (where the call takes longer than 33 ms, 30 FPS cannot be reached: ``fps`` says
    what one call allows)."""
    from vcam.demo_source import DemoSource, DemoSourceConfig
    from vcam.rvm_matter import RvmMatter

    if model_path is None:
        from train.corpus.matting import fetch_model

        model_path = fetch_model()
    rows = []
    for width, height in sizes:
        source = DemoSource(DemoSourceConfig(width=width, height=height, realtime=False))
        clip = [source.render(i) for i in range(frames + 3)]
        for ratio in ratios:
            with RvmMatter(model_path, downsample_ratio=ratio) as rvm:
                for frame in clip[:3]:
                    rvm(frame)
                walls, cpu0 = [], time.process_time()
                for frame in clip[3:]:
                    t0 = time.perf_counter()
                    rvm(frame)
                    walls.append(time.perf_counter() - t0)
                cpu = (time.process_time() - cpu0) / frames
            ms = 1000.0 * float(np.median(walls))
            rows.append({"size": f"{width}x{height}", "ratio": ratio, "ms": round(ms, 1),
                         "fps": round(1000.0 / ms, 1), "cpu_ms": round(1000.0 * cpu, 1),
                         "cores_at_30fps": round(30.0 * cpu, 2)})
            log.info("%s", rows[-1])
    return rows


def _defect_text(name: str, found: dict[str, list]) -> str:
    """"helmet in 25 of 90 frames (65-89; at most 20 % of it below alpha 0.5)": the frames over
    the limit and the worst frame's measure."""
    frames, worst = found["frames"], max(found["measure"])
    unit = (f"{100 * worst:.0f} % of it below alpha 0.5" if name in ("badge", "helmet")
            else f"{worst} pixels shown as person")
    text = f"{name} in {len(frames)} of {len(found['measure'])} frames"
    return text + (f" ({_frames_text(frames)}; at most {unit})" if frames else f" (at most {unit})")


def _frames_text(frames: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7"."""
    runs: list[list[int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def _parse_grid(text: str) -> list[tuple[str, int]]:
    """``"demo/demo:70,corpus/skimage__astronaut:5"`` -> [("demo/demo", 70), ...]."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, index = part.rpartition(":")
        if not name or not index.isdigit():
            raise argparse.ArgumentTypeError(f"--grid-frames: expected NAME:INDEX, got {part!r}")
        out.append((name, int(index)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="phnet-eval-matte",
        description="The camera's person mask against reference mattes (SAD, ghost, hole, "
                    "edge flicker, edge spill), beside LFBW's recipe and RVM.")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="a phnet-corpus folder (the corpus and composited sets need it)")
    parser.add_argument("--sets", default="demo,corpus,composited",
                        help=f"comma-separated, of {', '.join(KNOWN_SETS)}")
    parser.add_argument("--methods", default="camera,lfbw,rvm",
                        help=f"comma-separated, of {', '.join(KNOWN_METHODS)}")
    parser.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument("--frames", type=int, default=12,
                        help="frames per corpus clip (default 12; the demo has 90)")
    parser.add_argument("--limit", type=int, default=0, help="at most this many corpus people")
    parser.add_argument("--rvm-ratio", type=float, default=0.0,
                        help="RVM's downsample ratio (0 = the camera option's auto)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for the RVM references of stills (default: the user cache)")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--per-clip", action="store_true", help="keep each clip's figures")
    parser.add_argument("--grid", type=Path, default=None, help="write a picture grid (JPEG)")
    parser.add_argument("--grid-frames", type=_parse_grid,
                        default=_parse_grid("demo/demo:70,corpus/skimage__astronaut:6,"
                                            "composited/ruby-rmagick-doc__Flower_Hat:6"),
                        help="SET/CLIP:FRAME list for --grid")
    parser.add_argument("--rvm-cost", default=None, metavar="RATIOS",
                        help="instead: time RVM on the CPU at 640x480 and 1280x720 at these "
                             "comma-separated downsample ratios (e.g. 0.25,0.375,0.5)")
    parser.add_argument("--demo-defects", action="store_true",
                        help="instead: the demo frames in which each method shows the haze, "
                             "the strip, the badge hole or the see-through helmet")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.rvm_cost:
        ratios = [float(r) for r in args.rvm_cost.split(",") if r.strip()]
        rows = rvm_cost([(640, 480), (1280, 720)], ratios, frames=args.frames * 3)
        print("| size | downsample ratio | ms a frame | FPS one call allows | CPU ms a frame "
              "| cores at 30 FPS |\n|---|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['size']} | {r['ratio']:g} | {r['ms']} | {r['fps']} | {r['cpu_ms']} "
                  f"| {r['cores_at_30fps']} |")
        if args.out is not None:
            args.out.write_text(json.dumps(rows, indent=1))
        return 0
    for quiet in ("vcam", "train.corpus"):  # their start-up lines, once per clip
        logging.getLogger(quiet).setLevel(logging.WARNING)

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    for value, known, what in ((sets, KNOWN_SETS, "--sets"), (names, KNOWN_METHODS, "--methods")):
        bad = [v for v in value if v not in known]
        if bad:
            parser.error(f"{what}: unknown {', '.join(bad)} (known: {', '.join(known)})")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size: expected WxH, got {args.size!r}")
    if args.demo_defects:
        from train.corpus.matting import default_cache_dir

        stills = RvmStills(args.cache or default_cache_dir() / "matte-references")
        found = {}
        for n in names:
            method = {"camera": CameraMethod, "lfbw": LfbwMethod}[n]() if n != "rvm" \
                else RvmMethod(downsample_ratio=args.rvm_ratio)
            found[n] = demo_defects(stills, method, (width, height))
            print(f"{n}: " + "; ".join(_defect_text(k, v) for k, v in found[n].items()))
        if args.out is not None:
            args.out.write_text(json.dumps(found, indent=1))
        return 0
    if ({"corpus", "composited"} & set(sets)) and args.corpus is None:
        parser.error("--corpus is needed for the corpus and composited sets")
    size = (width, height)
    if args.cache is None:
        from train.corpus.matting import default_cache_dir

        args.cache = default_cache_dir() / "matte-references"
    stills = RvmStills(args.cache)

    methods: dict[str, object] = {}
    for n in names:
        methods[n] = {"camera": CameraMethod, "lfbw": LfbwMethod}[n]() if n != "rvm" \
            else RvmMethod(downsample_ratio=args.rvm_ratio)

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="phnet-matte-") as tmp:
        clips: list[Clip] = []
        if "demo" in sets:
            clips.append(demo_clip(stills, 90, size))
        if {"corpus", "composited"} & set(sets):
            real, comp = corpus_clips(args.corpus, stills, args.frames, size, Path(tmp),
                                      args.limit)
            clips += (real if "corpus" in sets else []) + (comp if "composited" in sets else [])
        keep = {key: {} for key in args.grid_frames} if args.grid else None
        report = evaluate(clips, methods, size, keep, args.per_clip)
    import vcam

    report.info = {"seconds": round(time.perf_counter() - began, 1),
                   "vcam": str(Path(vcam.__file__).parent), "size": f"{width}x{height}",
                   "frames_per_corpus_clip": args.frames, "rvm_ratio": args.rvm_ratio or "auto",
                   "edge_radius": EDGE_RADIUS, "scene_colour": SCENE_COLOUR}
    print(format_markdown(report))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(asdict(report), indent=1))
        print(f"wrote {args.out}")
    if args.grid is not None and keep:
        grid(keep, [n for n in ("camera", "lfbw", "rvm") if n in methods], args.grid)
        print(f"wrote {args.grid}")
    for m in methods.values():
        getattr(m, "close", lambda: None)()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
