"""`vstream compose`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import List, Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption
from vstream.cli.output import err, out, print_json


def register(app: typer.Typer) -> None:
    app.command("compose")(compose)
    app.command("render")(render)


def compose(
    recipe: str = typer.Argument(..., help="The recipe YAML file."),
    library: Optional[str] = LibraryOption,
    user: str = typer.Option("guest", "--user", "-u", help="Whose stream this is (also the {{user}} var)."),
    set_: List[str] = typer.Option([], "--set", "-s", help="A var for this stream, name=value; repeatable."),
    users: Optional[str] = typer.Option(None, "--users", help="One stream per row of a .csv (header: user,VAR...) or .jsonl file."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Segment URLs under this base (a CDN) instead of relative paths."),
    check: bool = typer.Option(False, "--check", help="Validate the recipe (and its clips) without writing anything."),
    strict: bool = typer.Option(False, "--strict", help="Fail (instead of warning) on a var the recipe does not declare."),
    follow: bool = typer.Option(False, "--follow", "-f", help="For a recipe with a live: clip: keep the stream growing, appending each highlight as it is found, until the event ends."),
    json: bool = JsonOption,
) -> None:
    """Turn a YAML recipe into a personal HLS stream that points at the library's segments.

    Writes LIBRARY/streams/RECIPE/USER/master.m3u8 (and its media and caption playlists)
    and prints its path. Nothing is copied or re-encoded: every user's stream shares
    the library's segment files. A recipe whose last clip is `live: EVENT` is a live
    stream (an EVENT playlist): its archive clips, then the event's highlights so far;
    with --follow it grows as they are found and ends with the event.
    """
    from vstream.compose.core import compose as run
    from vstream.compose.recipe import load
    from vstream.library import Library, parse_tags
    from vstream.search import Searcher

    parsed = load(recipe)
    values = parse_tags(set_, what="var", example="--set topic=goals")
    rows = _rows(users) if users else [{"user": user, **values}]
    notes = _undeclared(parsed, set(values) | {k for row in rows for k in row if k != "user"}, strict)
    lib = Library.open(library)
    searcher = Searcher(lib)
    if follow:
        _follow(lib, parsed, rows, values, user, base_url, searcher, check, json)
        return
    results = []
    # on object storage the streams are published (uploaded) when the batch ends; locally nothing is locked
    publishing = lib.writing() if lib.remote is not None and not check else contextlib.nullcontext()
    with publishing:
        for row in rows:
            who = str(row.get("user") or user)
            vars_ = {k: str(v) for k, v in row.items() if k != "user"} | values
            results.append(run(lib, parsed, vars_, user=who, base_url=base_url, write=not check, searcher=searcher))
    for r in results:
        r.warnings[:0] = notes
    if json:
        print_json(results[0].to_dict() if len(results) == 1 and not users else {"streams": [r.to_dict() for r in results]})
    elif check:
        err.print(f"ok: {parsed.path.name} is valid ({len(results)} stream(s), "
                  f"{sum(len(r.clips) for r in results)} clips)", markup=False)  # fmt: skip
    else:
        for r in results:
            shown = r.master if lib.remote is None else lib.remote.uri(Path(r.master).relative_to(lib.root).as_posix())
            out.print(shown, markup=False, highlight=False)
            for b in r.breaks:
                where = f"at {b.at:g}s" if b.at is not None else "skipped"
                moved = f", moved {b.moved_by:+g}s" if b.moved_by else ""
                err.print(f"break {where} ({', '.join(b.ads) or 'no ads'}, {b.duration:g}s{moved})", markup=False)
            for w in r.warnings:
                err.print(f"warning: {w}", markup=False)
            if r.live and not r.live["ended"]:
                err.print(f"note: {r.live['event']} is live: this stream grows as highlights are found; keep it "
                          "growing with --follow (vstream serve does)", markup=False)  # fmt: skip


def _follow(lib, recipe, rows: list[dict], values: dict[str, str], user: str, base_url: str | None, searcher,
            check: bool, json: bool) -> None:  # fmt: skip
    """``compose --follow``: every user's live stream rewritten as it grows, until the event ends."""
    import time

    from vstream import live
    from vstream.compose.follow import LiveStream
    from vstream.errors import UsageError

    if check:
        raise UsageError("--follow writes the stream as it grows; --check writes nothing", hint="use one of them")
    if lib.remote is not None:
        raise UsageError("--follow needs a local library (a live event is recorded on this machine)")
    streams = []
    for row in rows:
        vars_ = {k: str(v) for k, v in row.items() if k != "user"} | values
        streams.append(LiveStream(lib, recipe, vars_, user=str(row.get("user") or user), base_url=base_url,
                                  searcher=searcher))  # fmt: skip
    results: dict[str, object] = {}
    told: dict[str, int] = {}
    waiting: set[str] = set()
    stopped = False  # the event's recorder died: it waits for a resume or a stop, and says so once
    while True:
        event_now = live.load(lib, streams[0].entry.event)  # (once per round, for every user's stream)
        status = event_now.status
        if (status == "interrupted") != stopped:
            stopped = not stopped
            event = streams[0].entry.event
            err.print(f"{event}: its recorder stopped without finishing; waiting until it is resumed "
                      f"(vstream live record SOURCE --id {event}) or closed (vstream live stop {event})"
                      if stopped else f"{event}: recording again", markup=False)  # fmt: skip
        for stream in streams:
            try:
                result = stream.result(write=True, event=event_now)
            except live.NotYet as exc:
                if stream.user not in waiting:
                    waiting.add(stream.user)
                    err.print(f"{stream.user}: {exc.message}", markup=False)
                continue
            if stream.user not in results and not json:
                out.print(result.master, markup=False, highlight=False)  # published: a player may start now
            results[stream.user] = result
            n = result.live["highlights"]
            if n > told.get(stream.user, 0):
                err.print(f"{stream.user}: {n} highlight(s) of {result.live['event']}, {result.duration:.0f} s",
                          markup=False)  # fmt: skip
                told[stream.user] = n
        if len(results) == len(streams) and all(r.live["ended"] for r in results.values()):
            break
        time.sleep(1.0)
    if json:
        done = [results[s.user] for s in streams]
        print_json(done[0].to_dict() if len(done) == 1 else {"streams": [r.to_dict() for r in done]})
    else:
        err.print(f"{streams[0].entry.event} ended: {len(streams)} stream(s) complete", markup=False)


def _undeclared(recipe, names: set[str], strict: bool) -> list[str]:
    """A var the recipe does not declare is most likely a typo: say so (or fail with --strict)."""
    from vstream.compose.recipe import RecipeError

    declared = set(recipe.defaults())
    unknown = sorted(names - declared)
    if not unknown:
        return []
    known = ", ".join(sorted(declared)) or "none"
    message = f"{recipe.path.name} declares no var {', '.join(unknown)} (its vars: {known}); it has no effect"
    if strict:
        raise RecipeError(message, hint="fix the name, or declare it under vars:")
    return [message]


def _rows(path: str) -> list[dict]:
    import csv
    import json as jsonlib
    from pathlib import Path

    from vstream.compose.recipe import RecipeError

    p = Path(path).expanduser()
    if not p.is_file():
        raise RecipeError(f"--users {path}: no such file")
    if p.stat().st_size > 64 * 2**20:
        raise RecipeError(f"--users {path}: larger than 64 MiB")
    rows = []
    if p.suffix == ".jsonl":
        for n, line in enumerate(p.read_text().splitlines(), 1):
            if line.strip():
                try:
                    row = jsonlib.loads(line)
                except ValueError as exc:
                    raise RecipeError(f"{p.name}:{n}: not JSON ({exc})") from None
                if not isinstance(row, dict) or "user" not in row:
                    raise RecipeError(f"{p.name}:{n}: each line needs an object with a \"user\" field")
                rows.append(row)
    elif p.suffix == ".csv":
        with p.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "user" not in reader.fieldnames:
                raise RecipeError(f"{p.name}: the header must include a 'user' column")
            rows = [dict(r) for r in reader]
    else:
        raise RecipeError(f"--users {path}: use a .csv or .jsonl file")
    if not rows:
        raise RecipeError(f"{p.name}: no users")
    first: dict[str, int] = {}
    for n, row in enumerate(rows, 1):
        who = str(row.get("user") or "")
        if who in first:  # the second row's stream would silently replace the first's
            raise RecipeError(f"{p.name}: user {who!r} is on rows {first[who]} and {n}",
                              hint="each user gets one stream: keep one row per user")  # fmt: skip
        first[who] = n
    return rows


def render(
    stream: str = typer.Argument(..., help="A composed stream: its master.m3u8 (what vstream compose printed) or folder."),
    out_path: str = typer.Option(..., "--out", "-o", help="OUT.mp4, or a folder for HLS (index.m3u8 + segments)."),
    library: Optional[str] = typer.Option(None, "--library", "-L", help="The library [default: the one the stream is in]."),
    copy: bool = typer.Option(False, "--copy", help="Stream copy, no re-encode: an HLS folder that plays whole without vstream serve; overlays and captions stay metadata."),
    timing: str = typer.Option("cmaf", "--timing", help="With --copy, who plays the folder: cmaf for browsers (hls.js, Safari), unsigned for ffmpeg, GStreamer and VLC (they show B-frame video late in cmaf timing). vstream serve picks per player."),
    lang: Optional[str] = typer.Option(None, "--lang", help="The subtitle rendition to burn in: a language code of the stream's (es, pt-BR), or off [default: the stream's default rendition]."),
    json: bool = JsonOption,
) -> None:
    """Burn a composed stream's overlay, text, reframe and captions into real pixels (re-encodes).

    For players that ignore vstream's manifest metadata. Each clip is encoded once per look
    and cached in LIBRARY/cache/render/, then the clips are joined without another encode.
    With --copy nothing is encoded: the folder holds the bytes vstream serve would hand out
    (one continuous timeline), for players the static compose output does not serve.
    """
    from vstream.cli.output import RichProgress
    from vstream.compose.render import find_stream, render as run
    from vstream.library import Library

    folder = find_stream(stream)
    lib = Library.open(library) if library else None
    from vstream.errors import UsageError

    if copy and lang is not None:
        raise UsageError("--lang picks the subtitles render burns in; --copy burns nothing (every rendition stays)")
    if timing not in ("cmaf", "unsigned"):
        raise UsageError(f"--timing {timing}: use cmaf (browsers) or unsigned (ffmpeg, GStreamer, VLC)")
    if timing != "cmaf" and not copy:
        raise UsageError("--timing is for --copy (render re-encodes, its output has one timing every player reads)")
    options = {"unsigned": timing == "unsigned"} if copy else {"lang": lang}
    if copy:
        from vstream.compose.export import export as run
    with RichProgress() as progress:
        result = run(folder, out_path, lib=lib, progress=progress, **options)
    if json:
        print_json(result.to_dict())
        return
    out.print(result.output, markup=False, highlight=False)
    if copy:
        err.print(f"{result.duration:g}s, {result.clips} clips, {result.segments} segments, "
                  f"{result.bytes / 1e6:.1f} MB copied (no re-encode)", markup=False)  # fmt: skip
    else:
        err.print(f"{result.width}x{result.height}, {result.duration:g}s, {result.clips} clips "
                  f"({result.encoded} encoded, {result.cached} from the cache)", markup=False)  # fmt: skip
    for w in result.warnings:
        err.print(f"warning: {w}", markup=False)
