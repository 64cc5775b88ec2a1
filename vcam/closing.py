"""Context-manager support for the camera's resources (sources, sinks, segmenter, ...)."""
from __future__ import annotations

from typing import Any


class Closing:
    """``with obj:`` closes ``obj`` on the way out; the class provides an idempotent ``close()``."""

    def close(self) -> None:  # pragma: no cover - every user defines its own
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
