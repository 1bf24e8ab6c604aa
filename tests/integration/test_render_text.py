"""Text on screen and subtitle languages in `vstream render`: real ffmpeg, the pixels read back by OCR."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import vstream, vstream_json
from vstream.compose.render import filter_value

np = pytest.importorskip("numpy")

SCOREBOARD = """version: 1
name: NAME
vars:
  home: HOME
  away: AWAY
  score: "0 - 0"
clips:
  - video: talk
    start: 8
    duration: 4
text:
  - text: "{{home}} {{score}} {{away}}"
    position: top-left
    style: {size: 0.08, color: "#ffffff", background: "#000000cc"}
  - text: "MATCH OF THE DAY"
    position: bottom
    start: 1
    end: 3
    style: {size: 0.08, font: serif}
"""
W, H = 640, 360  # the talk sample


@pytest.fixture
def lib(library, tmp_path) -> Path:
    copy = tmp_path / "lib"
    shutil.copytree(library, copy)
    return copy


@pytest.fixture(scope="module")
def ocr():
    if importlib.util.find_spec("rapidocr") is None or importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("pip install rapidocr onnxruntime")
    from vstream.index.ocr import load_ocr

    return load_ocr()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace("NAME", name), encoding="utf-8")
    return path


def frame(video: Path, at: float):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-ss", f"{at}", "-i", str(video), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout  # fmt: skip
    return np.frombuffer(raw, np.uint8).reshape(H, W, 3).astype(int)


def read(ocr, image) -> str:
    from vstream.index.ocr import frame_text

    return frame_text(ocr.read(image.astype(np.uint8)), min_score=0.5)


def session(master: Path) -> dict:
    found = re.findall(r'DATA-ID="([^"]+)",URI="data:application/json;base64,([^"]+)"', master.read_text())
    return {k: json.loads(base64.b64decode(v)) for k, v in found}


def test_text_reaches_ffmpeg_verbatim_through_both_filter_graph_parsers():
    for text in ["Ángel 2:1 Zoë", "it's 100% \\ done, [really]; ok", "%{pts} 'a' \\' \\\\ ''", "=x=y", "日本語"]:
        graph = f"[0:v]metadata=mode=add:key=k:value={filter_value(text)},metadata=mode=print[v]"
        proc = subprocess.run(["ffmpeg", "-hide_banner", "-v", "info", "-f", "lavfi", "-i", "color=s=16x16:d=0.04",
                               "-filter_complex", graph, "-map", "[v]", "-f", "null", "-"],
                              capture_output=True, text=True)  # fmt: skip
        printed = [line.split("k=", 1)[1] for line in proc.stderr.splitlines() if "k=" in line]
        assert proc.returncode == 0 and printed[:1] == [text], (text, proc.stderr[-500:])


def test_a_scoreboard_and_a_title_are_in_the_manifest_and_burned_into_the_render(lib, tmp_path, ocr):
    recipe = write(tmp_path, "score", SCOREBOARD)
    stream = vstream_json("compose", str(recipe), "-L", str(lib), "--set", "home=Ángel", "--set", "away=Zoë",
                          "--set", "score=2 - 1")  # fmt: skip
    texts = session(Path(stream["master"]))["dev.vstream.text"]
    assert texts == [
        {"text": "Ángel 2 - 1 Zoë", "position": "top-left", "size": 0.08, "color": "#ffffffff",
         "background": "#000000cc", "font": "sans"},
        {"text": "MATCH OF THE DAY", "position": "bottom", "size": 0.08, "color": "#ffffffff",
         "background": "#00000099", "font": "serif", "start": 1.0, "end": 3.0},
    ]  # fmt: skip
    plain = write(tmp_path, "plain", SCOREBOARD.split("text:")[0])
    bare = vstream_json("compose", str(plain), "-L", str(lib))
    with_text = vstream_json("render", stream["master"], "--out", str(tmp_path / "text.mp4"), timeout=600)
    vstream_json("render", bare["master"], "--out", str(tmp_path / "plain.mp4"), timeout=600)
    assert not with_text["warnings"]
    top = (slice(0, 60), slice(0, 320))  # the scoreboard's box: 13 px margin, 29 px text, 9 px padding
    bottom = (slice(290, 360), slice(120, 520))
    middle = (slice(120, 240), slice(200, 440))
    at2, plain2 = frame(tmp_path / "text.mp4", 2.0), frame(tmp_path / "plain.mp4", 2.0)
    at_half, plain_half = frame(tmp_path / "text.mp4", 0.5), frame(tmp_path / "plain.mp4", 0.5)

    def diff(a, b, region):
        return float(np.abs(a[region] - b[region]).mean())

    assert diff(at2, plain2, top) > 20 and diff(at2, plain2, bottom) > 20  # both drawn at 2 s
    assert diff(at2, plain2, middle) < 3  # and nothing else changed
    assert diff(at_half, plain_half, top) > 20 and diff(at_half, plain_half, bottom) < 3  # the title starts at 1 s
    scoreboard = read(ocr, at2[:120, :])  # (OCR drops a "line" over half the height of what it reads)
    assert re.search(r"ngel 2\s*-\s*1 Zo", scoreboard), scoreboard  # (the accents read too: Ángel 2 - 1 Zoë)
    assert "MATCH OF THE DAY" in read(ocr, at2[240:, :]).upper()


def test_a_text_too_long_or_too_many_texts_is_a_one_line_error(lib, tmp_path):
    recipe = write(tmp_path, "score", SCOREBOARD)
    proc = vstream("compose", str(recipe), "-L", str(lib), "--set", "home=" + "x" * 250)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "score.yaml:12: text[0]: text 'xxx" in proc.stderr and "at most 200" in proc.stderr
    many = write(tmp_path, "many", SCOREBOARD.split("text:")[0] + "text:\n" + "  - text: hi\n" * 17)
    proc = vstream("compose", str(many), "-L", str(lib))
    assert proc.returncode == 2 and "many.yaml:11: text: 17 items: at most 16" in proc.stderr, proc.stderr
    assert not (lib / "streams").exists()


def test_render_lang_burns_the_chosen_subtitles_and_refuses_one_the_stream_lacks(lib, tmp_path, ocr):
    for lang, words in (("es", "El presupuesto"), ("de", "Der Haushalt")):
        srt = tmp_path / f"talk.{lang}.srt"
        srt.write_text(f"1\n00:00:08,500 --> 00:00:11,500\n{words}\n")
        vstream_json("subtitles", "add", "talk", str(srt), "--lang", lang, "-L", str(lib))
    recipe = write(tmp_path, "langs", "version: 1\nname: NAME\nclips:\n  - video: talk\n    start: 8\n    duration: 4\n"
                                      "captions:\n  source: auto\n  languages: [es, de]\n  default: de\n")  # fmt: skip
    master = vstream_json("compose", str(recipe), "-L", str(lib))["master"]
    seen = {}
    for lang in (None, "es", "DE", "off"):
        out = tmp_path / f"{lang}.mp4"
        vstream_json("render", master, "--out", str(out), *(["--lang", lang] if lang else []), timeout=600)
        seen[lang] = read(ocr, frame(out, 2.0)[240:, :])
    assert "Haushalt" in seen[None] and "presupuesto" not in seen[None]  # the default rendition
    assert "presupuesto" in seen["es"] and "Haushalt" not in seen["es"], seen
    assert "Haushalt" in seen["DE"] and seen["off"] == "", seen
    proc = vstream("render", master, "--out", str(tmp_path / "x.mp4"), "--lang", "fr")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--lang fr: the stream has no fr subtitles (its languages: de, es)" in proc.stderr
    as_json = vstream("render", master, "--out", str(tmp_path / "x.mp4"), "--lang", "fr", "--json")
    assert json.loads(as_json.stdout)["exit_code"] == 2 and not (tmp_path / "x.mp4").exists()
