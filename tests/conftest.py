"""Shared fixtures. The network is blocked (loopback only) so an accidental download fails."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # sample_media and tests.support are importable

pytest_plugins = ["tests.support.fixtures"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _allowed(sock: socket.socket, address) -> bool:
    if sock.family == socket.AF_UNIX:
        return True
    host = address[0] if isinstance(address, tuple) else address
    return host in ("127.0.0.1", "::1", "localhost") or str(host).startswith("127.")


def _guarded_connect(self, address):
    if not _allowed(self, address):
        raise ConnectionRefusedError(f"tests run offline: connection to {address!r} blocked")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _allowed(self, address):
        raise ConnectionRefusedError(f"tests run offline: connection to {address!r} blocked")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def vstream(*args: str, check: bool = False, env: dict | None = None, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, the way users and cron jobs do."""
    full_env = os.environ | {"COLUMNS": "200"} | (env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "vstream", *args], capture_output=True, text=True, env=full_env, timeout=timeout, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vstream {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def vstream_json(*args: str, **kw) -> dict:
    proc = vstream(*args, "--json", **kw)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc


@pytest.fixture(scope="session")
def samples(tmp_path_factory) -> dict:
    """The sample media set (sample_media/build.py), built once per session.

    Set VSTREAM_TEST_SAMPLES=DIR to reuse a build across runs while developing.
    """
    from sample_media.build import build

    out = Path(os.environ.get("VSTREAM_TEST_SAMPLES") or tmp_path_factory.mktemp("samples") / "out")
    manifest = build(out)
    manifest["root"] = out
    return manifest


def sample_path(samples: dict, name: str) -> Path:
    return samples["root"] / samples["videos"][name]["file"]


def ingest_samples(lib: Path | str, samples: dict, *args: str, legacy: bool = True, env: dict | None = None) -> None:
    """Ingest the stream-copyable samples (with ``args``), then, with ``legacy``, the one that needs --transcode."""
    for transcoded in (False, True) if legacy else (False,):
        paths = [str(sample_path(samples, n)) for n, v in samples["videos"].items() if v["needs_transcode"] == transcoded]
        vstream("ingest", "-L", str(lib), *args, *(["--transcode"] if transcoded else []), *paths, env=env, check=True)


@pytest.fixture(scope="session")
def library(tmp_path_factory, samples) -> Path:
    """A library with every sample ingested (fMP4, legacy.avi transcoded). Read-only for tests."""
    lib = tmp_path_factory.mktemp("lib") / "library"
    ingest_samples(lib, samples)
    return lib


@pytest.fixture(scope="session")
def ffprobe() -> str:
    path = shutil.which("ffprobe")
    if not path:
        pytest.fail("ffprobe is required for the tests (make setup installs Debian's ffmpeg)")
    return path


SERIES = {"talk": 1, "match": 2, "silent": 3}  # previously_on.yaml selects episodes by these tags


def tag_series(lib: Path) -> None:
    for video, episode in SERIES.items():
        vstream("tag", video, "series=demo", f"episode={episode}", "-L", str(lib), check=True)


@pytest.fixture(scope="session")
def ts_library(tmp_path_factory, samples) -> Path:
    """The samples ingested as MPEG-TS and indexed: what ffmpeg-based players play best."""
    lib = tmp_path_factory.mktemp("ts") / "library"
    ingest_samples(lib, samples, "--format", "ts", legacy=False)
    vstream("index", "-L", str(lib), check=True, timeout=900)
    tag_series(lib)
    return lib


@pytest.fixture(scope="session")
def indexed_library(tmp_path_factory, library) -> Path:
    """A copy of the sample library, indexed with the default offline models. Read-only for tests."""
    return indexed_copy(library, tmp_path_factory.mktemp("indexed") / "library")


def indexed_copy(source: Path, lib: Path) -> Path:
    """A copy of the library ``source`` at ``lib``, indexed in-process with the default models."""
    shutil.copytree(source, lib)
    vstream("index", "-L", str(lib), check=True, timeout=900)
    return lib
