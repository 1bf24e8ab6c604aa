"""Self-tests for the hls.js browser harness (tests/support/hlsplayer.py).

They prove the harness is honest: real byte-range HLS (MPEG-TS and fMP4)
plays to the end in hls.js in headless Chromium, broken playlists are
reported as failures quickly, and the static server answers Range requests
with exactly the requested bytes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixtures (hls_player) come from tests.support.fixtures, which tests/conftest.py
# registers via pytest_plugins (it also puts the repo root on sys.path).
from tests.support.hlsplayer import HLSJS_DIR, HlsPlayer, PlayResult, serve_directory

browser = pytest.mark.browser

DURATION = 6.0
FPS = 25
SEGMENT_TYPES = {"mpegts": "ts", "fmp4": "m4s"}
BYTERANGE_RE = re.compile(r"#EXT-X-BYTERANGE:(\d+)@(\d+)\s*\n(\S+)")
MAP_RE = re.compile(r'#EXT-X-MAP:URI="([^"]+)",BYTERANGE="(\d+)@(\d+)"')


def _ffmpeg_hls(out_dir: Path, segment_type: str) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg not found on PATH (apt-get install ffmpeg)")
    out_dir.mkdir(parents=True)
    playlist = out_dir / "stream.m3u8"
    cmd = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate={FPS}:duration={DURATION}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={DURATION}",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(FPS), "-preset", "veryfast",
        "-c:a", "aac", "-b:a", "64k",
        "-f", "hls", "-hls_time", "0.01", "-hls_flags", "single_file",
        "-hls_playlist_type", "vod", "-hls_segment_type", segment_type,
        str(playlist),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, timeout=120)
    return playlist


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/<mpegts|fmp4>/stream.m3u8 (+ one media file) and broken variants."""
    root = tmp_path_factory.mktemp("hls-media")
    for segment_type, ext in SEGMENT_TYPES.items():
        playlist = _ffmpeg_hls(root / segment_type, segment_type)
        text = playlist.read_text()
        media = f"stream.{ext}"
        lines = text.splitlines()
        seg_idx = [i for i, line in enumerate(lines) if line == media]
        # One missing segment in the middle of the stream ...
        mid = list(lines)
        mid[seg_idx[2]] = f"missing.{ext}"
        (playlist.parent / "broken_mid.m3u8").write_text("\n".join(mid) + "\n")
        # ... and every segment missing.
        everything = [f"missing.{ext}" if i in seg_idx else line for i, line in enumerate(lines)]
        (playlist.parent / "broken_all.m3u8").write_text("\n".join(everything) + "\n")
    (root / "subs.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    (root / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(16))
    return root


@pytest.fixture(scope="module")
def base_url(media_root: Path) -> Iterator[str]:
    with serve_directory(media_root) as url:
        yield url


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


# --------------------------------------------------------------------------
# (a) real byte-range playlists play to the end
# --------------------------------------------------------------------------


@browser
@pytest.mark.parametrize("segment_type", list(SEGMENT_TYPES))
def test_byterange_stream_plays_to_end(
    hls_player: HlsPlayer, media_root: Path, base_url: str, segment_type: str
) -> None:
    ext = SEGMENT_TYPES[segment_type]
    playlist = media_root / segment_type / "stream.m3u8"
    text = playlist.read_text()
    # Precondition: a single media file addressed by EXT-X-BYTERANGE, ~1 s per segment.
    assert sorted(p.name for p in playlist.parent.glob("stream.*")) == ["stream.m3u8", f"stream.{ext}"]
    ranges = BYTERANGE_RE.findall(text)
    assert len(ranges) == 6 and {uri for _, _, uri in ranges} == {f"stream.{ext}"}, text
    assert "#EXT-X-ENDLIST" in text

    result = hls_player.play(f"{base_url}/{segment_type}/stream.m3u8", timeout=30, rate=4.0)

    assert result.ended, result.summary()
    assert not result.fatal_errors, result.summary()
    assert not result.timed_out, result.summary()
    assert result.duration == pytest.approx(DURATION, abs=0.1), result.summary()
    assert result.current_time == pytest.approx(result.duration, abs=0.1), result.summary()
    assert result.decoded_frames > 0, result.summary()
    assert result.decoded_frames >= 0.8 * DURATION * FPS, result.summary()
    # Playback really ran at the requested rate: 6 s of media in well under 6 s.
    stamps = {}
    for event in result.events:
        m = re.match(r"([\d.]+)s video (playing|ended) ", event)
        if m:
            stamps.setdefault(m.group(2), float(m.group(1)))
    assert stamps["ended"] - stamps["playing"] < DURATION / 2, result.summary()
    result.assert_played(expected_duration=DURATION)

    # hls.js really fetched the media by byte range and got 206 partial responses.
    media_requests = [r for r in result.requests if f"/stream.{ext} " in r]
    assert media_requests, result.requests
    for entry in media_requests:
        assert entry.startswith("206 GET ") and "range=bytes=" in entry, result.requests


# --------------------------------------------------------------------------
# (b) broken playlists fail fast and loudly
# --------------------------------------------------------------------------


@browser
@pytest.mark.parametrize(
    "path",
    [
        "mpegts/broken_mid.m3u8",
        "mpegts/broken_all.m3u8",
        "fmp4/broken_mid.m3u8",
        "fmp4/broken_all.m3u8",
        "mpegts/no_such_playlist.m3u8",
    ],
)
def test_broken_playlist_reports_error(hls_player: HlsPlayer, base_url: str, path: str) -> None:
    result = hls_player.play(f"{base_url}/{path}", timeout=15, rate=4.0)

    assert not result.ended, result.summary()
    assert result.errors, result.summary()
    assert result.fatal_errors, result.summary()
    assert any("404" in e for e in result.fatal_errors), result.summary()
    assert not result.timed_out, result.summary()
    assert result.wall_time < 10, result.summary()
    with pytest.raises(AssertionError):
        result.assert_played()


@browser
def test_timeout_is_not_reported_as_ended(hls_player: HlsPlayer, base_url: str) -> None:
    # At 1x the 6 s stream cannot finish within 1 s: the harness must say so.
    result = hls_player.play(f"{base_url}/fmp4/stream.m3u8", timeout=1.0, rate=1.0)

    assert result.timed_out, result.summary()
    assert not result.ended, result.summary()
    assert result.current_time < DURATION - 1, result.summary()
    assert result.wall_time < 15, result.summary()


# --------------------------------------------------------------------------
# (c) the static server: Range requests and MIME types
# --------------------------------------------------------------------------


@pytest.mark.parametrize("segment_type", list(SEGMENT_TYPES))
def test_server_answers_playlist_byteranges_exactly(
    media_root: Path, base_url: str, segment_type: str
) -> None:
    folder = media_root / segment_type
    text = (folder / "stream.m3u8").read_text()
    ranges = [(int(n), int(o), uri) for n, o, uri in BYTERANGE_RE.findall(text)]
    ranges += [(int(n), int(o), uri) for uri, n, o in MAP_RE.findall(text)]
    assert len(ranges) >= 6
    for length, offset, uri in ranges:
        data = (folder / uri).read_bytes()
        end = offset + length - 1
        status, headers, body = _get(
            f"{base_url}/{segment_type}/{uri}", {"Range": f"bytes={offset}-{end}"}
        )
        assert status == 206
        assert headers["content-range"] == f"bytes {offset}-{end}/{len(data)}"
        assert int(headers["content-length"]) == length
        assert body == data[offset : end + 1]


def test_server_range_edge_cases_and_mime_types(media_root: Path, base_url: str) -> None:
    data = (media_root / "mpegts" / "stream.ts").read_bytes()
    size = len(data)
    url = f"{base_url}/mpegts/stream.ts"

    status, headers, body = _get(url)
    assert (status, body) == (200, data)
    assert headers["accept-ranges"] == "bytes"

    status, headers, body = _get(url, {"Range": "bytes=0-0"})
    assert (status, body, headers["content-range"]) == (206, data[:1], f"bytes 0-0/{size}")

    status, _, body = _get(url, {"Range": "bytes=-100"})  # suffix range
    assert (status, body) == (206, data[-100:])

    status, _, body = _get(url, {"Range": f"bytes={size - 10}-"})  # open-ended
    assert (status, body) == (206, data[-10:])

    status, _, body = _get(url, {"Range": f"bytes={size - 10}-{size + 1000}"})  # clamped end
    assert (status, body) == (206, data[-10:])

    status, headers, _ = _get(url, {"Range": f"bytes={size}-{size + 10}"})
    assert status == 416
    assert headers["content-range"] == f"bytes */{size}"

    assert _get(f"{base_url}/mpegts/nope.ts")[0] == 404

    expected = {
        "mpegts/stream.m3u8": "application/vnd.apple.mpegurl",
        "mpegts/stream.ts": "video/mp2t",
        "fmp4/stream.m4s": "video/iso.segment",
        "clip.mp4": "video/mp4",
        "subs.vtt": "text/vtt",
        "_harness/player.html": "text/html",
    }
    if (HLSJS_DIR / "hls.min.js").is_file():
        expected["_harness/hls.js/hls.min.js"] = "text/javascript"
    for path, content_type in expected.items():
        status, headers, _ = _get(f"{base_url}/{path}", {"Range": "bytes=0-3"})
        assert status == 206, path
        assert headers["content-type"].split(";")[0] == content_type, path


def test_server_shuts_down(media_root: Path) -> None:
    with serve_directory(media_root) as url:
        assert _get(f"{url}/subs.vtt")[0] == 200
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/subs.vtt", timeout=2)


def test_a_stall_with_media_buffered_ahead_is_the_machines_not_the_streams() -> None:
    slow = ('hls: fatal=false type=mediaError details=bufferStalledError error=Playback stalling at @43.9 '
            'due to low buffer ({"len":30.05,"start":0,"end":74})')
    hole = ('hls: fatal=false type=mediaError details=bufferStalledError error=Playback stalling at @12.0 '
            'due to low buffer ({"len":0.02,"start":0,"end":12.02})')
    result = PlayResult(ended=True, current_time=74, duration=74, decoded_frames=1, errors=[slow, hole])
    assert result.stream_errors == [hole]
