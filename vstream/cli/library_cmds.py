"""init, list, info, tag, remove: the catalog commands."""

from __future__ import annotations

from typing import List, Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption, WaitOption
from vstream.cli.output import counted, out, print_json


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("list")(list_videos)
    app.command("info")(info)
    app.command("tag")(tag)
    app.command("remove")(remove)
    app.command("gc")(gc)
    app.command("rename")(rename)


def init(library: Optional[str] = LibraryOption, json: bool = JsonOption) -> None:
    """Create a library directory (other commands create it on first write too)."""
    from vstream.errors import NotFound
    from vstream.library import Library

    try:
        lib, existed = Library.open(library), True
    except NotFound:
        lib, existed = Library.open(library, create=True), False
    if json:
        print_json({"library": lib.location, "created": not existed})
    else:
        out.print(f"{'library already exists' if existed else 'created library'}: {lib.location}")


def list_videos(
    library: Optional[str] = LibraryOption,
    tag: List[str] = typer.Option([], "--tag", "-t", help="Only videos with this tag (key=value); repeatable."),
    json: bool = JsonOption,
) -> None:
    """List the library's videos."""
    from vstream.library import Library, parse_tags

    from vstream import live

    lib = Library.open(library)
    videos = [v.summary() for v in lib.videos(parse_tags(tag))]
    # events being recorded (or whose recorder died) are not library videos yet: listed as live
    recording = [] if tag else [e.summary() for e in live.events(lib) if e.status != "ended"]
    if json:
        print_json({"library": lib.location, "videos": videos} | ({"live": recording} if recording else {}))
        return
    for e in recording:
        out.print(f"{e['id']}  {e['status'].upper()}  {e['duration']:.1f}s so far, {e['takes']} take(s)  "
                  f"{e['playlist']}", markup=False, highlight=False)  # fmt: skip
    if not videos and recording:
        return
    if not videos:
        out.print("no videos" + (" with these tags" if tag else f" in {lib.location} (add some with `vstream ingest FILE`)"))
        return
    from rich.table import Table

    from vstream.timecode import format_hms

    table = Table(box=None if not out.is_terminal else None, pad_edge=False)
    for col in ("id", "duration", "resolution", "format", "segments", "tags"):
        table.add_column(col, justify="right" if col in ("duration", "segments") else "left")
    for v in videos:
        tags = " ".join(f"{k}={val}" for k, val in v["tags"].items())
        table.add_row(v["id"], format_hms(v["duration"]), v["resolution"], v["format"], str(v["segments"]), tags)
    out.print(table)


def info(video_id: str = typer.Argument(..., help="Video id."), library: Optional[str] = LibraryOption, json: bool = JsonOption) -> None:
    """Show one video: probe data, keyframes, segments, files."""
    from vstream.library import Library
    from vstream.timecode import TICKS

    from vstream import live
    from vstream.errors import NotFound, UsageError

    lib = Library.open(library)
    try:
        video = lib.get(video_id)
    except NotFound as missing:
        try:  # a live event not (yet) a library video
            event = live.load(lib, video_id)
        except (NotFound, UsageError):
            raise missing from None
        data = event.summary() | {"warnings": event.warnings}
        if json:
            print_json(data)
        else:
            for key, value in data.items():
                out.print(f"{key + ':':<12} {value}", markup=False, highlight=False)
        return
    from vstream.index.transcript import languages

    meta = video.meta
    data = video.summary() | {
        "languages": languages(lib, video),
        "content_hash": video.content_hash,
        "media_dir": str(lib.root / video.media_dir),
        "playlist": str(lib.path(video, meta["files"]["playlist"])),
        "thumbnail": str(lib.path(video, meta["files"]["thumbnail"])),
        "probe": meta["probe"],
        "stream": meta["stream"],
        "plan": meta["plan"],
        "keyframes": [round(k / TICKS, 6) for k in meta["keyframes"]],
        "segment_list": [{"start": round(s[0] / TICKS, 6), "duration": round(s[1] / TICKS, 6),
                          "offset": s[2], "length": s[3]} for s in meta["segments"]],  # fmt: skip
    }
    if json:
        print_json(data)
        return
    probe = meta["probe"]
    v = probe.get("video") or {}
    a = probe.get("audio") or {}
    gaps = [b - a_ for a_, b in zip(data["keyframes"], data["keyframes"][1:])]
    lines = [
        f"id:          {video.id}",
        f"source:      {video.source}",
        f"duration:    {video.duration:.3f}s",
        f"video:       {v.get('codec')} {v.get('width')}x{v.get('height')} {v.get('fps') or 0:.3f} fps ({meta['plan']['video']})"
        + (f", shown {data['resolution']} {data['orientation']} (rotated {data['rotation']}°)" if data["rotation"] else ""),
        "audio:       " + (f"{a.get('codec')} {a.get('sample_rate')} Hz {a.get('channels')} ch" if a else "none")
        + f" ({meta['stream']['audio_source']})",
        f"container:   {probe.get('container')}, {probe.get('size')} bytes",
        f"keyframes:   {len(data['keyframes'])}" + (f", every {min(gaps):.2f}-{max(gaps):.2f}s" if gaps else ""),
        f"segments:    {len(data['segment_list'])} ({video.format}), target {meta['segment_seconds']:g}s",
        f"playlist:    {data['playlist']}",
        f"thumbnail:   {data['thumbnail']}",
        "tags:        " + (" ".join(f"{k}={val}" for k, val in video.tags.items()) or "-"),
        "languages:   " + _languages_line(data["languages"]),
    ]
    if meta["plan"]["problems"]:
        lines.append("re-encoded:  " + "; ".join(meta["plan"]["problems"]))
    out.print("\n".join(lines), markup=False)


def _languages_line(found: dict) -> str:
    spoken = found["spoken"]
    said = ("spoken " + ", ".join(f"{k} ({v:g}s)" for k, v in spoken.items())) if spoken else (
        "no speech" if spoken is not None else "speech not indexed yet")  # fmt: skip
    english = found.get("translated_to_english")
    said += f" ({counted(english, 'sentence')} translated to English)" if english else ""
    return said + ("; subtitles " + ", ".join(found["subtitles"]) if found["subtitles"] else "")


def tag(
    video_id: str = typer.Argument(..., help="Video id."),
    tags: List[str] = typer.Argument(None, help="key=value pairs to set."),
    remove: List[str] = typer.Option([], "--remove", "-r", help="Tag key to remove; repeatable."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Set or remove tags on a video (search filters and recipes select by tags)."""
    from vstream.errors import UsageError
    from vstream.library import Library, parse_tags

    if not tags and not remove:
        raise UsageError("nothing to do", hint="give key=value pairs and/or --remove KEY")
    lib = Library.open(library)
    with lib.writing(wait=wait):
        video = lib.set_tags(video_id, parse_tags(tags or []), list(remove))
    if json:
        print_json({"id": video.id, "tags": video.tags})
    else:
        out.print(f"{video.id}: " + (" ".join(f"{k}={v}" for k, v in video.tags.items()) or "no tags"), markup=False)


def remove(
    video_ids: List[str] = typer.Argument(..., help="Video ids to remove."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Remove videos: their catalog rows, tags and index (the source files are not touched).

    Their segments stay while published streams may play them; `vstream gc` deletes them later.
    """
    from vstream.library import Library

    lib = Library.open(library)
    removed = []
    with lib.writing(wait=wait):
        for video_id in video_ids:
            lib.get(video_id)  # fail before removing anything if an id is wrong
        for video_id in video_ids:
            removed.append(lib.remove(video_id).id)
    if json:
        print_json({"removed": removed})
    else:
        out.print("removed " + ", ".join(removed), markup=False)
        from vstream.cli.output import err

        err.print("their segments stay for the streams that play them until `vstream gc` (cron it)", markup=False)


def gc(
    library: Optional[str] = LibraryOption,
    grace: str = typer.Option("24h", "--grace", help="Keep retired media at least this long (90s, 15m, 12h, 7d)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Say what would be deleted; delete nothing."),
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Delete the media of removed and re-ingested videos once no published stream plays it.

    A folder goes when no playlist in the library (composed streams, reels) names it and
    --grace has passed since it was retired (players mid-playback, playlists kept elsewhere).
    """
    from vstream.cli.output import err
    from vstream.library import Library
    from vstream.retention import gc as run_gc
    from vstream.retention import parse_duration

    lib = Library.open(library)
    swept = run_gc(lib, grace=parse_duration(grace), dry_run=dry_run, wait=wait)
    gone = [s for s in swept if s.status != "kept"]
    freed = sum(s.bytes for s in gone)
    if json:
        print_json({"library": lib.location, "deleted" if not dry_run else "would_delete": len(gone),
                    "kept": len(swept) - len(gone), "bytes": freed, "folders": [s.to_dict() for s in swept]})  # fmt: skip
        return
    for s in swept:
        out.print(f"{s.status:<13}{s.media_dir}  ({s.video_id}, {s.bytes / 1e6:.1f} MB): {s.reason}", markup=False,
                  highlight=False)  # fmt: skip
    verb = "would free" if dry_run else "freed"
    err.print(f"{len(gone)} of {len(swept)} retired folder(s) {'would go' if dry_run else 'deleted'}, "
              f"{verb} {freed / 1e6:.1f} MB", markup=False)  # fmt: skip


def rename(
    old: str = typer.Argument(..., help="The video's id."),
    new: str = typer.Argument(..., help="Its new id."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Give a video a new id (the only way an id changes). Recipes and streams that name the old id
    need the new one; the next `vstream index` indexes it under the new id."""
    from vstream.cli.output import err
    from vstream.library import Library

    lib = Library.open(library)
    with lib.writing(wait=wait):
        video = lib.rename(old, new)
    if json:
        print_json({"old": old, "id": video.id})
        return
    out.print(f"renamed {old} -> {video.id}", markup=False)
    err.print(f"run `vstream index {video.id}` to index it under its new id; recipes that name {old} need {video.id}",
              markup=False)  # fmt: skip
