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
    samples: list[int] = []  # video samples per fragment
    start: int | None = None  # where the pending fragment begins
    video_track: int | None = None
    with open(path, "rb") as fh:
        for kind, offset, size in top_level_boxes(path):
            if kind == "moov" and video_track is None:
                fh.seek(offset)
                video_track = _track_ids(bytearray(fh.read(size))).get(b"vide")
            if kind in ("styp", "sidx", "prft", "moof") and start is None:
                start = offset
                if init is None:
                    init = ByteRange(offset, 0)
                    samples.append(0)
            if kind == "moof" and start is not None:
                fh.seek(offset)
                samples[-1] += _video_samples(bytearray(fh.read(size)), video_track)
            elif kind == "mdat" and start is not None:
                ranges.append((0.0, ByteRange(offset + size - start, start)))
                samples.append(0)
                start = None
    if init is None or not ranges:
        raise MediaError(f"{path.name}: no fragments found (expected a fragmented MP4)")
    return ByteRangeIndex(init=init, ranges=ranges, samples=samples[: len(ranges)])


def _tracks(moov: bytes | bytearray) -> list[dict]:
    """``{track_id, handler, timescale}`` of each ``trak`` of an init section (its ``moov``), in order."""
    buf = bytearray(moov)
    tracks = []
    for kind, off, size, hdr in _children(buf, 0, len(buf)):
        for tkind, toff, tsize, thdr in _children(buf, off + hdr, off + size) if kind == "moov" else ():
            if tkind != "trak":
                continue
            track: dict = {"track_id": None, "handler": None, "timescale": None}
            stack = [(toff + thdr, toff + tsize)]
            while stack:
                a, b = stack.pop()
                for k, o, s, h in _children(buf, a, b):
                    if k == "mdia":
                        stack.append((o + h, o + s))
                    elif k in ("tkhd", "mdhd"):  # the same layout up to these fields
                        value = struct.unpack_from(">I", buf, o + h + (20 if buf[o + h] == 1 else 12))[0]
                        track["track_id" if k == "tkhd" else "timescale"] = value
                    elif k == "hdlr":
                        track["handler"] = bytes(buf[o + h + 8 : o + h + 12])
            if track["track_id"] is not None:
                tracks.append(track)
    return tracks


def _track_ids(moov: bytearray) -> dict[bytes, int]:
    """``{handler type: track_ID}`` of the first track of each kind (``vide``, ``soun``, ...)."""
    found: dict[bytes, int] = {}
    for track in _tracks(moov):
        if track["handler"] is not None:
            found.setdefault(track["handler"], track["track_id"])
    return found


def _video_samples(moof: bytearray, track_id: int | None) -> int:
    """How many samples of ``track_id`` one ``moof`` describes (the sum of its ``trun`` counts)."""
    return sum(count for _, _, _, count in _truns(moof, track_id)) if track_id is not None else 0


# --- CMAF timing: the first frame of every fragment is presented at its decode time -------

_CONTAINERS = {"moov", "trak", "mdia", "minf", "stbl", "edts", "moof", "traf"}
_TRUN_FIELDS = ((0x100, 4), (0x200, 4), (0x400, 4), (0x800, 4))  # duration, size, flags, composition offset


def _children(buf: bytes | bytearray, start: int, end: int) -> Iterator[tuple[str, int, int, int]]:
    """``(type, offset, size, header)`` of the boxes in ``buf[start:end]``."""
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, offset)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", buf, offset + 8)[0], 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise MediaError(f"invalid box {kind!r} of {size} bytes at byte {offset}")
        yield kind.decode("latin-1"), offset, size, header
        offset += size


def _video_track(moov: bytearray) -> tuple[int, int, int] | None:
    """``(track_ID, offset of the elst media_time field, its width)`` of the video track, if it has an edit."""
    for kind, off, size, hdr in _children(moov, 0, len(moov)):
        if kind != "moov":
            continue
        for tkind, toff, tsize, thdr in _children(moov, off + hdr, off + size):
            if tkind != "trak":
                continue
            track_id, handler, media_time = None, None, None
            stack = [(toff + thdr, toff + tsize)]
            while stack:
                a, b = stack.pop()
                for k, o, s, h in _children(moov, a, b):
                    if k in _CONTAINERS:
                        stack.append((o + h, o + s))
                    elif k == "tkhd":
                        version = moov[o + h]
                        track_id = struct.unpack_from(">I", moov, o + h + (20 if version == 1 else 12))[0]
                    elif k == "hdlr":
                        handler = bytes(moov[o + h + 8 : o + h + 12])
                    elif k == "elst":
                        version, count = moov[o + h], struct.unpack_from(">I", moov, o + h + 4)[0]
                        width = 8 if version == 1 else 4
                        for i in range(count):  # the first non-empty edit (media_time -1 is an empty one)
                            field = o + h + 8 + i * (2 * width + 4) + width
                            value = int.from_bytes(moov[field : field + width], "big", signed=True)
                            if value >= 0:
                                media_time = (field, width)
                                break
            if handler == b"vide" and track_id is not None and media_time is not None:
                return track_id, *media_time
    return None


def cmaf_timing(path: Path) -> int:
    """Present each video fragment's first frame at its decode time, as CMAF does; returns the shift.

    ffmpeg's mp4 muxer gives a B-frame video positive composition offsets (the keyframe is
    shown a reordering delay after it is decoded) and an edit list that takes the delay off
    again. Players that place fragments by their decode time (hls.js at every
    ``EXT-X-DISCONTINUITY``) then leave a hole of that delay at each clip boundary of a
    composed stream. This rewrites, in place and without changing any size, the video
    track's edit to start at 0 and each ``trun`` to version 1 (signed offsets) minus the
    delay: the frames and their presentation times are unchanged, only the way the boxes
    express them. Returns the delay removed, in the track's timescale (0: nothing to do).
    """
    boxes = list(top_level_boxes(path))
    moov = next(((o, s) for k, o, s in boxes if k == "moov"), None)
    if moov is None:
        raise MediaError(f"{path.name}: no moov box (expected a fragmented MP4)")
    with open(path, "r+b") as fh:
        fh.seek(moov[0])
        head = bytearray(fh.read(moov[1]))
        found = _video_track(head)
        if found is None:
            return 0
        track_id, field, width = found
        delay = int.from_bytes(head[field : field + width], "big", signed=True)
        if delay <= 0:
            return 0
        patches: list[tuple[int, bytes]] = [(moov[0] + field, (0).to_bytes(width, "big", signed=True))]
        for kind, offset, size in boxes:
            if kind != "moof":
                continue
            fh.seek(offset)
            moof = bytearray(fh.read(size))
            if _shift_truns(moof, track_id, delay):
                patches.append((offset, bytes(moof)))
        for at, data in patches:  # same sizes: a reader of a half-patched file never sees torn boxes' lengths
            fh.seek(at)
            fh.write(data)
    return delay


def _shift_truns(moof: bytearray, track_id: int, delay: int) -> bool:
    """Take ``delay`` off every composition offset of ``track_id`` in a ``moof`` (as signed, version 1)."""
    truns = _truns(moof, track_id)
    for body, version, flags, count in truns:
        if not flags & _TRUN_OFFSETS:
            raise MediaError("a video fragment without composition offsets after an edit list (unexpected muxer output)")
        for at in _offset_fields(flags, count):
            value = int.from_bytes(moof[body + at : body + at + 4], "big", signed=version == 1)
            moof[body + at : body + at + 4] = (value - delay).to_bytes(4, "big", signed=True)
        moof[body] = 1
    return bool(truns)


# --- rebased delivery: the same fragments on a composed stream's continuous timeline ------------


def video_track(init: bytes | bytearray) -> int | None:
    """The track_ID of an init section's (first) video track."""
    return _track_ids(bytearray(init)).get(b"vide")


def track_timescales(init: bytes | bytearray) -> dict[int, int]:
    """``{track_ID: media timescale}`` from an init section (its ``moov``)."""
    return {t["track_id"]: t["timescale"] for t in _tracks(init) if t["timescale"]}


def tfdt_fields(moof: bytes | bytearray) -> list[tuple[int, int, int, int]]:
    """``(track_ID, offset of the tfdt value in the moof, its width 4 or 8, value)`` for each ``traf``."""
    buf = bytearray(moof)
    out = []
    for k, o, s, h in _children(buf, 0, len(buf)):
        for tk, to, ts, th in _children(buf, o + h, o + s) if k == "moof" else ():
            if tk != "traf":
                continue
            track_id, field = None, None
            for bk, bo, bs, bh in _children(buf, to + th, to + ts):
                if bk == "tfhd":
                    track_id = struct.unpack_from(">I", buf, bo + bh + 4)[0]
                elif bk == "tfdt":
                    width = 8 if buf[bo + bh] == 1 else 4
                    field = (bo + bh + 4, width)
            if track_id is not None and field is not None:
                value = int.from_bytes(buf[field[0] : field[0] + field[1]], "big")
                out.append((track_id, field[0], field[1], value))
    return out


def fragment_number(moof: bytes | bytearray) -> int | None:
    """The ``mfhd`` sequence number of a fragment's ``moof``."""
    buf = bytearray(moof)
    for k, o, s, h in _children(buf, 0, len(buf)):
        for mk, mo, ms, mh in _children(buf, o + h, o + s) if k == "moof" else ():
            if mk == "mfhd":
                return struct.unpack_from(">I", buf, mo + mh + 4)[0]
    return None


def rebase_patches(moof: bytes | bytearray, moof_offset: int, timescales: dict[int, int], delta_ticks: int,
                   ticks_per_second: int = 90_000, sequence_delta: int = 0, *, video: int | None = None,
                   allowance: int = 0, strict: bool = True) -> list[tuple[int, bytes]]:  # fmt: skip
    """The byte patches (absolute file offset, new bytes) that move one fragment ``delta_ticks`` later
    and renumber it ``sequence_delta`` on.

    Only each ``traf``'s base media decode time and the ``mfhd`` sequence number change (same
    widths, so no size moves and the samples' data offsets stay right); the samples are the
    library's own. ``allowance`` (ticks, > 0 in a stream with B-frame clips) is the stream's
    reordering allowance: the ``video`` track's frames keep their decode times and are presented
    that much after them (its ``trun`` composition offsets grow by it, as unsigned version-0
    offsets every player reads alike), and the other tracks move that much later with them.
    A ``trun`` without composition offsets cannot take it in place: ValueError when ``strict``,
    else left for :func:`with_composition_offsets`. Raises ValueError when a new time, offset or
    number would be negative or would not fit its field.
    """
    patches = []
    buf = bytearray(moof)
    if sequence_delta:
        for k, o, s, h in _children(buf, 0, len(buf)):
            for mk, mo, ms, mh in _children(buf, o + h, o + s) if k == "moof" else ():
                if mk == "mfhd":
                    at = mo + mh + 4
                    new = struct.unpack_from(">I", buf, at)[0] + sequence_delta
                    if not 0 < new < 1 << 32:
                        raise ValueError("the renumbering puts the fragment outside the sequence")
                    patches.append((moof_offset + at, new.to_bytes(4, "big")))
    for track_id, at, width, value in tfdt_fields(moof):
        timescale = timescales.get(track_id)
        if timescale is None:
            raise ValueError(f"track {track_id} is not in the init section")
        moved = delta_ticks + (allowance if track_id != video else 0)
        new = value + round(moved * timescale / ticks_per_second)
        if not 0 <= new < 1 << (8 * width):
            raise ValueError("the shift puts the fragment outside the timeline")
        patches.append((moof_offset + at, new.to_bytes(width, "big")))
    if allowance and video is not None and video in timescales:
        add = round(allowance * timescales[video] / ticks_per_second)
        for body, version, flags, count in _truns(buf, video):
            if not flags & _TRUN_OFFSETS:
                if strict:
                    raise ValueError("a video fragment without composition offsets cannot take a reordering allowance")
                continue
            out = bytearray(buf[body : body + 8 + count * _stride(flags) + _head(flags)])
            out[0] = 0
            for at in _offset_fields(flags, count):
                new = int.from_bytes(out[at : at + 4], "big", signed=version == 1) + add
                if not 0 <= new < 1 << 32:
                    raise ValueError("a frame's composition offset does not fit the reordering allowance")
                out[at : at + 4] = new.to_bytes(4, "big")
            patches.append((moof_offset + body, bytes(out)))
    return patches


def _head(flags: int) -> int:
    """Bytes of a ``trun`` body's optional header fields (data offset, first sample flags)."""
    return (4 if flags & 0x001 else 0) + (4 if flags & 0x004 else 0)


def _stride(flags: int) -> int:
    """Bytes per sample of a ``trun`` with these flags."""
    return sum(w for f, w in _TRUN_FIELDS if flags & f)


def _offset_fields(flags: int, count: int) -> list[int]:
    """Where each sample's composition offset is, from a ``trun`` body's start (one with the field)."""
    first, stride = 8 + _head(flags), _stride(flags)
    before = sum(w for f, w in _TRUN_FIELDS[:3] if flags & f)
    return [first + i * stride + before for i in range(count)]


def _truns(moof: bytearray, track_id: int) -> list[tuple[int, int, int, int]]:
    """``(offset of the body, version, flags, sample count)`` of each ``trun`` of ``track_id`` in a ``moof``."""
    out = []
    for k, o, s, h in _children(moof, 0, len(moof)):
        for tk, to, ts, th in _children(moof, o + h, o + s) if k == "moof" else ():
            if tk != "traf":
                continue
            boxes = list(_children(moof, to + th, to + ts))
            tfhd = next((bo + bh for bk, bo, bs, bh in boxes if bk == "tfhd"), None)
            if tfhd is None or struct.unpack_from(">I", moof, tfhd + 4)[0] != track_id:
                continue
            for bk, bo, bs, bh in boxes:
                if bk == "trun":
                    body = bo + bh
                    out.append((body, moof[body], int.from_bytes(moof[body + 1 : body + 4], "big"),
                                struct.unpack_from(">I", moof, body + 4)[0]))  # fmt: skip
    return out


def _whole_boxes(data: bytes | bytearray) -> list[tuple[str, int, int, int]]:
    """The top-level boxes of a segment's bytes; ValueError unless they are whole boxes end to end."""
    try:
        boxes = list(_children(data, 0, len(data)))
    except MediaError:
        boxes = []
    if not boxes or sum(s for _, _, s, _ in boxes) != len(data):
        raise ValueError("the bytes are not whole boxes")
    return boxes


def with_composition_offsets(data: bytes | bytearray, track_id: int, add: int) -> bytes:
    """Whole fragments (``moof`` + ``mdat``) whose ``track_id`` runs that carry no composition offsets
    get one per sample, ``add`` (the track's timescale): a video without B-frames presented the
    reordering allowance after its decode times, as the B-frame clips around it in a stream are
    (see :func:`rebase_patches`). Each such ``trun`` grows by 4 bytes a sample; the box sizes and
    the data offsets (relative to the ``moof``: the ``mdat`` moves back by the growth) follow.
    Fragments that already carry offsets are returned as they are. Raises ValueError for a layout
    this cannot rewrite (absolute base data offsets, 64-bit box sizes)."""
    if add <= 0:
        return bytes(data)
    boxes = _whole_boxes(data)
    view = memoryview(data)
    # only the moofs are copied to be rewritten: the media data goes out as it came (one join)
    return b"".join(_insert_offsets(bytearray(view[o : o + s]), track_id, add) if k == "moof" else view[o : o + s]
                    for k, o, s, h in boxes)  # fmt: skip


def _insert_offsets(moof: bytearray, track_id: int, add: int) -> bytearray:
    bare = [t for t in _truns(moof, track_id) if not t[2] & _TRUN_OFFSETS and t[3]]
    if not bare:
        return moof
    grow = 4 * sum(count for _, _, _, count in bare)
    # every box that holds a grown trun: the moof, its trafs and the truns themselves
    edits: list[tuple[int, int]] = []  # (where a size field is, growth)
    for k, o, s, h in _children(moof, 0, len(moof)):
        if h != 8:
            raise ValueError("a 64-bit box size in a fragment")
        edits.append((o, grow))
        for tk, to, ts, th in _children(moof, o + h, o + s) if k == "moof" else ():
            inside = [t for t in bare if to < t[0] < to + ts]
            if tk == "traf" and inside:
                edits.append((to, 4 * sum(t[3] for t in inside)))
                for body, _, _, count in inside:
                    edits.append((body - 8, 4 * count))
    data_offsets = []
    for k, o, s, h in _children(moof, 0, len(moof)):
        for tk, to, ts, th in _children(moof, o + h, o + s) if k == "moof" else ():
            for bk, bo, bs, bh in _children(moof, to + th, to + ts) if tk == "traf" else ():
                if bk == "tfhd" and int.from_bytes(moof[bo + bh + 1 : bo + bh + 4], "big") & _TFHD_BASE_DATA_OFFSET:
                    raise ValueError("absolute base data offsets (not default-base-is-moof)")
                if bk == "trun" and int.from_bytes(moof[bo + bh + 1 : bo + bh + 4], "big") & _TRUN_DATA_OFFSET:
                    data_offsets.append(bo + bh + 8)
    for at, by in edits:
        struct.pack_into(">I", moof, at, struct.unpack_from(">I", moof, at)[0] + by)
    for at in data_offsets:  # the mdat (and every sample in it) now starts `grow` bytes later
        struct.pack_into(">i", moof, at, struct.unpack_from(">i", moof, at)[0] + grow)
    for body, _, flags, count in sorted(bare, reverse=True):  # from the end, so earlier offsets stay valid
        moof[body + 1 : body + 4] = (flags | _TRUN_OFFSETS).to_bytes(3, "big")
        moof[body] = 0
        first, stride = body + 8 + _head(flags), _stride(flags)
        for i in reversed(range(count)):
            end = first + (i + 1) * stride
            moof[end:end] = add.to_bytes(4, "big")
    return moof


def fragment_at(fh, offset: int, limit: int) -> tuple[int, bytes] | None:
    """The ``moof`` box of the fragment that starts at ``offset`` (after any styp/sidx/prft), or None."""
    at = offset
    for _ in range(4):
        fh.seek(at)
        head = fh.read(16)
        if len(head) < 8:
            return None
        size, kind = struct.unpack(">I4s", head[:8])
        if size == 1:
            size = struct.unpack(">Q", head[8:16])[0]
        if size < 8 or at + size > limit:
            return None
        if kind == b"moof":
            fh.seek(at)
            return at, fh.read(size)
        if kind not in (b"styp", b"sidx", b"prft"):
            return None
        at += size
    return None


# --- parameter sets in every fragment: clips that decode after another video's init section -------

# tfhd and trun flags (ISO/IEC 14496-12 8.8.7, 8.8.8)
_TFHD_BASE_DATA_OFFSET = 0x1
_TRUN_DATA_OFFSET, _TRUN_FIRST_FLAGS = 0x1, 0x4
_TRUN_DURATION, _TRUN_SIZE, _TRUN_OFFSETS = 0x100, 0x200, 0x800


def parameter_sets(init: bytes | bytearray) -> tuple[int, bytes] | None:
    """``(video track_ID, its parameter sets as length-prefixed NAL units)`` from the ``avcC`` (H.264)
    or ``hvcC`` (HEVC) of an init section, ready to go in front of a sample; None for other codecs."""
    buf = bytearray(init)
    video = _track_ids(buf).get(b"vide")
    stack = [(0, len(buf), None)]
    while stack:
        a, b, track_id = stack.pop()
        for k, o, s, h in _children(buf, a, b):
            if k == "trak":
                ids = [struct.unpack_from(">I", buf, to + th + (20 if buf[to + th] == 1 else 12))[0]
                       for tk, to, ts, th in _children(buf, o + h, o + s) if tk == "tkhd"]  # fmt: skip
                if ids and ids[0] == video:
                    stack.append((o + h, o + s, video))
            elif k in ("moov", "mdia", "minf", "stbl"):
                stack.append((o + h, o + s, track_id))
            elif k == "stsd" and track_id is not None and s >= h + 8:
                entries = list(_children(buf, o + h + 8, o + s))
                if not entries:
                    return None
                _, eo, es, eh = entries[0]
                for ck, co, cs, ch in _children(buf, eo + eh + 78, eo + es):  # after the VisualSampleEntry fields
                    if ck in ("avcC", "hvcC"):
                        return track_id, _length_prefixed(bytes(buf[co + ch : co + cs]), ck)
                return None
    return None


def _length_prefixed(config: bytes, kind: str) -> bytes:
    """The NAL units of an avcC/hvcC record, each prefixed by its length in the stream's NAL length size."""
    nals: list[bytes] = []

    def take(at: int, count: int) -> int:
        for _ in range(count):
            n = struct.unpack_from(">H", config, at)[0]
            nals.append(config[at + 2 : at + 2 + n])
            at += 2 + n
        return at

    if kind == "avcC":
        size = (config[4] & 3) + 1
        at = take(6, config[5] & 0x1F)  # SPS
        take(at + 1, config[at])  # PPS
    else:
        size = (config[21] & 3) + 1
        at = 23
        for _ in range(config[22]):  # VPS, SPS, PPS and SEI arrays
            at = take(at + 3, struct.unpack_from(">H", config, at + 1)[0])
    if any(len(n) >= 1 << (8 * size) for n in nals):
        raise ValueError("a parameter set does not fit the stream's NAL length size")
    return b"".join(len(n).to_bytes(size, "big") + n for n in nals)


def with_parameter_sets(data: bytes | bytearray, track_id: int, nals: bytes) -> bytes:
    """Whole fragments (``moof`` + ``mdat``, as a segment's bytes) with ``nals`` in front of each
    fragment's first ``track_id`` sample: a decoder that kept another video's init section (ffmpeg's
    HLS demuxer, GStreamer's legacy hlsdemux) then decodes them with their own SPS/PPS.

    The sample grows by ``len(nals)``; its size in the ``trun``, the ``mdat`` size and the data offsets
    of samples stored after it move with it. The frames are unchanged. Raises ValueError for a layout
    this cannot rewrite (absolute base data offsets, a ``trun`` without its own sample sizes).
    """
    boxes = _whole_boxes(data)
    view = memoryview(data)
    grow = len(nals)
    out: list = []  # the rewritten boxes' pieces, joined once: the media data is not copied box by box
    pending: tuple[int, int] | None = None  # (where in the mdat the sample starts, moof length) of the last moof
    for k, o, s, h in boxes:
        if k == "moof":
            box = bytearray(view[o : o + s])
            pending = _grow_first_sample(box, track_id, grow)
            if pending is not None:
                pending = (pending, s)
            out.append(box)
        elif k == "mdat" and pending is not None:
            at = pending[0] - pending[1]  # the data offset counts from the moof's start; the mdat follows it
            if not h <= at <= s:
                raise ValueError("the first sample is not in the mdat after its moof")
            head = bytearray(view[o : o + h])
            if h == 8:
                if s + grow >= 1 << 32:
                    raise ValueError("the mdat would outgrow its 32-bit size")
                struct.pack_into(">I", head, 0, s + grow)
            else:
                struct.pack_into(">Q", head, 8, s + grow)
            out += [head, view[o + h : o + at], nals, view[o + at : o + s]]
            pending = None
        else:
            out.append(view[o : o + s])
    return b"".join(out)


def _grow_first_sample(moof: bytearray, track_id: int, grow: int) -> int | None:
    """Make the first ``track_id`` sample of a ``moof`` ``grow`` bytes longer and shift the data offsets
    after it; returns that sample's data offset (from the moof's start), or None without such a track."""
    truns: list[tuple[int, int, int]] = []  # (offset of the trun's body, flags, owning track)
    for k, o, s, h in _children(moof, 0, len(moof)):
        for tk, to, ts, th in _children(moof, o + h, o + s) if k == "moof" else ():
            if tk != "traf":
                continue
            track = None
            for bk, bo, bs, bh in _children(moof, to + th, to + ts):
                if bk == "tfhd":
                    flags = int.from_bytes(moof[bo + bh + 1 : bo + bh + 4], "big")
                    if flags & _TFHD_BASE_DATA_OFFSET:
                        raise ValueError("absolute base data offsets (not default-base-is-moof)")
                    track = struct.unpack_from(">I", moof, bo + bh + 4)[0]
                elif bk == "trun":
                    truns.append((bo + bh, int.from_bytes(moof[bo + bh + 1 : bo + bh + 4], "big"), track))
    first = next((t for t in truns if t[2] == track_id and struct.unpack_from(">I", moof, t[0] + 4)[0]), None)
    if first is None:
        return None
    body, flags, _ = first
    if not flags & _TRUN_DATA_OFFSET or not flags & _TRUN_SIZE:
        raise ValueError("a trun without its own data offset and sample sizes")
    where = struct.unpack_from(">i", moof, body + 8)[0]
    size_at = body + 12 + (4 if flags & _TRUN_FIRST_FLAGS else 0) + (4 if flags & _TRUN_DURATION else 0)
    struct.pack_into(">I", moof, size_at, struct.unpack_from(">I", moof, size_at)[0] + grow)
    for other, oflags, _ in truns:
        if other != body and oflags & _TRUN_DATA_OFFSET:
            offset = struct.unpack_from(">i", moof, other + 8)[0]
            if offset > where:
                struct.pack_into(">i", moof, other + 8, offset + grow)
    return where
