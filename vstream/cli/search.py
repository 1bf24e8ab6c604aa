"""`vstream search`."""

from __future__ import annotations

from typing import List, Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption
from vstream.cli.output import counted, err, out, print_json


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    query: str = typer.Argument("", help='What you remember: "a rocket launch", "the budget discussion".'),
    library: Optional[str] = LibraryOption,
    mode: str = typer.Option("hybrid", "--mode", "-m", help="hybrid, semantic, keyword or peaks (loudness)."),
    video: List[str] = typer.Option([], "--video", help="Only this video; repeatable."),
    tag: List[str] = typer.Option([], "--tag", "-t", help="Only videos with this tag (key=value); repeatable."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Only scene or speech hits."),
    min_score: Optional[float] = typer.Option(None, "--min-score", help="Drop moments scoring below this."),
    limit: int = typer.Option(10, "--limit", "-n", help="How many moments."),
    padding: float = typer.Option(0.0, "--padding", help="Seconds added before and after each moment."),
    max_per_video: Optional[int] = typer.Option(None, "--max-per-video", help="At most this many moments per video."),
    person: List[str] = typer.Option([], "--person", "-p", help="Only while this person is on screen (name or id); "
                                     "repeat for people together. With no query: every moment they are on screen."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Only what is spoken in this language (es, pt-BR)."),
    live: bool = typer.Option(True, "--live/--no-live", help="Also search what live events' transcripts say "
                              "and show (vstream index --follow), and with --mode peaks their loudness, before the "
                              "index holds them."),
    playlist: Optional[str] = typer.Option(None, "--playlist", metavar="OUT.m3u8",
                                           help="Also write the moments as a playable HLS playlist."),
    json: bool = JsonOption,
) -> None:
    """Find moments by meaning, by spoken or on-screen words, or both (hybrid, the default).

    Moments merge adjacent hits in one video and start and end on keyframes, so they
    play (and compose) without re-encoding. --json prints
    {"query", "mode", "took_ms", "moments": [{"video_id", "start", "end", "score", "kinds", "text", "thumbnail",
    "people", "language", "live", "wall"}]} (people: who is on screen in the moment, from the faces stage and
    your names; language: the language spoken in it, or null; live: true for a moment of a live event that is
    no library video yet, play it with vstream live clip VIDEO_ID --from START --to END; wall: for moments
    found in a live transcript, the wall-clock time it starts at).
    """
    from vstream.library import Library, parse_tags
    from vstream.search import SearchOptions, Searcher

    opts = SearchOptions(mode=mode, videos=list(video), tags=parse_tags(tag), kind=kind, min_score=min_score,
                         limit=limit, padding=padding, max_per_video=max_per_video,
                         people=list(person), language=lang, live=live)  # fmt: skip
    opts.validate()
    lib = Library.open(library)
    result = Searcher(lib).search(query, opts)
    stored = [m for m in result.moments if not m.live]
    if playlist and len(stored) < len(result.moments):
        first = next(m for m in result.moments if m.live)
        err.print(f"note: the playlist leaves out {counted(len(result.moments) - len(stored), 'moment')} of live events "
                  f"(no library videos yet); clip them with: vstream live clip {first.video_id} --from {first.start:g} "
                  f"--to {first.end:g}", markup=False, highlight=False)  # fmt: skip
    if playlist and stored:
        from vstream.search import ffmpeg_players_warning, write_playlist

        path = write_playlist(lib, stored, playlist)
        err.print(f"playlist: {path}", markup=False)
        note = ffmpeg_players_warning([lib.get(m.video_id) for m in stored])
        if note:
            err.print(f"note: {note}", markup=False, highlight=False)
    if json:
        print_json(result.to_dict())
        return
    if not result.moments:
        err.print("no moments found", markup=False)
        return
    from rich.table import Table

    from vstream.timecode import format_hms

    table = Table(box=None, pad_edge=False)
    with_people = any(m.people for m in result.moments)
    with_lang = len({m.language for m in result.moments if m.language}) > 1 or lang is not None
    for col in ("#", "video", "start", "end", "score", "kinds", *(["people"] if with_people else []),
                *(["lang"] if with_lang else []), "snippet"):  # fmt: skip
        table.add_column(col, justify="right" if col in ("#", "score") else "left", overflow="fold")
    for i, m in enumerate(result.moments, 1):
        snippet = (m.text or "")[:80] + ("…" if len(m.text or "") > 80 else "")
        table.add_row(str(i), m.video_id + (" (live)" if m.live else ""), format_hms(m.start), format_hms(m.end), f"{m.score:.3f}", ",".join(m.kinds),
                      *([", ".join(m.people)] if with_people else []), *([m.language or "-"] if with_lang else []),
                      snippet)  # fmt: skip
    out.print(table)
    err.print(f"{counted(len(result.moments), 'moment')} in {result.took_ms:.0f} ms", markup=False)
