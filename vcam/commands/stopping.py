"""Stop signals: SIGTERM (``kill``, a service manager) and SIGHUP (the terminal closed) stop a
command as Ctrl-C does, so that the same clean-up runs (an unfinished output's temporary file
removed, the old output kept) and the command says what stopped it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The signals handled here, where the system has them.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the main thread is, as Ctrl-C raises KeyboardInterrupt."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def on_stop_signals(action: Callable[[int], None]) -> Iterator[None]:
    """Within the block, the first SIGTERM or SIGHUP calls ``action(signum)`` (which may raise,
    see ``raise_stopped``) and the next ones are ignored while the first is dealt with.

    Only the main thread may set handlers; elsewhere the block changes nothing. A signal
    ignored when the block starts (``nohup`` ignores SIGHUP) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum, _frame) -> None:
        if received:
            return
        received.append(signum)
        action(signum)

    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def raise_stopped(signum: int) -> None:
    """The action that stops a command where it is: raises ``Stopped``."""
    raise Stopped(signum)


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)``, on Python 3.10 too: what a stopped command kept (``out.mp4 was
    left as it was``), for ``describe``."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:  # Python 3.10: the attribute add_note fills
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]


def describe(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the command and what it kept, in words, and its exit status (128 + the
    signal's number, as a shell reports a process ended by it)."""
    if isinstance(exc, Stopped):
        what, code = f"stopped by {signal.Signals(exc.signum).name}", 128 + exc.signum
    else:
        what, code = "interrupted (Ctrl-C)", 128 + signal.SIGINT
    return "; ".join([what, *getattr(exc, "__notes__", ())]), code
