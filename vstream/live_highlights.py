"""Live highlights: a live event's loud moments (a crowd's roar), found while it is recorded, as an
EVENT playlist that only grows.

The recorder measures each completed fragment's loudness once (EBU R128 momentary loudness, as
the index's loudness stage does) into ``live/EVENT/loudness.jsonl`` (a line per fragment,
appended), and looks for highlights in what is settled:

* a moment is a highlight when it is ``rise`` LU louder than the median of the minute before it,
  and the loudest moment within ``length`` seconds before it and :data:`LOOKAHEAD` seconds after
  it. It is judged once those seconds are recorded, and never again: the list only grows;
* its clip is ``length`` seconds of whole fragments, two thirds of it before the peak (the roar
  follows the play that caused it), never repeating the previous highlight's fragments;
* a highlight enters ``highlights.m3u8`` as soon as its clip's last fragment is recorded. The
  playlist keeps the event's target duration, marks each highlight with a discontinuity and its
  wall-clock time, starts viewers at the first highlight (``EXT-X-START``), is published only
  once it holds three target durations (shorter live playlists stall players) and gets
  ``EXT-X-ENDLIST`` when the event ends.

The state (settings, highlights found, how far the loudness has been judged) is
``highlights.json``; an event recorded without highlights has none, and ``vstream live
highlights EVENT`` finds them afterwards.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vstream.errors import MediaError, UsageError, VstreamError
from vstream.library import Library, atomic_write
from vstream.live import (Event, Span, Take, events_dir, follows, iso, parse_time, read_records, select, span_lines,
                          take_playlist)
from vstream.progress import SILENT, Progress

LOUDNESS = "loudness.jsonl"
STATE = "highlights.json"
PLAYLIST = "highlights.m3u8"
STEP = 0.5  # seconds per loudness value
LENGTH = 20.0  # seconds of a highlight's clip
RISE = 8.0  # LU above the minute before: a crowd's roar, a whistle, a goal horn
BEFORE = 2 / 3  # of a clip: before its peak
HISTORY = 60.0  # seconds of the past whose median loudness is the baseline
MIN_HISTORY = 4.0  # a moment with less past than this is not judged (nothing to compare it with)
LOOKAHEAD = 3.0  # seconds after a moment that must be recorded before it is judged
QUIET = -50.0  # LUFS: a "peak" quieter than this is no highlight, whatever the silence before it
PUBLISH_TARGETS = 3  # a live playlist shorter than this many target durations stalls players
TIE = 0.05  # LU: values this close are equally loud (a fragment measured in another run differs by ~0.01)
GRID_SKIP = 0.2  # seconds at a loudness run's start skipped to reach the take's 100 ms grid (past the audio's start)


@dataclass
class Settings:
    length: float = LENGTH
    rise: float = RISE

    def check(self) -> "Settings":
        if not 4 <= self.length <= 300:
            raise UsageError("--highlight-length must be 4..300 seconds")
        if not 1 <= self.rise <= 60:
            raise UsageError("--highlight-rise must be 1..60 LU")
        return self


@dataclass
class Highlight:
    peak: float  # event seconds of the loudest moment
    loudness: float  # its momentary loudness (LUFS)
    rise: float  # LU above the median of the minute before
    start: float  # the clip asked for, event seconds (whole fragments cover it)
    end: float

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


@dataclass
class State:
    settings: Settings = field(default_factory=Settings)
    highlights: list[Highlight] = field(default_factory=list)
    judged: int = 0  # loudness values (of STEP seconds) judged so far
    warnings: list[str] = field(default_factory=list)
    soundless: bool = False  # the event's sound cannot be measured (no audio): not tried again

    def to_dict(self) -> dict[str, Any]:
        return {"settings": asdict(self.settings), "highlights": [h.to_dict() for h in self.highlights],
                "judged": self.judged, "warnings": self.warnings, "soundless": self.soundless}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> "State":
        return cls(Settings(**data.get("settings", {})), [Highlight(**h) for h in data.get("highlights", [])],
                   int(data.get("judged", 0)), list(data.get("warnings", [])), bool(data.get("soundless")))  # fmt: skip


# --- the pure part -----------------------------------------------------------------------------


def timeline(event: Event, measured: dict[tuple[int, int], list[float]]) -> list[float]:
    """The event's loudness, one value per :data:`STEP` of event time, from the measured fragments
    (pure). It stops at the first fragment not measured yet."""
    values: list[float] = []
    t = 0.0
    for take in event.takes:
        for k, f in enumerate(take.fragments):
            got = measured.get((take.n, k))
            if got is None:
                return values
            for j, v in enumerate(got):
                i = int((t + j * STEP) / STEP + 1e-6)
                if i < len(values):
                    values[i] = max(values[i], v)
                else:
                    values += [v] * (i + 1 - len(values))  # (a rounding gap repeats the value)
            t += f.duration
    return values


def detect(values: list[float], state: State, *, final: bool = False) -> list[Highlight]:
    """Highlights among the loudness values not judged yet (pure but for advancing ``state.judged``).

    A value is judged once :data:`LOOKAHEAD` seconds after it are known (all of them when the
    event has ended), and only from the values up to then and the highlights before it, so the
    same recording always yields the same highlights, however often it is looked at."""
    s = state.settings
    ahead, history, gap = round(LOOKAHEAD / STEP), round(HISTORY / STEP), round(s.length / STEP)
    limit = len(values) if final else max(0, len(values) - ahead)
    found: list[Highlight] = []
    last = state.highlights[-1] if state.highlights else None
    for i in range(state.judged, limit):
        v = values[i]
        t = i * STEP
        if t < MIN_HISTORY or v < QUIET:
            continue
        if last is not None and t - last.peak < s.length:
            continue
        if (any(values[j] >= v - TIE for j in range(max(0, i - gap), i))
                or any(values[j] > v + TIE for j in range(i + 1, min(len(values), i + ahead + 1)))):  # fmt: skip
            continue  # not the loudest around it (ties, within a measurement's noise: the first)
        baseline = statistics.median(values[max(0, i - history): max(1, i - round(1 / STEP))])
        if v - baseline < s.rise:
            continue
        start = max(0.0, t - s.length * BEFORE, last.end if last else 0.0)
        last = Highlight(t, v, v - baseline, start, t + s.length * (1 - BEFORE))
        found.append(last)
    state.judged = max(state.judged, limit)
    return found


def ready(event: Event, highlights: list[Highlight], *, ended: bool) -> list[tuple[Highlight, list[Span]]]:
    """The highlights whose clips are recorded (all of them once the event has ended), each with
    the fragments it plays; a fragment that the previous highlight already plays is left out (pure)."""
    out: list[tuple[Highlight, list[Span]]] = []
    used: set[tuple[int, int]] = set()
    recorded = event.duration
    for h in highlights:
        if h.end > recorded + 1e-6 and not ended:
            break  # later highlights end later still
        spans = []
        for span in select(event, h.start, min(h.end, recorded)):
            fresh = [f for f in span.fragments if (span.take.n, f.offset) not in used]
            used.update((span.take.n, f.offset) for f in fresh)
            if fresh:
                skipped = sum(f.duration for f in span.fragments[: span.fragments.index(fresh[0])])
                spans.append(Span(span.take, fresh, span.start + skipped))
        if spans:
            out.append((h, spans))
    return out


def render(event: Event, highlights: list[Highlight], *, ended: bool) -> str | None:
    """The highlights' EVENT playlist (pure); None while it would be shorter than
    :data:`PUBLISH_TARGETS` target durations (and the event goes on) or holds nothing."""
    chosen = ready(event, highlights, ended=ended)
    total = sum(f.duration for _, spans in chosen for s in spans for f in s.fragments)
    if not chosen or (not ended and total < PUBLISH_TARGETS * event.target):
        return None
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{event.target}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-START:TIME-OFFSET=0"]  # fmt: skip
    before = None
    for _, spans in chosen:
        for span in spans:
            if follows(before, span):  # the next highlight starts where this one ends: dated, on the same timeline
                lines += span_lines(span)[1:]
            else:
                lines += ([] if before is None else ["#EXT-X-DISCONTINUITY"]) + span_lines(span)
            before = span
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def wall_clock(event: Event, t: float) -> str | None:
    """The wall-clock time (ISO) of event second ``t``."""
    from datetime import timedelta

    begin = 0.0
    for take in event.takes:
        if t <= begin + take.duration + 1e-6:
            return iso(parse_time(take.started_at) + timedelta(seconds=t - begin))
        begin += take.duration
    return None


# --- measuring and keeping the files ------------------------------------------------------------


def measure(folder: Path, take: Take, first: int, last: int) -> dict[int, list[float]]:
    """Loudness of fragments ``first``..``last - 1`` of a take (one ffmpeg run), one value per STEP of
    each; the fragment before ``first`` is decoded too, so the 400 ms window starts full.

    The same fragment measures the same however the fragments are grouped into runs (as they
    come, or all at once after the event): the 100 ms steps start on the take's own 100 ms grid
    (the first 200+ ms of the run are skipped to reach it), not wherever the run's audio starts."""
    from vstream.index.loudness import SILENCE, bucket, loudness_argv, parse_momentary
    from vstream.media import ffmpeg as ff

    warm = max(0, first - 1)
    fragments = take.fragments[warm:last]
    at = round(sum(f.duration for f in take.fragments[:warm]), 6)  # the run's start in the take's time
    skip = math.ceil(round((at + GRID_SKIP) / 0.1, 6)) * 0.1 - at  # to the take's next 100 ms step
    with tempfile.TemporaryDirectory(prefix="vstream-live-loud-") as tmp:
        playlist = Path(tmp) / "fragments.m3u8"  # (temporary: a reader's library may be read-only)
        playlist.write_text(take_playlist(take, (folder / take.media).resolve().as_uri(), fragments))
        lines: list[str] = []
        ff.run(loudness_argv(ff.find_ffmpeg().path, playlist, skip=skip), what="loudness", on_line=lines.append)
    samples = parse_momentary(lines)  # (times from the run's start: ffmpeg starts its input at 0)
    out: dict[int, list[float]] = {}
    begin = 0.0
    for k, f in enumerate(fragments, start=warm):
        if k >= first:
            mine = [(t - begin, v) for t, v in samples if begin - 1e-3 <= t < begin + f.duration - 1e-3]
            out[k] = [round(max(v, SILENCE), 2) for v in bucket(mine, f.duration, STEP)]
        begin += f.duration
    return out


def read_loudness(folder: Path) -> dict[tuple[int, int], list[float]]:
    """What loudness.jsonl holds (a torn last line, from a killed recorder, is skipped)."""
    rows = read_records(folder / LOUDNESS, lambda row: ((int(row["take"]), int(row["i"])), [float(v) for v in row["values"]]))
    return dict(rows)


def missing(event: Event, measured: dict[tuple[int, int], list[float]]) -> list[tuple[Take, int, int]]:
    """Runs of fragments not measured yet: ``(take, first, last)``."""
    runs = []
    for take in event.takes:
        k = 0
        while k < len(take.fragments):
            if (take.n, k) in measured:
                k += 1
                continue
            first = k
            while k < len(take.fragments) and (take.n, k) not in measured:
                k += 1
            runs.append((take, first, k))
    return runs


def loudness(lib: Library, event: Event, *, keep: bool = False,
             measured: dict[tuple[int, int], list[float]] | None = None) -> list[float]:  # fmt: skip
    """The event's loudness so far (one value per STEP), measuring what loudness.jsonl (or
    ``measured``, its contents kept by the caller, and brought up to date here) lacks; ``keep``
    appends those measurements (only the process holding the event's lock writes)."""
    folder = events_dir(lib) / event.id
    measured = read_loudness(folder) if measured is None else measured
    for take, first, last in missing(event, measured):
        got = measure(folder, take, first, last)
        measured.update({(take.n, k): v for k, v in got.items()})
        if keep:
            with open(folder / LOUDNESS, "a") as fh:
                fh.write("".join(json.dumps({"take": take.n, "i": k, "values": v}) + "\n" for k, v in got.items()))
    return timeline(event, measured)


def load_state(lib: Library, event_id: str) -> State | None:
    try:
        return State.from_dict(json.loads((events_dir(lib) / event_id / STATE).read_text()))
    except FileNotFoundError:
        return None


def update(lib: Library, event: Event, state: State, *, ended: bool,
           measured: dict[tuple[int, int], list[float]] | None = None) -> list[Highlight]:  # fmt: skip
    """Measure the new fragments, judge what is settled, rewrite the state and the playlist when they
    change (the caller holds the event's lock). Returns the new highlights."""
    folder = events_dir(lib) / event.id
    before = (state.judged, len(state.highlights))
    if state.soundless:
        return []
    try:
        values = loudness(lib, event, keep=True, measured=measured)
    except MediaError as exc:
        state.soundless = True
        state.warnings.append("no highlights: the event's sound cannot be measured (" + exc.message[:160] + ")")
        atomic_write(folder / STATE, json.dumps(state.to_dict(), indent=1), durable=False)
        return []
    found = detect(values, state, final=ended)
    state.highlights += found
    if (state.judged, len(state.highlights)) != before or not (folder / STATE).exists():
        atomic_write(folder / STATE, json.dumps(state.to_dict(), indent=1), durable=False)
    text = render(event, state.highlights, ended=ended)
    target = folder / PLAYLIST
    if text is not None and (not target.exists() or target.read_text() != text):
        atomic_write(target, text, durable=False)
    return found


def finalize(lib: Library, event: Event, progress: Progress = SILENT) -> None:
    """At the event's end: judge the rest and close the highlights' playlist (for an event recorded
    with highlights; the caller holds the event's lock)."""
    state = load_state(lib, event.id)
    if state is None:
        return
    try:
        update(lib, event, state, ended=True)
    except (VstreamError, OSError) as exc:  # the recording matters more than its highlights
        progress.note(f"{event.id}: warning: highlights not finished: {exc}")


def summary(lib: Library, event: Event, state: State) -> dict[str, Any]:
    """What ``vstream live highlights`` prints: each highlight with its wall-clock time, and the playlist."""
    folder = events_dir(lib) / event.id
    ended = event.status == "ended"
    shown = {id(h) for h, _ in ready(event, state.highlights, ended=ended)}
    playlist = folder / PLAYLIST
    return {
        "event": event.id, "live": not ended, "settings": asdict(state.settings),
        "playlist": f"live/{event.id}/{PLAYLIST}" if playlist.exists() else None,
        "highlights": [h.to_dict() | {"at": wall_clock(event, h.peak), "in_playlist": id(h) in shown}
                       for h in state.highlights],
        "judged_until": round(state.judged * STEP, 1), "warnings": state.warnings,
    }  # fmt: skip


def overview(lib: Library, event: Event) -> dict[str, Any]:
    """An event's summary with its highlights so far (count, whether their playlist is published), for
    listings (serve's /api/live, the MCP tools); read only."""
    state = load_state(lib, event.id)
    return event.summary() | {"highlights": len(state.highlights) if state else 0,
                              "highlights_published": (events_dir(lib) / event.id / PLAYLIST).exists()}  # fmt: skip


def highlights(lib: Library, event_id: str) -> dict[str, Any]:
    """An event's highlights so far. For an event nobody is recording, brought up to date first (found
    now if it was recorded without them); the recorder's own are read as they are."""
    import os

    from vstream.live import load, recording, take_lock

    event = load(lib, event_id)
    if recording(lib, event_id):
        state = load_state(lib, event_id)
        if state is None:
            state = State(warnings=["recorded with --no-highlights: ask again once the event has ended"])
        return summary(lib, event, state)
    fd = take_lock(lib, event_id, wait=30.0)
    if fd is None:  # a recorder (re)started meanwhile, or a long finish: what is there
        return summary(lib, event, load_state(lib, event_id) or State())
    try:
        event = load(lib, event_id)
        state = load_state(lib, event_id) or State()
        update(lib, event, state, ended=event.status == "ended")
    finally:
        os.close(fd)
    return summary(lib, event, state)


class Highlighter:
    """Keeps an event's highlights current while the recorder runs, on a thread of its own (a fragment's
    measurement never holds up the recording). ``offer`` hands it the event after each fragment."""

    def __init__(self, lib: Library, event: Event, settings: Settings | None, progress: Progress = SILENT):
        self.lib, self.progress = lib, progress
        self.state = load_state(lib, event.id) or State((settings or Settings()).check())
        folder = events_dir(lib) / event.id
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / STATE, json.dumps(self.state.to_dict(), indent=1), durable=False)
        self._measured = read_loudness(folder)  # (kept here: not read again at every fragment)
        self._latest: Event | None = None
        self._wake = threading.Condition()
        self._closing = False
        self._failed = False
        self._thread = threading.Thread(target=self._loop, name="vstream-highlights", daemon=True)
        self._thread.start()

    def offer(self, event: Event) -> None:
        snapshot = Event.from_dict(event.to_dict())  # the recorder keeps changing its own
        with self._wake:
            self._latest = snapshot
            self._wake.notify()

    def close(self) -> None:
        """Stop after the measurement under way (finalize() then judges the rest)."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._latest is None and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                event, self._latest = self._latest, None
            if self._failed:
                continue
            try:
                for h in update(self.lib, event, self.state, ended=False, measured=self._measured):
                    self.progress.note(f"{event.id}: highlight at {h.peak:.1f} s ({h.loudness:.0f} LUFS, +{h.rise:.0f} LU)")
            except (VstreamError, OSError) as exc:
                self._failed = True  # said once; the recording goes on
                self.progress.note(f"{event.id}: warning: highlights stopped: {exc}")
