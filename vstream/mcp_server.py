"""`vstream mcp`: the library as typed, bounded, read-only tools for agents (Model Context Protocol).

Built on the official SDK (``mcp`` 2.x, ``MCPServer``). Tools take ids and times, never
paths; every input is bounded (limits, clip counts, durations) and every answer is capped
(about 20,000 characters, with ``truncated`` and a ``next_cursor``). Composed streams are
content-addressed: the same clips give the same stream id, so an agent that asks twice gets
one stream. Nothing is printed on stdout but the protocol (logs go to stderr).

Transports: stdio (desktop agents) and Streamable HTTP (loopback by default; any other
interface needs a bearer token; the SDK's DNS-rebinding protection checks Host and Origin).
Tools: list_videos, video_details, search_moments, transcript_window, validate_recipe,
compose_stream, compose_explainer, list_people; live events: list_live_events, live_clip,
live_highlights; with ``--allow-write`` also ingest_file (files inside the
``--ingest-dir`` folders only), index_video and job_status (jobs report progress notifications).
Resources: vstream://videos/{id}, vstream://videos/{id}/transcript, vstream://streams/{stream_id}.
Prompt: explainer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from vstream.errors import NotFound, UsageError, VstreamError
from vstream.library import Library

try:  # the SDK is an extra: the Tools class works without it (tool signatures name Context at run time)
    from mcp.server.mcpserver import Context
except ImportError:  # pragma: no cover
    Context = None  # type: ignore[assignment,misc]

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
    indexed: list[str] = Field(description="index stages done: scenes, speech, audio, faces")
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
    people: list[str] = Field(default_factory=list, description="who is on screen (names, else p<id>)")
    language: str | None = Field(default=None, description="the language spoken in it (es, en; null: nobody speaks)")
    live: bool = Field(default=False, description="in a live event that is no library video yet: "
                                                  "clip it with live_clip(event_id=video_id, start=, end=)")
    wall: str | None = Field(default=None, description="found in a live transcript: the wall-clock time it starts at")


class MomentList(BaseModel):
    query: str
    moments: list[MomentHit]
    truncated: bool = False


class PersonSummary(BaseModel):
    id: str = Field(description="p<id>, usable wherever a name is")
    name: str | None
    videos: int
    appearances: int
    seconds: float = Field(description="time on screen")


class PeopleList(BaseModel):
    people: list[PersonSummary]
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


class JobStatus(BaseModel):
    job_id: str
    kind: Literal["ingest", "index"]
    status: Literal["running", "done", "failed"]
    progress: float = Field(description="0..1 of the current step")
    message: str = Field(description="the current step, or the outcome")
    result: dict | None = Field(default=None, description="what the job did (the CLI's --json), when done")


class LiveEvent(BaseModel):
    id: str
    live: bool = Field(description="being recorded now")
    status: Literal["starting", "recording", "interrupted", "ended"]
    started_at: str = Field(description="wall clock (ISO, UTC) of its first frame")
    duration: float = Field(description="seconds recorded so far")
    takes: int = Field(description="connections: a dropped source that came back is a new take")
    highlights: int = Field(description="loud moments found so far (live_highlights lists them)")
    video: str | None = Field(description="the library video it became once it ended")
    url: str | None = Field(description="its live playlist (grows while it is recorded)")


class LiveEventList(BaseModel):
    events: list[LiveEvent]
    truncated: bool = False


class LiveClip(BaseModel):
    event_id: str
    start: float = Field(description="event seconds of its first frame (a keyframe)")
    end: float
    duration: float
    live: bool = Field(description="the event is still being recorded")
    url: str = Field(description="the clip's playlist: the serve URL (with --base-url) or its path in the library")


class LiveHighlight(BaseModel):
    peak: float = Field(description="event seconds of the loudest moment")
    at: str | None = Field(description="its wall-clock time (ISO, UTC)")
    loudness: float = Field(description="LUFS")
    rise: float = Field(description="LU louder than the minute before")
    start: float = Field(description="the clip around it, event seconds")
    end: float
    in_playlist: bool = Field(description="its clip is recorded and in the highlights playlist")


class LiveHighlights(BaseModel):
    event_id: str
    live: bool
    highlights: list[LiveHighlight]
    url: str | None = Field(description="the highlights playlist (an EVENT playlist that grows); null until published")
    warnings: list[str]
    truncated: bool = False


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
                       limit: int = 10, people: list[str] | None = None, language: str | None = None) -> MomentList:  # fmt: skip
        from vstream.search import SearchOptions

        opts = SearchOptions(mode=mode, kind=kind, videos=list(videos or []), tags=dict(tags or {}), limit=limit,
                             people=list(people or []), language=language, live=True)  # fmt: skip
        try:
            result = self.searcher.search(query, opts)
        except NotFound as exc:
            if "nothing is indexed" in exc.message or "has no videos" in exc.message:
                return MomentList(query=query, moments=[])  # no match is an empty list, not an error
            raise
        hits = [MomentHit(video_id=m.video_id, start=m.start, end=m.end, score=m.score, kinds=m.kinds,
                          snippet=m.text[:300], people=m.people, language=m.language, live=m.live, wall=m.wall)
                for m in result.moments]  # fmt: skip
        hits, truncated = _cap(hits)
        return MomentList(query=query, moments=hits, truncated=truncated)

    def list_people(self) -> PeopleList:
        from vstream import people

        found = [PersonSummary(id=f"p{p.id}", name=p.name, videos=p.videos, appearances=p.appearances, seconds=p.seconds)
                 for p in people.people(self.lib)]  # fmt: skip
        found, truncated = _cap(found)
        return PeopleList(people=found, truncated=truncated)

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

    def list_live_events(self) -> LiveEventList:
        from vstream import live
        from vstream.live_highlights import overview

        found = []
        for event in live.events(self.lib):
            o = overview(self.lib, event)
            found.append(LiveEvent(id=o["id"], live=o["live"], status=o["status"], started_at=o["started_at"],
                                   duration=o["duration"], takes=o["takes"], video=o["video"], highlights=o["highlights"],
                                   url=self._live_url(event.id, live.PLAYLIST)))  # fmt: skip
        found, truncated = _cap(found)
        return LiveEventList(events=found, truncated=truncated)

    def live_clip(self, event_id: str, last: float | None = None, start: str | None = None, end: str | None = None,
                  loudest: float | None = None) -> LiveClip:  # fmt: skip
        from vstream import live

        if sum(x is not None for x in (last, loudest, start or end)) != 1:
            raise UsageError("give last, loudest, or start (and end), one of them")
        made = live.clip(self.lib, event_id, last=last, start=start, end=end, loudest=loudest)
        if self.base_url:  # serve makes the same clip from the same range
            url = f"{self.base_url}/live/{made['event']}/clip.m3u8?from={made['start']:.3f}&to={made['end']:.3f}"
        else:
            url = Path(made["playlist"]).relative_to(self.lib.root.absolute()).as_posix()
        return LiveClip(event_id=made["event"], start=made["start"], end=made["end"], duration=made["duration"],
                        live=made["live"], url=url)  # fmt: skip

    def live_highlights(self, event_id: str) -> LiveHighlights:
        from vstream.live_highlights import PLAYLIST, highlights

        found = highlights(self.lib, event_id)
        items = [LiveHighlight(**{k: h[k] for k in LiveHighlight.model_fields}) for h in found["highlights"]]
        items, truncated = _cap(items)
        return LiveHighlights(event_id=found["event"], live=found["live"], highlights=items, truncated=truncated,
                              url=self._live_url(found["event"], PLAYLIST) if found["playlist"] else None,
                              warnings=found["warnings"])  # fmt: skip

    def _live_url(self, event_id: str, name: str) -> str:
        return f"{self.base_url}/live/{event_id}/{name}" if self.base_url else f"live/{event_id}/{name}"

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


# --- write jobs (--allow-write): ingest and index run beside the protocol, reporting progress ---

JOB_WAIT = 45.0  # seconds a tool call waits for its job (clients give up around 60 s): then job_status


class Jobs:
    """Ingest and index jobs, one at a time on a worker thread with its own catalog connection."""

    def __init__(self, lib: Library, folders: list[Path]):
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self.root = lib.root
        self.folders = [f.resolve() for f in folders]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vstream-mcp-job")
        self._jobs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def allowed(self, path: str) -> Path:
        """``path`` resolved (symlinks too) inside a folder opened with --ingest-dir, or a UsageError."""
        if not self.folders:
            raise UsageError("no folder is open for ingest", hint="start vstream mcp with --allow-write --ingest-dir DIR")
        given = Path(path).expanduser()
        for folder in self.folders:
            target = (given if given.is_absolute() else folder / given).resolve()
            if target.is_relative_to(folder):
                if not target.is_file():
                    raise NotFound(f"{path}: no such file in {folder.name}/")
                return target
        raise UsageError(f"{path}: outside the folders open for ingest", hint="give a file inside an --ingest-dir folder")

    def start(self, kind: str, work) -> str:
        import secrets

        job_id = f"{kind}-{secrets.token_hex(6)}"
        job = {"kind": kind, "status": "running", "progress": 0.0, "message": "waiting", "result": None}
        with self._lock:
            self._jobs[job_id] = job
        self._pool.submit(self._run, job, work)
        return job_id

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"no job {job_id!r}", hint="use the job_id an ingest_file or index_video answer gave")
            return JobStatus(job_id=job_id, **job)

    def _run(self, job: dict, work) -> None:
        jobs = self

        class Report:  # vstream's Progress protocol, into the job's state
            def begin(self, label: str, total: float | None = None) -> None:
                with jobs._lock:
                    job.update(message=label, progress=0.0, total=total)

            def update(self, done: float) -> None:
                with jobs._lock:
                    total = job.get("total") or 0
                    job["progress"] = max(0.0, min(1.0, done / total)) if total else 0.0

            def end(self) -> None:
                pass

            def note(self, text: str) -> None:
                with jobs._lock:
                    job["message"] = text

        try:
            result = work(Library.open(self.root), Report())
            outcome = {"status": "done", "progress": 1.0, "message": "done", "result": result}
        except VstreamError as exc:
            outcome = {"status": "failed", "message": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a job's crash is its answer, never the server's
            outcome = {"status": "failed", "message": f"{type(exc).__name__}: {exc}"}
        with self._lock:
            job.pop("total", None)
            job.update(outcome)


def _ingest_work(path: Path, video_id: str | None, then_index: bool, force: bool = False, resample_audio: bool = False):
    def work(lib: Library, progress) -> dict:
        from vstream.index.pipeline import IndexOptions, index
        from vstream.ingest import IngestOptions, ingest
        from vstream.models import ModelSettings

        options = IngestOptions(video_id=video_id, force=force, resample_audio=resample_audio)
        results = ingest(lib, [str(path)], options, progress)
        out = {"results": [r.to_dict() for r in results]}
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise UsageError(failed[0].message)
        if then_index:
            ids = [r.id for r in results if r.id]
            indexed = index(lib, ids, IndexOptions(), ModelSettings.load(lib.root), progress)
            out["index"] = [r.to_dict() for r in indexed]
        return out

    return work


def _index_work(video_id: str, force: bool):
    def work(lib: Library, progress) -> dict:
        from vstream.index.pipeline import IndexOptions, index
        from vstream.models import ModelSettings

        lib.get(video_id)
        results = index(lib, [video_id], IndexOptions(force=force), ModelSettings.load(lib.root), progress)
        failed = [r for r in results if r.status == "failed"]
        if failed:
            raise UsageError(f"{video_id} {failed[0].stage}: {failed[0].message}")
        return {"results": [r.to_dict() for r in results]}

    return work


def explainer_prompt(topic: str, minutes: float = 2.0) -> str:
    """What an agent should do to make an explainer of ``topic`` from this library."""
    return (
        f"Make a short explainer video (about {minutes:g} minutes) about: {topic}\n\n"
        "1. Call search_moments with the topic (and two or three rephrasings of it); keep the moments "
        "whose snippet is really about it.\n"
        "2. For each one you keep, read what is said around it with transcript_window, and widen or trim "
        "the clip so it starts and ends on whole sentences.\n"
        "3. Order the clips so the story makes sense (what it is, why it matters, an example), at most 30 "
        f"clips and {minutes:g} minutes in all.\n"
        "4. Call compose_stream with those clips and captions on (dry_run first if unsure), then give the "
        "user the stream's url, its duration and the clips it cites (video, start, end).\n"
        "If nothing matches, say so: do not pad the stream with unrelated moments."
    )


def _stream_text(lib: Library, stream_id: str) -> str:
    import re

    if not re.fullmatch(r"agent-[0-9a-f]{16}", stream_id):
        raise NotFound(f"no stream {stream_id!r}", hint="use the stream_id a compose tool gave")
    folder = lib.root / "streams" / stream_id / "agent"
    if not (folder / "master.m3u8").is_file():
        raise NotFound(f"no stream {stream_id!r} (composed with dry_run, or removed)")
    return "\n".join(f"# {name}\n{(folder / name).read_text()}" for name in ("master.m3u8", "video.m3u8"))


# --- the MCP server --------------------------------------------------------------------------


def build_server(lib: Library, *, base_url: str | None = None, allow_write: bool = False,
                 ingest_dirs: list[Path] | None = None):  # fmt: skip
    """An ``MCPServer`` whose tools are :class:`Tools` over ``lib`` (and, with ``allow_write``, ingest and
    index jobs for files inside ``ingest_dirs``), with resources for videos, transcripts and streams."""
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
                       limit: Annotated[int, Field(ge=1, le=25)] = 10,
                       people: Annotated[list[Annotated[str, Field(min_length=1, max_length=80)]], Field(max_length=8)] | None = None,
                       language: Annotated[str, Field(min_length=2, max_length=12)] | None = None,
                       ) -> MomentList:  # fmt: skip
        """Moments by meaning, spoken or on-screen words, or loudness (mode peaks, empty query).
        people: only while these people (names or p<id> from list_people) are on screen together;
        with an empty query, every moment they are. language: only what is spoken in it (es, pt-BR).
        Each moment starts and ends on keyframes and says who is on screen and the language spoken;
        no match is an empty list."""
        return call(tools.search_moments, query, mode, kind, videos, tags, limit, people, language)

    @server.tool(annotations=_read_only())
    def list_people() -> PeopleList:
        """The people the faces index found (names the user gave, else p<id>), the most seen first.
        No face images or embeddings: only names and counts."""
        return call(tools.list_people)

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

    @server.tool(annotations=_read_only())
    def list_live_events() -> LiveEventList:
        """Live events: being recorded (their duration so far), interrupted, or ended (and the library
        video each became), with how many highlights (loud moments) were found."""
        return call(tools.list_live_events)

    @server.tool()
    def live_clip(event_id: Annotated[str, Field(min_length=1, max_length=64)],
                  last: Annotated[float, Field(gt=0, le=3600)] | None = None,
                  start: Annotated[str, Field(min_length=1, max_length=40)] | None = None,
                  end: Annotated[str, Field(min_length=1, max_length=40)] | None = None,
                  loudest: Annotated[float, Field(ge=2, le=600)] | None = None) -> LiveClip:  # fmt: skip
        """An instant clip of a live event (whole keyframe intervals, nothing re-encoded): the last N
        seconds, start/end (event seconds, HH:MM:SS or ISO wall-clock times), or N seconds around
        the loudest moment so far. A range not recorded yet is an error that says "not yet"."""
        return call(tools.live_clip, event_id, last, start, end, loudest)

    @server.tool()
    def live_highlights(event_id: Annotated[str, Field(min_length=1, max_length=64)]) -> LiveHighlights:
        """A live event's highlights (loud moments: a crowd's roar) with their wall-clock times, and the
        playlist of their clips, which grows while the event is recorded."""
        return call(tools.live_highlights, event_id)

    @server.resource("vstream://videos/{video_id}", mime_type="application/json",
                     description="A video's details (the video_details tool's answer).")  # fmt: skip
    def video_resource(video_id: str) -> str:
        return call(tools.video_details, video_id).model_dump_json()

    @server.resource("vstream://videos/{video_id}/transcript", mime_type="text/vtt",
                     description="A video's transcript as WebVTT (what vstream transcript prints).")  # fmt: skip
    def transcript_resource(video_id: str) -> str:
        from vstream.index.transcript import render, stored_rows

        def vtt() -> str:
            text = render(stored_rows(lib, lib.get(video_id)), "vtt")
            return text if len(text) <= 10 * MAX_CHARS else text[: 10 * MAX_CHARS] + "\n\nNOTE truncated\n"

        return call(vtt)

    @server.resource("vstream://streams/{stream_id}", mime_type="application/vnd.apple.mpegurl",
                     description="A stream a compose tool made: its master and video playlists.")  # fmt: skip
    def stream_resource(stream_id: str) -> str:
        return call(_stream_text, lib, stream_id)

    @server.prompt(description="Guide an agent through making an explainer stream of a topic from this library.")
    def explainer(topic: Annotated[str, Field(min_length=1, max_length=500)], minutes: float = 2.0) -> str:
        return explainer_prompt(topic, minutes)

    if not allow_write:
        return server
    jobs = Jobs(lib, list(ingest_dirs or []))

    async def follow(job_id: str, ctx: Context) -> JobStatus:
        """Wait for a job (up to JOB_WAIT seconds), sending its progress as notifications."""
        import asyncio
        import time

        deadline = time.monotonic() + JOB_WAIT
        while True:
            state = jobs.status(job_id)
            await ctx.report_progress(state.progress, 1.0, state.message)
            if state.status != "running" or time.monotonic() >= deadline:
                return state
            await asyncio.sleep(0.5)

    @server.tool()
    async def ingest_file(path: Annotated[str, Field(min_length=1, max_length=1000)], ctx: Context,
                          video_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")] | None = None,
                          index: bool = True, force: bool = False, resample_audio: bool = False) -> JobStatus:  # fmt: skip
        """Ingest a video file from a folder opened with --ingest-dir (and index it), as a job: the answer
        comes when it is done or after 45 s with status running (then poll job_status). force: ingest it
        again though it is unchanged; resample_audio: re-encode audio at another rate to AAC 48 kHz (the
        video is still copied), as compose advises when clips' sample rates differ."""
        target = call(jobs.allowed, path)
        return await follow(jobs.start("ingest", _ingest_work(target, video_id, index, force, resample_audio)), ctx)

    @server.tool()
    async def index_video(video_id: Annotated[str, Field(min_length=1, max_length=64)], ctx: Context,
                          force: bool = False) -> JobStatus:  # fmt: skip
        """Index (or re-index with force) one video, as a job like ingest_file."""
        call(lib.get, video_id)
        return await follow(jobs.start("index", _index_work(video_id, force)), ctx)

    @server.tool(annotations=_read_only())
    async def job_status(job_id: Annotated[str, Field(min_length=1, max_length=64)], ctx: Context) -> JobStatus:
        """A job's state; waits for it like the tool that started it."""
        call(jobs.status, job_id)
        return await follow(job_id, ctx)

    return server


def _read_only():
    from mcp_types import ToolAnnotations

    return ToolAnnotations(read_only_hint=True, open_world_hint=False)


def run_stdio(lib: Library, *, base_url: str | None = None, **write) -> None:
    import logging
    import sys

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout is the protocol's alone
    build_server(lib, base_url=base_url, **write).run("stdio")


def http_app(lib: Library, *, host: str, port: int, token: str | None, base_url: str | None = None, **write):
    """The Streamable HTTP app at ``/mcp``: Host/Origin checked (DNS rebinding), and with ``token``
    every request needs ``Authorization: Bearer TOKEN``."""
    import hmac

    from mcp.server.transport_security import TransportSecuritySettings

    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
    hosts = [f"{n}:{port}" for n in names] + sorted(names)
    security = TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                         allowed_origins=[f"http://{h}" for h in hosts])  # fmt: skip
    app = build_server(lib, base_url=base_url, **write).streamable_http_app(transport_security=security, host=host)
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


def run_http(lib: Library, *, host: str, port: int, token: str | None, base_url: str | None = None, **write) -> None:
    import uvicorn

    uvicorn.run(http_app(lib, host=host, port=port, token=token, base_url=base_url, **write), host=host, port=port,
                log_level="warning", access_log=False)  # fmt: skip


__all__ = ["Tools", "build_server", "http_app", "run_http", "run_stdio"]

