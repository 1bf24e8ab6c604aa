"""A recipe, for one user: YAML -> the editor API's :class:`~vstream.compose.api.Timeline` -> a stream.

Search-driven, tag-driven and loudness-driven clips are resolved here against the library
(and its index), so the timeline the API compiles holds explicit clips only. Every problem
is a :class:`~vstream.compose.recipe.RecipeError` naming the recipe's file, line and field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vstream.compose.api import (
    AdBreaks, CaptionAsset, Clip, ComposeResult, ImageAsset, TextAsset, TextStyle, Timeline, Track, VideoAsset,
    check_name, check_user,
)  # fmt: skip
from vstream.compose.recipe import Recipe, RecipeError
from vstream.errors import MissingDependency, NotFound, UsageError, VstreamError
from vstream.library import Library, tag_matches
from vstream.timecode import parse_time

# Re-exported for callers of the first slice.
__all__ = ["compose", "timeline_from_recipe", "ComposeResult", "check_user"]


def compose(lib: Library, recipe: Recipe, values: dict[str, str], *, user: str = "guest", base_url: str | None = None,
            write: bool = True, searcher=None, rebase: bool = False, mixed: bool = False,
            unsigned: bool = False) -> ComposeResult:  # fmt: skip
    """One user's stream. Pass one ``searcher`` for a batch: it caches transcripts and models."""
    from vstream.search import Searcher

    check_user(user)
    searcher = searcher or Searcher(lib)
    from vstream.compose.follow import LiveStream, live_entry

    if live_entry(recipe) is not None:  # archive clips, then a live event's highlights as they are found
        return LiveStream(lib, recipe, values, user=user, base_url=base_url, searcher=searcher,
                          rebase=rebase).result(write=write)  # fmt: skip
    timeline = timeline_from_recipe(lib, recipe, values | {"user": values.get("user", user)}, searcher)
    try:
        return timeline.compile(user, base_url=base_url, searcher=searcher, write=write, rebase=rebase, mixed=mixed,
                                unsigned=unsigned)  # fmt: skip
    except (RecipeError, MissingDependency):  # a missing package keeps its own exit code
        raise
    except VstreamError as exc:
        if isinstance(exc, NotFound) and "nothing is indexed" not in exc.message:
            raise RecipeError(f"{recipe.path.name}: {exc.message}", hint=exc.hint) from None
        raise RecipeError(exc.message if exc.message.startswith(recipe.path.name) else f"{recipe.path.name}: {exc.message}",
                          hint=exc.hint) from None  # fmt: skip


def timeline_from_recipe(lib: Library, recipe: Recipe, values: dict[str, str], searcher) -> Timeline:
    data = recipe.render(values)
    try:
        timeline = Timeline(lib, name=check_name(data["name"], "name", recipe.where("name")))
    except UsageError as exc:
        raise RecipeError(exc.message) from None
    timeline.origin = recipe.path.name
    output = data.get("output") or {}
    timeline.resolution = output.get("resolution")
    timeline.reframe = output.get("reframe", "follow")
    video = Track()
    for i, spec in enumerate(data["clips"]):
        # search-driven clips cut to clip_duration stay within it where keyframes allow
        snap = spec.get("snap") or data.get("snap") or ("inside" if "clip_duration" in spec else "outside")
        who = spec.get("person") or []
        subject = tuple([who] if isinstance(who, str) else [str(p) for p in who])  # reframe follows them
        for start, duration, video_id in _clips(lib, recipe, spec, f"clips[{i}]", searcher, timeline.notes):
            video.add_clip(None, Clip(asset=VideoAsset(id=video_id, start=start, snap=snap, subject=subject),
                                      duration=duration))  # fmt: skip
    if not video.clips:
        raise RecipeError(f"{recipe.path.name}: the recipe selects no clips")
    timeline.add_track(video)
    for track in decorations(recipe, data):
        timeline.add_track(track)
    captions = data.get("captions")
    if captions:
        src = captions.get("source", "auto")
        if src != "auto":
            src = _inside(recipe, src, "captions.source")
            if src.suffix.lower() not in (".vtt", ".srt"):
                raise RecipeError(f"{recipe.where('captions.source')}: captions.source: use auto, or a .vtt or .srt file")
        timeline.add_track(Track().add_clip(0, Clip(asset=CaptionAsset(
            src=src, language=captions.get("language"), translate=captions.get("translate"),
            languages=captions.get("languages"), default=captions.get("default") or None))))  # fmt: skip
    breaks = data.get("breaks")
    if breaks:
        timeline.breaks = _breaks(recipe, breaks)
    return timeline


def decorations(recipe: Recipe, data: dict[str, Any]) -> list[Track]:
    """A recipe's ``overlays:`` and ``text:`` (vars filled in: ``data``) as tracks timed on the composed
    timeline (those it has)."""
    overlays = Track()
    for i, o in enumerate(data.get("overlays") or []):
        path = f"overlays[{i}]"
        start = _number(recipe, f"{path}.start", o.get("start", 0))
        end = _number(recipe, f"{path}.end", o["end"]) if "end" in o else None
        image = ImageAsset(path=_inside(recipe, o["image"], f"{path}.image"), position=o.get("position", "top-right"),
                           scale=_number(recipe, f"{path}.scale", o.get("scale", 0.15)),
                           opacity=_number(recipe, f"{path}.opacity", o.get("opacity", 1)))  # fmt: skip
        if not 0 <= image.opacity <= 1 or not 0 < image.scale <= 1:
            raise RecipeError(f"{recipe.where(path)}: {path}: opacity must be 0..1 and scale 0..1")
        overlays.add_clip(start, Clip(asset=image, duration=None if end is None else end - start))
    texts = _texts(recipe, data.get("text") or [])
    return [track for track in (overlays, texts) if track.clips]


# --- clips ------------------------------------------------------------------------------------


def _clips(lib, recipe: Recipe, spec: dict[str, Any], path: str, searcher, warnings: list[str]) -> list[tuple[float, float | None, str]]:
    """``[(start, duration, video_id)]`` for one entry of ``clips:``."""
    kinds = [k for k in ("video", "search", "select") if k in spec]
    if len(kinds) > 1 or (not kinds and "tags" not in spec):
        raise RecipeError(f"{recipe.where(path)}: {path}: give one of video: (explicit), search:, select: loudest, "
                          "select: person, or tags: (every matching video)")  # fmt: skip
    if "video" in spec:
        video = _video(lib, recipe, spec["video"], f"{path}.video")
        start, duration = _span(recipe, spec, path, video)
        return [(start, duration, video.id)]
    if not kinds:  # tags alone: every matching video, in tag order, each cut by start/duration/end
        videos = _tagged(lib, recipe, spec, path, warnings)
        out = []
        for video in videos:
            start, duration = _span(recipe, spec, path, video)
            out.append((start, duration, video.id))
        return out
    return _moment_clips(lib, recipe, spec, path, searcher, warnings)


def _span(recipe: Recipe, spec: dict[str, Any], path: str, video) -> tuple[float, float | None]:
    """``start`` (negative: from the end) and the duration of an explicit clip, checked against the video."""
    if "duration" in spec and "end" in spec:
        raise RecipeError(f"{recipe.where(path)}: {path}: give duration or end, not both")
    length = video.duration
    start = _number(recipe, f"{path}.start", spec.get("start", 0), signed=True)
    if start < 0:
        if -start > length:
            raise RecipeError(f"{recipe.where(path)}: {path}: start {start:g}s reaches before the start of {video.id} "
                              f"({length:g}s long)")  # fmt: skip
        start = length + start
    if "duration" in spec and _number(recipe, f"{path}.duration", spec["duration"]) <= 0:
        raise RecipeError(f"{recipe.where(path)}: {path}.duration: must be more than 0 seconds")
    end = (start + _number(recipe, f"{path}.duration", spec["duration"]) if "duration" in spec
           else _number(recipe, f"{path}.end", spec["end"]) if "end" in spec else length)  # fmt: skip
    if not 0 <= start < length or end <= start or end > length + 1e-6:
        raise RecipeError(f"{recipe.where(path)}: {path}: {start:g}-{end:g}s is outside {video.id} (0-{length:g}s)")
    return start, end - start


def _moment_clips(lib, recipe: Recipe, spec: dict[str, Any], path: str, searcher, warnings: list[str]) -> list[tuple[float, float | None, str]]:
    from vstream.search import SearchOptions

    select = spec.get("select")
    if select is not None and select not in ("loudest", "person"):
        raise RecipeError(f"{recipe.where(path)}: {path}.select: use loudest or person")
    wanted = spec.get("person") or []
    wanted = [wanted] if isinstance(wanted, str) else [str(p) for p in wanted]
    if select == "person" and not [p for p in wanted if p.strip()]:
        raise RecipeError(f"{recipe.where(path)}: {path}: select: person needs person: NAME",
                          hint='e.g. person: "{{character}}" (names: vstream people)')  # fmt: skip
    if wanted and select == "loudest":
        raise RecipeError(f"{recipe.where(path)}: {path}.person: goes with select: person or search:, not select: loudest")
    if wanted:  # someone not (yet) in the library: nothing to select (on_empty decides), not a bad recipe
        from vstream import people

        try:
            for who in wanted:
                people.resolve(lib, who)
        except NotFound as exc:
            return _nothing(recipe, spec, f"{path}.person", exc.message, exc.hint or "see vstream people", warnings)
    videos = list(spec.get("videos", []))
    tags = {k: str(v) for k, v in (spec.get("tags") or {}).items()}
    for v in videos:
        _video(lib, recipe, v, f"{path}.videos")
    order = _tag_order(lib, recipe, spec, path)
    opts = SearchOptions(
        mode="peaks" if select == "loudest" else spec.get("mode", "hybrid"), videos=videos, tags=tags, people=wanted,
        kind=spec.get("kind"),
        min_score=_number(recipe, f"{path}.min_score", spec["min_score"]) if "min_score" in spec else None,
        limit=_integer(recipe, f"{path}.limit", spec.get("limit", 5)),
        padding=_number(recipe, f"{path}.padding", spec.get("padding", 0)),
        max_per_video=_integer(recipe, f"{path}.max_per_video", spec["max_per_video"]) if "max_per_video" in spec else None,
    )  # fmt: skip
    query = spec.get("search", "")
    try:
        moments = searcher.search(query, opts).moments
    except VstreamError as exc:
        field_ = "search" if "search" in spec else "select"
        raise RecipeError(f"{recipe.where(path)}: {path}.{field_}: {exc.message}", hint=exc.hint) from None
    who = " and ".join(wanted)
    what = (f"the search {query!r}" + (f" while {who} is on screen" if wanted else "") if query
            else f"select: person ({who})" if select == "person" else "select: loudest")  # fmt: skip
    if not moments:
        return _nothing(recipe, spec, path, f"{what} found no moments", "change the query or filters", warnings)
    if spec.get("order", "score") == "chronological":
        moments = sorted(moments, key=lambda m: (order.get(m.video_id, (1, m.video_id)), m.start))
    out = []
    for m in moments:
        video = lib.get(m.video_id)
        end = m.end
        if "clip_duration" in spec:
            end = min(video.duration, m.start + _number(recipe, f"{path}.clip_duration", spec["clip_duration"]))
        out.append((m.start, end - m.start, m.video_id))
    return out


def _tagged(lib, recipe: Recipe, spec: dict[str, Any], path: str, warnings: list[str]) -> list:
    tags = {k: str(v) for k, v in spec["tags"].items()}
    videos = [v for v in lib.videos() if tag_matches(v.tags, tags)]
    if not videos:
        return _nothing(recipe, spec, f"{path}.tags", f"no video has tags {tags}", "see vstream list", warnings)
    order = _tag_order(lib, recipe, spec, path)
    limit = _integer(recipe, f"{path}.limit", spec["limit"]) if "limit" in spec else None
    videos = sorted(videos, key=lambda v: order.get(v.id, (1, v.id)))
    return videos[-limit:] if limit and spec.get("pick", "last") == "last" else videos[:limit] if limit else videos


def _nothing(recipe: Recipe, spec: dict[str, Any], path: str, what: str, fix: str, warnings: list[str]) -> list:
    """A clip entry that selects nothing: skipped with a warning (on_empty: skip), else an error."""
    if spec.get("on_empty", "fail") == "skip":
        warnings.append(f"{path}: {what} (skipped)")
        return []
    raise RecipeError(f"{recipe.where(path)}: {path}: {what}", hint=f"{fix}, or set on_empty: skip")


def _tag_order(lib, recipe: Recipe, spec: dict[str, Any], path: str) -> dict[str, tuple]:
    """Video id -> sort key by the ``order_by`` tag (numbers numerically), then id."""
    key = spec.get("order_by")
    if not key:
        return {}
    out = {}
    for v in lib.videos():
        value = v.tags.get(key)
        try:
            out[v.id] = (0, float(value), v.id) if value is not None else (1, v.id)
        except ValueError:
            out[v.id] = (0, float("inf"), str(value), v.id)
    return out


def _video(lib, recipe: Recipe, video_id: str, path: str):
    try:
        return lib.get(video_id)
    except NotFound as exc:
        raise RecipeError(f"{recipe.where(path)}: {path}: {exc.message}", hint=exc.hint) from None


# --- breaks, overlays, values -----------------------------------------------------------------


def _breaks(recipe: Recipe, spec: dict[str, Any]) -> AdBreaks:
    path = "breaks"
    ads = spec.get("ads", [])
    ad_tags = None
    if isinstance(ads, dict):
        ad_tags, ads = {k: str(v) for k, v in (ads.get("tags") or {}).items()}, []
    return AdBreaks(
        every=_number(recipe, f"{path}.every", spec["every"]) if "every" in spec else None,
        at=[_number(recipe, f"{path}.at[{i}]", t) for i, t in enumerate(spec.get("at", []))],
        ads=[str(a) for a in ads], ad_tags=ad_tags,
        per_break=_integer(recipe, f"{path}.per_break", spec.get("per_break", 1)),
        max_duration=_number(recipe, f"{path}.max_duration", spec["max_duration"]) if "max_duration" in spec else None,
        avoid=[str(t) for t in spec.get("avoid", [])],
        threshold=_number(recipe, f"{path}.threshold", spec.get("threshold", 0.5)),
    )  # fmt: skip


def _texts(recipe: Recipe, entries: list[dict[str, Any]]) -> Track:
    """``text:`` entries (vars already filled in) -> a track of :class:`TextAsset` clips, timed on the composed
    timeline; the API checks and bounds each (length, colours, size) with the recipe's line in the message."""
    from vstream.compose.api import text_spec

    track = Track()
    for i, t in enumerate(entries):
        path = f"text[{i}]"
        start = _number(recipe, f"{path}.start", t.get("start", 0))
        end = _number(recipe, f"{path}.end", t["end"]) if "end" in t else None
        if end is not None and end <= start:
            raise RecipeError(f"{recipe.where(path)}: {path}: end {end:g}s must come after start {start:g}s")
        style = t.get("style") or {}
        x = _fraction(recipe, f"{path}.x", t["x"]) if "x" in t else None
        y = _fraction(recipe, f"{path}.y", t["y"]) if "y" in t else None
        if (x is None) != (y is None):
            raise RecipeError(f"{recipe.where(path)}: {path}: give both x and y (or a position)")
        if x is not None and "position" in t:
            raise RecipeError(f"{recipe.where(path)}: {path}: give position or x/y, not both")
        asset = TextAsset(text=str(t["text"]), position=t.get("position", "bottom"), x=x, y=y, style=TextStyle(
            size=_fraction(recipe, f"{path}.style.size", style.get("size", 0.05)), color=style.get("color", "#ffffff"),
            background=style.get("background", "#00000099"), font=style.get("font", "sans")))  # fmt: skip
        try:
            text_spec(asset, start, None if end is None else end - start, float("inf"), recipe.path.name)
        except UsageError as exc:
            raise RecipeError(f"{recipe.where(path)}: {path}: {exc.message.split(': ', 1)[1]}", hint=exc.hint) from None
        track.add_clip(start, Clip(asset=asset, duration=None if end is None else end - start))
    return track


def _fraction(recipe: Recipe, path: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecipeError(f"{recipe.where(path)}: {path}: {value!r} is not a number") from None


def _number(recipe: Recipe, path: str, value: Any, *, signed: bool = False) -> float:
    try:
        if isinstance(value, str) and signed and value.strip().startswith("-"):
            return -parse_time(value.strip()[1:])
        number = parse_time(str(value)) if isinstance(value, str) else float(value)
    except ValueError:
        raise RecipeError(f"{recipe.where(path)}: {path}: {value!r} is not a number of seconds") from None
    if number < 0 and not signed:
        raise RecipeError(f"{recipe.where(path)}: {path}: {value!r} must not be negative")
    return number


def _integer(recipe: Recipe, path: str, value: Any) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise RecipeError(f"{recipe.where(path)}: {path}: {value!r} is not a whole number") from None
    if number < 1:
        raise RecipeError(f"{recipe.where(path)}: {path}: must be at least 1")
    return number


def _inside(recipe: Recipe, relative: str, path: str) -> Path:
    """A file named by the recipe, which must stay inside the recipe's folder (symlinks resolved)."""
    folder = recipe.folder.resolve()
    target = (folder / relative).resolve()
    if folder not in target.parents and target != folder:
        raise RecipeError(f"{recipe.where(path)}: {path}: {relative!r} is outside the recipe's folder")
    if not target.is_file():
        raise RecipeError(f"{recipe.where(path)}: {path}: {relative!r} does not exist next to the recipe")
    return target
