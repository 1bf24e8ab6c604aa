"""Ingest inputs made the way cameras, phones, recorders and uploads make them.

Each case is generated with ffmpeg the way such files come about (Matroska from a
recorder, MPEG-TS from a camcorder, audio that starts late, an upload cut off
mid-file, extra audio and subtitle tracks) and checked for what a user sees: the
picture ingested bit-exact with the right times, or a refusal in one line.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sample_path, vstream, vstream_json
from tests.media_checks import decode_duration, ffprobe_json, null_decode, video_frame_hashes

FF = ["ffmpeg", "-v", "error", "-y"]
PICTURE = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=8"]
TONE = ["-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:duration=8"]
X264_BFRAMES = ["-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "25", "-pix_fmt", "yuv420p"]


def make(path: Path, *args: str) -> Path:
    subprocess.run([*FF, *args, str(path)], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("realworld")
    out: dict[str, Path] = {}
    out["mkv"] = make(d / "recorder.mkv", *PICTURE, *TONE, *X264_BFRAMES, "-c:a", "aac")
    out["mts"] = make(d / "camcorder.mts", "-i", str(out["mkv"]), "-c", "copy", "-f", "mpegts")
    # audio that begins 2 s after the picture (a recorder that joined the audio late)
    out["late"] = make(d / "late.mp4", *PICTURE, "-itsoffset", "2", "-f", "lavfi", "-i",
                       "sine=f=440:sample_rate=48000:duration=6", "-map", "0:v", "-map", "1:a",
                       *X264_BFRAMES, "-c:a", "aac")  # fmt: skip
    whole = make(d / "whole.mp4", *PICTURE, *TONE, *X264_BFRAMES, "-c:a", "aac", "-movflags", "+faststart")
    data = whole.read_bytes()
    out["cut"] = d / "half-uploaded.mp4"
    out["cut"].write_bytes(data[: len(data) * 4 // 10])  # the index is at the front: it still opens
    srt = d / "subs.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nHello\n")
    out["tracks"] = make(d / "two-languages.mp4", *PICTURE, *TONE, "-f", "lavfi", "-i",
                         "sine=f=880:sample_rate=48000:duration=8", "-i", str(srt),
                         "-map", "0", "-map", "1", "-map", "2", "-map", "3", *X264_BFRAMES, "-c:a", "aac",
                         "-c:s", "mov_text", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=spa",
                         "-metadata:s:s:0", "language=eng")  # fmt: skip
    return out


def playlist(lib: Path, video_id: str) -> Path:
    return Path(vstream_json("info", video_id, "-L", str(lib))["playlist"])


@pytest.mark.parametrize("name", ["mkv", "mts"])
def test_recorder_and_camcorder_files_ingest_bit_exact(inputs, tmp_path, name):
    """Matroska stores no decode times (B-frames must not read as time going backwards);
    MPEG-TS carries AAC as ADTS, which MP4 cannot hold as it is."""
    lib = tmp_path / "lib"
    result = vstream_json("ingest", "-L", str(lib), str(inputs[name]))
    assert result["ingested"] == 1, result
    video_id = result["results"][0]["id"]
    hls = playlist(lib, video_id)
    assert video_frame_hashes(hls) == video_frame_hashes(inputs[name])
    assert decode_duration(hls) == pytest.approx(8.0, abs=0.05)
    assert null_decode(hls).stderr == ""  # the audio decodes too
    assert vstream_json("info", video_id, "-L", str(lib))["probe"]["audio"]["codec"] == "aac"


def test_audio_starting_late_ingests_with_its_start_recorded(inputs, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(inputs["late"]), check=True)
    info = vstream_json("info", "late", "-L", str(lib))
    hls = Path(info["playlist"])
    assert video_frame_hashes(hls) == video_frame_hashes(inputs["late"])
    assert info["duration"] == pytest.approx(8.0, abs=0.05)
    # the keyframes before the audio begins share one range; every one after it is a clip start
    assert info["keyframes"][0] == 0.0 and 3.0 in info["keyframes"] and 7.0 in info["keyframes"]
    audio = ffprobe_json("-select_streams", "a", "-show_packets", "-read_intervals", "%+#1", str(hls))["packets"][0]
    assert float(audio["pts_time"]) == pytest.approx(2.0, abs=0.05)


@pytest.mark.slow
def test_transcript_of_late_audio_is_on_the_video_clock(indexed_library, samples, tmp_path):
    """The same speech 2 s later in the file is transcribed 2 s later (captions, search moments)."""
    talk = sample_path(samples, "talk")
    late = make(tmp_path / "late-talk.mp4", "-i", str(talk), "-itsoffset", "2", "-i", str(talk),
                "-map", "0:v", "-map", "1:a", "-c", "copy", "-t", str(samples["videos"]["talk"]["duration"]))  # fmt: skip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(late), check=True)
    vstream("index", "-L", str(lib), "--only", "speech", check=True, timeout=600)
    on_time = json.loads(vstream("transcript", "talk", "-L", str(indexed_library), "--format", "json", check=True).stdout)
    shifted = json.loads(vstream("transcript", "late-talk", "-L", str(lib), "--format", "json", check=True).stdout)
    pairs = [(a, b) for a in on_time for b in shifted if a["text"] == b["text"]]
    assert len(pairs) >= 2, (on_time, shifted)
    for a, b in pairs:
        assert b["start"] - a["start"] == pytest.approx(2.0, abs=0.15), (a, b)


def test_a_cut_off_upload_is_refused_unless_allowed(inputs, tmp_path):
    lib = tmp_path / "lib"
    proc = vstream("ingest", "-L", str(lib), str(inputs["cut"]))
    assert proc.returncode == 1
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("failed")]
    assert len(line) == 1 and "of the 8.0s its header declares" in line[0] and "--allow-truncated" in line[0]
    assert vstream_json("list", "-L", str(lib))["videos"] == []
    result = vstream_json("ingest", "-L", str(lib), "--allow-truncated", str(inputs["cut"]))
    entry = result["results"][0]
    assert entry["status"] == "ingested" and "truncated" in entry["message"]
    assert entry["duration"] < 6
    assert null_decode(playlist(lib, entry["id"])).returncode == 0


def test_extra_tracks_left_out_are_named(inputs, tmp_path):
    lib = tmp_path / "lib"
    entry = vstream_json("ingest", "-L", str(lib), str(inputs["tracks"]))["results"][0]
    assert entry["status"] == "ingested"
    assert "left out audio #2 (spa, aac), subtitle #3 (eng, mov_text)" in entry["message"]


def test_a_folder_reports_the_files_it_passes_over(inputs, tmp_path):
    folder = tmp_path / "incoming"
    (folder / "music").mkdir(parents=True)
    (folder / "clip.mkv").write_bytes(inputs["mkv"].read_bytes())
    (folder / "music" / "song.m4a").write_bytes(b"\0" * 100)
    (folder / "notes.txt").write_text("shot list")
    (folder / ".DS_Store").write_bytes(b"\0")
    result = vstream_json("ingest", "-L", str(tmp_path / "lib"), str(folder))
    assert (result["ingested"], result["ignored"], result["failed"]) == (1, 2, 0)
    ignored = {Path(r["path"]).name: r["message"] for r in result["results"] if r["status"] == "ignored"}
    assert set(ignored) == {"song.m4a", "notes.txt"} and "(.m4a)" in ignored["song.m4a"]
    text = vstream("ingest", "-L", str(tmp_path / "lib"), str(folder))
    assert text.returncode == 0 and "ignored  " in text.stderr and "2 ignored" in text.stderr


def test_ids_never_change_on_re_ingest_and_ignored_options_are_named(inputs, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(inputs["mkv"]), check=True)
    entry = vstream_json("ingest", "-L", str(lib), str(inputs["mkv"]), "--id", "other", "--format", "ts")["results"][0]
    assert entry["status"] == "skipped" and entry["id"] == "recorder"
    assert "ignored --id other, --format ts" in entry["message"] and "vstream rename" in entry["message"]
    proc = vstream("ingest", "-L", str(lib), str(inputs["mkv"]), "--id", "other", "--force")
    assert proc.returncode == 1 and "never renames" in proc.stderr
    assert [v["id"] for v in vstream_json("list", "-L", str(lib))["videos"]] == ["recorder"]


@pytest.fixture(scope="module")
def hevc(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hevc")
    return make(d / "phone-hevc.mp4", *PICTURE, *TONE, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                "log-level=error", "-tag:v", "hvc1", "-pix_fmt", "yuv420p", "-c:a", "aac")  # fmt: skip


def test_master_playlists_declare_their_codecs_and_a_mix_is_reported(inputs, hevc, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(inputs["mkv"]), str(hevc), check=True)
    recipe = tmp_path / "mix.yaml"
    recipe.write_text("version: 1\nname: mix\nclips:\n  - video: recorder\n    duration: 4\n  - video: phone-hevc\n")
    result = vstream_json("compose", str(recipe), "-L", str(lib))
    master = Path(result["master"]).read_text()
    codecs = re.search(r'CODECS="([^"]+)"', master).group(1).split(",")
    assert codecs[0].startswith("avc1.64") and codecs[1].startswith("hvc1.1.") and codecs[2] == "mp4a.40.2"
    assert "RESOLUTION=320x180" in master
    assert any("mix H.264 and HEVC" in w for w in result["warnings"])
    one = tmp_path / "one.yaml"
    one.write_text("version: 1\nname: one\nclips:\n  - video: recorder\n")
    master = Path(vstream_json("compose", str(one), "-L", str(lib))["master"]).read_text()
    assert re.search(r'CODECS="avc1\.64[0-9a-f]{4},mp4a\.40\.2"', master), master


@pytest.mark.browser
def test_the_page_says_which_codec_the_browser_cannot_play(hevc, tmp_path, hls_player):
    from tests.e2e.test_serve import Server

    lib, recipes = tmp_path / "lib", tmp_path / "recipes"
    recipes.mkdir()
    vstream("ingest", "-L", str(lib), str(hevc), check=True)
    (recipes / "phone.yaml").write_text("version: 1\nname: phone\nclips:\n  - video: phone-hevc\n")
    server = Server(lib, recipes)
    page = hls_player.browser.new_page()
    try:
        supported = page.evaluate("MediaSource.isTypeSupported('video/mp4; codecs=\"hvc1.1.6.L63.90\"')")
        page.goto(server.base + "/?play=/streams/phone/master.m3u8", wait_until="load")
        if supported:  # a Chromium with an HEVC decoder plays it: nothing to warn about
            page.wait_for_function("() => window.vstream.state === 'playing'", timeout=30_000)
        else:
            page.wait_for_function("() => window.vstream.error === 'codecs'", timeout=30_000)
            assert "no decoder for HEVC (H.265)" in page.inner_text("#now")
    finally:
        page.close()
        server.stop()


def test_clips_on_sparse_keyframes_report_both_ends_and_can_stay_inside(tmp_path):
    """On 4 s GOPs a clip grows to whole keyframe intervals (and says so); inside/nearest keep it close."""
    sparse = make(tmp_path / "sparse.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=20",
                  "-c:v", "libx264", "-preset", "veryfast", "-g", "100", "-keyint_min", "100", "-sc_threshold", "0")  # fmt: skip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sparse), check=True)

    def compose(snap: str, start: float, duration: float) -> tuple:
        recipe = tmp_path / f"{snap}.yaml"
        recipe.write_text(f"version: 1\nname: {snap}\nsnap: {snap}\nclips:\n  - video: sparse\n"
                          f"    start: {start}\n    duration: {duration}\n")  # fmt: skip
        result = vstream_json("compose", str(recipe), "-L", str(lib))
        clip = result["clips"][0]
        return clip["start"], clip["end"], clip["snap_error"], clip["end_snap_error"], result["warnings"]

    start, end, early, late, warnings = compose("outside", 11, 2)  # 11-13s: all of it is in 8-16s
    assert (start, end, early, late) == (8.0, 16.0, 3.0, 3.0)
    assert any("starts 3.00s early and ends 3.00s late" in w for w in warnings), warnings
    assert compose("inside", 6, 9)[:4] == (8.0, 12.0, -2.0, -3.0)  # 6-15s: the intervals inside it
    assert compose("inside", 9, 5)[:2] == (8.0, 12.0)  # no interval fits in 9-14s: the nearest keyframes
    assert compose("nearest", 9, 5)[:2] == (8.0, 12.0)
    assert compose("outside", 1, 6)[4] == []  # within a second of each end: nothing to report


def test_a_phone_clip_is_shown_upright_and_rendered_that_way(tmp_path):
    """A portrait phone video stores landscape pixels and a 90° display matrix."""
    landscape = make(tmp_path / "pixels.mp4", *PICTURE, "-t", "4", *X264_BFRAMES)
    phone = make(tmp_path / "phone.mp4", "-i", str(landscape), "-c", "copy", "-metadata:s:v:0", "rotate=90")
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(phone), check=True)
    info = vstream_json("info", "phone", "-L", str(lib))
    assert (info["resolution"], info["orientation"], info["rotation"]) == ("180x320", "portrait", 90)
    assert vstream_json("list", "-L", str(lib))["videos"][0]["resolution"] == "180x320"
    assert video_frame_hashes(Path(info["playlist"])) == video_frame_hashes(phone)  # the pixels are untouched
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nname: r\nclips:\n  - video: phone\n")
    master = vstream_json("compose", str(recipe), "-L", str(lib))["master"]
    assert "RESOLUTION=180x320" in Path(master).read_text()
    out = vstream_json("render", master, "--out", str(tmp_path / "upright.mp4"))["output"]
    stream = ffprobe_json("-select_streams", "v", "-show_streams", out)["streams"][0]
    assert (stream["width"], stream["height"]) == (180, 320)
    gray = subprocess.run(["ffmpeg", "-v", "error", "-i", out, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray",
                           "-"], capture_output=True, check=True).stdout  # fmt: skip
    top = gray[5 * 180 : 6 * 180]  # a row near the top: picture when turned upright, black bars when squeezed
    assert sum(top) / len(top) > 40, sum(top) / len(top)


@pytest.mark.slow
def test_a_long_uncut_shot_becomes_bounded_search_moments(tmp_path):
    """A 2.5-minute single shot (a fixed camera) is found as parts of 30 s (to the next keyframe), each sampled."""
    from tests.integration.test_index import rows

    shot = make(tmp_path / "fixed-camera.mp4", "-f", "lavfi", "-i",
                "color=c=0x336699:s=320x180:d=150,noise=alls=20:allf=t,drawbox=x=100:y=60:w=80:h=40:c=orange:t=fill",
                "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-pix_fmt", "yuv420p")  # fmt: skip
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(shot), check=True)
    vstream("index", "-L", str(lib), "--only", "scenes", "--no-ocr", check=True, timeout=600)
    scenes = rows(lib, "scenes", "fixed-camera")
    assert len(scenes) == 5 and all(s["end"] - s["start"] <= 31.0 for s in scenes)  # 1 s GOPs
    assert [s["row_id"].endswith("+") for s in scenes] == [False, True, True, True, True]  # one shot, no cuts inside
    gaps = [b - a for s in scenes for a, b in zip(s["frame_times"], s["frame_times"][1:])]
    assert all(len(s["frame_times"]) >= 3 for s in scenes) and max(gaps) <= 15.0  # about every 10 s (spread evenly), not 32 s
    moments = vstream_json("search", scenes[2]["labels"].split(",")[0], "-L", str(lib), "--limit", "10")["moments"]
    assert moments and all(m["end"] - m["start"] <= 31.0 for m in moments)


def test_open_gops_are_continued_through_but_never_started_at(tmp_path):
    """An open-GOP I-frame's leading B-frames reference the GOP before: a clip that starts there fails to
    decode (Chromium stops: "Failed to send video packet for decoding"), so clips start only where a GOP closes."""
    source = make(tmp_path / "broadcast.mkv", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=50:duration=8",
                  "-c:v", "libx264", "-preset", "veryfast", "-bf", "3", "-g", "100", "-x264-params", "open_gop=1",
                  "-pix_fmt", "yuv420p")  # fmt: skip
    lib = tmp_path / "lib"
    result = vstream_json("ingest", "-L", str(lib), str(source))["results"][0]
    starts = re.search(r"open GOPs: clips can start at (\d+) of its 4 keyframes", result["message"])
    assert starts and int(starts.group(1)) < 4, result
    folder = tmp_path / "recipes"
    folder.mkdir()
    starts = set()
    for at in (0, 2, 4, 6):  # every keyframe of the source (-g 100 at 50 fps)
        (folder / f"r{at}.yaml").write_text(f"version: 1\nname: r{at}\nclips:\n  - video: broadcast\n"
                                            f"    start: {at}\n    duration: 2\n")  # fmt: skip
        composed = vstream_json("compose", str(folder / f"r{at}.yaml"), "-L", str(lib))
        starts.add(composed["clips"][0]["start"])
        assert null_decode(Path(composed["master"])).stderr == "", at  # no reference to a GOP that is not there
    assert len(starts) < 4  # clips asked to start at an open GOP started at the closed one before it
