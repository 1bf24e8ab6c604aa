"""`vstream subtitles`: files people have, stored per video and language; bad files lose nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import vstream, vstream_json


@pytest.fixture
def lib(library, tmp_path) -> Path:
    copy = tmp_path / "lib"
    shutil.copytree(library, copy)
    return copy


def test_a_windows_srt_is_stored_as_webvtt_ffmpeg_reads(lib, tmp_path):
    srt = tmp_path / "talk.es.srt"
    srt.write_bytes("1\r\n00:00:01,000 --> 00:00:03,000\r\n¿Qué tal? <font color=red>Adiós</font>\r\n".encode("cp1252"))
    added = vstream_json("subtitles", "add", "talk", str(srt), "--lang", "es", "-L", str(lib))
    assert added["cues"] == 1 and added["language"] == "es"
    stored = lib / "subtitles" / "talk" / "es.vtt"
    assert stored.read_text(encoding="utf-8") == "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n¿Qué tal? Adiós\n\n"
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", str(stored)],
                           capture_output=True, text=True)  # fmt: skip
    assert probe.stdout.strip() == "webvtt" and not probe.stderr
    listed = vstream_json("subtitles", "list", "talk", "-L", str(lib))["subtitles"]
    assert [(s["language"], s["cues"], s["source"], s["stale"]) for s in listed] == [("es", 1, "talk.es.srt", False)]
    again = vstream("subtitles", "add", "talk", str(srt), "--lang", "es", "-L", str(lib))
    assert again.returncode == 2 and "--replace" in again.stderr
    vstream_json("subtitles", "add", "talk", str(srt), "--lang", "es", "--replace", "-L", str(lib))
    vstream_json("subtitles", "remove", "talk", "--lang", "es", "-L", str(lib))
    assert vstream_json("subtitles", "list", "talk", "-L", str(lib))["subtitles"] == []


@pytest.mark.parametrize("content, args, code, needle", [
    (b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", ["--lang", "klingon"], 2, "unknown language code"),
    (bytes(range(256)) * 40, ["--lang", "en"], 4, "binary"),
    (b"1\n00:00:01,000 --> 00:00:03,000\na\n\n2\n00:00:02,000 --> 00:00:04,000\nb\n", ["--lang", "en"], 4, "overlap"),
    (b"1\n00:10:00,000 --> 00:10:02,000\nlate\n", ["--lang", "en"], 4, "past the end of talk"),
    (b"1\n00:00:01,000 --> 00:00:02,000\nhi\n", ["--lang", "en", "--encoding", "klingon-8"], 2, "unknown encoding"),
])  # fmt: skip
def test_bad_files_are_one_line_with_their_exit_code_and_nothing_is_stored(lib, tmp_path, content, args, code, needle):
    bad = tmp_path / "bad.srt"
    bad.write_bytes(content)
    proc = vstream("subtitles", "add", "talk", str(bad), *args, "-L", str(lib))
    assert proc.returncode == code and needle in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not (lib / "subtitles").exists()
    as_json = vstream("subtitles", "add", "talk", str(bad), *args, "-L", str(lib), "--json")
    assert json.loads(as_json.stdout)["exit_code"] == code


def test_subtitles_follow_a_renamed_video_and_go_with_a_removed_one(lib, tmp_path):
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nHola\n")
    vstream_json("subtitles", "add", "talk", str(srt), "--lang", "es", "-L", str(lib))
    vstream_json("rename", "talk", "keynote", "-L", str(lib))
    assert [s["language"] for s in vstream_json("subtitles", "list", "keynote", "-L", str(lib))["subtitles"]] == ["es"]
    vstream_json("remove", "keynote", "-L", str(lib))
    assert not (lib / "subtitles" / "keynote").exists() and not (lib / "subtitles" / "talk").exists()
