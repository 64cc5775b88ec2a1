"""Image-harmonisation metrics: MSE, fMSE, PSNR and fPSNR per image, averaged per image.

All metrics work on RGB images on the 0-255 scale (uint8 or float HxWx3), accumulate in float64
and are averaged per image, never per pixel. The conventions that differ between published
evaluations (paper Appendix A) are parameters, gathered in ``MetricConfig`` and named in every
summary:

- ``mask_threshold``: masks are binarised at 0.5 by default, as the paper does. ``None`` keeps
  soft (matting) masks, and only then do the two fMSE conventions differ.
- ``fmse``: ``"idih"`` = sum(M * err^2) / (3 * sum(M)) (paper Eq. 16, iDIH and later works) or
  ``"iharmony4"`` = sum(M^2 * err^2) / (3 * sum(M)) (paper Eq. 17, the original iHarmony4 code).
- ``peak``: PSNR = 10 log10(peak^2 / MSE) with ``"target-max"`` (the maximum of the target
  image over all pixels and channels, the paper's Eq. 13 choice) or ``"255"``. fPSNR uses the
  same peak with fMSE.
- ``psnr_cap``: an error of exactly 0 would give an infinite PSNR; it is reported as
  ``psnr_cap`` dB (100 by default) and the number of capped values is counted, so that a capped
  mean is never mistaken for a measured one. PSNRs are clamped to ``[-psnr_cap, psnr_cap]``.

Foreground-ratio buckets follow paper Table 5: f < 5 %, 5 % <= f < 15 %, f >= 15 %, with f the
fraction of the image under the (binarised) mask.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

FMSE_CONVENTIONS = ("idih", "iharmony4")
PEAK_CONVENTIONS = ("target-max", "255")
METRIC_NAMES = ("mse", "fmse", "psnr", "fpsnr")

BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("0-5%", 0.0, 0.05),
    ("5-15%", 0.05, 0.15),
    ("15-100%", 0.15, math.inf),
)
"""Foreground-ratio buckets (label, lower bound inclusive, upper bound exclusive), paper Table 5."""

DEFAULT_PSNR_CAP = 100.0


@dataclass(frozen=True)
class MetricConfig:
    """The metric conventions; see the module docstring."""

    fmse: str = "idih"
    peak: str = "target-max"
    mask_threshold: float | None = 0.5
    psnr_cap: float = DEFAULT_PSNR_CAP

    def __post_init__(self) -> None:
        if self.fmse not in FMSE_CONVENTIONS:
            raise ValueError(f"fmse convention must be one of {FMSE_CONVENTIONS}, got {self.fmse!r}")
        if str(self.peak) not in PEAK_CONVENTIONS:
            raise ValueError(f"PSNR peak must be one of {PEAK_CONVENTIONS}, got {self.peak!r}")
        object.__setattr__(self, "peak", str(self.peak))
        if self.mask_threshold is not None and not 0.0 <= self.mask_threshold < 1.0:
            raise ValueError(f"mask_threshold must lie in [0, 1) or be None, got {self.mask_threshold}")
        if not self.psnr_cap > 0:
            raise ValueError(f"psnr_cap must be positive, got {self.psnr_cap}")

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """One sentence naming every convention, for report headers."""
        masks = (
            f"masks binarised at {self.mask_threshold:g}"
            if self.mask_threshold is not None
            else "soft (non-binarised) masks"
        )
        fmse = (
            "fMSE = sum(M*err^2)/(3*sum(M)) (idih convention, paper Eq. 16)"
            if self.fmse == "idih"
            else "fMSE = sum(M^2*err^2)/(3*sum(M)) (iharmony4 convention, paper Eq. 17)"
        )
        peak = (
            "PSNR peak = max of the target image (target-max, the paper's)"
            if self.peak == "target-max"
            else "PSNR peak = 255"
        )
        return (
            f"Metrics on 0-255 RGB, averaged per image; {masks}; {fmse}; {peak}, fPSNR likewise "
            f"from fMSE; an error of 0 is reported as {self.psnr_cap:g} dB (capped)."
        )


@dataclass
class ImageMetrics:
    """Metrics of one image. ``fmse``/``fpsnr`` are NaN when the mask is empty."""

    mse: float
    fmse: float
    psnr: float
    fpsnr: float
    fg_ratio: float
    bucket: str
    psnr_capped: bool = False
    fpsnr_capped: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _sq_err(pred, target) -> np.ndarray:
    """Per-pixel sum over channels of the squared error, float64 HxW. Integer images are
    differenced exactly in int32 (a 6000x4000 frame then needs no float64 copies of its own)."""
    p, t = np.asarray(pred), np.asarray(target)
    for a, name in ((p, "pred"), (t, "target")):
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"{name} must be an RGB HxWx3 image on the 0-255 scale, got shape {a.shape}")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise TypeError(f"{name} must be a numeric image, got dtype {a.dtype}")
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target {t.shape}")
    if np.issubdtype(p.dtype, np.integer) and np.issubdtype(t.dtype, np.integer):
        d = p.astype(np.int32) - t.astype(np.int32)
        return np.einsum("hwc,hwc->hw", d, d).astype(np.float64)
    d = p.astype(np.float64) - t.astype(np.float64)
    return np.einsum("hwc,hwc->hw", d, d)


def _mask(m, shape: tuple[int, int], threshold: float | None) -> np.ndarray:
    a = np.asarray(m)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.shape != shape:
        raise ValueError(f"mask must be HxW matching the image {shape}, got shape {a.shape}")
    a = a.astype(np.float64, copy=False)
    if threshold is not None:
        return (a > threshold).astype(np.float64)
    return a


def prepare_mask(mask, shape: tuple[int, int], threshold: float | None = 0.5) -> np.ndarray:
    """HxW (or HxWx1) mask -> float64 HxW, binarised at ``threshold`` (``mask > threshold``)
    unless ``threshold`` is None."""
    return _mask(mask, tuple(shape), threshold)


def mse(pred, target) -> float:
    """Mean over pixels and channels of the squared error, 0-255 scale."""
    err = _sq_err(pred, target)
    return float(err.sum() / (3.0 * err.size))


def fmse(pred, target, mask, convention: str = "idih", threshold: float | None = 0.5) -> float:
    """Foreground MSE (paper Eq. 16 ``"idih"`` or Eq. 17 ``"iharmony4"``); NaN for an empty mask.

    ``mask`` HxW in [0, 1]; binarised at ``threshold`` unless it is None (the conventions only
    differ on soft masks).
    """
    if convention not in FMSE_CONVENTIONS:
        raise ValueError(f"fmse convention must be one of {FMSE_CONVENTIONS}, got {convention!r}")
    err = _sq_err(pred, target)
    m = _mask(mask, err.shape, threshold)
    total = float(m.sum())
    if total <= 0.0:
        return math.nan
    w = m if convention == "idih" else np.square(m)
    return float(np.sum(w * err) / (3.0 * total))


def peak_value(target, convention: str = "target-max") -> float:
    """The PSNR peak: ``"target-max"`` = max of the target image, ``"255"`` = 255."""
    if str(convention) == "255":
        return 255.0
    if convention != "target-max":
        raise ValueError(f"PSNR peak must be one of {PEAK_CONVENTIONS}, got {convention!r}")
    return float(np.max(np.asarray(target)))


def psnr_from_mse(err: float, peak: float, cap: float = DEFAULT_PSNR_CAP) -> float:
    """10 log10(peak^2 / err), clamped to [-cap, cap]; ``err == 0`` gives ``cap``, NaN stays NaN."""
    if math.isnan(err):
        return math.nan
    if err <= 0.0:
        return float(cap)
    if peak <= 0.0:
        return -float(cap)
    return float(min(cap, max(-cap, 10.0 * math.log10(peak * peak / err))))


def psnr(pred, target, peak: str = "target-max", cap: float = DEFAULT_PSNR_CAP) -> float:
    """PSNR in dB on the 0-255 scale with the named peak convention."""
    return psnr_from_mse(mse(pred, target), peak_value(target, peak), cap)


def fpsnr(pred, target, mask, convention: str = "idih", peak: str = "target-max",
          threshold: float | None = 0.5, cap: float = DEFAULT_PSNR_CAP) -> float:
    """Foreground PSNR: ``psnr_from_mse`` of ``fmse`` with the same peak as PSNR."""
    return psnr_from_mse(fmse(pred, target, mask, convention, threshold), peak_value(target, peak), cap)


def foreground_ratio(mask, threshold: float | None = 0.5) -> float:
    """Fraction of the image under the mask (binarised at ``threshold`` unless None)."""
    a = np.asarray(mask)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"mask must be a non-empty HxW array, got shape {a.shape}")
    if threshold is not None:
        return int(np.count_nonzero(a > threshold)) / a.size
    return float(np.mean(a, dtype=np.float64))


def bucket_of(ratio: float) -> str:
    """Label of the foreground-ratio bucket (paper Table 5) holding ``ratio`` in [0, 1]."""
    for label, lo, hi in BUCKETS:
        if lo <= ratio < hi:
            return label
    raise ValueError(f"foreground ratio must lie in [0, 1], got {ratio}")


def compute_metrics(pred, target, mask, config: MetricConfig | None = None) -> ImageMetrics:
    """All metrics of one image. ``pred``, ``target``: RGB HxWx3 on the 0-255 scale (uint8 or
    float); ``mask``: HxW (or HxWx1) in [0, 1], 1 = foreground."""
    cfg = config or MetricConfig()
    err = _sq_err(pred, target)
    m = _mask(mask, err.shape, cfg.mask_threshold)
    mse_v = float(err.sum() / (3.0 * err.size))
    total = float(m.sum())
    if total > 0.0:
        w = m if cfg.fmse == "idih" else np.square(m)
        fmse_v = float(np.sum(w * err) / (3.0 * total))
    else:
        fmse_v = math.nan
    peak = peak_value(target, cfg.peak)
    ratio = foreground_ratio(mask, cfg.mask_threshold)
    return ImageMetrics(
        mse=mse_v,
        fmse=fmse_v,
        psnr=psnr_from_mse(mse_v, peak, cfg.psnr_cap),
        fpsnr=psnr_from_mse(fmse_v, peak, cfg.psnr_cap),
        fg_ratio=ratio,
        bucket=bucket_of(min(max(ratio, 0.0), 1.0)),
        psnr_capped=mse_v <= 0.0,
        fpsnr_capped=fmse_v <= 0.0,
    )


def tensor_to_image(x) -> np.ndarray:
    """(3, H, W) float tensor or array in [0, 1] -> float64 HxWx3 on the 0-255 scale (no rounding)."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 3 or a.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) image, got shape {a.shape}")
    return a.transpose(1, 2, 0) * 255.0


def tensor_to_mask(x) -> np.ndarray:
    """(1, H, W) or (H, W) tensor or array -> float64 HxW."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"expected a (1, H, W) or (H, W) mask, got shape {a.shape}")
    return a


def batch_metrics(pred, target, mask, config: MetricConfig | None = None) -> list[ImageMetrics]:
    """Tensor path (training validation): ``pred``, ``target`` (N, 3, H, W) in [0, 1], ``mask``
    (N, 1, H, W); scaled to 0-255 without rounding. One ``ImageMetrics`` per image."""
    if len(pred) != len(target) or len(pred) != len(mask):
        raise ValueError(f"batch sizes differ: {len(pred)}, {len(target)}, {len(mask)}")
    return [
        compute_metrics(tensor_to_image(p), tensor_to_image(t), tensor_to_mask(m), config)
        for p, t, m in zip(pred, target, mask)
    ]


class _Group:
    """Running sums of per-image metrics (NaN values are skipped and counted apart)."""

    def __init__(self) -> None:
        self.n = 0
        self.sums = dict.fromkeys(METRIC_NAMES, 0.0)
        self.counts = dict.fromkeys(METRIC_NAMES, 0)
        self.capped = 0

    def add(self, m: ImageMetrics) -> None:
        self.n += 1
        for k in METRIC_NAMES:
            v = getattr(m, k)
            if not math.isnan(v):
                self.sums[k] += v
                self.counts[k] += 1
        self.capped += int(m.psnr_capped) + int(m.fpsnr_capped)

    def summary(self) -> dict:
        d: dict = {"n": self.n}
        for k in METRIC_NAMES:
            d[k] = self.sums[k] / self.counts[k] if self.counts[k] else None
        d["n_fg"] = self.counts["fmse"]
        d["n_capped"] = self.capped
        return d


class MetricAccumulator:
    """Averages per-image metrics overall, per subset and per foreground-ratio bucket.

    Every image weighs the same, whatever its size or mask area; ``overall`` is the mean over
    all images (not the mean of the subset means). ``fmse``/``fpsnr`` skip images with an empty
    mask (``n_fg`` counts those that enter). ``keep_records=True`` keeps one dict per image.
    """

    def __init__(self, config: MetricConfig | None = None, keep_records: bool = False) -> None:
        self.config = config or MetricConfig()
        self.keep_records = keep_records
        self.records: list[dict] = []
        self._overall = _Group()
        self._subsets: dict[str, _Group] = {}
        self._buckets = {label: _Group() for label, _, _ in BUCKETS}

    def __len__(self) -> int:
        return self._overall.n

    def add(self, m: ImageMetrics, subset: str = "", name: str = "") -> None:
        self._overall.add(m)
        self._subsets.setdefault(subset or "all", _Group()).add(m)
        self._buckets[m.bucket].add(m)
        if self.keep_records:
            self.records.append({"name": name, "subset": subset, **m.to_dict()})

    def update(self, pred, target, mask, subset: str = "", name: str = "") -> ImageMetrics:
        """Computes one image's metrics with this accumulator's config and adds them."""
        m = compute_metrics(pred, target, mask, self.config)
        self.add(m, subset, name)
        return m

    def extend(self, items: Iterable[tuple[ImageMetrics, str]]) -> None:
        for m, subset in items:
            self.add(m, subset)

    def summary(self) -> dict:
        """``{"conventions", "overall", "subsets", "buckets"}``; each group holds ``n``, the four
        means (None when no image counts), ``n_fg`` and ``n_capped``."""
        return {
            "conventions": self.config.to_dict(),
            "overall": self._overall.summary(),
            "subsets": {k: g.summary() for k, g in sorted(self._subsets.items())},
            "buckets": {k: g.summary() for k, g in self._buckets.items()},
        }
