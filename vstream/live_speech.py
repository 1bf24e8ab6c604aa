"""A live event's speech, transcribed while it is recorded: ``vstream index --follow EVENT``.

Whisper runs on windows of the newest audio (whole fragments of a take, with a few seconds that
were already transcribed in front of them for context). A word is **settled** once it ends
:data:`SETTLE` seconds before the window's end: Whisper may still change the last words of a
window when more audio comes, never the earlier ones. Settled words are kept once each, up to the
last sentence end among them, as lines of ``live/EVENT/speech.jsonl`` with the take, the take's
and the event's time and the wall clock (``EXT-X-PROGRAM-DATE-TIME`` of the take + its time). A
follower that is stopped and started again goes on after what was kept; once a take is complete
(the next take began, or the event ended) the rest of it is transcribed and kept too.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from vstream.library import Library, atomic_write, lock_held, try_flock
from vstream.live import LIVE_DIR, Event, Take, events_dir, iso, load, parse_time, read_records, take_playlist, trim_torn
from vstream.progress import SILENT, Progress

if TYPE_CHECKING:
    from vstream.live_highlights import Highlight

TRANSCRIPT = "speech.jsonl"  # one kept sentence per line
VECTORS = "speech.vectors"  # their text embeddings, float32 rows in the lines' order (search reads them)
VECTORS_MODEL = "speech.vectors.json"  # {"model": the embedder's fingerprint, "dim": row length}
STATE = "speech.json"  # how far each take is transcribed: {"after": {take: seconds}, "complete": [takes]}
SETTLE = 1.5  # seconds: a word ending closer than this to a window's end may still change
CONTEXT = 3.0  # seconds already transcribed, given again in front of the new audio
MIN_NEW = 4.0  # seconds of new audio before a window is transcribed (while the take grows)
MAX_WINDOW = 30.0  # seconds: Whisper's own window; a longer backlog is taken in several
RUN_ON = 12.0  # settled words without a sentence end are kept anyway once they span this long
EPS = 0.05


@dataclass
class Line:
    """One kept sentence: ``start``/``end`` in its take's time, ``at``/``to`` in the event's."""

    take: int
    start: float
    end: float
    at: float
    to: float
    wall: str | None
    text: str
    language: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- pure decisions ---------------------------------------------------------------------------


def window(take: Take, after: float, seen: float, *, complete: bool) -> tuple[int, int] | None:
    """The fragments to transcribe next, ``(first, last)`` (``last`` exclusive), or None. ``after``:
    how far the take is transcribed; ``seen``: where the last window ended. A growing take waits
    for :data:`MIN_NEW` new seconds; a complete one is done when nothing is left after ``after``.
    A backlog is taken :data:`MAX_WINDOW` seconds at a time."""
    starts, t = [], 0.0
    for f in take.fragments:
        starts.append(t)
        t += f.duration
    if not starts or (t - after < EPS if complete else t - max(after, seen) < MIN_NEW):
        return None
    first = max((k for k, s in enumerate(starts) if s <= max(0.0, after - CONTEXT) + 1e-6), default=0)
    last = len(starts)
    while last - first > 1 and t - starts[first] > MAX_WINDOW:
        last -= 1
        t = starts[last]
    return first, last


Token = tuple[str, float, float, float]  # (raw word, start, end, probability), as Whisper gives them


def keep(words: list[Token], *, after: float, until: float | None, end: float, ends_sentence: Callable[[str], bool],
         force: bool = False) -> tuple[list[Token], float]:  # fmt: skip
    """Of a window's words (take time), those to keep now and how far the take is then transcribed.

    New words are centred after ``after``. ``until`` is where settled words must end (None: the
    window reaches the end of a complete take, ``end``: all of it is kept). Kept words stop at the
    last sentence end among the settled ones (a sentence is kept whole) unless they run on past
    :data:`RUN_ON` seconds without one, or ``force`` (a window that cannot wait for more audio)."""
    new = [w for w in words if (w[1] + w[2]) / 2 >= after]  # (by its middle: Whisper's times jitter a little)
    if until is None:
        return new, end
    settled = [w for w in new if w[2] <= until]
    cut = max((i + 1 for i, w in enumerate(settled) if ends_sentence(w[0])), default=0)
    if force or (cut == 0 and settled and settled[-1][2] - settled[0][1] >= RUN_ON):
        cut = len(settled)
    kept, pending = settled[:cut], new[cut:]
    done = min(pending[0][1] - EPS, until) if pending else until  # up to here: kept, or silence
    if force and done <= after:
        done = until
    return kept, max(after, kept[-1][2] if kept else after, done)


def normalise(text: str) -> str:
    """Lower case, punctuation as spaces, one space between words, one on each side."""
    return " " + " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split()) + " "


def said_highlights(lines: list[Line], terms: list[str], length: float, before: float) -> list[Highlight]:
    """The lines that say any of ``terms`` (whole words, any case) as highlights (pure): a clip of
    ``length`` seconds, ``before`` of it (a fraction) ahead of the sentence's start (the call follows
    the play), reaching past the sentence's end; a line inside the previous clip adds nothing."""
    wanted = [normalise(t) for t in terms if normalise(t).strip()]
    return line_highlights([line for line in lines if any(w in normalise(line.text) for w in wanted)], length, before)


def line_highlights(lines: list[Line], length: float, before: float) -> list[Highlight]:
    """Chosen lines as highlights (pure), as :func:`said_highlights` makes them."""
    from vstream.live_highlights import Highlight

    found: list[Highlight] = []
    for line in sorted(lines, key=lambda x: x.at):
        if found and line.at < found[-1].end:
            continue
        start = max(0.0, line.at - length * before, found[-1].end if found else 0.0)
        found.append(Highlight(line.at, 0.0, 0.0, start, max(start + length, line.to + 0.5)))
    return found


def lines_of(sentences, take: Take, offset: float) -> list[Line]:
    """Sentences (take time) as kept lines, with event time and wall clock."""
    began = parse_time(take.started_at) if take.started_at else None
    return [Line(take.n, s.start, s.end, round(offset + s.start, 3), round(offset + s.end, 3),
                 iso(began + timedelta(seconds=s.start)) if began else None, s.text, s.language)
            for s in sentences]  # fmt: skip


# --- the follower ----------------------------------------------------------------------------


def read_vectors(lib: Library, event_id: str, fingerprint: str, count: int):
    """The stored embeddings of the first (up to) ``count`` lines, if ``fingerprint``'s model made them
    (None otherwise): search reads them instead of embedding a long transcript again."""
    import numpy as np

    folder = lib.root / LIVE_DIR / event_id
    try:
        meta = json.loads((folder / VECTORS_MODEL).read_text())
        if meta.get("model") != fingerprint:
            return None
        dim = int(meta["dim"])
        rows = np.fromfile(folder / VECTORS, dtype="<f4", count=count * dim)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows[: len(rows) // dim * dim].reshape(-1, dim).astype(np.float32)


class LineEmbedder:
    """Keeps ``speech.vectors`` one row per kept line (the lines a follower killed before embedding
    them, or kept without an embedder, are embedded when it starts again)."""

    def __init__(self, lib: Library, event_id: str, embedder):
        self.folder = lib.root / LIVE_DIR / event_id
        self.embedder = embedder
        lines = read_lines(lib, event_id)
        dim = int(embedder.dim)
        try:
            meta = json.loads((self.folder / VECTORS_MODEL).read_text())
            rows = (self.folder / VECTORS).stat().st_size // (4 * dim) if meta.get("model") == embedder.fingerprint else 0
        except (OSError, ValueError):
            rows = 0
        rows = min(rows, len(lines))
        with open(self.folder / VECTORS, "r+b" if rows else "wb") as fh:
            fh.truncate(rows * 4 * dim)  # (a torn row, or another model's rows, go)
        atomic_write(self.folder / VECTORS_MODEL, json.dumps({"model": embedder.fingerprint, "dim": dim}), durable=False)
        self.add(lines[rows:])

    def add(self, lines: list[Line]) -> None:
        if not lines:
            return
        rows = self.embedder.embed_passages([line.text for line in lines])
        with open(self.folder / VECTORS, "ab") as fh:
            fh.write(rows.astype("<f4").tobytes())


def read_lines(lib: Library, event_id: str) -> list[Line]:
    """What ``speech.jsonl`` holds (a torn last line, from a killed follower, is skipped)."""
    return read_records(lib.root / LIVE_DIR / event_id / TRANSCRIPT, lambda row: Line(**row))


def _lock_path(lib: Library, event_id: str) -> Path:
    return events_dir(lib) / f".{event_id}.speech.lock"


def transcribing(lib: Library, event_id: str) -> bool:
    """Whether a follower (``index --follow``) is transcribing the event now (it holds the lock)."""
    return lock_held(_lock_path(lib, event_id))


def transcribed(lib: Library, event: Event) -> bool:
    """Whether every take of the event is transcribed to its end."""
    try:
        done = set(json.loads((lib.root / LIVE_DIR / event.id / STATE).read_text()).get("complete", []))
    except (FileNotFoundError, ValueError):
        return False
    return all(t.n in done for t in event.takes if t.fragments)


class Follower:
    """Transcribes one event's takes as they grow; :meth:`step` does what can be done now."""

    def __init__(self, lib: Library, event_id: str, transcriber, *, language: str | None = None):
        self.lib, self.event_id, self.transcriber, self.language = lib, event_id, transcriber, language
        self.folder = lib.root / LIVE_DIR / event_id
        trim_torn(self.folder / TRANSCRIPT)  # (a killed follower's half line: this one appends after it)
        state = self._read_state()
        self.after: dict[int, float] = {int(k): float(v) for k, v in state.get("after", {}).items()}
        self.seen: dict[int, float] = {}  # take -> where this run's last window of it ended
        self.complete: set[int] = {int(n) for n in state.get("complete", [])}
        for line in read_lines(lib, event_id):  # (kept lines are written before the state)
            self.after[line.take] = max(self.after.get(line.take, 0.0), line.end)

    def step(self, event: Event, *, ended: bool) -> list[Line]:
        """Transcribe every window that is ready; the lines kept."""
        kept: list[Line] = []
        offset = 0.0
        for i, take in enumerate(event.takes):
            complete = ended or i < len(event.takes) - 1
            if take.n not in self.complete and take.fragments and take.init:
                while (span := window(take, self.after.get(take.n, 0.0), self.seen.get(take.n, 0.0),
                                      complete=complete)) is not None:  # fmt: skip
                    kept += self._transcribe(take, span, offset, complete)
                if complete:
                    self.complete.add(take.n)
                    self._write_state()
            offset += take.duration
        return kept

    def done(self, event: Event) -> bool:
        return all(t.n in self.complete for t in event.takes if t.fragments)

    def _transcribe(self, take: Take, span: tuple[int, int], offset: float, complete: bool) -> list[Line]:
        from vstream.index.speech import _ends_sentence, decode_audio, split_sentences
        from vstream.media.ffmpeg import find_ffmpeg

        first, last = span
        start = sum(f.duration for f in take.fragments[:first])
        end = start + sum(f.duration for f in take.fragments[first:last])
        with tempfile.TemporaryDirectory(prefix="vstream-live-speech-") as tmp:
            playlist = Path(tmp) / "fragments.m3u8"  # (temporary: the library is the recorder's)
            playlist.write_text(take_playlist(take, (self.folder / take.media).resolve().as_uri(),
                                              take.fragments[first:last]))  # fmt: skip
            samples = decode_audio(str(playlist), ffmpeg=find_ffmpeg().path)
        sentences = self.transcriber.transcribe(samples, language=self.language)
        words = [(" " + w.word, round(start + w.start, 3), round(start + w.end, 3), w.probability)
                 for s in sentences for w in s.words]  # fmt: skip
        language = sentences[0].language if sentences else (self.language or "en")
        capped = last < len(take.fragments)
        until = None if complete and not capped else end - SETTLE
        after = self.after.get(take.n, 0.0)
        kept, reached = keep(words, after=after, until=until, end=end, ends_sentence=_ends_sentence)
        if reached <= after + EPS and (capped or complete):  # no more audio will come for this window
            kept, reached = keep(words, after=after, until=until, end=end, ends_sentence=_ends_sentence, force=True)
        self.after[take.n], self.seen[take.n] = reached, end
        lines = lines_of(split_sentences(kept, language=language), take, offset) if kept else []
        if lines:
            with open(self.folder / TRANSCRIPT, "a") as fh:
                fh.write("".join(json.dumps(line.to_dict()) + "\n" for line in lines))
                fh.flush()
                os.fsync(fh.fileno())
        self._write_state()
        return lines

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads((self.folder / STATE).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write_state(self) -> None:
        atomic_write(self.folder / STATE, json.dumps({"after": {str(k): round(v, 3) for k, v in sorted(self.after.items())},
                                                      "complete": sorted(self.complete)}), durable=False)  # fmt: skip


def follow(lib: Library, event_id: str, transcriber, *, language: str | None = None,
           on_line: Callable[[Line], None] = lambda line: None, progress: Progress = SILENT,
           poll: float = 1.0, ocr=None, on_shown: Callable[[Any], None] = lambda shown: None,
           embedder=None, labels=None) -> list[Line]:  # fmt: skip
    """Transcribe the event as it is recorded, until it has ended and every take is done; the
    lines kept by this run (``on_line`` gets each as it is kept). With ``ocr`` (the index's OCR
    model) each fragment's on-screen text is read too (:mod:`vstream.live_onscreen`; ``on_shown``)."""
    from vstream.errors import UsageError

    load(lib, event_id)  # (an unknown event: NotFound, before the lock file is made)
    fd = os.open(_lock_path(lib, event_id), os.O_RDWR | os.O_CREAT, 0o644)
    if not try_flock(fd, 0.0):
        os.close(fd)
        raise UsageError(f"{event_id}: its speech is being transcribed by another vstream index --follow",
                         hint="one follower per event; stop the other one first")  # fmt: skip
    try:
        return _follow(lib, event_id, transcriber, language, on_line, progress, poll, ocr, on_shown, embedder, labels)
    finally:
        os.close(fd)


def _follow(lib, event_id, transcriber, language, on_line, progress, poll, ocr, on_shown, embedder, labels) -> list[Line]:
    from vstream.live_onscreen import ScreenReader

    follower = Follower(lib, event_id, transcriber, language=language)
    vectors = LineEmbedder(lib, event_id, embedder) if embedder is not None else None
    reader = ScreenReader(lib, event_id, ocr, labels) if ocr is not None or labels is not None else None
    kept: list[Line] = []
    told = ""
    while True:
        event = load(lib, event_id)
        ended = event.status == "ended"
        note = {"interrupted": f"{event_id}: its recorder stopped without finishing; waiting until it is resumed "
                               f"or closed (vstream live stop {event_id})"}.get(event.status, "")  # fmt: skip
        if note != told:
            if note:
                progress.note(note)
            told = note
        for shown in reader.step(event) if reader is not None else ():  # (quick: one frame per fragment, first)
            on_shown(shown)
        lines = follower.step(event, ended=ended)
        if vectors is not None:
            vectors.add(lines)
        for line in lines:
            kept.append(line)
            on_line(line)
        if ended and follower.done(event) and (reader is None or reader.done(event)):
            return kept
        time.sleep(poll)
