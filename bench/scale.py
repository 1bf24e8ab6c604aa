"""Benchmark: `vstream index --ray` with 1 and 2 workers, the cost per hour of video, a 10,000-hour projection.

Input: four copies of bench/index.py's 720p talk+match loop cut to `--minutes` each (distinct
files, so four videos), ingested once into bench/out/scale-lib. In one run:

* each stage alone with `--ray local --ray-workers 1` (one model-holding actor: the stage's
  core-seconds per hour of video), then everything with 1 and with 2 workers: throughput in
  hours of video per hour, and the 2-worker efficiency (this machine has 2 cores: at most 2x);
* from those, the projection for a 10,000-hour archive on N workers, with its assumptions.

    python bench/scale.py [--minutes 2] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402

from bench.index import OUT, make_source  # noqa: E402

LIB = OUT / "scale-lib"
STAGES = ("scenes", "speech", "audio")


def vstream(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "vstream", *args, "--json"], capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"vstream {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def build(minutes: int) -> float:
    """The library of four videos; returns their total duration in seconds."""
    if not (LIB / "scale-complete").exists():
        src = make_source(10)
        shutil.rmtree(LIB, ignore_errors=True)
        parts = []
        for i in range(4):
            part = OUT / f"scale-part-{i}.mp4"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-ss", str(i * 130), "-i", str(src), "-t", str(minutes * 60),
                            "-c", "copy", str(part)], check=True)  # fmt: skip
            parts.append(str(part))
        result = vstream("ingest", "-L", str(LIB), *parts)
        if result["ingested"] != len(parts):
            raise SystemExit(f"expected {len(parts)} distinct videos: {result}")
        (LIB / "scale-complete").touch()
    return sum(v["duration"] for v in json.loads(subprocess.run(
        [sys.executable, "-m", "vstream", "list", "-L", str(LIB), "--json"], capture_output=True, text=True,
        check=True).stdout)["videos"])  # fmt: skip


def timed(*args: str) -> tuple[float, dict]:
    started = time.perf_counter()
    result = vstream("index", "-L", str(LIB), "--force", *args)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=2, help="per video (the source is 10 minutes)")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    seconds = build(args.minutes)
    hours = seconds / 3600
    timed("--ray", "local", "--ray-workers", "1", "--only", "audio")  # warm the page cache and Ray's files
    per_stage = {}
    for stage in STAGES:
        wall, result = timed("--ray", "local", "--ray-workers", "1", "--only", stage)
        assert result["failed"] == 0, result
        work = sum(r["seconds"] for r in result["results"] if r["status"] == "indexed")  # inside the actor
        per_stage[stage] = (wall, work)
        print(f"{stage:<7} 1 worker: {wall:6.1f} s wall, {work:6.1f} core-s of work = "
              f"{work / hours:7.0f} core-s per hour of video")  # fmt: skip
    one, _ = timed("--ray", "local", "--ray-workers", "1")
    two, _ = timed("--ray", "local", "--ray-workers", "2")
    speedup = one / two
    print(f"all stages, {seconds / 60:.0f} min of video in 4 videos: 1 worker {one:.1f} s, 2 workers {two:.1f} s: "
          f"{speedup:.2f}x, efficiency {speedup / 2:.0%} (2 cores here)")  # fmt: skip
    core_s_per_hour = sum(work for _, work in per_stage.values()) / hours
    day = datetime.date.today()
    lines = [
        f"scale: index --ray, 1 worker {one:.1f} s, 2 workers {two:.1f} s for {seconds / 60:.0f} min of 720p video "
        f"(4 videos, Ray start-up and model loads included): {speedup:.2f}x, efficiency {speedup / 2:.0%} ({day}, 2 cores)",
        "scale: cost per hour of video, core-seconds inside the workers: " + ", ".join(
            f"{stage} {work / hours:.0f}" for stage, (_, work) in per_stage.items()) + f"; total {core_s_per_hour:.0f} ({day})",
    ]
    for n in (8, 64, 512):
        archive = 10_000 * core_s_per_hour / n / 3600
        lines.append(f"scale projection: 10,000 hours on {n} single-core workers ~ {archive:,.0f} h "
                     f"({archive / 24:,.1f} days) at the measured {core_s_per_hour:.0f} core-s per hour of video")
    report(lines, args.record)


if __name__ == "__main__":
    main()
