"""`vstream serve`: personal manifests on request, the library's segments, a JSON API and a web page.

An ASGI app (Starlette, run by uvicorn). Segments and thumbnails are plain files of the
library, served with Range, ETag and (segments) ``immutable`` caching: every user shares them,
and in production nginx or a CDN serves them instead (docs/deploy.md). Only the personal
manifests are made here: composed per request from a recipe (or a reel spec in the URL) and
kept in memory per (stream, user, vars) until their TTL passes or the recipe or library
changes. With ``secret`` set, manifests need an HMAC-signed URL; segments stay public.
"""

from __future__ import annotations

import base64
import hmac
import json
import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from vstream import errors
from vstream.library import Library, parse_tags
from vstream.serve import signing

STATIC = Path(__file__).with_name("static")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STREAM_FILES = {"master.m3u8", "video.m3u8", "captions.m3u8", "captions.vtt"}
STREAM_CAPTIONS = re.compile(r"captions\.[a-z]{2}(?:-[A-Za-z0-9]{2,4})?\.(?:m3u8|vtt)")  # a language's rendition
HLS = "application/vnd.apple.mpegurl"
TYPES = {".m3u8": HLS, ".m4s": "video/iso.segment", ".ts": "video/mp2t", ".vtt": "text/vtt; charset=utf-8",
         ".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8"}  # fmt: skip
IMMUTABLE = "public, max-age=31536000, immutable"
MAX_REEL_CLIPS = 50
MAX_CACHE = 10_000


def hlsjs_path() -> Path | None:
    """hls.js from the npm registry (`npm ci` at the checkout), or $VSTREAM_HLSJS."""
    env = os.environ.get("VSTREAM_HLSJS")
    candidates = [Path(env)] if env else []
    for base in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidates.append(base / "node_modules" / "hls.js" / "dist" / "hls.min.js")
    return next((p for p in candidates if p.is_file()), None)


@dataclass
class Settings:
    library: Library
    recipes: Path
    secret: str | None = None
    ttl: int = 60  # seconds a personal manifest is kept (and may be cached privately by the player)
    link_ttl: int = 3600  # seconds a signed URL handed out by the API stays valid
    base_url: str | None = None  # segments under a CDN instead of this server's /media
    admin_token: str | None = None  # with a secret: what /api/link and POST /api/reels need to mint links
    stats: dict[str, int] = field(default_factory=lambda: {"composed": 0, "cached": 0})


class Streams:
    """Personal manifests: composed on demand, cached per (stream, user, vars), invalidated on change."""

    def __init__(self, settings: Settings):
        from vstream.search import Searcher

        self.s = settings
        self.searcher = Searcher(settings.library)
        self.lock = threading.Lock()  # one composer at a time: the catalog connection and the models are shared
        self.cache: OrderedDict[tuple, tuple[float, tuple, dict[str, str]]] = OrderedDict()

    # -- what the streams are made of
    def recipe_file(self, name: str) -> Path:
        if not NAME_RE.match(name) or ".." in name:
            raise errors.NotFound(f"no recipe {name!r}")
        for suffix in (".yaml", ".yml"):
            path = self.s.recipes / f"{name}{suffix}"
            if path.is_file() and path.resolve().parent == self.s.recipes.resolve():
                return path
        raise errors.NotFound(f"no recipe {name!r}", hint="see /api/recipes")

    def recipes(self) -> list[dict[str, Any]]:
        from vstream.compose.recipe import RecipeError, load

        out = []
        for path in sorted(self.s.recipes.glob("*.y*ml")):
            try:
                recipe = load(path)
            except RecipeError as exc:
                out.append({"name": path.stem, "error": str(exc)})
                continue
            out.append({"name": path.stem, "title": recipe.name, "description": recipe.data.get("description", ""),
                        "vars": recipe.defaults(), "url": f"/streams/{path.stem}/master.m3u8"})  # fmt: skip
        return out

    def files(self, kind: str, name: str, user: str, values: dict[str, str],
              unsigned: bool = False) -> tuple[dict[str, str], bool]:  # fmt: skip
        """The playlists of one personal stream (from the cache while fresh), and whether it still grows
        (a recipe following a live event: its archive part is cached, its live part read at each call).
        ``unsigned``: in the timing GStreamer reads (see :func:`unsigned_timing`)."""
        key = (kind, name, user, tuple(sorted(values.items())), unsigned)
        stamp = self._stamp(kind, name)
        hit = self.cache.get(key)
        if hit and hit[1] == stamp and time.monotonic() - hit[0] < self.s.ttl:
            self.s.stats["cached"] += 1
            self.cache.move_to_end(key)
            made = hit[2]
        else:
            with self.lock:
                made = self._compose(kind, name, user, values, unsigned)
            self.s.stats["composed"] += 1
            self.cache[key] = (time.monotonic(), stamp, made)
            if len(self.cache) > MAX_CACHE:
                self.cache.popitem(last=False)
        if isinstance(made, dict):
            return made, False
        result = made.result()  # a LiveStream: NotYet (425) until it holds three target durations
        return result.files, not result.live["ended"]

    def _stamp(self, kind: str, name: str) -> tuple:
        """Changes when the recipe file or the library does (another process's commit moves data_version)."""
        with self.lock:
            self.s.library.refresh(max_age=min(self.s.ttl, 5))  # on object storage: other machines' commits
            version = self.s.library.data_version()
        if kind == "recipe":
            return (self.recipe_file(name).stat().st_mtime_ns, version)
        return (version,)

    def _compose(self, kind: str, name: str, user: str, values: dict[str, str], unsigned: bool = False):
        from vstream.compose.core import compose
        from vstream.compose.recipe import load

        base = self.s.base_url or "/"
        if kind == "recipe":
            from vstream.compose.follow import LiveStream, live_entry

            recipe = load(self.recipe_file(name))
            if live_entry(recipe) is not None:
                return LiveStream(self.s.library, recipe, values, user=user, base_url=base, searcher=self.searcher,
                                  rebase=True, lock=self.lock, unsigned=unsigned)  # fmt: skip
            return compose(self.s.library, recipe, values, user=user, base_url=base, write=False, searcher=self.searcher,
                           rebase=True, unsigned=unsigned).files
        timeline = reel_timeline(self.s, name)
        from vstream.compose.api import check_user

        check_user(user)
        return timeline.compile(user, base_url=base, searcher=self.searcher, rebase=True, unsigned=unsigned).files


def unsigned_timing(user_agent: str | None) -> bool:
    """Whether a client gets a stream's playlists in unsigned timing (compose.playlist.allowance): every
    client but a browser. Browsers (hls.js and the other MSE players) need the library's CMAF timing:
    they place a clip after a discontinuity by its first decode time. The desktop demuxers do not
    honour its signed composition offsets without an edit list: GStreamer (playbin, playbin3) and
    ffmpeg (ffplay, mpv) show a B-frame video its reordering delay late, after its sound (80 ms on
    the samples) and, where clips with different delays meet, two frames at one time."""
    return not (user_agent or "").startswith("Mozilla/")


# --- reels: a stream spec carried in the URL (any replica can rebuild it) ----------------------


def reel_token(spec: dict[str, Any]) -> str:
    raw = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def reel_spec(token: str) -> dict[str, Any]:
    if len(token) > 8192:
        raise errors.UsageError("reel token too long")
    try:
        spec = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise errors.NotFound("no such reel (the link is damaged)") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("clips"), list) or not spec["clips"]:
        raise errors.UsageError("a reel needs clips: [[video_id, start, end], ...]")
    if len(spec["clips"]) > MAX_REEL_CLIPS:
        raise errors.UsageError(f"a reel holds at most {MAX_REEL_CLIPS} clips")
    return spec


def reel_timeline(settings: Settings, token: str):
    from vstream.compose.api import CaptionAsset, Clip, ImageAsset, Timeline, Track, VideoAsset

    spec = reel_spec(token)
    timeline = Timeline(settings.library, name="reel")
    timeline.origin = "reel"
    video = Track()
    for item in spec["clips"]:
        try:
            video_id, start, end = str(item[0]), float(item[1]), float(item[2])
        except (TypeError, ValueError, IndexError):
            raise errors.UsageError("each reel clip is [video_id, start, end]") from None
        if end <= start:
            raise errors.UsageError(f"reel clip {video_id} {start:g}-{end:g}s ends before it starts")
        video.add_clip(None, Clip(asset=VideoAsset(id=video_id, start=start), duration=end - start))
    timeline.add_track(video)
    brand = spec.get("overlay")
    if brand:
        image = brand_file(settings, str(brand.get("image", "")))
        timeline.add_track(Track().add_clip(0, Clip(asset=ImageAsset(
            image, position=str(brand.get("position", "top-right")), scale=float(brand.get("scale", 0.15)),
            opacity=float(brand.get("opacity", 1.0))))))  # fmt: skip
    if spec.get("resolution"):
        timeline.resolution = str(spec["resolution"])
    if spec.get("captions"):
        timeline.add_track(Track().add_clip(0, Clip(asset=CaptionAsset(src="auto"))))
    return timeline


def brand_file(settings: Settings, name: str) -> Path:
    """A brand image from the recipes folder (never outside it)."""
    folder = settings.recipes.resolve()
    path = (folder / name).resolve()
    if path.parent != folder or path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp") or not path.is_file():
        raise errors.UsageError(f"no brand image {name!r}", hint="see /api/brands")
    return path


# --- the ASGI app --------------------------------------------------------------------------------


def create_app(settings: Settings):
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    lib = settings.library
    streams = Streams(settings)

    async def fetch_into_mirror(prefix: str, path: str) -> None:
        """A library on object storage: fetch a file once into this replica's mirror (then served like any)."""
        parts = PurePosixPath(path).parts
        if not parts or PurePosixPath(path).is_absolute() or any(p in ("..", ".") or p.startswith(".") for p in parts):
            return  # StaticFiles answers 404
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(lib.mirror.ensure, f"{prefix}/{'/'.join(parts)}")

    class Files(StaticFiles):
        """Library files: Range, ETag/304 (Starlette), our MIME types and cache policy; symlinks never escape."""

        def __init__(self, directory: Path, cache_control: str, remote_prefix: str | None = None):
            # check_dir=False: a library with no index yet has no thumbnails folder, and a reader creates nothing
            super().__init__(directory=directory, follow_symlink=False, check_dir=False)
            self.cache_control = cache_control
            self.remote_prefix = remote_prefix  # on object storage: where these files come from

        async def get_response(self, path, scope):
            if lib.mirror is not None and self.remote_prefix is not None:
                await fetch_into_mirror(self.remote_prefix, path)
            if not Path(str(self.directory)).is_dir():
                raise HTTPException(status_code=404)
            return await super().get_response(path, scope)

        def file_response(self, full_path, stat_result, scope, status_code=200):
            response = super().file_response(full_path, stat_result, scope, status_code)
            kind = TYPES.get(Path(str(full_path)).suffix.lower())
            if kind:
                response.headers["content-type"] = kind
            response.headers["cache-control"] = self.cache_control
            response.headers["access-control-allow-origin"] = "*"
            return response

    class LiveFiles(Files):
        """A live event's takes (fMP4 files that grow; a completed fragment's bytes never change).
        Only ``EVENT/take-NNN/media.m4s``: never event.json, which holds the source's credentials."""

        async def get_response(self, path, scope):
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}/take-\d{3}/media\.m4s", path):
                raise HTTPException(status_code=404)
            return await super().get_response(path, scope)

    # where this server's files lie is nobody's business but its own: answers name them relatively
    hidden = sorted({str(p) for p in (lib.root, lib.root.resolve(), settings.recipes, settings.recipes.resolve())},
                    key=len, reverse=True)  # fmt: skip

    def scrub(text: str | None) -> str | None:
        if text is None:
            return None
        for prefix in hidden:
            text = text.replace(prefix + "/", "").replace(prefix, "the library" if "recipes" not in prefix else "recipes")
        return text

    def fail(exc: errors.VstreamError) -> JSONResponse:
        status = {errors.NOT_FOUND: 404, errors.USAGE: 400, errors.BAD_MEDIA: 422, errors.BUSY: 503}.get(exc.exit_code, 500)
        return JSONResponse({"error": scrub(exc.message), "hint": scrub(exc.hint), "exit_code": exc.exit_code},
                            status_code=status)  # fmt: skip

    def people_refused(request: Request, what: str) -> Response | None:
        """Faces and names are personal data: a server with an admin token gives them to it alone
        (with or without a secret); one with a secret and no token gives them to nobody."""
        if settings.admin_token and not settings.secret:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {settings.admin_token}".encode()):
                return JSONResponse({"error": f"{what} needs the admin token", "hint": "send Authorization: Bearer TOKEN",
                                     "exit_code": errors.USAGE}, status_code=401,
                                    headers={"www-authenticate": 'Bearer realm="vstream"'})  # fmt: skip
            return None
        return minting_refused(request, what)

    def minting_refused(request: Request, what: str = "minting a signed link") -> Response | None:
        """On a server with a secret, a signed link is a grant: only the admin token may ask for one.
        (People's faces and names are the admin's too.)"""
        if not settings.secret:
            return None  # an open server's links are unsigned and grant nothing the URL itself does not
        if not settings.admin_token:
            return JSONResponse({"error": f"this server does not allow {what}",
                                 "hint": "start vstream serve with --admin-token (or $VSTREAM_ADMIN_TOKEN)",
                                 "exit_code": errors.USAGE}, status_code=403)  # fmt: skip
        given = request.headers.get("authorization", "")
        expected = f"Bearer {settings.admin_token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"error": f"{what} needs the admin token",
                                 "hint": "send Authorization: Bearer TOKEN", "exit_code": errors.USAGE},
                                status_code=401, headers={"www-authenticate": 'Bearer realm="vstream"'})  # fmt: skip
        return None

    def values_of(request: Request) -> tuple[str, dict[str, str]]:
        query = request.query_params
        user = query.get("user", "guest")
        values = {k: v for k, v in query.multi_items() if k not in signing.RESERVED}
        return user, values

    picks_people: dict[tuple[str, int], bool] = {}  # (recipe file, mtime): read once per edit, not per request

    def selects_people(name: str) -> bool:
        """Whether a recipe picks clips by who is on screen (a person search, by its URL's vars)."""
        from vstream.compose.recipe import load

        path = streams.recipe_file(name)
        key = (str(path), path.stat().st_mtime_ns)
        if key not in picks_people:
            clips = load(path).data.get("clips") or []
            picks_people[key] = any(isinstance(c, dict) and (c.get("person") or c.get("select") == "person")
                                    for c in clips)  # fmt: skip
        return picks_people[key]

    def stream_response(kind: str, name: str, file: str, request: Request) -> Response:
        if file not in STREAM_FILES and not STREAM_CAPTIONS.fullmatch(file):
            raise errors.NotFound(f"no {file} in a stream", hint="streams have " + ", ".join(sorted(STREAM_FILES)))
        if kind == "recipe" and settings.admin_token and not settings.secret and selects_people(name):
            # unsigned links take any vars: such a recipe would search people for anyone who asks
            refused = people_refused(request, f"the recipe {name} (it selects clips by person)")
            if refused:
                return refused
        refused = unsigned(request, f"{kind}:{name}")
        if refused:
            return refused
        user, values = values_of(request)
        from vstream import live

        try:
            files, growing = streams.files(kind, name, user, values, unsigned_timing(request.headers.get("user-agent")))
        except live.NotYet as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}, status_code=425,
                                headers={"retry-after": str(max(1, math.ceil(exc.retry_after)))})  # fmt: skip
        if file not in files:
            raise errors.NotFound(f"this stream has no {file}")
        text = files[file]
        query = str(request.url.query)
        if query:  # the child playlists carry the same user, vars and signature
            text = re.sub(r'(?m)^(video\.m3u8|captions(?:\.[A-Za-z-]{2,16})?\.(?:m3u8|vtt))$', rf"\1?{query}", text)
            text = re.sub(r'URI="(captions(?:\.[A-Za-z-]{2,16})?\.m3u8)"', rf'URI="\1?{query}"', text)
        media = "text/vtt; charset=utf-8" if file.endswith(".vtt") else HLS
        age = 1 if growing else settings.ttl  # a live stream: re-read about every second while it grows
        return Response(text, media_type=media, headers={"cache-control": f"private, max-age={age}", "vary": "User-Agent",
                                                          "access-control-allow-origin": "*"})  # fmt: skip

    def guarded(handler, *, json_body: bool = False):
        """Run a sync handler in the thread pool (with the parsed JSON body when asked); errors become JSON."""

        async def endpoint(request: Request) -> Response:
            from starlette.concurrency import run_in_threadpool

            args: tuple = (request,)
            if json_body:
                # a page elsewhere may POST to a server on localhost, but not with this type (CORS preflight)
                if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                    return fail(errors.UsageError("send the body as Content-Type: application/json"))
                try:
                    body = await request.json()
                except ValueError as exc:
                    return fail(errors.UsageError(f"bad JSON: {exc}"))
                if not isinstance(body, dict):
                    return fail(errors.UsageError("bad JSON: send a JSON object"))
                args = (request, body)
            try:
                return await run_in_threadpool(handler, *args)
            except errors.VstreamError as exc:
                return fail(exc)
            except (ValueError, KeyError, TypeError) as exc:
                return fail(errors.UsageError(f"bad request: {exc}"))

        return endpoint

    def recipe_stream(request: Request) -> Response:
        return stream_response("recipe", request.path_params["name"], request.path_params["file"], request)

    def reel_stream(request: Request) -> Response:
        return stream_response("reel", request.path_params["token"], request.path_params["file"], request)

    def api_search(request: Request) -> Response:
        from vstream.search import SearchOptions

        q = request.query_params
        opts = SearchOptions(mode=q.get("mode", "hybrid"), videos=q.getlist("video"), tags=parse_tags(q.getlist("tag")),
                             kind=q.get("kind") or None, limit=int(q.get("limit", 12)),
                             padding=float(q.get("padding", 0)), people=q.getlist("person"), live=True)  # fmt: skip
        if opts.people:
            refused = people_refused(request, "searching by person")
            if refused:
                return refused
        with streams.lock:
            result = streams.searcher.search(q.get("q", ""), opts)
        data = result.to_dict()
        if people_refused(request, "seeing people") is not None:  # names are the admin's: not in moments either
            for m in data["moments"]:
                m["people"] = []
        for m in data["moments"]:
            m["thumbnail_url"] = file_url(lib, m["thumbnail"])
            m["thumbnail"] = library_path(lib, m["thumbnail"])
        return JSONResponse(data)

    def api_live(request: Request) -> Response:
        """The live events for the page: recording, interrupted or ended, with their highlights
        (never the source's address)."""
        from vstream import live
        from vstream.live_highlights import overview

        keep = ("id", "live", "status", "started_at", "duration", "takes", "video", "highlights", "highlights_published")
        return JSONResponse({"events": [{k: v for k, v in overview(lib, e).items() if k in keep} for e in live.events(lib)]})

    def api_videos(request: Request) -> Response:
        with streams.lock:
            videos = [v.summary() | {"thumbnail_url": f"/media/{v.media_dir[6:]}/{v.meta['files']['thumbnail']}",
                                     "source": PurePosixPath(v.source).name}  # the file's name, not where it lies
                      for v in lib.videos(parse_tags(request.query_params.getlist("tag")))]  # fmt: skip
        return JSONResponse({"videos": videos})

    def unsigned(request: Request, stream: str) -> Response | None:
        """On a server with a secret a manifest needs a signed URL: the signature covers the stream
        (``recipe:NAME``, ``reel:TOKEN``, ``live:EVENT``), the user and every parameter (a live clip
        link grants that clip)."""
        if not settings.secret:
            return None
        user, values = values_of(request)
        q = request.query_params
        why = signing.verify(settings.secret, stream, user, values, q.get("exp"), q.get("sig"))
        if why:
            return JSONResponse({"error": why, "hint": "ask for a new link", "exit_code": errors.USAGE}, status_code=403)
        return None

    def live_cache(seconds: int) -> str:
        return f"{'private' if settings.secret else 'public'}, max-age={seconds}"  # a signed link is one user's

    def live_playlist(request: Request) -> Response:
        """A live event's EVENT playlist: re-read at every request, cached one second while it grows;
        ``?start=`` (an ISO wall-clock time or event seconds) starts it there (start-over)."""
        from vstream import live

        refused = unsigned(request, f"live:{request.path_params['event']}")
        if refused:
            return refused
        event = live.load(lib, request.path_params["event"])
        start = request.query_params.get("start")
        if start:  # start-over: from that time (wall clock or event seconds), still growing
            text = live.render_playlist(event, live.since_of(event, start))
        else:
            text = (live.events_dir(lib) / event.id / live.PLAYLIST).read_text()
        cache = live_cache(1 if event.status != "ended" else 3600)
        return Response(live.with_init_segments(text), media_type=HLS, headers={"cache-control": cache, "access-control-allow-origin": "*"})

    def live_highlights(request: Request) -> Response:
        """A live event's highlights (loud moments) as an EVENT playlist that grows as they are found;
        425 Too Early until it holds three target durations, 404 for an event that ended without any."""
        from vstream import live
        from vstream.live_highlights import PLAYLIST

        refused = unsigned(request, f"live:{request.path_params['event']}")
        if refused:
            return refused
        event = live.load(lib, request.path_params["event"])
        try:
            text = (live.events_dir(lib) / event.id / PLAYLIST).read_text()
        except FileNotFoundError:
            if event.status == "ended":
                return fail(errors.NotFound(f"{event.id} has no highlights", hint="vstream live highlights " + event.id))
            return JSONResponse({"error": f"not yet: no highlights of {event.id} so far", "hint": "ask again later",
                                 "exit_code": errors.NOT_FOUND}, status_code=425,
                                headers={"retry-after": str(event.target)})  # fmt: skip
        cache = live_cache(1 if "#EXT-X-ENDLIST" not in text else 3600)
        return Response(live.with_init_segments(text), media_type=HLS, headers={"cache-control": cache, "access-control-allow-origin": "*"})

    def live_fragment(request: Request) -> Response:
        """``/live/EVENT/take-NNN/i/OFFSET+LENGTH.m4s``: a recorded fragment with its take's init section in
        front (see vstream.live.with_init_segments); only fragments the event lists, never other bytes."""
        from vstream import live

        p = request.path_params
        event = live.load(lib, p["event"])
        media, init, fragment = live.init_and_fragment(event, int(p["take"]), int(p["offset"]), int(p["length"]))
        with open(live.events_dir(lib) / event.id / media, "rb") as fh:
            parts = []
            for length, offset in (init, fragment):
                fh.seek(offset)
                parts.append(fh.read(length))
        return Response(b"".join(parts), media_type="video/iso.segment",
                        headers={"cache-control": "public, max-age=86400", "access-control-allow-origin": "*"})  # fmt: skip

    def live_clip(request: Request) -> Response:
        """An instant clip: /live/EVENT/clip.m3u8?last=30 (or from=&to=, or loudest=20: around the loudest
        moment so far); 425 Too Early while not recorded yet."""
        from vstream import live

        refused = unsigned(request, f"live:{request.path_params['event']}")
        if refused:
            return refused
        q = request.query_params
        event = live.load(lib, request.path_params["event"])
        try:
            start, end = q.get("from"), q.get("to")
            if "loudest" in q:  # N seconds around the loudest moment so far
                start, end = (f"{t:.3f}" for t in live.loudest_range(lib, event, float(q["loudest"])))
            _, _, spans = live.clip_spans(event, last=float(q["last"]) if "last" in q else None,
                                          start=start, end=end)  # fmt: skip
        except live.NotYet as exc:
            return JSONResponse({"error": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}, status_code=425,
                                headers={"retry-after": str(max(1, math.ceil(exc.retry_after)))})  # fmt: skip
        except ValueError:
            return fail(errors.UsageError("last and loudest are seconds", hint="e.g. ?last=30 or ?loudest=20"))
        except errors.VstreamError as exc:
            return fail(exc)
        return Response(live.with_init_segments(live.clip_playlist(event, spans, "")), media_type=HLS,
                        headers={"cache-control": live_cache(60), "access-control-allow-origin": "*"})  # fmt: skip

    def api_people(request: Request) -> Response:
        """The library's people with their face crops inline (data: URIs: no URL hands out a face)."""
        refused = people_refused(request, "seeing people")
        if refused:
            return refused
        from vstream import people

        with streams.lock:
            found = people.people(lib)
        out = []
        for p in found:
            crop = lib.root / p.thumbnail if p.thumbnail else None
            image = ("data:image/jpeg;base64," + base64.b64encode(crop.read_bytes()).decode()
                     if crop is not None and crop.is_file() else "")  # fmt: skip
            out.append(p.to_dict() | {"image": image})
        return JSONResponse({"people": out}, headers={"cache-control": "no-store"})

    def api_people_name(request: Request, body: dict) -> Response:
        """Name a person: POST {"person": "p3", "name": "Alice"} (an empty name takes it away)."""
        refused = people_refused(request, "naming people")
        if refused:
            return refused
        from vstream import people

        name, who = str(body.get("name") or "").strip(), str(body.get("person", ""))
        with lib.writing(wait=10), streams.lock:  # (searches go on while another writer holds the lock)
            person = people.name(lib, who, name) if name else people.unname(lib, who)
            # this process's own commit does not move SQLite's data_version: forget the cached answers
            streams.searcher._catalog_version = None
        return JSONResponse(person.to_dict())

    def api_recipes(request: Request) -> Response:
        return JSONResponse({"recipes": streams.recipes()})

    def api_brands(request: Request) -> Response:
        images = sorted(p.name for p in settings.recipes.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        return JSONResponse({"brands": images})

    def api_link(request: Request) -> Response:
        """A (signed, when the server has a secret) URL for a recipe stream: GET /api/link?recipe=NAME&user=..&VAR=..;
        for a live event: ?live=EVENT (its playlist; with start=, start-over), with last=, from=&to= or loudest=
        a clip, with highlights=1 its highlights."""
        refused = minting_refused(request)
        if refused:
            return refused
        if "live" in request.query_params:
            from vstream import live

            event = live.load(lib, request.query_params["live"])
            user, values = values_of(request)
            values.pop("live", None)
            file = "clip.m3u8" if {"last", "from", "to", "loudest"} & set(values) else "index.m3u8"
            if values.pop("highlights", None) is not None:
                file = "highlights.m3u8"
            query = signing.signed_query(settings.secret, f"live:{event.id}", user, values, settings.link_ttl)
            return JSONResponse({"url": f"/live/{event.id}/{file}?{query}"})
        name = request.query_params.get("recipe", "")
        streams.recipe_file(name)
        user, values = values_of(request)
        values.pop("recipe", None)
        return JSONResponse({"url": stream_url(settings, name, user, values)})

    def api_reels(request: Request, body: dict) -> Response:
        refused = minting_refused(request)
        if refused:
            return refused
        spec = {"clips": [[str(c["video_id"]), round(float(c["start"]), 3), round(float(c["end"]), 3)]
                          for c in body.get("clips", [])]}  # fmt: skip
        for key in ("overlay", "resolution", "captions"):
            if body.get(key):
                spec[key] = body[key]
        token = reel_token(spec)
        reel_spec(token)
        user = str(body.get("user") or "guest")
        timeline = reel_timeline(settings, token)  # fail now, with the message, rather than in the player
        with streams.lock:
            result = timeline.compile(user, base_url=settings.base_url or "/", searcher=streams.searcher, rebase=True)
        query = signing.signed_query(settings.secret, f"reel:{token}", user, {}, settings.link_ttl)
        return JSONResponse({"url": f"/reels/{token}/master.m3u8?{query}", "duration": result.duration,
                             "clips": len(result.clips), "warnings": result.warnings})  # fmt: skip


    from vstream.compose.delivery import Rebaser

    rebaser = Rebaser(lib, streams.lock)

    async def rebased_reply(path: str, call, *args, live: bool = False) -> Response:
        from starlette.concurrency import run_in_threadpool

        if live:  # a live take (recorded on this machine, never mirrored)
            args += ("live",)
        elif lib.mirror is not None:
            await fetch_into_mirror("media", path)
        try:
            status, headers, body = await run_in_threadpool(call, *args)
        except errors.VstreamError as exc:
            return fail(exc)
        headers |= {"cache-control": IMMUTABLE, "access-control-allow-origin": "*"}
        if status != 304:
            headers["content-type"] = TYPES[".m4s"]
        return Response(body, status_code=status, headers=headers)

    async def rebased(request: Request) -> Response:
        """A media file's byte range with its fragments moved onto a composed stream's timeline."""
        p, h = request.path_params, request.headers
        return await rebased_reply(p["path"], rebaser.serve, p["delta"], p["path"], h.get("range"), p["sequence"],
                                   h.get("if-none-match"))  # fmt: skip

    async def rebased_init(request: Request) -> Response:
        """A media file's init section, for playlists of whole-segment resources."""
        path = request.path_params["path"]
        return await rebased_reply(path, rebaser.init, path, request.headers.get("if-none-match"))

    async def rebased_segment(request: Request) -> Response:
        """Whole fragments moved onto a composed stream's timeline, with their video's parameter sets."""
        p = request.path_params
        return await rebased_reply(p["path"], rebaser.segment, p["delta"], p["sequence"], p["span"], p["path"],
                                   request.headers.get("if-none-match"))  # fmt: skip

    async def rebased_live(request: Request) -> Response:
        """A live take's fragments moved onto a composed live stream's timeline (see vstream.compose.follow)."""
        p, h = request.path_params, request.headers
        return await rebased_reply(p["path"], rebaser.serve, p["delta"], p["path"], h.get("range"), p["sequence"],
                                   h.get("if-none-match"), live=True)  # fmt: skip

    async def rebased_live_init(request: Request) -> Response:
        path = request.path_params["path"]
        return await rebased_reply(path, rebaser.init, path, request.headers.get("if-none-match"), live=True)

    async def rebased_live_segment(request: Request) -> Response:
        p = request.path_params
        return await rebased_reply(p["path"], rebaser.segment, p["delta"], p["sequence"], p["span"], p["path"],
                                   request.headers.get("if-none-match"), live=True)  # fmt: skip

    def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})

    def hlsjs(request: Request) -> Response:
        path = hlsjs_path()
        if path is None:
            return Response("// hls.js is not installed: run `npm ci` in the vstream checkout or set VSTREAM_HLSJS\n",
                            media_type="text/javascript", status_code=404)  # fmt: skip
        return FileResponse(path, media_type="text/javascript", headers={"cache-control": "public, max-age=86400"})

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return JSONResponse({"error": exc.detail or "not found", "hint": None, "exit_code": errors.NOT_FOUND},
                            status_code=exc.status_code)  # fmt: skip

    routes = [
        Route("/", page),
        Route("/static/hls.min.js", hlsjs),
        Mount("/static", app=Files(STATIC, "no-cache")),
        Mount("/media", app=Files(lib.root / "media", IMMUTABLE, "media")),
        Route("/r/init/live/{path:path}", rebased_live_init),
        Route("/r/{delta}/{sequence}/live/{path:path}", rebased_live),
        Route("/r/{delta}/{sequence}/{span}/live/{path:path}", rebased_live_segment),
        Route("/r/init/media/{path:path}", rebased_init),
        Route("/r/{delta}/{sequence}/media/{path:path}", rebased),
        Route("/r/{delta}/{sequence}/{span}/media/{path:path}", rebased_segment),
        Mount("/thumbs", app=Files(lib.root / "index" / "thumbs", "public, max-age=86400", "index/thumbs")),
        Route("/streams/{name}/{file}", guarded(recipe_stream)),
        Route("/reels/{token}/{file}", guarded(reel_stream)),
        Route("/api/search", guarded(api_search)),
        Route("/live/{event}/index.m3u8", guarded(live_playlist)),
        Route("/live/{event}/clip.m3u8", guarded(live_clip)),
        Route("/live/{event}/highlights.m3u8", guarded(live_highlights)),
        Route("/live/{event}/take-{take:int}/i/{offset:int}+{length:int}.m4s", guarded(live_fragment)),
        Mount("/live", app=LiveFiles(lib.root / "live", "public, max-age=86400")),
        Route("/api/videos", guarded(api_videos)),
        Route("/api/people", guarded(api_people)),
        Route("/api/people/name", guarded(api_people_name, json_body=True), methods=["POST"]),
        Route("/api/recipes", guarded(api_recipes)),
        Route("/api/live", guarded(api_live)),
        Route("/api/brands", guarded(api_brands)),
        Route("/api/link", guarded(api_link)),
        Route("/api/reels", guarded(api_reels, json_body=True), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.settings = settings
    app.state.streams = streams
    return app


def library_path(lib: Library, path: str) -> str:
    """A path inside the library as the library names it (relative), or "" for anything else."""
    if not path:
        return ""
    try:
        return Path(path).resolve().relative_to(lib.root.resolve()).as_posix()
    except ValueError:
        return path if not Path(path).is_absolute() else ""


def file_url(lib: Library, path: str) -> str:
    """A library file's URL on this server (thumbnails of search results), or "" when it is not served."""
    if not path:
        return ""
    try:
        rel = Path(path).resolve().relative_to(lib.root.resolve()).as_posix()
    except ValueError:
        return ""
    if rel.startswith("media/"):
        return "/" + rel
    if rel.startswith("index/thumbs/"):
        return "/thumbs/" + rel[len("index/thumbs/"):]
    return ""


def stream_url(settings: Settings, name: str, user: str, values: dict[str, str]) -> str:
    """A recipe stream's URL on this server, signed when the server has a secret."""
    return f"/streams/{name}/master.m3u8?" + signing.signed_query(settings.secret, f"recipe:{name}", user, values,
                                                                  settings.link_ttl)  # fmt: skip

