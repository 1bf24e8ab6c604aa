"""`vstream index`: run the stages over the library's videos, skipping finished work.

Stages: ``scenes`` (keyframe shots, visual labels or CLIP, on-screen text),
``speech`` (Whisper sentences with word times), ``audio`` (momentary
loudness) and ``faces`` (face tracks per scene, clustered into the library's
people; on when the face models are installed). Each (video, stage) is skipped when its recorded fingerprint (models,
settings) and media still match; otherwise its rows are replaced in one LanceDB
commit and the catalog records the new state. When only the text model changed, the
stored texts (sentences, scene descriptions, on-screen words) are re-embedded with the new
model and nothing else is redone: no Whisper, no visual models, no OCR. A failing video is reported and
the batch goes on (like ingest).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vstream.errors import LibraryBusy, MediaError, MissingDependency, UsageError, VstreamError
from vstream.index.store import Store, thumbnails_dir
from vstream.library import Library, Video, atomic_write
from vstream.models import Models, ModelSettings, fingerprint, with_text, without_text
from vstream.progress import SILENT, Progress
from vstream.timecode import TICKS

STAGES = ("scenes", "speech", "audio", "faces")
# The tables whose vectors the text model makes, by the stage that writes them, and the column embedded.
UNHEARD_MIN = 5.0  # seconds of speech (VAD) before an English-only model's silence is worth a warning
UNHEARD_SHARE = 0.3  # ... when its sentences cover less than this share of it
TEXT_TABLES = {"scenes": (("scenes", "description"), ("onscreen", "text")), "speech": (("speech", "text"),)}


@dataclass
class IndexOptions:
    only: list[str] = field(default_factory=list)  # empty: all stages
    force: bool = False
    sample_seconds: float = 10.0
    wait: float = 600.0

    def stages(self, settings: ModelSettings | None = None) -> list[str]:
        bad = [s for s in self.only if s not in STAGES]
        if bad:
            raise UsageError(f"unknown stage {bad[0]!r}", hint="use --only scenes, speech, audio or faces")
        if self.only:
            if "faces" in self.only and settings is not None and settings.faces == "off":
                raise UsageError("--only faces with faces off", hint="drop --no-faces (or the library's \"faces\": \"off\")")
            return [s for s in STAGES if s in self.only]
        return [s for s in STAGES if s != "faces" or faces_wanted(settings)]


def faces_wanted(settings: ModelSettings | None) -> bool:
    """The faces stage runs by default when its models are installed (``faces: on`` requires them)."""
    if settings is None or settings.faces == "off":
        return False
    if settings.faces == "on":
        return True
    from vstream.index.faces import available

    return available() is None


@dataclass
class StageResult:
    video_id: str
    stage: str
    status: str  # indexed | re-embedded (texts kept, vectors from the new text model) | skipped | failed
    rows: int = 0
    seconds: float = 0.0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Job:
    """One (video, stage) to index, and the fingerprint its result will be recorded under."""

    video_id: str
    media_dir: str
    stage: str
    fingerprint: str
    reembed: bool = False  # only the text model changed: new vectors for the stored texts


@dataclass
class Output:
    """What running a job produced: rows per table (written by the one committing process)."""

    rows: dict[str, list[dict]] = field(default_factory=dict)
    clip_dim: int | None = None
    count: int = 0
    seconds: float = 0.0
    warning: str = ""  # what the user should know of an indexed stage (StageResult.message)


class Rows:
    """The sink the stages write rows into; committed later in one place (locally or from Ray workers)."""

    def __init__(self) -> None:
        self.out = Output()

    def replace(self, name: str, video_id: str, rows: list[dict], *, clip_dim: int | None = None) -> int:
        self.out.rows[name] = rows
        if clip_dim:
            self.out.clip_dim = clip_dim
        return len(rows)


def plan(lib: Library, video_ids: list[str], opts: IndexOptions, settings: ModelSettings) -> tuple[list[Job], list[StageResult]]:
    """The jobs to run, and the (video, stage) pairs already done with these models and settings."""
    stages = opts.stages(settings)
    if not 1 <= opts.sample_seconds <= 600:
        raise UsageError("--sample-seconds must be between 1 and 600")
    videos = [lib.get(v) for v in video_ids] if video_ids else lib.videos()
    jobs, skipped = [], []
    for video in videos:
        state = lib.index_state(video.id)
        for stage in stages:
            fp = fingerprint(stage, settings, sample_seconds=opts.sample_seconds)
            done = state.get(stage)
            if done and done["fingerprint"] == fp and done["media_dir"] == video.media_dir and not opts.force:
                skipped.append(StageResult(video.id, stage, "skipped", done["rows"], 0.0, "already indexed"))
            elif (done and stage in TEXT_TABLES and done["media_dir"] == video.media_dir and not opts.force
                  and without_text(done["fingerprint"]) == without_text(fp)):
                jobs.append(Job(video.id, video.media_dir, stage, fp, reembed=True))
            else:
                jobs.append(Job(video.id, video.media_dir, stage, fp))
    return jobs, skipped


def run_job(lib: Library, job: Job, models: Models, opts: IndexOptions, progress: Progress = SILENT) -> Output:
    """Compute one job's rows (and write its thumbnails and transcript files); the index is not touched."""
    video = lib.get(job.video_id)
    if video.media_dir != job.media_dir:
        raise MediaError(f"{video.id} was re-ingested while it was being indexed; run index again")
    started = time.monotonic()
    sink = Rows()
    sink.out.count = _run_stage(job.stage, lib, video, models, sink, opts, progress)
    sink.out.seconds = time.monotonic() - started
    return sink.out


def commit(lib: Library, store: Store, job: Job, output: Output, opts: IndexOptions, progress: Progress = SILENT) -> None:
    """Write one job's rows (one LanceDB commit per table) and record it in the catalog."""
    for name, rows in output.rows.items():
        if name != "faces":  # faces: below, under the lock, with who they are
            store.replace(name, job.video_id, rows, clip_dim=output.clip_dim if name == "clip" else None)
    with lib.writing(wait=opts.wait, on_wait=progress.note):
        current = lib.get(job.video_id)
        if current.media_dir != job.media_dir:  # re-ingested meanwhile: redo next time
            raise MediaError(f"{job.video_id} was re-ingested while it was being indexed; run index again")
        if job.stage == "faces":  # the tracks and who they are change together (a forget may run meanwhile)
            rows = without_forgotten(lib, job.video_id, output.rows.get("faces", []))
            store.replace("faces", job.video_id, rows)
            assign_people(lib, store, job.video_id, rows)
            output.count = len(rows)
        lib.set_index_state(current, job.stage, job.fingerprint, output.count, output.seconds)


def index(
    lib: Library,
    video_ids: list[str],
    opts: IndexOptions,
    settings: ModelSettings,
    progress: Progress = SILENT,
    *,
    executor=None,
) -> list[StageResult]:
    """Index what is not indexed yet. ``executor`` (e.g. :class:`vstream.index.distributed.RayExecutor`)
    runs the jobs elsewhere; rows always come back here and are committed by this process."""
    jobs, results = plan(lib, video_ids, opts, settings)
    store = Store(lib)
    with lib.writing(wait=opts.wait, on_wait=progress.note):
        store.delete_unknown({v.id for v in lib.videos()})
    models = Models(settings)
    redone: list[StageResult] = []
    if any(j.stage in TEXT_TABLES for j in jobs):  # a model of another dimension rewrites whole tables first
        redone = resize_text_tables(lib, store, models, settings, opts, progress)
        if redone:
            jobs, results = plan(lib, video_ids, opts, settings)
            done = {(r.video_id, r.stage) for r in redone}
            results = [r for r in results if (r.video_id, r.stage) not in done] + redone
    for job in [j for j in jobs if j.reembed]:  # here, not on Ray workers: reading and embedding texts is quick
        results.append(reembed(lib, store, job, models, opts, progress))
    jobs = [j for j in jobs if not j.reembed]
    outputs = executor.run(jobs, opts, settings) if executor is not None else (
        (job, _local(lib, job, models, opts, progress)) for job in jobs)  # fmt: skip
    changed = False
    for job, output in outputs:
        if isinstance(output, BaseException):
            if isinstance(output, (LibraryBusy, MissingDependency, UsageError)):
                raise output  # not this video's fault (lock, set-up, a bad model setting): stop the batch
            message = str(output) if isinstance(output, VstreamError) else f"{job.video_id}: {output}"
            if isinstance(output, OSError):
                message = f"{job.video_id}: {output.strerror or output}"
            results.append(StageResult(job.video_id, job.stage, "failed", 0, 0.0, message))
            continue
        try:
            commit(lib, store, job, output, opts, progress)
        except VstreamError as exc:
            if isinstance(exc, (LibraryBusy, MissingDependency, UsageError)):
                raise
            results.append(StageResult(job.video_id, job.stage, "failed", 0, output.seconds, str(exc)))
            continue
        changed = True
        results.append(StageResult(job.video_id, job.stage, "indexed", output.count, output.seconds, output.warning))
    changed = changed or any(r.status == "re-embedded" for r in results)
    if changed:
        progress.begin("full-text and vector indexes", None)
        store.build_indexes()
        loaded = models.loaded() if executor is None else executor.loaded()
        if executor is not None and "text" in models.loaded():  # re-embedded here
            loaded = loaded | {"text": models.loaded()["text"]}
        with lib.writing(wait=opts.wait, on_wait=progress.note):  # on object storage, the push publishes it
            before = store.read_models()  # models this run did not load keep their entries
            store.write_models(before | {"settings": settings.to_dict(), "loaded": before.get("loaded", {}) | loaded})
        progress.end()
    first = {}
    for item in (*results, *jobs):
        first.setdefault(item.video_id, len(first))
    return sorted(results, key=lambda r: (first[r.video_id], STAGES.index(r.stage)))


def reembed(lib: Library, store: Store, job: Job, models: Models, opts: IndexOptions, progress: Progress = SILENT) -> StageResult:
    """New vectors for one video's stored texts of a stage (speech: its sentences; scenes: the scene
    descriptions and on-screen words), with the configured text model; the stage is not run again.
    Under the writer lock, so the texts cannot be replaced between the read and the write."""
    progress.begin(f"{job.video_id}: {job.stage} (re-embedding texts)", None)
    started = time.monotonic()
    try:
        embedder = models.text()
        with lib.writing(wait=opts.wait, on_wait=progress.note):
            video = lib.get(job.video_id)
            done = lib.index_state(video.id).get(job.stage)
            if video.media_dir != job.media_dir or not done or without_text(done["fingerprint"]) != without_text(job.fingerprint):
                return StageResult(job.video_id, job.stage, "failed", 0, 0.0,
                                   f"{job.video_id} changed while it was being indexed; run index again")  # fmt: skip
            for table, column in TEXT_TABLES[job.stage]:
                rows = store.video_rows(table, video.id)
                store.replace(table, video.id, embedded(rows, column, embedder, stored_english(lib, [video], table)))
            lib.set_index_state(video, job.stage, job.fingerprint, done["rows"], done["seconds"] or 0.0)
        return StageResult(job.video_id, job.stage, "re-embedded", done["rows"], time.monotonic() - started,
                           f"texts re-embedded with {embedder.name}")  # fmt: skip
    except VstreamError as exc:
        if isinstance(exc, (LibraryBusy, MissingDependency, UsageError)):
            raise
        return StageResult(job.video_id, job.stage, "failed", 0, time.monotonic() - started, str(exc))
    finally:
        progress.end()


def stored_english(lib: Library, videos: list[Video], table: str) -> dict[str, str]:
    """The English translations stored for these videos' sentences, by row id (speech only)."""
    if table != "speech":
        return {}
    from vstream.index.transcript import translations

    return {f"{video.id}:{n}": said for video in videos for n, _, _, said in translations(lib, video)}


def searchable(text: str, english: str | None, embedder) -> str:
    """What a sentence's vector is made of: its English translation (when stored) for an English-only
    text model, else the sentence as spoken."""
    return english if english and not getattr(embedder, "multilingual", False) else text


def embedded(rows: list[dict], column: str, embedder, english: dict[str, str] | None = None) -> list[dict]:
    """``rows`` with vectors of ``column`` from ``embedder`` (a zero vector where it is empty, as the
    scenes stage writes) and the text model's fingerprint in their ``model`` (after the last ";");
    ``english``: stored translations by row id (see :func:`searchable`)."""
    english = english or {}
    texts = [searchable(r[column] or "", english.get(r["row_id"]), embedder) for r in rows]
    vectors = embedder.embed_passages([t or " " for t in texts]) if rows else []
    zero = [0.0] * embedder.dim
    out = []
    for r, text, vector in zip(rows, texts, vectors):
        before = r["model"].rsplit(";", 1)[0] if r.get("model") and ";" in r["model"] else ""
        out.append(r | {"vector": vector.tolist() if text else zero,
                        "model": f"{before};{embedder.fingerprint}" if before else embedder.fingerprint})  # fmt: skip
    return out


def resize_text_tables(lib: Library, store: Store, models: Models, settings: ModelSettings, opts: IndexOptions,
                       progress: Progress = SILENT) -> list[StageResult]:  # fmt: skip
    """A text model of another dimension than a table's vectors: every row of the stage's tables is
    re-embedded and the tables rewritten (one vector dimension per table), for every video in them."""
    dims = {t: store.text_dim(t) for stage in TEXT_TABLES for t, _ in TEXT_TABLES[stage]}
    if not any(d is not None for d in dims.values()):
        return []
    embedder = models.text()
    results = []
    for stage, tables in TEXT_TABLES.items():
        if all(dims[t] in (None, embedder.dim) for t, _ in tables):
            continue
        progress.begin(f"{stage}: re-embedding every text ({embedder.name}, {embedder.dim}-d)", None)
        started = time.monotonic()
        with lib.writing(wait=opts.wait, on_wait=progress.note):
            for table, column in tables:
                if dims[table] is not None:
                    english = stored_english(lib, lib.videos(), table)
                    store.rewrite(table, embedded(store.all_rows(table), column, embedder, english), text_dim=embedder.dim)
            for video in lib.videos():
                done = lib.index_state(video.id).get(stage)
                if done and done["media_dir"] == video.media_dir:
                    lib.set_index_state(video, stage, with_text(done["fingerprint"], settings.text), done["rows"],
                                        done["seconds"] or 0.0)  # fmt: skip
                    results.append(StageResult(video.id, stage, "re-embedded", done["rows"], time.monotonic() - started,
                                               f"texts re-embedded with {embedder.name} ({embedder.dim}-d)"))  # fmt: skip
        progress.end()
    return results


def _local(lib: Library, job: Job, models: Models, opts: IndexOptions, progress: Progress) -> Output | BaseException:
    progress.begin(f"{job.video_id}: {job.stage}", None)
    try:
        return run_job(lib, job, models, opts, progress)
    except (VstreamError, OSError) as exc:
        return exc
    finally:
        progress.end()


def _run_stage(stage: str, lib: Library, video: Video, models: Models, store, opts: IndexOptions,
               progress: Progress) -> int:  # fmt: skip
    media = lib.path(video, video.meta["files"]["media"])
    if stage == "scenes":
        return _scenes(lib, video, media, models, store, opts, progress)
    if stage == "speech":
        return _speech(lib, video, media, models, store)
    if stage == "faces":
        return _faces(lib, video, media, models, store, opts, progress)
    return _audio(video, media, store)


# --- stages ----------------------------------------------------------------------------------


def _scenes(lib, video, media, models: Models, store: Store, opts: IndexOptions, progress) -> int:
    import numpy as np

    from vstream.index.scenes import SceneDetector, decode_keyframes

    detector = SceneDetector(sample_seconds=opts.sample_seconds)
    scenes = []
    end = video.meta["end"]
    try:
        for kf in decode_keyframes(media, video.meta["keyframes"], rotation_of(video)):
            done = detector.feed(kf)
            if done is not None:
                scenes.append(done)
                progress.update(kf.t / end if end else 0)
    except Exception as exc:  # PyAV's errors: a damaged media file
        if type(exc).__module__.startswith("av"):
            raise MediaError(f"{video.id}: cannot decode keyframes ({exc})") from None
        raise
    last = detector.finish(end)
    if last is not None:
        scenes.append(last)

    frames = [f.image for s in scenes for f in s.frames]
    owner = [i for i, s in enumerate(scenes) for _ in s.frames]
    visual = models.visual()
    clip_rows: list[dict] = []
    descriptions = [""] * len(scenes)
    labels = [""] * len(scenes)
    objects = [""] * len(scenes)
    if models.settings.visual_backend == "labels":
        per_frame = visual.describe_frames(frames) if frames else []
        for i, scene in enumerate(scenes):
            mine = [d for d, o in zip(per_frame, owner) if o == i]
            labels[i], objects[i], descriptions[i] = merge_descriptions(mine)
    else:
        vectors = visual.embed_frames(frames) if frames else np.zeros((0, 1), dtype=np.float32)
        for (vec, o), f in zip(zip(vectors, owner), [f for s in scenes for f in s.frames]):
            clip_rows.append({"video_id": video.id, "row_id": f"{video.id}:{o}:{f.t}", "scene": f"{video.id}:{o}",
                              "t": f.t / TICKS, "vector": vec.astype("float32").tolist(), "model": visual.fingerprint})  # fmt: skip
    ocr_texts = [""] * len(scenes)
    if models.settings.ocr and frames:
        from vstream.index.ocr import frame_text

        per_frame_text = [frame_text(boxes) for boxes in models.ocr().read_frames(frames)]
        for i in range(len(scenes)):
            seen: list[str] = []
            for text, o in zip(per_frame_text, owner):
                if o == i and text and text not in seen:
                    seen.append(text)
            ocr_texts[i] = " | ".join(seen)

    embedder = models.text()
    to_embed = descriptions + ocr_texts
    vectors = embedder.embed_passages([t or " " for t in to_embed]) if to_embed else np.zeros((0, embedder.dim))
    zero = [0.0] * embedder.dim
    thumbs = _write_thumbnails(lib, video, scenes)
    model = f"{visual.fingerprint};{embedder.fingerprint}"
    rows, onscreen = [], []
    for i, scene in enumerate(scenes):
        rows.append({
            # "+" marks the next part of a long shot: a searchable moment, but not a cut (no ad break there)
            "video_id": video.id, "row_id": f"{video.id}:{i}" + ("+" if scene.part else ""), "start": scene.start / TICKS, "end": scene.end / TICKS,
            "frame_times": [f.t / TICKS for f in scene.frames], "thumbnail": thumbs[i], "labels": labels[i],
            "objects": objects[i], "description": descriptions[i], "ocr_text": ocr_texts[i],
            "text": " ".join(t for t in (descriptions[i], ocr_texts[i]) if t),
            "vector": vectors[i].tolist() if descriptions[i] else zero, "model": model,
        })  # fmt: skip
        if ocr_texts[i]:
            onscreen.append({
                "video_id": video.id, "row_id": f"{video.id}:{i}", "scene": f"{video.id}:{i}",
                "start": scene.start / TICKS, "end": scene.end / TICKS, "text": ocr_texts[i], "thumbnail": thumbs[i],
                "vector": vectors[len(scenes) + i].tolist(), "model": model,
            })  # fmt: skip
    count = store.replace("scenes", video.id, rows)
    store.replace("onscreen", video.id, onscreen)
    if clip_rows or models.settings.visual_backend == "clip":
        store.replace("clip", video.id, clip_rows, clip_dim=visual.dim)
    return count


def merge_descriptions(frames: list) -> tuple[str, str, str]:
    """Labels and objects of a scene's frames -> (labels, objects, description), best first."""
    best_labels: dict[str, float] = {}
    best_objects: dict[str, float] = {}
    for d in frames:
        for name, score in d.labels:
            best_labels[name] = max(best_labels.get(name, 0.0), score)
        for name, score in d.objects:
            best_objects[name] = max(best_objects.get(name, 0.0), score)
    top_labels = [n for n, _ in sorted(best_labels.items(), key=lambda kv: -kv[1])[:5]]
    top_objects = [n for n, _ in sorted(best_objects.items(), key=lambda kv: -kv[1])[:5]]
    labels, objects = ", ".join(top_labels), ", ".join(top_objects)
    description = labels + (f"; objects: {objects}" if objects else "")
    return labels, objects, description


def _write_thumbnails(lib: Library, video: Video, scenes) -> list[str]:
    """One JPEG per scene (its first sampled frame), written atomically; returns library-relative paths."""
    from PIL import Image

    images = []
    for scene in scenes:
        image = Image.fromarray(scene.frames[0].image) if scene.frames else None
        if image is not None:
            image.thumbnail((320, 320))
        images.append(image)
    return _save_jpegs(lib, video, thumbnails_dir(lib, video.id), images, quality=80)


def _save_jpegs(lib: Library, video: Video, folder: Path, images: list, *, quality: int) -> list[str]:
    """Write ``images`` (PIL, or None for none) as ``<media dir>-NNNN.jpg`` atomically and sweep the
    folder's older JPEGs (an earlier ingest or index of the video; on object storage too, at the
    commit's push). Returns library-relative paths, "" where there was no image."""
    import io

    folder.mkdir(parents=True, exist_ok=True)
    tail = video.media_dir.rsplit("/", 1)[-1]
    out = []
    for n, image in enumerate(images):
        if image is None:
            out.append("")
            continue
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=quality)
        name = f"{tail}-{n:04d}.jpg"
        atomic_write(folder / name, buf.getvalue())
        out.append(str((folder / name).relative_to(lib.root)))
    keep = {Path(p).name for p in out if p}
    for old in folder.glob("*.jpg"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
            lib.dead_files.append(str(old.relative_to(lib.root)))
    return out


def _speech(lib: Library, video: Video, media: Path, models: Models, store: Store) -> int:
    from vstream.index.speech import decode_audio, shift_sentences

    transcriber = models.whisper()
    audio = decode_audio(str(media)) if has_real_audio(video) else None
    sentences = transcriber.transcribe(audio) if audio is not None else []
    if audio is not None and not transcriber.multilingual:
        store.out.warning = unheard(audio, sentences, transcriber.name)
    english = transcriber.to_english(audio, sentences) if models.settings.english and sentences else [None] * len(sentences)
    # the decoded samples begin with the audio's first sample; audio that starts after the
    # first video frame puts every word that much later in the video
    sentences = shift_sentences(sentences, float(video.meta.get("audio_start") or 0.0))
    embedder = models.text()
    # an English-only text model embeds what it understands: the English translation where there is one
    vectors = embedder.embed_passages([searchable(s.text, e, embedder) for s, e in zip(sentences, english)]) if sentences else []
    rows = [
        {"video_id": video.id, "row_id": f"{video.id}:{i}", "start": s.start, "end": s.end, "text": s.text,
         "words": [{"word": w.word, "start": w.start, "end": w.end, "probability": w.probability} for w in s.words],
         "language": s.language, "vector": vec.tolist(), "model": f"{transcriber.fingerprint};{embedder.fingerprint}"}
        | ({"english": e} if e else {})  # kept in the transcript file (index/transcripts/ID.json)
        for i, (s, vec, e) in enumerate(zip(sentences, vectors, english))
    ]  # fmt: skip
    count = store.replace("speech", video.id, rows)
    from vstream.index.transcript import render, stored_json

    folder = lib.root / "index" / "transcripts"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{video.id}.vtt", render(rows, "vtt"))
    atomic_write(folder / f"{video.id}.json", stored_json(rows, video.media_dir))
    return count


def unheard(audio: Any, sentences: list, model: str) -> str:
    """An English-only model given speech in another language writes little or nothing, silently:
    say so when most of the speech the VAD hears has no sentence."""
    from vstream.index.speech import speech_chunks

    heard = sum(b - a for a, b in speech_chunks(audio))
    said = sum(s.end - s.start for s in sentences)
    if heard < UNHEARD_MIN or said >= UNHEARD_SHARE * heard:
        return ""
    return (f"{heard:.0f} s of speech but only {said:.0f} s transcribed: {model} reads English only; if it speaks "
            f"another language, index it again with --whisper-model auto")  # fmt: skip


def rotation_of(video: Video) -> int:
    """Degrees clockwise players turn the picture (a phone's display matrix)."""
    return int((video.meta["stream"].get("video") or {}).get("rotation") or 0)


def has_real_audio(video: Video) -> bool:
    """False for video-only sources, whose silent track was added at ingest."""
    return video.meta["stream"].get("audio_source") in ("copy", "encode")


def _audio(video: Video, media: Path, store: Store) -> int:
    from vstream.index.loudness import STEP, measure

    values = measure(media, video.duration) if has_real_audio(video) else []
    store.replace("loudness", video.id, [{"video_id": video.id, "row_id": video.id, "step": STEP, "lufs": values}])
    return len(values)


def _faces(lib: Library, video: Video, media: Path, models: Models, store, opts: IndexOptions, progress) -> int:
    """Faces on every keyframe, linked into tracks within each scene (the scenes stage's cuts)."""
    from vstream import people
    from vstream.index.faces import Tracker
    from vstream.index.scenes import SceneDetector, decode_keyframes

    model = models.faces()
    detector = SceneDetector(sample_seconds=opts.sample_seconds)  # the same cuts as the scenes table's rows
    tracker = Tracker()
    row, cut = 0, 0  # the scenes table's row (long shots are split in parts) and the real cuts
    rows_of_cut: dict[int, str] = {}
    end = video.meta["end"]
    try:
        for kf in decode_keyframes(media, video.meta["keyframes"], rotation_of(video)):
            if detector.feed(kf) is not None:
                row += 1
                part = detector._scene.part if detector._scene is not None else 0
                cut += 0 if part else 1  # a face stays one track through the parts of a long shot
            rows_of_cut.setdefault(cut, f"{video.id}:{row}")
            faces = [] if kf.is_black or kf.is_blank else model.detect(kf.image)
            tracker.feed(kf.t / TICKS, cut, faces)
            progress.update(kf.t / end if end else 0)
    except Exception as exc:  # PyAV's errors: a damaged media file
        if type(exc).__module__.startswith("av"):
            raise MediaError(f"{video.id}: cannot decode keyframes ({exc})") from None
        raise
    tracks = tracker.finish(end / TICKS)
    gone = people.forgotten(lib, video.id)  # a forgotten person's places stay without faces
    tracks = [t for t in tracks if not any(people.same_sighting(_info(0, t), g) for g in gone)]
    thumbs = _write_face_crops(lib, video, tracks)
    rows = []
    for n, track in enumerate(tracks):
        rows.append({
            "video_id": video.id, "row_id": f"{video.id}:{n}", "track": n, "scene": rows_of_cut[track.scene],
            "start": track.start, "end": track.end, "times": track.times,
            "boxes": [round(v, 4) for box in track.boxes for v in box], "vector": track.vector().tolist(),
            "size": float(track.best.area if track.best else 0.0), "thumbnail": thumbs[n], "model": model.fingerprint,
        })  # fmt: skip
    return store.replace("faces", video.id, rows)


def _info(n: int, track):
    from vstream.people import TrackInfo

    cx, cy = track.centre()
    return TrackInfo(n, track.start, track.end, cx, cy)


def _write_face_crops(lib: Library, video: Video, tracks) -> list[str]:
    """Each track's largest face crop as a JPEG (library-relative paths); older crops of the video go."""
    from PIL import Image

    from vstream.index.store import faces_dir

    images = [Image.fromarray(t.best.chip) if t.best is not None and t.best.chip is not None else None for t in tracks]
    return _save_jpegs(lib, video, faces_dir(lib, video.id), images, quality=85)


def _centre(flat_boxes: list[float]) -> tuple[float, float]:
    """The median centre (0..1) of a stored track's boxes (x0 y0 x1 y1 per sighting)."""
    import numpy as np

    boxes = np.asarray(flat_boxes, dtype=np.float32).reshape(-1, 4)
    if not len(boxes):
        return 0.5, 0.5
    return float(np.median((boxes[:, 0] + boxes[:, 2]) / 2)), float(np.median((boxes[:, 1] + boxes[:, 3]) / 2))


def without_forgotten(lib: Library, video_id: str, rows: list[dict]) -> list[dict]:
    """The rows whose place (time, position) is not where a forgotten person was (checked again
    under the lock: a forget may have run while the stage computed them)."""
    from vstream import people

    gone = people.forgotten(lib, video_id)
    if not gone:
        return rows
    kept = []
    for r in rows:
        here = people.TrackInfo(r["track"], r["start"], r["end"], *_centre(r["boxes"]))
        if not any(people.same_sighting(here, g) for g in gone):
            kept.append(r)
    return kept


def assign_people(lib: Library, store: Store, video_id: str, rows: list[dict]) -> dict[int, int]:
    """Cluster a video's new face tracks into the library's people (under the writer lock)."""
    import numpy as np

    from vstream import people

    people.ensure_schema(lib.db)
    tracks, thumbs = [], {}
    for r in rows:
        cx, cy = _centre(r["boxes"])
        tracks.append(people.TrackInfo(r["track"], r["start"], r["end"], cx, cy, np.asarray(r["vector"], dtype=np.float32)))
        thumbs[r["track"]] = (r["thumbnail"], r["size"])
    known = []
    model = rows[0]["model"] if rows else None
    table = store.table("faces", create=False)
    if model and table is not None:
        quoted_model = model.replace("'", "''")
        quoted_id = video_id.replace("'", "''")
        others = table.to_lance().to_table(columns=["video_id", "track", "vector"],
                                            filter=f"model = '{quoted_model}' AND video_id != '{quoted_id}'")  # fmt: skip
        persons = {(r["video_id"], r["track"]): r["person_id"]
                   for r in lib.db.execute("SELECT video_id, track, person_id FROM face_tracks")}  # fmt: skip
        vids, nums = others["video_id"].to_pylist(), others["track"].to_pylist()
        vectors = others["vector"].to_numpy(zero_copy_only=False)
        for vid, num, vec in zip(vids, nums, vectors):
            pid = persons.get((vid, num))
            if pid is not None:
                known.append((pid, np.asarray(vec, dtype=np.float32)))
    return people.assign_video(lib, video_id, tracks, thumbs, known)
