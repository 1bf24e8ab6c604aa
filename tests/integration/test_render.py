"""`vstream render`: overlay, reframe and captions burned into real pixels, each clip encoded once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, vstream, vstream_json
from tests.media_checks import ffprobe_json, played_duration

RECIPES = ROOT / "recipes"


@pytest.fixture
def lib(indexed_library, tmp_path) -> Path:
    copy = tmp_path / "lib"
    shutil.copytree(indexed_library, copy)
    return copy


def pixel(video: Path, at: float, x: int, y: int) -> tuple[int, int, int]:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{at}", "-i", str(video), "-frames:v", "1",
                          "-vf", f"crop=2:2:{x}:{y}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout  # fmt: skip
    return raw[0], raw[1], raw[2]


def test_render_burns_reframe_overlay_and_captions_and_reuses_clips(lib, tmp_path):
    stream = vstream_json("compose", str(RECIPES / "highlights.yaml"), "-L", str(lib), "--user", "u1")
    out = tmp_path / "reel.mp4"
    first = vstream_json("render", stream["master"], "--out", str(out), timeout=600)
    assert first["encoded"] == len(stream["clips"]) and first["cached"] == 0
    video = next(s for s in ffprobe_json("-show_streams", str(out))["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (608, 1080)  # the recipe's portrait reframe, in pixels
    assert played_duration(out) == pytest.approx(stream["duration"], abs=0.05)
    # a second user with the same moments shares every encoded clip; HLS output plays too
    other = vstream_json("compose", str(RECIPES / "highlights.yaml"), "-L", str(lib), "--user", "u2")
    again = vstream_json("render", other["master"], "--out", str(tmp_path / "hls"), timeout=600)
    assert again["cached"] == len(other["clips"]) and again["encoded"] == 0
    assert played_duration(Path(again["output"])) == pytest.approx(stream["duration"], abs=0.1)


def test_overlay_opacity_is_what_the_recipe_says_in_the_pixels(lib, tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    shutil.copy(RECIPES / "logo.png", folder / "logo.png")
    renders = {}
    for opacity in (0, 1, 0.85):
        recipe = folder / f"o{opacity}.yaml"
        recipe.write_text(f"version: 1\nname: o{str(opacity).replace('.', '')}\nclips:\n  - video: talk\n    start: 8\n"
                          f"    duration: 2\noverlays:\n  - image: logo.png\n    position: top-right\n    scale: 0.25\n"
                          f"    opacity: {opacity}\n")  # fmt: skip
        stream = vstream_json("compose", str(recipe), "-L", str(lib))
        renders[opacity] = tmp_path / f"{opacity}.mp4"
        vstream("render", stream["master"], "--out", str(renders[opacity]), check=True, timeout=600)
    # the logo's centre: 640 px wide frame, logo 160 px wide (0.25), 13 px margin, 60 px tall
    x, y = 640 - 13 - 80, 13 + 30
    bg, full, blended = (pixel(renders[o], 1.0, x, y) for o in (0, 1, 0.85))
    assert max(abs(a - b) for a, b in zip(full, bg)) > 60  # the logo differs from the picture under it
    expected = [0.85 * f + 0.15 * b for f, b in zip(full, bg)]
    assert all(abs(e - g) <= 8 for e, g in zip(expected, blended)), (bg, full, blended)


def test_render_refuses_what_is_not_a_composed_stream(lib, tmp_path):
    proc = vstream("render", str(tmp_path), "--out", str(tmp_path / "x.mp4"))
    assert proc.returncode == 3 and "not a composed stream" in proc.stderr and "Traceback" not in proc.stderr


def test_render_writes_only_what_it_says(lib, tmp_path):
    master = vstream_json("compose", str(RECIPES / "demo.yaml"), "-L", str(lib))["master"]
    proc = vstream("render", master, "--out", str(tmp_path / "x.avi"))
    assert proc.returncode == 2 and "render writes an MP4 file" in proc.stderr
    assert not (tmp_path / "x.avi").exists()


def test_render_takes_a_search_reel(lib, tmp_path):
    reel = tmp_path / "reels" / "cats.m3u8"
    vstream("search", "a cat", "-L", str(lib), "--limit", "2", "--playlist", str(reel), check=True)
    result = vstream_json("render", str(reel), "--out", str(tmp_path / "cats.mp4"))
    assert result["clips"] >= 1
    assert played_duration(Path(result["output"])) == pytest.approx(result["duration"], abs=0.1)
