"""The sample media set (sample_media/build.py) is what it claims to be.

Everything here is checked with ffprobe/ffmpeg against manifest.json, because the
manifest is the ground truth other tests and demos rely on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

try:
    from sample_media.build import VERSION, build
except ImportError:  # pytest run without the repo root on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from sample_media.build import VERSION, build

np = pytest.importorskip("numpy")

FFMPEG = shutil.which(os.environ.get("VSTREAM_FFMPEG") or "ffmpeg")
FFPROBE = shutil.which(os.path.join(os.path.dirname(FFMPEG), "ffprobe")) if FFMPEG else None
FFPROBE = FFPROBE or shutil.which("ffprobe")

pytestmark = pytest.mark.skipif(
    not (FFMPEG and FFPROBE and shutil.which("espeak-ng")),
    reason="needs ffmpeg, ffprobe and espeak-ng",
)

MAX_TOTAL_BYTES = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample_media") / "out"
    t0 = time.monotonic()
    manifest = build(out)
    return out, manifest, time.monotonic() - t0


def probe(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FFPROBE, "-v", "error", *args, str(path)], capture_output=True, text=True)


def probe_json(path: Path) -> dict:
    r = probe(path, "-show_format", "-show_streams", "-of", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def streams(info: dict, kind: str) -> list[dict]:
    return [s for s in info["streams"] if s["codec_type"] == kind]


def decode_audio(path: Path, rate: int = 8000):
    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
                          "-ar", str(rate), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, "<i2").astype(np.float64) / 32768.0


def rms_db(a) -> float:
    return 20 * np.log10(np.sqrt(np.mean(a ** 2)) + 1e-9)


def frame_at(path: Path, t: float, w: int, h: int):
    raw = subprocess.run([FFMPEG, "-v", "error", "-ss", f"{t}", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w)


def test_manifest_shape(built):
    out, manifest, _ = built
    assert manifest["version"] == VERSION
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert set(manifest["videos"]) == {"talk", "match", "silent", "ad", "legacy"}
    assert set(manifest["bad"]) == {"empty", "notavideo", "truncated", "audio_only"}
    for name, v in manifest["videos"].items():
        assert (out / v["file"]).is_file(), name
        assert v["fps"] == 25
        # scenes tile the video and cut on whole seconds
        assert v["scenes"][0]["start"] == 0 and v["scenes"][-1]["end"] == v["duration"]
        for a, b in zip(v["scenes"], v["scenes"][1:]):
            assert a["end"] == b["start"]
        for sc in v["scenes"]:
            assert sc["start"] == int(sc["start"]) and sc["caption"]
        # every utterance fits inside one scene, words are ordered and inside it
        for sp in v["speech"]:
            assert any(sc["start"] <= sp["start"] < sp["end"] <= sc["end"] for sc in v["scenes"]), sp
            words = sp["words"]
            assert [w["word"].lower() for w in words] == [
                t.strip(".,").lower() for t in sp["text"].split()]
            assert words[0]["start"] == sp["start"] and words[-1]["end"] == sp["end"]
            for w in words:
                assert w["start"] < w["end"]
            for a, b in zip(words, words[1:]):
                assert a["end"] < b["start"]
    match = manifest["videos"]["match"]
    assert match["onscreen_text"][0]["text"] == "MAN UTD 2 - 1 LIVERPOOL"
    assert len(match["loud_peaks"]) >= 2
    assert any(sp["text"] == "goal by player forty two" for sp in match["speech"])
    assert manifest["videos"]["ad"]["onscreen_text"][0]["text"] == "BUY FIZZY COLA"
    assert {sc["photo"] for sc in manifest["videos"]["talk"]["scenes"]} == {
        "rocket", "coffee", "chelsea", "astronaut"}


@pytest.mark.parametrize("name", ["talk", "match", "silent", "ad", "legacy"])
def test_streams_match_manifest(built, name):
    out, manifest, _ = built
    v = manifest["videos"][name]
    info = probe_json(out / v["file"])
    assert abs(float(info["format"]["duration"]) - v["duration"]) <= 0.1
    (vs,) = streams(info, "video")
    assert (vs["width"], vs["height"]) == (v["width"], v["height"])
    assert vs["r_frame_rate"] == "25/1"
    auds = streams(info, "audio")
    if name == "legacy":
        assert v["needs_transcode"] is True
        assert info["format"]["format_name"] == "avi"
        assert vs["codec_name"] == "mpeg4"
        assert auds and auds[0]["codec_name"] in ("mp3", "pcm_s16le")
    else:
        assert v["needs_transcode"] is False
        assert vs["codec_name"] == "h264" and vs["pix_fmt"] == "yuv420p"
        if v["has_audio"]:
            (a,) = auds
            assert a["codec_name"] == "aac" and a["profile"] == "LC"
            assert a["sample_rate"] == "48000"
    assert bool(auds) == v["has_audio"]


def test_silent_has_no_audio_stream(built):
    out, manifest, _ = built
    assert manifest["videos"]["silent"]["has_audio"] is False
    assert streams(probe_json(out / "silent.mp4"), "audio") == []


def test_talk_keyframe_every_second(built):
    out, manifest, _ = built
    r = probe(out / "talk.mp4", "-select_streams", "v", "-show_entries", "packet=pts_time,flags",
              "-of", "csv=p=0")
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.split()]
    key_times = [float(t) for t, flags in rows if "K" in flags]
    dur = manifest["videos"]["talk"]["duration"]
    assert key_times == pytest.approx([float(s) for s in range(int(dur))], abs=1e-3)
    # so every scene cut lands on a keyframe
    for sc in manifest["videos"]["talk"]["scenes"]:
        assert sc["start"] in key_times


def test_speech_is_where_the_manifest_says(built):
    out, manifest, _ = built
    rate = 8000
    for name in ("talk", "ad"):
        v = manifest["videos"][name]
        a = decode_audio(out / v["file"], rate)
        for sp in v["speech"]:
            inside = a[int(sp["start"] * rate): int(sp["end"] * rate)]
            before = a[int((sp["start"] - 0.4) * rate): int((sp["start"] - 0.1) * rate)]
            assert rms_db(inside) > -30, (name, sp["text"])
            assert rms_db(before) < rms_db(inside) - 30, (name, sp["text"])


def test_match_loud_peaks(built):
    out, manifest, _ = built
    rate = 8000
    v = manifest["videos"]["match"]
    a = decode_audio(out / v["file"], rate)
    hop = rate // 10
    levels = np.array([rms_db(a[i:i + hop]) for i in range(0, len(a) - hop + 1, hop)])
    quiet = np.median(levels)
    for p in v["loud_peaks"]:
        seg = levels[int(p["start"] * 10) + 1: int(p["end"] * 10) - 1]
        assert seg.min() > quiet + 10, p
    # the peaks are the loudest moments, louder than the commentary too, measured like
    # EBU R128 momentary loudness (400 ms windows, 100 ms hop)
    win = 4 * hop
    starts = range(0, len(a) - win + 1, hop)
    momentary = np.array([rms_db(a[i:i + win]) for i in starts])
    t0 = np.array([i / rate for i in starts])
    t1 = t0 + win / rate
    inside = np.zeros(len(t0), bool)      # window entirely within a peak
    touching = np.zeros(len(t0), bool)    # window overlaps a peak or its 100 ms ramps
    for p in v["loud_peaks"]:
        inside |= (t0 >= p["start"]) & (t1 <= p["end"])
        touching |= (t1 > p["start"] - 0.1) & (t0 < p["end"] + 0.1)
    assert momentary[~touching].max() < momentary[inside].min() - 3


def test_scoreboard_is_white_on_dark(built):
    out, manifest, _ = built
    v = manifest["videos"]["match"]
    ost = v["onscreen_text"][0]
    y = frame_at(out / v["file"], (ost["start"] + ost["end"]) / 2, v["width"], v["height"])
    band = y[v["height"] * 2 // 5: v["height"] * 3 // 5, v["width"] // 8: v["width"] * 7 // 8]
    assert (band > 200).mean() > 0.05     # plenty of white glyph pixels
    assert (band < 40).mean() > 0.5       # on a dark panel
    before = frame_at(out / v["file"], ost["start"] - 1, v["width"], v["height"])
    assert (before[v["height"] * 2 // 5: v["height"] * 3 // 5] > 200).mean() < 0.01


def test_bad_files_are_bad(built):
    out, manifest, _ = built
    bad = {k: out / p for k, p in manifest["bad"].items()}
    assert bad["empty"].stat().st_size == 0
    assert not bad["notavideo"].read_bytes().startswith(b"\x00")
    talk_size = (out / "talk.mp4").stat().st_size
    assert 0 < bad["truncated"].stat().st_size < talk_size * 0.5
    for key in ("empty", "notavideo", "truncated"):
        r = probe(bad[key], "-show_streams", "-of", "json")
        ok_streams = r.returncode == 0 and json.loads(r.stdout or "{}").get("streams")
        assert not ok_streams, f"ffprobe could read {key}: {r.stdout[:200]}"
    info = probe_json(bad["audio_only"])
    assert streams(info, "video") == []
    assert [s["codec_name"] for s in streams(info, "audio")] == ["aac"]


def test_total_size(built):
    out, _, _ = built
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total < MAX_TOTAL_BYTES


def test_no_leftovers_next_to_out(built):
    out, _, _ = built
    assert [p.name for p in out.parent.iterdir()] == ["out"]


def _snapshot(out: Path) -> dict:
    return {str(p.relative_to(out)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_rebuild_skipped_when_up_to_date(built):
    out, manifest, first_build_s = built
    before = _snapshot(out)
    t0 = time.monotonic()
    again = build(out)
    elapsed = time.monotonic() - t0
    assert again == manifest
    assert elapsed < 1.0, f"up-to-date rebuild took {elapsed:.2f}s (first build {first_build_s:.1f}s)"
    assert _snapshot(out) == before
