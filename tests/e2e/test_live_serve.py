"""A live event through `vstream serve`: hls.js follows it to its end; a clip asked too early is 425."""

from __future__ import annotations

import json

import pytest

from tests.conftest import sample_path, vstream
from tests.e2e.test_serve import Server
from tests.integration.test_live import sample_event, udp_event
from tests.support import players

pytestmark = pytest.mark.browser


def published(server: Server, path: str) -> tuple[int, dict, bytes]:
    """A growing playlist asked for too early is 425 Too Early with Retry-After; then, within a minute, it is there."""
    import time

    status, headers, body = server.get(path)
    assert status == 425 and b"not yet" in body and int(headers["retry-after"]) >= 1
    deadline = time.monotonic() + 60
    while server.get(path)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    return server.get(path)


def stalls_only_between_blocks(played, playlist: str) -> None:
    """hls.js waited (ran out of buffer) only where a block of the playlist ends: a discontinuity, or the
    date of a highlight that follows on from the one before (the next may not be found yet)."""
    ends, t = [], 0.0
    for line in playlist.splitlines():
        if line.startswith(("#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME")):
            ends.append(t)
        elif line.startswith("#EXTINF:"):
            t += float(line[8:].split(",")[0])
    for error in played.stream_errors:
        end = json.loads(error.split("due to low buffer (", 1)[1].rstrip(")"))["end"] if "low buffer (" in error else None
        assert end is not None and any(abs(end - e) < 0.1 for e in ends), played.summary()


def test_hlsjs_follows_a_live_event_to_its_end_and_clips_wait_for_their_fragments(tmp_path, hls_player):
    lib = tmp_path / "lib"
    rec, sender = udp_event(lib, "match", 24, 3)
    server = Server(lib, None)
    try:
        status, headers, body = server.get("/live/match/index.m3u8")
        assert status == 200 and headers["cache-control"] == "public, max-age=1" and b"#EXT-X-ENDLIST" not in body
        assert server.get("/live/match/event.json")[0] == 404  # the source's address and key stay private
        status, headers, body = server.get("/live/match/clip.m3u8?from=0&to=600")
        assert status == 425 and int(headers["retry-after"]) >= 1 and b"not yet" in body
        full = server.get("/live/match/index.m3u8")[2]
        status, _, over = server.get("/live/match/index.m3u8?start=2.5")  # start-over from 2.5 s: still growing
        ranges = [line for line in full.splitlines() if line.startswith(b"#EXT-X-BYTERANGE:")]
        assert status == 200 and b"#EXT-X-ENDLIST" not in over
        assert [line for line in over.splitlines() if line.startswith(b"#EXT-X-BYTERANGE:")][0] == ranges[1]  # 2-4 s
        status, _, body = server.get("/live/match/clip.m3u8?last=4")
        assert status == 200 and body.count(b"#EXTINF") >= 2 and b"#EXT-X-ENDLIST" in body
        played = hls_player.play(f"{server.base}/live/match/index.m3u8", timeout=90, rate=1.0)
        out, errors = rec.communicate(timeout=60)
        assert rec.returncode == 0, errors
        event = json.loads(out)
        played.assert_played(expected_duration=event["duration"], tolerance=0.15)  # it followed until ENDLIST
        assert not played.stream_errors, played.summary()
        status, headers, _ = server.get("/live/match/index.m3u8")
        assert headers["cache-control"] == "public, max-age=3600"
    finally:
        sender.kill()
        if rec.poll() is None:
            rec.kill()
        server.stop()


def test_hlsjs_plays_the_live_highlights_from_the_first_one_while_they_are_found(tmp_path, hls_player):
    import time

    lib = tmp_path / "lib"
    rec, sender = udp_event(lib, "cup", 44, 1, roars=((12, 13), (34, 35)))
    server = Server(lib, None)
    try:
        status, headers, body = published(server, "/live/cup/highlights.m3u8")
        assert status == 200 and headers["cache-control"] == "public, max-age=1" and b"#EXT-X-ENDLIST" not in body
        assert rec.poll() is None  # published while the event is on
        # the web page lists the event as live, and its highlights button plays them
        page = hls_player.browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.base + "/", wait_until="load")
        row = '#live li[data-event="cup"]'
        page.wait_for_selector(f"{row} button.highlights", timeout=15_000)
        assert "live" in page.inner_text(row) and page.is_visible(f"{row} button.watch")
        page.click(f"{row} button.highlights")
        page.wait_for_function("() => window.vstream.state === 'playing' && document.getElementById('video').currentTime > 1",
                               timeout=30_000)  # fmt: skip
        assert page.evaluate("window.vstream.url").startswith("/live/cup/highlights.m3u8")
        page.close()
        played = hls_player.play(f"{server.base}/live/cup/highlights.m3u8", timeout=120, rate=1.0)
        out, errors = rec.communicate(timeout=60)
        assert rec.returncode == 0, errors
        final = server.get("/live/cup/highlights.m3u8")[2].decode()
        listed = sum(float(line[8:].split(",")[0]) for line in final.splitlines() if line.startswith("#EXTINF:"))
        assert final.count("#EXT-X-PROGRAM-DATE-TIME") == 2 and final.endswith("#EXT-X-ENDLIST\n")  # two highlights
        assert final.count("#EXT-X-DISCONTINUITY") <= 1  # none where the second follows on from the first
        # from the first highlight (not the live edge) to the last one's end: every second of both
        played.assert_played(expected_duration=listed, tolerance=0.15)
        assert played.decoded_frames >= 0.95 * listed * 25, played.summary()  # 25 fps: all of it was shown
        # a viewer who catches up with the highlights waits for the next one: a stall is allowed only
        # at the end of a highlight (everything published was buffered), never inside one
        stalls_only_between_blocks(played, final)
    finally:
        sender.kill()
        if rec.poll() is None:
            rec.kill()
        server.stop()


def test_a_fans_stream_of_archive_then_live_highlights_plays_while_it_grows_and_whole_everywhere(tmp_path, samples, hls_player):
    """The headline use case: a recipe with an archive clip, then a live game's highlights as they are found."""
    import time

    lib = tmp_path / "lib"
    vstream("ingest", str(sample_path(samples, "ad")), "-L", str(lib), check=True)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "fan.yaml").write_text("version: 1\nname: fan\nvars:\n  game: cup\nclips:\n"
                                      "  - video: ad\n    start: 0\n    duration: 6\n  - live: '{{game}}'\n")  # fmt: skip
    rec, sender = udp_event(lib, "cup", 44, 1, roars=((12, 13), (34, 35)))
    server = Server(lib, recipes)
    url = f"{server.base}/streams/fan/master.m3u8?user=ana"
    try:
        status, headers, body = published(server, "/streams/fan/video.m3u8?user=ana")  # (6 s of archive: too short before)
        assert status == 200 and headers["cache-control"] == "private, max-age=1" and b"#EXT-X-ENDLIST" not in body
        assert rec.poll() is None  # published while the game is on
        played = hls_player.play(url, timeout=120, rate=1.0)  # from the archive clip, then each highlight
        out, errors = rec.communicate(timeout=60)
        assert rec.returncode == 0, errors
        final = server.get("/streams/fan/video.m3u8?user=ana")[2].decode()
        assert final.startswith(body.decode()) and final.endswith("#EXT-X-ENDLIST\n")  # it only grew
        assert final.count("#EXT-X-PROGRAM-DATE-TIME") == 3  # archive | first highlight | second highlight
        assert 1 <= final.count("#EXT-X-DISCONTINUITY") <= 2  # (the second may follow on from the first)
        listed = sum(float(line[8:].split(",")[0]) for line in final.splitlines() if line.startswith("#EXTINF:"))
        played.assert_played(expected_duration=listed, tolerance=0.15)
        assert played.decoded_frames >= 0.95 * listed * 25, played.summary()
        stalls_only_between_blocks(played, final)
        if not players.available()["gstreamer"]:
            return
        # served on one timeline: the players that keep the first init section play it whole too
        for name, got in (("ffmpeg", players.ffmpeg(url)), ("playbin", players.gstreamer(url, "playbin")),
                          ("playbin3", players.gstreamer(url, "playbin3"))):  # fmt: skip
            assert not got.errors and not got.stalls, (name, got.errors[:3], got.stalls[:3])
            assert len(got.frames) == round(listed * 25), (name, len(got.frames), listed)  # every frame, once
            assert all(b > a for a, b in zip(got.frames, got.frames[1:])), name  # in order: time never goes back
            if got.sound_starts is not None:  # lip sync (ffmpeg): the archive's B-frame clip starts with its sound
                assert abs(got.frames[0] - got.sound_starts) <= 0.025, (name, got.frames[0], got.sound_starts)
        if players.available()["vlc"]:
            got = players.vlc(url, rate=4.0)
            assert not got.errors and got.wall >= listed / 4 * 0.8, (got.errors[:3], got.wall)
    finally:
        sender.kill()
        if rec.poll() is None:
            rec.kill()
        server.stop()


def test_the_page_finds_a_scoreboard_in_a_live_event_and_plays_it_as_an_instant_clip(tmp_path, samples, hls_player):
    """Search on the page while the event is on: the live moment is marked live, cannot join a reel,
    and a click plays the event's fragments from the moment's start."""
    import subprocess
    import sys
    import time

    lib = tmp_path / "lib"
    rec, sender = sample_event(lib, samples, "match", "game", "--no-highlights")
    follow = subprocess.Popen([sys.executable, "-m", "vstream", "index", "--follow", "game", "-L", str(lib), "--ocr",
                               "--whisper-model", "tiny.en"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    server = Server(lib, None)
    try:
        shown = lib / "live" / "game" / "onscreen.jsonl"
        deadline = time.monotonic() + 40
        while not (shown.exists() and "LIVERPOOL" in shown.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        status, found = server.json("/api/search?q=liverpool&mode=keyword")
        assert status == 200 and found["moments"][0]["live"] and found["moments"][0]["video_id"] == "game", found
        page = hls_player.browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.base + "/", wait_until="load")
        page.fill("#q", "liverpool")
        page.select_option("#mode", "keyword")
        page.click("#search button[type=submit]")
        card = page.wait_for_selector('#results li[data-video="game"]', timeout=15_000)
        assert "(live)" in card.inner_text() and "LIVERPOOL" in card.inner_text()
        assert page.is_disabled('#results li[data-video="game"] input[type=checkbox]')  # a reel takes library videos
        card.click()
        page.wait_for_function("() => window.vstream.state === 'playing' && document.getElementById('video').currentTime > 0.5",
                               timeout=30_000)  # fmt: skip
        assert page.evaluate("window.vstream.url").startswith("/live/game/clip.m3u8?")
        assert "from=8" in page.evaluate("window.vstream.url")
        assert rec.poll() is None  # all of it while the event is on
        page.close()
    finally:
        for proc in (sender, rec, follow):
            if proc.poll() is None:
                proc.kill()
        server.stop()
