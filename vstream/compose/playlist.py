"""Clips -> an HLS media playlist over the library's own keyframe byte ranges (pure).

A clip starts at the keyframe at or before its requested in-point and ends at the
keyframe at or after its out-point (or the video's end): every keyframe interval is
an addressable byte range of the video's one media file (see ingest), so a clip costs
no copy and no re-encode, and its precision is one keyframe interval. Each clip
after the first begins with ``EXT-X-DISCONTINUITY`` (and, for fMP4, its ``EXT-X-MAP``).
An ad pod (clips with the same ``pod``) opens with ``EXT-X-CUE-OUT:DURATION=<seconds>`` and
the content after it with ``EXT-X-CUE-IN``, the markers SSAI tools and ad-aware players read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vstream.errors import UsageError
from vstream.media.hls import ByteRange, Gop, InitSection, MediaPlaylist, format_duration, group_gops, segments_for
from vstream.timecode import TICKS, snap_span


@dataclass(frozen=True)
class ClipSource:
    """What a playlist needs of one ingested video."""

    video_id: str
    media_uri: str  # the media file's URI as the playlist will reference it
    fmt: str  # fmp4 | ts
    init: ByteRange | None
    gops: tuple[Gop, ...]
    keyframes: tuple[int, ...]
    end: int
    # served rebased (vstream serve): the media file's URI with the shift in it, "{delta}" to fill in
    rebased_uri: str | None = None
    # the same for whole segments with the parameter sets in each fragment ("{span}" too: OFFSET+LENGTH)
    rebased_segment_uri: str | None = None
    params_in_band: bool = True  # the samples carry their SPS/PPS (MPEG-TS; fMP4 ingested with them)
    rebased_init_uri: str | None = None  # the init section on its own, for the segments above
    delay: int = 0  # ticks a B-frame video's frames are decoded before they are shown (CMAF timing)


@dataclass(frozen=True)
class Clip:
    source: ClipSource
    start: int  # requested in-point, ticks
    end: int  # requested out-point, ticks
    pod: int | None = None  # the ad break this clip belongs to (None: programme content)
    snap: str = "outside"  # how the in/out-points reach keyframes (vstream.timecode.snap_span)


@dataclass(frozen=True)
class PlacedClip:
    clip: Clip
    start: int  # actual in-point (a keyframe)
    end: int  # actual out-point (a keyframe or the video's end)
    at: int  # where it starts on the composed timeline

    @property
    def duration(self) -> int:
        return self.end - self.start


def source_for(video, media_path: Path, relative_to: Path | None = None, base_url: str | None = None) -> ClipSource:
    """A :class:`ClipSource` from a library video; the URI is relative to the playlist's folder or under ``base_url``."""
    meta = video.meta
    if base_url:
        uri = base_url.rstrip("/") + "/" + f"{video.media_dir}/{meta['files']['media']}"
    elif relative_to is not None:
        uri = Path(os.path.relpath(media_path, relative_to)).as_posix()
    else:
        uri = media_path.name
    init = ByteRange(*meta["init"]) if meta.get("init") else None
    gops = tuple(Gop(*g) for g in meta["gops"])
    rebased = segment = init_uri = None
    if base_url and video.format == "fmp4" and meta.get("timing") == "cmaf":
        base, media = base_url.rstrip("/") + "/", f"{video.media_dir}/{meta['files']['media']}"
        rebased = base + REBASED.format(delta="{delta}", sequence="{sequence}", path=media)
        segment = base + REBASED_SEGMENT.format(delta="{delta}", sequence="{sequence}", span="{span}", path=media)
        init_uri = base + REBASED_INIT.format(path=media)
    in_band = video.format != "fmp4" or bool(meta.get("params_in_band"))
    return ClipSource(video.id, uri, video.format, init, gops, tuple(meta["keyframes"]), meta["end"], rebased,
                      segment, in_band, init_uri, reordering_delay(video) if rebased else 0)  # fmt: skip


def reordering_delay(video) -> int:
    """Ticks a video in CMAF timing needs of a stream's reordering allowance (0: none, or not CMAF): its
    reordering delay as probed, or (ingested since it is kept) how far back its signed offsets reach."""
    meta = video.meta
    if video.format != "fmp4" or meta.get("timing") != "cmaf":
        return 0
    return max(0, int(meta.get("video_delay") or 0), int(meta.get("cmaf_shift") or 0))


# Where `vstream serve` hands out a media file's fragments moved {delta} ticks (90 kHz) along the
# timeline and renumbered {sequence} on (mfhd: fragment numbers run on across clips, as one file's do).
REBASED = "r/{delta}/{sequence}/{path}"
# The same for one segment's whole fragments ({span}: OFFSET+LENGTH in the file, then "p": with the
# video's parameter sets in front of each fragment's first frame, for players that keep the first init
# section; "i": with the init section in front, for VLC at a change of video).
REBASED_SEGMENT = "r/{delta}/{sequence}/{span}/{path}"
# Their init section, as a resource of its own: GStreamer's legacy hlsdemux applies an EXT-X-MAP's
# BYTERANGE to the next segment when that one has none.
REBASED_INIT = "r/init/{path}"



def place(clips: list[Clip]) -> list[PlacedClip]:
    """Snap each clip to keyframes and lay them end to end."""
    placed, at = [], 0
    for clip in clips:
        src = clip.source
        if not 0 <= clip.start < src.end or clip.end <= clip.start:
            raise UsageError(
                f"clip {src.video_id} {clip.start / TICKS:.3f}-{clip.end / TICKS:.3f}s is outside the video "
                f"(0-{src.end / TICKS:.3f}s)"
            )
        start, end = snap_span(clip.start, clip.end, src.keyframes, src.end, clip.snap)
        placed.append(PlacedClip(clip, start, end, at))
        at += end - start
    return placed


def allowance(placed: list[PlacedClip], rebase: bool) -> int:
    """A served stream's reordering allowance (ticks) in unsigned timing: the longest reordering delay
    of its clips' videos.

    The library's CMAF timing writes a B-frame video's composition offsets signed, so each keyframe
    is shown at its decode time: what browsers need (hls.js places a clip after a discontinuity by
    its first decode time). ffmpeg and GStreamer do not honour signed offsets without an edit list:
    they show such a video its delay late (after its sound), and GStreamer gives two frames one time
    where clips with different delays meet. In unsigned timing every video's frames are presented
    this long after their decode times, written as unsigned offsets (the clips keep their decode
    times, the sound moves this much later), so those players place every frame and sound where
    they belong. The stream's media time starts here, not at 0.
    """
    return max((p.clip.source.delay for p in placed if rebase and p.clip.source.rebased_uri), default=0)


def media_start(placed: list[PlacedClip], rebase: bool, unsigned: bool) -> int:
    """Where a composed stream's media timestamps start (ticks), for its captions' X-TIMESTAMP-MAP: a
    static fMP4 stream plays its first clip's own decode times (CMAF timing: its source time); a
    rebased one starts at 0, in unsigned timing at its reordering allowance."""
    if not placed:
        return 0
    if rebase and placed[0].clip.source.rebased_uri:
        return allowance(placed, rebase) if unsigned else 0
    return placed[0].start if placed[0].clip.source.fmt == "fmp4" else 0


def media_playlist(placed: list[PlacedClip], *, target: int = 4 * TICKS, rebase: bool = False,
                   mixed: bool = False, unsigned: bool = False) -> MediaPlaylist:  # fmt: skip
    """The composed media playlist. With ``rebase`` each clip's fragments are addressed through
    vstream serve's rebased URLs, which move their decode times onto one continuous timeline (the
    byte ranges stay the library's; the init sections are the raw files'). ``mixed``: other media
    follow these clips (a live event's), so they are addressed as if several videos were.
    ``unsigned``: rebased in unsigned timing, for players other than browsers (see :func:`allowance`)."""
    formats = {p.clip.source.fmt for p in placed}
    if len(formats) > 1:
        raise UsageError("the clips mix fMP4 and MPEG-TS videos", hint="ingest them with one --format")
    pods: dict[int, int] = {}
    for p in placed:
        if p.clip.pod is not None:
            pods[p.clip.pod] = pods.get(p.clip.pod, 0) + p.duration
    segments = []
    previous_pod: int | None = None
    fragments = 0  # fragments (keyframe intervals) before this clip in the composed stream
    several = mixed or len({p.clip.source.video_id for p in placed}) > 1
    allow = allowance(placed, rebase) if unsigned else 0
    for i, p in enumerate(placed):
        src = p.clip.source
        gops = [g for g in src.gops if g.start >= p.start and g.start < p.end]
        init = InitSection(src.media_uri, src.init) if src.init else None
        uri = src.media_uri
        rebased = bool(rebase and src.rebased_uri and gops)
        # several videos: whole-segment resources, so that players that keep the first init section get
        # every other video's SPS/PPS in-band ("p") and VLC, which restarts its demuxer at a change of
        # video without loading the new EXT-X-MAP, finds the init section in front of it ("i")
        whole = rebased and several and src.rebased_segment_uri is not None
        params = "" if src.params_in_band else "p"
        if whole and init is not None and src.rebased_init_uri:  # see REBASED_INIT
            init = InitSection(src.rebased_init_uri)
        if rebased:
            # the muxer numbers a file's fragments 1, 2, ...: this clip's first is number index + 1
            sequence = fragments - src.gops.index(gops[0])
            template = src.rebased_segment_uri if whole else src.rebased_uri
            if whole or p.at != p.start or sequence or allow:  # else already in place (a first clip from its start)
                delta = f"{p.at - p.start}d{allow}" if allow else str(p.at - p.start)
                uri = template.replace("{delta}", delta).replace("{sequence}", str(sequence))
        fragments += len(gops)
        # rebased, a clip of the same video as the one before continues its timeline, track layout and
        # fragment numbers: nothing for a player to reset
        same = rebased and i > 0 and placed[i - 1].clip.source.video_id == src.video_id
        for j, group in enumerate(group_gops(gops, target)):
            seg = segments_for(group, uri, init)
            seg.discontinuity = i > 0 and j == 0 and not same
            if whole:  # a resource per segment: its bytes grow, so no byte range of the file names it
                flags = params + ("i" if seg.discontinuity else "")
                seg.uri = uri.replace("{span}", f"{seg.byterange.offset}+{seg.byterange.length}{flags}")
                seg.byterange, seg.size = None, seg.byterange.length
            if j == 0 and p.clip.pod != previous_pod:
                if previous_pod is not None:
                    seg.tags.append("#EXT-X-CUE-IN")
                if p.clip.pod is not None:
                    seg.tags.append(f"#EXT-X-CUE-OUT:DURATION={format_duration(pods[p.clip.pod])}")
            segments.append(seg)
        previous_pod = p.clip.pod
    return MediaPlaylist(segments, fragments=fragments)
