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
    (scene,) = detect_scenes(frames, end=35 * TICKS, sample_seconds=10, max_scene=60)
    assert len(scene.frames) == 4  # 35 s: ceil(35 / 10)
    times = [f.t / TICKS for f in scene.frames]
    assert times == sorted(times) and times[0] == 0 and times[-1] == 34


def test_cuts_closer_than_min_scene_are_ignored():
    frames = [frame(0, (200, 40, 40)), frame(1, (40, 200, 40), seed=1), frame(2, (40, 40, 200), seed=2),
              frame(3, (40, 40, 200), seed=3)]  # fmt: skip
    assert [s.start / TICKS for s in detect_scenes(frames, end=4 * TICKS, min_scene=2.0)] == [0, 2]


def test_a_long_shot_is_split_into_parts_sampled_as_documented():
    """One 20-minute shot (1 s GOPs): 30 s parts, each sampled every 10 s, no cut between them."""
    import numpy as np

    from vstream.index.scenes import KeyFrame, detect_scenes
    from vstream.timecode import TICKS

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
    hist = np.full(512, 1 / 512, dtype=np.float32)
    small = image.mean(axis=2).astype(np.float32)
    frames = [KeyFrame(t=i * TICKS, image=image, hist=hist, small=small, mean=120.0, std=40.0) for i in range(1200)]
    scenes = detect_scenes(frames, 1200 * TICKS, sample_seconds=10.0)
    assert len(scenes) == 40 and all(s.end - s.start == 30 * TICKS for s in scenes)
    assert [s.part for s in scenes[:3]] == [0, 1, 2]  # one shot: only the first part starts at a cut
    assert all(len(s.frames) == 3 for s in scenes)
    gaps = [b.t - a.t for s in scenes for a, b in zip(s.frames, s.frames[1:])]
    assert max(gaps) <= 15 * TICKS  # about every 10 s, as documented, not every 32 s
