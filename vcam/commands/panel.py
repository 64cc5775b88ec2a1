"""``phnet-cam panel`` (and ``phnet-cam`` with no command): the Qt control panel, which reads its
own options (``vcam.panel``)."""

from __future__ import annotations

from collections.abc import Sequence


def add_parser(sub) -> None:
    sub.add_parser("panel", help="open the control panel (the default with no command); "
                   "panel --help lists its options", add_help=False)


def cmd_panel(argv: Sequence[str]) -> int:
    from vcam.panel import main as panel_main

    return panel_main(argv)
