"""Play HLS playlists in hls.js inside a real headless Chromium.

Two building blocks for end-to-end tests:

* :func:`serve_directory` -- a loopback static file server (Starlette
  ``StaticFiles`` on uvicorn, in a background thread) with correct HTTP Range
  support and HLS MIME types.  It also serves the harness page and hls.js
  under ``/_harness/``.
* :func:`play_hls` / :class:`HlsPlayer` -- open the harness page in headless
  Chromium (via Playwright, using the system ``/usr/bin/chromium``), attach
  hls.js to a muted ``<video>``, play at an accelerated rate and report what
  happened as a :class:`PlayResult`.

The harness page and hls.js are injected by Playwright request routing at
``<playlist origin>/_harness/...``, so :func:`play_hls` also works for
playlists served by any other HTTP server (same origin as the playlist, so
no CORS set-up is needed).

Requirements: ``npm ci`` at the repository root (installs hls.js into
``node_modules/``), ``apt-get install chromium``, and the Python packages
``playwright``, ``starlette>=0.39`` (HTTP Range support), ``uvicorn``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUPPORT_DIR.parents[1]
PLAYER_HTML = SUPPORT_DIR / "player.html"
HLSJS_DIR = REPO_ROOT / "node_modules" / "hls.js" / "dist"

#: Where the harness assets live on the (served or routed) origin.
HARNESS_PREFIX = "/_harness"

CHROMIUM_PATH = os.environ.get("VSTREAM_TEST_CHROMIUM", "/usr/bin/chromium")

#: Limit for loading the harness page itself (not counted in ``play(timeout=...)``).
PAGE_LOAD_TIMEOUT = 30.0

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)

#: Content types by (lower-case) file suffix; anything else falls back to
#: Python's ``mimetypes`` (via Starlette).
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m3u": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
    ".webvtt": "text/vtt",
    ".key": "application/octet-stream",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".map": "application/json",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}


class HarnessUnavailable(RuntimeError):
    """A prerequisite of the browser harness (hls.js, Chromium, a Python package) is missing."""


def media_type_for(path: str | os.PathLike[str]) -> str | None:
    return MEDIA_TYPES.get(Path(path).suffix.lower())


def check_prerequisites(*, browser: bool = True) -> None:
    """Raise :class:`HarnessUnavailable` with install instructions if anything is missing.

    ``browser=False`` checks only what :func:`serve_directory` needs.
    """
    problems = []
    modules = ["starlette", "uvicorn"] + (["playwright"] if browser else [])
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            problems.append(f"Python package {module!r} missing: pip install -e '.[test]'")
    if browser and not (HLSJS_DIR / "hls.min.js").is_file():
        problems.append(
            f"hls.js is not installed ({HLSJS_DIR / 'hls.min.js'} missing): "
            f"run `npm ci` in {REPO_ROOT}"
        )
    if browser and not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        problems.append(
            f"Chromium not found at {CHROMIUM_PATH}: run `apt-get install chromium` "
            "(or set VSTREAM_TEST_CHROMIUM to a Chromium binary); "
            "`playwright install` is not needed and not used"
        )
    if problems:
        raise HarnessUnavailable("HLS browser harness unavailable:\n  - " + "\n  - ".join(problems))


# --------------------------------------------------------------------------
# Static file server
# --------------------------------------------------------------------------


def _build_app(root: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.datastructures import Headers
    from starlette.responses import FileResponse, Response
    from starlette.routing import Mount
    from starlette.staticfiles import NotModifiedResponse, StaticFiles

    if not hasattr(FileResponse, "_parse_range_header"):  # Range support: Starlette >= 0.39
        import starlette

        raise HarnessUnavailable(
            f"starlette {starlette.__version__} has no HTTP Range support; install starlette>=0.39"
        )

    class MediaStaticFiles(StaticFiles):
        """StaticFiles with HLS content types and no client-side caching."""

        def file_response(
            self,
            full_path: Any,
            stat_result: os.stat_result,
            scope: Any,
            status_code: int = 200,
        ) -> Response:
            response = FileResponse(
                full_path,
                status_code=status_code,
                stat_result=stat_result,
                media_type=media_type_for(full_path),
                headers={"cache-control": "no-store"},
            )
            if self.is_not_modified(response.headers, Headers(scope=scope)):
                return NotModifiedResponse(response.headers)
            return response

    routes = [
        Mount(f"{HARNESS_PREFIX}/hls.js", app=MediaStaticFiles(directory=HLSJS_DIR, check_dir=False)),
        Mount(HARNESS_PREFIX, app=MediaStaticFiles(directory=SUPPORT_DIR)),
        Mount("/", app=MediaStaticFiles(directory=root)),
    ]
    return Starlette(routes=routes)


@contextlib.contextmanager
def serve_directory(root: Path | str) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 (free port) in a background thread.

    Yields the base URL without trailing slash, e.g. ``http://127.0.0.1:41234``;
    ``root/a/b.m3u8`` is at ``f"{base_url}/a/b.m3u8"``.  Range requests get
    ``206`` with exactly the requested bytes.  The harness page is at
    ``{base_url}/_harness/player.html`` and hls.js at ``{base_url}/_harness/hls.js/``.
    """
    import uvicorn

    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(root)
    check_prerequisites(browser=False)
    app = _build_app(root)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    thread = threading.Thread(target=run, name=f"hls-static-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if errors or not thread.is_alive():
            sock.close()
            raise RuntimeError(f"static server failed to start: {errors!r}")
        if time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("static server did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        if thread.is_alive():  # pragma: no cover
            server.force_exit = True
            thread.join(timeout=5)


# --------------------------------------------------------------------------
# Browser player
# --------------------------------------------------------------------------


@dataclass
class PlayResult:
    """What the harness observed while playing one playlist."""

    ended: bool
    current_time: float
    duration: float
    decoded_frames: int
    #: Frames the element dropped (decoded too late to show, or skipped): 0 on a clean playback.
    dropped_frames: int = 0
    #: What each track buffered: ``{"video": [(start, end), ...], "audio": [...]}`` (seconds),
    #: read from hls.js's SourceBuffers (``media.buffered`` is only their intersection).
    buffered: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    #: The subtitle renditions hls.js found in the master: ``{"lang", "name", "default"}`` each.
    subtitle_tracks: list[dict] = field(default_factory=list)
    #: The element's text tracks at the end: ``{"language", "mode", "cues": [[start, end, text], ...]}``,
    #: with every cue a track held while playing (hls.js loads the cues of the showing track).
    text_tracks: list[dict] = field(default_factory=list)
    #: hls.js errors (``"hls: fatal=true|false type=... details=..."``), media
    #: element errors (``"media: ..."``), page errors (``"page: ..."``) and
    #: harness problems (``"harness: ..."``) in order of occurrence.
    errors: list[str] = field(default_factory=list)
    #: Timestamped log of media element and hls.js events.
    events: list[str] = field(default_factory=list)
    #: Every HTTP response the page got: ``"206 GET <url> range=bytes=0-99"``.
    requests: list[str] = field(default_factory=list)
    timed_out: bool = False
    wall_time: float = 0.0

    @property
    def fatal_errors(self) -> list[str]:
        """Errors that stop playback (everything except non-fatal hls.js errors)."""
        return [e for e in self.errors if "fatal=false" not in e]

    @property
    def stream_errors(self) -> list[str]:
        """Errors the stream caused: all of them except a stall with media buffered ahead.

        hls.js reports "Playback stalling ... due to low buffer" whenever the
        playhead stops for 250 ms, whatever the cause.  With a second or more
        buffered ahead of the playhead the stream has no hole there: the
        decoder fell behind (an accelerated rate on a busy machine).  A stall
        at a hole or at the buffer's end has almost nothing ahead and stays an error.
        """
        return [e for e in self.errors if _buffered_ahead(e) < SLOW_MACHINE_STALL]

    def summary(self) -> str:
        """Human-readable dump for assertion messages."""
        head = (
            f"ended={self.ended} current_time={self.current_time:.3f} "
            f"duration={self.duration:.3f} decoded_frames={self.decoded_frames} dropped={self.dropped_frames} "
            f"timed_out={self.timed_out} wall_time={self.wall_time:.2f}s"
        )
        head += "".join(f"\n{kind} buffered: " + " ".join(f"[{a:.3f}, {b:.3f}]" for a, b in r)
                        for kind, r in sorted(self.buffered.items()))
        errs = "\n  ".join(self.errors) or "(none)"
        evs = "\n  ".join(self.events[-60:]) or "(none)"
        return f"{head}\nerrors:\n  {errs}\nevents (last 60):\n  {evs}"

    def assert_played(self, expected_duration: float | None = None, tolerance: float = 0.1) -> None:
        """Assert the playlist played to its end without fatal errors."""
        problems = []
        if not self.ended:
            problems.append("did not reach 'ended'")
        if self.fatal_errors:
            problems.append("fatal errors")
        if self.decoded_frames <= 0:
            problems.append("no video frames decoded")
        if expected_duration is not None and not abs(self.duration - expected_duration) <= tolerance:
            problems.append(f"duration {self.duration:.3f} != {expected_duration:.3f} ± {tolerance}")
        if problems:
            raise AssertionError("HLS playback failed: " + "; ".join(problems) + "\n" + self.summary())


#: Seconds buffered ahead of a stalled playhead above which the stall is the machine's, not the stream's.
SLOW_MACHINE_STALL = 1.0


def _buffered_ahead(error: str) -> float:
    """Seconds buffered ahead in a non-fatal bufferStalledError message; 0 for any other error."""
    if "fatal=false" not in error or "details=bufferStalledError" not in error:
        return 0.0
    match = re.search(r'"len":\s*([0-9.]+)', error)
    return float(match.group(1)) if match else 0.0


def _buffered(source_buffers: list[dict]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for sb in source_buffers:
        mime = str(sb.get("mime", ""))
        kind = "audiovideo" if "mp4a" in mime and mime.startswith("video/") else mime.split("/")[0] or "unknown"
        out.setdefault(kind, []).extend((float(a), float(b)) for a, b in sb.get("buffered") or [])
    return out


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


class HlsPlayer:
    """A headless Chromium (one browser, a fresh context per playback) that plays HLS in hls.js.

    Use as a context manager or call :meth:`close`.  Not thread-safe: use it
    from the thread that created it (Playwright's sync API).
    """

    def __init__(self, *, chromium_path: str = CHROMIUM_PATH, extra_args: tuple[str, ...] = ()) -> None:
        self.chromium_path = chromium_path
        self.extra_args = tuple(extra_args)
        self._pw: Any = None
        self._browser: Any = None

    # -- lifecycle --------------------------------------------------------
    def start(self) -> HlsPlayer:
        if self._browser is not None:
            return self
        check_prerequisites(browser=True)
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            # Playwright launches with a fresh temporary --user-data-dir.
            self._browser = self._pw.chromium.launch(
                executable_path=self.chromium_path,
                headless=True,
                args=[*CHROMIUM_ARGS, *self.extra_args],
                timeout=60_000,
            )
        except Exception:
            self._pw.stop()
            self._pw = None
            raise
        return self

    @property
    def browser(self) -> Any:
        """The running Playwright browser, for tests that drive a page of their own (one per thread)."""
        return self.start()._browser

    def close(self) -> None:
        browser, pw = self._browser, self._pw
        self._browser = self._pw = None
        try:
            if browser is not None:
                browser.close()
        finally:
            if pw is not None:
                pw.stop()

    def __enter__(self) -> HlsPlayer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def browser_version(self) -> str:
        return self.start()._browser.version

    # -- playback ---------------------------------------------------------
    def play(
        self,
        playlist_url: str,
        *,
        timeout: float = 60,
        rate: float = 4.0,
        debug: bool = False,
    ) -> PlayResult:
        """Play ``playlist_url`` until the video ends, a fatal error occurs, or ``timeout`` s pass."""
        parts = urllib.parse.urlsplit(playlist_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"playlist_url must be an absolute http(s) URL, got {playlist_url!r}")
        self.start()
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        origin = f"{parts.scheme}://{parts.netloc}"
        query = urllib.parse.urlencode({"src": playlist_url, "rate": repr(float(rate)), "debug": int(debug)})
        page_url = f"{origin}{HARNESS_PREFIX}/player.html?{query}"

        context = self._browser.new_context(bypass_csp=True, service_workers="block")
        page_errors: list[str] = []
        console: list[str] = []
        requests: list[str] = []
        harness_errors: list[str] = []
        started = time.monotonic()
        try:
            context.route(f"{origin}{HARNESS_PREFIX}/**", _serve_harness_asset)
            page = context.new_page()
            page.on(
                "response",
                lambda r: requests.append(
                    f"{r.status} {r.request.method} {r.url} range={r.request.headers.get('range')}"
                ),
            )
            page.on("pageerror", lambda exc: page_errors.append(f"page: {exc}"))
            page.on(
                "console",
                lambda msg: console.append(f"console.{msg.type}: {msg.text}")
                if msg.type in ("error", "warning") or debug
                else None,
            )
            timed_out = False
            try:
                # Page load (player.html + hls.js, both served from disk) has its
                # own limit so a short playback ``timeout`` cannot break it.
                page.goto(page_url, wait_until="load", timeout=PAGE_LOAD_TIMEOUT * 1000)
            except PlaywrightTimeoutError:
                harness_errors.append(f"harness: player page did not load within {PAGE_LOAD_TIMEOUT} s")
            else:
                try:
                    page.wait_for_function(
                        "() => window.__harness && window.__harness.done",
                        polling=50,
                        timeout=max(timeout, 0.1) * 1000,
                    )
                except PlaywrightTimeoutError:
                    timed_out = True
            try:
                snap = page.evaluate(
                    "() => window.__harnessSnapshot ? window.__harnessSnapshot() : null"
                )
            except Exception as exc:  # e.g. the page crashed
                harness_errors.append(f"harness: could not read player state: {exc}")
                snap = None
        finally:
            context.close()
        wall = time.monotonic() - started
        if snap is None:
            return PlayResult(
                ended=False,
                current_time=float("nan"),
                duration=float("nan"),
                decoded_frames=0,
                errors=[*harness_errors, "harness: player page did not initialise"],
                events=console + page_errors,
                timed_out=timed_out,
                wall_time=wall,
                requests=requests,
            )
        # Uncaught page exceptions are already in snap["errors"] (window.onerror);
        # Playwright's copies carry stacks, so they go to the event log.
        errors = list(snap["errors"]) + harness_errors
        events = list(snap["events"]) + console + page_errors
        if timed_out:
            events.append(f"harness: timed out after {timeout} s")
        return PlayResult(
            ended=bool(snap["ended"]),
            current_time=_float(snap["currentTime"]),
            duration=_float(snap["duration"]),
            decoded_frames=int(snap["decodedFrames"] or 0),
            dropped_frames=int(snap.get("droppedFrames") or 0),
            buffered=_buffered(snap.get("sourceBuffers") or []),
            subtitle_tracks=list(snap.get("subtitleTracks") or []),
            text_tracks=list(snap.get("textTracks") or []),
            errors=errors,
            events=events,
            timed_out=timed_out,
            wall_time=wall,
            requests=requests,
        )


def _serve_harness_asset(route: Any) -> None:
    """Playwright route handler: serve player.html and hls.js from disk."""
    path = urllib.parse.urlsplit(route.request.url).path[len(HARNESS_PREFIX) :].lstrip("/")
    if path.startswith("hls.js/"):
        base, rel = HLSJS_DIR, path[len("hls.js/") :]
    else:
        base, rel = SUPPORT_DIR, path
    target = (base / rel).resolve()
    if base.resolve() not in target.parents or not target.is_file():
        route.fulfill(status=404, body=f"not found: {path}", content_type="text/plain")
        return
    route.fulfill(
        status=200,
        body=target.read_bytes(),
        content_type=media_type_for(target) or "application/octet-stream",
        headers={"cache-control": "no-store"},
    )


# --------------------------------------------------------------------------
# Module-level shared player
# --------------------------------------------------------------------------

_shared_player: HlsPlayer | None = None


def shared_player() -> HlsPlayer:
    """The lazily started process-wide :class:`HlsPlayer` (closed at exit)."""
    global _shared_player
    if _shared_player is None:
        player = HlsPlayer().start()
        _shared_player = player
        atexit.register(close_shared_player)
    return _shared_player


def close_shared_player() -> None:
    global _shared_player
    player, _shared_player = _shared_player, None
    if player is not None:
        with contextlib.suppress(Exception):
            player.close()


def play_hls(playlist_url: str, *, timeout: float = 60, rate: float = 4.0) -> PlayResult:
    """Play ``playlist_url`` in hls.js in headless Chromium (shared browser) and report the outcome.

    Waits until the ``<video>`` fires ``ended``, a fatal hls.js/media error
    occurs, or ``timeout`` seconds pass (then ``timed_out`` is set).
    """
    return shared_player().play(playlist_url, timeout=timeout, rate=rate)


__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "HLSJS_DIR",
    "HarnessUnavailable",
    "HlsPlayer",
    "MEDIA_TYPES",
    "PlayResult",
    "check_prerequisites",
    "close_shared_player",
    "media_type_for",
    "play_hls",
    "serve_directory",
    "shared_player",
]
