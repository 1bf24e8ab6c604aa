"""`vstream index`: run the stages over the library's videos, skipping finished work.

Stages: ``scenes`` (keyframe shots, visual labels or CLIP, on-screen text),
``speech`` (Whisper sentences with word times) and ``audio`` (momentary
loudness). Each (video, stage) is skipped when its recorded fingerprint (models,
settings) and media still match; otherwise its rows are replaced in one LanceDB
commit and the catalog records the new state. A failing video is reported and
the batch goes on (like ingest).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vstream.errors import LibraryBusy, MediaError, MissingDependency, UsageError, VstreamError
from vstream.index.store import TEXT_DIM, Store, thumbnails_dir
from vstream.library import Library, Video, atomic_write
from vstream.models import Models, ModelSettings, fingerprint
from vstream.progress import SILENT, Progress
from vstream.timecode import TICKS

STAGES = ("scenes", "speech", "audio")


@dataclass
class IndexOptions:
    only: list[str] = field(default_factory=list)  # empty: all stages
    force: bool = False
    sample_seconds: float = 10.0
    wait: float = 600.0

    def stages(self) -> list[str]:
        bad = [s for s in self.only if s not in STAGES]
        if bad:
            raise UsageError(f"unknown stage {bad[0]!r}", hint="use --only scenes, speech or audio")
        return [s for s in STAGES if not self.only or s in self.only]


@dataclass
class StageResult:
    video_id: str
    stage: str
    status: str  # indexed | skipped | failed
    rows: int = 0
    seconds: float = 0.0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def index(
    lib: Library,
    video_ids: list[str],
    opts: IndexOptions,
    settings: ModelSettings,
    progress: Progress = SILENT,
) -> list[StageResult]:
    stages = opts.stages()
    if not 1 <= opts.sample_seconds <= 600:
        raise UsageError("--sample-seconds must be between 1 and 600")
    videos = [lib.get(v) for v in video_ids] if video_ids else lib.videos()
    models = Models(settings)
    store = Store(lib)
    results: list[StageResult] = []
    changed = False
    with lib.writing(wait=opts.wait, on_wait=progress.note):
        store.delete_unknown({v.id for v in lib.videos()})
    for video in videos:
        state = lib.index_state(video.id)
        for stage in stages:
            fp = fingerprint(stage, settings, sample_seconds=opts.sample_seconds)
            done = state.get(stage)
            if done and done["fingerprint"] == fp and done["media_dir"] == video.media_dir and not opts.force:
                results.append(StageResult(video.id, stage, "skipped", done["rows"], 0.0, "already indexed"))
                continue
            started = time.monotonic()
            progress.begin(f"{video.id}: {stage}", None)
            try:
                rows = _run_stage(stage, lib, video, models, store, opts, progress)
                with lib.writing(wait=opts.wait, on_wait=progress.note):
                    current = lib.get(video.id)
                    if current.media_dir != video.media_dir:  # re-ingested meanwhile: redo next time
                        raise MediaError(f"{video.id} was re-ingested while it was being indexed; run index again")
                    lib.set_index_state(video, stage, fp, rows, time.monotonic() - started)
                changed = True
                results.append(StageResult(video.id, stage, "indexed", rows, time.monotonic() - started))
            except (LibraryBusy, MissingDependency, UsageError):
                raise  # not this video's fault (lock, set-up, a bad model setting): stop the batch
            except VstreamError as exc:
                results.append(StageResult(video.id, stage, "failed", 0, time.monotonic() - started, str(exc)))
            except OSError as exc:
                results.append(StageResult(video.id, stage, "failed", 0, time.monotonic() - started,
                                           f"{video.id}: {exc.strerror or exc}"))  # fmt: skip
            finally:
                progress.end()
    if changed:
        progress.begin("full-text and vector indexes", None)
        store.build_indexes()
        store.write_models(store.read_models() | {"settings": settings.to_dict(), "loaded": models.loaded()})
        progress.end()
    return results


def _run_stage(stage: str, lib: Library, video: Video, models: Models, store: Store, opts: IndexOptions,
               progress: Progress) -> int:  # fmt: skip
    media = lib.path(video, video.meta["files"]["media"])
    if stage == "scenes":
        return _scenes(lib, video, media, models, store, opts, progress)
    if stage == "speech":
        return _speech(lib, video, media, models, store)
    return _audio(video, media, store)


# --- stages ----------------------------------------------------------------------------------


def _scenes(lib, video, media, models: Models, store: Store, opts: IndexOptions, progress) -> int:
    import numpy as np

    from vstream.index.scenes import SceneDetector, decode_keyframes

    detector = SceneDetector(sample_seconds=opts.sample_seconds)
    scenes = []
    end = video.meta["end"]
    try:
        for kf in decode_keyframes(media, video.meta["keyframes"]):
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
    vectors = embedder.embed_texts([t or " " for t in to_embed]) if to_embed else np.zeros((0, TEXT_DIM))
    zero = [0.0] * TEXT_DIM
    thumbs = _write_thumbnails(lib, video, scenes)
    model = f"{visual.fingerprint};{embedder.fingerprint}"
    rows, onscreen = [], []
    for i, scene in enumerate(scenes):
        rows.append({
            "video_id": video.id, "row_id": f"{video.id}:{i}", "start": scene.start / TICKS, "end": scene.end / TICKS,
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
    import io

    from PIL import Image

    folder = thumbnails_dir(lib, video.id)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, scene in enumerate(scenes):
        if not scene.frames:
            out.append("")
            continue
        image = Image.fromarray(scene.frames[0].image)
        image.thumbnail((320, 320))
        name = f"{video.media_dir.rsplit('/', 1)[-1]}-{i:04d}.jpg"
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=80)
        atomic_write(folder / name, buf.getvalue())
        out.append(str((folder / name).relative_to(lib.root)))
    keep = {Path(p).name for p in out if p}
    for old in folder.glob("*.jpg"):  # thumbnails of an earlier ingest or cut of this video
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return out


def _speech(lib: Library, video: Video, media: Path, models: Models, store: Store) -> int:
    from vstream.index.speech import decode_audio

    transcriber = models.whisper()
    sentences = transcriber.transcribe(decode_audio(str(media))) if has_real_audio(video) else []
    embedder = models.text()
    vectors = embedder.embed_texts([s.text for s in sentences]) if sentences else []
    rows = [
        {"video_id": video.id, "row_id": f"{video.id}:{i}", "start": s.start, "end": s.end, "text": s.text,
         "words": [{"word": w.word, "start": w.start, "end": w.end, "probability": w.probability} for w in s.words],
         "language": s.language, "vector": vec.tolist(), "model": f"{transcriber.fingerprint};{embedder.fingerprint}"}
        for i, (s, vec) in enumerate(zip(sentences, vectors))
    ]  # fmt: skip
    count = store.replace("speech", video.id, rows)
    from vstream.index.transcript import render

    folder = lib.root / "index" / "transcripts"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / f"{video.id}.vtt", render(rows, "vtt"))
    return count


def has_real_audio(video: Video) -> bool:
    """False for video-only sources, whose silent track was added at ingest."""
    return video.meta["stream"].get("audio_source") in ("copy", "encode")


def _audio(video: Video, media: Path, store: Store) -> int:
    from vstream.index.loudness import STEP, measure

    values = measure(media, video.duration) if has_real_audio(video) else []
    store.replace("loudness", video.id, [{"video_id": video.id, "row_id": video.id, "step": STEP, "lufs": values}])
    return len(values)
