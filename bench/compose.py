"""Benchmark: composing personal streams.

Builds once (cached in bench/out/compose-lib) a library from the sample media, ingested and
indexed. Then, in one run:

* a 50-clip explicit recipe (captions from the transcripts, an overlay) compiled in-process
  with a warm library and searcher: p50/p95 of 50 runs, against the 30 ms target;
* the baseline measured beside it: rendering the same 50 clips' playlist alone (the pure
  functions), so the ratio shows what recipe handling, captions and I/O add;
* 1,000 users from a --users CSV through the real CLI, end to end (one process), against 5 s:
  five topics shared by the users (a search runs once per distinct query in a batch), and
  beside it 100 users whose queries all differ;
* bytes written per user against the bytes of media their playlists reference (zero copies).

    python bench/compose.py [--users 1000] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LIB = OUT / "compose-lib"
sys.path.insert(0, str(ROOT))

from bench.results import record  # noqa: E402


def vstream(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vstream", *args], capture_output=True, text=True, check=True)


def build_library() -> None:
    if (LIB / "bench-complete").exists():
        return
    from sample_media.build import build

    samples = OUT / "samples"
    manifest = build(samples)
    shutil.rmtree(LIB, ignore_errors=True)
    files = [str(samples / v["file"]) for v in manifest["videos"].values() if not v["needs_transcode"]]
    vstream("ingest", "-L", str(LIB), *files)
    vstream("index", "-L", str(LIB))
    (LIB / "bench-complete").touch()


def fifty_clip_recipe(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "recipes" / "logo.png", folder / "logo.png")
    spans = [("talk", 32), ("match", 24), ("silent", 12), ("ad", 6)]
    lines = ["version: 1", "name: fifty", "vars:", "  user: guest", "clips:"]
    for i in range(50):
        video, length = spans[i % len(spans)]
        start = (i * 3) % (length - 2)
        lines += [f"  - video: {video}", f"    start: {start}", "    duration: 2"]
    lines += ["overlays:", "  - image: logo.png", "    opacity: 0.85", "captions:", "  source: auto"]
    path = folder / "fifty.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    build_library()
    from vstream.compose.core import compose, timeline_from_recipe
    from vstream.compose.playlist import media_playlist, place
    from vstream.compose.recipe import load
    from vstream.library import Library
    from vstream.search import Searcher

    work = OUT / "compose-work"
    recipe = load(fifty_clip_recipe(work))
    lib = Library.open(LIB)
    searcher = Searcher(lib)
    compose(lib, recipe, {}, user="warm", write=False, searcher=searcher)  # transcripts and tables read once
    full, pure = [], []
    for i in range(args.runs):
        t = time.perf_counter()
        compose(lib, recipe, {}, user=f"u{i}", write=True, searcher=searcher)
        full.append((time.perf_counter() - t) * 1000)
    clips = timeline_from_recipe(lib, recipe, {}, searcher)._video_clips(lambda v: (lib.get(v), _source(lib, v, work)))
    for _ in range(args.runs):
        t = time.perf_counter()
        media_playlist(place(clips)).render()
        pure.append((time.perf_counter() - t) * 1000)
    print(f"50-clip recipe, in-process (write included): p50 {p(full, 50):.1f} ms, p95 {p(full, 95):.1f} ms "
          f"(target <= 30 ms); playlist functions alone p50 {p(pure, 50):.2f} ms")  # fmt: skip

    users = work / "users.csv"
    topics = ["the rocket launch", "a cat", "the budget discussion", "goal by player forty two", "old coins"]
    users.write_text("user,topic\n" + "".join(f"u{i},{topics[i % len(topics)]}\n" for i in range(args.users)))
    shutil.rmtree(LIB / "streams" / "highlights", ignore_errors=True)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "vstream", "compose", str(ROOT / "recipes" / "highlights.yaml"), "-L",
                           str(LIB), "--users", str(users), "--json"], capture_output=True, text=True, check=True)  # fmt: skip
    batch = time.perf_counter() - t
    streams = json.loads(proc.stdout)["streams"]
    assert len(streams) == args.users
    distinct = work / "distinct.csv"  # no two users share a query: every search runs
    distinct.write_text("user,topic\n" + "".join(f"d{i},{topics[i % 4]} {i}\n" for i in range(100)))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vstream", "compose", str(ROOT / "recipes" / "highlights.yaml"), "-L",
                    str(LIB), "--users", str(distinct), "--json"], capture_output=True, text=True, check=True)  # fmt: skip
    per_distinct = (time.perf_counter() - t) / 100 * 1000
    written = sum(s["bytes_written"] for s in streams) / len(streams)
    referenced = []
    for s in streams[:50]:
        text = (Path(s["master"]).parent / "video.m3u8").read_text()
        referenced.append(sum(int(line.split(":")[1].split("@")[0]) for line in text.splitlines()
                              if line.startswith("#EXT-X-BYTERANGE")))  # fmt: skip
    media = statistics.mean(referenced)
    print(f"{args.users} users from a --users file, one CLI process: {batch:.2f} s (target <= 5 s), "
          f"{batch / args.users * 1000:.1f} ms per user; {per_distinct:.1f} ms per user when no two share a query")  # fmt: skip
    print(f"bytes written per user {written:,.0f} vs media referenced {media:,.0f}: {media / written:.0f}x "
          f"(nothing copied: the segments are the library's)")  # fmt: skip
    day = datetime.date.today()
    lines = [
        f"compose 50-clip recipe in-process: p95 {p(full, 95):.1f} ms, p50 {p(full, 50):.1f} ms; the playlist "
        f"functions alone p50 {p(pure, 50):.2f} ms ({day}; captions, overlay, files written)",
        f"compose {args.users} users via --users (one CLI process, search-driven highlights.yaml): {batch:.2f} s, "
        f"{batch / args.users * 1000:.1f} ms per user over {len(topics)} topics (searches cached per query in a "
        f"batch); {per_distinct:.1f} ms per user when every query differs (100 users, start-up included) ({day})",
        f"compose bytes per user {written:,.0f} vs media referenced {media:,.0f}: {media / written:.0f}x ({day})",
    ]
    if args.record:
        record(lines)


def _source(lib, video_id: str, out: Path):
    from vstream.compose.playlist import source_for

    video = lib.get(video_id)
    return source_for(video, lib.path(video, video.meta["files"]["media"]), relative_to=out)


if __name__ == "__main__":
    main()
