"""Compose a recipe for one user: clips -> a timeline -> master + media playlists (+ captions).

Nothing is copied or re-encoded: the media playlist addresses the library's own keyframe
byte ranges (see :mod:`vstream.compose.playlist`), so every user's stream shares one set of
segment files and a personal stream is a few KB. Output is deterministic: the same recipe,
library and vars give byte-identical files.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vstream.compose.playlist import Clip, PlacedClip, media_playlist, place, source_for
from vstream.compose.recipe import Recipe, RecipeError
from vstream.errors import NotFound, VstreamError
from vstream.library import Library, atomic_write
from vstream.media.hls import TICKS
from vstream.timecode import parse_time, to_ticks

USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")


@dataclass
class ComposedClip:
    video_id: str
    requested_start: float
    requested_end: float
    start: float  # actual in-point (a keyframe)
    end: float
    at: float  # where it starts on the composed timeline
    snap_error: float  # requested_start - start (>= 0: the clip starts this much earlier)


@dataclass
class ComposeResult:
    recipe: str
    user: str
    master: str
    playlists: list[str]
    clips: list[ComposedClip]
    duration: float
    bytes_written: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_user(user: str) -> str:
    if not USER_RE.match(user):
        raise RecipeError(f"invalid user id {user!r}", hint="use 1-64 letters, digits, '_', '.', '@' or '-'")
    return user


def compose(lib: Library, recipe: Recipe, values: dict[str, str], *, user: str = "guest", base_url: str | None = None,
            write: bool = True, searcher=None) -> ComposeResult:  # fmt: skip
    """One user's stream. Pass one ``searcher`` for a batch: it caches transcripts and models."""
    from vstream.search import Searcher

    check_user(user)
    searcher = searcher or Searcher(lib)
    data = recipe.render(values | {"user": values.get("user", user)})
    out_dir = lib.root / "streams" / _safe_name(recipe, data["name"]) / user
    warnings: list[str] = []
    clips = _clips(lib, recipe, data, out_dir, base_url, warnings, searcher)
    placed = place(clips)
    video = media_playlist(placed)
    meta_tags = _session_data(recipe, data)
    files: dict[str, str] = {"video.m3u8": video.render()}
    subtitles = None
    captions = data.get("captions")
    if captions:
        vtt = _captions(recipe, captions, placed, searcher)
        if vtt is not None:
            files["captions.vtt"] = vtt
            total = sum(p.duration for p in placed)
            files["captions.m3u8"] = _subtitle_playlist(total)
            subtitles = captions.get("language", "en")
    files["master.m3u8"] = _master(video, placed, subtitles, meta_tags, data)
    composed = [
        ComposedClip(p.clip.source.video_id, p.clip.start / TICKS, p.clip.end / TICKS, p.start / TICKS, p.end / TICKS,
                     p.at / TICKS, round((p.clip.start - p.start) / TICKS, 6))
        for p in placed
    ]  # fmt: skip
    for c in composed:
        if c.snap_error > 2.0:
            warnings.append(f"clip {c.video_id}@{c.requested_start:g}s starts {c.snap_error:.2f}s early (keyframes are sparse)")
    written = 0
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, text in sorted(files.items()):
            atomic_write(out_dir / name, text)
            written += len(text.encode())
    return ComposeResult(
        recipe=recipe.name, user=user, master=str(out_dir / "master.m3u8"),
        playlists=[str(out_dir / n) for n in sorted(files) if n.endswith(".m3u8")],
        clips=composed, duration=round(sum(p.duration for p in placed) / TICKS, 6),
        bytes_written=written or sum(len(t.encode()) for t in files.values()), warnings=warnings,
    )  # fmt: skip


def _safe_name(recipe: Recipe, name: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name) or ".." in name:
        raise RecipeError(f"{recipe.where('name')}: name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
    return name


def _number(recipe: Recipe, path: str, value: Any) -> float:
    try:
        return parse_time(str(value)) if isinstance(value, str) else float(value)
    except ValueError:
        raise RecipeError(f"{recipe.where(path)}: {path}: {value!r} is not a number of seconds") from None


def _clips(lib, recipe, data, out_dir, base_url, warnings, searcher) -> list[Clip]:
    clips: list[Clip] = []
    sources: dict[str, Any] = {}

    def source(video_id: str, path: str):
        if video_id not in sources:
            try:
                video = lib.get(video_id)
            except NotFound as exc:
                raise RecipeError(f"{recipe.where(path)}: {path}: {exc.message}", hint=exc.hint) from None
            sources[video_id] = (video, source_for(video, lib.path(video, video.meta["files"]["media"]),
                                                   relative_to=out_dir, base_url=base_url))  # fmt: skip
        return sources[video_id]

    for i, spec in enumerate(data["clips"]):
        path = f"clips[{i}]"
        if ("video" in spec) == ("search" in spec):
            raise RecipeError(f"{recipe.where(path)}: {path}: give either video: (an explicit clip) or search:")
        if "video" in spec:
            video, src = source(spec["video"], f"{path}.video")
            start = _number(recipe, f"{path}.start", spec.get("start", 0))
            if "duration" in spec and "end" in spec:
                raise RecipeError(f"{recipe.where(path)}: {path}: give duration or end, not both")
            end = (start + _number(recipe, f"{path}.duration", spec["duration"]) if "duration" in spec
                   else _number(recipe, f"{path}.end", spec["end"]) if "end" in spec else video.duration)  # fmt: skip
            if not 0 <= start < video.duration or end <= start or end > video.duration + 1e-6:
                raise RecipeError(
                    f"{recipe.where(path)}: {path}: {start:g}-{end:g}s is outside {video.id} (0-{video.duration:g}s)"
                )
            clips.append(Clip(src, to_ticks(start), to_ticks(end)))
        else:
            clips += _search_clips(lib, recipe, spec, path, source, searcher, warnings)
    if not clips:
        raise RecipeError(f"{recipe.path.name}: the recipe selects no clips")
    return clips


def _search_clips(lib, recipe, spec, path, source, searcher, warnings) -> list[Clip]:
    from vstream.search import Searcher, SearchOptions

    searcher = searcher or Searcher(lib)
    opts = SearchOptions(
        mode=spec.get("mode", "hybrid"), videos=list(spec.get("videos", [])),
        tags={k: str(v) for k, v in (spec.get("tags") or {}).items()}, kind=spec.get("kind"),
        min_score=_number(recipe, f"{path}.min_score", spec["min_score"]) if "min_score" in spec else None,
        limit=int(spec.get("limit", 5)),
        padding=_number(recipe, f"{path}.padding", spec.get("padding", 0)),
        max_per_video=int(spec["max_per_video"]) if "max_per_video" in spec else None,
    )  # fmt: skip
    try:
        moments = searcher.search(spec["search"], opts).moments
    except VstreamError as exc:
        raise RecipeError(f"{recipe.where(path)}: {path}.search: {exc.message}", hint=exc.hint) from None
    if not moments:
        if spec.get("on_empty", "fail") == "skip":
            warnings.append(f"{path}: the search {spec['search']!r} found nothing (skipped)")
            return []
        raise RecipeError(f"{recipe.where(path)}: {path}: the search {spec['search']!r} found no moments",
                          hint="change the query, or set on_empty: skip")  # fmt: skip
    if spec.get("order", "score") == "chronological":
        moments = sorted(moments, key=lambda m: (m.video_id, m.start))
    clips = []
    for m in moments:
        video, src = source(m.video_id, f"{path}.search")
        end = m.end
        if "clip_duration" in spec:
            end = min(video.duration, m.start + _number(recipe, f"{path}.clip_duration", spec["clip_duration"]))
        clips.append(Clip(src, to_ticks(m.start), to_ticks(end)))
    return clips


def _session_data(recipe: Recipe, data: dict[str, Any]) -> list[str]:
    """Overlay and reframe as EXT-X-SESSION-DATA (JSON, base64 data: URI) for vstream's player."""
    tags = []
    overlays = []
    for i, o in enumerate(data.get("overlays") or []):
        path = f"overlays[{i}]"
        image = _inside(recipe, o["image"], f"{path}.image")
        opacity = _number(recipe, f"{path}.opacity", o.get("opacity", 1))
        scale = _number(recipe, f"{path}.scale", o.get("scale", 0.15))
        if not 0 <= opacity <= 1 or not 0 < scale <= 1:
            raise RecipeError(f"{recipe.where(path)}: {path}: opacity must be 0..1 and scale 0..1")
        mime = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}.get(
            image.suffix.lower())
        if mime is None:
            raise RecipeError(f"{recipe.where(path)}: {path}.image: use a PNG, JPEG or WebP file")
        overlays.append({"image": f"data:{mime};base64," + base64.b64encode(image.read_bytes()).decode(),
                         "position": o.get("position", "top-right"), "scale": scale, "opacity": opacity,
                         **({"start": _number(recipe, f"{path}.start", o["start"])} if "start" in o else {}),
                         **({"end": _number(recipe, f"{path}.end", o["end"])} if "end" in o else {})})  # fmt: skip
    if overlays:
        tags.append(_session_tag("dev.vstream.overlays", overlays))
    resolution = (data.get("output") or {}).get("resolution")
    if resolution:
        m = re.match(r"^(\d{2,5})x(\d{2,5})$", resolution)
        if not m:
            raise RecipeError(f"{recipe.where('output.resolution')}: output.resolution: use WIDTHxHEIGHT, e.g. 608x1080")
        tags.append(_session_tag("dev.vstream.reframe", {"width": int(m.group(1)), "height": int(m.group(2)),
                                                          "mode": "crop-center"}))  # fmt: skip
    return tags


def _session_tag(data_id: str, value: Any) -> str:
    payload = base64.b64encode(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).decode()
    return f'#EXT-X-SESSION-DATA:DATA-ID="{data_id}",URI="data:application/json;base64,{payload}"'


def _inside(recipe: Recipe, relative: str, path: str) -> Path:
    """A file named by the recipe, which must stay inside the recipe's folder."""
    folder = recipe.folder.resolve()
    target = (folder / relative).resolve()
    if folder not in target.parents and target != folder:
        raise RecipeError(f"{recipe.where(path)}: {path}: {relative!r} is outside the recipe's folder")
    if not target.is_file():
        raise RecipeError(f"{recipe.where(path)}: {path}: {relative!r} does not exist next to the recipe")
    return target


def _captions(recipe: Recipe, captions: dict[str, Any], placed: list[PlacedClip], searcher) -> str | None:
    """WebVTT cues on the composed timeline: each clip's sentences, retimed and clipped to it."""
    from vstream.index.transcript import cue_text, stamp

    source = captions.get("source", "auto")
    if source != "auto":
        raise RecipeError(f"{recipe.where('captions.source')}: captions.source: only 'auto' is supported so far",
                          hint="use source: auto (the index's transcripts)")  # fmt: skip
    cues = []
    for p in placed:
        rows = searcher.transcript(p.clip.source.video_id) if searcher.index.dataset("speech") else []
        for r in rows:
            s, e = max(r["start"], p.start / TICKS), min(r["end"], p.end / TICKS)
            if e - s < 0.2:
                continue
            offset = (p.at - p.start) / TICKS
            cues.append((s + offset, e + offset, r["text"]))
    body = "".join(f"{stamp(s, '.')} --> {stamp(e, '.')}\n{cue_text(t)}\n\n" for s, e, t in cues)
    return "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n" + body


def _subtitle_playlist(total: int) -> str:
    """One WebVTT segment spanning the composed timeline."""
    from vstream.media.hls import MediaPlaylist, Segment

    return MediaPlaylist([Segment("captions.vtt", total)], independent_segments=False).render()


def _master(video, placed: list[PlacedClip], subtitles: str | None, session: list[str], data: dict[str, Any]) -> str:
    total = sum(p.duration for p in placed) / TICKS
    size = sum(s.byterange.length for s in video.segments if s.byterange)
    bandwidth = max(1, int(max(s.byterange.length * 8 / (s.duration / TICKS) for s in video.segments)))
    average = max(1, int(size * 8 / total)) if total else bandwidth
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS", *session]
    attrs = f"BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={average}"
    if subtitles:
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{subtitles}",LANGUAGE="{subtitles}",'
                     'DEFAULT=YES,AUTOSELECT=YES,URI="captions.m3u8"')  # fmt: skip
        attrs += ',SUBTITLES="subs"'
    lines += [f"#EXT-X-STREAM-INF:{attrs}", "video.m3u8"]
    return "\n".join(lines) + "\n"
