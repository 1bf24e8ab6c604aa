"""Rebased delivery's byte patches on hand-made ISO BMFF boxes (pure)."""

import struct

import pytest

from vstream.media.fmp4 import rebase_patches, tfdt_fields, track_timescales


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, version: int, body: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + body)


def traf(track: int, decode_time: int, version: int = 1) -> bytes:
    width = 8 if version == 1 else 4
    return box(b"traf", full(b"tfhd", 0, struct.pack(">I", track)) + full(b"tfdt", version, decode_time.to_bytes(width, "big")))


def moof(sequence: int, *trafs: bytes) -> bytes:
    return box(b"moof", full(b"mfhd", 0, struct.pack(">I", sequence)) + b"".join(trafs))


def trak(track: int, timescale: int) -> bytes:
    tkhd = full(b"tkhd", 0, b"\0" * 8 + struct.pack(">I", track) + b"\0" * 68)
    mdhd = full(b"mdhd", 0, b"\0" * 8 + struct.pack(">I", timescale) + b"\0" * 8)
    return box(b"trak", tkhd + box(b"mdia", mdhd))


def apply(data: bytes, offset: int, patches) -> bytes:
    out = bytearray(data)
    for at, new in patches:
        out[at - offset : at - offset + len(new)] = new
    return bytes(out)


def test_each_track_moves_by_the_shift_in_its_own_timescale_and_the_number_moves_on():
    scales = track_timescales(box(b"moov", trak(1, 12800) + trak(2, 48000)))
    assert scales == {1: 12800, 2: 48000}
    fragment = moof(9, traf(1, 8 * 12800), traf(2, 8 * 48000 + 512, version=0))
    moved = apply(fragment, 1000, rebase_patches(fragment, 1000, scales, -8 * 90_000, sequence_delta=-8))
    assert len(moved) == len(fragment)  # same sizes: byte ranges and data offsets stay right
    assert [(t, v) for t, _, _, v in tfdt_fields(moved)] == [(1, 0), (2, 512)]  # 8 s earlier, each in its clock
    assert struct.unpack_from(">I", moved, 20)[0] == 1  # mfhd: fragment 9 is now the stream's first


def test_a_shift_before_the_timeline_or_a_track_the_init_lacks_is_refused():
    fragment = moof(1, traf(1, 12800))
    with pytest.raises(ValueError, match="outside the timeline"):
        rebase_patches(fragment, 0, {1: 12800}, -2 * 90_000)
    with pytest.raises(ValueError, match="not in the init section"):
        rebase_patches(fragment, 0, {2: 48000}, 0)
    with pytest.raises(ValueError, match="outside the sequence"):
        rebase_patches(fragment, 0, {1: 12800}, 0, sequence_delta=-1)
