"""The command line as users and scripts see it: exit codes, one-line errors, JSON, tags, remove."""

from __future__ import annotations

import json
from pathlib import Path


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


def test_remove_deletes_segments_and_rows(samples, tmp_path):
    lib = tmp_path / "lib"
    vstream("ingest", "-L", str(lib), str(sample_path(samples, "ad")), check=True)
    media = Path(vstream_json("info", "ad", "-L", str(lib))["media_dir"])
    assert media.is_dir()
    assert vstream_json("remove", "ad", "-L", str(lib)) == {"removed": ["ad"]}
    assert not media.exists()
    assert vstream_json("list", "-L", str(lib))["videos"] == []
    assert vstream("remove", "ad", "-L", str(lib)).returncode == 3


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
    assert again["indexed"] == 0 and again["skipped"] == 3


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
    proc = vstream("doctor", "-L", str(tmp_path / "none"))
    assert "model: whisper" in proc.stdout and "licence: MIT" in proc.stdout
