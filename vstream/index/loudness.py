"""Momentary loudness (EBU R128) every 0.5 s, for crowd-peak moments in sports reels."""

from __future__ import annotations

import math
from pathlib import Path

from vstream.media import ffmpeg as ff

STEP = 0.5  # seconds per stored value
SILENCE = -70.0  # LUFS floor: the R128 absolute gate


def loudness_argv(ffmpeg: str, media: Path, *, skip: float = 0.0) -> list[str]:
    """ffmpeg's ebur128 filter printing momentary loudness (400 ms window) every 100 ms to stdout;
    ``skip``: seconds of the input's start left out (the 100 ms steps then start there)."""
    trim = f"atrim=start={skip:.6f}," if skip else ""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-i", str(media), "-map", "0:a:0", "-vn",
        "-af", f"{trim}ebur128=metadata=1,ametadata=mode=print:key=lavfi.r128.M:file=-", "-f", "null", "-",
    ]  # fmt: skip


def parse_momentary(lines: list[str]) -> list[tuple[float, float]]:
    """``[(t, LUFS)]`` from the ametadata print-out (``frame:.. pts_time:T`` then ``lavfi.r128.M=V``)."""
    out: list[tuple[float, float]] = []
    t: float | None = None
    for line in lines:
        if line.startswith("frame:"):
            for part in line.split():
                if part.startswith("pts_time:"):
                    t = float(part.split(":", 1)[1])
        elif line.startswith("lavfi.r128.M=") and t is not None:
            value = float(line.split("=", 1)[1])
            out.append((t, value if math.isfinite(value) else SILENCE))
    return out


def bucket(samples: list[tuple[float, float]], duration: float, step: float = STEP) -> list[float]:
    """The loudest momentary value in each ``step``-second bucket (floored at the absolute gate)."""
    n = max(1, math.ceil(duration / step - 1e-9))
    values = [SILENCE] * n
    for t, lufs in samples:
        i = min(n - 1, int(t / step))
        values[i] = max(values[i], max(lufs, SILENCE))
    return values


def measure(media: Path, duration: float) -> list[float]:
    """Loudness of ``media``'s first audio track, one value per :data:`STEP` seconds."""
    lines: list[str] = []
    ff.run(loudness_argv(ff.find_ffmpeg().path, media), what="loudness", on_line=lines.append)
    return [round(v, 2) for v in bucket(parse_momentary(lines), duration)]


def peaks(values: list[float], *, limit: int, min_gap: float = 5.0, step: float = STEP) -> list[tuple[float, float]]:
    """The loudest moments ``[(t, LUFS)]``, at least ``min_gap`` seconds apart, loudest first."""
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= limit or values[i] <= SILENCE:
            break
        if all(abs(i - j) * step >= min_gap for j in chosen):
            chosen.append(i)
    return [(i * step, values[i]) for i in chosen]
