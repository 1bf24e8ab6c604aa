"""Shot boundaries on keyframes, and the frames that represent each scene.

Only keyframes are decoded (``skip_frame="NONKEY"``), downscaled, so a scene always
starts and ends on a keyframe and can be cut without re-encoding. A boundary is
placed at the keyframe whose colour histogram differs from the previous keyframe's
by more than a threshold (plus a luma-layout check so two differently composed
shots with similar colours still split). Sampling skips black, blank and fading
frames: otherwise every video that opens on black looks alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from vstream.timecode import TICKS, snap_nearest
from vstream.models import threads as thread_budget

ANALYSIS_SIZE = (64, 36)  # what boundary detection looks at
MAX_SCENE_SECONDS = 30.0  # a longer shot is split on keyframes into parts of about this length (search moments)
SAMPLE_LONG_SIDE = 640  # what the models get


@dataclass
class KeyFrame:
    t: int  # ticks from the first video frame
    image: "object"  # HxWx3 uint8 RGB at SAMPLE_LONG_SIDE (numpy array)
    hist: "object"  # normalised colour histogram
    small: "object"  # ANALYSIS_SIZE grey, float32
    mean: float  # mean luma 0..255
    std: float  # luma standard deviation

    @property
    def is_black(self) -> bool:  # dark *and* flat: a night shot, a scoreboard or space is not black
        return self.mean < 20 and self.std < 8

    @property
    def is_blank(self) -> bool:  # flat frames: black, white, a single colour, deep in a fade
        return self.std < 5


@dataclass
class Scene:
    start: int  # ticks, on a keyframe
    end: int  # ticks, the next scene's start (a keyframe) or the video's end
    frames: list[KeyFrame] = field(default_factory=list)  # sampled, non-blank
    keyframes: int = 0
    part: int = 0  # 0: starts a shot (a cut); 1, 2...: the next part of a long shot (no cut here)


def decode_keyframes(media: Path, keyframes: list[int] | None = None, rotation: int = 0) -> Iterator[KeyFrame]:
    """Decode every keyframe of ``media`` downscaled; times relative to its first video frame.

    With the ingest's ``keyframes`` table the times are snapped to its exact ticks. ``rotation``
    (degrees clockwise, a phone's display matrix) turns the image the models see upright, as
    players show it: a face on its side is not a face to a frontal detector.
    """
    import av
    import numpy as np

    with av.open(str(media)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = thread_budget()
        for other in container.streams:
            if other.index != stream.index:
                other.discard = av.stream.Discard.all
        tb = stream.time_base
        start: float | None = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            seconds = float(frame.pts * tb)
            start = seconds if start is None else start
            t = round((seconds - start) * TICKS)
            if keyframes:
                t = snap_nearest(t, keyframes)
            w, h = frame.width, frame.height
            scale = SAMPLE_LONG_SIDE / max(w, h)
            sw, sh = max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)
            image = frame.reformat(width=sw, height=sh, format="rgb24").to_ndarray()
            if rotation % 360:
                image = np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))  # rot90 turns counter-clockwise
            small_rgb = frame.reformat(width=ANALYSIS_SIZE[0], height=ANALYSIS_SIZE[1], format="rgb24").to_ndarray()
            grey = small_rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            yield KeyFrame(
                t=t,
                image=image,
                hist=_histogram(small_rgb),
                small=grey,
                mean=float(grey.mean()),
                std=float(grey.std()),
            )


def _histogram(rgb) -> "object":
    """8x8x8 RGB histogram, L1-normalised."""
    import numpy as np

    q = (rgb // 32).reshape(-1, 3).astype(np.int32)
    idx = q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2]
    hist = np.bincount(idx, minlength=512).astype(np.float32)
    return hist / max(hist.sum(), 1.0)


def is_cut(a: KeyFrame, b: KeyFrame, threshold: float = 0.35) -> bool:
    """Two consecutive keyframes belong to different shots."""
    import numpy as np

    colour = 0.5 * float(np.abs(a.hist - b.hist).sum())  # total variation distance, 0..1
    if colour >= threshold:
        return True
    layout = float(np.abs(a.small - b.small).mean()) / 255.0
    return colour >= threshold / 2 and layout >= 0.12


class SceneDetector:
    """Feed keyframes in order; finished scenes come out as soon as the next one starts.

    Memory stays bounded: per scene only the usable (non-black, non-blank)
    candidate images are kept, thinned evenly to at most ``4 * samples`` frames.
    """

    def __init__(self, *, sample_seconds: float = 10.0, min_scene: float = 1.0, threshold: float = 0.35,
                 max_scene: float = MAX_SCENE_SECONDS):  # fmt: skip
        self.sample_seconds = sample_seconds
        self.min_scene = min_scene
        self.threshold = threshold
        self.max_scene = max_scene
        self._scene: Scene | None = None
        self._prev: KeyFrame | None = None
        self._usable: list[KeyFrame] = []
        self._stride = 1
        self._seen_usable = 0

    def feed(self, frame: KeyFrame) -> Scene | None:
        finished = None
        if self._scene is None:
            self._scene = Scene(start=0, end=frame.t)
        elif is_cut(self._prev, frame, self.threshold) and frame.t - self._scene.start >= self.min_scene * TICKS:
            finished = self._close(frame.t)
            self._scene = Scene(start=frame.t, end=frame.t)
        elif frame.t - self._scene.start >= self.max_scene * TICKS:  # a long shot: a searchable part ends here
            part = self._scene.part + 1
            finished = self._close(frame.t)
            self._scene = Scene(start=frame.t, end=frame.t, part=part)
        self._prev = frame
        self._scene.keyframes += 1
        if not (frame.is_black or frame.is_blank):
            if self._seen_usable % self._stride == 0:
                self._usable.append(frame)
                if len(self._usable) > 64:
                    self._usable = self._usable[::2]
                    self._stride *= 2
            self._seen_usable += 1
        return finished

    def finish(self, end: int) -> Scene | None:
        if self._scene is None:
            return Scene(0, end) if end > 0 else None
        return self._close(end)  # (a last part shorter than a keyframe interval stays with it: it ends at end)

    def _close(self, end: int) -> Scene:
        scene = self._scene
        assert scene is not None
        scene.end = end
        scene.frames = pick_samples(self._usable, scene.end - scene.start, self.sample_seconds)
        self._usable, self._stride, self._seen_usable = [], 1, 0
        return scene


def detect_scenes(frames: list[KeyFrame], end: int, *, sample_seconds: float = 10.0, min_scene: float = 1.0,
                  max_scene: float = MAX_SCENE_SECONDS) -> list[Scene]:  # fmt: skip
    """All scenes of a list of keyframes (the detector, run to the end)."""
    detector = SceneDetector(sample_seconds=sample_seconds, min_scene=min_scene, max_scene=max_scene)
    scenes = [s for s in (detector.feed(f) for f in frames) if s is not None]
    last = detector.finish(end)
    return scenes + ([last] if last is not None else [])


def pick_samples(usable: list[KeyFrame], duration: int, sample_seconds: float) -> list[KeyFrame]:
    """One frame per ``sample_seconds`` of the scene (more than one for a long scene), spread evenly.

    A single sample is the middle usable frame: away from fades at either end.
    """
    if not usable:
        return []
    wanted = min(len(usable), max(1, -(-duration // round(sample_seconds * TICKS))))
    if wanted == 1:
        return [usable[len(usable) // 2]]
    step = (len(usable) - 1) / (wanted - 1)
    return [usable[round(i * step)] for i in range(wanted)]
