"""A thread that runs one function on the newest arguments offered to it, keeping the last result.

The ``Harmonizer`` uses it to run the network on its own thread: every frame offers its
downscaled copy, the worker takes the newest one whenever it is free (older offers are dropped,
never queued), and every frame applies the latest colour model without waiting for the network.
(The ``Harmonizer``'s job hands its colour model to ``phnet.harmonizer.ColourModels`` itself;
``result()`` serves other callers.)
"""
from __future__ import annotations

import threading
from typing import Any, Callable


class LatestWorker:
    """Runs ``fn(*args)`` for the newest ``offer(*args)``; ``result()`` is the last completed one.

    ``clear()`` drops the pending offer and the result, and makes a computation already under way
    land nowhere (its generation is stale). An exception in ``fn`` is raised by the next
    ``result()`` call. ``close()`` stops the thread (idempotent). Every method may be called from
    any thread, and none waits for ever: ``result(wait=True)`` returns as soon as there is
    nothing left to wait for (a ``clear()`` or ``close()`` meanwhile, or no offer pending).
    """

    def __init__(self, fn: Callable[..., Any], name: str = "latest-worker"):
        self._fn = fn
        self._cond = threading.Condition()
        self._job: tuple[int, tuple] | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._generation = 0
        self._busy = False  # fn is running
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def closed(self) -> bool:
        """``close()`` was called: offers are no longer run."""
        return self._closed

    def offer(self, *args: Any) -> None:
        with self._cond:
            self._job = (self._generation, args)
            self._cond.notify_all()

    def result(self, wait: bool = False, timeout: float | None = None) -> Any:
        """The last result (``None`` before the first); with ``wait``, blocks until there is one,
        an error, or nothing left to wait for: ``clear()`` or ``close()`` was called meanwhile,
        or no offer is pending or running (or until ``timeout`` seconds pass)."""
        with self._cond:
            if wait:
                generation = self._generation
                self._cond.wait_for(
                    lambda: self._result is not None or self._error is not None or self._closed
                    or self._generation != generation
                    or (self._job is None and not self._busy),
                    timeout,
                )
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return self._result

    def clear(self) -> None:
        with self._cond:
            self._generation += 1
            self._job = None
            self._result = None
            self._cond.notify_all()  # a result(wait=True) for the dropped work returns

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._closed)
                if self._closed:
                    return
                generation, args = self._job
                self._job = None
                self._busy = True
            try:
                out = self._fn(generation, *args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of result()
                with self._cond:
                    self._busy = False
                    self._error = exc
                    self._cond.notify_all()
                continue
            with self._cond:
                self._busy = False
                if generation == self._generation:
                    self._result = out
                self._cond.notify_all()
