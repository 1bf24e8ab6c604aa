"""`vstream ingest`."""

from __future__ import annotations

from typing import List, Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption, WaitOption
from vstream.cli.output import err, out, print_json


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)


def ingest(
    paths: List[str] = typer.Argument(..., help="Video files, directories (searched recursively) or globs."),
    library: Optional[str] = LibraryOption,
    video_id: Optional[str] = typer.Option(None, "--id", help="Id for the video (one input only) [default: slug of the file name]."),
    tag: List[str] = typer.Option([], "--tag", "-t", help="Tag key=value to attach; repeatable."),
    segment_seconds: float = typer.Option(4.0, "--segment-seconds", help="Target segment duration; cuts land on keyframes near it."),
    fmt: str = typer.Option("fmp4", "--format", help="Segment format: fmp4 (CMAF, default) or ts (MPEG-TS)."),
    transcode: bool = typer.Option(False, "--transcode", help="Re-encode inputs that cannot be stream-copied (to H.264/AAC, 1 s GOP)."),
    params_in_band: bool = typer.Option(False, "--params-in-band", help="fMP4: also put SPS/PPS at every keyframe, so ffmpeg-based players (ffplay, mpv) decode streams composed of differently encoded videos; ~40% slower remux."),
    allow_truncated: bool = typer.Option(False, "--allow-truncated", help="Ingest what a cut-off file holds (with a warning) instead of refusing it."),
    resample_audio: bool = typer.Option(False, "--resample-audio", help="Re-encode audio that is not 48 kHz to AAC 48 kHz (video is still copied), so ffmpeg and GStreamer's playbin play it right after 48 kHz clips."),
    force: bool = typer.Option(False, "--force", "-f", help="Re-ingest files that are already in the library."),
    then_index: bool = typer.Option(False, "--index", help="Index what was ingested (vstream index) in the same run."),
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Turn video files into HLS in the library by stream copy (no re-encode), recording keyframes.

    Re-ingesting a file already in the library does nothing (recognized by content);
    a changed file is re-ingested under its id. Exit code 1 if any input failed.
    """
    from vstream.cli.output import RichProgress
    from vstream.errors import PARTIAL
    from vstream.ingest import IngestOptions
    from vstream.ingest import ingest as run_ingest
    from vstream.library import Library, parse_tags

    opts = IngestOptions(
        segment_seconds=segment_seconds, format=fmt, transcode=transcode, force=force,
        video_id=video_id, tags=parse_tags(tag), wait=wait, params_in_band=params_in_band,
        allow_truncated=allow_truncated, resample_audio=resample_audio,
    )  # fmt: skip
    opts.validate()
    lib = Library.open(library, create=True)
    with RichProgress() as progress:
        results = run_ingest(lib, paths, opts, progress)
    counts = {s: sum(r.status == s for r in results) for s in ("ingested", "updated", "skipped", "ignored", "failed")}
    index_code, indexed = 0, None
    if then_index:
        from vstream.cli.index import run_index
        from vstream.models import ModelSettings

        ids = sorted({r.id for r in results if r.id})
        if ids:
            index_code, indexed = run_index(lib, ids, only=[], force=False, sample_seconds=10.0, wait=wait,
                                            settings=ModelSettings.load(lib.root), json=json, emit=False)  # fmt: skip
    if json:
        print_json({"library": lib.location, **counts, "results": [r.to_dict() for r in results]}
                   | ({"index": indexed} if indexed is not None else {}))
    else:
        for r in results:
            if r.status == "failed":
                err.print(f"failed   {r.message}", markup=False, highlight=False)
            elif r.status == "ignored":
                err.print(f"ignored  {r.path}: {r.message}", markup=False, highlight=False)
            else:
                detail = f"{r.duration:.2f}s, {r.segments} segments, {r.seconds:.2f}s"
                note = f" ({r.message})" if r.message else ""
                out.print(f"{r.status:<9}{r.id}  {detail}{note}", markup=False, highlight=False)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        err.print(f"{summary or 'nothing to do'} in {lib.location}", markup=False, highlight=False)
    if counts["failed"] or index_code:
        raise typer.Exit(PARTIAL)
