"""The settings file: every stage's config in one TOML file the user may edit by hand.

Layout: one table per stage, keys named as the fields of ``vcam.config``; a missing key takes
its default, an unknown one is refused (a misspelt key silently ignored is a setting silently
lost)::

    [camera]
    device = "0"
    width = 640

    [background]
    kind = "image"
    color = [0, 120, 80]

A bundled background is written by its name (``path = "dune"``), so that the file stays right
when the environment is rebuilt elsewhere; files that hold its old absolute path still read.

The default location comes from ``platformdirs`` and is looked up only when asked for
(``default_settings_path()``), never at import.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcam.config import BackgroundConfig, CameraConfig, HarmoniseConfig, MaskConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, published as tomli
    import tomli as tomllib

APP_NAME = "phnet-camera"
SETTINGS_FILE = "settings.toml"


class SettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the key."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Settings:
    """Everything the user can set, one config per stage."""

    camera: CameraConfig = field(default_factory=CameraConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    harmonise: HarmoniseConfig = field(default_factory=HarmoniseConfig)


_SECTIONS: dict[str, type] = {
    "camera": CameraConfig,
    "mask": MaskConfig,
    "background": BackgroundConfig,
    "harmonise": HarmoniseConfig,
}


def default_settings_path() -> Path:
    """``settings.toml`` in the user's config folder (e.g. ``~/.config/phnet-camera``)."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / SETTINGS_FILE


def settings_from_dict(data: dict[str, Any], origin: str = "settings") -> Settings:
    """Build ``Settings`` from nested plain data (a parsed TOML document).

    Raises:
        SettingsError: an unknown table or key, or a value its config refuses; the message
            starts with ``origin`` and names the key (``camera.width``) and the allowed range.
    """
    if not isinstance(data, dict):
        raise SettingsError(f"{origin}: expected tables of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise SettingsError(
            f"{origin}: unknown table [{unknown[0]}] (allowed: {', '.join(_SECTIONS)})"
        )
    configs = {}
    for section, cls in _SECTIONS.items():
        values = data.get(section, {})
        if not isinstance(values, dict):
            raise SettingsError(f"{origin}: {section} must be a table [{section}]")
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise SettingsError(
                    f"{origin}: unknown key {section}.{key} (allowed: {', '.join(names)})"
                )
        if section == "harmonise" and values.get("model") and "mode" not in values:
            values = {**values, "mode": "phnet"}  # a model file is run by PHNet
        if section == "background" and isinstance(values.get("path"), str):
            values = {**values, "path": _bundled_path(values["path"])}
        try:
            configs[section] = cls(**values)
        except (TypeError, ValueError) as exc:
            # The configs' messages start with the field name: make it the full key.
            raise SettingsError(f"{origin}: {section}.{exc}") from None
    return Settings(**configs)


def settings_to_dict(settings: Settings) -> dict[str, dict[str, Any]]:
    """Nested plain data, one dict per table; tuples become lists, and a bundled background
    its name (``dune``), which stays right wherever the package is installed next."""
    from vcam.images import background_name

    data: dict[str, dict[str, Any]] = {}
    for section, cls in _SECTIONS.items():
        config = getattr(settings, section)
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls)}
        data[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    path = data["background"]["path"]
    data["background"]["path"] = (background_name(path) or path) if path else path
    return data


def _bundled_path(path: str) -> str:
    """A bundled background's name, or its path in an earlier installation (files written
    before names were), as the path of the installed picture; any other path as it is."""
    from vcam.images import BACKGROUND_PATHS, background_name

    name = path if path in BACKGROUND_PATHS else background_name(path) if path else None
    return str(BACKGROUND_PATHS[name]) if name else path


def load_settings(path: str | os.PathLike) -> Settings:
    """Read a settings file.

    Raises:
        FileNotFoundError: no file at ``path``.
        SettingsError: not valid TOML (corrupt, truncated), or a setting refused; the message
            names the file, and ``error.path`` holds it so the panel can move the file aside.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"settings file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"settings file {path} is not UTF-8 text: {exc}", path) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}", path) from None
    try:
        return settings_from_dict(data, origin=f"settings file {path}")
    except SettingsError as exc:
        exc.path = path
        raise


def save_settings(settings: Settings, path: str | os.PathLike) -> Path:
    """Write ``settings`` as TOML, creating the folder; atomically (a temporary file renamed
    over the old one), so a crash never leaves half a file. Returns the path written."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a Settings, got {type(settings).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# PHNet Camera settings (phnet-cam); keys are documented in vcam/config.py", ""]
    for section, values in settings_to_dict(settings).items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _toml_value(value: Any) -> str:
    """One TOML value for the types the configs hold (str, bool, int, float, lists of them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # always has a '.' or an exponent, so it reads back as a float
    if isinstance(value, str):
        # A JSON string with ASCII escapes is a valid TOML basic string.
        return json.dumps(value, ensure_ascii=True)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML: {value!r}")
