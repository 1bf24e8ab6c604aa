"""A live event through `vstream serve` in the client families besides hls.js (tests/e2e/test_live_serve.py):
ffmpeg, GStreamer playbin3 and VLC follow the growing EVENT playlist to EXT-X-ENDLIST, an instant clip
of it plays whole in ffmpeg, playbin and playbin3, and an event's highlights in all four.

GStreamer's legacy playbin (hlsdemux) is not asked to follow the live playlist: in 1 of 3 tries on this
machine it stopped at a playlist refresh (7 s into a 16 s event) and never reached the end; it plays the
ended event and its clips whole.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import pytest

from tests.e2e.test_serve import Server
from tests.integration.test_live import udp_event
from tests.support import players

pytestmark = pytest.mark.skipif(not players.available()["gstreamer"], reason="GStreamer is not installed")


def whole(played: players.Played, start: float, end: float, fps: int = 25) -> None:
    """Every frame from ``start`` to ``end`` (player time), once, in order, without a decoder error."""
    assert not played.errors, played.errors[:3]
    assert not played.stalls, played.stalls[:3]
    assert len(played.frames) == round((end - start) * fps), (len(played.frames), played.frames[:1], played.frames[-1:])
    assert played.frames[0] == pytest.approx(start, abs=0.05) and played.frames[-1] == pytest.approx(end - 1 / fps, abs=0.05)


def test_ffmpeg_playbin3_and_vlc_follow_a_live_event_to_its_end_and_its_clips_play_whole(tmp_path):
    if shutil.which("gst-inspect-1.0"):  # a fresh machine builds GStreamer's plugin registry on first use
        subprocess.run(["gst-inspect-1.0", "playbin3"], capture_output=True, timeout=600)
    lib = tmp_path / "lib"
    rec, sender = udp_event(lib, "match", 16, 2)
    server = Server(lib, None)
    try:
        live = f"{server.base}/live/match/index.m3u8"
        played: dict[str, players.Played] = {}
        followers = [threading.Thread(target=lambda: played.__setitem__("playbin3", players.gstreamer(live, "playbin3", 120)))]
        if players.available()["vlc"]:
            followers.append(threading.Thread(target=lambda: played.__setitem__("vlc", players.vlc(live, rate=1.0, timeout=120))))
        for follower in followers:
            follower.start()
        played["ffmpeg"] = players.ffmpeg(live)  # all start while the event is two fragments (4 s) long
        for follower in followers:
            follower.join()
        out, errors = rec.communicate(timeout=60)
        assert rec.returncode == 0, errors
        duration = json.loads(out)["duration"]
        assert duration >= 14
        offset = played["ffmpeg"].frames[0] if played["ffmpeg"].frames else 0.0  # ffmpeg's timeline starts at the first packet's time
        whole(played["playbin3"], 0.0, duration)
        if "vlc" in played:  # VLC reports no frames: it followed to ENDLIST (at 1x) without a demuxer error
            assert not played["vlc"].errors and played["vlc"].wall >= (duration - 4) * 0.9, (played["vlc"].errors[:3], played["vlc"].wall)
        whole(played["ffmpeg"], offset, offset + duration)
        clip = f"{server.base}/live/match/clip.m3u8?from=2&to=12"
        for element in ("playbin", "playbin3"):
            got = players.gstreamer(clip, element)  # (running time: from where the player starts it)
            whole(got, got.frames[0] if got.frames else 0.0, (got.frames[0] if got.frames else 0.0) + 10.0)
        status, _, body = server.get("/live/match/clip.m3u8?loudest=4")  # a steady tone: anywhere
        assert status == 200 and 2 <= body.count(b"#EXTINF") <= 3 and b"#EXT-X-ENDLIST" in body  # 4 s on the 2 s grid
        status, _, body = server.get("/live/match/clip.m3u8?loudest=soon")
        assert status == 400 and b"seconds" in body
        got = players.ffmpeg(clip)
        whole(got, got.frames[0] if got.frames else 0.0, (got.frames[0] if got.frames else 0.0) + 10.0)
    finally:
        sender.kill()
        if rec.poll() is None:
            rec.kill()
        server.stop()


def test_an_events_highlights_play_whole_in_ffmpeg_playbin_playbin3_and_vlc(tmp_path):
    """Two roars 30 s apart: two highlights with recorded time between them, behind a discontinuity."""
    lib = tmp_path / "lib"
    rec, sender = udp_event(lib, "final", 56, 1, roars=((10, 11), (40, 41)))
    try:
        out, errors = rec.communicate(timeout=150)
    finally:
        sender.kill()
    assert rec.returncode == 0, errors
    server = Server(lib, None)
    try:
        url = f"{server.base}/live/final/highlights.m3u8"
        status, _, body = server.get("/live/final/highlights.m3u8")
        text = body.decode()
        assert status == 200 and text.count("#EXT-X-DISCONTINUITY") == 1 and text.endswith("#EXT-X-ENDLIST\n")
        total = sum(float(line[8:].split(",")[0]) for line in text.splitlines() if line.startswith("#EXTINF:"))
        assert 30 <= total < 56  # two clips, not the whole event
        for name, played in (("ffmpeg", players.ffmpeg(url)), ("playbin", players.gstreamer(url, "playbin")),
                             ("playbin3", players.gstreamer(url, "playbin3"))):  # fmt: skip
            assert not played.errors and not played.stalls, (name, played.errors[:3], played.stalls[:3])
            assert len(played.frames) == round(total * 25), (name, len(played.frames), total)  # every frame, once
        if players.available()["vlc"]:
            played = players.vlc(url, rate=4.0)
            assert not played.errors and played.wall >= total / 4 * 0.8, (played.errors[:3], played.wall)
    finally:
        server.stop()
