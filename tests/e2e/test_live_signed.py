"""A server with a secret hands out live events only by signed links, like recipe streams."""

from __future__ import annotations

import urllib.parse

from tests.e2e.test_serve import Server
from tests.integration.test_live import udp_event


def test_live_manifests_need_a_signed_link_that_only_the_admin_token_mints(tmp_path):
    lib = tmp_path / "lib"
    rec, sender = udp_event(lib, "final", 10, 2)
    server = Server(lib, None, "--secret", "s3cret-for-the-live-tests", "--admin-token", "admin-token-for-the-tests")
    try:
        status, _, body = server.get("/live/final/index.m3u8")
        assert status == 403 and b"signed" in body  # no link, no playlist
        assert server.get("/live/final/clip.m3u8?last=4")[0] == 403
        status, minted = server.json("/api/link?live=final&user=ana")
        assert status == 401  # minting a grant needs the admin token
        status, minted = server.json("/api/link?live=final&user=ana", token="admin-token-for-the-tests")
        assert status == 200 and minted["url"].startswith("/live/final/index.m3u8?")
        status, headers, body = server.get(minted["url"])
        assert status == 200 and body.startswith(b"#EXTM3U") and headers["cache-control"].startswith("private")
        query = dict(urllib.parse.parse_qsl(minted["url"].split("?", 1)[1]))
        forged = urllib.parse.urlencode(query | {"user": "bob"})
        assert server.get(f"/live/final/index.m3u8?{forged}")[0] == 403  # the signature is the user's
        status, clip = server.json("/api/link?live=final&user=ana&last=2", token="admin-token-for-the-tests")
        assert clip["url"].startswith("/live/final/clip.m3u8?")
        assert server.get(clip["url"])[0] in (200, 425)  # a grant for that clip (425 until it is recorded)
        wider = clip["url"].replace("last=2", "last=600")
        assert server.get(wider)[0] == 403  # a link grants the clip it names, not a longer one
        assert server.json("/api/link?live=nosuch&user=ana", token="admin-token-for-the-tests")[0] == 404
    finally:
        sender.kill()
        rec.terminate()
        rec.communicate(timeout=60)
        server.stop()
