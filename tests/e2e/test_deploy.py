"""docs/deploy.md's nginx configuration, run for real: nginx serves the segments, vstream the manifests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import m3u8
import pytest

from tests.conftest import ROOT
from tests.e2e.test_serve import Server, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def stack(indexed_library, tmp_path, request):
    """nginx (docs/deploy.md's configuration) in front of `vstream serve` started with the test's params."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is required (make setup installs Debian's nginx)")
    lib = tmp_path / "lib"
    shutil.copytree(indexed_library, lib)
    vstream = Server(lib, ROOT / "recipes", *getattr(request, "param", ()))
    port = free_port()
    conf = re.search(r"```nginx\n(.*?)```", (ROOT / "docs" / "deploy.md").read_text(), re.S).group(1)
    conf = (conf.replace("/srv/vstream-library", str(lib)).replace("127.0.0.1:8642", f"127.0.0.1:{vstream.port}")
            .replace("listen 8080", f"listen 127.0.0.1:{port}").replace("user www-data;", ""))  # fmt: skip
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "nginx.conf").write_text(conf)
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g",
                             f"daemon off; master_process off; pid {prefix}/nginx.pid; error_log stderr;"],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/api/recipes", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"nginx exited: {proc.stderr.read()}")
            time.sleep(0.1)
    yield base, lib
    proc.terminate()
    proc.wait(timeout=10)
    vstream.stop()


def get(url: str, headers: dict | None = None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
        return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()


def test_nginx_serves_segments_and_proxies_personal_manifests(stack):
    base, lib = stack
    status, headers, body = get(base + "/streams/highlights/master.m3u8?user=u42&topic=a%20cat")
    assert status == 200 and headers["cache-control"] == "private, max-age=60"  # vstream's, through the proxy
    video = get(base + "/streams/highlights/" + m3u8.loads(body.decode()).playlists[0].uri)[2].decode()
    seg = m3u8.loads(video).segments[0]
    length, offset = (int(x) for x in seg.byterange.split("@"))
    status, headers, data = get(base + seg.uri, {"Range": f"bytes={offset}-{offset + length - 1}"})
    raw = (lib / seg.uri[seg.uri.index("/media/") + 1 :]).read_bytes()[offset:offset + length]
    assert status == 206 and len(data) == length  # raw, or rebased: the same bytes but for the fragments' timing
    status, headers, data = get(base + seg.uri[seg.uri.index("/media/"):], {"Range": f"bytes={offset}-{offset + length - 1}"})
    assert status == 206 and data == raw
    assert headers["server"].startswith("nginx") and headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "video/iso.segment"


@pytest.mark.browser
def test_a_stream_plays_through_nginx_in_hlsjs(stack, hls_player):
    base, _ = stack
    played = hls_player.play(base + "/streams/demo/master.m3u8?user=u1", timeout=60, rate=8.0)
    played.assert_played(expected_duration=16.0, tolerance=0.1)
    assert any(r.startswith("206 ") and "/media/" in r for r in played.requests)


SECRET, ADMIN = "deploy-secret", "deploy-admin-token-0123"


@pytest.mark.parametrize("stack", [("--secret", SECRET, "--admin-token", ADMIN)], indirect=True)
def test_behind_nginx_only_the_admin_token_mints_links(stack):
    """docs/deploy.md's setup: the API that signs links is reachable through nginx, but only with the token."""
    base, _ = stack
    for headers in ({}, {"Authorization": "Bearer guessed-token-0123456"}):
        with pytest.raises(urllib.error.HTTPError) as refused:
            get(base + "/api/link?recipe=demo&user=u1", headers)
        assert refused.value.code == 401
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        get(base + "/streams/demo/master.m3u8?user=u1")
    assert unsigned.value.code == 403
    link = json.loads(get(base + "/api/link?recipe=demo&user=u1", {"Authorization": f"Bearer {ADMIN}"})[2])["url"]
    status, _, master = get(base + link)
    assert status == 200 and m3u8.loads(master.decode()).playlists
