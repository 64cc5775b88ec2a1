"""The harmonisation step of the camera: PHNet, the classical light transfer, colour transfer, or
nothing, at a chosen strength.

``HarmoniseStage(config)(composite, mask, captured)`` returns the composite with the person
moved to the background's light; ``captured`` is the camera frame the person was cut from (the
light they are really in). Over the ``blur`` and ``none`` backgrounds, where the person is in
front of their own room, and over a solid colour, the camera leaves them as captured
(:func:`harmonises_over`). It never lets one bad frame stop the camera: an error inside the
harmoniser is logged once and the frame goes out unharmonised. What actually runs, including a
fallback and its reason, is in ``info()``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import cv2
import numpy as np

from vcam.config import HarmoniseConfig

logger = logging.getLogger(__name__)


OWN_ROOM_BACKGROUNDS = ("blur", "none")
"""Background kinds that show the person's own room: nothing to harmonise them to."""


FLAT_BACKGROUNDS = ("color",)
"""A solid colour is a graphic, not a lit scene: it has no light to match, and matching its
colour turns a face grey or green (the light transfer moved the demo's face by 0.77 EV, greyed,
over the default colour)."""


def harmonises_over(background_kind: str, config: HarmoniseConfig) -> bool:
    """Whether the camera harmonises a person over a background of ``background_kind``: never
    over a solid colour; not over their own room (``blur``, ``none``) unless ``config.own_room``
    asks for it."""
    if background_kind in FLAT_BACKGROUNDS:
        return False
    return config.own_room or background_kind not in OWN_ROOM_BACKGROUNDS


class HarmoniseError(ValueError):
    """A harmoniser could not be set up; the message names the model file."""


class Harmoniser(Protocol):
    """What the stage runs: ``phnet.Harmonizer``, ``phnet.light.LightTransfer`` and
    ``phnet.colortransfer.ColorTransfer``."""

    def __call__(self, composite: np.ndarray, mask: np.ndarray,
                 captured: np.ndarray | None = None) -> np.ndarray: ...

    def reset(self) -> None: ...

    def info(self) -> dict: ...


# Settings that need a new harmoniser when they change; strength and momentum do not.
_BUILD_FIELDS = ("mode", "model", "backend", "device", "resolution", "network_every",
                 "network_thread", "network_rate")


@dataclass
class _Active:
    """The harmoniser in use with what the stage says about it; swapped as one object."""

    harmoniser: Harmoniser | None  # None: mode "off"
    fallback: str | None = None  # why colour transfer runs instead of PHNet

    @cached_property
    def takes_captured(self) -> bool:
        """Whether the harmoniser's call accepts ``captured`` (a caller's own object may not);
        asked once per harmoniser, not per frame."""
        try:
            return "captured" in inspect.signature(self.harmoniser).parameters
        except (TypeError, ValueError):
            return False


class HarmoniseStage:
    """Runs the configured harmoniser on composites; successive calls are one video.

    Usage::

        stage = HarmoniseStage(HarmoniseConfig())      # the light transfer (mode "light")
        out = stage(composite, mask, captured)         # captured: the camera frame
        stage.reset()                                  # new background or a scene cut

    Args:
        config: method, model, backend, device, strength, momentum, resolution.
        harmoniser: use this object instead of building one from ``config`` (a model the caller
            already loaded, or a stand-in in tests); it needs ``__call__(composite, mask)`` and
            may have ``reset()`` and ``info()``.

    Raises:
        HarmoniseError: a model named in ``config.model`` is missing or cannot be loaded, or
            the requested device cannot run it. A missing *bundled* model is not an error:
            colour transfer runs instead, with one warning, and ``info()`` says why.
    """

    def __init__(
        self, config: HarmoniseConfig | None = None, *, harmoniser: Harmoniser | None = None
    ) -> None:
        config = config if config is not None else HarmoniseConfig()
        if harmoniser is not None:
            self._active = _Active(harmoniser)
        else:
            self._active = _build(config)
        self._config = config
        self._apply_momentum(self._active, config)
        self._failed_frames = 0
        self._error_logged = False

    @property
    def config(self) -> HarmoniseConfig:
        return self._config

    def set_config(self, config: HarmoniseConfig) -> None:
        """Use new settings from the next frame on.

        Strength and momentum apply at once; another mode, model, backend, device or resolution
        builds a new harmoniser (with fresh temporal state).

        Raises:
            HarmoniseError: the new model cannot be loaded; the previous harmoniser stays.
        """
        if not isinstance(config, HarmoniseConfig):
            raise TypeError(f"config must be a HarmoniseConfig, got {type(config).__name__}")
        old = self._config
        if any(getattr(config, f) != getattr(old, f) for f in _BUILD_FIELDS):
            active = _build(config)
            self._apply_momentum(active, config)
            # Swap, then close: a frame that began with the old harmoniser finishes with it
            # (``Harmonizer`` gives a frame in flight a picture even while it closes).
            replaced, self._active = self._active, active
            self._failed_frames = 0
            self._error_logged = False
            _close_harmoniser(replaced)
        else:
            self._apply_momentum(self._active, config)
        self._config = config

    def reset(self) -> None:
        """Forget the temporal state (call when the background changes or the scene cuts)."""
        harmoniser = self._active.harmoniser
        reset = getattr(harmoniser, "reset", None)
        if reset is not None:
            reset()

    def close(self) -> None:
        """Stops the harmoniser's threads, if it has any (the pipeline calls this on stop)."""
        _close_harmoniser(self._active)

    @property
    def passes_through(self) -> bool:
        """True when a call returns the composite as it is (mode off or strength 0): the
        pipeline then skips making the float mask a harmoniser needs."""
        return self._active.harmoniser is None or self._config.strength <= 0.0

    def info(self) -> dict:
        """What runs: ``method`` (``light``, ``phnet``, ``colortransfer`` or ``off``), the
        harmoniser's own details (backend, device, checkpoint, ...), ``mode`` as configured,
        ``strength``, ``failed_frames``, and ``fallback`` (the reason) when PHNet was asked for
        but colour transfer runs."""
        active = self._active
        if active.harmoniser is None:
            d: dict[str, Any] = {"method": "off"}
        else:
            info = getattr(active.harmoniser, "info", None)
            d = dict(info()) if info is not None else {}
            d.setdefault("method", type(active.harmoniser).__name__)
        d["mode"] = self._config.mode
        d["strength"] = self._config.strength
        d["failed_frames"] = self._failed_frames
        if active.fallback is not None:
            d["fallback"] = active.fallback
        return d

    def __call__(self, composite: np.ndarray, mask: np.ndarray,
                 captured: np.ndarray | None = None) -> np.ndarray:
        """Harmonise one frame.

        Args:
            composite: RGB uint8 HxWx3, the person over the new background.
            mask: float32 HxW in [0, 1], the person.
            captured: the camera frame the person was cut from (RGB uint8 HxWx3), the light
                reference of PHNet and the light transfer; None when there is none.

        Returns:
            RGB uint8 HxWx3 of the same size. ``composite`` itself (not a copy) when the stage
            is off, the strength is 0, or the harmoniser failed on this frame.
        """
        active = self._active
        strength = self._config.strength
        if active.harmoniser is None or strength <= 0.0:
            return composite
        try:
            if captured is not None and active.takes_captured:
                out = active.harmoniser(composite, mask, captured=captured)
            else:
                out = active.harmoniser(composite, mask)
            if strength < 1.0:
                out = cv2.addWeighted(composite, 1.0 - strength, out, strength, 0.0)
        except Exception:  # one bad frame must not stop the camera
            self._failed_frames += 1
            if not self._error_logged:
                self._error_logged = True
                logger.exception(
                    "harmonisation failed; frames go out unharmonised while it keeps failing "
                    "(logged once; info()['failed_frames'] counts them)"
                )
            return composite
        return out

    @staticmethod
    def _apply_momentum(active: _Active, config: HarmoniseConfig) -> None:
        # Harmonizer, LightTransfer and ColorTransfer read .momentum on every frame.
        if active.harmoniser is not None and hasattr(active.harmoniser, "momentum"):
            active.harmoniser.momentum = config.momentum


def _build(config: HarmoniseConfig) -> _Active:
    """The harmoniser for ``config``; raises HarmoniseError naming the model on failure."""
    if config.mode == "off":
        return _Active(None)
    # Imported here: the command line's --help needs neither ONNX Runtime nor OpenCV's models.
    from phnet.colortransfer import ColorTransfer

    if config.mode == "colortransfer":
        return _Active(ColorTransfer(momentum=config.momentum))
    if config.mode == "light":
        from phnet.light import LightTransfer

        return _Active(LightTransfer())

    import phnet

    load: Callable[..., Any] = phnet.Harmonizer.load
    what = config.model or "the bundled PHNet model"
    try:
        thread = config.network_thread == "on"
        if config.network_thread == "auto" and config.network_every == 1:
            from phnet.runners import resolve_device

            # The network has its own thread where it runs on the CPU (asking PyTorch only
            # when PyTorch was asked for: the ONNX Runtime path needs none).
            backend = "torch" if config.backend == "torch" else "onnxruntime"
            thread = resolve_device(config.device, backend).type == "cpu"
        harmoniser = load(
            path=config.model or None,
            device=config.device,
            backend=config.backend,
            resolution=config.resolution or None,
            momentum=config.momentum,
            network_every=config.network_every,
            network_thread=thread,
            network_rate=config.network_rate if thread else None,
            # On its own thread the network gets one core, the frame path the other
            # (vcam.runtime.split_threads; ONNX Runtime's pool is set here, at load).
            threads=1 if thread else None,
        )
    except FileNotFoundError as exc:
        if config.model:
            raise HarmoniseError(f"PHNet model {config.model} not found: {exc}") from exc
        reason = f"no bundled PHNet model ({exc})"
        logger.warning("%s; harmonising with colour transfer instead", reason)
        return _Active(ColorTransfer(momentum=config.momentum), fallback=reason)
    except Exception as exc:
        raise HarmoniseError(
            f"cannot load {what} on device {config.device!r} with backend "
            f"{config.backend!r}: {exc}"
        ) from exc
    logger.info("harmoniser: %s", harmoniser.info())
    return _Active(harmoniser)


def _close_harmoniser(active: _Active) -> None:
    """Stops a replaced harmoniser's threads (the PHNet network thread), if it has any."""
    close = getattr(active.harmoniser, "close", None)
    if callable(close):
        close()
