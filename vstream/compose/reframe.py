"""Reframe that follows the subject: a crop window per keyframe that keeps the faces in frame.

Pure functions from face sightings to a crop path (Google AutoFlip's idea, on what the faces
stage already stored). For each keyframe the *target* is where the faces are (their union when
it fits the crop, else the largest face); keyframes without faces keep the previous target (a
scene where nobody is found stays centred). The path then moves smoothly: it stays still while
the target is inside a dead zone around the window's centre (no jitter), pans at a bounded speed,
and jumps only at scene cuts. Between two points a player (and ``vstream render``) moves the
window linearly, as a face moving between keyframes does.

Coordinates: ``x`` is the crop window's centre as a fraction of the source width (0.5 = centre).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_SPEED = 0.25  # of the source width per second: a slow, deliberate pan
DEAD_ZONE = 0.25  # of the crop width: a target this close to the window's centre does not move it


@dataclass(frozen=True)
class Sighting:
    t: float  # seconds in the source video
    boxes: tuple[tuple[float, float, float, float], ...]  # faces seen (x0, y0, x1, y1 in 0..1)


def crop_fraction(source: tuple[int, int], output: tuple[int, int]) -> float:
    """The share of the source width a crop to the output's aspect ratio keeps (1.0: no horizontal crop)."""
    sw, sh = source
    ow, oh = output
    return min(1.0, (sh * ow / oh) / sw) if sw and sh and oh else 1.0


def target(boxes, crop: float) -> float | None:
    """Where the window should be centred for these faces (None: nobody)."""
    if not boxes:
        return None
    left, right = min(b[0] for b in boxes), max(b[2] for b in boxes)
    if right - left <= crop * 0.9:  # everyone fits, with a margin
        return (left + right) / 2
    largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    return (largest[0] + largest[2]) / 2


def clamp(x: float, crop: float) -> float:
    return min(max(x, crop / 2), 1 - crop / 2)


def follow(sightings: list[Sighting], cuts: list[float], crop: float, *, start: float, end: float,
           max_speed: float = MAX_SPEED, dead_zone: float = DEAD_ZONE) -> list[tuple[float, float]]:  # fmt: skip
    """The window's centre ``[(t, x)]`` over ``[start, end]`` of one source (pure).

    ``sightings`` are per keyframe in time order, ``cuts`` the scene starts (where the window may
    jump). Every cut inside the span gets a point on each side, so players hold the window still
    up to the cut and jump there.
    """
    if crop >= 1.0:
        return [(start, 0.5), (end, 0.5)]
    inside = [s for s in sightings if start <= s.t < end]
    scene_starts = sorted({start, *[c for c in cuts if start < c < end]})

    def scene_of(t: float) -> int:
        return max(i for i, c in enumerate(scene_starts) if c <= t)

    path: list[tuple[float, float]] = []
    for i, scene_start in enumerate(scene_starts):
        scene_end = scene_starts[i + 1] if i + 1 < len(scene_starts) else end
        mine = [s for s in inside if scene_of(s.t) == i]
        wanted = [(s.t, target(s.boxes, crop)) for s in mine]
        known = [x for _, x in wanted if x is not None]
        if not known:  # nobody in this scene: centred
            path += [(scene_start, 0.5), (scene_end, 0.5)]
            continue
        x = clamp(known[0], crop)  # start where the first face is (a cut may jump anywhere)
        points = [(scene_start, x)]
        last_t = scene_start
        for t, want in wanted:
            if want is None:
                want = x
            want = clamp(want, crop)
            step = max_speed * max(t - last_t, 0.0)
            if abs(want - x) > dead_zone * crop / 2 or t == scene_start:
                x = x + max(-step, min(step, want - x)) if t > last_t else want
            if t > scene_start:
                points.append((t, x))
            last_t = t
        if scene_end > last_t:  # after the last keyframe: a face that was moving keeps moving
            seen = [(t, w) for t, w in wanted if w is not None]
            want = known[-1]
            if len(seen) > 1 and seen[-1][0] == last_t:
                velocity = max(-max_speed, min(max_speed, _slope(seen[-4:])))  # detector jitter averages out
                want = seen[-1][1] + velocity * (scene_end - last_t)
            want = clamp(want, crop)
            step = max_speed * (scene_end - last_t)
            if abs(want - x) > dead_zone * crop / 2:
                x = x + max(-step, min(step, want - x))
            points.append((scene_end, x))
        path += points
    return simplify([(round(t, 3), round(x, 4)) for t, x in path])


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``[(t, x)]`` (0 when the times do not differ)."""
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mx = sum(x for _, x in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (x - mx) for t, x in points) / var if var else 0.0


def at(path: list[tuple[float, float]], t: float) -> float:
    """The window's centre at ``t`` (linear between points; the later point wins at a cut)."""
    if not path:
        return 0.5
    if t <= path[0][0]:
        return path[0][1]
    for (t0, x0), (t1, x1) in zip(path, path[1:]):
        if t0 <= t < t1:
            return x0 + (x1 - x0) * (t - t0) / (t1 - t0) if t1 > t0 else x1
    return path[-1][1]


def simplify(path: list[tuple[float, float]], tolerance: float = 1e-3) -> list[tuple[float, float]]:
    """The same moving window with fewer points: a point on the line between its neighbours goes
    (a still window over a two-minute interview is two points, not one per keyframe). Cuts (two
    points at one time) stay."""
    out: list[tuple[float, float]] = []
    for point in path:
        while len(out) >= 2:
            (t0, x0), (t1, x1) = out[-2], out[-1]
            t2, x2 = point
            if t1 <= t0 or t2 <= t1:
                break
            expected = x0 + (x2 - x0) * (t1 - t0) / (t2 - t0)
            if abs(expected - x1) > tolerance:
                break
            out.pop()
        out.append(point)
    return out


def ffmpeg_x(path: list[tuple[float, float]], width_expr: str = "iw", crop_expr: str = "ow") -> str:
    """An ffmpeg ``crop`` x expression (in ``t``, seconds from the clip's start) following ``path``.

    The pieces are chosen by a balanced tree of ``if(lt(t,T),...)``: ffmpeg's expression parser
    stops at a fixed nesting depth (about 90), and a linear chain over a long clip would pass it."""
    pieces = [(t0, x0, t1, x1) for (t0, x0), (t1, x1) in zip(path, path[1:]) if t1 > t0]
    if not pieces:
        x = path[-1][1] if path else 0.5
        return f"max(0,min({width_expr}-{crop_expr},{x:.4f}*{width_expr}-{crop_expr}/2))"

    def line(piece) -> str:
        t0, x0, t1, x1 = piece
        return f"{x0:.4f}+({(x1 - x0) / (t1 - t0):.5f})*(t-{t0:.3f})"

    def tree(lo: int, hi: int) -> str:
        if hi - lo == 1:
            return line(pieces[lo])
        mid = (lo + hi) // 2
        return f"if(lt(t,{pieces[mid][0]:.3f}),{tree(lo, mid)},{tree(mid, hi)})"

    last = pieces[-1]
    expr = f"if(gte(t,{last[2]:.3f}),{last[3]:.4f},{tree(0, len(pieces))})"
    return f"max(0,min({width_expr}-{crop_expr},({expr})*{width_expr}-{crop_expr}/2))"
