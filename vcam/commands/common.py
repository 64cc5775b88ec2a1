"""What every ``phnet-cam`` command shares: its options, its settings, its errors.

Settings come from ``--config FILE`` (TOML, see ``vcam.settings``) and are overridden by flags.
Every error a user can cause (a setting out of range, a file that is missing or of the wrong
kind, a missing camera, no virtual camera device) is reported in one line on stderr naming the
input and what was expected, with exit code 2 (``-v`` adds the traceback).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from vcam.config import BackgroundConfig, HarmoniseConfig
from vcam.pipeline import PipelineConfig
from vcam.settings import Settings, SettingsError, load_settings
from vcam.sources import VIDEO_SUFFIXES

logger = logging.getLogger(__name__)

PROG = "phnet-cam"
EXIT_USAGE = 2

#: What a PHNet model file is, for the messages.
MODEL_FILES = "a PHNet model: .onnx (ONNX Runtime) or .safetensors (PyTorch)"


class UserError(Exception):
    """A problem the user can fix (a setting, a file, a device): shown as one line, exit 2."""


# ------------------------------------------------------------------------------ argument types


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size must be WIDTHxHEIGHT, e.g. 640x480, got {text!r}"
        ) from None
    return w, h


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def background_from_arg(value: str, base: BackgroundConfig | None = None) -> BackgroundConfig:
    """``--background``: ``blur``, ``none``, ``color`` or ``color:R,G,B``, a bundled picture's
    name (``dune``, ``storm``, ``meadow``), or an existing image or video file.

    Raises:
        UserError: anything else (the message lists what is accepted).
    """
    from vcam.images import BACKGROUND_PATHS

    base = base if base is not None else BackgroundConfig()
    key = value.strip()
    if key.lower() in ("blur", "none"):
        return dataclasses.replace(base, kind=key.lower(), path="")
    if key.lower() == "color" or key.lower().startswith("color:"):
        color = base.color
        if ":" in key:
            try:
                color = tuple(int(c) for c in key.split(":", 1)[1].split(","))
            except ValueError:
                raise UserError(
                    f"--background color:R,G,B needs three integers in [0, 255], got {value!r}"
                ) from None
        return dataclasses.replace(base, kind="color", path="", color=color)
    if key.lower() in BACKGROUND_PATHS:
        return dataclasses.replace(base, kind="image", path=str(BACKGROUND_PATHS[key.lower()]))
    if not Path(key).is_file():
        what = ("a folder" if key and Path(key).is_dir()
                else "no such file" if Path(key).suffix or not key else "not a name it knows")
        raise UserError(
            f"--background {value}: {what}; expected an image or video file, a bundled "
            f"picture ({', '.join(BACKGROUND_PATHS)}), blur, none, color or color:R,G,B"
        )
    kind = "video" if Path(key).suffix.lower() in VIDEO_SUFFIXES else "image"
    return dataclasses.replace(base, kind=kind, path=key)


# ------------------------------------------------------------------------------ shared options


def verbosity_options() -> argparse.ArgumentParser:
    """``-v``: a parent of every command's parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: info, -vv: debug)")
    return common


#: Keys that flags of other names set (--camera, --size, --background, --model): no flag of
#: their own.
_SET_BY_OTHER_FLAGS = frozenset({("camera", "device"), ("camera", "width"), ("camera", "height"),
                                 ("background", "kind"), ("background", "path"),
                                 ("background", "color"), ("harmonise", "model")})


def add_stage_options(parser: argparse.ArgumentParser, camera: bool = False) -> None:
    """The pipeline's settings: ``--config``, ``--background``, ``--model``, ``--no-harmonise``,
    and a flag for every other key of the settings file (``vcam.commands.setting_flags``); the
    webcam's ``[camera]`` keys only with ``camera``."""
    from vcam.commands.setting_flags import add_setting_flags

    parser.add_argument("--config", metavar="FILE",
                        help="settings file (TOML); flags override it")
    parser.add_argument(
        "--background", metavar="PATH|blur|color|none",
        help="background: an image or video file, a bundled picture (dune, storm, meadow), "
        "blur, none, color or color:R,G,B",
    )
    parser.add_argument("--model", metavar="PATH", help=f"{MODEL_FILES} (default: the bundled "
                        "lite)")
    parser.add_argument("--no-harmonise", action="store_true", help="same as --mode off")
    sections = [f.name for f in dataclasses.fields(Settings) if camera or f.name != "camera"]
    flags = add_setting_flags(parser, Settings, sections, skip=_SET_BY_OTHER_FLAGS)
    parser.set_defaults(setting_flags=flags)


# ------------------------------------------------------------------------------------ settings


def _settings(args: argparse.Namespace) -> Settings:
    """The config file (or the defaults), then every flag that was given.

    Raises:
        UserError: a flag's value is refused (the message names the setting and its range).
        SettingsError: the config file is refused.
    """
    try:
        return _merge_settings(args)
    except SettingsError:
        raise
    except ValueError as exc:  # the configs' checks name the field and the allowed range
        raise UserError(str(exc)) from exc


def _merge_settings(args: argparse.Namespace) -> Settings:
    from vcam.commands.setting_flags import apply_setting_flags

    settings = _load_config(args.config) if getattr(args, "config", None) else Settings()
    camera, background, harmonise = settings.camera, settings.background, settings.harmonise
    if getattr(args, "camera", None) is not None:
        camera = dataclasses.replace(camera, device=args.camera)
    if getattr(args, "size", None) is not None:
        camera = dataclasses.replace(camera, width=args.size[0], height=args.size[1])
    if getattr(args, "background", None) is not None:
        background = background_from_arg(args.background, background)
    if getattr(args, "model", None) is not None:
        harmonise = dataclasses.replace(harmonise, model=args.model)
    settings = dataclasses.replace(settings, camera=camera, background=background,
                                   harmonise=harmonise)
    settings = apply_setting_flags(settings, args, getattr(args, "setting_flags", ()))
    harmonise = settings.harmonise
    model_given = (getattr(args, "model", None) is not None
                   or getattr(args, "setting__harmonise__model", None) is not None)
    if model_given and getattr(args, "setting__harmonise__mode", None) is None:
        harmonise = dataclasses.replace(harmonise, mode="phnet")  # a model is run by PHNet
    if getattr(args, "no_harmonise", False):
        harmonise = dataclasses.replace(harmonise, mode="off")
    if (getattr(args, "command", None) in ("demo", "process") and harmonise.network_thread == "auto"
            and getattr(args, "setting__harmonise__network_thread", None) is None):
        # Offline work is judged by its pictures, not its rate: the network sees every frame.
        harmonise = dataclasses.replace(harmonise, network_thread="off")
    _check_torch(harmonise, args)  # asked for, whatever the mode: refused before anything runs
    if harmonise.mode == "phnet":
        if harmonise.model:
            check_model(harmonise.model,
                        None if getattr(args, "model", None) else f"settings file {args.config}")
    return dataclasses.replace(settings, harmonise=harmonise)


def _load_config(path: str) -> Settings:
    """``--config``: the settings file; a folder or an unreadable file is a ``UserError``."""
    if Path(path).is_dir():
        raise UserError(f"--config {path}: a folder; expected a settings file (TOML)")
    try:
        return load_settings(path)
    except (FileNotFoundError, SettingsError):
        raise
    except OSError as exc:
        raise UserError(f"--config {path}: cannot read it ({exc.strerror or exc}); expected a "
                        "settings file (TOML)") from exc


def check_model(value: str, settings_file: str | None = None) -> None:
    """A PHNet model names a ``.onnx`` or ``.safetensors`` file (that it is there and loads is
    the harmoniser's check, which says so); ``settings_file``: where ``value`` was read, if not
    from ``--model``.

    Raises:
        UserError: a folder, another kind of file, or a path with neither suffix; the message
            says what was found and what was expected.
    """
    path = Path(value)
    if path.is_dir():
        found = "a folder"
    elif path.suffix.lower() in (".onnx", ".safetensors"):
        return
    elif not path.exists():
        found = "no such file"
    else:
        found = f"a {path.suffix} file" if path.suffix else "a file without an extension"
    given = (f"--model {value}" if settings_file is None
             else f"harmonise.model = {value!r} in the {settings_file}")
    raise UserError(f"{given}: {found}; expected {MODEL_FILES}")


def _check_torch(harmonise: HarmoniseConfig, args: argparse.Namespace) -> None:
    """PyTorch asked for where it is not installed: refused before anything runs."""
    from phnet.runners import torch_installed

    if harmonise.backend != "torch" or torch_installed():
        return
    asked = ("--harmonise-backend torch"
             if getattr(args, "setting__harmonise__backend", None) == "torch"
             else f"harmonise.backend = \"torch\" in the settings file {args.config}")
    raise UserError(f"{asked} needs PyTorch, which is not installed: the camera install runs "
                    "PHNet with ONNX Runtime (--harmonise-backend auto or onnxruntime; "
                    "README, 'Install')")


def _pipeline_config(settings: Settings, **extra) -> PipelineConfig:
    try:
        return PipelineConfig(camera=settings.camera, mask=settings.mask,
                              background=settings.background, harmonise=settings.harmonise,
                              **extra)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean "fix a setting, a file or a device", not "bug"."""
    from vcam.backgrounds import BackgroundError
    from vcam.sinks import SinkError
    from vcam.sources import SourceError

    from vcam.harmonise_stage import HarmoniseError

    return (UserError, SettingsError, SourceError, SinkError, BackgroundError, HarmoniseError,
            FileNotFoundError)


# ------------------------------------------------------------------------ errors and reporting


def _fail(exc: BaseException) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__  # always one line
    print(f"{PROG}: error: {message}", file=sys.stderr)
    logger.info("the error in full (shown with -v)", exc_info=exc)
    return EXIT_USAGE


def _setup_logging(verbose: int) -> None:
    """Our warnings and errors only; ``-v`` adds information and the native libraries' own
    lines (MediaPipe, TensorFlow Lite, OpenCV), ``-vv`` debugging."""
    from vcam import native

    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    root.setLevel(level)
    native.configure(verbose)


def _describe_harmonisation(info: dict) -> str:
    """One honest line: what runs, where, and why it is not PHNet when PHNet was asked for."""
    method = info.get("method")
    if method == "off":
        return "off (the plain composite)"
    if method == "phnet":
        text = (f"PHNet {info.get('config', '?')} on {info.get('backend', '?')} "
                f"{info.get('device', '?')} {info.get('dtype', '')}".rstrip())
        text += f", {info.get('resolution', '?')} px, checkpoint {info.get('checkpoint', '?')}"
        if info.get("fallback"):  # the GPU was asked for and did not start
            text += f", NOT on the GPU: {info['fallback']}"
    elif method == "light":
        text = "light transfer (the captured room's light to the scene's, no network)"
    elif method == "colortransfer":
        text = "colour transfer (Reinhard, masked, in Lab)"
    else:
        text = str(method)
    if info.get("mode") == "phnet" and method != "phnet":
        text += f", NOT PHNet: {info.get('fallback', 'PHNet could not run')}"
    if "momentum" in info:
        text += f"; temporal momentum {info['momentum']}"
    if info.get("strength", 1.0) != 1.0:
        text += f"; strength {info['strength']}"
    if "left_as_captured" in info:
        text += (f"; not applied over the {info['left_as_captured']} background: the person "
                 "is left as captured")
    return text
