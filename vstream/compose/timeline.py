"""The composed timeline's pure parts: ad-break slots at scene boundaries, and pods spliced in.

Everything here is data in, data out (90 kHz ticks): no library, no index, no I/O, so the
rules are tested with golden files. :mod:`vstream.compose.api` feeds it the scene starts
and the brand-safety verdicts it read from the index.

A **slot** is a place where a break may go without cutting a shot: a scene boundary inside
a clip (a keyframe, so the clip splits there without re-encoding) or the boundary between
two clips. Breaks are asked for on the *content* timeline (``every: 300`` counts programme
seconds, not ad seconds); each goes to the nearest safe slot after the previous break.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Sequence

from vstream.compose.playlist import Clip, PlacedClip
from vstream.timecode import TICKS, snap_nearest


@dataclass(frozen=True)
class Slot:
    at: int  # content-timeline ticks
    clip: int  # index of the clip that starts here (between clips) or is split here
    split: int | None  # source ticks where ``clip`` is split; None: the slot lies before ``clip``
    unsafe: str = ""  # why brand safety rejects this slot ("" = safe)


@dataclass
class Break:
    requested: int  # content ticks asked for
    slot: Slot | None  # where it went (None: no safe slot was left)
    pod: list[Clip] = field(default_factory=list)
    rejected: list[Slot] = field(default_factory=list)  # unsafe slots nearer the request than the one chosen

    @property
    def duration(self) -> int:
        return sum(c.end - c.start for c in self.pod)


def break_targets(total: int, every: int | None, at: Sequence[int]) -> list[int]:
    """Content times asked for: each ``at``, and every ``every`` ticks before the end (never at it)."""
    targets = {t for t in at if 0 <= t < total}
    if every:
        targets.update(range(every, total, every))
    return sorted(targets)


def candidate_slots(placed: Sequence[PlacedClip], scene_starts: dict[str, Sequence[int]]) -> list[Slot]:
    """Every clip start, and every scene start strictly inside a clip (snapped to a keyframe)."""
    slots = []
    for i, p in enumerate(placed):
        slots.append(Slot(p.at, i, None))
        src = p.clip.source
        cuts = sorted({snap_nearest(t, src.keyframes) for t in scene_starts.get(src.video_id, ())})
        slots += [Slot(p.at + t - p.start, i, t) for t in cuts if p.start < t < p.end]
    return slots


def choose_slots(slots: Sequence[Slot], targets: Sequence[int]) -> list[Break]:
    """For each target in order, the nearest safe slot after the previous break (ties: the earlier)."""
    breaks, after, used = [], -1, set()
    for target in targets:
        free = [s for s in slots if s.at > after and s.at not in used]
        safe = [s for s in free if not s.unsafe]
        best = min(safe, key=lambda s: (abs(s.at - target), s.at), default=None)
        rejected = [s for s in free if s.unsafe and (best is None or abs(s.at - target) < abs(best.at - target))]
        breaks.append(Break(target, best, rejected=sorted(rejected, key=lambda s: abs(s.at - target))))
        if best is not None:
            after = best.at
            used.add(best.at)
    return breaks


def splice(clips: Sequence[Clip], placed: Sequence[PlacedClip], breaks: Sequence[Break]) -> list[Clip]:
    """The clips with each break's pod inserted at its slot; a clip split at a slot becomes two."""
    by_clip: dict[int, list[Break]] = {}
    for b in breaks:
        if b.slot is not None and b.pod:
            by_clip.setdefault(b.slot.clip, []).append(b)
    out: list[Clip] = []
    for i, clip in enumerate(clips):
        here = sorted(by_clip.get(i, []), key=lambda b: b.slot.at)  # type: ignore[union-attr]
        start = clip.start  # requested in-point first (its snap is reported), then each split keyframe
        for b in here:
            assert b.slot is not None
            if b.slot.split is not None:  # the clip's part before the slot
                out.append(replace(clip, start=start, end=b.slot.split))
                start = b.slot.split
            out += b.pod
        out.append(replace(clip, start=start))
    return out


def pod_for(index: int, ads: Sequence[Clip], per_break: int) -> list[Clip]:
    """Break ``index``'s ads: ``per_break`` of them, rotating through the list (deterministic)."""
    if not ads:
        return []
    return [replace(ads[(index * per_break + j) % len(ads)], pod=index) for j in range(per_break)]


def seconds(ticks: int) -> float:
    return round(ticks / TICKS, 6)
