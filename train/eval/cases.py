"""The situations a harmoniser is judged in, each with the truth known, made from one photo.

Every case is what the camera would hand its harmoniser: the ``composite`` (the person over a
background), the ``mask`` (soft) and the ``captured`` frame the person was cut from, plus the
``truth`` the output should equal. Tests (``Case.test``):

- ``identity``: the photo itself over its own room (composite = captured = truth): nothing to
  fix; 0 is perfect. The camera's ``none`` background is exactly this.
- ``relight``: the room under another light (0.35-1 EV up or down and a warm or cool change of
  20-60 mired, in linear RGB: :func:`train.data.relight.draw_light`), the person as captured;
  the truth is the whole frame under that light. Identity is its zero case.
- ``relight-view``: the same, but the background is another view of the room (painted out,
  mirrored, cropped and scaled), so the two backgrounds are not pixel-aligned.
- ``recolour``: the person's colours perturbed as FFHQH does (paper §3.2) in their own room;
  the truth is the photo. Captured = composite (the camera saw them that way).
- ``bright-room-identity`` / ``bright-room-relight``: the photo's surroundings 1.5 EV brighter
  than the person (a window, a white wall, backlight: clipped where it clips) and then the
  identity and relight cases on that frame. ``dim-room-*``: 1.5 EV darker (a dim room).
- ``blur``: the person over their own room blurred by the camera's own ``blur`` background;
  the truth is that composite: the person must come out as captured. Judged as the camera
  runs (``vcam.harmonise_stage.harmonises_over``: over their own room the camera leaves them
  alone) and, as ``blur-forced``, with the harmoniser run anyway (what ``own_room = true``
  would do).

The cases of a photo are drawn from its own seed, so every method and every run sees the same.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.relight import Light, blend, draw_light, relight_clip, relight_triple
from .heldout import HeldOutPerson

TESTS = ("identity", "relight", "relight-view", "recolour", "bright-room-identity",
         "bright-room-relight", "dim-room-identity", "dim-room-relight", "blur", "blur-forced")
OWN_ROOM_TESTS = {"blur": "blur"}
"""Tests run as the camera runs them over that background kind (the own-room rule applies)."""
ROOM_EV = 1.5
"""How much brighter (``bright-room``) or darker (``dim-room``) than the person their room is made."""


@dataclass
class Case:
    """One judged situation (see the module docstring); images RGB uint8 HxWx3, mask float32."""

    person: str
    source: str
    test: str
    composite: np.ndarray
    mask: np.ndarray
    captured: np.ndarray
    truth: np.ndarray


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _f32(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) / np.float32(255.0)


def _recolour(photo: np.ndarray, alpha: np.ndarray, seed: int) -> np.ndarray:
    import torch

    from ..data.augment import augment_foreground

    gen = torch.Generator().manual_seed(seed)
    real = torch.from_numpy(photo).permute(2, 0, 1)
    aug = augment_foreground(real, gen).permute(1, 2, 0).numpy()
    return blend(aug, photo, alpha)


def _blurred_room(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The person over their room blurred by the camera's ``blur`` background (real code)."""
    from vcam.backgrounds import BackgroundProvider
    from vcam.config import BackgroundConfig

    provider = BackgroundProvider(BackgroundConfig(kind="blur"))
    try:
        background = provider(image, alpha)
    finally:
        provider.close()
    return _u8(blend(_f32(image), _f32(background), alpha))


def make_cases(person: HeldOutPerson, draws: int = 2) -> list[Case]:
    """Every test of :data:`TESTS` for one photo; ``draws`` lights (or recolourings) per test
    that draws one."""
    rng = np.random.default_rng(person.seed)
    photo, alpha = _f32(person.image), person.alpha
    cases: list[Case] = []

    def add(test: str, composite: np.ndarray, captured: np.ndarray, truth: np.ndarray) -> None:
        cases.append(Case(person.name, person.source, test, _u8(composite), alpha, _u8(captured),
                          _u8(truth)))

    add("identity", photo, photo, photo)
    for _ in range(draws):
        t = relight_triple(photo, alpha, draw_light(rng, evaluation=True), rng, aligned=True,
                           degrade=False)
        add("relight", t.composite, t.captured, t.real)
    for _ in range(draws):
        t = relight_triple(photo, alpha, draw_light(rng, evaluation=True), rng, aligned=False,
                           degrade=False)
        add("relight-view", t.composite, t.captured, t.real)
    for _ in range(draws):
        comp = _recolour(photo, alpha, int(rng.integers(1 << 31)))
        add("recolour", comp, comp, photo)
    for label, ev in (("bright-room", ROOM_EV), ("dim-room", -ROOM_EV)):
        room = blend(photo, Light(exposure=ev).apply(photo), alpha)
        add(f"{label}-identity", room, room, room)
        t = relight_triple(room, alpha, draw_light(rng, evaluation=True), rng, aligned=True,
                           degrade=False)
        add(f"{label}-relight", t.composite, t.captured, t.real)
    blurred = _f32(_blurred_room(person.image, alpha))
    add("blur", blurred, photo, blurred)
    add("blur-forced", blurred, photo, blurred)
    return cases


@dataclass
class Clip:
    """A relight clip of one photo: frames of (composite, captured, truth), RGB uint8."""

    person: str
    source: str
    mask: np.ndarray
    composites: list[np.ndarray]
    captured: list[np.ndarray]
    truths: list[np.ndarray]


def make_clip(person: HeldOutPerson, frames: int = 16) -> Clip:
    """The scene's light drifting from one evaluation light to another over ``frames`` while
    the webcam's auto-exposure jitters (:func:`train.data.relight.relight_clip`)."""
    rng = np.random.default_rng(person.seed + 1)
    triples = relight_clip(_f32(person.image), person.alpha, frames, rng)
    return Clip(person.name, person.source, person.alpha, [_u8(t.composite) for t in triples],
                [_u8(t.captured) for t in triples], [_u8(t.real) for t in triples])
