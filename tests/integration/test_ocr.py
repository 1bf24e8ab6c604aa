"""On-screen text with RapidOCR: the match scoreboard reads, photos without text read nothing.

The network is blocked (tests/conftest.py), so these also prove the packaged models
are used as they are: a download attempt would fail the test.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import sample_path
from vstream.errors import UsageError
from vstream.index.ocr import (
    MAX_SIDE,
    OcrBackend,
    TextBox,
    default_model_files,
    frame_text,
    load_ocr,
    package_model_dir,
)

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime", reason="pip install onnxruntime")
if importlib.util.find_spec("rapidocr") is None:
    pytest.skip("pip install rapidocr", allow_module_level=True)


def video_frame(path: Path, at: float, width: int, height: int):
    """One decoded frame of ``path`` at ``at`` seconds, as HxWx3 uint8 RGB (ffmpeg rawvideo)."""
    from vstream.media.ffmpeg import find_ffmpeg

    argv = [find_ffmpeg().path, "-v", "error", "-ss", f"{at}", "-i", str(path), "-frames:v", "1",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]  # fmt: skip
    raw = subprocess.run(argv, capture_output=True, check=True, timeout=60).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def photo(name: str):
    from PIL import Image

    from sample_media.build import PHOTOS

    root = Path(next(iter(importlib.util.find_spec("skimage").submodule_search_locations)))
    return np.asarray(Image.open(root / "data" / PHOTOS[name]))


def tokens(text: str) -> list[str]:
    return re.findall(r"[A-Z0-9]+", text.upper())


@pytest.fixture(scope="module")
def ocr() -> OcrBackend:
    return load_ocr()


@pytest.fixture(scope="module")
def scoreboard(samples):
    meta = samples["videos"]["match"]
    return video_frame(sample_path(samples, "match"), 12.0, meta["width"], meta["height"])  # 1280x720


def test_scoreboard_reads(ocr, scoreboard, capsys):
    start = time.perf_counter()
    (boxes,) = ocr.read_frames([scoreboard])
    ms = (time.perf_counter() - start) * 1000
    with capsys.disabled():
        print(f"\nOCR: {ms:.0f} ms for a first 1280x720 frame (incl. lazy recognition-model load)")
    text = frame_text(boxes)
    words = tokens(text)
    assert "MAN" in words and "UTD" in words and "LIVERPOOL" in words
    assert "2" in words and "1" in words
    assert words.index("MAN") < words.index("LIVERPOOL") and words.index("2") < words.index("1")
    assert " ".join(text.upper().split()) == "MAN UTD 2 - 1 LIVERPOOL"


def test_boxes_are_in_frame_coordinates(ocr, scoreboard):
    (boxes,) = ocr.read_frames([scoreboard])
    assert boxes and all(isinstance(b, TextBox) and 0.6 <= b.score <= 1 and len(b.box) == 4 for b in boxes)
    xs = [x for b in boxes for x, _ in b.box]
    ys = [y for b in boxes for _, y in b.box]
    # the banner sits across the middle of the 1280x720 frame, not the 960x540 one OCR saw
    assert max(xs) > 1000 and min(xs) < 250 and 280 < min(ys) and max(ys) < 450


def test_photos_without_text_read_nothing(ocr):
    # coffee: PP-OCR's detector takes the whole cup for a glyph ("8"); the line-height filter drops it
    frames = [photo(n) for n in ("coffee", "chelsea", "rocket", "grass")] + [np.zeros((720, 1280, 3), np.uint8)]
    assert [frame_text(boxes) for boxes in ocr.read_frames(frames)] == [""] * len(frames)


def test_other_text_in_samples(ocr, samples):
    meta = samples["videos"]["ad"]
    frame = video_frame(sample_path(samples, "ad"), 3.0, meta["width"], meta["height"])
    assert tokens(frame_text(ocr.read_frames([frame])[0])) == ["BUY", "FIZZY", "COLA"]
    assert "YAMAHA" in frame_text(ocr.read_frames([photo("motorcycle_left")])[0]).upper()  # a brand on the tank


def test_small_and_grey_frames(ocr, scoreboard):
    import cv2

    small = cv2.resize(scoreboard, (480, 270), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(scoreboard, cv2.COLOR_RGB2GRAY)
    texts = [frame_text(b) for b in ocr.read_frames([small, grey])]
    assert all("LIVERPOOL" in tokens(t) for t in texts)
    assert ocr.read_frames([]) == []


def test_frame_text_reading_order_and_threshold():
    def box(text, x, y, score=0.9, w=80, h=20):
        return TextBox(text, score, [(x, y), (x + w, y), (x + w, y + h), (x, y + h)])

    boxes = [box("world", 200, 12), box("second", 10, 60), box("hello", 10, 10), box("junk", 400, 10, 0.3),
             box("  line  ", 120, 58), box("", 300, 300)]  # fmt: skip
    assert frame_text(boxes) == "hello world second line"
    assert frame_text(boxes, min_score=0.2) == "hello world junk second line"
    assert frame_text([]) == ""


def test_no_logging_noise(ocr, capfd):
    ocr.read_frames([np.zeros((360, 640, 3), np.uint8)])  # RapidOCR would warn "detection result is empty"
    captured = capfd.readouterr()
    assert "RapidOCR" not in captured.err and "RapidOCR" not in captured.out


def test_speed(ocr, scoreboard, capsys):
    frames = [scoreboard] * 3
    start = time.perf_counter()
    ocr.read_frames(frames)
    per_frame = (time.perf_counter() - start) * 1000 / len(frames)
    with capsys.disabled():
        print(f"\nOCR: {per_frame:.0f} ms per 720p frame (max side {MAX_SIDE}); running mean {ocr.ms_per_frame()} ms")
    assert per_frame < 5000  # ~130 ms on 2 idle CPU cores; generous, as test machines are shared


def test_identity_and_doctor_files(ocr):
    assert ocr.name == "ocr"
    assert "PP-OCRv6_det_small.onnx@" in ocr.fingerprint and "PP-OCRv6_rec_small.onnx@" in ocr.fingerprint
    files = default_model_files()
    assert [f["name"] for f in files] == ["PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"]
    for f in files:
        assert Path(f["path"]).is_file() and f["size_bytes"] > 1_000_000
        assert f["licence"] == "Apache-2.0" and "rapidocr" in f["source"]
    assert load_ocr() is ocr


def test_model_directory_setting(tmp_path, ocr, scoreboard):
    for name in ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"):
        (tmp_path / name).symlink_to(package_model_dir() / name)
    custom = load_ocr(str(tmp_path))
    assert custom.fingerprint == ocr.fingerprint
    assert "LIVERPOOL" in tokens(frame_text(custom.read_frames([scoreboard])[0]))


def test_bad_model_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="not a directory"):
        load_ocr(str(tmp_path / "nope"))
    (tmp_path / "only_det.onnx").write_bytes(b"x")
    with pytest.raises(UsageError, match=r"\*rec\*"):
        load_ocr(str(tmp_path))
