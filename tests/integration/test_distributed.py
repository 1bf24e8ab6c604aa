"""`vstream index --ray`: the same rows as an in-process run, on a local cluster, a started cluster, and past a dead worker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import indexed_copy, ingest_samples, vstream, vstream_json
from tests.e2e.test_serve import free_port

pytest.importorskip("ray", reason="pip install 'vstream[ray]'")
pytestmark = pytest.mark.slow
RAY = Path(sys.executable).with_name("ray")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, samples) -> Path:
    lib = tmp_path_factory.mktemp("ray") / "lib"
    ingest_samples(lib, samples, legacy=False)  # the four stream-copyable samples: 12 (video, stage) jobs
    return lib


@pytest.fixture(scope="module")
def in_process(ingested, tmp_path_factory) -> Path:
    return indexed_copy(ingested, tmp_path_factory.mktemp("local") / "lib")


def rows(lib: Path | str, storage_options: dict | None = None) -> dict[str, list]:
    import lance

    root = f"{lib}/index/lancedb"

    def table(name: str, columns: list[str]):
        return lance.dataset(f"{root}/{name}.lance", storage_options=storage_options).to_table(columns=columns)

    scenes = table("scenes", ["video_id", "start", "end", "description", "ocr_text"])
    speech = table("speech", ["video_id", "start", "end", "text"])
    loud = table("loudness", ["video_id", "lufs"])
    faces = table("faces", ["video_id", "start", "end", "scene"])
    out = {"scenes": scenes.to_pylist(), "speech": speech.to_pylist(), "loudness": loud.to_pylist(),
           "faces": faces.to_pylist()}  # fmt: skip
    for name in ("scenes", "speech", "faces"):
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
    assert result["indexed"] == 16 and result["failed"] == 0
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
    assert result["indexed"] == 16 and result["failed"] == 0
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
        assert result["indexed"] == 16 and result["failed"] == 0
        assert rows(lib) == rows(in_process)
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True, timeout=120)


def test_a_cluster_whose_nodes_have_their_own_mirror_of_an_s3_library(samples, in_process, tmp_path):
    """Driver and worker nodes share nothing but the bucket: rows, thumbnails and transcripts all arrive there."""
    from tests.integration.test_s3 import BUCKET, S3

    s3 = S3(tmp_path / "s3")
    try:
        url = f"s3://{BUCKET}/ray"
        driver = s3.machine("driver") | {"RAY_AUTH_MODE": "disabled"}
        nodes = os.environ | s3.machine("nodes") | {"RAY_AUTH_MODE": "disabled"}  # another cache: another disk
        names = ["talk", "match", "silent", "ad"]
        ingest_samples(url, samples, legacy=False, env=driver)
        port = free_port()
        common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--num-cpus", "1"]
        subprocess.run([str(RAY), "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                       check=True, env=nodes, capture_output=True, timeout=120)  # fmt: skip
        try:
            subprocess.run([str(RAY), "start", "--address", f"127.0.0.1:{port}", *common],
                           check=True, env=nodes, capture_output=True, timeout=120)  # fmt: skip
            result = vstream_json("index", "-L", url, "--ray", f"127.0.0.1:{port}", timeout=900, env=driver)
        finally:
            subprocess.run([str(RAY), "stop", "--force"], env=nodes, capture_output=True, timeout=120)
        assert result["indexed"] == 16 and result["failed"] == 0
        options = {"aws_endpoint": s3.endpoint, "allow_http": "true", "aws_access_key_id": "test",
                   "aws_secret_access_key": "test", "aws_region": "us-east-1"}  # fmt: skip
        assert rows(url, options) == rows(in_process)
        keys = set(s3.keys("ray/"))
        local_thumbs = {p.relative_to(in_process).as_posix() for p in (in_process / "index" / "thumbs").rglob("*.jpg")}
        assert {re.sub(r"-[0-9a-f]{8}-", "-", k) for k in keys if k.startswith("ray/index/thumbs/")} == {
            "ray/" + re.sub(r"-[0-9a-f]{8}-", "-", t) for t in local_thumbs}  # fmt: skip
        assert {f"ray/index/transcripts/{n}.vtt" for n in names} <= keys
        other = vstream_json("search", "the budget discussion", "-L", url, env=s3.machine("reader"))
        assert other["moments"][0]["video_id"] == "talk"
    finally:
        s3.proc.terminate()
        s3.proc.wait(timeout=10)


def test_no_cluster_at_an_address_is_a_clear_error(ingested, tmp_path):
    lib = copy(ingested, tmp_path)
    proc = vstream("index", "-L", str(lib), "--ray", f"127.0.0.1:{free_port()}", timeout=300)
    assert proc.returncode == 2 and "no Ray cluster there" in proc.stderr and "Traceback" not in proc.stderr
