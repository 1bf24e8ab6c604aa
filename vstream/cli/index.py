"""`vstream index` and `vstream transcript`."""

from __future__ import annotations

from typing import List, Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption, WaitOption
from vstream.cli.output import counted, err, out, print_json, warn


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("transcript")(transcript)


def model_options(
    visual: Optional[str], clip_model: Optional[str], clip_weights: Optional[str], whisper_model: Optional[str],
    text_model: Optional[str], ocr: Optional[bool], device: Optional[str], library_root, faces: Optional[bool] = None,
    english: Optional[bool] = None,
):  # fmt: skip
    from vstream.models import ModelSettings

    return ModelSettings.load(
        library_root, visual=visual, clip_model=clip_model, clip_weights=clip_weights, whisper=whisper_model,
        text=text_model, ocr=ocr, device=device, faces=None if faces is None else ("on" if faces else "off"),
        english=english,
    )  # fmt: skip


VisualOption = typer.Option(None, "--visual", help="Visual backend: clip, labels or auto (clip when CLIP weights are configured).")
ClipModelOption = typer.Option(None, "--clip-model", help="open_clip architecture, e.g. ViT-B-32.")
ClipWeightsOption = typer.Option(None, "--clip-weights", help="Local open_clip checkpoint (or a pretrained tag when online).")
WhisperOption = typer.Option(None, "--whisper-model", help="Whisper model: auto (default: base identifies each language, tiny.en transcribes English), tiny.en, base, or a CTranslate2 model directory.")
TextModelOption = typer.Option(None, "--text-model", help="Text embedder: minilm (packaged, English), e5 (packaged multilingual-e5-small: finds any language from any language) or a directory with model.onnx + tokenizer.json. Changing it re-embeds the stored texts; nothing else is redone.")
OcrOption = typer.Option(None, "--ocr/--no-ocr", help="Read on-screen text in sampled frames [default: on].")
DeviceOption = typer.Option(None, "--device", help="cpu or cuda.")
EnglishOption = typer.Option(None, "--english/--no-english", help="Also store an English translation of every "
                             "sentence spoken in another language (Whisper translate; subtitles and English search use "
                             "it). Sticks for the library; switching it redoes speech [default: off].")
FacesOption = typer.Option(None, "--faces/--no-faces", help="Find faces and cluster them into people "
                           "[default: on when the face models are installed, see vstream doctor].")


def run_index(lib, video_ids, *, only, force, sample_seconds, wait, settings, json: bool, ray: str | None = None,
              ray_workers: int | None = None, emit: bool = True) -> tuple[int, dict]:  # fmt: skip
    """Shared by `index` and `ingest --index`: run, print (JSON only when ``emit``), return (exit code, JSON)."""
    from vstream.cli.output import RichProgress
    from vstream.errors import PARTIAL
    from vstream.index.pipeline import IndexOptions
    from vstream.index.pipeline import index as run

    opts = IndexOptions(only=list(only), force=force, sample_seconds=sample_seconds, wait=wait)
    with RichProgress() as progress:
        executor = None
        if ray:
            from vstream.index.distributed import RayExecutor

            executor = RayExecutor(lib, ray, ray_workers, progress)
        try:
            results = run(lib, list(video_ids), opts, settings, progress, executor=executor)
        finally:
            if executor is not None:
                executor.close()
    counts = {s: sum(r.status == s for r in results) for s in ("indexed", "re-embedded", "skipped", "failed")}
    failed_videos = sorted({r.video_id for r in results if r.status == "failed"})
    data = {"library": lib.location, **counts, "failed_videos": failed_videos, "results": [r.to_dict() for r in results]}
    if json:
        if emit:
            print_json(data)
    else:
        for r in results:
            if r.status == "failed":
                err.print(f"failed   {r.video_id} {r.stage}: {r.message}", markup=False, highlight=False)
            elif r.status in ("indexed", "re-embedded"):
                out.print(f"{r.status:<8} {r.video_id:<16} {r.stage:<7} {r.rows:>5} rows  {r.seconds:.2f}s",
                          markup=False, highlight=False)  # fmt: skip
                if r.status == "indexed" and r.message:
                    warn(f"{r.video_id} {r.stage}: {r.message}")
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing to index"
        err.print(f"{summary} (video × stage) in {lib.location}", markup=False, highlight=False)
    return (PARTIAL if failed_videos else 0), data


def index(
    video_ids: List[str] = typer.Argument(None, help="Videos to index [default: every video not indexed yet]."),
    library: Optional[str] = LibraryOption,
    only: List[str] = typer.Option([], "--only", help="Run only this stage: scenes, speech, audio or faces; repeatable."),
    force: bool = typer.Option(False, "--force", "-f", help="Redo stages that are already indexed."),
    sample_seconds: float = typer.Option(10.0, "--sample-seconds", help="Sample one frame per this many seconds of a scene."),
    visual: Optional[str] = VisualOption,
    clip_model: Optional[str] = ClipModelOption,
    clip_weights: Optional[str] = ClipWeightsOption,
    whisper_model: Optional[str] = WhisperOption,
    text_model: Optional[str] = TextModelOption,
    ocr: Optional[bool] = OcrOption,
    faces: Optional[bool] = FacesOption,
    english: Optional[bool] = EnglishOption,
    device: Optional[str] = DeviceOption,
    ray: Optional[str] = typer.Option(None, "--ray", metavar="local|auto|ADDRESS",
                                      help="Run the stages on Ray: local (start a cluster here), auto (the running one) or HOST:PORT."),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", help="Model-holding Ray workers [default: one per CPU]."),
    follow: bool = typer.Option(False, "--follow", help="Transcribe a live event's speech while it is recorded "
                                "(settled sentences with wall clock, into live/EVENT/speech.jsonl), until it ends; "
                                "with --ocr also read each fragment's on-screen text, with --visual labels describe what "
                                "it shows (live/EVENT/onscreen.jsonl)."),
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Record what every scene shows and says: shots, labels or CLIP vectors, on-screen text,
    speech with word times, loudness and faces (clustered into people), in LanceDB inside the library.

    Finished work is skipped (models and settings are remembered); a failing video is
    reported and the rest are indexed; exit code 1 if any failed.
    """
    from vstream.library import Library

    lib = Library.open(library)
    settings = model_options(visual, clip_model, clip_weights, whisper_model, text_model, ocr, device, lib.root, faces,
                             english)
    if follow:
        return _follow(lib, video_ids or [], settings, json=json, onscreen=ocr is True, labels=visual)
    if ray_workers is not None and ray_workers < 1:
        from vstream.errors import UsageError

        raise UsageError("--ray-workers must be at least 1")
    code, _ = run_index(lib, video_ids or [], only=only, force=force, sample_seconds=sample_seconds, wait=wait,
                        settings=settings, json=json, ray=ray, ray_workers=ray_workers)  # fmt: skip
    if code:
        raise typer.Exit(code)


def _follow(lib, events: list[str], settings, *, json: bool, onscreen: bool, labels: str | None) -> None:
    """``index --follow EVENT``: the live event's speech, printed as each sentence settles (and with
    ``--ocr`` its on-screen text, with ``--visual labels`` what it shows, as each fragment is read)."""
    from vstream import live
    from vstream.cli.output import RichProgress
    from vstream.errors import UsageError
    from vstream.index.speech import load_transcriber
    from vstream.live_speech import follow

    if len(events) != 1:
        raise UsageError("--follow takes one live event", hint="see vstream live list")
    if labels is not None and settings.visual_backend != "labels":
        raise UsageError(f"--follow describes what a live event shows with --visual labels, not {settings.visual_backend}",
                         hint="CLIP vectors are made when the ended event is indexed (vstream index EVENT)")  # fmt: skip
    live.load(lib, events[0])  # (not found: the one-line error, before a model loads)
    transcriber = load_transcriber(settings.whisper, device=settings.device,
                                   compute_type="int8" if settings.device == "cpu" else "float16")  # fmt: skip

    from vstream.index.textembed import load_text_embedder

    from vstream.errors import VstreamError

    try:
        embedder = load_text_embedder(settings.text, threads=1)  # each kept line embedded once, for search
    except VstreamError as exc:  # (search embeds the lines itself then: slower on a long event)
        embedder = None
        err.print(f"note: the lines are not embedded for search ({exc.message})", markup=False, highlight=False)
    ocr = describer = None
    if onscreen:
        from vstream.index.ocr import load_ocr

        ocr = load_ocr(None)
    if labels:
        from vstream.index.visual.labels import load_label_backend

        describer = load_label_backend(settings.labels)
    shown: list = []

    def show(line) -> None:
        if not json:
            out.print(f"{(line.wall or '')[11:19]}  {line.at:7.1f}s  {line.text}", markup=False, highlight=False)

    def screen(item) -> None:
        shown.append(item)
        if not json:
            what = "on screen" if item.source == "onscreen" else "shows"
            out.print(f"{(item.wall or '')[11:19]}  {item.at:7.1f}s  [{what}] {item.text}", markup=False, highlight=False)

    with RichProgress() as progress:
        also = [w for w, on in (("reading its on-screen text", onscreen), ("describing what it shows", labels)) if on]
        progress.note(f"{events[0]}: transcribing its speech{''.join(' and ' + w for w in also)} "
                      "as it is recorded (until it ends)")  # fmt: skip
        lines = follow(lib, events[0], transcriber, on_line=show, progress=progress, ocr=ocr, on_shown=screen,
                       embedder=embedder, labels=describer)  # fmt: skip
    if json:
        folder = f"{live.LIVE_DIR}/{events[0]}"
        print_json({"event": events[0], "sentences": len(lines), "transcript": f"{folder}/speech.jsonl",
                    "lines": [line.to_dict() for line in lines],
                    **({"onscreen": f"{folder}/onscreen.jsonl", "shown": [s.to_dict() for s in shown]}
                       if onscreen or labels else {})})  # fmt: skip


def transcript(
    video_id: str = typer.Argument(..., help="Video id."),
    library: Optional[str] = LibraryOption,
    fmt: str = typer.Option("vtt", "--format", help="vtt, srt, txt or json."),
    english: bool = typer.Option(False, "--english", help="Each sentence in English: as spoken, or its stored "
                                 "translation (vstream index --english)."),
    json: bool = JsonOption,
) -> None:
    """Print a video's transcript from the index.

    --json prints one object: {"id", "languages", "sentences": [{start, end, text, words, language, english}]}
    (english: the stored translation of a sentence spoken in another language, when indexed with --english).
    """
    from vstream.errors import UsageError
    from vstream.index.transcript import FORMATS, render, stored_rows
    from vstream.library import Library

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint="use --format vtt, srt, txt or json")
    lib = Library.open(library)
    video = lib.get(video_id)
    rows = stored_rows(lib, video)
    if english:
        untranslated = sum(1 for r in rows if (r.get("language") or "en") != "en" and not r.get("english"))
        if untranslated:
            warn(f"{counted(untranslated, 'sentence')} of {video.id} not spoken in English and not "
                 f"translated: shown as spoken (vstream index {video.id} --english)")  # fmt: skip
        rows = [r | {"text": r["english"]} if r.get("english") else r for r in rows]
    if json:
        sentences = __import__("json").loads(render(rows, "json"))
        print_json({"id": video.id, "languages": sorted({s["language"] for s in sentences if s.get("language")}),
                    "sentences": sentences})  # fmt: skip
        return
    typer.echo(render(rows, fmt), nl=False)
