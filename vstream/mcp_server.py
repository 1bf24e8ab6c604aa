"""`vstream mcp`: the library as typed, bounded, read-only tools for agents (Model Context Protocol).

Built on the official SDK (``mcp`` 2.x, ``MCPServer``). Tools take ids and times, never
paths; every input is bounded (limits, clip counts, durations) and every answer is capped
(about 20,000 characters, with ``truncated`` and a ``next_cursor``). Composed streams are
content-addressed: the same clips give the same stream id, so an agent that asks twice gets
one stream. Nothing is printed on stdout but the protocol (logs go to stderr).

Transports: stdio (desktop agents) and Streamable HTTP (loopback by default; any other
interface needs a bearer token; the SDK's DNS-rebinding protection checks Host and Origin).
Tools: list_videos, video_details, search_moments, transcript_window, validate_recipe,
compose_stream, compose_explainer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from vstream.errors import NotFound, UsageError, VstreamError
from vstream.library import Library

MAX_CHARS = 20_000  # an answer's budget (agents' context windows are not the place for a whole library)
MAX_CLIPS = 30
MAX_SECONDS = 15 * 60
PAGE = 50

# --- answers (pydantic models: clients get their JSON Schema as the tool's output schema) ------


class VideoSummary(BaseModel):
    id: str
    duration: float = Field(description="seconds")
    resolution: str | None
    tags: dict[str, str]
    indexed: list[str] = Field(description="index stages done: scenes, speech, audio")
    languages: list[str] = Field(description="spoken languages found by the speech stage")


class VideoPage(BaseModel):
    videos: list[VideoSummary]
    total: int
    next_cursor: str | None = Field(description="pass it as cursor for the next page; null on the last")
    truncated: bool = False


class VideoDetails(VideoSummary):
    format: str
    keyframes: int
    segments: int
    orientation: str | None
    codecs: list[str]


class MomentHit(BaseModel):
    video_id: str
    start: float
    end: float
    score: float = Field(description="0..1, the same scale for every query")
    kinds: list[str]
    snippet: str


class MomentList(BaseModel):
    query: str
    moments: list[MomentHit]
    truncated: bool = False


class Sentence(BaseModel):
    start: float
    end: float
    text: str
    language: str | None = None


class TranscriptWindow(BaseModel):
    video_id: str
    start: float
    end: float
    sentences: list[Sentence]
    next_cursor: str | None
    truncated: bool = False


class RecipeCheck(BaseModel):
    valid: bool
    errors: list[str] = Field(default_factory=list, description="each names the field path (and line) at fault")


class ClipIn(BaseModel):
    video_id: Annotated[str, Field(min_length=1, max_length=64)]
    start: Annotated[float, Field(ge=0)]
    end: Annotated[float, Field(gt=0)]


class ClipOut(BaseModel):
    video_id: str
    start: float
    end: float
    at: float = Field(description="where the clip starts in the stream")


class ComposedStream(BaseModel):
    stream_id: str = Field(description="content-addressed: the same clips and options give the same id")
    url: str | None = Field(description="the serve URL (with --base-url) or the master playlist's path in the library")
    duration: float
    clips: list[ClipOut]
    captions: bool
    dry_run: bool
    warnings: list[str]


# --- the tools, as plain functions over a library (the MCP layer only wraps them) ----------


class Tools:
    def __init__(self, lib: Library, *, base_url: str | None = None):
        from vstream.search import Searcher

        self.lib = lib
        self.base_url = base_url.rstrip("/") if base_url else None
        self.searcher = Searcher(lib)

    def list_videos(self, cursor: str | None = None, limit: int = PAGE, tag: dict[str, str] | None = None) -> VideoPage:
        videos = self.lib.videos(tag or {})
        offset = _offset(cursor)
        page = [self._summary(v) for v in videos[offset : offset + limit]]
        page, truncated = _cap(page)
        following = offset + len(page)
        return VideoPage(videos=page, total=len(videos), truncated=truncated,
                         next_cursor=str(following) if following < len(videos) else None)  # fmt: skip

    def video_details(self, video_id: str) -> VideoDetails:
        video = self.lib.get(video_id)
        summary = video.summary()
        return VideoDetails(**self._summary(video).model_dump(), format=video.format,
                            keyframes=len(video.meta["keyframes"]), segments=summary["segments"],
                            orientation=summary.get("orientation"), codecs=list(video.meta.get("codecs") or []))  # fmt: skip

    def search_moments(self, query: str, mode: str = "hybrid", kind: str | None = None,
                       videos: list[str] | None = None, tags: dict[str, str] | None = None,
                       limit: int = 10) -> MomentList:  # fmt: skip
        from vstream.search import SearchOptions

        opts = SearchOptions(mode=mode, kind=kind, videos=list(videos or []), tags=dict(tags or {}), limit=limit)
        try:
            result = self.searcher.search(query, opts)
        except NotFound as exc:
            if "nothing is indexed" in exc.message or "has no videos" in exc.message:
                return MomentList(query=query, moments=[])  # no match is an empty list, not an error
            raise
        hits = [MomentHit(video_id=m.video_id, start=m.start, end=m.end, score=m.score, kinds=m.kinds,
                          snippet=m.text[:300]) for m in result.moments]  # fmt: skip
        hits, truncated = _cap(hits)
        return MomentList(query=query, moments=hits, truncated=truncated)

    def transcript_window(self, video_id: str, start: float = 0.0, end: float | None = None,
                          cursor: str | None = None) -> TranscriptWindow:  # fmt: skip
        from vstream.index.transcript import stored_rows

        video = self.lib.get(video_id)
        end = video.duration if end is None else end
        _check_span(video, start, end)
        rows = [r for r in stored_rows(self.lib, video) if r["end"] > start and r["start"] < end]
        rows.sort(key=lambda r: r["start"])
        offset = _offset(cursor)
        sentences = [Sentence(start=r["start"], end=r["end"], text=r["text"].strip(), language=r.get("language"))
                     for r in rows[offset:]]  # fmt: skip
        sentences, truncated = _cap(sentences)
        following = offset + len(sentences)
        return TranscriptWindow(video_id=video.id, start=start, end=end, sentences=sentences, truncated=truncated,
                                next_cursor=str(following) if following < len(rows) else None)  # fmt: skip

    def validate_recipe(self, recipe_yaml: str) -> RecipeCheck:
        from vstream.compose.core import timeline_from_recipe
        from vstream.compose.recipe import MAX_BYTES, loads

        if len(recipe_yaml.encode()) > MAX_BYTES:
            return RecipeCheck(valid=False, errors=[f"recipe: larger than {MAX_BYTES} bytes"])
        try:
            recipe = loads(recipe_yaml, Path("recipe.yaml"))
            timeline = timeline_from_recipe(self.lib, recipe, recipe.defaults(), self.searcher)
            timeline.compile("agent", searcher=self.searcher, write=False)
        except VstreamError as exc:
            return RecipeCheck(valid=False, errors=[str(exc)])
        return RecipeCheck(valid=True)

    def compose_stream(self, clips: list[ClipIn], captions: bool = True, resolution: str | None = None,
                       dry_run: bool = False) -> ComposedStream:  # fmt: skip
        from vstream.compose.api import CaptionAsset, Clip, Timeline, Track, VideoAsset

        if not 1 <= len(clips) <= MAX_CLIPS:
            raise UsageError(f"give 1 to {MAX_CLIPS} clips")
        total = 0.0
        for c in clips:
            _check_span(self.lib.get(c.video_id), c.start, c.end)
            total += c.end - c.start
        if total > MAX_SECONDS:
            raise UsageError(f"the clips last {total:.0f}s; a stream here lasts at most {MAX_SECONDS}s")
        spec = {"clips": [[c.video_id, round(c.start, 3), round(c.end, 3)] for c in clips], "captions": captions,
                "resolution": resolution}  # fmt: skip
        stream_id = "agent-" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        timeline = Timeline(self.lib, name=stream_id)
        timeline.origin = "compose_stream"
        track = Track()
        for c in clips:
            track.add_clip(None, Clip(asset=VideoAsset(id=c.video_id, start=c.start), duration=c.end - c.start))
        timeline.add_track(track)
        if resolution:
            timeline.resolution = resolution
        if captions:
            timeline.add_track(Track().add_clip(0, Clip(asset=CaptionAsset(src="auto"))))
        result = timeline.compile("agent", searcher=self.searcher, write=not dry_run)
        rel = Path(result.master).relative_to(self.lib.root).as_posix()
        url = None if dry_run else (f"{self.base_url}/{rel}" if self.base_url else rel)
        return ComposedStream(stream_id=stream_id, url=url, duration=result.duration, captions=captions,
                              dry_run=dry_run, warnings=result.warnings[:20],
                              clips=[ClipOut(video_id=c.video_id, start=c.start, end=c.end, at=c.at)
                                     for c in result.clips])  # fmt: skip

    def compose_explainer(self, query: str, max_clips: int = 5, clip_seconds: float = 10.0, captions: bool = True,
                          dry_run: bool = False) -> ComposedStream:  # fmt: skip
        """Search, then the moments in the order they happen in each video (videos by their best moment)."""
        found = self.search_moments(query, limit=max_clips).moments
        if not found:
            raise NotFound(f"no moment matches {query!r}", hint="try other words, or search_moments first")
        first_rank = {}
        for rank, m in enumerate(found):
            first_rank.setdefault(m.video_id, rank)
        ordered = sorted(found, key=lambda m: (first_rank[m.video_id], m.start))
        clips = [ClipIn(video_id=m.video_id, start=m.start, end=min(m.end, m.start + clip_seconds)) for m in ordered]
        return self.compose_stream(clips, captions=captions, dry_run=dry_run)

    def _summary(self, video) -> VideoSummary:
        summary = video.summary()
        state = self.lib.index_state(video.id)
        languages: list[str] = []
        if "speech" in state:
            from vstream.index.transcript import stored_rows

            try:
                languages = sorted({r.get("language") for r in stored_rows(self.lib, video) if r.get("language")})
            except VstreamError:
                languages = []
        return VideoSummary(id=video.id, duration=summary["duration"], resolution=summary["resolution"],
                            tags=summary["tags"], indexed=sorted(state), languages=languages)  # fmt: skip


def _offset(cursor: str | None) -> int:
    if cursor in (None, ""):
        return 0
    if not str(cursor).isdigit() or int(cursor) > 10**7:
        raise UsageError(f"bad cursor {cursor!r}", hint="pass the next_cursor of the previous answer")
    return int(cursor)


def _check_span(video, start: float, end: float) -> None:
    if not 0 <= start < end <= video.duration + 1e-6:
        raise UsageError(f"{video.id}: {start:g}-{end:g}s is not inside the video (0-{video.duration:g}s)",
                         hint="times must satisfy 0 <= start < end <= duration")  # fmt: skip


def _cap(items: list) -> tuple[list, bool]:
    """As many items as fit in the answer's character budget."""
    size, kept = 0, []
    for item in items:
        size += len(item.model_dump_json())
        if size > MAX_CHARS and kept:
            return kept, True
        kept.append(item)
    return kept, False


# --- the MCP server --------------------------------------------------------------------------


def build_server(lib: Library, *, base_url: str | None = None):
    """An ``MCPServer`` whose tools are :class:`Tools` over ``lib``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    from vstream import __version__

    tools = Tools(lib, base_url=base_url)
    server = MCPServer("vstream", version=__version__, log_level="WARNING", instructions=(
        "Find moments in the user's video library (search_moments, transcript_window), then hand back a "
        "playable stream of them (compose_stream with explicit clips, or compose_explainer from a query). "
        "Tools take video ids and times in seconds; nothing here changes the library's videos."))  # fmt: skip

    def call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VstreamError as exc:  # the CLI's one line, as the tool's error
            raise ToolError(str(exc)) from None

    @server.tool(annotations=_read_only())
    def list_videos(cursor: str | None = None, limit: Annotated[int, Field(ge=1, le=100)] = PAGE,
                    tag: dict[str, str] | None = None) -> VideoPage:  # fmt: skip
        """The library's videos (duration, resolution, tags, what is indexed, spoken languages), a page at a time."""
        return call(tools.list_videos, cursor, limit, tag)

    @server.tool(annotations=_read_only())
    def video_details(video_id: Annotated[str, Field(min_length=1, max_length=64)]) -> VideoDetails:
        """One video: format, keyframes, segments, orientation and codecs besides its summary."""
        return call(tools.video_details, video_id)

    @server.tool(annotations=_read_only())
    def search_moments(query: Annotated[str, Field(max_length=500)],
                       mode: Literal["hybrid", "semantic", "keyword", "peaks"] = "hybrid",
                       kind: Literal["scene", "speech"] | None = None,
                       videos: Annotated[list[str], Field(max_length=50)] | None = None,
                       tags: dict[str, str] | None = None,
                       limit: Annotated[int, Field(ge=1, le=25)] = 10) -> MomentList:  # fmt: skip
        """Moments by meaning, spoken or on-screen words, or loudness (mode peaks, empty query).
        Each moment starts and ends on keyframes; no match is an empty list."""
        return call(tools.search_moments, query, mode, kind, videos, tags, limit)

    @server.tool(annotations=_read_only())
    def transcript_window(video_id: Annotated[str, Field(min_length=1, max_length=64)],
                          start: Annotated[float, Field(ge=0)] = 0.0, end: float | None = None,
                          cursor: str | None = None) -> TranscriptWindow:  # fmt: skip
        """The sentences spoken between start and end (seconds), a page at a time."""
        return call(tools.transcript_window, video_id, start, end, cursor)

    @server.tool(annotations=_read_only())
    def validate_recipe(recipe_yaml: Annotated[str, Field(max_length=200_000)]) -> RecipeCheck:
        """Check a YAML recipe (vstream's compose format) against the schema and the library, writing nothing."""
        return call(tools.validate_recipe, recipe_yaml)

    @server.tool()
    def compose_stream(clips: Annotated[list[ClipIn], Field(min_length=1, max_length=MAX_CLIPS)],
                       captions: bool = True,
                       resolution: Annotated[str, Field(pattern=r"^\d{2,4}x\d{2,4}$")] | None = None,
                       dry_run: bool = False) -> ComposedStream:  # fmt: skip
        """A stream of explicit clips (at most 30, 15 minutes) with captions from the transcripts,
        over the library's own segments (nothing is re-encoded). dry_run validates only."""
        return call(tools.compose_stream, clips, captions, resolution, dry_run)

    @server.tool()
    def compose_explainer(query: Annotated[str, Field(min_length=1, max_length=500)],
                          max_clips: Annotated[int, Field(ge=1, le=MAX_CLIPS)] = 5,
                          clip_seconds: Annotated[float, Field(gt=0, le=120)] = 10.0,
                          captions: bool = True, dry_run: bool = False) -> ComposedStream:  # fmt: skip
        """Search for the query, then compose the moments found into one stream, in the order they
        happen in each video, with captions. Cites the clips it used."""
        return call(tools.compose_explainer, query, max_clips, clip_seconds, captions, dry_run)

    return server


def _read_only():
    from mcp_types import ToolAnnotations

    return ToolAnnotations(read_only_hint=True, open_world_hint=False)


def run_stdio(lib: Library, *, base_url: str | None = None) -> None:
    import logging
    import sys

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout is the protocol's alone
    build_server(lib, base_url=base_url).run("stdio")


def http_app(lib: Library, *, host: str, port: int, token: str | None, base_url: str | None = None):
    """The Streamable HTTP app at ``/mcp``: Host/Origin checked (DNS rebinding), and with ``token``
    every request needs ``Authorization: Bearer TOKEN``."""
    import hmac

    from mcp.server.transport_security import TransportSecuritySettings

    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
    hosts = [f"{n}:{port}" for n in names] + sorted(names)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                         allowed_origins=[f"http://{h}" for h in hosts])  # fmt: skip
    app = build_server(lib, base_url=base_url).streamable_http_app(transport_security=security, host=host)
    if not token:
        return app
    expected = f"Bearer {token}".encode()

    async def guarded(scope, receive, send):
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                body = b'{"error": "this MCP server needs its bearer token", "hint": "send Authorization: Bearer TOKEN"}'
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="vstream"')]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def run_http(lib: Library, *, host: str, port: int, token: str | None, base_url: str | None = None) -> None:
    import uvicorn

    uvicorn.run(http_app(lib, host=host, port=port, token=token, base_url=base_url), host=host, port=port,
                log_level="warning", access_log=False)  # fmt: skip


__all__ = ["Tools", "build_server", "http_app", "run_http", "run_stdio"]

