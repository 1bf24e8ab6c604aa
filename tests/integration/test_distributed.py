"""`vstream index --ray`: the same rows as an in-process run, on a local cluster, a started cluster, and past a dead worker."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import sample_path, vstream, vstream_json
from tests.e2e.test_serve import free_port

pytest.importorskip("ray", reason="pip install 'vstream[ray]'")
pytestmark = pytest.mark.slow
RAY = Path(sys.executable).with_name("ray")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, samples) -> Path:
    lib = tmp_path_factory.mktemp("ray") / "lib"
    names = ["talk", "match", "silent", "ad"]
    vstream("ingest", "-L", str(lib), *[str(sample_path(samples, n)) for n in names], check=True)
    return lib


@pytest.fixture(scope="module")
def in_process(ingested, tmp_path_factory) -> Path:
    lib = tmp_path_factory.mktemp("local") / "lib"
    shutil.copytree(ingested, lib)
    vstream("index", "-L", str(lib), check=True, timeout=900)
    return lib


def rows(lib: Path) -> dict[str, list]:
    import lance

    root = lib / "index" / "lancedb"
    scenes = lance.dataset(str(root / "scenes.lance")).to_table(columns=["video_id", "start", "end", "description", "ocr_text"])
    speech = lance.dataset(str(root / "speech.lance")).to_table(columns=["video_id", "start", "end", "text"])
    loud = lance.dataset(str(root / "loudness.lance")).to_table(columns=["video_id", "lufs"])
    out = {"scenes": scenes.to_pylist(), "speech": speech.to_pylist(), "loudness": loud.to_pylist()}
    for name in ("scenes", "speech"):
        out[name] = sorted(out[name], key=lambda r: (r["video_id"], r["start"]))
        for r in out[name]:
            r["start"], r["end"] = round(r["start"], 3), round(r["end"], 3)
    out["loudness"] = sorted(out["loudness"], key=lambda r: r["video_id"])
    return out


def copy(ingested: Path, tmp_path: Path) -> Path:
    lib = tmp_path / "lib"
    shutil.copytree(ingested, lib)
    return lib


def test_ray_local_cluster_indexes_the_same_rows_as_in_process(ingested, in_process, tmp_path):
    lib = copy(ingested, tmp_path)
    result = vstream_json("index", "-L", str(lib), "--ray", "local", "--ray-workers", "2", timeout=900)
    assert result["indexed"] == 12 and result["failed"] == 0
    assert rows(lib) == rows(in_process)
    assert vstream_json("index", "-L", str(lib), "--ray", "local")["indexed"] == 0  # finished work is skipped
    top = [[(m["video_id"], m["start"], m["end"]) for m in vstream_json("search", "a cat", "-L", str(x))["moments"][:3]]
           for x in (lib, in_process)]  # fmt: skip
    assert top[0] == top[1]


def test_a_worker_killed_mid_job_is_retried_and_loses_or_duplicates_nothing(ingested, in_process, tmp_path):
    lib = copy(ingested, tmp_path)
    marker = tmp_path / "crashed"
    result = vstream_json("index", "-L", str(lib), "--ray", "local", "--ray-workers", "2", timeout=900,
                          env={"VSTREAM_FAULT_KILL_WORKER_ONCE": str(marker)})  # fmt: skip
    assert marker.exists()  # a worker really died mid-job
    assert result["indexed"] == 12 and result["failed"] == 0
    assert rows(lib) == rows(in_process)


def test_a_started_cluster_with_a_worker_node(ingested, in_process, tmp_path):
    lib = copy(ingested, tmp_path)
    port = free_port()
    env = os.environ | {"RAY_AUTH_MODE": "disabled"}
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    head = [str(RAY), "start", "--head", "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false", *common]
    subprocess.run(head, check=True, env=env, capture_output=True, timeout=120)
    try:
        subprocess.run([str(RAY), "start", "--address", f"127.0.0.1:{port}", "--num-cpus", "1", *common],
                       check=True, env=env, capture_output=True, timeout=120)  # fmt: skip  (a second node process)
        result = vstream_json("index", "-L", str(lib), "--ray", f"127.0.0.1:{port}", timeout=900, env=env)
        assert result["indexed"] == 12 and result["failed"] == 0
        assert rows(lib) == rows(in_process)
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_no_cluster_at_an_address_is_a_clear_error(ingested, tmp_path):
    lib = copy(ingested, tmp_path)
    proc = vstream("index", "-L", str(lib), "--ray", f"127.0.0.1:{free_port()}", timeout=300)
    assert proc.returncode == 2 and "no Ray cluster there" in proc.stderr and "Traceback" not in proc.stderr
