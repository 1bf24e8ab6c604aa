"""`vstream render --copy`: a composed stream as a standalone HLS folder, by stream copy.

The folder holds the bytes `vstream serve` would hand out for the stream (each clip's fragments
moved onto one continuous timeline, each video's parameter sets in front of its fragments and
its init section in front of a change of video, see :mod:`vstream.compose.delivery`), one file
per segment, so it plays whole in the players that static composed playlists do not serve
(ffmpeg, GStreamer's playbin, VLC) from any web server or disk, without vstream. Nothing is
re-encoded; overlays and captions stay manifest metadata (``render`` without ``--copy`` burns them).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vstream.errors import UsageError
from vstream.library import Library, atomic_write, stored_audio_rate
from vstream.progress import SILENT, Progress

SEGMENT = re.compile(r"^/r/(-?\d+(?:d\d+)?)/(-?\d+)/(\d+\+\d+[pi]*)/media/(.+)$")
RANGE = re.compile(r"^/r/(-?\d+(?:d\d+)?)/(-?\d+)/media/(.+)$")


@dataclass
class ExportResult:
    stream: str
    output: str  # the folder's playlist to open
    duration: float
    clips: int
    segments: int
    bytes: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def export(stream: Path | str, out: Path | str, *, lib: Library | None = None, progress: Progress = SILENT,
           unsigned: bool = False) -> ExportResult:  # fmt: skip
    """Write ``out/`` (a new folder): the stream's playlists with every segment and init section as a file.
    ``unsigned``: in the timing desktop players read, not the CMAF timing browsers need
    (compose.playlist.allowance; vstream serve picks one per player)."""
    from vstream.compose.api import mixed_audio_rates
    from vstream.compose.delivery import Rebaser
    from vstream.compose.playlist import Clip, InitSection, media_playlist, media_start, place, source_for
    from vstream.compose.render import find_stream, library_of, read_timeline
    from vstream.timecode import to_ticks

    out = Path(out).expanduser().absolute()
    if out.suffix:
        raise UsageError(f"--out {out.name}: --copy writes an HLS folder (a name without an extension)")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out}: already exists and is not an empty folder", hint="name a new folder")
    folder = find_stream(stream)
    lib = lib or library_of(folder)
    reel = folder.is_file()
    timeline = read_timeline(lib, folder if reel else folder / "video.m3u8")
    clips, pod = [], -1
    for n, c in enumerate(timeline["clips"]):
        video = lib.get(c["video_id"])
        if c["ad"] and (n == 0 or not timeline["clips"][n - 1]["ad"]):
            pod += 1
        source = source_for(video, lib.path(video, video.meta["files"]["media"]), base_url="/")
        clips.append(Clip(source, to_ticks(c["start"]), to_ticks(c["end"]), pod=pod if c["ad"] else None))
    placed = place(clips)
    playlist = media_playlist(placed, rebase=True, unsigned=unsigned)
    used = [lib.get(v) for v in dict.fromkeys(c["video_id"] for c in timeline["clips"])]
    # the copied bytes are serve's: a clip's sound at another sample rate plays at the first one's rate
    # in ffmpeg and playbin, from the folder too
    warnings = [w for w in [mixed_audio_rates([(v.id, stored_audio_rate(v.meta)) for v in used])] if w]
    rebaser = Rebaser(lib, threading.Lock())
    stage = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    stage.mkdir(parents=True)
    try:
        inits: dict[tuple, str] = {}
        total = 0
        progress.begin("copying segments", float(len(playlist.segments)))
        for n, seg in enumerate(playlist.segments):
            if seg.init is not None:
                key = (seg.init.uri, seg.init.byterange)
                if key not in inits:
                    inits[key] = f"init{len(inits)}.mp4"
                    data = _bytes(rebaser, lib, seg.init.uri, seg.init.byterange)
                    (stage / inits[key]).write_bytes(data)
                    total += len(data)
                seg.init = InitSection(inits[key])
            data = _bytes(rebaser, lib, seg.uri, seg.byterange)
            seg.uri, seg.byterange, seg.size = f"seg{n:05d}.m4s", None, len(data)
            (stage / seg.uri).write_bytes(data)
            total += len(data)
            progress.update(n + 1)
        name = "index.m3u8" if reel else "video.m3u8"
        atomic_write(stage / name, playlist.render(), durable=False)
        if not reel:  # the master (codecs, overlays, reframe) and the captions, mapped onto the copy's media time
            starts = media_start(placed, True, unsigned)  # (the static stream's media started at its source time)
            for extra in folder.iterdir():
                if extra.is_file() and extra.suffix == ".vtt":
                    text = re.sub(r"(?m)^X-TIMESTAMP-MAP=MPEGTS:\d+", f"X-TIMESTAMP-MAP=MPEGTS:{starts}", extra.read_text())
                    (stage / extra.name).write_text(text)
                elif extra.is_file() and extra.name != "video.m3u8":
                    shutil.copyfile(extra, stage / extra.name)
        _sync(stage)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        progress.end()
    return ExportResult(str(folder if reel else folder / "master.m3u8"), str(out / ("index.m3u8" if reel else "master.m3u8")),
                        round(timeline["duration"], 3), len(clips), len(playlist.segments), total, warnings)  # fmt: skip


def _bytes(rebaser, lib: Library, uri: str, byterange) -> bytes:
    """What `vstream serve` answers for ``uri`` (and its byte range)."""
    if uri.startswith("/r/init/media/"):
        return rebaser.init(uri[len("/r/init/media/") :])[2]
    m = SEGMENT.match(uri)
    if m:
        return rebaser.segment(m.group(1), m.group(2), m.group(3), m.group(4))[2]
    m = RANGE.match(uri)
    if m and byterange is not None:
        end = byterange.offset + byterange.length - 1
        return rebaser.serve(m.group(1), m.group(3), f"bytes={byterange.offset}-{end}", m.group(2))[2]
    if uri.startswith("/media/") and byterange is not None:
        with open(rebaser._media_file(uri[len("/media/") :]), "rb") as fh:
            fh.seek(byterange.offset)
            return fh.read(byterange.length)
    raise UsageError(f"cannot copy {uri}: not a library media file")


def _sync(folder: Path) -> None:
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
