"""Benchmark: what unsigned timing costs `vstream serve` per segment, against CMAF timing in the same run.

Serve hands players other than browsers the same fragments in unsigned timing (README, "Two
timings"): a B-frame video's composition offsets are rewritten in place, a video without B-frames
gets offsets inserted (its boxes grow). This times the bytes of every whole segment of both
kinds of video through the Rebaser (what /r/.../OFFSET+LENGTHp/... answers, without HTTP), in
both timings, and prints the ratio.

    python bench/timing.py [--rounds 20] [--record]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402

OUT = ROOT / "bench" / "out"
LIB = OUT / "timing-lib"


def build() -> None:
    if (LIB / "bench-complete").exists():
        return
    from sample_media.build import build as samples

    manifest = samples(OUT / "samples")
    talk = OUT / "samples" / manifest["videos"]["talk"]["file"]
    phone = OUT / "phone.mp4"  # the way phones record: baseline H.264, no B-frames
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration=30",
                    "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:duration=30", "-c:v", "libx264",
                    "-profile:v", "baseline", "-bf", "0", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    str(phone)], check=True)  # fmt: skip
    shutil.rmtree(LIB, ignore_errors=True)
    for path in (talk, phone):
        subprocess.run([sys.executable, "-m", "vstream", "ingest", "-L", str(LIB), str(path)], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    (LIB / "bench-complete").touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    build()
    from vstream.compose.delivery import Rebaser
    from vstream.library import Library

    lib = Library(LIB)
    rebaser = Rebaser(lib, threading.Lock())
    lines = []
    for video_id, kind in (("talk", "B-frames: offsets rewritten in place"), ("phone", "no B-frames: offsets inserted")):
        video = lib.get(video_id)
        path = f"{video.media_dir.split('/', 1)[1]}/{video.meta['files']['media']}"
        layout = rebaser._layout(LIB / "media" / path)
        bounds = layout.offsets + [layout.end]
        spans = [f"{a}+{b - a}p" for a, b in zip(bounds, bounds[1:])]
        times: dict[str, list[float]] = {"0": [], "0d7200": []}
        for _ in range(args.rounds):  # interleaved, so both timings see the same machine
            for delta in times:
                started = time.perf_counter()
                for span in spans:
                    rebaser.segment(delta, "0", span, path)
                times[delta].append((time.perf_counter() - started) / len(spans) * 1e6)
        cmaf, unsigned = statistics.median(times["0"]), statistics.median(times["0d7200"])
        lines.append(f"unsigned timing, {video_id} ({kind}, {len(spans)} segments of {layout.end / len(spans) / 1e3:.0f} kB): "
                     f"{unsigned:.0f} us a segment vs {cmaf:.0f} us in CMAF timing, {unsigned / cmaf:.2f}x "
                     f"(median of {args.rounds} rounds)")  # fmt: skip
    report(lines, args.record)


if __name__ == "__main__":
    main()
