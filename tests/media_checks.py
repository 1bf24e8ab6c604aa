"""Measurements tests make on real media with ffmpeg/ffprobe (what a player would see)."""

from __future__ import annotations

import hashlib
import json
import re
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


def range_packets(media: Path, init: tuple[int, int] | None, length: int, offset: int, tmp: Path) -> list[dict]:
    """ffprobe's packets of one byte range (with the fMP4 init section in front)."""
    data = media.read_bytes()
    blob = (data[init[1] : init[1] + init[0]] if init else b"") + data[offset : offset + length]
    piece = tmp / ("piece" + media.suffix.replace(".m4s", ".mp4"))
    piece.write_bytes(blob)
    return ffprobe_json("-show_packets", str(piece))["packets"]


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
