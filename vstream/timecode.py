"""Time arithmetic in one place.

Seconds as ``float`` at the edges (CLI, JSON); integer 90 kHz ticks inside, the
MPEG clock, so sums of segment durations never drift.  Every snap of a time to a
keyframe goes through :func:`snap_down` / :func:`snap_up`.
"""

from __future__ import annotations

import bisect
from fractions import Fraction
from typing import Sequence

TICKS = 90_000  # ticks per second


def to_ticks(value: float | Fraction | int, time_base: Fraction | None = None) -> int:
    """Seconds (or a timestamp in ``time_base`` units) to the nearest 90 kHz tick."""
    seconds = Fraction(value) * time_base if time_base is not None else Fraction(value)
    return round(seconds * TICKS)


def to_seconds(ticks: int) -> float:
    return ticks / TICKS


def snap_down(t: int, keyframes: Sequence[int]) -> int:
    """The last keyframe at or before ``t`` (the first keyframe if ``t`` precedes it)."""
    i = bisect.bisect_right(keyframes, t) - 1
    return keyframes[max(i, 0)]


def snap_up(t: int, keyframes: Sequence[int], end: int) -> int:
    """The first keyframe at or after ``t``; ``end`` when ``t`` is past the last keyframe."""
    i = bisect.bisect_left(keyframes, t)
    return keyframes[i] if i < len(keyframes) else end


SNAP_MODES = ("outside", "inside", "nearest")


def snap_span(start: int, end: int, keyframes: Sequence[int], video_end: int, mode: str = "outside") -> tuple[int, int]:
    """A clip's in- and out-point on keyframes (the out-point may also be the video's end).

    ``outside`` keeps all that was asked for (starts at or before, ends at or after);
    ``inside`` keeps within it (when a keyframe interval fits; else as ``nearest``);
    ``nearest`` takes the closest keyframe at each end. Never an empty span.
    """
    bounds = list(keyframes) + ([video_end] if not keyframes or keyframes[-1] < video_end else [])
    if mode == "inside":
        i = bisect.bisect_left(keyframes, start)
        j = bisect.bisect_right(bounds, end) - 1
        if i < len(keyframes) and j >= 0 and bounds[j] > keyframes[i]:
            return keyframes[i], bounds[j]
        mode = "nearest"
    if mode == "nearest":
        s = snap_nearest(start, keyframes)
        later = [b for b in bounds if b > s]
        e = min(later, key=lambda b: (abs(b - end), b)) if later else video_end
        return s, e
    if mode != "outside":
        raise ValueError(f"unknown snap mode {mode!r}")
    return snap_down(start, keyframes), min(video_end, snap_up(end, keyframes, video_end))


def snap_nearest(t: int, keyframes: Sequence[int]) -> int:
    """The keyframe closest to ``t`` (earlier one on a tie)."""
    i = bisect.bisect_left(keyframes, t)
    candidates = [keyframes[j] for j in (i - 1, i) if 0 <= j < len(keyframes)]
    return min(candidates, key=lambda k: (abs(k - t), k))


def format_hms(seconds: float) -> str:
    """``HH:MM:SS.mmm`` (what the CLI tables show)."""
    ms = round(seconds * 1000)
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{sign}{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def parse_time(text: str) -> float:
    """Seconds from ``"65.5"``, ``"1:05.5"`` or ``"00:01:05.500"``."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or any(p == "" for p in parts):
        raise ValueError(f"not a time: {text!r} (use seconds like 65.5 or HH:MM:SS.mmm)")
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    if total < 0:
        raise ValueError(f"time must not be negative: {text!r}")
    return total
