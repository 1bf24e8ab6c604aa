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


# --- parameter sets in front of each fragment's first frame ---------------------------------------

SPS, PPS = b"\x67\x64\x00\x1f\xac", b"\x68\xee\x3c\x80"


def avc_init(track: int = 1) -> bytes:
    """A moov whose video track's avc1 sample entry has an avcC with one SPS and one PPS (4-byte lengths)."""
    avcc = box(b"avcC", bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE1]) + struct.pack(">H", len(SPS)) + SPS
               + bytes([1]) + struct.pack(">H", len(PPS)) + PPS)  # fmt: skip
    entry = box(b"avc1", b"\0" * 78 + avcc)
    stsd = full(b"stsd", 0, struct.pack(">I", 1) + entry)
    hdlr = full(b"hdlr", 0, b"\0" * 4 + b"vide" + b"\0" * 12)
    tkhd = full(b"tkhd", 0, b"\0" * 8 + struct.pack(">I", track) + b"\0" * 68)
    mdia = box(b"mdia", hdlr + box(b"minf", box(b"stbl", stsd)))
    return box(b"moov", box(b"trak", tkhd + mdia))


def trun(offset: int, sizes: list[int]) -> bytes:
    """A trun with a data offset and per-sample durations and sizes (flags 0x301)."""
    body = struct.pack(">Ii", len(sizes), offset) + b"".join(struct.pack(">II", 40, n) for n in sizes)
    return box(b"trun", bytes([0, 0, 0x03, 0x01]) + body)


def fragment(video: list[int], audio: list[int]) -> bytes:
    """moof (video samples, then audio samples) + mdat holding them in that order, default-base-is-moof."""
    def build(voff: int, aoff: int) -> bytes:
        v = box(b"traf", full(b"tfhd", 0, struct.pack(">I", 1)) + trun(voff, video))
        a = box(b"traf", full(b"tfhd", 0, struct.pack(">I", 2)) + trun(aoff, audio))
        return moof(1, v, a)
    size = len(build(0, 0))
    head = build(size + 8, size + 8 + sum(video))
    data = b"".join(bytes([i + 1]) * n for i, n in enumerate(video + audio))
    return head + box(b"mdat", data)


def samples(frag: bytes) -> dict[int, list[bytes]]:
    """Each track's sample bytes, read the way a demuxer reads them (moof-relative data offsets)."""
    out: dict[int, list[bytes]] = {}
    size = struct.unpack_from(">I", frag, 0)[0]
    at = 8 + 16  # moof header + mfhd
    while at < size:
        traf_size = struct.unpack_from(">I", frag, at)[0]
        track = struct.unpack_from(">I", frag, at + 8 + 12)[0]
        t = at + 8 + 16  # the trun
        count, offset = struct.unpack_from(">Ii", frag, t + 12)
        pos, got = offset, []
        for i in range(count):
            n = struct.unpack_from(">I", frag, t + 20 + 8 * i + 4)[0]
            got.append(frag[pos : pos + n])
            pos += n
        out[track] = got
        at += traf_size
    return out


def test_the_parameter_sets_go_in_front_of_the_first_frame_and_every_offset_follows():
    from vstream.media.fmp4 import parameter_sets, with_parameter_sets

    track, nals = parameter_sets(avc_init())
    assert track == 1 and nals == struct.pack(">I", len(SPS)) + SPS + struct.pack(">I", len(PPS)) + PPS
    one = fragment([300, 120], [50, 50])
    two = with_parameter_sets(one + one, track, nals)  # a segment of two fragments
    assert len(two) == 2 * (len(one) + len(nals))
    before, after = samples(one), samples(two[: len(two) // 2])
    assert after[1] == [nals + before[1][0], before[1][1]]  # the keyframe, led by SPS and PPS; the rest unchanged
    assert after[2] == before[2]  # audio stored after the video: found where it moved to
    assert samples(two[len(two) // 2 :]) == after  # and so for each fragment
    mdat = two[struct.unpack_from(">I", two, 0)[0] :]
    assert struct.unpack_from(">I4s", mdat, 0) == (len(one) - struct.unpack_from(">I", one, 0)[0] + len(nals), b"mdat")


def test_layouts_that_cannot_grow_a_sample_are_refused():
    from vstream.media.fmp4 import with_parameter_sets

    with pytest.raises(ValueError, match="whole boxes"):
        with_parameter_sets(fragment([10], [5])[:-3], 1, b"\0\0\0\1\x67")
    no_sizes = box(b"moof", full(b"mfhd", 0, struct.pack(">I", 1)) + box(b"traf", full(b"tfhd", 0, struct.pack(">I", 1))
                   + box(b"trun", bytes([0, 0, 0, 0x01]) + struct.pack(">Ii", 1, 40)))) + box(b"mdat", b"\0" * 10)  # fmt: skip
    with pytest.raises(ValueError, match="sample sizes"):
        with_parameter_sets(no_sizes, 1, b"\0\0\0\1\x67")
