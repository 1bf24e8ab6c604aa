"""Measurements tests make on real media with ffmpeg/ffprobe (what a player would see)."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
from pathlib import Path


def ffprobe_json(*args: str) -> dict:
    proc = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def decode_duration(playlist: Path) -> float:
    """Play the playlist to the end with ffmpeg; return the decoded video duration (fails on any error)."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(playlist), "-map", "0:v:0", "-f", "framemd5", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0 and not proc.stderr.strip(), f"ffmpeg could not play {playlist}: {proc.stderr}"
    rows = [ln.split(",") for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]
    tb_line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("#tb 0:"))
    num, den = map(int, tb_line.split(":")[-1].strip().split("/"))
    pts = [int(r[2]) for r in rows]
    durations = [int(r[3]) for r in rows]
    return (max(p + d for p, d in zip(pts, durations)) - min(pts)) * num / den


def null_decode(playlist: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(playlist), "-f", "null", "-"], capture_output=True, text=True)


def video_frame_hashes(path: Path) -> list[str]:
    """MD5 of every decoded video frame, in order (ffmpeg -f framemd5)."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5", "-"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return [ln.split(",")[-1].strip() for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]


def byte_ranges(playlist: Path) -> tuple[tuple[int, int] | None, list[tuple[float, int, int, str]]]:
    """(init (length, offset) or None, [(extinf, length, offset, uri)]) of a byte-range media playlist."""
    text = playlist.read_text()
    init = None
    m = re.search(r'#EXT-X-MAP:URI="[^"]+",BYTERANGE="(\d+)@(\d+)"', text)
    if m:
        init = (int(m.group(1)), int(m.group(2)))
    segs = []
    for m in re.finditer(r"#EXTINF:([\d.]+),\n#EXT-X-BYTERANGE:(\d+)@(\d+)\n(\S+)", text):
        segs.append((float(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)))
    return init, segs


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def played_duration(playlist: Path) -> float:
    """Seconds of video ffmpeg decodes: the sum of every frame's duration (timestamps may jump)."""
    proc = subprocess.run(
        # passthrough: a composed stream's timestamps jump back at a clip boundary, and ffmpeg's
        # default frame-rate sync would drop those frames from the count (a player shows them)
        ["ffmpeg", "-v", "error", "-i", str(playlist), "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "framemd5", "-"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0 and not proc.stderr.strip(), f"ffmpeg could not play {playlist}: {proc.stderr}"
    tb_line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("#tb 0:"))
    num, den = map(int, tb_line.split(":")[-1].strip().split("/"))
    return sum(int(ln.split(",")[3]) for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")) * num / den


# --- ISO BMFF presentation times, read from the boxes -------------------------------------------
# ffmpeg's mov demuxer adds a track's largest negative composition offset to every timestamp of a
# fragmented file (its "dts_shift"), so for CMAF-style fragments (trun version 1, signed offsets,
# no edit delay) ffprobe reports video a reordering delay late. Browsers follow the standard; these
# helpers do too: composition time = decode time (tfdt + durations) + offset - the edit's media_time.


def _boxes(buf: bytes, start: int = 0, end: int | None = None):
    end = len(buf) if end is None else end
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", buf, start + 8)[0], 16
        yield kind.decode("latin-1"), start + header, start + size
        start += size


def _find(buf: bytes, start: int, end: int, path: list[str]):
    for kind, body, stop in _boxes(buf, start, end):
        if kind == path[0]:
            if len(path) == 1:
                yield body, stop
            else:
                yield from _find(buf, body, stop, path[1:])


def track_timing(init: bytes) -> dict[int, dict]:
    """``{track_ID: {type, timescale, media_time, default_duration}}`` from an init section (moov)."""
    tracks = {}
    for body, stop in _find(init, 0, len(init), ["moov", "trak"]):
        tkhd = next(_find(init, body, stop, ["tkhd"]))[0]
        track_id = struct.unpack_from(">I", init, tkhd + (20 if init[tkhd] == 1 else 12))[0]
        mdhd = next(_find(init, body, stop, ["mdia", "mdhd"]))[0]
        timescale = struct.unpack_from(">I", init, mdhd + (20 if init[mdhd] == 1 else 12))[0]
        hdlr = next(_find(init, body, stop, ["mdia", "hdlr"]))[0]
        media_time = 0
        for elst, _ in _find(init, body, stop, ["edts", "elst"]):
            version, count = init[elst], struct.unpack_from(">I", init, elst + 4)[0]
            width = 8 if version == 1 else 4
            for i in range(count):
                at = elst + 8 + i * (2 * width + 4) + width
                value = int.from_bytes(init[at:at + width], "big", signed=True)
                if value >= 0:
                    media_time = value
                    break
        kind = {b"vide": "video", b"soun": "audio"}.get(init[hdlr + 8:hdlr + 12], "other")
        tracks[track_id] = {"type": kind, "timescale": timescale, "media_time": media_time, "default_duration": 0}
    for trex, _ in _find(init, 0, len(init), ["moov", "mvex", "trex"]):
        track_id, _, duration = struct.unpack_from(">III", init, trex + 4)
        if track_id in tracks:
            tracks[track_id]["default_duration"] = duration
    return tracks


def fragment_starts(init: bytes, fragment: bytes) -> dict[str, float]:
    """Earliest presentation time (seconds) of each track type in one moof+mdat."""
    tracks = track_timing(init)
    starts: dict[str, float] = {}
    for traf, stop in _find(fragment, 0, len(fragment), ["moof", "traf"]):
        tfhd = next(_find(fragment, traf, stop, ["tfhd"]))[0]
        flags = int.from_bytes(fragment[tfhd + 1:tfhd + 4], "big")
        track = tracks[struct.unpack_from(">I", fragment, tfhd + 4)[0]]
        at = tfhd + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        default = struct.unpack_from(">I", fragment, at)[0] if flags & 0x08 else track["default_duration"]
        tfdt = next(_find(fragment, traf, stop, ["tfdt"]))[0]
        decode = (struct.unpack_from(">Q", fragment, tfdt + 4)[0] if fragment[tfdt] == 1
                  else struct.unpack_from(">I", fragment, tfdt + 4)[0])  # fmt: skip
        earliest = None
        for trun, _ in _find(fragment, traf, stop, ["trun"]):
            version, tflags = fragment[trun], int.from_bytes(fragment[trun + 1:trun + 4], "big")
            count = struct.unpack_from(">I", fragment, trun + 4)[0]
            at = trun + 8 + (4 if tflags & 0x001 else 0) + (4 if tflags & 0x004 else 0)
            for _ in range(count):
                duration, offset = default, 0
                if tflags & 0x100:
                    duration = struct.unpack_from(">I", fragment, at)[0]
                    at += 4
                at += 4 if tflags & 0x200 else 0
                at += 4 if tflags & 0x400 else 0
                if tflags & 0x800:
                    offset = int.from_bytes(fragment[at:at + 4], "big", signed=version == 1)
                    at += 4
                t = decode + offset
                earliest = t if earliest is None else min(earliest, t)
                decode += duration
        if earliest is not None:
            seconds = (earliest - track["media_time"]) / track["timescale"]
            starts[track["type"]] = min(starts.get(track["type"], seconds), seconds)
    return starts
