"""Scene boundaries and frame sampling on synthetic keyframes (pure logic, no decoding)."""

import numpy as np

from vstream.index.scenes import KeyFrame, _histogram, detect_scenes
from vstream.timecode import TICKS


def frame(t_seconds: float, colour: tuple[int, int, int], noise: int = 40, seed: int = 0) -> KeyFrame:
    rng = np.random.default_rng(seed)
    img = np.clip(np.array(colour, dtype=np.int16) + rng.integers(-noise, noise + 1, (36, 64, 3)), 0, 255).astype(np.uint8)
    grey = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return KeyFrame(round(t_seconds * TICKS), img, _histogram(img), grey, float(grey.mean()), float(grey.std()))


def test_cuts_are_found_on_the_keyframe_after_the_change():
    frames = [frame(t, (200, 40, 40), seed=t) for t in range(0, 5)] + [frame(t, (40, 40, 200), seed=t) for t in range(5, 12)]
    scenes = detect_scenes(frames, end=12 * TICKS)
    assert [(s.start / TICKS, s.end / TICKS) for s in scenes] == [(0, 5), (5, 12)]


def test_black_and_blank_frames_are_never_sampled():
    black = [frame(t, (0, 0, 0), noise=0) for t in range(0, 3)]
    content = [frame(t, (120, 160, 90), seed=t) for t in range(3, 6)]
    scenes = detect_scenes(black + content, end=6 * TICKS, min_scene=10)
    assert len(scenes) == 1
    assert scenes[0].frames and all(not f.is_black and not f.is_blank for f in scenes[0].frames)


def test_long_scenes_get_one_sample_per_sample_seconds():
    frames = [frame(t, (90, 120, 150), seed=t) for t in range(0, 35)]
    (scene,) = detect_scenes(frames, end=35 * TICKS, sample_seconds=10)
    assert len(scene.frames) == 4  # 35 s: ceil(35 / 10)
    times = [f.t / TICKS for f in scene.frames]
    assert times == sorted(times) and times[0] == 0 and times[-1] == 34


def test_cuts_closer_than_min_scene_are_ignored():
    frames = [frame(0, (200, 40, 40)), frame(1, (40, 200, 40), seed=1), frame(2, (40, 40, 200), seed=2),
              frame(3, (40, 40, 200), seed=3)]  # fmt: skip
    assert [s.start / TICKS for s in detect_scenes(frames, end=4 * TICKS, min_scene=2.0)] == [0, 2]
