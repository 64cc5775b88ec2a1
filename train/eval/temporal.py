"""Temporal consistency on synthetic video with known motion.

A still photo with its person mask becomes a clip of ``frames`` frames: a smooth pan and zoom
(one ``cv2.warpAffine`` per frame, the same warp for the photo and the mask, the window always
inside the photo) and, on the person only, a recolouring by per-channel gains that drift slowly
(a colour cast plus sinusoidal brightness and colour drifts) and jitter from frame to frame
(small seeded random gains: what a webcam's auto-exposure and white balance do to the person,
while the virtual background stays put). Optionally the mask handed to the harmoniser jitters
too (random erosion or dilation by up to ``mask_jitter_px`` pixels, like a segmenter's edge):

    composite_t = gains_t * real_t over real_t under mask_t,     ground truth = real_t.

Each harmoniser runs over the frames in order, reset once before the clip and never inside it,
so its temporal state (PN statistics, colour-transfer statistics) carries. Per method:

- ``fmse``: mean per-frame fMSE against the ground truth (``metrics.MetricConfig``).
- ``flicker``: since the motion is known and identical for output and ground truth, the
  output's frame-to-frame change should equal the ground truth's; mean over frame pairs of the
  mean over foreground pixels (in both frames) and channels of
  ``((out_{t+1} - out_t) - (gt_{t+1} - gt_t))^2``, 0-255 scale. A perfect harmoniser scores 0.
- ``fr_rtc``: the flow-free fR-RTC (VTT, CVPR'24): ``b_t`` = mean HSV V (0-255, = max of R, G, B)
  over the foreground, ``g = b_{t+1} - b_t`` for ground truth and output, ``dg = g_real - g_out``,
  score = ``mean(dg^2 + max(|dg| - mean|dg|, 0)^2)``.

Clip scores are averaged over clips, each clip weighing the same.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from .metrics import MetricConfig, fmse as fmse_metric

log = logging.getLogger(__name__)

TEMPORAL_METRICS = ("fmse", "flicker", "fr_rtc")


@dataclass(frozen=True)
class VideoConfig:
    """How a still becomes a clip. Gains multiply RGB on the 0-255 scale.

    ``zoom``: (mean, amplitude) of the zoom factor (>= 1 throughout, so the window stays inside
    the photo); ``pan``: pan amplitude as a fraction of the margin the zoom leaves; ``cast``:
    half-range of the constant per-channel colour cast; ``drift_brightness`` / ``drift_colour``:
    amplitudes of the slow sinusoidal drifts over the clip; ``jitter``: standard deviation of the
    per-frame, per-channel random gain (plus the same again, shared by all channels, as
    brightness); ``mask_jitter_px``: largest per-frame erosion/dilation of the harmoniser's mask.
    """

    frames: int = 48
    zoom: tuple[float, float] = (1.25, 0.1)
    pan: float = 0.9
    cast: float = 0.2
    drift_brightness: float = 0.2
    drift_colour: float = 0.08
    jitter: float = 0.03
    mask_jitter_px: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(f"a clip needs at least 2 frames, got {self.frames}")
        if self.zoom[0] - abs(self.zoom[1]) < 1.0:
            raise ValueError(f"zoom must stay >= 1 (mean - amplitude), got {self.zoom}")
        if not 0.0 <= self.pan <= 1.0:
            raise ValueError(f"pan must lie in [0, 1] (a fraction of the margin), got {self.pan}")
        if self.jitter < 0 or self.cast < 0 or self.mask_jitter_px < 0:
            raise ValueError("jitter, cast and mask_jitter_px must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Video:
    """A synthetic clip: lists of RGB uint8 HxWx3 composites and ground truths, float32 HxW masks
    (``masks``: handed to the harmoniser; ``true_masks``: the warped person mask, for metrics)
    and the (frames, 3) gains applied to the person."""

    composites: list[np.ndarray]
    reals: list[np.ndarray]
    masks: list[np.ndarray]
    true_masks: list[np.ndarray]
    gains: np.ndarray
    name: str = ""

    def __len__(self) -> int:
        return len(self.composites)


def _warp_matrix(h: int, w: int, u: float, cfg: VideoConfig, phase: float) -> np.ndarray:
    """Affine map source -> frame at clip phase ``u`` in [0, 1]: zoom ``z`` about a moving centre."""
    z = cfg.zoom[0] + cfg.zoom[1] * math.sin(2.0 * math.pi * u)
    z_min = cfg.zoom[0] - abs(cfg.zoom[1])
    ax = cfg.pan * 0.5 * w * (1.0 - 1.0 / z_min)
    ay = cfg.pan * 0.5 * h * (1.0 - 1.0 / z_min)
    cx = 0.5 * w + ax * math.sin(2.0 * math.pi * u + phase)
    cy = 0.5 * h + ay * math.sin(math.pi * u + phase)
    # dst = z * (src - c) + centre of the frame, in OpenCV's pixel-centre coordinates
    return np.array(
        [[z, 0.0, (w - 1) / 2.0 - z * (cx - 0.5)], [0.0, z, (h - 1) / 2.0 - z * (cy - 0.5)]],
        dtype=np.float64,
    )


def _gains(cfg: VideoConfig, rng: np.random.Generator) -> np.ndarray:
    """(frames, 3) per-channel gains: cast x slow drifts x per-frame jitter."""
    t = np.linspace(0.0, 1.0, cfg.frames)[:, None]
    cast = 1.0 + rng.uniform(-cfg.cast, cfg.cast, size=(1, 3))
    ph_b, ph_c = rng.uniform(0.0, 2.0 * math.pi, size=2)
    colour_dir = rng.normal(size=(1, 3))
    colour_dir /= max(np.linalg.norm(colour_dir), 1e-9)
    drift = (1.0 + cfg.drift_brightness * np.sin(2.0 * math.pi * t + ph_b)) * (
        1.0 + cfg.drift_colour * colour_dir * np.sin(2.0 * math.pi * t + ph_c)
    )
    jitter = (1.0 + cfg.jitter * rng.normal(size=(cfg.frames, 3))) * (
        1.0 + cfg.jitter * rng.normal(size=(cfg.frames, 1))
    )
    return np.clip(cast * drift * jitter, 0.05, None)


def _jitter_mask(mask: np.ndarray, px: int, rng: np.random.Generator) -> np.ndarray:
    k = int(rng.integers(-px, px + 1))
    if k == 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(k) + 1, 2 * abs(k) + 1))
    op = cv2.dilate if k > 0 else cv2.erode
    return op(mask, kernel)


def make_video(real: np.ndarray, mask: np.ndarray, config: VideoConfig | None = None,
               name: str = "") -> Video:
    """A clip from one photo. ``real``: RGB uint8 HxWx3; ``mask``: HxW in [0, 1], 1 = person."""
    cfg = config or VideoConfig()
    if not isinstance(real, np.ndarray) or real.dtype != np.uint8 or real.ndim != 3 or real.shape[2] != 3:
        raise ValueError(f"real must be an RGB uint8 HxWx3 array, got {getattr(real, 'shape', real)}")
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != real.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match real {real.shape}")
    h, w = mask.shape
    rng = np.random.default_rng(cfg.seed)
    phase = float(rng.uniform(0.0, 2.0 * math.pi))
    gains = _gains(cfg, rng)
    comps, reals, masks, true_masks = [], [], [], []
    for i in range(cfg.frames):
        mat = _warp_matrix(h, w, i / (cfg.frames - 1), cfg, phase)
        r = cv2.warpAffine(real.astype(np.float32), mat, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT101)
        m = cv2.warpAffine(mask, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        m = np.clip(m, 0.0, 1.0)
        mh = _jitter_mask(m, cfg.mask_jitter_px, rng) if cfg.mask_jitter_px else m
        fg = np.clip(r * gains[i].astype(np.float32), 0.0, 255.0)
        comp = r + mh[..., None] * (fg - r)
        comps.append(np.clip(np.rint(comp), 0, 255).astype(np.uint8))
        reals.append(np.clip(np.rint(r), 0, 255).astype(np.uint8))
        masks.append(np.ascontiguousarray(mh, dtype=np.float32))
        true_masks.append(np.ascontiguousarray(m, dtype=np.float32))
    return Video(comps, reals, masks, true_masks, gains, name)


def run_video(harmoniser: Callable[[np.ndarray, np.ndarray], np.ndarray], video: Video) -> list[np.ndarray]:
    """Runs ``harmoniser`` over the clip in order: ``reset()`` once before, never inside."""
    if hasattr(harmoniser, "reset"):
        harmoniser.reset()
    return [harmoniser(c, m) for c, m in zip(video.composites, video.masks)]


def _hsv_value_mean(img: np.ndarray, fg: np.ndarray) -> float:
    v = img.astype(np.float64).max(axis=2)
    n = int(fg.sum())
    return float(v[fg].mean()) if n else math.nan


def flicker_score(outputs: Sequence[np.ndarray], reals: Sequence[np.ndarray],
                  masks: Sequence[np.ndarray], threshold: float = 0.5) -> float:
    """Mean over frame pairs of mean over foreground pixels (in both frames) and channels of
    ``((out_{t+1} - out_t) - (gt_{t+1} - gt_t))^2`` on the 0-255 scale; 0 for a perfect output."""
    if not (len(outputs) == len(reals) == len(masks)) or len(outputs) < 2:
        raise ValueError("flicker needs at least 2 frames of outputs, ground truths and masks alike")
    scores = []
    for t in range(len(outputs) - 1):
        fg = (masks[t] > threshold) & (masks[t + 1] > threshold)
        if not fg.any():
            continue
        d_out = outputs[t + 1].astype(np.float64) - outputs[t].astype(np.float64)
        d_gt = reals[t + 1].astype(np.float64) - reals[t].astype(np.float64)
        scores.append(float(np.mean(np.square(d_out - d_gt)[fg])))
    return float(np.mean(scores)) if scores else math.nan


def fr_rtc(outputs: Sequence[np.ndarray], reals: Sequence[np.ndarray],
           masks: Sequence[np.ndarray], threshold: float = 0.5) -> float:
    """fR-RTC (VTT, CVPR'24; docs/ARCHITECTURE.md): brightness changes of the output's foreground against the truth's.

    ``b_t`` = mean of HSV V (max of R, G, B, 0-255) over the foreground of frame t;
    ``dg = (b_real_{t+1} - b_real_t) - (b_out_{t+1} - b_out_t)``;
    score = ``mean(dg^2 + max(|dg| - mean|dg|, 0)^2)``.
    """
    if not (len(outputs) == len(reals) == len(masks)) or len(outputs) < 2:
        raise ValueError("fR-RTC needs at least 2 frames of outputs, ground truths and masks alike")
    fgs = [m > threshold for m in masks]
    b_out = np.array([_hsv_value_mean(o, f) for o, f in zip(outputs, fgs)])
    b_real = np.array([_hsv_value_mean(r, f) for r, f in zip(reals, fgs)])
    dg = np.diff(b_real) - np.diff(b_out)
    dg = dg[np.isfinite(dg)]
    if dg.size == 0:
        return math.nan
    a = np.abs(dg)
    return float(np.mean(np.square(dg) + np.square(np.maximum(a - a.mean(), 0.0))))


def video_scores(outputs: Sequence[np.ndarray], video: Video, config: MetricConfig | None = None) -> dict:
    """``{"fmse", "flicker", "fr_rtc"}`` of one clip's outputs against its ground truth."""
    cfg = config or MetricConfig()
    thr = cfg.mask_threshold if cfg.mask_threshold is not None else 0.5
    f = [fmse_metric(o, r, m, cfg.fmse, cfg.mask_threshold)
         for o, r, m in zip(outputs, video.reals, video.true_masks)]
    f = [v for v in f if not math.isnan(v)]
    return {
        "fmse": float(np.mean(f)) if f else math.nan,
        "flicker": flicker_score(outputs, video.reals, video.true_masks, thr),
        "fr_rtc": fr_rtc(outputs, video.reals, video.true_masks, thr),
    }


@dataclass
class TemporalResult:
    """Per-method means over clips, the per-clip scores, and what ran."""

    methods: dict[str, dict] = field(default_factory=dict)
    clips: dict[str, list[dict]] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)
    video: dict = field(default_factory=dict)
    metric: dict = field(default_factory=dict)
    n_clips: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_temporal(harmonisers: dict[str, object], videos: Iterable[Video],
                      metric: MetricConfig | None = None, video_config: VideoConfig | None = None,
                      progress: Callable[[str], None] | None = None) -> TemporalResult:
    """Runs every harmoniser over every clip (each clip from its own reset) and averages the
    clip scores per method. ``harmonisers`` maps a label to an object with the frame call shape."""
    cfg = metric or MetricConfig()
    res = TemporalResult(metric=cfg.to_dict(), video=(video_config.to_dict() if video_config else {}))
    res.clips = {k: [] for k in harmonisers}
    for video in videos:
        res.n_clips += 1
        for label, h in harmonisers.items():
            scores = video_scores(run_video(h, video), video, cfg)
            scores["clip"] = video.name
            res.clips[label].append(scores)
            if progress:
                progress(f"{video.name} {label}: " + ", ".join(f"{k}={scores[k]:.3f}" for k in TEMPORAL_METRICS))
    if res.n_clips == 0:
        raise ValueError("no clips to evaluate: the source of stills is empty")
    for label, rows in res.clips.items():
        res.methods[label] = {
            k: _nanmean([r[k] for r in rows]) for k in TEMPORAL_METRICS
        }
        res.methods[label]["n"] = len(rows)
        info = getattr(harmonisers[label], "info", None)
        res.info[label] = info() if callable(info) else {"method": label}
    return res


def _nanmean(values: list[float]) -> float | None:
    v = [x for x in values if x is not None and not math.isnan(x)]
    return float(np.mean(v)) if v else None


def format_temporal_markdown(res: TemporalResult, title: str = "PHNet temporal evaluation") -> str:
    """Markdown report: header with the clip recipe and metric conventions, one table."""
    v = res.video
    lines = [f"# {title}", ""]
    if v:
        lines.append(
            f"Synthetic video with known motion: {res.n_clips} clip(s) x {v.get('frames')} frames; "
            f"pan/zoom (zoom {v.get('zoom')}), person recoloured by per-channel gains "
            f"(cast ±{v.get('cast')}, drift brightness {v.get('drift_brightness')}, colour "
            f"{v.get('drift_colour')}, per-frame jitter σ={v.get('jitter')}), mask jitter "
            f"{v.get('mask_jitter_px')} px, seed {v.get('seed')}. Each method runs over each clip in "
            "order without reset; ground truth = the moving photo."
        )
        lines.append("")
    m = res.metric
    lines.append(
        f"fMSE: mean per-frame fMSE ({m.get('fmse')} convention, masks binarised at "
        f"{m.get('mask_threshold')}). Flicker: mean over frame pairs and foreground pixels of "
        "((out_t+1 - out_t) - (gt_t+1 - gt_t))^2, 0-255 scale (0 = as steady as the truth). "
        "fR-RTC: VTT's flow-free score on the foreground mean of HSV V (0-255). Lower is better."
    )
    lines += ["", "| Method | fMSE ↓ | Flicker ↓ | fR-RTC ↓ | clips |", "|---|---:|---:|---:|---:|"]
    for label, d in res.methods.items():
        lines.append(
            f"| {label} | {_fmt(d['fmse'])} | {_fmt(d['flicker'])} | {_fmt(d['fr_rtc'], 3)} | {d['n']} |"
        )
    lines += ["", "Methods:", ""]
    for label, info in res.info.items():
        lines.append(f"- `{label}`: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    return "\n".join(lines) + "\n"


def _fmt(x, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"
