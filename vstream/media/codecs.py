"""RFC 6381 codec strings (``avc1.640028``, ``hvc1.1.6.L93.B0``, ``av01.0.08M.08``, ``mp4a.40.2``)
from a stream's codec configuration, for the ``CODECS`` attribute of master playlists.

Pure functions over the decoder configuration bytes ffmpeg exposes as ``extradata``: the
ISO BMFF records (``avcC``, ``hvcC``, ``av1C``, AudioSpecificConfig) or, for H.264 in
MPEG-TS, the Annex B SPS. A player that knows the codecs before it loads a segment can
refuse what it cannot decode up front instead of failing mid-stream.
"""

from __future__ import annotations

from typing import Iterable


def codec_string(codec: str, extradata: bytes | None, *, profile: str | None = None) -> str | None:
    """The RFC 6381 string of one stream, or None when its configuration cannot be read."""
    data = bytes(extradata or b"")
    if codec == "h264":
        return avc(data)
    if codec == "hevc":
        return hevc(data)
    if codec == "av1":
        return av1(data)
    if codec == "aac":
        return aac(data, profile)
    if codec == "mp3":
        return "mp4a.40.34"
    return None


def avc(data: bytes) -> str | None:
    """``avc1.PPCCLL``: profile_idc, constraint flags and level_idc of the SPS."""
    if len(data) >= 4 and data[0] == 1:  # avcC: configurationVersion, profile, compatibility, level
        return f"avc1.{data[1]:02x}{data[2]:02x}{data[3]:02x}"
    for start in _start_codes(data):  # Annex B (MPEG-TS): the SPS NAL unit (type 7)
        if start + 4 <= len(data) and data[start] & 0x1F == 7:
            return f"avc1.{data[start + 1]:02x}{data[start + 2]:02x}{data[start + 3]:02x}"
    return None


def hevc(data: bytes) -> str | None:
    """``hvc1.[space]profile.compat.[L|H]level[.constraints]`` from an ``hvcC`` record (ISO/IEC 14496-15 E.3)."""
    if len(data) < 13 or data[0] != 1:
        return None
    space = "" if not data[1] >> 6 else "ABC"[(data[1] >> 6) - 1]
    tier = "H" if data[1] & 0x20 else "L"
    profile = data[1] & 0x1F
    compat = int.from_bytes(data[2:6], "big")
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = list(data[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    text = f"hvc1.{space}{profile}.{reversed_compat:x}.{tier}{data[12]}"
    return text + "".join(f".{b:02X}" for b in constraints)


def av1(data: bytes) -> str | None:
    """``av01.P.LLT.DD`` from an ``av1C`` record."""
    if len(data) < 3 or data[0] & 0x7F != 1:
        return None
    profile, level = data[1] >> 5, data[1] & 0x1F
    tier = "H" if data[2] & 0x80 else "M"
    depth = (12 if data[2] & 0x20 else 10) if data[2] & 0x40 else 8
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"


def aac(data: bytes, profile: str | None = None) -> str:
    """``mp4a.40.AOT``: the audio object type of the AudioSpecificConfig (LC, 2, when unknown)."""
    if len(data) >= 2:
        aot = data[0] >> 3
        if aot == 31:  # escape: 32 + the next 6 bits
            aot = 32 + (((data[0] & 0x07) << 3) | (data[1] >> 5))
        if aot:
            return f"mp4a.40.{aot}"
    named = {"HE-AAC": 5, "HE-AACv2": 29, "LC": 2}.get(profile or "", 2)
    return f"mp4a.40.{named}"


def _start_codes(data: bytes) -> Iterable[int]:
    """Offsets of the bytes that follow each 00 00 01 start code."""
    at = data.find(b"\x00\x00\x01")
    while at != -1:
        yield at + 3
        at = data.find(b"\x00\x00\x01", at + 3)


FAMILIES = {"avc1": "H.264", "hvc1": "HEVC", "hev1": "HEVC", "av01": "AV1", "mp4a": "AAC"}


def family(codec: str) -> str:
    return codec.split(".", 1)[0]


def combined(codecs: Iterable[str]) -> list[str]:
    """One string per codec family for a stream whose clips use all of ``codecs``.

    A decoder that takes H.264 High at level 4 takes Main at 3.1 too, so each family is
    declared by its most demanding configuration (the highest profile, then level);
    families stay apart (a stream that mixes H.264 and HEVC declares both). Video first.
    """
    best: dict[str, str] = {}
    for codec in codecs:
        key = family(codec)
        if key not in best or _rank(codec) > _rank(best[key]):
            best[key] = codec
    return sorted(best.values(), key=lambda c: (family(c) == "mp4a", c))


def _rank(codec: str) -> tuple:
    kind, _, rest = codec.partition(".")
    if kind == "avc1" and len(rest) == 6:
        return (int(rest[0:2], 16), int(rest[4:6], 16))
    parts = rest.split(".")
    numbers = []
    for p in parts:
        digits = "".join(ch for ch in p if ch.isdigit())
        numbers.append(int(digits) if digits else 0)
    if kind == "mp4a":  # HE-AAC (5, 29) decoders also decode LC (2)
        return (numbers[-1] if numbers else 0,)
    return tuple(numbers)
