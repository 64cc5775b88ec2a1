"""The Qt control panel of PHNet Camera: ``phnet-cam`` (no arguments) or ``phnet-cam panel``.

Modules, each for one thing:

- ``window``: the main window; puts the parts together, hotkeys, tray, saving.
- ``controller``: runs the pipeline off the GUI thread and applies the panel's settings.
- ``virtual_output``: the virtual camera as a sink that connects while the pipeline runs.
- ``preview``: paints the newest frames (output, camera, or split).
- ``gallery`` and ``thumbnails``: the background gallery and its cached thumbnails.
- ``controls``: the settings tabs and the virtual camera's controls.
- ``cameras``: which cameras to offer.
- ``status``: the status line's text.
- ``settings_io``: the settings file and the panel's preferences, corrupt files moved aside.
- ``platform_check``: whether Qt can open a window here, checked before it tries.

Importing this package loads no Qt; ``main()`` does.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

PROG = "phnet-cam panel"


def build_parser() -> argparse.ArgumentParser:
    from vcam.arguments import OneLineParser

    parser = OneLineParser(
        prog=PROG,
        description="The PHNet Camera control panel: preview, backgrounds, harmonisation, "
        "and the virtual camera.",
    )
    parser.add_argument("--settings", metavar="FILE", type=_settings_file,
                        help="settings file (default: settings.toml in the user's config "
                        "folder); the panel's own preferences are kept beside it")
    parser.add_argument("--camera", metavar="INDEX|PATH|demo",
                        help="start with this source (it becomes the saved one): demo, a camera "
                        "index or device, or a video file")
    parser.add_argument("--no-tray", action="store_true", help="no tray icon")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: info, -vv: debug)")
    return parser


def _settings_file(text: str) -> str:
    """``--settings``: a file to read and write (it need not exist yet), not a folder."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a settings file (TOML), "
                                         f"for example {Path(text) / 'settings.toml'}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Open the panel and run until it is closed; returns the exit code."""
    args = build_parser().parse_args(argv)
    level = (logging.WARNING if args.verbose <= 0 else
             logging.INFO if args.verbose == 1 else logging.DEBUG)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    from vcam import native

    native.configure(args.verbose)  # MediaPipe, TensorFlow Lite, OpenCV: quiet unless -v

    from vcam.panel.platform_check import platform_problem

    reason = platform_problem()
    if reason is not None:
        # Qt would abort the process with a core dump; say it in one line instead.
        sys.stderr.write(f"{PROG}: error: {reason}\n")
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from vcam.panel.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "phnet-cam"])
    app.setApplicationName("PHNet Camera")
    app.setQuitOnLastWindowClosed(True)
    window = MainWindow(settings_path=args.settings, camera=args.camera, tray=not args.no_tray)
    window.show()

    # Qt's event loop does not return to Python while it waits, so Ctrl-C in the terminal
    # would go unnoticed: close the window from the handler, and wake Python now and then.
    previous = signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        code = app.exec()
    finally:
        wake.stop()
        signal.signal(signal.SIGINT, previous)
        window.shutdown()  # already done by closing the window; covers app.quit() as well
    return int(code)
