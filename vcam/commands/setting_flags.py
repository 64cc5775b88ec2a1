"""Every setting of the settings file as a flag, made from the config dataclasses.

A key of the settings file is a flag of the same name (``[harmonise] strength`` is
``--strength``, ``network_every`` is ``--network-every``); a key that more than one table has
(``device``, ``model``), or that names something else on the command line too (``backend``:
the virtual camera's), takes its table's name first (``--harmonise-device``,
``--mask-model``, ``--harmonise-backend``). A setting added to a config later is a flag
without more code: its type gives the flag's (``true``/``false`` settings are ``--key`` and
``--no-key``), the config's docstring its help, and the config's own checks its range, with
the flag named in the message.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from vcam.commands.common import _number

#: Keys that name something else on the command line too: run's virtual camera was set with
#: --backend and --device before they were --vcam-backend and --vcam-device.
_NAMED_WITH_TABLE = frozenset({"backend", "device"})


@dataclass(frozen=True)
class SettingFlag:
    """One setting's flag: ``option`` sets ``section.key``; argparse keeps it as ``dest``."""

    section: str
    key: str
    option: str
    dest: str


def add_setting_flags(parser: argparse.ArgumentParser, settings_type: type,
                      sections: Collection[str] | None = None,
                      skip: Collection[tuple[str, str]] = ()) -> list[SettingFlag]:
    """Adds a flag for every field of every config in ``settings_type`` (a dataclass of one
    config per table), in ``sections`` only if given, except the ``(section, key)`` pairs in
    ``skip`` (set by flags of other names). Returns the flags, for ``apply_setting_flags``."""
    tables = _tables(settings_type)
    keys = [f.name for cls in tables.values() for f in dataclasses.fields(cls)]
    flags = []
    for section, cls in tables.items():
        if sections is not None and section not in sections:
            continue
        group = parser.add_argument_group(f"[{section}] settings (flags override --config)")
        helps = _field_help(cls)
        types = typing.get_type_hints(cls)
        defaults = cls()
        for field in dataclasses.fields(cls):
            if (section, field.name) in skip:
                continue
            with_table = keys.count(field.name) > 1 or field.name in _NAMED_WITH_TABLE
            name = f"{section}_{field.name}" if with_table else field.name
            flag = SettingFlag(section, field.name, "--" + name.replace("_", "-"),
                               f"setting__{section}__{field.name}")
            default = getattr(defaults, field.name)
            text = helps.get(field.name, "").replace("%", "%%")  # argparse formats help
            text += f" ([{section}] {field.name}; default {_shown(default)})"
            kind = types[field.name]
            if kind is bool:
                group.add_argument(flag.option, dest=flag.dest, default=None, help=text,
                                   action=argparse.BooleanOptionalAction)
            else:
                group.add_argument(flag.option, dest=flag.dest, default=None, help=text,
                                   type=_converter(kind), metavar=_metavar(kind))
            flags.append(flag)
    return flags


def apply_setting_flags(settings: Any, args: argparse.Namespace,
                        flags: Sequence[SettingFlag]) -> Any:
    """``settings`` with every flag in ``args`` that was given.

    Raises:
        ValueError: a config refused a value; the message starts with the flag and its value.
    """
    for section in dict.fromkeys(flag.section for flag in flags):
        given = {flag: getattr(args, flag.dest) for flag in flags
                 if flag.section == section and getattr(args, flag.dest, None) is not None}
        if not given:
            continue
        try:
            config = dataclasses.replace(getattr(settings, section),
                                         **{flag.key: value for flag, value in given.items()})
        except ValueError as exc:
            # The configs' messages start with the field's name: name the flag too.
            flag = next((f for f in given if str(exc).startswith(f"{f.key} ")),
                        next(iter(given)))
            value = given[flag]
            shown = _shown(value) if not isinstance(value, bool) else ""
            raise ValueError(f"{flag.option} {shown}".rstrip() + f": {exc}") from exc
        settings = dataclasses.replace(settings, **{section: config})
    return settings


def _tables(settings_type: type) -> dict[str, type]:
    hints = typing.get_type_hints(settings_type)
    return {f.name: hints[f.name] for f in dataclasses.fields(settings_type)}


def _converter(kind: Any):
    """The text of a flag as the field's type; a wrong kind of value is argparse's error."""
    if kind is float:
        return _number
    if kind is int:
        return _whole_number
    if typing.get_origin(kind) is tuple:
        return _numbers
    return str


def _metavar(kind: Any) -> str:
    if kind is float:
        return "X"
    if kind is int:
        return "N"
    if typing.get_origin(kind) is tuple:
        return "A,B,..."
    return "VALUE"


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None


def _numbers(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be whole numbers separated by commas, got {text!r}") from None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else "''"


_ENTRY = re.compile(r"^    ([a-z_][a-z0-9_, ]*): (.*)$")


def _field_help(cls: type) -> dict[str, str]:
    """Each field's first sentence from the ``Attributes:`` section of ``cls``'s docstring."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    entries: dict[str, str] = {}
    names: list[str] = []
    inside = False
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        if line and not line.startswith(" "):
            break  # the next section
        match = _ENTRY.match(line)
        if match:
            names = [n.strip() for n in match.group(1).split(",")]
            for name in names:
                entries[name] = match.group(2)
        elif line.startswith("        ") and names:
            for name in names:
                entries[name] += " " + line.strip()
    return {name: _first_sentence(text.replace("``", "")) for name, text in entries.items()}


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.])\s+(?=[A-Z(])", text.strip(), maxsplit=1)[0]
