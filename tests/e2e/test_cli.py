"""The command line as users and scripts see it: exit codes, one-line errors, JSON, tags, remove."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import sample_path, vstream, vstream_json


def test_help_lists_the_commands_and_exit_codes():
    proc = vstream("--help", check=True)
    for command in ("ingest", "list", "info", "tag", "remove", "init", "doctor"):
        assert command in proc.stdout
    assert "2 usage error" in proc.stdout


def test_version():
    assert vstream("--version", check=True).stdout.startswith("vstream ")


def test_usage_errors_exit_2_without_traceback(tmp_path):
    for args in (["ingest"], ["ingest", "--format", "avi", "x.mp4", "-L", str(tmp_path / "l")], ["list", "--bogus"]):
        proc = vstream(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_reading_a_missing_library_exits_3_with_the_fix(tmp_path):
    proc = vstream("list", "-L", str(tmp_path / "none"))
    assert proc.returncode == 3
    assert proc.stderr.strip().count("\n") == 0 and "vstream init" in proc.stderr


def test_library_from_environment_variable(samples, tmp_path):
    lib = tmp_path / "envlib"
    env = {"VSTREAM_LIBRARY": str(lib)}
    vstream("ingest", str(sample_path(samples, "ad")), env=env, check=True)
    assert [v["id"] for v in vstream_json("list", env=env)["videos"]] == ["ad"]


def test_tags_set_remove_and_filter(samples, tmp_path):
    lib = str(tmp_path / "lib")
    vstream("ingest", "-L", lib, "-t", "series=lost", "-t", "episode=1", str(sample_path(samples, "ad")), check=True)
    vstream("ingest", "-L", lib, "-t", "series=lost", str(sample_path(samples, "silent")), check=True)
    assert vstream_json("tag", "ad", "season=1", "episode=3", "-L", lib)["tags"] == {
        "episode": "3", "season": "1", "series": "lost"
    }  # fmt: skip
    assert vstream_json("tag", "ad", "--remove", "season", "-L", lib)["tags"] == {"episode": "3", "series": "lost"}
    by_tag = lambda *t: sorted(v["id"] for v in vstream_json("list", "-L", lib, *t)["videos"])  # noqa: E731
    assert by_tag("--tag", "series=lost") == ["ad", "silent"]
    assert by_tag("--tag", "series=lost", "--tag", "episode=3") == ["ad"]
    assert by_tag("--tag", "series=other") == []
    missing = vstream("tag", "nope", "a=b", "-L", lib)
    assert missing.returncode == 3 and "no video 'nope'" in missing.stderr


def test_remove_drops_the_rows_and_gc_the_segments(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), check=True)
    media = Path(vstream_json("info", "ad", "-L", str(lib))["media_dir"])
    assert media.is_dir()
    assert vstream_json("remove", "ad", "-L", str(lib)) == {"removed": ["ad"]}
    assert vstream_json("list", "-L", str(lib))["videos"] == []
    assert vstream("remove", "ad", "-L", str(lib)).returncode == 3
    assert media.is_dir()  # within the grace period: a player may be mid-way through it
    assert vstream_json("gc", "-L", str(lib))["deleted"] == 0 and media.is_dir()
    swept = vstream_json("gc", "-L", str(lib), "--grace", "0")
    assert swept["deleted"] == 1 and swept["bytes"] > 0 and not media.exists()


def test_published_streams_outlive_re_ingest_and_remove(samples, tmp_path):
    from tests.media_checks import played_duration

    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "talk")), str(sample_path(samples, "ad")), check=True)
    recipe = tmp_path / "r.yaml"
    recipe.write_text("version: 1\nname: both\nclips:\n  - video: talk\n    start: 0\n    duration: 8\n  - video: ad\n")
    stream = Path(vstream_json("compose", str(recipe), "-L", str(lib))["master"]).parent / "video.m3u8"
    expected = played_duration(stream)
    vstream("ingest", "-L", str(lib), "--force", str(sample_path(samples, "talk")), check=True)
    vstream("remove", "ad", "-L", str(lib), check=True)
    assert played_duration(stream) == pytest.approx(expected, abs=0.01)  # the old stream still plays whole
    kept = vstream_json("gc", "-L", str(lib), "--grace", "0")
    assert kept["deleted"] == 0 and all("streams/both/guest/video.m3u8" in f["reason"] for f in kept["folders"])
    assert vstream_json("doctor", "-L", str(lib))["ok"] is True
    shutil.rmtree(lib / "streams")  # nothing plays the old media any more
    assert vstream_json("gc", "-L", str(lib), "--grace", "0")["deleted"] == 2


def test_doctor_reports_playlists_whose_media_is_gone(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), check=True)
    reel = lib / "reels" / "ad.m3u8"
    media = Path(vstream_json("info", "ad", "-L", str(lib))["playlist"])
    reel.parent.mkdir()  # a reel as `search --playlist` writes one: relative paths into media/
    reel.write_text(media.read_text().replace("media.m4s", f"../{media.parent.relative_to(lib).as_posix()}/media.m4s"))
    assert vstream_json("doctor", "-L", str(lib))["ok"] is True
    shutil.rmtree(media.parent)  # what vstream before 0.2 did on remove, or a user's rm -r
    report = vstream_json("doctor", "-L", str(lib))
    problem = next(c for c in report["checks"] if c["name"] == "streams")
    assert report["ok"] is False and "reels/ad.m3u8" in problem["detail"] and "gone" in problem["detail"]


def test_info_suggests_close_ids(library):
    proc = vstream("info", "tlak", "-L", str(library))
    assert proc.returncode == 3 and "did you mean talk" in proc.stderr


def test_list_table_on_stdout(library):
    proc = vstream("list", "-L", str(library), check=True)
    assert "talk" in proc.stdout and "00:00:" in proc.stdout


def test_doctor_reports_ffmpeg_and_library(library):
    report = vstream_json("doctor", "-L", str(library))
    assert report["ok"] is True
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["ffmpeg"]["status"] == "ok" and "from PATH" in checks["ffmpeg"]["detail"]
    assert f"{len(vstream_json('list', '-L', str(library))['videos'])} videos" in checks["library"]["detail"]


def test_doctor_fails_with_a_fix_when_ffmpeg_is_missing(tmp_path):
    proc = vstream("doctor", "-L", str(tmp_path / "l"), env={"VSTREAM_FFMPEG": "/nonexistent/ffmpeg"})
    assert proc.returncode == 6
    assert "MISSING" in proc.stdout and "fix: install it with" in proc.stdout


def test_newer_library_layout_is_refused_not_damaged(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), check=True)
    marker = lib / "library.json"
    data = json.loads(marker.read_text())
    marker.write_text(json.dumps(data | {"layout": 7}))
    before = sorted(p.name for p in lib.rglob("*"))
    proc = vstream("ingest", "-L", str(lib), str(sample_path(samples, "silent")))
    assert proc.returncode == 5 and "upgrade vstream" in proc.stderr
    assert sorted(p.name for p in lib.rglob("*")) == before


def test_debug_env_shows_traceback(tmp_path):
    proc = vstream("list", "-L", str(tmp_path / "none"), env={"VSTREAM_DEBUG": "1"})
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_ingest_with_index_chains_both_for_cron(samples, tmp_path):
    lib = str(tmp_path / "lib")
    proc = vstream("ingest", "-L", lib, "--index", str(sample_path(samples, "ad")), timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "indexed  ad" in proc.stdout
    again = vstream_json("index", "-L", lib)
    assert again["indexed"] == 0 and again["skipped"] == 4


def test_doctor_lists_the_models_with_sizes_sources_and_licences(tmp_path):
    report = vstream_json("doctor", "-L", str(tmp_path / "none"))
    by_kind: dict[str, list[dict]] = {}
    for m in report["models"]:
        by_kind.setdefault(m["kind"], []).append(m)
    for kind in ("text", "whisper", "labels", "ocr"):
        files = by_kind[kind]
        assert all(f["found"] and Path(f["path"]).exists() and f["licence"] for f in files), files
        assert sum(f["size_bytes"] for f in files) > 5_000_000  # real weights, not stubs
    assert all("Apache-2.0" in f["licence"] and "UNKNOWN" in f["licence"] for f in by_kind["labels"])
    assert any("multilingual" in f["name"] for f in by_kind["whisper"])  # speech in any language
    assert any("e5" in f["name"] for f in by_kind["text"])  # cross-lingual search, when chosen
    translate = by_kind["translate"][0]
    assert translate["found"] and "en -> pt-BR" in translate["name"] and "MPL-2.0" in translate["licence"]
    assert Path(translate["path"]).is_dir() and translate["size_bytes"] > 30_000_000
    proc = vstream("doctor", "-L", str(tmp_path / "none"))
    assert "model: whisper" in proc.stdout and "licence: MIT" in proc.stdout


def test_errors_are_json_on_stdout_with_json(tmp_path):
    proc = vstream("list", "-L", str(tmp_path / "none"), "--json")
    assert proc.returncode == 3
    body = json.loads(proc.stdout)
    assert body["exit_code"] == 3 and "no vstream library" in body["error"] and "vstream init" in body["hint"]
    proc = vstream("search", "x", "--limit", "0", "-L", str(tmp_path / "none"), "--json")
    assert proc.returncode == 2 and json.loads(proc.stdout)["exit_code"] == 2


def test_missing_ffmpeg_stops_ingest_with_exit_6(samples, tmp_path):
    proc = vstream("ingest", "-L", str(tmp_path / "l"), str(sample_path(samples, "ad")), "--json",
                   env={"VSTREAM_FFMPEG": "/nonexistent/ffmpeg"})  # fmt: skip
    assert proc.returncode == 6 and "VSTREAM_FFMPEG" in json.loads(proc.stdout)["error"]


def test_a_full_disk_is_exit_7_and_leaves_the_library_as_it_was(samples, tmp_path):
    import subprocess

    disk = tmp_path / "small-disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    try:
        lib = disk / "lib"
        vstream("init", "-L", str(lib), check=True)
        proc = vstream("ingest", "-L", str(lib), str(sample_path(samples, "talk")), str(sample_path(samples, "ad")))
        assert proc.returncode == 7 and "no space left on device" in proc.stderr and "free space" in proc.stderr
        assert vstream_json("list", "-L", str(lib))["videos"] == [] and not any((lib / "media").iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_an_unreadable_layout_says_what_to_do(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("init", "-L", str(lib), check=True)
    marker = lib / "library.json"
    marker.write_text(json.dumps(json.loads(marker.read_text()) | {"layout": 0}))
    proc = vstream("list", "-L", str(lib))
    assert proc.returncode == 5 and "migrate" not in proc.stderr and "new library" in proc.stderr


def test_rename_is_the_one_way_an_id_changes(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), "--tag", "kind=ad", str(sample_path(samples, "ad")), check=True)
    vstream("index", "-L", str(lib), "--only", "speech", check=True, timeout=600)
    proc = vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), "--id", "cola", "--force")
    assert proc.returncode == 1 and "vstream rename ad cola" in proc.stderr
    assert vstream_json("rename", "ad", "cola", "-L", str(lib)) == {"old": "ad", "id": "cola"}
    info = vstream_json("info", "cola", "-L", str(lib))
    assert info["tags"] == {"kind": "ad"} and Path(info["playlist"]).is_file()  # same media, same tags
    assert vstream("info", "ad", "-L", str(lib)).returncode == 3
    assert vstream("transcript", "cola", "-L", str(lib)).returncode == 3  # indexed again under its new id
    vstream("index", "-L", str(lib), "--only", "speech", check=True, timeout=600)
    assert "cola" in vstream("transcript", "cola", "-L", str(lib), check=True).stdout.lower()
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "silent")), check=True)
    proc = vstream("rename", "cola", "silent", "-L", str(lib))
    assert proc.returncode == 2 and "already used" in proc.stderr


def test_commands_draw_their_progress_on_a_terminal(samples, tmp_path):
    """People run vstream in a terminal: stderr is a tty there, and the progress bar is drawn on it."""
    import os
    import pty
    import subprocess
    import sys
    import threading

    lib = tmp_path / "lib"
    leader, follower = pty.openpty()
    drawn = bytearray()

    def read() -> None:  # drain the terminal while the command runs (a full pty buffer would block it)
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command's end of the terminal is closed
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "vstream", "ingest", "-L", str(lib), str(sample_path(samples, "ad")),
                                 "--index"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
                                env=os.environ | {"COLUMNS": "100", "TERM": "xterm"})  # fmt: skip
        os.close(follower)
        proc.communicate(timeout=600)
        reader.join(timeout=10)
    finally:
        os.close(leader)
    assert proc.returncode == 0, drawn.decode(errors="replace")[-2000:]
    assert b"internal error" not in drawn and b"\x1b[" in drawn  # a drawn (ANSI) progress bar, no crash
    assert vstream_json("list", "-L", str(lib))["videos"][0]["id"] == "ad"
