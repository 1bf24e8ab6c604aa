"""Byte ranges of a fragmented MP4: the init section and one range per fragment.

Only top-level box headers are read (8 or 16 bytes each), so indexing a
multi-gigabyte file costs a few hundred small reads.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Iterator

from vstream.errors import MediaError
from vstream.media.hls import ByteRange, ByteRangeIndex


def top_level_boxes(path: Path) -> Iterator[tuple[str, int, int]]:
    """``(type, offset, size)`` of every top-level ISO-BMFF box."""
    size_total = path.stat().st_size
    with open(path, "rb") as fh:
        offset = 0
        while offset < size_total:
            fh.seek(offset)
            header = fh.read(16)
            if len(header) < 8:
                raise MediaError(f"{path.name}: truncated box header at byte {offset}")
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1:
                size = struct.unpack(">Q", header[8:16])[0]
            elif size == 0:  # box extends to the end of the file
                size = size_total - offset
            if size < 8:
                raise MediaError(f"{path.name}: invalid box size {size} at byte {offset}")
            yield kind.decode("latin-1"), offset, size
            offset += size


def fragment_index(path: Path) -> ByteRangeIndex:
    """Init section (everything before the first fragment) and each fragment's range.

    A fragment is a ``moof`` with its ``mdat`` and any boxes that belong in front
    of it (``styp``, ``sidx``, ``prft``); a trailing ``mfra`` is not media.
    """
    init: ByteRange | None = None
    ranges: list[tuple[float, ByteRange]] = []
    start: int | None = None  # where the pending fragment begins
    for kind, offset, size in top_level_boxes(path):
        if kind in ("styp", "sidx", "prft", "moof") and start is None:
            start = offset
            if init is None:
                init = ByteRange(offset, 0)
        elif kind == "mdat" and start is not None:
            ranges.append((0.0, ByteRange(offset + size - start, start)))
            start = None
    if init is None or not ranges:
        raise MediaError(f"{path.name}: no fragments found (expected a fragmented MP4)")
    return ByteRangeIndex(init=init, ranges=ranges)
