"""``phnet-cam``: the demo, the live virtual camera, video files, and the benchmark.

    phnet-cam demo      built-in portrait -> phnet-demo.mp4 + phnet-demo.png, stage timings
    phnet-cam run       webcam -> virtual camera "PHNet Camera", until Ctrl-C
    phnet-cam process   IN video -> OUT video, every frame
    phnet-cam bench     per-stage ms and FPS at 640x480 and 1280x720, as a Markdown table

One module per command (``panel``, ``demo``, ``run``, ``process``, ``bench``: its options and
its work); ``common`` holds what they share (the options of the pipeline's settings, the
settings, the one-line errors with exit code 2, logging), ``setting_flags`` the flag of every
key of the settings file, ``stopping`` what SIGTERM and SIGHUP do, ``offline`` the frame loop of
``demo`` and ``process``.

Settings come from ``--config FILE`` (TOML, see ``vcam.settings``) and are overridden by flags,
one for every key of the file (``--strength``, ``--smoothing``, ...).
Every error a user can cause (a setting out of range, a file that is missing or of the wrong
kind, a missing camera, no virtual camera device) is reported in one line on stderr naming the
input and what was expected, with exit code 2 (``-v`` adds the traceback); Ctrl-C, SIGTERM or
SIGHUP stop ``run`` cleanly with exit code 0. ``demo`` and ``process`` check everything they
can before they write, and replace an existing output only when the run succeeds; stopped
(Ctrl-C, SIGTERM, SIGHUP), they say so and that the old output was kept.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from vcam.arguments import OneLineParser
from vcam.commands import bench, demo, panel, process, run
from vcam.commands.common import PROG, _fail, _setup_logging, _user_errors, verbosity_options
from vcam.commands.stopping import describe, on_stop_signals, raise_stopped


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="PHNet Camera: a virtual camera that harmonises you to your background.",
    )
    common = verbosity_options()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    panel.add_parser(sub)
    demo.add_parser(sub, [common])
    run.add_parser(sub, [common])
    process.add_parser(sub, [common])
    bench.add_parser(sub, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``phnet-cam`` with ``argv`` (default: the command line); returns the exit code.

    No command, or ``panel``, opens the Qt control panel (its own options follow ``panel``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    from vcam.runtime import prepare_process

    prepare_process()  # memory reuse and sleeping thread waits, before torch is imported
    if not argv or argv[0] == "panel":
        return panel.cmd_panel(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    commands = {"demo": demo.cmd_demo, "run": run.cmd_run, "process": process.cmd_process,
                "bench": bench.cmd_bench}
    try:
        # SIGTERM and SIGHUP stop a command as Ctrl-C does (run's loop stops cleanly on them).
        with on_stop_signals(raise_stopped):
            user_errors = _user_errors()
            try:
                return commands[args.command](args)
            except user_errors as exc:
                return _fail(exc)
    except KeyboardInterrupt as exc:
        # Outside run's loop (while loading, say): nothing was left running, and the command
        # noted what it kept.
        what, code = describe(exc)
        print(f"{PROG}: {what}", file=sys.stderr)
        return code
