"""Read the files inside a compiled Qt resource bundle (``.rcc``), without Qt.

GCompris ships its pictures inside ``.rcc`` bundles (the output of Qt's ``rcc -binary``). The
layout, all integers big-endian:

- header: ``b"qres"``, format version (uint32, 1 to 3), then the offsets of the tree, data and
  names tables (uint32 each); version 3 adds a uint32 of overall flags.
- tree: fixed-size nodes, node 0 being the root folder. A node is the offset of its name
  (uint32) and flags (uint16: 1 = zlib-compressed, 2 = folder, 4 = zstd-compressed), then for a
  folder its child count and the index of its first child (uint32 each), for a file its
  territory and language (uint16 each) and the offset of its data (uint32); from version 2 every
  node ends with a modification time (uint64), so nodes are 22 bytes instead of 14.
- names: a length in UTF-16 code units (uint16), a hash (uint32), then the name in UTF-16BE.
- data: a length (uint32) then the bytes. A zlib-compressed entry is in ``qCompress`` form: the
  uncompressed size (uint32) then a zlib stream.

:func:`read_rcc` returns ``{path: bytes}`` with paths joined by ``/`` from the root (no leading
slash); :func:`iter_rcc` yields the same pairs in tree order without holding them all.
"""
from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

__all__ = ["RccError", "iter_rcc", "read_rcc"]

_MAGIC = b"qres"
_COMPRESSED = 0x01
_DIRECTORY = 0x02
_COMPRESSED_ZSTD = 0x04


class RccError(ValueError):
    """The bytes are not a Qt resource bundle this reader understands."""


def _u16(buf: bytes, offset: int) -> int:
    if offset + 2 > len(buf):
        raise RccError(f"offset {offset} is past the end of the bundle ({len(buf)} bytes)")
    return struct.unpack_from(">H", buf, offset)[0]


def _u32(buf: bytes, offset: int) -> int:
    if offset + 4 > len(buf):
        raise RccError(f"offset {offset} is past the end of the bundle ({len(buf)} bytes)")
    return struct.unpack_from(">I", buf, offset)[0]


def _name(buf: bytes, names: int, offset: int) -> str:
    start = names + offset
    length = _u16(buf, start)
    raw = buf[start + 6:start + 6 + 2 * length]
    if len(raw) != 2 * length:
        raise RccError(f"name at offset {offset} runs past the end of the bundle")
    return raw.decode("utf-16-be")


def _payload(buf: bytes, data: int, offset: int, flags: int, path: str) -> bytes:
    start = data + offset
    if start + 4 > len(buf):
        raise RccError(f"{path}: data offset {offset} is past the end of the bundle")
    size = _u32(buf, start)
    blob = buf[start + 4:start + 4 + size]
    if len(blob) != size:
        raise RccError(f"{path}: {size} bytes of data expected, {len(blob)} left in the bundle")
    if flags & _COMPRESSED_ZSTD:
        raise RccError(f"{path}: zstd-compressed entries are not supported")
    if flags & _COMPRESSED:
        if size < 4:
            raise RccError(f"{path}: compressed entry of {size} bytes has no size prefix")
        expected = _u32(blob, 0)
        try:
            out = zlib.decompress(blob[4:])
        except zlib.error as exc:
            raise RccError(f"{path}: bad zlib stream: {exc}") from exc
        if len(out) != expected:
            raise RccError(f"{path}: {expected} bytes expected after decompression, "
                           f"got {len(out)}")
        return out
    return bytes(blob)


def iter_rcc(buf: bytes) -> Iterator[tuple[str, bytes]]:
    """``(path, content)`` of every file in the bundle ``buf``, depth first in tree order.

    Raises:
        RccError: not a ``qres`` bundle, an unknown version, or a table that runs past the end.
    """
    if len(buf) < 20 or buf[:4] != _MAGIC:
        raise RccError(f"not a Qt resource bundle (magic {buf[:4]!r}, expected {_MAGIC!r})")
    version = _u32(buf, 4)
    if version not in (1, 2, 3):
        raise RccError(f"unsupported rcc format version {version} (expected 1, 2 or 3)")
    tree, data, names = _u32(buf, 8), _u32(buf, 12), _u32(buf, 16)
    node_size = 14 if version == 1 else 22

    def node(index: int) -> tuple[int, int, int, int]:
        """(name offset, flags, a, b) with a, b = (count, first) or (locale, data offset)."""
        start = tree + index * node_size
        if start + 14 > len(buf):
            raise RccError(f"tree node {index} is past the end of the bundle")
        return _u32(buf, start), _u16(buf, start + 4), _u32(buf, start + 6), \
            _u32(buf, start + 10)

    # An explicit stack rather than recursion: a corrupt bundle must not loop forever.
    stack: list[tuple[int, str]] = [(0, "")]
    seen: set[int] = set()
    while stack:
        index, prefix = stack.pop()
        if index in seen:
            raise RccError(f"tree node {index} is reached twice (corrupt bundle)")
        seen.add(index)
        name_offset, flags, a, b = node(index)
        name = "" if index == 0 else _name(buf, names, name_offset)
        path = f"{prefix}/{name}" if prefix else name
        if flags & _DIRECTORY:
            count, first = a, b
            # Pushed in reverse so children come out in table (name-hash) order.
            for child in range(first + count - 1, first - 1, -1):
                stack.append((child, path))
        else:
            yield path, _payload(buf, data, b, flags, path)


def read_rcc(path: str | os.PathLike) -> dict[str, bytes]:
    """All files of the ``.rcc`` bundle at ``path``, ``{"a/b/c.webp": bytes}``.

    Raises:
        RccError: see :func:`iter_rcc`.
        OSError: the file cannot be read.
    """
    with open(path, "rb") as f:
        buf = f.read()
    return dict(iter_rcc(buf))
