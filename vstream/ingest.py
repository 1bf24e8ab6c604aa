"""`vstream ingest`: video files -> HLS by stream copy, with the keyframe table recorded.

Per file: check it, hash it (content identity), probe it, read its keyframe
table from packets, decide how each stream can be carried (:func:`plan_streams`,
pure), run ffmpeg once (argv from :func:`hls_argv`, pure) into a stage directory
with one byte range per keyframe interval, group those intervals into segments
near the target duration, and commit the stage to the library under the lock.

The media file holds every keyframe interval as its own addressable byte range,
so compose can later start a clip at any keyframe, not only at a segment start.
"""

from __future__ import annotations

import errno
import glob
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vstream.errors import IOFailure, LibraryBusy, MediaError, MissingDependency, UsageError, VstreamError
from vstream.library import AUDIO_RATE, Library, Video, check_id, slugify, stored_audio_rate
from vstream.media import ffmpeg as ff
from vstream.media.fmp4 import cmaf_timing, fragment_index, track_timescales, video_track
from vstream.media.hls import (
    InitSection,
    MediaPlaylist,
    gops_from_index,
    group_gops,
    parse_byterange_playlist,
    segments_for,
)
from vstream.media.probe import KeyframeTable, ProbeInfo, keyframe_table, probe
from vstream.progress import SILENT, Progress
from vstream.timecode import TICKS, to_ticks

FORMATS = ("fmp4", "ts")
DEFAULT_FORMAT = "fmp4"
MEDIA_FILE = {"fmp4": "media.m4s", "ts": "media.ts"}
PLAYLIST = "index.m3u8"
THUMBNAIL = "thumb.jpg"

VIDEO_EXTENSIONS = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".flv",
    ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv", ".mxf",
}  # fmt: skip

# Codecs HLS players (hls.js in browsers, Safari, ExoPlayer, VLC) play, per segment format.
VIDEO_CODECS = {"fmp4": {"h264", "hevc", "av1"}, "ts": {"h264"}}
AUDIO_CODECS = {"fmp4": {"aac"}, "ts": {"aac", "mp3"}}
BROWSER_PIX_FMTS = {"yuv420p", "yuvj420p"}
# One thread hashes a file's bytes while ffmpeg segments it (hashing releases the GIL).
_HASHERS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vstream-hash")
IN_BAND_BSF = {"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}
# Every fMP4 video track of a library gets this media timescale (90 kHz, as MPEG-TS): players that keep
# the first clip's init section (ffmpeg's HLS demuxer, GStreamer's legacy hlsdemux) read every clip's
# times in it, so a 29.97 fps video (timescale 30000) after a 25 fps one (12800) would run at the
# wrong speed. Exact for 24, 25, 30, 50 and 60 fps and the /1.001 rates but 23.976 (3753.75 ticks a frame).
VIDEO_TIMESCALE = 90000


@dataclass
class IngestOptions:
    segment_seconds: float = 4.0
    format: str = DEFAULT_FORMAT
    transcode: bool = False
    force: bool = False
    video_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    wait: float = 600.0
    params_in_band: bool = False  # fMP4: SPS/PPS at every keyframe too, for ffmpeg-based players
    allow_truncated: bool = False  # ingest what a cut-off file holds (with a warning) instead of refusing it
    resample_audio: bool = False  # re-encode audio at another rate to AAC at AUDIO_RATE (the video is still copied)

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise UsageError(f"unknown format {self.format!r}", hint="use --format fmp4 or --format ts")
        if not 0.5 <= self.segment_seconds <= 60:
            raise UsageError("--segment-seconds must be between 0.5 and 60")
        if self.video_id is not None:
            check_id(self.video_id)


@dataclass
class IngestResult:
    path: str
    status: str  # ingested | updated | skipped | ignored | failed
    id: str | None = None
    duration: float | None = None
    segments: int | None = None
    seconds: float = 0.0
    message: str = ""
    transcoded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StreamPlan:
    """How each stream reaches the HLS output. ``video``: copy|encode; ``audio``: copy|encode|silence."""

    video: str
    audio: str
    problems: tuple[str, ...] = ()  # why something must be re-encoded

    @property
    def transcodes(self) -> bool:
        return self.video == "encode" or self.audio == "encode"


# --- pure decisions and argv builders ------------------------------------------------------


def codec_problems(info: ProbeInfo, fmt: str) -> tuple[list[str], list[str]]:
    """What in the codecs stops the video / the audio from being stream-copied into HLS ``fmt``."""
    video: list[str] = []
    audio: list[str] = []
    v = info.video
    assert v is not None
    if v.codec not in VIDEO_CODECS[fmt]:
        allowed = ", ".join(sorted(VIDEO_CODECS[fmt]))
        video.append(f"video codec {v.codec} does not play in HLS players ({fmt} carries {allowed})")
    elif v.codec == "h264" and v.pix_fmt and v.pix_fmt not in BROWSER_PIX_FMTS:
        video.append(f"H.264 with pixel format {v.pix_fmt} does not play in browsers (needs 8-bit 4:2:0)")
    if info.audio is not None and info.audio.codec not in AUDIO_CODECS[fmt]:
        audio.append(f"audio codec {info.audio.codec} does not play in HLS players in browsers")
    return video, audio


def timing_problems(kt: KeyframeTable, segment_seconds: float) -> list[str]:
    """What in the video's timestamps stops clean keyframe-aligned segments."""
    problems = []
    limit = max(10.0, 3 * segment_seconds)
    gap = kt.max_gap / TICKS
    if not kt.keyframes:
        problems.append("the video has no keyframes")
    elif gap > limit:
        problems.append(f"keyframes are up to {gap:.1f}s apart, so segments cannot be cut near {segment_seconds:g}s")
    if kt.non_monotonic:
        problems.append(f"video timestamps go backwards {kt.non_monotonic} times (broken variable frame rate)")
    return problems


def truncation(info: ProbeInfo, kt: KeyframeTable) -> str | None:
    """Why the file looks cut off (its video stops well before the duration its header declares), or None.

    A half-uploaded or half-copied MP4 whose index (moov) is at the front still opens and
    plays up to where its bytes stop; without this check it would be ingested as a shorter video.
    """
    declared = info.video.declared if info.video else None
    if not declared:
        return None
    have = kt.end / TICKS
    if declared - have > max(1.0, 0.02 * declared):
        return f"the video stops at {have:.1f}s of the {declared:.1f}s its header declares (truncated file?)"
    return None


def plan_streams(info: ProbeInfo, kt: KeyframeTable, fmt: str, segment_seconds: float, *, transcode: bool,
                 resample_audio: bool = False) -> StreamPlan:  # fmt: skip
    """Decide copy/encode per stream; raise MediaError naming the problem unless transcoding is allowed.
    ``resample_audio``: audio at a rate other than :data:`AUDIO_RATE` is re-encoded to it (video copied)."""
    video_problems, audio_problems = codec_problems(info, fmt)
    video_problems += timing_problems(kt, segment_seconds)
    problems = tuple(video_problems + audio_problems)
    if problems and not transcode:
        raise MediaError(
            f"cannot be stream-copied into HLS: {'; '.join(problems)}",
            hint="re-run with --transcode to re-encode it to H.264/AAC",
        )
    if info.audio is None:
        audio = "encode" if video_problems else "silence"
    else:
        audio = "encode" if (audio_problems or video_problems) else "copy"
        if audio == "copy" and resample_audio and needs_resampling(info):
            audio = "encode"
            problems += (f"audio at {info.audio.sample_rate} Hz resampled to {AUDIO_RATE} Hz (--resample-audio)",)
    return StreamPlan(video="encode" if video_problems else "copy", audio=audio, problems=problems)


def needs_resampling(info: ProbeInfo) -> bool:
    return info.audio is not None and info.audio.sample_rate != AUDIO_RATE


SILENCE = f"anullsrc=channel_layout=stereo:sample_rate={AUDIO_RATE}"
AAC = ["-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE), "-ac", "2"]


def hls_argv(
    ffmpeg: str, src: Path, out_dir: Path, *, info: ProbeInfo, plan: StreamPlan, fmt: str, video_delay: int,
    params_in_band: bool = False,
) -> list[str]:
    """One ffmpeg run: stream copy into a single media file with a byte range per keyframe interval.

    fMP4: the mp4 muxer writes one fragment (moof+mdat) per keyframe
    (``frag_keyframe``); :func:`vstream.media.fmp4.fragment_index` reads the ranges
    from the box headers. ``delay_moov`` writes the init section once every
    track's first timestamp is known, so its edit lists keep audio and video in
    sync (each track's fragments start at decode time 0; with ``empty_moov`` the
    video would play a reordering delay late). MPEG-TS: the HLS muxer in single-file mode with
    ``-hls_time`` below any keyframe interval cuts at every keyframe and writes
    the ranges in its playlist (it rewrites that playlist per range, which is
    why fMP4 does not go through it). ``-audio_preload`` (the video's reordering
    delay) interleaves audio so no range's audio starts before its first video
    frame, and ``-copypriorss 0`` drops audio (e.g. encoder priming) from before
    the first frame.
    """
    assert info.video is not None
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(src)]
    if plan.audio == "silence":
        argv += ["-f", "lavfi", "-i", SILENCE]
    argv += ["-map", f"0:{info.video.index}"]
    if plan.audio == "silence":
        argv += ["-map", "1:a:0"]
    elif info.audio is not None:
        argv += ["-map", f"0:{info.audio.index}"]
    argv += ["-c:v", "copy"]
    if params_in_band and fmt == "fmp4" and info.video.codec in IN_BAND_BSF:
        # Parameter sets (SPS/PPS) in-band at every keyframe, not only in the init section: a
        # composed stream switches init sections between clips, and decoders that keep the first
        # one's parameters (ffmpeg's HLS demuxer) then still decode every clip. Frames are unchanged;
        # opt-in because it makes the remux ~40 % slower (the mp4 muxer re-parses every NAL unit),
        # and browsers and native HLS players load each clip's init section anyway.
        argv += ["-bsf:v", IN_BAND_BSF[info.video.codec]]
    if info.video.codec == "hevc" and fmt == "fmp4":
        argv += ["-tag:v", "hvc1"]
    argv += ["-c:a", "copy"] if plan.audio == "copy" else AAC
    if plan.audio == "copy" and fmt == "fmp4" and info.audio is not None and info.audio.codec == "aac":
        # MPEG-TS sources (camcorder .mts, DVB/IPTV recordings) carry AAC as ADTS frames; MP4 needs
        # the raw frames plus an AudioSpecificConfig. The mp4 muxer only inserts this filter itself
        # without delay_moov; it passes AAC that is already raw through unchanged.
        argv += ["-bsf:a", "aac_adtstoasc"]
    if plan.audio == "silence":
        argv += ["-shortest"]
    argv += ["-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1", "-copypriorss", "0"]
    if video_delay > 0:
        argv += ["-audio_preload", str(round(video_delay * 1_000_000 / TICKS))]
    media = str(out_dir / MEDIA_FILE[fmt])
    if fmt == "fmp4":
        argv += ["-video_track_timescale", str(VIDEO_TIMESCALE)]
        argv += ["-f", "mp4", "-movflags", "+frag_keyframe+delay_moov+default_base_moof", media]
    else:
        argv += ["-f", "hls", "-hls_time", "0.001", "-hls_playlist_type", "vod", "-hls_flags", "single_file"]
        argv += ["-hls_segment_type", "mpegts", "-hls_segment_filename", media, str(out_dir / "ffmpeg.m3u8")]
    return argv


def transcode_argv(ffmpeg: str, src: Path, out: Path, *, info: ProbeInfo) -> list[str]:
    """Re-encode to H.264/AAC with a fixed 1 s GOP (clips can start on any second)."""
    assert info.video is not None
    fps = info.video.fps if info.video.fps and 1 <= info.video.fps <= 120 else 25.0
    fps = round(fps, 3)
    gop = max(1, round(fps))
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(src), "-map", f"0:{info.video.index}"]
    if info.audio is not None:
        argv += ["-map", f"0:{info.audio.index}"]
    argv += [
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", "-r", f"{fps:g}",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
    ]  # fmt: skip
    argv += AAC if info.audio is not None else ["-an"]
    argv += ["-sn", "-dn", "-map_metadata", "-1", str(out)]
    return argv


def thumbnail_argv(ffmpeg: str, src: Path, out: Path, at: float) -> list[str]:
    """A 320-px-wide JPEG of the first keyframe at or after ``at`` (decodes one frame)."""
    import ffmpeg as ffmpeg_python  # ffmpeg-python builds the filter argument

    stream = ffmpeg_python.input(str(src), ss=f"{at:.3f}", skip_frame="nokey").filter("scale", 320, -2)
    argv = stream.output(str(out), vframes=1, **{"q:v": 4}).compile(cmd=ffmpeg)
    return [argv[0], "-hide_banner", "-nostdin", "-v", "error", "-y", *argv[1:]]


# --- inputs --------------------------------------------------------------------------------


IGNORED = "ignored"  # expand_inputs: a file in a folder that is not a video by its extension


def expand_inputs(inputs: list[str]) -> list[tuple[str, Path | str | None]]:
    """Files as given, directories walked for video files, globs expanded.

    Returns ``(label, path)``; ``path`` is None when nothing matched the input, so
    the batch reports it as a failure instead of silently ignoring it, and
    :data:`IGNORED` for a file in a folder whose extension is not a video's
    (hidden files and folders are passed over without a word).
    """
    out: list[tuple[str, Path | str | None]] = []
    seen: set[Path] = set()

    def add(label: str, path: Path) -> None:
        key = path.absolute()
        if key not in seen:
            seen.add(key)
            out.append((label, path))

    for item in inputs:
        if item.startswith("s3://"):  # read from object storage where it lies (vstream.storage.RemoteSource)
            from vstream.storage import list_sources

            urls = list_sources(item, VIDEO_EXTENSIONS) if item.endswith("/") else [item]
            out.extend((u, u) for u in urls)
            if not urls:
                out.append((item, None))
            continue
        path = Path(item).expanduser()
        if path.is_dir():
            for p in sorted(f for f in path.rglob("*") if f.is_file()):
                if p.suffix.lower() in VIDEO_EXTENSIONS:
                    add(str(p), p)
                elif not any(part.startswith(".") for part in p.relative_to(path).parts):
                    out.append((str(p), IGNORED))  # reported, so nothing in the folder vanishes without a word
        elif path.exists() or path.is_symlink():
            add(item, path)
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(item), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                out.append((item, None))
            for m in files:
                add(str(m), m)
        else:
            out.append((item, None))
    return out


def content_hash(path: Path) -> str:
    """Content identity: xxh3-128 of the bytes (fast enough to run on every ingest:
    ~6 GB/s vs ~0.5 GB/s for sha256 here; collisions are not a security boundary)."""
    from vstream.hashing import xxh3_file

    return "xxh3-128:" + xxh3_file(path)


def check_readable(path: Path) -> None:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise MediaError(f"{path}: permission denied", hint="make the file readable by this user")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")


# --- one file ------------------------------------------------------------------------------


def ingest_file(lib: Library, path: Path, opts: IngestOptions, progress: Progress = SILENT) -> IngestResult:
    started = time.monotonic()
    if isinstance(path, str):  # s3://bucket/key
        from vstream.storage import RemoteSource

        path = RemoteSource(path)
        label = source = path.url
        if path.stat().st_size == 0:
            raise MediaError(f"{label}: the object is empty (0 bytes)")
    else:
        label = str(path)
        check_readable(path)
        source = str(path.resolve())
    stat = path.stat()
    existing = None if opts.force else lib.find_unchanged(source, stat.st_size, stat.st_mtime_ns)
    if existing:  # the same file, untouched since it was ingested: no need to even hash it
        return _skipped(label, existing, started, opts)
    # The content hash runs beside the segmenting; a file whose bytes are already in the
    # library under another path is found before anything is committed.
    remote = hasattr(path, "content_hash")  # a RemoteSource hashes its object as it streams it
    hashing = _HASHERS.submit(path.content_hash) if remote else _HASHERS.submit(content_hash, path)

    progress.begin(f"{path.name}: reading keyframes", None)
    info = probe(path)
    if info.video is None:
        what = "an audio-only file" if info.audio else "a file without a video stream"
        raise MediaError(f"{path.name}: {what}", hint="vstream ingests videos; mux it with a picture first")
    video_codec_problems, audio_codec_problems = codec_problems(info, opts.format)
    binary = ff.find_ffmpeg().path
    with lib.stage() as stage:
        if video_codec_problems:
            kt = _full_table(path, info)
            plan = _plan(path, info, kt, opts)
            media_kt, playlist_bits = None, None
        else:
            # Likely copyable: segment and grab the thumbnail while the keyframe table is
            # read (ffmpeg runs on the other core); a timing problem found meanwhile stops it.
            quick = keyframe_table(path, info.video.index, max_keyframes=3)
            encode_audio = audio_codec_problems or (opts.resample_audio and needs_resampling(info))
            early = StreamPlan("copy", "encode" if encode_audio else ("copy" if info.audio else "silence"))
            if audio_codec_problems and not opts.transcode:
                _plan(path, info, quick, opts)  # raises with the message
            jobs = _start_segmenting(binary, path, stage, info, early, quick, opts, progress)
            try:
                kt = _full_table(path, info)
                plan = _plan(path, info, kt, opts)
                if plan.video == "encode":
                    raise _Restart
                media_kt, playlist_bits = kt, _finish_segmenting(jobs, stage, kt, opts, path.name)
            except BaseException as exc:
                for job in jobs:
                    job.kill()
                if not isinstance(exc, _Restart):
                    raise
                media_kt = None
        media_info, carried = info, plan
        if media_kt is None:  # re-encode, then segment the result like any other file
            progress.begin(f"{path.name}: transcoding", 1.0)
            out = stage / "transcoded.mp4"
            ff.run(transcode_argv(binary, path, out, info=info), duration=kt.end / TICKS,
                   on_progress=progress.update, what="transcode")  # fmt: skip
            media_info = probe(out)
            media_kt = _full_table(out, media_info)
            carried = StreamPlan(video="copy", audio="copy" if media_info.audio else "silence")
            jobs = _start_segmenting(binary, out, stage, media_info, carried, media_kt, opts, progress)
            playlist_bits = _finish_segmenting(jobs, stage, media_kt, opts, path.name)
            out.unlink()
        index, gops, groups, playlist, cmaf_shift = playlist_bits
        gop_starts = {g.start for g in gops}
        open_keys = set(media_kt.open_keyframes)

        meta = {
            "probe": info.to_dict(),
            "stream": media_info.to_dict() | {"audio_source": carried.audio},
            "plan": {"video": plan.video, "audio": plan.audio, "problems": list(plan.problems)},
            "source_start": kt.start_seconds,
            "video_delay": media_kt.video_delay,
            "cmaf_shift": cmaf_shift,  # how far back the signed offsets reach (serve's unsigned timing covers it)
            # the keyframes a clip can start at: those that begin a byte range and close their GOP
            "keyframes": [k for n, k in enumerate(media_kt.keyframes)
                          if n == 0 or (k in gop_starts and k not in open_keys)],  # fmt: skip
            "end": media_kt.end,
            "init": [index.init.length, index.init.offset] if index.init else None,
            "gops": [[g.start, g.duration, g.offset, g.length] for g in gops],
            "segments": [[g[0].start, seg.duration, seg.byterange.offset, seg.byterange.length]
                         for g, seg in zip(groups, playlist.segments)],  # fmt: skip
            "segment_count": len(playlist.segments),
            "segment_seconds": opts.segment_seconds,
            "timing": "cmaf" if opts.format == "fmp4" else "ts",
            "params_in_band": opts.format == "ts" or (opts.params_in_band and media_info.video.codec in IN_BAND_BSF),
            # where the copied audio stops, from the first video frame (compose warns of the gap after it)
            "audio_end": (round(media_info.audio.end - media_kt.start_seconds, 6)
                          if carried.audio == "copy" and media_info.audio and media_info.audio.end else None),
            # where the copied audio starts, from the first video frame (audio that starts late: the
            # index places speech at media time, not at the audio's own time)
            "audio_start": (round(max(0.0, media_info.audio.start - media_kt.start_seconds), 6)
                            if carried.audio == "copy" and media_info.audio and media_info.audio.start is not None
                            else 0.0),
            # RFC 6381 codec strings of the stored streams, for master playlists' CODECS
            "codecs": [c for c in (media_info.video.codec_string,
                                   media_info.audio.codec_string if carried.audio == "copy" and media_info.audio
                                   else "mp4a.40.2") if c],  # the silent/encoded track: ffmpeg's AAC-LC  # fmt: skip
            "files": {"media": MEDIA_FILE[opts.format], "playlist": PLAYLIST, "thumbnail": THUMBNAIL},
        }
        progress.begin(f"{path.name}: saving", None)
        (stage / PLAYLIST).write_text(playlist.render())
        digest = hashing.result()
        with lib.writing(wait=opts.wait, on_wait=progress.note):
            existing = lib.find_by_hash(digest)
            if existing and not opts.force:  # the same bytes, ingested before or meanwhile by another process
                return _skipped(label, existing, started, opts)
            changed = None if existing else lib.find_by_source(source)
            replaces = existing or changed
            video_id = _choose_id(lib, opts, path, replaces)
            tags = dict(replaces.tags) if replaces else {}
            tags.update(opts.tags)
            video = Video(
                id=video_id, content_hash=digest, source=source, source_size=stat.st_size,
                source_mtime_ns=stat.st_mtime_ns, media_dir="",
                format=opts.format, duration=round(media_kt.end / TICKS, 6),
                ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), meta=meta, tags=tags,
            )  # fmt: skip
            lib.commit_video(video, stage, replaces=replaces)
    if changed:
        status, message = "updated", f"the file changed since it was ingested as {changed.id}: re-ingested"
    elif existing:
        status, message = "ingested", "re-ingested (--force)"
    else:
        status, message = "ingested", ""
    left_out = info.left_out()
    if left_out:
        what = ", ".join(f"{t['type']} #{t['index']} ({', '.join(x for x in (t['language'], t['codec']) if x)})"
                         for t in left_out)  # fmt: skip
        message = (message + "; " if message else "") + (
            f"left out {what}: vstream carries one video and one audio track per video"
        )
    cut = truncation(info, kt)
    if cut:
        message = (message + "; " if message else "") + f"warning: {cut}: ingested what it holds (--allow-truncated)"
    starts, keys = len(video.meta["keyframes"]), len(media_kt.keyframes)
    if media_kt.open_keyframes and starts < keys:
        message = (message + "; " if message else "") + (
            f"open GOPs: clips can start at {starts} of its {keys} keyframes (the others need the GOP before "
            "them); encode with closed GOPs for more"
        )
    if plan.transcodes:
        message = (message + "; " if message else "") + "re-encoded: " + "; ".join(plan.problems)
    elif plan.audio == "silence":
        message = (message + "; " if message else "") + "no audio: a silent track was added"
    return IngestResult(label, status, video.id, video.duration, len(playlist.segments),
                        time.monotonic() - started, message, plan.transcodes)  # fmt: skip


def _skipped(label: str, existing: Video, started: float, opts: IngestOptions) -> IngestResult:
    message = f"already ingested as {existing.id}"
    ignored = []  # options that would have changed something: say so instead of dropping them silently
    if opts.video_id and opts.video_id != existing.id:
        ignored.append(f"--id {opts.video_id}")
    if opts.format != existing.format:
        ignored.append(f"--format {opts.format}")
    if opts.segment_seconds != existing.meta.get("segment_seconds", opts.segment_seconds):
        ignored.append(f"--segment-seconds {opts.segment_seconds:g}")
    if opts.resample_audio and stored_audio_rate(existing.meta) not in (None, AUDIO_RATE):
        ignored.append("--resample-audio")
    if ignored:
        message += f"; ignored {', '.join(ignored)} (add --force to re-ingest with them"
        message += "; ids change only with `vstream rename`)" if opts.video_id and opts.video_id != existing.id else ")"
    return IngestResult(label, "skipped", existing.id, existing.duration, len(existing.meta["segments"]),
                        time.monotonic() - started, message)  # fmt: skip


class _Restart(Exception):
    """The copy attempt was abandoned for a re-encode."""


def _full_table(path: Path, info: ProbeInfo) -> KeyframeTable:
    assert info.video is not None
    kt = keyframe_table(path, info.video.index)
    if kt.errors and kt.frames < 2:
        raise MediaError(f"{path.name}: damaged or truncated ({kt.errors[0]})")
    return kt


def _plan(path: Path, info: ProbeInfo, kt: KeyframeTable, opts: IngestOptions) -> StreamPlan:
    cut = truncation(info, kt)
    if cut and not opts.allow_truncated:
        raise MediaError(f"{path.name}: {cut}", hint="re-upload the whole file, or ingest what it holds with --allow-truncated")
    try:
        return plan_streams(info, kt, opts.format, opts.segment_seconds, transcode=opts.transcode,
                            resample_audio=opts.resample_audio)  # fmt: skip
    except MediaError as exc:
        raise MediaError(f"{path.name}: {exc.message}", hint=exc.hint) from None


def _start_segmenting(binary, src, stage, info, plan, kt, opts, progress) -> list[ff.Running]:
    progress.begin(f"{src.name}: segmenting", 1.0)
    argv = hls_argv(binary, src, stage, info=info, plan=plan, fmt=opts.format, video_delay=kt.video_delay,
                    params_in_band=opts.params_in_band)
    duration = info.duration or None
    segmenting = ff.start(argv, duration=duration, on_progress=progress.update, what="segmenting")
    # a keyframe about a third of the way in: past intros and fades, cheap to seek to
    at = (info.duration or 0) / 3
    thumb = ff.start(thumbnail_argv(binary, src, stage / THUMBNAIL, at), what="thumbnail")
    return [segmenting, thumb, _Writeback(stage / MEDIA_FILE[opts.format])]


class _Writeback(threading.Thread):
    """Flushes the media file to disk while ffmpeg is still writing it.

    The commit must make the media durable before the catalog points at it; flushing as it
    grows overlaps that disk work with the remux instead of adding it after.
    """

    INTERVAL = 0.1

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True, name="vstream-writeback")
        self.path, self.stopped = path, threading.Event()
        self.start()

    def run(self) -> None:
        fd = None
        try:
            while not self.stopped.wait(self.INTERVAL):
                if fd is None:
                    try:
                        fd = os.open(self.path, os.O_RDONLY)
                    except FileNotFoundError:
                        continue
                os.fdatasync(fd)
        except OSError:
            pass  # best effort: the commit's fsync is the guarantee
        finally:
            if fd is not None:
                os.close(fd)

    def wait(self) -> None:  # called once the segmenter has exited (jobs are waited for in order)
        self.kill()

    def kill(self) -> None:
        self.stopped.set()
        self.join()


def _finish_segmenting(jobs, stage: Path, kt: KeyframeTable, opts: IngestOptions, src_name: str):
    for job in jobs:
        job.wait()
    shift = 0  # ticks the video's composition offsets were moved by (its signed offsets reach this far back)
    if opts.format == "fmp4":
        moved = cmaf_timing(stage / MEDIA_FILE["fmp4"])  # no holes at clip boundaries in composed streams
        index = fragment_index(stage / MEDIA_FILE["fmp4"])
        if moved and index.init is not None:
            with open(stage / MEDIA_FILE["fmp4"], "rb") as fh:
                fh.seek(index.init.offset)
                head = fh.read(index.init.length)
            timescale = track_timescales(head).get(video_track(head) or 0) or TICKS
            shift = -(-moved * TICKS // timescale)  # rounded up: serve's unsigned timing must cover it
    else:
        index = parse_byterange_playlist((stage / "ffmpeg.m3u8").read_text())
        (stage / "ffmpeg.m3u8").unlink()
    try:
        gops = gops_from_index(kt.keyframes, kt.end, index, kt.key_positions)
    except ValueError as exc:
        raise MediaError(f"{src_name}: the segmenter did not cut at every keyframe ({exc})") from None
    init = InitSection(MEDIA_FILE[opts.format], index.init) if index.init else None
    groups = group_gops(gops, to_ticks(opts.segment_seconds))
    playlist = MediaPlaylist([segments_for(g, MEDIA_FILE[opts.format], init) for g in groups])
    return index, gops, groups, playlist, shift


def _choose_id(lib: Library, opts: IngestOptions, path: Path, replaces: Video | None) -> str:
    if opts.video_id:
        wanted = check_id(opts.video_id)
        if replaces is not None and replaces.id != wanted:  # recipes and streams name the old id
            raise UsageError(
                f"this file is already ingested as {replaces.id}: re-ingesting never renames a video",
                hint=f"drop --id to keep {replaces.id}, or rename it: vstream rename {replaces.id} {wanted}",
            )
        row = lib.db.execute("SELECT source FROM videos WHERE id=?", (wanted,)).fetchone()
        if row and (replaces is None or replaces.id != wanted):
            raise UsageError(f"id {wanted!r} is already used by {row[0]}", hint="choose another --id")
        return wanted
    if replaces:
        return replaces.id
    return lib.unique_id(slugify(path.stem))


# --- a batch -------------------------------------------------------------------------------


def ingest(
    lib: Library, inputs: list[str], opts: IngestOptions, progress: Progress = SILENT
) -> list[IngestResult]:
    """Ingest many inputs; a failure is reported and the batch goes on (like beets)."""
    opts.validate()
    items = expand_inputs(inputs)
    if opts.video_id and len(items) > 1:
        raise UsageError("--id names one video, but several inputs were given", hint="ingest them one by one")
    results = []
    for label, path in items:
        started = time.monotonic()
        if path is None:
            results.append(IngestResult(label, "failed", message=f"{label}: no such file or no match"))
            continue
        if path is IGNORED:
            suffix = Path(label).suffix.lower() or "no extension"
            results.append(IngestResult(label, "ignored", message=f"not a video file ({suffix}); name it directly to try it"))
            continue
        try:
            results.append(ingest_file(lib, path, opts, progress))
        except (LibraryBusy, MissingDependency, IOFailure):
            raise  # not this file's fault (the library, ffmpeg, the disk): stop the batch with that exit code
        except VstreamError as exc:
            message = str(exc) if str(path) in str(exc) or path.name in str(exc) else f"{path.name}: {exc}"
            results.append(IngestResult(label, "failed", seconds=time.monotonic() - started, message=message))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
                raise  # the disk, not this file: every other file would fail the same way
            results.append(IngestResult(label, "failed", seconds=time.monotonic() - started,
                                        message=f"{path.name}: {exc.strerror or exc}"))  # fmt: skip
        finally:
            progress.end()
    return results
