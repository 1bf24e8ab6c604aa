"""A library on S3-compatible storage, against moto's standalone server.

moto (from PyPI) runs a real S3 HTTP API on loopback: signed requests, conditional puts
(If-None-Match / If-Match), ranges, bucket policies. vstream talks to it exactly as to AWS, R2
or MinIO, through the AWS_* environment. Each "machine" is a separate VSTREAM_CACHE mirror.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, ingest_samples, sample_path, vstream, vstream_json
from tests.e2e.test_serve import Server, free_port
from tests.media_checks import played_duration

BUCKET = "vstream-test"
QUERIES = ["the budget discussion", "dog", "goal"]
FORWARD = ("version: 1\nname: fwd\nclips:\n  - video: talk\n    start: 0\n    duration: 8\n"
           "  - video: talk\n    start: 16\n    duration: 8\n  - video: match\n    start: 4\n    duration: 8\n")  # fmt: skip


class S3:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError("moto's S3 server did not start")
                time.sleep(0.1)
        self.tmp = tmp
        self.env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
                    "AWS_ENDPOINT_URL": self.endpoint}  # fmt: skip
        self.client().create_bucket(Bucket=BUCKET)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test")  # fmt: skip

    def machine(self, name: str) -> dict:
        """The environment of one machine: its own mirror of every remote library."""
        return self.env | {"VSTREAM_CACHE": str(self.tmp / f"machine-{name}")}

    def keys(self, prefix: str) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]


class SlowLink:
    """A TCP relay to the S3 server that carries uploads at ``rate`` bytes a second: a slow uplink,
    so that a publish takes seconds and a test can kill the writer in the middle of it."""

    def __init__(self, port: int, rate: float):
        self.target, self.rate = port, rate
        self.server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(client, upstream, self.rate), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, rate: float | None) -> None:
        try:
            while data := src.recv(16384):
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        for end in (dst, src):
            try:
                end.shutdown(socket.SHUT_WR if end is dst else socket.SHUT_RD)
            except OSError:
                pass

    def close(self) -> None:
        self.server.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = S3(tmp_path_factory.mktemp("s3"))
    yield server
    server.proc.terminate()
    server.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def s3_library(s3, samples) -> str:
    """The sample library ingested (as the local fixture is) and indexed into s3://, on machine A."""
    url = f"s3://{BUCKET}/lib"
    env = s3.machine("a")
    ingest_samples(url, samples, env=env)
    vstream("index", "-L", url, env=env, check=True, timeout=900)
    return url


def tokenless(text: str) -> str:
    """Media folders carry a random token per ingest: media/talk-1a2b3c4d -> media/talk-*."""
    return re.sub(r"(media/[a-z0-9_-]+?)-[0-9a-f]{8}/", r"\1-*/", text)


def moments(lib: str, query: str, env: dict | None = None) -> list[tuple]:
    result = vstream_json("search", query, "-L", lib, env=env)
    return [(m["video_id"], m["start"], m["end"], round(m["score"], 4), m["text"]) for m in result["moments"]]


def test_everything_lives_in_the_bucket(s3, s3_library):
    keys = s3.keys("lib/")
    assert {"lib/library.json", "lib/catalog.sqlite"} <= set(keys)
    assert any(k.endswith("/media.m4s") for k in keys) and any(k.endswith("/index.m3u8") for k in keys)
    assert any(k.startswith("lib/index/lancedb/speech.lance/") for k in keys)  # LanceDB on S3 natively
    assert "lib/.lock" not in keys  # released


def test_the_bucket_catalog_stays_small_the_keyframe_tables_lie_beside_the_media(s3, s3_library, tmp_path):
    import sqlite3

    catalog = tmp_path / "catalog.sqlite"
    s3.client().download_file(BUCKET, "lib/catalog.sqlite", str(catalog))
    rows = sqlite3.connect(catalog).execute("SELECT media_dir, meta FROM videos").fetchall()
    keys = set(s3.keys("lib/media/"))
    for media_dir, meta in rows:
        meta = json.loads(meta)
        assert not {"keyframes", "gops", "segments"} & set(meta) and meta["segment_count"] > 0
        assert f"lib/{media_dir}/tables.json" in keys
    info = vstream_json("info", "talk", "-L", s3_library, env=s3.machine("tables"))  # read back from the bucket
    assert info["keyframes"][0] == 0.0 and len(info["segment_list"]) == info["segments"]


def test_search_and_compose_match_the_local_library(s3, s3_library, indexed_library, tmp_path):
    other = s3.machine("b")  # a machine that has never seen the library: everything comes from the bucket
    local = [(v["id"], v["duration"], v["segments"]) for v in vstream_json("list", "-L", str(indexed_library))["videos"]]
    remote = [(v["id"], v["duration"], v["segments"]) for v in vstream_json("list", "-L", s3_library, env=other)["videos"]]
    assert remote == local
    for query in QUERIES:
        assert moments(s3_library, query, other) == moments(str(indexed_library), query), query

    lib = tmp_path / "lib"
    shutil.copytree(indexed_library, lib)
    recipe = ROOT / "recipes" / "highlights.yaml"
    here = vstream_json("compose", str(recipe), "-L", str(lib), "--user", "u7", "--set", "player=player_42")
    there = vstream_json("compose", str(recipe), "-L", s3_library, "--user", "u7", "--set", "player=player_42", env=other)
    assert there["clips"] == here["clips"] and there["duration"] == here["duration"] and there["warnings"] == here["warnings"]
    local_playlist = (Path(here["master"]).parent / "video.m3u8").read_text()
    key = "lib/streams/highlights/u7/video.m3u8"
    remote_playlist = s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()  # published to the bucket
    assert tokenless(remote_playlist) == tokenless(local_playlist)


def test_a_composed_stream_plays_from_a_serve_replica_in_ffmpeg_and_hlsjs(s3, s3_library, tmp_path, hls_player):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "fwd.yaml").write_text(FORWARD)
    server = Server(s3_library, recipes, env=s3.machine("replica-1"))
    try:
        url = f"{server.base}/streams/fwd/master.m3u8?user=u1"
        # fMP4 without in-band parameter sets: ffmpeg plays one video's clips (see test_compose), hls.js all
        one_video = f"{server.base}/streams/talkonly/master.m3u8?user=u1"
        (recipes / "talkonly.yaml").write_text(FORWARD.split("  - video: match")[0].replace("fwd", "talkonly"))
        assert played_duration(one_video) == pytest.approx(16.0, abs=2 / 25 + 1e-3)
        played = hls_player.play(url, timeout=90, rate=8.0)
        played.assert_played(expected_duration=24.0, tolerance=3 / 25 + 0.025)
        assert not played.stream_errors, played.summary()
    finally:
        server.stop()


def test_two_replicas_serve_identical_manifests_under_load(s3, s3_library, tmp_path):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "fwd.yaml").write_text(FORWARD)
    replicas = [Server(s3_library, recipes, env=s3.machine(f"replica-{i}")) for i in (2, 3)]
    try:
        path = "/streams/fwd/{file}?user=u42&team=blue"
        for file in ("master.m3u8", "video.m3u8"):
            bodies = [r.get(path.format(file=file))[2] for r in replicas]
            assert bodies[0] == bodies[1] and b"#EXTM3U" in bodies[0]  # byte-identical, no sticky sessions
        segment = next(ln for ln in bodies[0].decode().splitlines() if ln and not ln.startswith("#"))
        # the server's own URLs (a --base-url would put a CDN there); a stream of several videos names
        # whole rebased segments, read through this replica's mirror of the bucket
        assert segment.startswith(("/media/", "/r/")), segment
        errors: list[str] = []

        def client(n: int) -> None:
            for i in range(25):
                replica = replicas[(n + i) % 2]
                for target in (path.format(file="video.m3u8").replace("u42", f"u{n}"), segment):
                    status, _, body = replica.get(target)
                    if status != 200 or not body:
                        errors.append(f"{replica.base}{target}: {status}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        for r in replicas:
            r.stop()


def test_writers_on_two_machines_exclude_each_other_and_a_dead_writers_lock_expires(s3, s3_library):
    lock_key = "lib/.lock"
    client = s3.client()
    holder = {"owner": "pid 1 on machine-c", "expires": time.time() + 60}
    client.put_object(Bucket=BUCKET, Key=lock_key, Body=json.dumps(holder).encode())
    busy = vstream("tag", "talk", "mood=calm", "-L", s3_library, "--wait", "1", env=s3.machine("d"))
    assert busy.returncode == 5 and "library busy" in busy.stderr and "machine-c" in busy.stderr
    assert "Traceback" not in busy.stderr

    holder["expires"] = time.time() - 1  # its writer died: nobody renews it
    client.put_object(Bucket=BUCKET, Key=lock_key, Body=json.dumps(holder).encode())
    vstream("tag", "talk", "mood=calm", "-L", s3_library, "--wait", "5", env=s3.machine("d"), check=True)
    info = vstream_json("info", "talk", "-L", s3_library, env=s3.machine("e"))  # seen from a third machine
    assert info["tags"]["mood"] == "calm"
    assert lock_key not in s3.keys("lib/")


def test_a_killed_ingest_leaves_the_bucket_library_valid(s3, samples, tmp_path):
    url = f"s3://{BUCKET}/killed"
    env = s3.machine("f") | {"VSTREAM_LOCK_TTL": "3"}  # the killed writer's lock is taken over after 3 s
    vstream("ingest", "-L", url, str(sample_path(samples, "talk")), env=env, check=True)
    big = tmp_path / "long.mp4"  # long enough to kill mid-way
    subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "20", "-i", str(sample_path(samples, "match")), "-c", "copy",
                    str(big)], check=True)  # fmt: skip
    link = SlowLink(s3.port, rate=4e6)  # ~40 MB of media at 4 MB/s: the publish takes about ten seconds
    proc = subprocess.Popen([sys.executable, "-m", "vstream", "ingest", "-L", url, str(big)],
                            env=os.environ | env | {"AWS_ENDPOINT_URL": link.endpoint},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "killed/.lock" not in s3.keys("killed/") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None and "killed/.lock" in s3.keys("killed/")  # killed while publishing
        proc.kill()
        proc.wait()
    finally:
        link.close()
    listed = vstream_json("list", "-L", url, env=s3.machine("g"))
    assert [v["id"] for v in listed["videos"]] == ["talk"]  # the old catalog: valid, without the half-done video
    done = vstream_json("ingest", "-L", url, str(big), "--wait", "90", env=env, timeout=300)  # after the lock expires
    assert done["ingested"] == 1
    assert [v["id"] for v in vstream_json("list", "-L", url, env=s3.machine("g"))["videos"]] == ["long", "talk"]
    media_dirs = {k.split("/")[2] for k in s3.keys("killed/media/")}
    assert len(media_dirs) == 2  # what the killed run had uploaded was swept when its lock was taken over


def test_bad_urls_and_an_unreachable_store_are_one_line(s3, tmp_path):
    bad = vstream("list", "-L", "s3://")
    assert bad.returncode == 2 and "s3://BUCKET/PREFIX" in bad.stderr
    missing = vstream("list", "-L", f"s3://{BUCKET}/nothing-here", env=s3.machine("h"))
    assert missing.returncode == 3 and "no vstream library at s3://" in missing.stderr
    down = vstream("list", "-L", f"s3://{BUCKET}/lib", env=s3.machine("h") | {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"})
    assert down.returncode == 7 and len(down.stderr.strip().splitlines()) <= 2 and "Traceback" not in down.stderr


def test_ingest_reads_sources_from_the_bucket(s3, samples, tmp_path):
    client = s3.client()
    client.create_bucket(Bucket="incoming")
    for name in ("talk", "match"):
        client.upload_file(str(sample_path(samples, name)), "incoming", f"videos/{name}.mp4")
    client.put_object(Bucket="incoming", Key="videos/notes.txt", Body=b"not a video")  # not picked up by the folder
    lib = tmp_path / "lib"
    env = s3.machine("i")
    result = vstream_json("ingest", "-L", str(lib), "s3://incoming/videos/", env=env)
    assert (result["ingested"], result["failed"]) == (2, 0)
    assert {r["path"] for r in result["results"]} == {"s3://incoming/videos/talk.mp4", "s3://incoming/videos/match.mp4"}
    local = tmp_path / "local"
    vstream("ingest", "-L", str(local), str(sample_path(samples, "talk")), check=True)
    from_bucket, from_disk = (vstream_json("info", "talk", "-L", str(p)) for p in (lib, local))
    assert from_bucket["content_hash"] == from_disk["content_hash"]  # the same bytes, recognized by content
    assert from_bucket["keyframes"] == from_disk["keyframes"] and from_bucket["source"] == "s3://incoming/videos/talk.mp4"
    assert played_duration(Path(from_bucket["media_dir"]) / "index.m3u8") == pytest.approx(32.0, abs=1 / 25)
    again = vstream_json("ingest", "-L", str(lib), "s3://incoming/videos/talk.mp4", "s3://incoming/nope.mp4", env=env)
    assert [r["status"] for r in again["results"]] == ["skipped", "failed"]
    assert "s3://incoming/nope.mp4: no such object" in again["results"][1]["message"]


def test_remove_deletes_the_videos_objects_and_a_recreated_library_starts_empty(s3, samples):
    url = f"s3://{BUCKET}/removal"
    env = s3.machine("j")
    vstream("ingest", "-L", url, str(sample_path(samples, "talk")), str(sample_path(samples, "ad")), env=env, check=True)
    vstream("index", "-L", url, "--only", "speech", env=env, check=True, timeout=600)
    assert "removal/index/transcripts/talk.vtt" in s3.keys("removal/")
    vstream("remove", "talk", "-L", url, env=env, check=True)
    keys = s3.keys("removal/")
    assert not [k for k in keys if "/talk.vtt" in k or "/thumbs/talk/" in k]
    assert any(k.startswith("removal/media/talk-") for k in keys)  # retired: streams may still play it
    swept = vstream_json("gc", "-L", url, "--grace", "0", env=s3.machine("l"))  # another machine's gc
    assert swept["deleted"] == 1
    keys = s3.keys("removal/")
    assert not [k for k in keys if k.startswith("removal/media/talk-")]
    assert any(k.startswith("removal/media/ad-") for k in keys)
    found = vstream_json("search", "the budget discussion", "-L", url, env=s3.machine("k"))
    assert "talk" not in {m["video_id"] for m in found["moments"]}

    s3.client().delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in s3.keys("removal/")]})
    vstream("ingest", "-L", url, str(sample_path(samples, "match")), env=env, check=True)  # the same machine's mirror
    assert [v["id"] for v in vstream_json("list", "-L", url, env=env)["videos"]] == ["match"]


def test_credentials_region_and_endpoint_from_an_aws_profile(s3, s3_library, tmp_path):
    (tmp_path / "config").write_text(f"[profile archive]\nregion = us-east-1\nendpoint_url = {s3.endpoint}\n")
    (tmp_path / "credentials").write_text("[archive]\naws_access_key_id = test\naws_secret_access_key = test\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_PROFILE": "archive", "VSTREAM_CACHE": str(tmp_path / "cache")}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "vstream", "list", "-L", s3_library, "--json"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "talk" in {v["id"] for v in json.loads(proc.stdout)["videos"]}
    found = subprocess.run([sys.executable, "-m", "vstream", "search", "the budget discussion", "-L", s3_library, "--json"],
                           env=env, capture_output=True, text=True, timeout=300)  # fmt: skip  (LanceDB gets the same keys)
    assert found.returncode == 0 and json.loads(found.stdout)["moments"][0]["video_id"] == "talk", found.stderr


def test_forgetting_a_person_deletes_their_crops_and_embeddings_from_the_bucket(s3, tmp_path):
    from tests.support.faces import Place, build_video, photos_dir

    photos_dir()
    url = f"s3://{BUCKET}/people"
    env = s3.machine("p")
    build_video(tmp_path / "duo.mp4", [[Place("obama", .5, .8)], [Place("biden", .4, .8)]])
    vstream("ingest", "-L", url, str(tmp_path / "duo.mp4"), env=env, check=True)
    vstream("index", "-L", url, "--only", "faces", env=env, check=True, timeout=300)
    people = vstream_json("people", "-L", url, env=s3.machine("q"))["people"]  # another machine sees them
    assert len(people) == 2
    gone = people[0]
    crop = f"people/{gone['thumbnail']}"
    assert crop in s3.keys("people/index/faces/")
    read = ("import json, sys\nfrom vstream.library import Library\nfrom vstream.index.store import Store\n"
            "table = Store(Library.open(sys.argv[1])).table('faces', create=False)\n"
            "print(json.dumps([r['vector'] for r in table.to_arrow().to_pylist()]))")
    proc = subprocess.run([sys.executable, "-c", read, url], env=os.environ | env, capture_output=True, text=True)
    vectors = json.loads(proc.stdout)
    assert len(vectors) == 2
    vstream("people", "forget", str(gone["id"]), "--yes", "-L", url, env=env, check=True)
    assert crop not in s3.keys("people/")
    data = b"".join(s3.client().get_object(Bucket=BUCKET, Key=k)["Body"].read()
                    for k in s3.keys("people/index/lancedb/faces.lance/"))  # fmt: skip
    import numpy as np

    left = [v for v in vectors if np.asarray(v, dtype=np.float32).tobytes()[:64] in data]
    assert len(left) == 1  # the other person's embedding only
    assert [p["id"] for p in vstream_json("people", "-L", url, env=s3.machine("q"))["people"]] == [people[1]["id"]]
