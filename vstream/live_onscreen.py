"""What a live event shows (on-screen text such as scoreboards, and what is in the picture), read
while it is recorded: ``vstream index --follow EVENT --ocr [--visual labels]``.

Each fragment of a take starts on a keyframe; that frame is decoded (the take's init section and
the fragment's bytes, nothing else) as soon as the fragment is complete, and read by the index's
OCR model (its text) and labels model (what it shows: "scoreboard, ...; objects: person"). What
they give goes to ``live/EVENT/onscreen.jsonl``, a line per fragment and source (take, the event's
time of the fragment, wall clock, text, source: onscreen | description); ``onscreen.json`` says how
many fragments of each take are read, so a follower that is stopped goes on where it stopped.
Consecutive fragments with the same text of one source are one *run* (:func:`runs`): what search
finds.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from vstream.library import Library, atomic_write
from vstream.live import LIVE_DIR, Event, Take, iso, parse_time, read_records, trim_torn

TEXTS = "onscreen.jsonl"  # one read fragment per line (those that show text)
STATE = "onscreen.json"  # {"read": {take: fragments read}}


@dataclass
class Shown:
    """Text on screen: ``at``/``to`` in the event's time (a fragment, or a run of them)."""

    take: int
    at: float
    to: float
    wall: str | None
    text: str
    source: str = "onscreen"  # onscreen (its text, OCR) | description (what it shows, labels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def runs(shown: list[Shown]) -> list[Shown]:
    """Consecutive fragments of a take with the same text of one source, as one (pure), in the order
    they begin."""
    out: list[Shown] = []
    open_: dict[tuple[int, str], Shown] = {}
    for s in sorted(shown, key=lambda x: x.at):
        last = open_.get((s.take, s.source))
        if last is not None and last.text == s.text and s.at <= last.to + 1e-3:
            last.to = max(last.to, s.to)  # (a fragment read twice, by a follower killed before it noted it: once)
        else:
            open_[(s.take, s.source)] = run = Shown(s.take, s.at, s.to, s.wall, s.text, s.source)
            out.append(run)
    return out


def read_shown(lib: Library, event_id: str) -> list[Shown]:
    """What ``onscreen.jsonl`` holds (a torn last line, from a killed follower, is skipped)."""
    return read_records(lib.root / LIVE_DIR / event_id / TEXTS, lambda row: Shown(**row))


def keyframe(path, take: Take, offset: int, length: int):
    """The first frame of the fragment at ``offset`` (a keyframe) as an RGB array."""
    import av

    with open(path, "rb") as fh:
        fh.seek(take.init[1])
        data = fh.read(take.init[0])
        fh.seek(offset)
        data += fh.read(length)
    with av.open(io.BytesIO(data), format="mp4") as container:
        stream = container.streams.video[0]
        for other in container.streams:
            if other.index != stream.index:
                other.discard = av.stream.Discard.all
        for frame in container.decode(stream):
            return frame.to_ndarray(format="rgb24")
    return None


class ScreenReader:
    """Reads one event's fragments as they complete; :meth:`step` reads what can be read now."""

    def __init__(self, lib: Library, event_id: str, ocr=None, labels=None):
        self.lib, self.event_id, self.ocr, self.labels = lib, event_id, ocr, labels
        self.folder = lib.root / LIVE_DIR / event_id
        trim_torn(self.folder / TEXTS)  # (a killed follower's half line: this one appends after it)
        try:
            state = json.loads((self.folder / STATE).read_text())
        except (FileNotFoundError, ValueError):
            state = {}
        self.read: dict[int, int] = {int(k): int(v) for k, v in state.get("read", {}).items()}

    def done(self, event: Event) -> bool:
        return all(self.read.get(t.n, 0) >= len(t.fragments) for t in event.takes)

    def step(self, event: Event) -> list[Shown]:
        from vstream.index.ocr import frame_text

        kept: list[Shown] = []
        offset = 0.0
        for take in event.takes:
            done = self.read.get(take.n, 0)
            at = offset + sum(f.duration for f in take.fragments[:done])
            began = parse_time(take.started_at) if take.started_at else None
            for fragment in take.fragments[done:]:
                frame = keyframe(self.folder / take.media, take, fragment.offset, fragment.length) if take.init else None
                read = []
                if frame is not None and self.ocr is not None:
                    read.append(("onscreen", frame_text(self.ocr.read(frame))))
                if frame is not None and self.labels is not None:
                    read.append(("description", self.labels.describe(frame).text))
                wall = iso(began + timedelta(seconds=at - offset)) if began else None
                shown = [Shown(take.n, round(at, 3), round(at + fragment.duration, 3), wall, text, source)
                         for source, text in read if text]  # fmt: skip
                if shown:
                    with open(self.folder / TEXTS, "a") as fh:
                        fh.write("".join(json.dumps(s.to_dict()) + "\n" for s in shown))
                        fh.flush()
                        os.fsync(fh.fileno())
                    kept += shown
                at += fragment.duration
                self.read[take.n] = self.read.get(take.n, 0) + 1
            if len(take.fragments) > done:
                atomic_write(self.folder / STATE, json.dumps({"read": {str(k): v for k, v in sorted(self.read.items())}}),
                             durable=False)  # fmt: skip
            offset += take.duration
        return kept
