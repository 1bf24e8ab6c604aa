"""Benchmark: `vstream ingest` against a plain `ffmpeg -c copy -f hls` remux of the same file.

Generates (once, cached in bench/out/) a 10-minute 1080p25 H.264/AAC file, then
times, alternating, N runs of each into fresh output directories and prints the
median wall times and their ratio. Both read the source from the page cache
(a warm-up read precedes the runs), both write to the same disk.

    python bench/ingest.py [--runs 3] [--minutes 10]
"""

from __future__ import annotations

import argparse
import os
import datetime
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"


def make_source(minutes: int) -> Path:
    src = OUT / f"bench-{minutes}min-1080p.mp4"
    if src.exists():
        return src
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {src.name} (once) ...", file=sys.stderr)
    tmp = src.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(minutes * 60),
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", "-pix_fmt", "yuv420p", "-b:v", "6M",
         "-c:a", "aac", "-b:a", "128k", "-shortest", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(src)
    return src


def timed(argv: list[str]) -> float:
    os.sync()  # start from clean page cache state: no writeback of the previous run during this one
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--record", action="store_true", help="append the result line to bench/RESULTS.md")
    args = parser.parse_args()
    src = make_source(args.minutes)
    src.read_bytes()  # warm the page cache for both contenders
    work = OUT / "ingest-runs"
    ffmpeg_times, vstream_times = [], []
    for i in range(args.runs):
        shutil.rmtree(work, ignore_errors=True)
        (work / "ffmpeg").mkdir(parents=True)
        ffmpeg_times.append(timed(["ffmpeg", "-v", "error", "-i", str(src), "-c", "copy", "-f", "hls", "-hls_time", "4",
                                   "-hls_playlist_type", "vod", str(work / "ffmpeg" / "index.m3u8")]))  # fmt: skip
        vstream_times.append(timed([sys.executable, "-m", "vstream", "ingest", "-L", str(work / "lib"), str(src)]))
        print(f"run {i + 1}: ffmpeg {ffmpeg_times[-1]:.2f}s  vstream {vstream_times[-1]:.2f}s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    f, v = statistics.median(ffmpeg_times), statistics.median(vstream_times)
    size_mb = src.stat().st_size / 1e6
    line = (f"ingest vs ffmpeg remux: {v / f:.2f}× ({datetime.date.today()}, {args.minutes} min 1080p25 H.264/AAC, "
            f"{size_mb:.0f} MB; vstream {v:.2f}s, ffmpeg {f:.2f}s, median of {args.runs})")  # fmt: skip
    print(f"plain ffmpeg -c copy -f hls : {f:.2f}s")
    print(f"vstream ingest              : {v:.2f}s")
    print(line)
    if args.record:
        results = Path(__file__).resolve().parent / "RESULTS.md"
        with results.open("a") as fh:
            fh.write(f"- {line}\n")


if __name__ == "__main__":
    main()
