"""Captions on the composed timeline (pure): transcripts retimed to the clips, or a caption file.

The result is one WebVTT file with ``X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000`` (cue times are
composed-stream times; the fMP4 and MPEG-TS media both start at 0 on the player's timeline) and a
one-segment subtitles playlist spanning the stream.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, Sequence

from vstream.compose.playlist import PlacedClip
from vstream.errors import UsageError
from vstream.index.transcript import cue_text, stamp
from vstream.media.hls import MediaPlaylist, Segment
from vstream.timecode import TICKS

Cue = tuple[float, float, str]  # start, end (composed seconds), text
MIN_CUE = 0.2  # a sentence cut to less than this at a clip edge is dropped, not flashed
READABLE = 1.0  # seconds: a sentence cut at a clip edge to less than this, and to less than most of it, is dropped
MAX_FILE = 2 * 2**20
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


def retime(placed: Sequence[PlacedClip], transcript: Callable[[str], list[dict]]) -> list[Cue]:
    """Each clip's sentences, clipped to the clip and moved to where the clip plays."""
    cues: list[Cue] = []
    for p in placed:
        lo, hi = p.start / TICKS, p.end / TICKS
        offset = (p.at - p.start) / TICKS
        for row in transcript(p.clip.source.video_id):
            s, e = max(row["start"], lo), min(row["end"], hi)
            whole = row["end"] - row["start"]
            if e - s >= MIN_CUE and (e - s >= READABLE or e - s >= 0.9 * whole):  # no half-second flashes
                cues.append((round(s + offset, 3), round(e + offset, 3), row["text"]))
    return cues


def parse(text: str, name: str) -> list[Cue]:
    """Cues of a WebVTT or SRT file (times as written: the composed stream's). Errors name the line."""
    if len(text) > MAX_FILE:
        raise UsageError(f"{name}: larger than {MAX_FILE // 2**20} MiB, too large for a caption file")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    cues: list[Cue] = []
    i = 0
    while i < len(lines):
        m = _TIMING.match(lines[i])
        if not m:
            if "-->" in lines[i]:
                raise UsageError(f"{name}:{i + 1}: not a cue timing line: {lines[i].strip()[:60]!r}",
                                 hint="write HH:MM:SS.mmm --> HH:MM:SS.mmm")  # fmt: skip
            i += 1
            continue
        g = [int(x) if x else 0 for x in m.groups()]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        if end <= start:
            raise UsageError(f"{name}:{i + 1}: the cue ends before it starts")
        body = []
        i += 1
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        cues.append((start, end, re.sub(r"<[^>]+>", "", " ".join(body))))
    if not cues:
        raise UsageError(f"{name}: no cues found", hint="give a WebVTT (.vtt) or SubRip (.srt) file")
    return cues


def render(cues: Iterable[Cue], mpegts: int = 0) -> str:
    """WebVTT in composed time; ``mpegts``: the media timestamp (90 kHz) where the stream starts.

    Players map cue times through ``X-TIMESTAMP-MAP`` onto the media's own timestamps: a static
    fMP4 stream whose first clip starts 8 s into its video carries decode times from 8 s, so its
    map says MPEGTS:720000 (hls.js dropped every cue otherwise); rebased streams start at 0.
    """
    body = "".join(f"{stamp(s, '.')} --> {stamp(e, '.')}\n{cue_text(t)}\n\n" for s, e, t in sorted(cues))
    return f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n\n" + body


def playlist(total: int, uri: str = "captions.vtt") -> str:
    """One WebVTT segment spanning the composed timeline."""
    return MediaPlaylist([Segment(uri, total)], independent_segments=False).render()
