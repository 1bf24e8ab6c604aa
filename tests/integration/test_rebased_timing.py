"""Unsigned timing (what vstream serve hands GStreamer) on real ingested fragments, read back by ffmpeg.

The library writes a B-frame video's composition offsets signed (CMAF timing: each keyframe shown at
its decode time). In unsigned timing the same frames are presented the stream's reordering
allowance after their decode times and the sound moves with them, so nothing changes but where the
whole clip sits; a video without B-frames gets offsets added so it lines up with the others.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import vstream
from tests.media_checks import ffprobe_json
from vstream import errors
from vstream.compose.delivery import Rebaser
from vstream.library import Library

ALLOWANCE = 7200  # 80 ms: two frames of the 25 fps samples' B-frame reordering


def packets(path: Path) -> dict[str, list[tuple[int, int]]]:
    """``{codec_type: [(pts, dts) in 90 kHz ticks]}`` as ffmpeg's demuxer reads them."""
    info = ffprobe_json("-show_entries", "stream=index,codec_type,time_base:packet=stream_index,pts,dts", str(path))
    kinds = {s["index"]: s for s in info["streams"]}
    out: dict[str, list[tuple[int, int]]] = {}
    for p in info["packets"]:
        stream = kinds[p["stream_index"]]
        num, den = map(int, stream["time_base"].split("/"))
        out.setdefault(stream["codec_type"], []).append(
            tuple(round(int(p[k]) * num * 90_000 / den) for k in ("pts", "dts")))  # fmt: skip
    return out


def served(lib: Path, video: str, delta: str, fragments: int, out: Path) -> Path:
    """The init section and the first ``fragments`` fragments of ``video`` as serve's whole segments hand them out."""
    library = Library(lib)
    meta = library.get(video).meta
    rebaser = Rebaser(library, threading.Lock())
    path = f"{library.get(video).media_dir.split('/', 1)[1]}/{meta['files']['media']}"
    layout = rebaser._layout(lib / "media" / path)
    start, stop = layout.offsets[0], (layout.offsets + [layout.end])[fragments]
    body = rebaser.segment(delta, "0", f"{start}+{stop - start}", path)[2]
    out.write_bytes(rebaser.init(path)[2] + body)
    return out


def test_a_b_frame_video_in_unsigned_timing_shows_its_first_frame_with_its_first_sound(library, tmp_path):
    # ingest keeps how far back the video's signed offsets reach: the least allowance serve may name
    assert Library(library).get("talk").meta["cmaf_shift"] == ALLOWANCE
    signed = packets(served(library, "talk", "0", 2, tmp_path / "signed.mp4"))
    unsigned = packets(served(library, "talk", f"0d{ALLOWANCE}", 2, tmp_path / "unsigned.mp4"))
    assert len(unsigned["video"]) == len(signed["video"]) == 50 and len(unsigned["audio"]) == len(signed["audio"])
    shown = sorted(p for p, _ in unsigned["video"])
    # picture and sound start together, the allowance into the stream, and every 25 fps frame follows in turn
    assert shown[0] == min(p for p, _ in unsigned["audio"]) == ALLOWANCE
    assert shown == [ALLOWANCE + i * 3600 for i in range(50)]
    # no frame is shown before it is decoded (nothing for a demuxer to correct), and the decode times
    # are where the stream's timeline puts them
    assert all(p >= d for p, d in unsigned["video"]) and min(d for _, d in unsigned["video"]) == 0
    assert [d for _, d in unsigned["video"]] == [d for _, d in signed["video"]]


def test_a_video_without_b_frames_gets_the_allowance_and_still_decodes_every_frame(tmp_path):
    made = tmp_path / "phone.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=6",
                    "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:duration=6", "-c:v", "libx264",
                    "-profile:v", "baseline", "-bf", "0", "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(made)], check=True)  # fmt: skip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(made), check=True)
    assert Library(lib).get("phone").meta["cmaf_shift"] == 0
    plain = served(lib, "phone", "0", 3, tmp_path / "plain.mp4")
    moved = served(lib, "phone", f"0d{ALLOWANCE}", 3, tmp_path / "moved.mp4")
    before, after = packets(plain), packets(moved)
    assert all(p == d for p, d in before["video"])  # no B-frames: shown when decoded
    assert [(p + ALLOWANCE, d) for p, d in before["video"]] == after["video"]
    assert [p + ALLOWANCE for p, _ in before["audio"]] == [p for p, _ in after["audio"]]
    for path in (plain, moved):  # the grown boxes still parse and decode, frame for frame
        proc = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v", "-f", "framemd5", "-"],
                              capture_output=True, text=True)  # fmt: skip
        assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
    frames = lambda p: [ln.split(",")[-1] for ln in subprocess.run(  # noqa: E731
        ["ffmpeg", "-v", "error", "-i", str(p), "-map", "0:v", "-f", "framemd5", "-"], capture_output=True,
        text=True).stdout.splitlines() if ln and not ln.startswith("#")]  # fmt: skip
    assert frames(plain) == frames(moved) and len(frames(moved)) == 150


def test_an_allowance_shorter_than_the_videos_delay_is_refused_not_served_out_of_order(library):
    library_ = Library(library)
    rebaser = Rebaser(library_, threading.Lock())
    video = library_.get("talk")
    path = f"{video.media_dir.split('/', 1)[1]}/{video.meta['files']['media']}"
    with pytest.raises(errors.UsageError, match="bad timeline shift"):
        rebaser.serve("0d100", path, "bytes=0-200000")
    with pytest.raises(errors.UsageError, match="bad timeline shift"):
        rebaser.serve("0d99999999", path, "bytes=0-200000")
