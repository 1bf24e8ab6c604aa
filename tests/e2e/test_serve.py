"""`vstream serve` as users run it (a real process on loopback): manifests, segments, API, security, page."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import m3u8
import pytest

from tests.conftest import ROOT
from vstream.serve import signing
from vstream.serve.app import IMMUTABLE

SECRET = "test-secret"
ADMIN = "admin-token-0123456789"  # what minting signed links takes on the signed server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, lib: Path | str, recipes: Path | None, *args: str, env: dict | None = None, cwd: Path = ROOT):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        where = ["--recipes", str(recipes)] if recipes else []
        self.proc = subprocess.Popen([sys.executable, "-m", "vstream", "serve", "-L", str(lib), *where,
                                      "--port", str(self.port), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=cwd, env=os.environ | (env or {}))  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise AssertionError(f"vstream serve exited: {self.proc.stderr.read()}")
                time.sleep(0.1)
        raise AssertionError("vstream serve did not start within 30 s")

    def get(self, path: str, headers: dict | None = None, data: bytes | None = None) -> tuple[int, dict, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {}, data=data)
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def json(self, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        headers = ({"content-type": "application/json"} if data else {}) | ({"authorization": f"Bearer {token}"} if token else {})
        status, _, raw = self.get(path, headers, data)
        return status, json.loads(raw)

    def stop(self) -> str:
        self.proc.terminate()
        try:
            _, stderr = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        return stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory, indexed_library):
    root = tmp_path_factory.mktemp("serve")
    lib = root / "lib"
    shutil.copytree(indexed_library, lib)
    (lib / "media" / "escape").symlink_to("/etc")  # a symlink pointing out of the library
    recipes = root / "recipes"
    shutil.copytree(ROOT / "recipes", recipes)
    plain = Server(lib, recipes)
    signed = Server(lib, recipes, "--secret", SECRET, "--admin-token", ADMIN)
    yield plain, signed, lib
    plain.stop()
    signed.stop()


def test_a_personal_manifest_is_composed_per_request_and_cached_privately(served):
    server, _, lib = served
    status, headers, body = server.get("/streams/highlights/master.m3u8?user=u42&topic=a%20cat")
    assert status == 200 and headers["content-type"] == "application/vnd.apple.mpegurl"
    assert headers["cache-control"] == "private, max-age=60"
    master = m3u8.loads(body.decode())
    assert master.playlists[0].uri == "video.m3u8?user=u42&topic=a%20cat"  # the children keep user and vars
    _, _, video = server.get("/streams/highlights/" + master.playlists[0].uri)
    other = server.get("/streams/highlights/video.m3u8?user=u7&topic=the%20rocket%20launch")[2]
    assert video != other  # personal: another topic picks other moments
    segments = m3u8.loads(video.decode()).segments
    # the library's shared segments: raw, or rebased onto the stream's timeline (the same bytes but for timing)
    assert segments and all(s.uri.startswith(("/media/", "/r/")) and "/media/" in s.uri for s in segments)
    assert server.get("/streams/highlights/master.m3u8?user=u42&topic=a%20cat")[2] == body


def test_a_changed_recipe_is_composed_again(served, tmp_path):
    server, _, _ = served
    recipes = Path(server.proc.args[server.proc.args.index("--recipes") + 1])
    (recipes / "fresh.yaml").write_text("version: 1\nname: fresh\nclips:\n  - video: talk\n    start: 0\n    duration: 8\n")
    first = server.get("/streams/fresh/video.m3u8?user=u1")[2]
    time.sleep(0.01)
    (recipes / "fresh.yaml").write_text("version: 1\nname: fresh\nclips:\n  - video: match\n    start: 0\n    duration: 8\n")
    second = server.get("/streams/fresh/video.m3u8?user=u1")[2]
    assert b"/media/talk-" in first and b"/media/match-" in second  # not the cached one


def test_segments_have_ranges_etags_and_immutable_caching(served):
    server, _, lib = served
    video = server.get("/streams/demo/video.m3u8?user=u1")[2].decode()
    seg = m3u8.loads(video).segments[0]
    length, offset = (int(x) for x in seg.byterange.split("@"))
    status, headers, data = server.get(seg.uri, {"Range": f"bytes={offset}-{offset + length - 1}"})
    assert status == 206 and len(data) == length
    media = seg.uri[seg.uri.index("/media/") + 1 :]
    raw = (lib / media).read_bytes()[offset:offset + length]
    assert data == raw if seg.uri.startswith("/media/") else len(data) == len(raw)
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-type"] == "video/iso.segment" and headers["accept-ranges"] == "bytes"
    status, _, _ = server.get(seg.uri, {"If-None-Match": headers["etag"]})
    assert status == 304
    status, headers, data = server.get("/" + media, {"Range": f"bytes={offset}-{offset + length - 1}"})
    assert status == 206 and data == raw  # the raw file, as nginx or a CDN serves it
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert server.get("/" + media, {"If-None-Match": headers["etag"]})[0] == 304


@pytest.mark.parametrize("path", [
    "/media/../catalog.sqlite", "/media/%2e%2e/catalog.sqlite", "/media/%2E%2E%2Flibrary.json", "/media//etc/passwd",
    "/media/escape/passwd", "/thumbs/../../catalog.sqlite", "/streams/..%2F..%2Fetc/master.m3u8",
    "/streams/highlights/..%2F..%2Fcatalog.sqlite", "/reels/%2e%2e/master.m3u8", "/static/../app.py",
])  # fmt: skip
def test_paths_from_urls_never_escape_the_library(served, path):
    server, _, _ = served
    status, _, body = server.get(path)
    assert status in (400, 404), (status, body[:200])
    assert b"root:" not in body and b"SQLite" not in body


def test_unknown_recipe_is_404_and_bad_values_are_400_with_the_message(served):
    server, _, _ = served
    status, body = server.json("/streams/nope/master.m3u8")
    assert status == 404 and "no recipe 'nope'" in body["error"]
    status, body = server.json("/streams/highlights/master.m3u8?user=bad%20user")
    assert status == 400 and "invalid user id" in body["error"]
    status, body = server.json("/streams/previously_on/master.m3u8?user=u1&series=no-such-series")
    assert status == 400 and "no video has tags {'series': 'no-such-series'" in body["error"], body
    status, body = server.json("/api/search?q=")
    assert status == 400 and "empty query" in body["error"]


def test_signed_urls_guard_manifests_and_leave_segments_public(served):
    _, server, _ = served
    status, body = server.json("/streams/demo/master.m3u8?user=u1")
    assert status == 403 and "signed" in body["error"]
    status, link = server.json("/api/link?recipe=highlights&user=u42&topic=a%20cat", token=ADMIN)
    assert status == 200 and "sig=" in link["url"]
    status, _, master = server.get(link["url"])
    assert status == 200
    child = m3u8.loads(master.decode()).playlists[0].uri
    status, _, video = server.get("/streams/highlights/" + child)  # the signature travels to the children
    assert status == 200
    assert server.get(link["url"].replace("user=u42", "user=u43"))[0] == 403  # another user
    assert server.get(link["url"].replace("topic=a+cat", "topic=a+dog"))[0] == 403  # other vars
    past = int(time.time()) - 10
    sig = signing.sign(SECRET, "recipe:highlights", "u42", {"topic": "a cat"}, past)
    status, body = server.json(f"/streams/highlights/master.m3u8?user=u42&topic=a%20cat&exp={past}&sig={sig}")
    assert status == 403 and "expired" in body["error"]
    segment = m3u8.loads(video.decode()).segments[0].uri
    assert server.get(segment, {"Range": "bytes=0-99"})[0] == 206  # segments need no token


def test_only_the_admin_token_mints_signed_links(served):
    _, server, _ = served
    for token in (None, "wrong-token-0123456789"):
        status, body = server.json("/api/link?recipe=highlights&user=u42", token=token)
        assert status == 401 and "admin token" in body["error"] and "sig=" not in json.dumps(body)
        status, body = server.json("/api/reels", {"clips": [{"video_id": "talk", "start": 0, "end": 8}]}, token=token)
        assert status == 401 and "url" not in body
    status, reel = server.json("/api/reels", {"clips": [{"video_id": "talk", "start": 0, "end": 8}]}, token=ADMIN)
    assert status == 200 and "sig=" in reel["url"] and server.get(reel["url"])[0] == 200


def test_a_signed_server_without_an_admin_token_mints_nothing(indexed_library):
    server = Server(indexed_library, ROOT / "recipes", "--secret", SECRET)
    try:
        status, body = server.json("/api/link?recipe=highlights&user=u42")
        assert status == 403 and "--admin-token" in body["hint"]
    finally:
        server.stop()


def test_answers_never_show_where_the_server_keeps_its_files(served):
    server, _, lib = served
    recipes = server.proc.args[server.proc.args.index("--recipes") + 1]
    answers = [server.get("/api/search?q=a%20rocket%20launch&limit=3")[2], server.get("/api/videos")[2],
               server.get("/streams/nope/master.m3u8")[2], server.get("/api/reels", {"content-type": "application/json"},
               json.dumps({"clips": [{"video_id": "nope", "start": 0, "end": 1}]}).encode())[2]]  # fmt: skip
    for body in answers:
        text = body.decode()
        assert str(lib) not in text and recipes not in text and str(ROOT) not in text, text[:300]
    moment = json.loads(answers[0])["moments"][0]
    assert moment["thumbnail"].startswith("index/thumbs/")


def test_serve_without_a_recipes_folder_still_searches(indexed_library, tmp_path):
    server = Server(indexed_library, None, cwd=tmp_path)  # no ./recipes there
    try:
        status, body = server.json("/api/search?q=a%20rocket%20launch&limit=1")
        assert status == 200 and body["moments"]
        assert server.json("/api/recipes") == (200, {"recipes": []})
    finally:
        stderr = server.stop()
    assert "no ./recipes folder" in stderr


def test_a_port_in_use_fails_before_serving(indexed_library):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "vstream", "serve", "-L", str(indexed_library), "--recipes",
                               str(ROOT / "recipes"), "--port", str(port)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 7 and f"port {port}" in proc.stderr and "serving" not in proc.stderr


def test_search_api_returns_moments_with_thumbnails_it_serves(served):
    server, _, _ = served
    status, body = server.json("/api/search?q=a%20rocket%20launch&limit=3")
    assert status == 200 and body["moments"][0]["video_id"] == "talk"
    status, headers, image = server.get(body["moments"][0]["thumbnail_url"])
    assert status == 200 and headers["content-type"] == "image/jpeg" and image[:2] == b"\xff\xd8"
    status, body = server.json("/api/recipes")
    assert {"highlights", "ad_breaks", "previously_on"} <= {r["name"] for r in body["recipes"]}
    status, reel = server.json("/api/reels", {"clips": [{"video_id": "talk", "start": 0, "end": 8}], "user": "u1"})
    assert status == 200 and reel["duration"] == 8.0 and reel["url"].startswith("/reels/")
    status, body = server.json("/api/reels", {"clips": [{"video_id": "nope", "start": 0, "end": 8}]})
    assert status == 404 and "no video 'nope'" in body["error"]


def test_binding_beyond_loopback_warns(indexed_library, tmp_path):
    server = Server(indexed_library, ROOT / "recipes", "--host", "0.0.0.0")
    stderr = server.stop()
    assert "warning: serving on 0.0.0.0" in stderr and "unsigned" in stderr


# --- the page, in a real browser ------------------------------------------------------------------


@pytest.fixture
def browser(hls_player):
    """The session's one Chromium (Playwright's sync API allows one driver per thread)."""
    return hls_player.browser


def open_page(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.base + "/", wait_until="load")
    return page


@pytest.mark.browser
def test_the_page_searches_and_a_click_plays_the_moment(served, browser):
    server, _, _ = served
    page = open_page(browser, server)
    page.fill("#q", "a cat")
    page.click("#search button")
    page.wait_for_selector("#results .card", timeout=30_000)
    cards = page.query_selector_all("#results .card")
    assert cards and cards[0].get_attribute("data-video") == "talk"
    page.wait_for_function("() => [...document.querySelectorAll('#results img')].every(i => i.complete && i.naturalWidth > 0)")
    cards[0].click()
    page.wait_for_function("() => document.getElementById('video').currentTime > 1", timeout=30_000)
    assert page.evaluate("window.vstream.state") == "playing"
    assert page.evaluate("document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames") > 10
    page.close()


@pytest.mark.browser
def test_a_branded_reel_plays_to_the_end_with_its_overlay_and_captions(served, browser):
    server, _, _ = served
    page = open_page(browser, server)
    page.fill("#q", "rocket launch")
    page.click("#search button")
    page.wait_for_selector("#results .card input")
    for box in page.query_selector_all("#results .card input")[:2]:
        box.check()
    page.select_option("#brand-position", "top-right")
    page.fill("#brand-opacity", "0.85")
    page.check("#captions")
    page.click("#make-reel")
    page.wait_for_function("() => window.vstream.state === 'playing'", timeout=30_000)
    assert page.evaluate("window.vstream.overlays[0]") == {"opacity": 0.85, "position": "top-right", "scale": 0.2}
    # the overlay sits in the stage's top-right corner at 85 % opacity: check it in the pixels
    page.evaluate("() => document.getElementById('video').pause()")
    page.wait_for_function("() => !document.getElementById('overlay').hidden")
    stage = page.query_selector("#stage").bounding_box()
    logo = page.query_selector("#overlay").bounding_box()
    assert logo["x"] + logo["width"] == pytest.approx(stage["x"] + stage["width"] * 0.98, abs=2)
    assert logo["y"] == pytest.approx(stage["y"] + stage["width"] * 0.02, abs=2)
    assert page.evaluate("getComputedStyle(document.getElementById('overlay')).opacity") == "0.85"
    cx, cy = logo["x"] + logo["width"] / 2, logo["y"] + logo["height"] / 2
    shown = _pixel(page.screenshot(clip={"x": cx, "y": cy, "width": 1, "height": 1}))
    page.evaluate("() => document.getElementById('overlay').style.visibility = 'hidden'")
    under = _pixel(page.screenshot(clip={"x": cx, "y": cy, "width": 1, "height": 1}))
    page.evaluate("() => document.getElementById('overlay').style.visibility = ''")
    from PIL import Image

    with Image.open(ROOT / "recipes" / "logo.png") as img:
        rgba = img.convert("RGBA").getpixel((img.width // 2, img.height // 2))
    alpha = 0.85 * rgba[3] / 255
    expected = [alpha * rgba[i] + (1 - alpha) * under[i] for i in range(3)]
    assert all(abs(e - s) <= 12 for e, s in zip(expected, shown)), (rgba, under, shown)
    # a caption cue with the spoken words is showing while they are said
    page.evaluate("() => { const v = document.getElementById('video'); v.currentTime = 2; }")
    page.wait_for_function("() => { const t = document.getElementById('video').textTracks[0];"
                           " return t && t.mode === 'showing' && t.activeCues && t.activeCues.length > 0; }", timeout=30_000)
    cue = page.evaluate("document.getElementById('video').textTracks[0].activeCues[0].text")
    assert "rocket launch" in cue.lower()
    page.evaluate("() => { const v = document.getElementById('video'); v.playbackRate = 4; v.play(); }")
    page.wait_for_function("() => window.vstream.state === 'ended'", timeout=60_000)
    page.close()


def _pixel(png: bytes) -> tuple[int, int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        return img.convert("RGB").getpixel((0, 0))


def test_page_assets_are_served(served):
    server, _, _ = served
    status, headers, _ = server.get("/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    status, headers, body = server.get("/static/hls.min.js")
    assert status == 200 and b"Hls" in body[:100_000]


def test_rebased_fragments_change_only_their_timing_and_bad_shifts_are_refused(served):
    server, _, lib = served
    video = server.get("/streams/demo/video.m3u8?user=u1")[2].decode()
    segments = m3u8.loads(video).segments
    rebased = [s for s in segments if s.uri.startswith("/r/")]
    assert len(rebased) == len(segments) and "#EXT-X-DISCONTINUITY" not in video  # one video: one timeline
    seg = rebased[0]  # talk 8-16 s at 0 s: moved 8 s back
    length, offset = (int(x) for x in seg.byterange.split("@"))
    status, headers, body = server.get(seg.uri, {"Range": f"bytes={offset}-{offset + length - 1}"})
    raw = (lib / seg.uri.split("/", 4)[4]).read_bytes()[offset : offset + length]
    assert status == 206 and len(body) == length and headers["cache-control"] == IMMUTABLE
    changed = [i for i, (a, b) in enumerate(zip(body, raw)) if a != b]
    moofs, at = [], 0  # the fragments' header boxes in the range; everything else is sample data
    while at + 8 <= len(raw):
        size = int.from_bytes(raw[at : at + 4], "big")
        if raw[at + 4 : at + 8] == b"moof":
            moofs.append((at, at + size))
        at += size
    assert changed and all(any(a <= i < b for a, b in moofs) for i in changed)  # mfhd and tfdt, never samples
    from vstream.media.fmp4 import tfdt_fields

    video_tfdt = next(v for t, _, _, v in tfdt_fields(body[: int.from_bytes(body[:4], "big")]) if t == 1)
    assert video_tfdt == 0  # the clip now starts where it plays: at 0 s
    media = seg.uri.split("/", 4)[4]
    bad = {f"/r/abc/0/{media}": 400, f"/r/-9999999999/0/{media}": 400, "/r/0/0/media/../catalog.sqlite": 404,
           "/r/0/0/media/escape/passwd": 404, f"/r/0/0/{media.replace('.m4s', '.ts')}": 404}  # fmt: skip
    for path, code in bad.items():
        got, _, answer = server.get(path, {"Range": f"bytes={offset}-{offset + 99}"})
        assert got == code and b"root:" not in answer, (path, got)
    assert server.get(f"/r/0/0/{media}")[0] == 400  # rebased media is served by byte range only
    assert server.get(f"/r/0/0/{media}", {"Range": "bytes=999999999-"})[0] == 404


def test_whole_segment_resources_carry_the_parameter_sets_and_refuse_what_is_not_whole_fragments(served, tmp_path):
    server, _, lib = served
    from vstream.library import Library
    from vstream.media.fmp4 import fragment_index

    media, other = (next((lib / "media").glob(f"{v}-*/media.m4s")) for v in ("talk", "match"))
    path = media.relative_to(lib).as_posix()
    index = fragment_index(media)
    (_, first), (_, second) = index.ranges[:2]
    span = f"{first.offset}+{first.length + second.length}p"  # two whole fragments with SPS/PPS, 4 s later
    status, headers, body = server.get(f"/r/360000/0/{span}/{path}")
    raw = media.read_bytes()
    assert status == 200 and headers["cache-control"] == IMMUTABLE
    # after another video's init section (720p), as a player that keeps the first one reads it: talk's frames
    match_init = fragment_index(other).init
    mixed = tmp_path / "mixed.mp4"
    mixed.write_bytes(other.read_bytes()[match_init.offset : match_init.offset + match_init.length] + body)
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=width,height",
                            "-of", "csv=p=0", str(mixed)], capture_output=True, text=True)  # fmt: skip
    talk = Library.open(lib).get("talk").meta["probe"]["video"]
    frames = [f.strip(",") for f in probe.stdout.split()]
    assert not probe.stderr and frames and set(frames) == {f"{talk['width']},{talk['height']}"}, probe.stderr[:300]
    status, _, init = server.get(f"/r/init/{path}")
    assert status == 200 and init == raw[index.init.offset : index.init.offset + index.init.length]
    status, _, led = server.get(f"/r/360000/0/{span}i/{path}")  # the first segment after a change of video
    assert status == 200 and led == init + body
    for bad, code in {f"/r/0/0/{first.offset + 1}+{first.length}/{path}": 404,  # not a fragment's start
                      f"/r/0/0/{first.offset}+{first.length - 1}/{path}": 404,  # not its end
                      f"/r/0/0/12ab/{path}": 400, "/r/0/0/0+10/media/../catalog.sqlite": 404,
                      "/r/init/media/escape/passwd": 404}.items():  # fmt: skip
        got, _, answer = server.get(bad)
        assert got == code and b"root:" not in answer, (bad, got)
