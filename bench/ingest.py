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
sys.path.insert(0, str(OUT.parent.parent))

from bench.results import report  # noqa: E402


def make_source(minutes: int) -> Path:
    src = OUT / f"bench-{minutes}min-1080p-bframes.mp4"
    if src.exists():
        return src
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"generating {src.name} (once) ...", file=sys.stderr)
    tmp = src.with_suffix(".tmp.mp4")
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(minutes * 60),
         "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-g", "50", "-pix_fmt", "yuv420p", "-b:v", "6M",
         "-c:a", "aac", "-b:a", "128k", "-shortest", str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(src)
    return src


def timed(argv: list[str], *, then_sync: bool = False) -> float:
    os.sync()  # start clean: no writeback of the previous run during this one
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if then_sync:
        os.sync()
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
    ffmpeg_argv = ["ffmpeg", "-v", "error", "-i", str(src), "-c", "copy", "-f", "hls", "-hls_time", "4",
                   "-hls_playlist_type", "vod", str(work / "ffmpeg" / "index.m3u8")]  # fmt: skip
    vstream_argv = [sys.executable, "-m", "vstream", "ingest", "-L", str(work / "lib"), str(src)]
    contenders = {"ffmpeg": ffmpeg_argv, "ffmpeg+sync": ffmpeg_argv, "vstream": vstream_argv,
                  "vstream --params-in-band": [*vstream_argv, "--params-in-band"]}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(args.runs):
        for name, argv in contenders.items():
            shutil.rmtree(work, ignore_errors=True)
            (work / "ffmpeg").mkdir(parents=True)
            times[name].append(timed(argv, then_sync=name == "ffmpeg+sync"))
        print(f"run {i + 1}: " + "  ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    size_mb = src.stat().st_size / 1e6
    what = f"{args.minutes} min 1080p25 H.264/AAC with B-frames, {size_mb:.0f} MB, page-cached source, median of {args.runs}"
    lines = [
        f"ingest vs ffmpeg remux: {med['vstream'] / med['ffmpeg']:.2f}× ({datetime.date.today()}, {what}; "
        f"vstream {med['vstream']:.2f}s, ffmpeg {med['ffmpeg']:.2f}s)",
        f"ingest vs ffmpeg remux + sync: {med['vstream'] / med['ffmpeg+sync']:.2f}× (same run; vstream's catalog "
        f"commit makes the media durable, plain ffmpeg leaves it in the page cache; ffmpeg+sync {med['ffmpeg+sync']:.2f}s)",
        f"ingest --params-in-band vs ffmpeg remux + sync: {med['vstream --params-in-band'] / med['ffmpeg+sync']:.2f}× "
        f"(same run; opt-in SPS/PPS at every keyframe; {med['vstream --params-in-band']:.2f}s)",
    ]
    for k, v in med.items():
        print(f"{k:<25}: {v:.2f}s")
    report(lines, args.record)


if __name__ == "__main__":
    main()
