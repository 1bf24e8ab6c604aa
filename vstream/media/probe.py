"""Probe a media file and read its keyframe table from packets (no decoding), with PyAV."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vstream.errors import MediaError
from vstream.media.codecs import codec_string
from vstream.timecode import to_ticks


@dataclass
class VideoInfo:
    index: int  # absolute stream index in the container
    codec: str
    profile: str | None
    pix_fmt: str | None
    width: int
    height: int
    fps: float | None
    declared: float | None = None  # the stream's duration as its header declares it (None when it does not)
    codec_string: str | None = None  # RFC 6381, e.g. avc1.640028 (None when its configuration is unreadable)
    rotation: int = 0  # degrees clockwise a player turns the picture (a phone's display matrix): 0, 90, 180, 270

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as players show the picture (a 90/270 rotation swaps them)."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


@dataclass
class AudioInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str | None
    end: float | None = None  # seconds on the container's clock, from the stream header (None when unknown)
    start: float | None = None  # the first sample's time on the container's clock (None when unknown)
    codec_string: str | None = None  # RFC 6381, e.g. mp4a.40.2


@dataclass
class ProbeInfo:
    container: str
    duration: float | None
    size: int
    bit_rate: int | None
    video: VideoInfo | None
    audio: AudioInfo | None
    streams: int
    tracks: list[dict[str, Any]] = field(default_factory=list)  # every stream: index, type, codec, language

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def left_out(self) -> list[dict[str, Any]]:
        """The streams besides the video and audio that ingest carries (extra audio, subtitles, data)."""
        carried = {s.index for s in (self.video, self.audio) if s is not None}
        return [t for t in self.tracks if t["index"] not in carried and not t.get("cover_art")]


@dataclass
class KeyframeTable:
    """Keyframe presentation times in 90 kHz ticks, relative to the first video frame."""

    keyframes: list[int]
    end: int  # end of the last frame, same clock
    start_seconds: float  # the first video frame's pts in the source, in seconds
    frames: int
    video_delay: int  # largest pts - dts of a keyframe (B-frame reordering delay), ticks
    non_monotonic: int = 0  # packets whose dts went backwards
    key_positions: list[int] = field(default_factory=list)  # decode-order packet number of each keyframe
    errors: list[str] = field(default_factory=list)
    # keyframes of open GOPs: frames after them in decode order are shown before them (they reference
    # the GOP before), so a stream cannot start there; it only continues through them
    open_keyframes: list[int] = field(default_factory=list)

    @property
    def max_gap(self) -> int:
        points = self.keyframes + [self.end]
        return max((b - a for a, b in zip(points, points[1:])), default=self.end)


def _open(path: Path):
    import av  # lazy: PyAV loads ffmpeg's libraries

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
        raise MediaError(f"{path.name}: not a readable media file ({_av_reason(exc)})") from exc


def _av_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[-1].strip() if ":" in text and "Errno" in text else text


def probe(path: Path) -> ProbeInfo:
    with _open(path) as container:
        video = audio = None
        for stream in container.streams:
            ctx = stream.codec_context
            if stream.type == "video" and video is None and not _is_cover_art(stream):
                rate = stream.average_rate or stream.guessed_rate
                video = VideoInfo(
                    index=stream.index,
                    codec=ctx.codec.canonical_name,
                    profile=ctx.profile,
                    pix_fmt=ctx.format.name if ctx.format else None,
                    width=ctx.width,
                    height=ctx.height,
                    fps=float(rate) if rate else None,
                    declared=float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None,
                    codec_string=codec_string(ctx.codec.canonical_name, ctx.extradata),
                    # (read from the local file's boxes; a source in a bucket is read as a stream: not known)
                    rotation=mp4_rotation(path) if container.format.name.startswith("mov") and isinstance(path, Path) else 0,
                )
            elif stream.type == "audio" and audio is None:
                layout = getattr(ctx, "layout", None)
                audio = AudioInfo(
                    index=stream.index,
                    codec=ctx.codec.canonical_name,
                    sample_rate=ctx.sample_rate,
                    channels=ctx.channels if hasattr(ctx, "channels") else len(layout.channels),
                    layout=layout.name if layout else None,
                    end=_stream_end(stream),
                    start=float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else None,
                    codec_string=codec_string(ctx.codec.canonical_name, ctx.extradata, profile=ctx.profile),
                )
        tracks = []
        for stream in container.streams:
            codec = getattr(stream.codec_context, "codec", None) if stream.type in ("video", "audio", "subtitle") else None
            tracks.append({
                "index": stream.index, "type": stream.type,
                "codec": codec.canonical_name if codec else (stream.codec_context.name if stream.codec_context else None),
                "language": (stream.metadata or {}).get("language"),
                "cover_art": stream.type == "video" and _is_cover_art(stream),
            })  # fmt: skip
        duration = container.duration / 1_000_000 if container.duration else None
        return ProbeInfo(
            container=container.format.name,
            duration=duration,
            size=path.stat().st_size,
            bit_rate=container.bit_rate or None,
            video=video,
            audio=audio,
            streams=len(container.streams),
            tracks=tracks,
        )


def _stream_end(stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(((stream.start_time or 0) + stream.duration) * stream.time_base)


def _is_cover_art(stream) -> bool:
    import av

    disposition = getattr(stream, "disposition", None)
    try:
        return bool(disposition & av.stream.Disposition.attached_pic)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        return False


def keyframe_table(path: Path, video_index: int, *, max_keyframes: int | None = None) -> KeyframeTable:
    """Read every video packet's timestamps (demux only, nothing is decoded).

    Other streams are discarded in the demuxer, and the loop only collects
    timestamps: about 5 us per packet (a 10-minute 25 fps file in ~0.1 s).
    ``max_keyframes`` stops early: the first few GOPs tell the reordering delay.
    """
    import av

    pts_list: list[int] = []
    dts_list: list[int | None] = []
    dur_list: list[int] = []
    key_list: list[bool] = []
    errors: list[str] = []
    with _open(path) as container:
        stream = container.streams[video_index]
        for other in container.streams:
            if other.index != video_index:
                other.discard = av.stream.Discard.all
        tb = Fraction(stream.time_base)
        keys_seen = 0
        starts_clean = clean_start_check(stream)
        unclean: list[int] = []  # decode-order positions of keyframes a decoder cannot start at
        try:
            for packet in container.demux(stream):
                pts = packet.pts
                if pts is None:  # the flush packet at the end, or a broken one
                    continue
                if packet.is_discard:  # pre-roll before an edit list's start (a stream-copied cut): never shown,
                    continue  # and ffmpeg's remux drops it too
                key = packet.is_keyframe
                if key and starts_clean is not None and not starts_clean(bytes(packet)):
                    unclean.append(len(pts_list))
                pts_list.append(pts)
                dts_list.append(packet.dts)
                dur_list.append(packet.duration or 0)
                key_list.append(key)
                if key and max_keyframes is not None:
                    keys_seen += 1
                    if keys_seen > max_keyframes:
                        break
        except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
            errors.append(_av_reason(exc))
    if not pts_list:
        raise MediaError(f"{path.name}: the video stream has no frames (file truncated or damaged?)")
    first = min(pts_list)
    end = max(p + d for p, d in zip(pts_list, dur_list))
    dts_seq = decode_times(pts_list, dts_list)
    non_monotonic = sum(1 for a, b in zip(dts_seq, dts_seq[1:]) if b <= a)
    raw_keys = [p for p, k in zip(pts_list, key_list) if k]
    key_positions = [i for _, i in sorted((p, i) for i, (p, k) in enumerate(zip(pts_list, key_list)) if k)]
    delay = max((p - d for p, d, k in zip(pts_list, dts_seq, key_list) if k), default=0)
    return KeyframeTable(
        open_keyframes=sorted({to_ticks(pts_list[i] - first, tb)
                               for i in {*leading_pictures(pts_list, key_list), *unclean}}),
        keyframes=sorted({to_ticks(k - first, tb) for k in raw_keys}),
        end=to_ticks(end - first, tb),
        start_seconds=float(first * tb),
        frames=len(pts_list),
        video_delay=to_ticks(delay, tb),
        non_monotonic=non_monotonic,
        key_positions=key_positions if len(set(raw_keys)) == len(raw_keys) else [],
        errors=errors,
    )


def clean_start_check(stream):
    """A test of whether a keyframe packet of ``stream`` can start decoding: for H.264 an IDR picture
    (a non-IDR I-frame, x264 --open-gop or a broadcast encoder's recovery point, lets the frames after
    it reference the GOP before); for HEVC an IDR or BLA picture, or a CRA (whose leading pictures
    :func:`leading_pictures` catches). None for other codecs (every keyframe starts cleanly)."""
    codec = stream.codec_context.name
    if codec not in ("h264", "hevc"):
        return None
    extradata = bytes(stream.codec_context.extradata or b"")
    if codec == "h264":
        length = (extradata[4] & 3) + 1 if len(extradata) > 4 and extradata[0] == 1 else 0
        clean = lambda nal: nal[0] & 0x1F == 5  # noqa: E731
        vcl = lambda nal: 1 <= nal[0] & 0x1F <= 5  # noqa: E731
    else:
        length = (extradata[21] & 3) + 1 if len(extradata) > 22 and extradata[0] == 1 else 0
        clean = lambda nal: 16 <= (nal[0] >> 1) & 0x3F <= 21  # noqa: E731
        vcl = lambda nal: (nal[0] >> 1) & 0x3F < 32  # noqa: E731

    def check(data: bytes) -> bool:
        for nal in _nal_units(data, length):
            if nal and vcl(nal):
                return clean(nal)
        return True  # no picture found: judge by timestamps alone

    return check


def _nal_units(data: bytes, length: int):
    """The NAL units of one packet: length-prefixed (``length`` bytes, as MP4 and Matroska store them)
    or, with ``length`` 0, Annex B start codes (MPEG-TS)."""
    at = 0
    if length:
        while at + length <= len(data):
            n = int.from_bytes(data[at : at + length], "big")
            yield data[at + length : at + length + n]
            at += length + n
        return
    while True:
        start = data.find(b"\x00\x00\x01", at)
        if start < 0:
            return
        end = data.find(b"\x00\x00\x01", start + 3)
        yield data[start + 3 : end if end >= 0 else len(data)]
        if end < 0:
            return
        at = end


def leading_pictures(pts: list[int], keys: list[bool]) -> list[int]:
    """Decode-order positions of the keyframes that open GOPs: a frame after one in decode order
    (before the next keyframe) is shown before it, so it references the GOP before (an open-GOP
    I-frame of x264 --open-gop, of broadcast and camera encoders; an IDR frame never has them)."""
    found, current, low = [], None, None
    for i, (p, key) in enumerate(zip(pts, keys)):
        if key:
            if current is not None and low is not None and low < pts[current]:
                found.append(current)
            current, low = i, None
        elif current is not None:
            low = p if low is None else min(low, p)
    if current is not None and low is not None and low < pts[current]:
        found.append(current)
    return found


def decode_times(pts: list[int], dts: list[int | None]) -> list[int]:
    """Each packet's decode time, derived where the container stores none.

    Matroska, WebM and raw streams store presentation times only; the demuxer guesses decode
    times once its reordering buffer is full, so the first packets of a stream with B-frames
    come without one. The mp4 muxer derives them the same way (the i-th smallest presentation
    time less the reordering delay), so a missing value is judged as that, never as the
    presentation time (which would look like time going backwards).
    """
    if all(d is not None for d in dts):
        return list(dts)  # type: ignore[arg-type]
    known = [(i, d) for i, d in enumerate(dts) if d is not None]
    order = sorted(pts)
    # the reordering delay: how far the known decode times lag the sorted presentation times
    shift = max((order[i] - d for i, d in known), default=0)
    shift = max(shift, max((order[i] - p for i, p in enumerate(pts) if order[i] > p), default=0))
    return [d if d is not None else order[i] - shift for i, d in enumerate(dts)]


def mp4_rotation(path: Path) -> int:
    """The video track's rotation from its MP4/MOV ``tkhd`` matrix (what phones write), in degrees clockwise.

    Reads box headers only (and the few bytes of ``tkhd``), never the sample tables.
    """
    import struct

    def boxes(fh, start: int, end: int):
        at = start
        while at + 8 <= end:
            fh.seek(at)
            head = fh.read(16)
            if len(head) < 8:
                return
            size, kind = struct.unpack(">I4s", head[:8])
            header = 8
            if size == 1 and len(head) == 16:
                size, header = struct.unpack(">Q", head[8:16])[0], 16
            elif size == 0:
                size = end - at
            if size < header:
                return
            yield kind, at + header, at + size
            at += size

    try:
        with open(path, "rb") as fh:
            end = path.stat().st_size
            for kind, body, stop in boxes(fh, 0, end):
                if kind != b"moov":
                    continue
                for tkind, tbody, tstop in boxes(fh, body, stop):
                    if tkind != b"trak":
                        continue
                    matrix, handler = None, None
                    for k, b, s in boxes(fh, tbody, tstop):
                        if k == b"tkhd":
                            fh.seek(b)
                            version = fh.read(1)[0]
                            fh.seek(b + (52 if version == 1 else 40))  # the 3x3 matrix after the fixed fields
                            a, bb, _, c, d = struct.unpack(">iiiii", fh.read(20))
                            matrix = (a, bb, c, d)
                        elif k == b"mdia":
                            for mk, mb, ms in boxes(fh, b, s):
                                if mk == b"hdlr":
                                    fh.seek(mb + 8)
                                    handler = fh.read(4)
                    if handler == b"vide" and matrix is not None:
                        return _degrees(*matrix)
    except (OSError, IndexError, struct.error):
        pass
    return 0


def _degrees(a: int, b: int, c: int, d: int) -> int:
    """Rotation of a display matrix [a b; c d] (16.16 fixed point), clockwise, to the nearest right angle."""
    import math

    angle = round(math.degrees(math.atan2(-b, a))) % 360  # the way the "rotate" tag counts: clockwise
    return min((0, 90, 180, 270, 360), key=lambda r: abs(r - angle)) % 360
