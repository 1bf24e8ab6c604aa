"""The library directory: creation, layout versions, the writer lock, stale work."""

import fcntl
import json
import os
import subprocess
import sys
import time

import pytest

from vstream.errors import LayoutError, LibraryBusy, NotFound, UsageError
from vstream.library import Library, resolve_path


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.delenv("VSTREAM_LIBRARY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_path(None) == tmp_path / "vstream-library"
    monkeypatch.setenv("VSTREAM_LIBRARY", str(tmp_path / "env"))
    assert resolve_path(None) == tmp_path / "env"
    assert resolve_path(str(tmp_path / "opt")) == tmp_path / "opt"


def test_open_missing_library_says_how_to_create(tmp_path):
    with pytest.raises(NotFound, match="vstream init"):
        Library.open(tmp_path / "nope")


def test_create_writes_versioned_layout_and_refuses_foreign_directories(tmp_path):
    lib = Library.open(tmp_path / "lib", create=True)
    marker = json.loads((tmp_path / "lib" / "library.json").read_text())
    assert marker["layout"] == 1 and marker["format"] == "vstream-library"
    assert lib.videos() == []
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.tex").write_text("precious")
    with pytest.raises(UsageError, match="not empty"):
        Library.open(tmp_path / "docs", create=True)
    assert (tmp_path / "docs" / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("layout, needle", [(99, "upgrade vstream"), (0, "into a new library")])
def test_other_layouts_get_a_clear_message(tmp_path, layout, needle):
    Library.open(tmp_path / "lib", create=True)
    (tmp_path / "lib" / "library.json").write_text(json.dumps({"format": "vstream-library", "layout": layout}))
    with pytest.raises(LayoutError, match=needle):
        Library.open(tmp_path / "lib")


def test_damaged_marker_is_reported_not_guessed(tmp_path):
    Library.open(tmp_path / "lib", create=True)
    (tmp_path / "lib" / "library.json").write_text("{not json")
    with pytest.raises(LayoutError, match="damaged"):
        Library.open(tmp_path / "lib")


def test_second_writer_fails_with_library_busy_after_wait(tmp_path):
    lib = Library.open(tmp_path / "lib", create=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; sys.path.insert(0, sys.argv[1]);"
         "from vstream.library import Library; lib = Library.open(sys.argv[2]);"
         "cm = lib.writing(); cm.__enter__(); print('locked', flush=True); time.sleep(30)",
         str(os.getcwd()), str(lib.root)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        waited = []
        started = time.monotonic()
        with pytest.raises(LibraryBusy, match=f"locked by pid {holder.pid}"):
            with lib.writing(wait=0.5, on_wait=waited.append):
                pass
        assert time.monotonic() - started >= 0.5
        assert waited and "waiting for the library lock" in waited[0]
        # readers are not blocked by the writer
        assert lib.videos() == []
    finally:
        holder.kill()
        holder.wait()
    with lib.writing(wait=5):  # the lock died with its holder
        pass


def test_stale_stages_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    lib = Library.open(tmp_path / "lib", create=True)
    dead = lib.root / "media" / ".stage-dead"
    dead.mkdir()
    (dead / ".owner").write_text("")
    (dead / "media.m4s").write_bytes(b"partial")
    orphan = lib.root / "media" / "orphan-1234"
    orphan.mkdir()
    with lib.stage() as live:
        with lib.writing(wait=1):
            pass
        assert live.exists()
    assert not dead.exists() and not orphan.exists()


def test_unique_ids(tmp_path):
    lib = Library.open(tmp_path / "lib", create=True)
    with lib.writing():
        lib.db.execute(
            "INSERT INTO videos VALUES ('talk','h1','/a',1,0,'media/x','fmp4',1.0,'t','{}')"
        )
    assert lib.unique_id("talk") == "talk-2"
    assert lib.unique_id("talk", content_hash="h1") == "talk"
    assert lib.unique_id("other") == "other"
    # flock is advisory and per open file: the lock file exists but nobody holds it
    fd = os.open(lib.root / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(fd)


def test_many_processes_creating_one_library_at_once_all_succeed(tmp_path):
    """Two cron jobs whose first run creates the library: neither may call the other's files foreign."""
    root = tmp_path / "lib"
    code = "import sys; sys.path.insert(0, sys.argv[1]); from vstream.library import Library; Library.open(sys.argv[2], create=True)"
    procs = [subprocess.Popen([sys.executable, "-c", code, os.getcwd(), str(root)], stderr=subprocess.PIPE, text=True)
             for _ in range(6)]  # fmt: skip
    errors = [p.communicate()[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    assert Library.open(root).videos() == []
