"""The light a person is in, and a bounded move to the light of a new scene.

A camera, unlike a photo editor, has the frame the person was cut from (``captured``): their own
room, lit as they are. Harmonising a person into a new background is then "move them from the
room's light to the scene's", not "make them look like the background". This module does that
classically, and it is the harmoniser's first step (``phnet.Harmonizer`` with ``captured``):

1. The light of each background, the room's (``captured`` outside the person) and the scene's
   (the composite outside the person), by **shades of grey** (Finlayson and Trezzi, 2004): the
   Minkowski p-norm of each linear-RGB channel, ``L_c = (sum w x_c^p / sum w)^(1/p)``. The
   default p = 1 (grey world) was chosen on the training sources' validation people: with the
   background another view of the room under a new light, p = 6 left 77 % of the composite's
   error and up to twice it, p = 1 34 % (both left 2-5 % when the view was the same).
   A pixel near clipping in any channel of *either* picture is left out of both: a clipped
   window says nothing about the light's colour, and leaving it out of one side only biased
   the ratio (measured: a relit room's exposure misjudged by up to 1.2 EV; 0.03 EV without).
2. The change, ``log2(L_scene / L_room)`` per channel, split into an **exposure** (the change of
   the lights' luminance, in EV), a **warmth** (along the daylight locus: the colours real
   light has) and a **tint** (the rest, green-magenta), each capped: ``max_ev`` (1 stop),
   ``max_warm_ev`` (0.2 stop, about 19 mired) and ``max_tint_ev`` (0.05 stop). Whatever the two
   backgrounds hold, a person is never brightened or darkened by more than a stop, and a
   green lawn cannot turn a face green. The colour caps are small on purpose: they were set
   on the validation people so that no bundled or validation background moves a face's mean
   Lab a or b by more than 6 levels (wider caps follow a relit room's colour more closely,
   but a lawn's or a sunset's colour is mostly its own, not its light's).
3. The person multiplied by the change in linear RGB, with a soft shoulder above ``knee`` so that
   brightening rolls highlights off instead of clipping a face to white.

With ``captured == composite`` (a person over their own room: nothing to fix) the two lights
are equal and the person comes back unchanged, exactly. Over time the change is smoothed by
``LightTracker``: an EMA of the log-change with a cap on how far one update may move it, so a
wrong or noisy estimate is a slow, mild one.

Arrays: images are RGB float32 HxWx3 in [0, 1] (sRGB-encoded, as cameras deliver), masks
float32 HxW in [0, 1] with 1 = person. Changes are ``(3,)`` float64 arrays of log2 gains (EV).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LUMA = np.array([0.2126, 0.7152, 0.0722])
"""Rec. 709 / sRGB luminance weights of linear R, G, B."""

LEVEL_FLOOR = 0.5 / 255 / 12.92
"""Half an 8-bit sRGB level in linear light: the least light a channel is taken to have."""

LOCUS = np.array([0.4415, -0.0713, -0.8945])
"""Unit direction, in log2 gains of linear R, G, B at constant luminance, of a move along the
daylight (Planckian) locus near 6500 K towards warm light: 60 mired warmer is 0.64 times it in
EV (R +0.28, G -0.05, B -0.58). Cooler light is the opposite direction. A white-balance change
is split into this part (the colour of real light sources) and the rest, a green-magenta tint
that real light rarely has and a green lawn or a magenta wall would otherwise put on a face."""


@dataclass(frozen=True)
class LightConfig:
    """How the light of a background is estimated and how far a person may be moved.

    ``p``: the shades-of-grey norm. ``max_ev``: cap on the exposure change, in stops (EV).
    ``max_warm_ev``: cap on the white-balance change along the daylight locus (warmer or
    cooler light), in stops along ``LOCUS`` (0.64 is 60 mired). ``max_tint_ev``: cap on the
    rest of the white-balance change (green-magenta), in stops; it bounds how far a green lawn
    can tint a face. ``strength``: fraction of the capped change applied (1 = all of it). ``clip``: sRGB
    level from which a pixel counts as clipped and is left out of the estimate. ``knee``: linear
    level above which brightened values roll off smoothly towards 1 instead of clipping.
    ``person_max``: background weight is ``1 - mask`` where the mask is below this and 0 above
    (the soft edge of a person is part person). ``min_pixels``: background weight (in pixels)
    below which a light is not estimated (no estimate: the person is left as they are, or, in a
    video, kept at the last change).
    """

    p: float = 1.0
    max_ev: float = 1.0
    max_warm_ev: float = 0.2
    max_tint_ev: float = 0.05
    strength: float = 1.0
    clip: float = 0.98
    knee: float = 0.8
    person_max: float = 0.5
    min_pixels: float = 64.0

    def __post_init__(self) -> None:
        checks = (
            ("p", self.p, 1.0, 64.0), ("max_ev", self.max_ev, 0.0, 4.0),
            ("max_warm_ev", self.max_warm_ev, 0.0, 2.0), ("max_tint_ev", self.max_tint_ev, 0.0, 2.0), ("strength", self.strength, 0.0, 1.0),
            ("clip", self.clip, 0.5, 1.0), ("knee", self.knee, 0.0, 1.0),
            ("person_max", self.person_max, 0.0, 1.0), ("min_pixels", self.min_pixels, 0.0, 1e9),
        )
        for name, value, lo, hi in checks:
            if not lo <= value <= hi:
                raise ValueError(f"LightConfig.{name} must lie in [{lo}, {hi}], got {value}")


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (IEC 61966-2-1), float32."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded values, float32 (inputs clipped to [0, 1])."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055).astype(np.float32)


_LEVELS = np.arange(256, dtype=np.float32) * np.float32(1 / 255.0)
"""The 8-bit levels as float32 in [0, 1], exactly as ``x.astype(float32) * (1 / 255)`` gives
them."""
_LINEAR_LEVELS = srgb_to_linear(_LEVELS)
"""Linear light of each 8-bit level: a lookup instead of a power per pixel, the same values."""


def _linear(image: np.ndarray) -> np.ndarray:
    """Linear light of an sRGB image, uint8 (by lookup) or float32 in [0, 1]; float32."""
    return _LINEAR_LEVELS[image] if image.dtype == np.uint8 else srgb_to_linear(image)


def background_weight(mask: np.ndarray, cfg: LightConfig) -> np.ndarray:
    """float32 HxW: ``1 - mask`` where the mask is below ``cfg.person_max``, else 0."""
    return np.where(mask < cfg.person_max, 1.0 - mask, 0.0).astype(np.float32)


def unclipped(image: np.ndarray, cfg: LightConfig) -> np.ndarray:
    """bool HxW: no channel of ``image`` (RGB float32 HxWx3 in [0, 1], or uint8) reaches
    ``cfg.clip``."""
    if image.dtype == np.uint8:
        brightest = np.maximum(np.maximum(image[..., 0], image[..., 1]), image[..., 2])
        return (_LEVELS < cfg.clip)[brightest]
    return (image[..., 0] < cfg.clip) & (image[..., 1] < cfg.clip) & (image[..., 2] < cfg.clip)


def estimate_light(image: np.ndarray, weight: np.ndarray, cfg: LightConfig) -> np.ndarray | None:
    """The light of ``image`` under ``weight``: shades of grey in linear RGB, ``(3,)`` float64.

    ``image``: RGB float32 HxWx3 in [0, 1] or uint8, sRGB-encoded; ``weight``: float32 HxW
    >= 0 (leave clipped pixels out of it: :func:`unclipped`). Returns None when less than
    ``cfg.min_pixels`` of weight remains, or the light is black (its luminance). A channel
    without light (a pure colour) counts as half an 8-bit level (``LEVEL_FLOOR``), as it was
    measured: the change stays finite, and the same as for a colour one level up.
    """
    w = weight
    total = float(w.sum())
    if total < cfg.min_pixels:
        return None
    lin = _linear(image).astype(np.float64)
    light = (np.tensordot(w, lin ** cfg.p, axes=([0, 1], [0, 1])) / total) ** (1.0 / cfg.p)
    return np.maximum(light, LEVEL_FLOOR) if float(LUMA @ light) > 1e-6 else None


def cap_change(change: np.ndarray, cfg: LightConfig) -> np.ndarray:
    """A log2 change per channel with its three parts capped, scaled by ``strength``: the
    exposure (the change of luminance of a neutral grey, ``log2(LUMA . 2^change)``) at
    ``max_ev``, the white balance along the daylight locus at ``max_warm_ev``, the tint (what
    remains) at ``max_tint_ev`` per channel."""
    change = np.asarray(change, dtype=np.float64)
    exposure = float(np.log2(LUMA @ np.exp2(change)))
    balance = change - exposure
    warm = float(balance @ LOCUS)
    tint = np.clip(balance - warm * LOCUS, -cfg.max_tint_ev, cfg.max_tint_ev)
    warm = float(np.clip(warm, -cfg.max_warm_ev, cfg.max_warm_ev))
    exposure = float(np.clip(exposure, -cfg.max_ev, cfg.max_ev))
    return cfg.strength * (exposure + warm * LOCUS + tint)


def estimate_change(composite: np.ndarray, mask: np.ndarray, captured: np.ndarray,
                    cfg: LightConfig = LightConfig()) -> np.ndarray | None:
    """The capped log2 change per channel from the room's light (``captured`` outside the
    person) to the scene's (``composite`` outside the person), ``(3,)`` float64; ``None`` where
    either light cannot be estimated (a person who fills the frame, a black or fully clipped
    room or scene).

    ``composite``, ``captured``: RGB float32 HxWx3 in [0, 1] (or uint8: the same estimate,
    faster), the same size; ``mask``: float32 HxW in [0, 1], the person in both.
    """
    if composite.shape != captured.shape:
        raise ValueError(f"captured {captured.shape} must have the composite's shape {composite.shape}")
    weight = background_weight(mask, cfg) * (unclipped(composite, cfg) & unclipped(captured, cfg))
    scene = estimate_light(composite, weight, cfg)
    room = estimate_light(captured, weight, cfg)
    if scene is None or room is None:
        return None
    return cap_change(np.log2(scene / room), cfg)


def light_change(composite: np.ndarray, mask: np.ndarray, captured: np.ndarray,
                 cfg: LightConfig = LightConfig()) -> np.ndarray:
    """:func:`estimate_change` for one picture, zeros where it cannot be estimated."""
    change = estimate_change(composite, mask, captured, cfg)
    return np.zeros(3) if change is None else change


def relight(image: np.ndarray, change: np.ndarray, knee: float = 1.0) -> np.ndarray:
    """``image`` (RGB float32 HxWx3 in [0, 1], sRGB) with every pixel's linear light multiplied
    by ``2^change`` per channel; above ``knee`` (linear) values roll off smoothly towards 1
    (``knee = 1``: a hard clip). float32, sRGB, in [0, 1]."""
    lin = srgb_to_linear(image) * np.exp2(np.asarray(change, dtype=np.float32))
    if knee < 1.0:
        span = np.float32(1.0 - knee)
        over = lin > knee
        lin = np.where(over, knee + span * np.tanh((lin - knee) / span), lin)
    return linear_to_srgb(lin)


def apply_change(composite: np.ndarray, mask: np.ndarray, change: np.ndarray,
                 cfg: LightConfig = LightConfig()) -> np.ndarray:
    """The composite with the person (by ``mask``) moved by ``change``; the background as it
    was, bit-exact where the mask is 0. RGB float32 HxWx3 in [0, 1]."""
    if not np.any(change):
        return composite
    moved = relight(composite, change, cfg.knee)
    return composite + mask[..., None] * (moved - composite)


class LightTracker:
    """The change applied to a video's frames, smoothed over time.

    ``update(change)`` blends the newest estimate into the running one in the log domain,
    ``c = c + clip(momentum * (change - c), -max_step_ev, max_step_ev)``, and returns it: an
    EMA whose every step is capped, so a sudden (or wrong) estimate moves a person by at most
    ``max_step_ev`` per update. The first update of a video takes the estimate as it is. A
    frame without an estimate (``None``: a video background fading through black, a person who
    fills the frame) holds the running change rather than pulling it towards no change.
    ``reset()`` starts a new video. Not thread-safe: ``Harmonizer`` calls it under its network
    lock; ``LightTransfer`` under its caller's (the camera's frames and resets share one lock).
    """

    def __init__(self, momentum: float = 0.3, max_step_ev: float = 0.1) -> None:
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must lie in (0, 1], got {momentum}")
        if max_step_ev <= 0.0:
            raise ValueError(f"max_step_ev must be > 0, got {max_step_ev}")
        self.momentum = momentum
        self.max_step_ev = max_step_ev
        self.change: np.ndarray | None = None

    def reset(self) -> None:
        self.change = None

    def update(self, change: np.ndarray | None) -> np.ndarray:
        if change is None:
            return np.zeros(3) if self.change is None else self.change.copy()
        change = np.asarray(change, dtype=np.float64)
        if self.change is None:
            self.change = change.copy()
        else:
            step = np.clip(self.momentum * (change - self.change), -self.max_step_ev, self.max_step_ev)
            self.change = self.change + step
        return self.change.copy()


def move_batch(composites: np.ndarray, masks: np.ndarray, captured: np.ndarray,
               cfg: LightConfig = LightConfig()) -> np.ndarray:
    """:func:`light_change` and :func:`apply_change` for each image of a batch, unsmoothed (the
    training and the evaluation's network input). ``composites``, ``captured``: ``(N, 3, H, W)``
    float32 in [0, 1]; ``masks``: ``(N, 1, H, W)``. Returns ``(N, 3, H, W)`` float32."""
    out = np.empty_like(composites, dtype=np.float32)
    for i, (comp, m, cap) in enumerate(zip(composites, masks, captured)):
        comp, cap, m = comp.transpose(1, 2, 0), cap.transpose(1, 2, 0), m[0]
        moved = apply_change(comp, m, light_change(comp, m, cap, cfg), cfg)
        out[i] = moved.transpose(2, 0, 1)
    return out


def change_lut(change: np.ndarray, knee: float = 1.0) -> np.ndarray:
    """``relight`` of every 8-bit level as a 256x1x3 uint8 table for ``cv2.LUT``: the change is
    per channel, so an 8-bit frame needs a table look-up, not a power per pixel."""
    levels = np.repeat((np.arange(256, dtype=np.float32) / 255.0)[:, None, None], 3, axis=2)
    return np.clip(np.rint(relight(levels, change, knee) * 255.0), 0, 255).astype(np.uint8)


class LightTransfer:
    """The classical harmoniser: the person moved from the captured room's light to the
    scene's, nothing else. Same call shape as ``phnet.Harmonizer``.

    ``h(composite, mask, captured)``: RGB uint8 HxWx3, float32 HxW in [0, 1], and the camera
    frame the person was cut from (RGB uint8, the composite's size). Without ``captured`` there
    is no room to compare with and the composite comes back unchanged. The lights are estimated
    on copies whose long side is ``resolution``; the change is smoothed over the frames of a
    video (``LightTracker``; ``reset()`` starts a new one) and applied at full size through an
    8-bit table, blended by the mask so background pixels come back bit-exact. ``momentum``
    defaults to the camera's (``HarmoniseConfig.momentum``), so what is measured is what runs.
    """

    def __init__(self, config: LightConfig = LightConfig(), resolution: int = 256,
                 momentum: float = 0.2, max_step_ev: float = 0.1) -> None:
        if resolution < 1:
            raise ValueError(f"resolution (the long side the lights are estimated at) must be "
                             f">= 1 pixel, got {resolution}")
        self.config = config
        self.resolution = resolution
        self.tracker = LightTracker(momentum, max_step_ev)
        self.momentum = momentum

    def reset(self) -> None:
        self.tracker.reset()

    def info(self) -> dict:
        return {"method": "light", "resolution": self.resolution, "momentum": self.momentum,
                "max_ev": self.config.max_ev, "max_warm_ev": self.config.max_warm_ev,
                "max_tint_ev": self.config.max_tint_ev}

    def change(self, composite: np.ndarray, mask: np.ndarray,
               captured: np.ndarray) -> np.ndarray | None:
        """The (unsmoothed) change for one frame (``None``: no estimate), estimated on copies
        shrunk by a whole factor (OpenCV's fast path) to a long side of about ``resolution``."""
        import cv2

        h, w = mask.shape
        f = max(1, round(max(h, w) / self.resolution))
        size = (max(1, w // f), max(1, h // f))
        comp, cap, m = (cv2.resize(x, size, interpolation=cv2.INTER_AREA)
                        for x in (composite, captured, mask))
        return estimate_change(comp, np.clip(m, 0.0, 1.0), cap, self.config)

    def __call__(self, composite: np.ndarray, mask: np.ndarray,
                 captured: np.ndarray | None = None) -> np.ndarray:
        import cv2

        from .frames import check_captured, check_frame

        _, hi = check_frame(composite, mask)
        if captured is None or hi <= 0.0:
            return composite
        check_captured(captured, composite)
        self.tracker.momentum = self.momentum
        change = self.tracker.update(self.change(composite, mask, captured))
        if not np.any(change):
            return composite
        moved = cv2.LUT(composite, change_lut(change, self.config.knee))
        return cv2.blendLinear(moved, composite, mask, np.float32(1.0) - mask)
