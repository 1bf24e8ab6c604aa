"""`vstream live record|list|stop|clip`: live events recorded into the library as they happen."""

from __future__ import annotations

from typing import Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption
from vstream.cli.output import err, out, print_json

app = typer.Typer(help="Record a live source into the library as it arrives, and clip it at once.", no_args_is_help=True)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="live")


@app.command("record")
def record(
    source: str = typer.Argument(..., help="srt://HOST:PORT?mode=listener, rtmp://HOST:PORT/APP/KEY (vstream listens), "
                                          "udp://HOST:PORT, rtp://..., an http(s) HLS URL, or a file being written."),
    event_id: str = typer.Option(..., "--id", help="The event's id (the library video it becomes at the end)."),
    timeout: float = typer.Option(15.0, "--timeout", help="Seconds to wait for the first video before giving up (exit 3)."),
    reconnect: float = typer.Option(10.0, "--reconnect", help="After a drop, seconds to wait for the sender to come back (a new take)."),
    idle: float = typer.Option(5.0, "--idle", help="Seconds without data that count as a drop."),
    target: int = typer.Option(6, "--target-duration", help="The live playlist's target duration, fixed for the event."),
    highlights: bool = typer.Option(True, "--highlights/--no-highlights",
                                    help="Find loud moments as they happen: LIBRARY/live/EVENT/highlights.m3u8."),
    highlight_length: float = typer.Option(20.0, "--highlight-length", metavar="SECONDS",
                                           help="Seconds of each highlight, two thirds of them before its loudest moment."),
    highlight_rise: float = typer.Option(8.0, "--highlight-rise", metavar="LU",
                                         help="How much louder than the minute before a moment must be to count."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """Record until SIGINT/SIGTERM (or vstream live stop), the source's end, or no reconnect:
    the playlist LIBRARY/live/EVENT/index.m3u8 grows as fragments complete (and highlights.m3u8
    as loud moments are found), then the event becomes the library video EVENT (stream copy,
    no re-encode)."""
    from vstream import live
    from vstream.live_highlights import Settings
    from vstream.cli.output import RichProgress
    from vstream.library import Library

    chosen = Settings(highlight_length, highlight_rise).check() if highlights else None  # (before a library is made)
    lib = Library.open(library, create=True)
    with RichProgress() as progress:
        announced = []

        def first(event) -> None:
            if not announced:
                announced.append(True)
                err.print(f"{event.id}: recording; live playlist {lib.root / live.LIVE_DIR / event.id / live.PLAYLIST}",
                          markup=False, highlight=False)  # fmt: skip

        recorder = live.Recorder(lib, source, event_id, timeout=timeout, reconnect=reconnect, idle=idle, target=target,
                                 progress=progress, on_fragment=first, highlights=chosen)  # fmt: skip
        event = recorder.run()
    if json:
        print_json(event.summary() | {"warnings": event.warnings})
    else:
        out.print(f"{event.id}: ended, {event.duration:.1f} s in {len(event.takes)} take(s); library video {event.video}",
                  markup=False, highlight=False)  # fmt: skip


@app.command("list")
def list_events(library: Optional[str] = LibraryOption, json: bool = JsonOption) -> None:
    """Live events: recording, interrupted (its recorder died: record --id resumes, stop closes) or ended."""
    from vstream import live
    from vstream.library import Library

    lib = Library.open(library)
    found = [e.summary() for e in live.events(lib)]
    if json:
        print_json({"events": found})
        return
    if not found:
        err.print("no live events", markup=False)
    for e in found:
        out.print(f"{e['id']:<20} {e['status']:<12} {e['duration']:>8.1f}s  {e['takes']} take(s)  {e['playlist']}",
                  markup=False, highlight=False)  # fmt: skip


@app.command("stop")
def stop(
    event_id: str = typer.Argument(..., help="The event."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """Stop a recording (its recorder finishes it), or close an interrupted event into a library video."""
    from vstream import live
    from vstream.cli.output import RichProgress
    from vstream.library import Library

    lib = Library.open(library)
    with RichProgress() as progress:
        event = live.stop(lib, event_id, progress=progress)
    if json:
        print_json(event.summary())
    else:
        out.print(f"{event.id}: ended, {event.duration:.1f} s; library video {event.video}", markup=False)


@app.command("clip")
def clip(
    event_id: str = typer.Argument(..., help="The event."),
    last: Optional[float] = typer.Option(None, "--last", help="The last N seconds recorded."),
    start: Optional[str] = typer.Option(None, "--from", help="Event seconds, HH:MM:SS, or a wall-clock ISO time."),
    end: Optional[str] = typer.Option(None, "--to", help="Event seconds, HH:MM:SS, or a wall-clock ISO time [default: now]."),
    loudest: Optional[float] = typer.Option(None, "--loudest", metavar="SECONDS",
                                            help="SECONDS around the loudest moment so far (a crowd's roar), two thirds of it before."),
    out_file: Optional[str] = typer.Option(None, "--out", help="Write the playlist here [default: LIBRARY/live/EVENT/clips/]."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """An instant clip: a VOD playlist of the recorded fragments (whole keyframe intervals, no
    re-encode), as soon as they exist; a range not recorded yet is exit 3 ("not yet")."""
    from pathlib import Path

    from vstream import live
    from vstream.library import Library

    lib = Library.open(library)
    result = live.clip(lib, event_id, last=last, start=start, end=end, loudest=loudest,
                       out=Path(out_file).expanduser() if out_file else None)  # fmt: skip
    if json:
        print_json(result)
    else:
        out.print(result["playlist"], markup=False)
        err.print(f"{result['duration']:.1f} s ({result['start']:.1f}-{result['end']:.1f} s of {event_id})", markup=False)


@app.command("highlights")
def highlights(
    event_id: str = typer.Argument(..., help="The event."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """The event's highlights (loud moments) so far, and their playlist LIBRARY/live/EVENT/highlights.m3u8.
    For an event recorded with --no-highlights (or before they existed), finds them now."""
    from vstream import live_highlights
    from vstream.library import Library

    lib = Library.open(library)
    result = live_highlights.highlights(lib, event_id)
    if json:
        print_json(result)
        return
    for h in result["highlights"]:
        state = "" if h["in_playlist"] else "  (its clip is still being recorded)"
        out.print(f"{h['peak']:>9.1f}s  {h['at'] or '':<25} {h['loudness']:>6.1f} LUFS  +{h['rise']:.1f} LU  "
                  f"clip {h['start']:.1f}-{h['end']:.1f}s{state}", markup=False, highlight=False)  # fmt: skip
    for w in result["warnings"]:
        err.print(f"warning: {w}", markup=False)
    if result["playlist"]:
        err.print(f"playlist: {lib.root / result['playlist']}", markup=False, highlight=False)
    elif not result["highlights"]:
        err.print(f"no highlights in {event_id} so far ({result['judged_until']:.0f} s judged)", markup=False)
    else:
        err.print(f"the playlist is published once it holds {live_highlights.PUBLISH_TARGETS} target durations "
                  "or the event ends", markup=False)  # fmt: skip
