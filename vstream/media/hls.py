"""HLS playlists as data: a small model, a deterministic renderer, and the byte-range index.

Pure functions only: no I/O. Rendering follows RFC 8216 (EXTINF rounding vs
EXT-X-TARGETDURATION, the version each tag needs) and the output round-trips
through the ``m3u8`` parser (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from vstream.timecode import TICKS


@dataclass(frozen=True)
class ByteRange:
    length: int
    offset: int

    def render(self) -> str:
        return f"{self.length}@{self.offset}"


@dataclass(frozen=True)
class InitSection:
    uri: str
    byterange: ByteRange | None = None


@dataclass
class Segment:
    uri: str
    duration: int  # 90 kHz ticks: the real duration of what the player decodes
    byterange: ByteRange | None = None
    init: InitSection | None = None  # fMP4 init section; a change is written as EXT-X-MAP
    discontinuity: bool = False
    tags: list[str] = field(default_factory=list)  # extra tag lines written before the segment
    size: int | None = None  # bytes, where no byte range says (a resource of its own)

    @property
    def length(self) -> int:
        """The segment's size in bytes (0 when unknown)."""
        return self.byterange.length if self.byterange else self.size or 0


@dataclass
class MediaPlaylist:
    segments: list[Segment]
    media_sequence: int = 0
    playlist_type: str | None = "VOD"
    independent_segments: bool = True
    header_tags: list[str] = field(default_factory=list)
    endlist: bool = True
    fragments: int = 0  # the fMP4 fragments (keyframe intervals) its segments hold, where known

    @property
    def target_duration(self) -> int:
        """RFC 8216 4.3.3.1: every EXTINF rounded to the nearest integer is <= this."""
        return max([1] + [_round_half_up(s.duration / TICKS) for s in self.segments])

    @property
    def version(self) -> int:
        # 7 is safe for EXT-X-MAP in a non-I-frame playlist (needs >= 6); byte ranges need >= 4;
        # floating-point EXTINF needs >= 3.
        if any(s.init for s in self.segments):
            return 7
        if any(s.byterange for s in self.segments):
            return 4
        return 3

    @property
    def duration(self) -> int:
        return sum(s.duration for s in self.segments)

    def render(self) -> str:
        lines = ["#EXTM3U", f"#EXT-X-VERSION:{self.version}"]
        if self.independent_segments:
            lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
        lines.append(f"#EXT-X-TARGETDURATION:{self.target_duration}")
        lines.append(f"#EXT-X-MEDIA-SEQUENCE:{self.media_sequence}")
        if self.playlist_type:
            lines.append(f"#EXT-X-PLAYLIST-TYPE:{self.playlist_type}")
        lines.extend(self.header_tags)
        current_init: InitSection | None = None
        for seg in self.segments:
            if seg.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if seg.init is not None and seg.init != current_init:
                attrs = f'URI="{seg.init.uri}"'
                if seg.init.byterange:
                    attrs += f',BYTERANGE="{seg.init.byterange.render()}"'
                lines.append(f"#EXT-X-MAP:{attrs}")
                current_init = seg.init
            lines.extend(seg.tags)
            lines.append(f"#EXTINF:{format_duration(seg.duration)},")
            if seg.byterange:
                lines.append(f"#EXT-X-BYTERANGE:{seg.byterange.render()}")
            lines.append(seg.uri)
        if self.endlist:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"


def format_duration(ticks: int) -> str:
    return f"{ticks / TICKS:.6f}"


def _round_half_up(x: float) -> int:
    return int(x + 0.5)


# --- the per-keyframe byte-range index ffmpeg writes at ingest -------------------------------


@dataclass(frozen=True)
class Gop:
    """One keyframe interval of the media file: a range that starts on a keyframe."""

    start: int  # ticks from the first video frame
    duration: int
    offset: int
    length: int


@dataclass(frozen=True)
class ByteRangeIndex:
    init: ByteRange | None  # fMP4 init section inside the media file (None for MPEG-TS)
    ranges: list[tuple[float, ByteRange]]  # (EXTINF seconds, range) per keyframe interval
    samples: list[int] | None = None  # fMP4: video samples in each range (decode order), when read


def parse_byterange_playlist(text: str) -> ByteRangeIndex:
    """Read the single-file, one-range-per-keyframe playlist ffmpeg's HLS muxer writes."""
    import m3u8

    playlist = m3u8.loads(text)
    init = None
    if playlist.segment_map:
        smap = playlist.segment_map[0]
        if smap.byterange:
            init = _parse_range(smap.byterange, 0)
    ranges: list[tuple[float, ByteRange]] = []
    next_offset = 0
    for seg in playlist.segments:
        if not seg.byterange:
            raise ValueError("expected EXT-X-BYTERANGE on every segment")
        rng = _parse_range(seg.byterange, next_offset)
        next_offset = rng.offset + rng.length
        ranges.append((float(seg.duration), rng))
    return ByteRangeIndex(init=init, ranges=ranges)


def _parse_range(text: str, default_offset: int) -> ByteRange:
    length, _, offset = text.partition("@")
    return ByteRange(int(length), int(offset) if offset else default_offset)


def gops_from_index(
    keyframes: Sequence[int], end: int, index: ByteRangeIndex, key_positions: Sequence[int] | None = None
) -> list[Gop]:
    """Pair the keyframe table (exact times) with the muxer's ranges (exact bytes).

    The muxers start a range at every keyframe, so the counts agree; one range
    more means frames before the first keyframe (an open start), which join the
    first range's time span from 0. The mp4 muxer may hold several keyframe
    intervals in one fragment (it waits until every track has a sample, e.g. audio
    that starts seconds after the video): then each range's first video sample,
    counted from ``index.samples``, names its keyframe through ``key_positions``
    (each keyframe's decode-order packet number), and the keyframes inside a range
    are not addressable. Any other mismatch is an error, never a guess.
    """
    if len(keyframes) == len(index.ranges):
        starts = [0, *keyframes[1:]] if keyframes else []
    elif len(keyframes) + 1 == len(index.ranges):
        starts = [0, *keyframes]
    elif index.samples is not None and key_positions is not None and len(index.samples) == len(index.ranges):
        by_position = dict(zip(key_positions, keyframes))
        starts, position = [], 0
        for count in index.samples:
            if position not in by_position:
                raise ValueError(f"a range starts at video frame {position}, which is not a keyframe")
            starts.append(by_position[position])
            position += count
        starts[0] = 0
    else:
        raise ValueError(f"{len(index.ranges)} byte ranges for {len(keyframes)} keyframes")
    bounds = starts[1:] + [end]
    return [
        Gop(start=s, duration=b - s, offset=rng.offset, length=rng.length)
        for s, b, (_, rng) in zip(starts, bounds, index.ranges)
    ]


def group_gops(gops: Sequence[Gop], target: int) -> list[list[Gop]]:
    """Group consecutive keyframe intervals into segments whose duration is nearest ``target``.

    A segment always holds at least one interval; another is added while that
    brings the segment's duration closer to the target.
    """
    groups: list[list[Gop]] = []
    current: list[Gop] = []
    length = 0
    for gop in gops:
        if current and abs(length + gop.duration - target) > abs(length - target):
            groups.append(current)
            current, length = [], 0
        current.append(gop)
        length += gop.duration
    if current:
        groups.append(current)
    return groups


def segments_for(gops: Iterable[Gop], uri: str, init: InitSection | None) -> Segment:
    """One playlist segment covering consecutive GOPs (contiguous bytes in the media file)."""
    gops = list(gops)
    first, last = gops[0], gops[-1]
    return Segment(
        uri=uri,
        duration=sum(g.duration for g in gops),
        byterange=ByteRange(last.offset + last.length - first.offset, first.offset),
        init=init,
    )
