"""`vstream ingest` on the sample media with real ffmpeg: what users rely on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import m3u8
import pytest

from tests.conftest import sample_path, vstream, vstream_json
from tests.media_checks import (
    byte_ranges, decode_duration, ffprobe_json, fragment_starts, null_decode, track_timing, video_frame_hashes,
)


def playlist_of(lib: Path, video_id: str) -> Path:
    return Path(vstream_json("info", video_id, "-L", str(lib))["playlist"])


# --- every sample ----------------------------------------------------------------------------


def test_every_sample_plays_to_the_end_with_its_duration(library, samples):
    listed = {v["id"]: v for v in vstream_json("list", "-L", str(library))["videos"]}
    assert set(listed) == set(samples["videos"])
    for name, expected in samples["videos"].items():
        playlist = playlist_of(library, name)
        frame = 1 / expected["fps"]
        assert decode_duration(playlist) == pytest.approx(expected["duration"], abs=frame + 1e-3), name
        assert listed[name]["duration"] == pytest.approx(expected["duration"], abs=frame + 1e-3), name
        assert null_decode(playlist).returncode == 0


def test_playlists_are_valid_hls_with_segments_near_the_target(library):
    for video in vstream_json("list", "-L", str(library))["videos"]:
        playlist = m3u8.load(str(playlist_of(library, video["id"])))
        assert playlist.is_endlist and playlist.playlist_type == "vod"
        durations = [s.duration for s in playlist.segments]
        assert all(round(d) <= playlist.target_duration for d in durations)
        # cuts land on keyframes (1 s apart in the samples) near 4 s: never more than one GOP off
        assert all(3.0 <= d <= 5.0 for d in durations[:-1]), (video["id"], durations)


def test_segment_bytes_are_the_source_packets(library, samples):
    """No re-encode: every decoded video frame of the HLS output equals the source's."""
    for name in ("talk", "match"):
        source = video_frame_hashes(sample_path(samples, name))
        output = video_frame_hashes(playlist_of(library, name))
        assert output == source, name


def test_extinf_is_the_real_duration_and_audio_never_leads_video(library, tmp_path):
    playlist = playlist_of(library, "talk")
    init, segments = byte_ranges(playlist)
    media = playlist.parent / segments[0][3]
    data = media.read_bytes()
    head = data[init[1] : init[1] + init[0]]
    starts = []
    for extinf, length, offset, _ in segments:
        first = fragment_starts(head, data[offset : offset + length])  # ISO BMFF presentation times
        assert set(first) == {"video", "audio"}
        assert first["audio"] >= first["video"] - 1e-6, f"audio starts {first['video'] - first['audio']:.3f}s before video"
        starts.append(first["video"])
    extinfs = [s[0] for s in segments]
    for i in range(len(starts) - 1):
        assert starts[i + 1] - starts[i] == pytest.approx(extinfs[i], abs=1e-3)


def test_fmp4_fragments_start_at_their_decode_time(library, samples):
    """CMAF timing: no edit delay on video, so players that place fragments by decode time leave no holes."""
    first = ffprobe_json("-select_streams", "v", "-show_packets", "-read_intervals", "%+#1",
                         str(sample_path(samples, "talk")))["packets"][0]  # fmt: skip
    assert float(first["pts_time"]) > float(first["dts_time"])  # the source has a reordering delay
    playlist = playlist_of(library, "talk")
    init, segments = byte_ranges(playlist)
    data = (playlist.parent / segments[0][3]).read_bytes()
    head = data[init[1] : init[1] + init[0]]
    video = next(t for t in track_timing(head).values() if t["type"] == "video")
    assert video["media_time"] == 0
    assert fragment_starts(head, data[segments[0][2] : segments[0][2] + segments[0][1]])["video"] == 0.0


def test_keyframe_table_and_probe_are_recorded(library, samples):
    info = vstream_json("info", "talk", "-L", str(library))
    expected = samples["videos"]["talk"]
    assert info["keyframes"][:3] == pytest.approx([0.0, 1.0, 2.0])
    assert len(info["keyframes"]) == pytest.approx(expected["duration"], abs=1)
    assert info["probe"]["video"]["codec"] == "h264" and info["probe"]["audio"]["codec"] == "aac"
    assert (info["probe"]["video"]["width"], info["probe"]["video"]["height"]) == (expected["width"], expected["height"])
    assert sum(s["duration"] for s in info["segment_list"]) == pytest.approx(info["duration"], abs=1e-6)
    thumb = Path(info["thumbnail"])
    assert thumb.read_bytes()[:2] == b"\xff\xd8"  # a JPEG


def test_video_without_audio_gets_a_silent_track_and_copied_video(library, samples):
    info = vstream_json("info", "silent", "-L", str(library))
    assert info["plan"] == {"video": "copy", "audio": "silence", "problems": []}
    assert video_frame_hashes(Path(info["playlist"])) == video_frame_hashes(sample_path(samples, "silent"))
    streams = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", info["playlist"]], capture_output=True, text=True
    ).stdout)["streams"]  # fmt: skip
    assert sorted(s["codec_type"] for s in streams) == ["audio", "video"]


def test_unplayable_codec_needs_transcode_and_gets_it(samples, tmp_path):
    legacy = [n for n, v in samples["videos"].items() if v["needs_transcode"]][0]
    src = sample_path(samples, legacy)
    lib = tmp_path / "lib"
    proc = vstream("ingest", "-L", str(lib), str(src))
    assert proc.returncode == 1
    assert "cannot be stream-copied" in proc.stderr and "mpeg4" in proc.stderr and "--transcode" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert vstream_json("list", "-L", str(lib))["videos"] == []
    result = vstream_json("ingest", "-L", str(lib), "--transcode", str(src))
    assert result["results"][0]["transcoded"] is True
    playlist = playlist_of(lib, legacy)
    assert decode_duration(playlist) == pytest.approx(samples["videos"][legacy]["duration"], abs=0.1)


def test_mpeg_ts_format(samples, tmp_path):
    lib = tmp_path / "lib"
    src = sample_path(samples, "talk")
    vstream("ingest", "-L", str(lib), "--format", "ts", "--segment-seconds", "2", str(src), check=True)
    playlist = playlist_of(lib, "talk")
    assert (playlist.parent / "media.ts").exists()
    assert video_frame_hashes(playlist) == video_frame_hashes(src)
    durations = [s.duration for s in m3u8.load(str(playlist)).segments]
    assert max(durations[:-1]) <= 3.0


# --- batches, idempotency, changes -------------------------------------------------------------


def test_reingest_is_a_noop_force_redoes_and_tags_persist(samples, tmp_path):
    lib = tmp_path / "lib"
    src = str(sample_path(samples, "ad"))
    first = vstream_json("ingest", "-L", str(lib), "--tag", "kind=ad", src)
    assert first["results"][0]["status"] == "ingested"
    media_before = vstream_json("info", "ad", "-L", str(lib))["media_dir"]
    again = vstream_json("ingest", "-L", str(lib), src)
    assert again["results"][0]["status"] == "skipped" and "already ingested as ad" in again["results"][0]["message"]
    copy = tmp_path / "same-bytes-other-name.mp4"
    shutil.copy(src, copy)
    assert vstream_json("ingest", "-L", str(lib), str(copy))["results"][0]["status"] == "skipped"
    forced = vstream_json("ingest", "-L", str(lib), "--force", src)
    assert forced["results"][0]["status"] == "ingested" and forced["results"][0]["id"] == "ad"
    info = vstream_json("info", "ad", "-L", str(lib))
    assert info["media_dir"] != media_before and Path(media_before).is_dir()  # retired, not deleted (vstream gc)
    assert info["tags"] == {"kind": "ad"}
    assert len(vstream_json("list", "-L", str(lib))["videos"]) == 1


def test_changed_file_is_detected_and_reingested_under_its_id(samples, tmp_path):
    lib = tmp_path / "lib"
    work = tmp_path / "clip.mp4"
    shutil.copy(sample_path(samples, "ad"), work)
    vstream("ingest", "-L", str(lib), "--tag", "team=blue", str(work), check=True)
    shutil.copy(sample_path(samples, "talk"), work)  # the user replaced the file
    result = vstream_json("ingest", "-L", str(lib), str(work))["results"][0]
    assert result["status"] == "updated" and result["id"] == "clip" and "changed" in result["message"]
    info = vstream_json("info", "clip", "-L", str(lib))
    assert info["duration"] == pytest.approx(samples["videos"]["talk"]["duration"], abs=0.05)
    assert info["tags"] == {"team": "blue"}


def test_ids_are_slugs_unique_and_choosable(samples, tmp_path):
    lib = tmp_path / "lib"
    a, b = tmp_path / "x" / "My Clip.mp4", tmp_path / "y" / "My Clip.mp4"
    a.parent.mkdir(), b.parent.mkdir()
    shutil.copy(sample_path(samples, "ad"), a)
    shutil.copy(sample_path(samples, "silent"), b)
    ids = [r["id"] for r in vstream_json("ingest", "-L", str(lib), str(a), str(b))["results"]]
    assert ids == ["my-clip", "my-clip-2"]
    chosen = vstream_json("ingest", "-L", str(lib), "--id", "opener", str(sample_path(samples, "talk")))
    assert chosen["results"][0]["id"] == "opener"
    clash = vstream("ingest", "-L", str(lib), "--id", "opener", str(sample_path(samples, "match")))
    assert clash.returncode == 1 and "already used" in clash.stderr


def test_directory_batch_continues_past_a_bad_file(samples, tmp_path):
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.copy(sample_path(samples, "ad"), batch / "ad.mp4")
    shutil.copy(sample_path(samples, "silent"), batch / "silent.mp4")
    (batch / "broken.mp4").write_text("this is not a video")
    lib = tmp_path / "lib"
    proc = vstream("ingest", "-L", str(lib), str(batch), "--json")
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    assert (summary["ingested"], summary["failed"]) == (2, 1)
    failed = [r for r in summary["results"] if r["status"] == "failed"]
    assert failed[0]["path"].endswith("broken.mp4") and "not a readable media file" in failed[0]["message"]
    assert {v["id"] for v in vstream_json("list", "-L", str(lib))["videos"]} == {"ad", "silent"}
    assert not list((lib / "media").glob(".stage-*"))


# --- bad input -------------------------------------------------------------------------------


def _one_failure(lib: Path, path: Path) -> str:
    proc = vstream("ingest", "-L", str(lib), str(path))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("failed")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "key, needle",
    [
        ("empty", "empty (0 bytes)"),
        ("notavideo", "not a readable media file"),
        ("truncated", "not a readable media file"),
        ("audio_only", "audio-only file"),
    ],
)
def test_bad_inputs_get_one_clear_line_and_leave_nothing(samples, tmp_path, key, needle):
    lib = tmp_path / "lib"
    line = _one_failure(lib, samples["root"] / samples["bad"][key])
    assert needle in line
    assert vstream_json("list", "-L", str(lib))["videos"] == []
    assert [p.name for p in (lib / "media").iterdir()] == []


def test_missing_file(tmp_path):
    line = _one_failure(tmp_path / "lib", tmp_path / "does-not-exist.mp4")
    assert "no such file" in line


needs_setpriv = pytest.mark.skipif(
    not shutil.which("setpriv") or os.geteuid() != 0, reason="needs root and setpriv to drop file-permission overrides"
)

# Root ignores file modes through two capabilities; without them, modes apply to root too.
# (Switching to another user would not do: the test virtualenv may live in root's 0700 home.)
NO_DAC_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]


def vstream_without_root_overrides(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*NO_DAC_OVERRIDE, sys.executable, "-m", "vstream", *args], capture_output=True, text=True)


@needs_setpriv
def test_unreadable_file(samples, tmp_path):
    lib, src = tmp_path / "lib", tmp_path / "secret.mp4"
    shutil.copy(sample_path(samples, "ad"), src)
    src.chmod(0)
    proc = vstream_without_root_overrides("ingest", "-L", str(lib), str(src))
    assert proc.returncode == 1, proc.stderr
    assert "permission denied" in proc.stderr and "Traceback" not in proc.stderr
    assert vstream_json("list", "-L", str(lib))["videos"] == []


@needs_setpriv
def test_unwritable_library_is_an_io_error_not_a_crash(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("init", "-L", str(lib), check=True)
    for path in [lib, *lib.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        proc = vstream_without_root_overrides("ingest", "-L", str(lib), str(sample_path(samples, "ad")))
    finally:
        for path in [lib, *lib.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert proc.returncode == 7, proc.stderr
    assert ("Permission denied" in proc.stderr or "readonly" in proc.stderr) and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert vstream_json("list", "-L", str(lib))["videos"] == []


# --- crashes and concurrency -------------------------------------------------------------------


def test_kill_9_mid_ingest_leaves_a_valid_library_and_rerun_finishes(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("init", "-L", str(lib), check=True)
    batch = [str(sample_path(samples, n)) for n in ("talk", "match", "silent", "ad")]
    proc = subprocess.Popen([sys.executable, "-m", "vstream", "ingest", "-L", str(lib), *batch],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while not list((lib / "media").glob(".stage-*/media.*")) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    listed = vstream_json("list", "-L", str(lib))  # readable, and only complete videos are listed
    for video in listed["videos"]:
        assert null_decode(playlist_of(lib, video["id"])).returncode == 0
    assert len(listed["videos"]) < 4
    rerun = vstream_json("ingest", "-L", str(lib), *batch)
    assert rerun["failed"] == 0 and rerun["ingested"] + rerun["skipped"] == 4
    assert {v["id"] for v in vstream_json("list", "-L", str(lib))["videos"]} == {"talk", "match", "silent", "ad"}
    entries = sorted(p.name for p in (lib / "media").iterdir())
    assert len(entries) == 4 and not any(e.startswith(".stage-") for e in entries)


def test_two_concurrent_ingests_into_one_library(samples, tmp_path):
    lib = tmp_path / "lib"
    names = ["talk", "match", "silent", "ad"]
    a = [str(sample_path(samples, n)) for n in names[:3]]
    b = [str(sample_path(samples, n)) for n in names[1:]]  # overlaps: match, silent
    procs = [
        subprocess.Popen([sys.executable, "-m", "vstream", "ingest", "-L", str(lib), "--json", *files],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        for files in (a, b)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    results = [r for out, _ in outputs for r in json.loads(out)["results"]]
    assert sum(r["status"] == "ingested" for r in results) == 4
    assert sum(r["status"] == "skipped" for r in results) == 2
    videos = vstream_json("list", "-L", str(lib))["videos"]
    assert sorted(v["id"] for v in videos) == sorted(names)
    assert len(list((lib / "media").iterdir())) == 4
    for v in videos:
        assert null_decode(playlist_of(lib, v["id"])).returncode == 0


def _av_offset(path: Path) -> float:
    """First video frame time minus first audio sample time.

    ffprobe for MPEG-TS and plain MP4 (where ffmpeg applies the edit lists as the standard says);
    the boxes themselves for vstream's fMP4, whose CMAF timing ffmpeg misreads (see media_checks).
    """
    if path.suffix == ".m3u8" and (path.parent / "media.m4s").exists():
        init, segments = byte_ranges(path)
        data = (path.parent / "media.m4s").read_bytes()
        start = fragment_starts(data[init[1] : init[1] + init[0]], data[init[0] :])
        return start["video"] - start["audio"]
    streams = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,start_time", "-of", "json", str(path)],
        capture_output=True, text=True,
    ).stdout)["streams"]  # fmt: skip
    start = {s["codec_type"]: float(s["start_time"]) for s in streams}
    return start["video"] - start["audio"]


@pytest.mark.parametrize("fmt", ["fmp4", "ts"])
def test_audio_video_sync_is_the_sources(samples, tmp_path, fmt):
    """B-frame sources are shifted by their reordering delay when muxed; audio must move with video."""
    lib = tmp_path / "lib"
    src = sample_path(samples, "talk")
    vstream("ingest", "-L", str(lib), "--format", fmt, str(src), check=True)
    assert vstream_json("info", "talk", "-L", str(lib))["stream"]["video"]["codec"] == "h264"
    assert _av_offset(playlist_of(lib, "talk")) == pytest.approx(_av_offset(src), abs=0.025)  # < one AAC frame


def test_a_stream_copied_cut_with_a_preroll_edit_ingests_and_plays(samples, tmp_path):
    """`ffmpeg -ss 9 -i talk.mp4 -t 8 -c copy` keeps the GOP before 9 s as discarded pre-roll (an edit list)."""
    cut = tmp_path / "cut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", "9", "-i", str(sample_path(samples, "talk")), "-t", "8",
                    "-c", "copy", str(cut)], check=True)  # fmt: skip
    lib = tmp_path / "lib"
    result = vstream_json("ingest", "-L", str(lib), str(cut))
    assert result["ingested"] == 1, result
    info = vstream_json("info", "cut", "-L", str(lib))
    assert info["keyframes"][0] == 0.0 and 8.0 <= info["duration"] <= 9.0  # -t with -c copy ends on a packet
    assert decode_duration(playlist_of(lib, "cut")) == pytest.approx(info["duration"], abs=0.04)
