"""A live event's on-screen text (scoreboards, captions), read while it is recorded:
``vstream index --follow EVENT --ocr``.

Each fragment of a take starts on a keyframe; that frame is decoded (the take's init section and
the fragment's bytes, nothing else) and read by the index's OCR model as soon as the fragment is
complete. What it reads goes to ``live/EVENT/onscreen.jsonl``, one line per fragment with text
(take, the event's time of the fragment, wall clock, text); ``onscreen.json`` says how many
fragments of each take are read, so a follower that is stopped goes on where it stopped.
Consecutive fragments that show the same text are one *run* (:func:`runs`): what search finds.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from vstream.library import Library, atomic_write
from vstream.live import LIVE_DIR, Event, Take, iso, parse_time, read_records

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def runs(shown: list[Shown]) -> list[Shown]:
    """Consecutive fragments of a take that show the same text, as one (pure)."""
    out: list[Shown] = []
    for s in sorted(shown, key=lambda x: x.at):
        last = out[-1] if out else None
        if last is not None and last.take == s.take and last.text == s.text and s.at <= last.to + 1e-3:
            last.to = max(last.to, s.to)  # (a fragment read twice, by a follower killed before it noted it: once)
        else:
            out.append(Shown(s.take, s.at, s.to, s.wall, s.text))
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

    def __init__(self, lib: Library, event_id: str, ocr):
        self.lib, self.event_id, self.ocr = lib, event_id, ocr
        self.folder = lib.root / LIVE_DIR / event_id
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
                text = frame_text(self.ocr.read(frame)) if frame is not None else ""
                if text:
                    wall = iso(began + timedelta(seconds=at - offset)) if began else None
                    shown = Shown(take.n, round(at, 3), round(at + fragment.duration, 3), wall, text)
                    with open(self.folder / TEXTS, "a") as fh:
                        fh.write(json.dumps(shown.to_dict()) + "\n")
                        fh.flush()
                        os.fsync(fh.fileno())
                    kept.append(shown)
                at += fragment.duration
                self.read[take.n] = self.read.get(take.n, 0) + 1
            if len(take.fragments) > done:
                atomic_write(self.folder / STATE, json.dumps({"read": {str(k): v for k, v in sorted(self.read.items())}}),
                             durable=False)  # fmt: skip
            offset += take.duration
        return kept
