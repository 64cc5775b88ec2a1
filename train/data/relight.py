"""Relight triples: a person in their room, the room's light changed, the truth known.

The camera's job is to move a person from the light of the room they sit in to the light of the
scene behind them. A relight triple stages it with a real photo of a person (their room around
them) and a light change drawn in linear RGB:

- ``captured``: the photo, as a webcam would deliver it (noise, JPEG, low resolution, soft
  focus: :func:`webcam`), the person in their own room;
- ``composite``: the person as captured over a background that is **the room under the new
  light** but not a pixel-aligned copy of it (the person painted out, then flipped, cropped and
  scaled: :func:`room_view`), so a model cannot learn to divide pixels by pixels;
- ``real``: the truth: the person under the new light over the same background.

With ``aligned=True`` (the evaluation's plain relight) the background is the captured room
itself under the new light, and the truth the whole captured frame under it.

A light change (:class:`Light`) is an exposure in stops, a white-balance move along the
daylight locus (mired), a small green-magenta tint and a gentle tone curve; all but the curve
act in linear RGB, as a real change of light does. :func:`relight_clip` makes short videos
whose light drifts while the camera's auto-exposure jitters, for flicker.

Arrays: RGB float32 HxWx3 in [0, 1] (sRGB-encoded); mattes float32 HxW in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from phnet.light import LUMA, linear_to_srgb, srgb_to_linear

REFERENCE_KELVIN = 6500.0
"""The light a change starts from (mired shifts are taken from here)."""


def _planck_xy(kelvin: float) -> tuple[float, float]:
    """CIE 1931 xy of a black body at ``kelvin`` (1667-25000 K), the cubic fit of Kim et al.
    (US patent 7,024,034)."""
    t = kelvin
    if t < 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t < 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t < 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return x, y


_XYZ_TO_RGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415],
                        [0.0557, -0.2040, 1.0570]])


def _white_rgb(kelvin: float) -> np.ndarray:
    x, y = _planck_xy(kelvin)
    return _XYZ_TO_RGB @ np.array([x / y, 1.0, (1.0 - x - y) / y])


def daylight_shift(mired: float) -> np.ndarray:
    """log2 gains of linear R, G, B (at constant luminance) that move 6500 K light by ``mired``
    along the black-body locus: positive is warmer (60 mired: R +0.28, B -0.58)."""
    target = 1e6 / (1e6 / REFERENCE_KELVIN + mired)
    g = np.log2(_white_rgb(target) / _white_rgb(REFERENCE_KELVIN))
    return g - np.log2(LUMA @ np.exp2(g))


@dataclass(frozen=True)
class Light:
    """A change of light: ``exposure`` in stops, ``mired`` along the daylight locus (positive
    warmer), ``tint`` in stops of green (negative: magenta), ``tone`` the strength of an S-curve
    in [-1, 1] (0: none), as a camera's tone mapping would add."""

    exposure: float = 0.0
    mired: float = 0.0
    tint: float = 0.0
    tone: float = 0.0

    @property
    def change(self) -> np.ndarray:
        """The linear part, log2 gains of R, G, B, ``(3,)`` float64."""
        tint = np.array([-0.5, 1.0, -0.5]) * self.tint
        return self.exposure + daylight_shift(self.mired) + tint - np.log2(LUMA @ np.exp2(tint))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image`` under this light: linear gains (clipped at 1, as a sensor clips), then the
        tone curve. RGB float32 HxWx3 in [0, 1]."""
        lin = srgb_to_linear(image) * np.exp2(self.change).astype(np.float32)
        out = linear_to_srgb(lin)
        if self.tone:
            s = out * out * (3.0 - 2.0 * out)  # smoothstep: an S-curve through 0, 0.5, 1
            out = out + np.float32(self.tone) * (s - out)
        return np.clip(out, 0.0, 1.0).astype(np.float32)


def draw_light(rng: np.random.Generator, evaluation: bool = False) -> Light:
    """A random light change. ``evaluation``: the evaluation's relight, exposure 0.35-1 EV up or
    down and a warm or cool change of 20-60 mired, nothing else. Otherwise (training) a wider,
    smoother spread that includes small changes: exposure within +-1.2 EV, +-70 mired, a tint
    of up to 0.1 stop and a tone curve of up to 0.3 either way."""
    sign = lambda: float(rng.choice((-1.0, 1.0)))  # noqa: E731
    if evaluation:
        return Light(exposure=sign() * rng.uniform(0.35, 1.0), mired=sign() * rng.uniform(20, 60))
    return Light(exposure=rng.uniform(-1.2, 1.2), mired=rng.uniform(-70, 70),
                 tint=rng.uniform(-0.1, 0.1), tone=rng.uniform(-0.3, 0.3) * (rng.random() < 0.5))


def paint_out(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The room without the person: the matte's area (grown a little) filled from around it
    (OpenCV's Telea inpainting at a quarter of the size, then enlarged). RGB float32 HxWx3."""
    h, w = alpha.shape
    hole = cv2.dilate((alpha > 0.05).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    sw, sh = max(8, w // 4), max(8, h // 4)
    small = cv2.resize(np.rint(image * 255).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    return np.where(hole[..., None], filled, image).astype(np.float32)


def room_view(image: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another view of the person's room: painted out, mirrored (half the time), and a crop of
    60-90 % of each side at a random place, scaled back to the image's size."""
    room = paint_out(image, alpha)
    if rng.random() < 0.5:
        room = room[:, ::-1]
    h, w = alpha.shape
    s = rng.uniform(0.6, 0.9)
    ch, cw = max(8, int(h * s)), max(8, int(w * s))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = np.ascontiguousarray(room[y:y + ch, x:x + cw])
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)


def webcam(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` as a webcam might deliver it, each degradation drawn on its own: a soft focus
    (Gaussian blur, sigma 0.5-1.5), a lower resolution (0.4-0.8 of the size and back), sensor
    noise (sigma 1-4 levels, a little more in the dark) and JPEG (quality 50-90).
    RGB float32 HxWx3 in [0, 1]."""
    h, w = image.shape[:2]
    out = image
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:
        s = rng.uniform(0.4, 0.8)
        small = cv2.resize(out, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        sigma = rng.uniform(1.0, 4.0) / 255.0
        noise = rng.standard_normal(out.shape).astype(np.float32) * np.float32(sigma)
        out = out + noise * (1.5 - out)
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    if rng.random() < 0.5:
        u8 = np.rint(out * 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 91))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).astype(np.float32) / 255
    return out


def blend(person: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha * person + (1 - alpha) * background``, float32."""
    a = alpha[..., None]
    return (background + a * (person - background)).astype(np.float32)


@dataclass
class RelightTriple:
    """``captured``: the person in their room; ``composite``: the person as captured over the
    room under the new light; ``real``: the person under the new light over that background.
    RGB float32 HxWx3 in [0, 1]; ``light`` the change."""

    captured: np.ndarray
    composite: np.ndarray
    real: np.ndarray
    light: Light


def relight_triple(photo: np.ndarray, alpha: np.ndarray, light: Light, rng: np.random.Generator,
                   aligned: bool = False, degrade: bool = True) -> RelightTriple:
    """A :class:`RelightTriple` from a photo of a person and their matte (see the module's
    docstring). ``degrade``: pass the photo through :func:`webcam` first."""
    captured = webcam(photo, rng) if degrade else photo
    background = captured if aligned else room_view(captured, alpha, rng)
    background = light.apply(background)
    return RelightTriple(captured, blend(captured, background, alpha),
                         blend(light.apply(captured), background, alpha), light)


def lerp_light(a: Light, b: Light, t: float) -> Light:
    return Light(*(x + t * (y - x) for x, y in zip(
        (a.exposure, a.mired, a.tint, a.tone), (b.exposure, b.mired, b.tint, b.tone))))


def relight_clip(photo: np.ndarray, alpha: np.ndarray, frames: int, rng: np.random.Generator,
                 jitter_ev: float = 0.08) -> list[RelightTriple]:
    """A short video: the scene's light drifts from one evaluation light to another over the
    clip while the camera's auto-exposure jitters (every frame of the captured room and person
    together by a random exposure of sd ``jitter_ev``, as a webcam's AE hunts). The background
    is the room (aligned) under the drifting light, which does not jitter (it is a picture);
    the truth is the person without the jitter under that frame's light: what they would look
    like in the scene, steady, whatever the webcam's exposure did."""
    start, end = draw_light(rng, evaluation=True), draw_light(rng, evaluation=True)
    out = []
    for i in range(frames):
        light = lerp_light(start, end, i / max(1, frames - 1))
        jitter = Light(exposure=float(rng.normal(0.0, jitter_ev)))
        captured = jitter.apply(photo)
        background = light.apply(photo)
        out.append(RelightTriple(captured, blend(captured, background, alpha),
                                 blend(light.apply(photo), background, alpha), light))
    return out
