"""Child processes for the tests: every one within a time limit, and with the default signal
dispositions whatever the test runner inherited.

A runner started with SIGINT ignored (``python -m pytest &`` from a script), or SIGHUP ignored
(``nohup``), passes that on to its children; a child that ignores the SIGINT a test sends it
never stops. ``start`` and ``run`` reset SIGINT, SIGTERM and SIGHUP to their defaults in the
child before it starts (Python then installs its own Ctrl-C handler as usual), and on Linux
the child is killed when the test run ends, however it ends.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"

#: Longest a child may take unless a test says otherwise (seconds).
TIMEOUT_S = 300.0

_RESET = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
               if hasattr(signal, name))

# ``python -c`` with ``import torch`` failing as if PyTorch were not installed (sys.modules
# holding None makes every import of it raise ModuleNotFoundError), then ``phnet-cam``'s main.
_WITHOUT_TORCH = ("import sys; sys.modules['torch'] = None; {setup}"
                  "from vcam.commands import main; sys.exit(main(sys.argv[1:]))")


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Looked up here: between fork and exec the child should only call it.
_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def _child_setup(disposition=signal.SIG_DFL):
    """What runs in the child before it starts: the stop signals' disposition, and (Linux)
    SIGKILL when the test run that started it ends."""

    def setup() -> None:
        for signum in _RESET:
            signal.signal(signum, disposition)
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return setup


def environment(**extra: str) -> dict[str, str]:
    """This environment, with the checkout and ``tests/`` first on ``PYTHONPATH``."""
    path = os.pathsep.join([str(REPO), str(TESTS)]
                           + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    return {**os.environ, "PYTHONPATH": path, **extra}


def _options(env: dict[str, str] | None, cwd, disposition=signal.SIG_DFL) -> dict:
    return dict(cwd=cwd, env=env if env is not None else environment(),
                preexec_fn=_child_setup(disposition) if os.name == "posix" else None)


def run(argv: list[str], *, cwd, timeout: float = TIMEOUT_S, env: dict[str, str] | None = None,
        disposition=signal.SIG_DFL) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end, its output captured as text; ``TimeoutExpired`` (the child
    killed) after ``timeout`` seconds. ``disposition``: of the stop signals in the child
    (``SIG_IGN``: as a test run started in the background passes them on)."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          **_options(env, cwd, disposition))


def start(argv: list[str], *, cwd, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` with its output in pipes (text); stop it with ``finish``."""
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **_options(env, cwd))


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT_S) -> tuple[str, str]:
    """Wait at most ``timeout`` seconds for ``proc`` to end (killed after that, and then
    ``TimeoutExpired``); its stdout and stderr."""
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def phnet_cam(*argv: str, cwd, timeout: float = TIMEOUT_S, without_torch: bool = False,
              setup: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``phnet-cam ARGV`` in a fresh interpreter on this checkout; ``without_torch``: as if
    PyTorch were not installed. ``setup``: Python run first (stand-ins, say)."""
    return run(phnet_cam_argv(*argv, without_torch=without_torch, setup=setup), cwd=cwd,
               timeout=timeout, env=env)


def phnet_cam_argv(*argv: str, without_torch: bool = False, setup: str = "") -> list[str]:
    if not (without_torch or setup):
        return [sys.executable, "-m", "vcam", *argv]
    setup = f"{setup}; " if setup else ""
    code = (_WITHOUT_TORCH if without_torch
            else "import sys; {setup}from vcam.commands import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-c", code.format(setup=setup), *argv]
