"""A live event through `vstream serve`: hls.js follows it to its end; a clip asked too early is 425."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_serve import Server
from tests.integration.test_live import udp_event

pytestmark = pytest.mark.browser


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
