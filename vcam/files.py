"""Writing output files so that a failed run never loses one: a temporary file beside the target,
renamed over it only once it is complete (``os.replace`` is atomic on one file system)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def temporary_beside(path: str | os.PathLike) -> Path:
    """A new empty file in ``path``'s folder, named after it and ending in its suffix (so that
    OpenCV picks the same container): ``out.mp4`` -> ``.out.3f9a1c2e.part.mp4``.

    Created exclusively, with the permissions a new file gets (the umask applies), so the renamed
    result looks like any file the user writes.

    Raises:
        OSError: the folder cannot be written to.
    """
    path = Path(path)
    for _ in range(100):
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.part{path.suffix}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"cannot make a temporary file beside {path}")  # pragma: no cover


def write_bytes_atomically(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it; an existing ``path`` is
    replaced only once the new content is complete. Returns ``path``."""
    path = Path(path)
    tmp = temporary_beside(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
