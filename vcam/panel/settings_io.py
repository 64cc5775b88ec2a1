"""The panel's files: the shared settings (``vcam.settings``, TOML) and the panel's own
preferences (``panel.json`` beside them: added backgrounds, preview mode, window geometry).

A file that cannot be read is never fatal and never silently lost: it is moved aside with a
``.corrupt`` suffix, the defaults are used, and the caller gets a message for the user.
The panel keeps its preferences in a file of their own because ``vcam.settings`` refuses
unknown tables (a misspelt key must not be lost silently), and the command line reads the
same settings file.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vcam.settings import Settings, SettingsError, load_settings, save_settings

logger = logging.getLogger(__name__)

CORRUPT_SUFFIX = ".corrupt"
PREFS_FILE = "panel.json"
VIEW_MODES = ("output", "split", "input")


@dataclass(frozen=True)
class Loaded:
    """What ``load_settings_or_defaults`` found.

    Attributes:
        settings: the settings read, or the defaults.
        existed: a settings file was there (False on the very first start).
        notice: one message for the user when the file could not be used, else ``None``.
        moved_to: where an unusable file was moved, if it was.
    """

    settings: Settings
    existed: bool
    notice: str | None = None
    moved_to: Path | None = None


@dataclass(frozen=True)
class PanelPrefs:
    """What the panel remembers besides the pipeline's settings.

    Attributes:
        user_paths: pictures, videos and folders the user added to the gallery.
        view: the preview shows ``output``, ``input`` or a ``split`` (input left, output right).
        split: where the split is, as a fraction of the preview's width, in [0.05, 0.95].
        geometry: the window's geometry as ``QWidget.saveGeometry()`` hex, or empty.
    """

    user_paths: tuple[str, ...] = ()
    view: str = "output"
    split: float = 0.5
    geometry: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.user_paths, (list, tuple)) or not all(
            isinstance(p, str) for p in self.user_paths
        ):
            raise ValueError(f"user_paths must be a list of strings, got {self.user_paths!r}")
        object.__setattr__(self, "user_paths", tuple(self.user_paths))
        if self.view not in VIEW_MODES:
            raise ValueError(f"view must be one of {', '.join(VIEW_MODES)}, got {self.view!r}")
        if isinstance(self.split, bool) or not isinstance(self.split, (int, float)):
            raise ValueError(f"split must be a number in [0.05, 0.95], got {self.split!r}")
        object.__setattr__(self, "split", min(0.95, max(0.05, float(self.split))))
        if not isinstance(self.geometry, str):
            raise ValueError(f"geometry must be a string, got {type(self.geometry).__name__}")


def prefs_path_for(settings_path: Path) -> Path:
    """The panel's preferences file, in the same folder as the settings file."""
    return Path(settings_path).with_name(PREFS_FILE)


def move_aside(path: Path) -> Path:
    """Rename ``path`` to ``path.corrupt`` (replacing an older one) and return the new path."""
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    os.replace(path, target)
    return target


def load_settings_or_defaults(path: str | os.PathLike) -> Loaded:
    """Read the settings file; when it is unusable, move it aside and use the defaults."""
    path = Path(path)
    try:
        return Loaded(load_settings(path), existed=True)
    except FileNotFoundError:
        return Loaded(Settings(), existed=False)
    except SettingsError as exc:
        return _moved_aside(path, exc)
    except OSError as exc:  # unreadable (permissions): keep the file, say so, use defaults
        logger.warning("cannot read settings %s: %s", path, exc)
        return Loaded(Settings(), existed=True,
                      notice=f"Cannot read the settings file {path} ({exc}); using defaults.")


def _moved_aside(path: Path, exc: Exception) -> Loaded:
    """Move an unusable settings file aside; the defaults, and what to tell the user."""
    defaults = Settings()
    reason = " ".join(str(exc).split())
    try:
        moved = move_aside(path)
    except OSError as move_exc:
        logger.warning("settings %s unusable (%s) and cannot be moved aside: %s",
                       path, reason, move_exc)
        return Loaded(defaults, existed=True,
                      notice=f"The settings file {path} could not be used ({reason}) and could "
                      f"not be moved aside ({move_exc}); the defaults are used.")
    logger.warning("settings %s unusable (%s); moved to %s, using defaults", path, reason, moved)
    return Loaded(defaults, existed=True, moved_to=moved,
                  notice=f"The settings file could not be used ({reason}). It was moved to "
                  f"{moved} and the defaults are used.")


def save_settings_quietly(settings: Settings, path: str | os.PathLike) -> str | None:
    """Save; return an error message instead of raising (a full disk must not close the app)."""
    try:
        save_settings(settings, path)
    except OSError as exc:
        logger.warning("cannot save settings to %s: %s", path, exc)
        return f"Cannot save settings to {path}: {exc}"
    return None


def load_prefs(path: str | os.PathLike) -> tuple[PanelPrefs, str | None]:
    """The panel's preferences and a message for the user when the file was unusable (then
    moved aside with a ``.corrupt`` suffix, and the defaults are returned)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {f for f in PanelPrefs.__dataclass_fields__})
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}")
        return PanelPrefs(**data), None
    except FileNotFoundError:
        return PanelPrefs(), None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        reason = " ".join(str(exc).split())
        try:
            moved = move_aside(path)
        except OSError:
            return PanelPrefs(), f"The panel preferences {path} could not be used ({reason})."
        logger.warning("panel preferences %s unusable (%s); moved to %s", path, reason, moved)
        return PanelPrefs(), (f"The panel preferences could not be used ({reason}). They were "
                              f"moved to {moved}.")
    except OSError as exc:
        return PanelPrefs(), f"Cannot read the panel preferences {path}: {exc}"


def save_prefs(prefs: PanelPrefs, path: str | os.PathLike) -> str | None:
    """Write the preferences atomically; return an error message instead of raising."""
    path = Path(path)
    data = asdict(prefs)
    data["user_paths"] = list(prefs.user_paths)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("cannot save panel preferences to %s: %s", path, exc)
        return f"Cannot save panel preferences to {path}: {exc}"
    return None
