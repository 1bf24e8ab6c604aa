"""Benchmark: `vstream index` stages on a 10-minute 720p H.264 file with cuts, speech and on-screen text.

The input (generated once into bench/out/) is the sample talk (four photo scenes with
espeak-ng speech) and the sample match (scoreboard text, crowd noise) scaled to 720p
and looped to 10 minutes. Each stage runs as its own `vstream index --only STAGE
--force` process, the way a user runs it (imports and model loading included); the
script prints seconds, × realtime, rows and the process's peak memory.

The faces stage detects on every keyframe (2 s GOPs here) and embeds the faces it finds
(the talk's photo scenes hold a few), then clusters them into the library's people.

OCR is measured as the difference between the scenes stage with and without
`--ocr` (both decode keyframes and run the labels models).

    python bench/index.py [--minutes 10] [--stage faces] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402


def make_source(minutes: int) -> Path:
    src = OUT / f"index-{minutes}min-720p.mp4"
    if src.exists():
        return src
    from sample_media.build import build

    samples = OUT / "samples"
    build(samples)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = src.with_suffix(".tmp.mp4")
    print(f"generating {src.name} (once) ...", file=sys.stderr)
    graph = (
        "[0:v]scale=1280:720,setsar=1,fps=25[v0];[1:v]scale=1280:720,setsar=1,fps=25[v1];"
        "[0:a]aresample=48000,aformat=channel_layouts=stereo[a0];[1:a]aresample=48000,aformat=channel_layouts=stereo[a1];"
        "[v0][a0][v1][a1]concat=n=2:v=1:a=1[v][a]"
    )
    once = OUT / "index-unit.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples / "talk.mp4"), "-i", str(samples / "match.mp4"),
                    "-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast",
                    "-g", "50", "-c:a", "aac", str(once)], check=True)  # fmt: skip
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(once), "-t", str(minutes * 60),
                    "-c", "copy", str(tmp)], check=True)  # fmt: skip
    once.unlink()
    tmp.rename(src)
    return src


def run_stage(lib: Path, args: list[str]) -> tuple[float, int, dict]:
    """Wall seconds, peak RSS (bytes) and the JSON summary of one `vstream index` process."""
    out = OUT / "index-stage.json"
    started = time.perf_counter()
    with open(out, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "vstream", "index", "-L", str(lib), "--force", "--json", *args],
                                stdout=fh, stderr=subprocess.DEVNULL)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak memory (ru_maxrss, KiB)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"vstream index {' '.join(args)} exited {proc.returncode}")
    return seconds, usage.ru_maxrss * 1024, json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--record", action="store_true", help="append the result lines to bench/RESULTS.md")
    parser.add_argument("--stage", action="append", default=[], help="only the runs whose name starts with this")
    args = parser.parse_args()
    src = make_source(args.minutes)
    lib = OUT / "index-lib"
    shutil.rmtree(lib, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "vstream", "ingest", "-L", str(lib), str(src)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    duration = args.minutes * 60
    device = ["--device", args.device]
    runs = {
        "scenes (keyframes + labels + objects)": ["--only", "scenes", "--no-ocr", *device],
        "scenes + on-screen text": ["--only", "scenes", "--ocr", *device],
        "speech (Whisper tiny.en)": ["--only", "speech", *device],
        "audio (loudness)": ["--only", "audio"],
        "faces (dlib: detect every keyframe, align, embed, cluster)": ["--only", "faces", "--faces"],
    }
    if args.stage:
        runs = {n: a for n, a in runs.items() if any(n.startswith(s) for s in args.stage)}
    results = {}
    for name, extra in runs.items():
        seconds, peak, summary = run_stage(lib, extra)
        rows = sum(r["rows"] for r in summary["results"])
        results[name] = (seconds, peak, rows)
        print(f"{name[:40]:<40} {seconds:7.1f}s  {duration / seconds:6.1f}x realtime  {rows:6d} rows  "
              f"peak {peak / 2**20:6.0f} MiB", flush=True)  # fmt: skip
    both = "scenes + on-screen text" in results and "scenes (keyframes + labels + objects)" in results
    ocr_seconds = results["scenes + on-screen text"][0] - results["scenes (keyframes + labels + objects)"][0] if both else 0.0
    if both:
        print(f"{'on-screen text alone (difference)':<40} {ocr_seconds:7.1f}s  {duration / max(ocr_seconds, 1e-9):6.1f}x realtime")
    day = datetime.date.today()
    where = f"{args.minutes} min 720p25 H.264 with cuts every 8 s, speech and a scoreboard; {args.device}"
    lines = [f"index {name}: {duration / s:.1f}× realtime ({s:.1f} s, {rows} rows, peak {p / 2**20:.0f} MiB; {day}, {where})"
             for name, (s, p, rows) in results.items()]  # fmt: skip
    if both:
        lines.append(f"index on-screen text alone: {duration / max(ocr_seconds, 1e-9):.1f}× realtime "
                     f"({ocr_seconds:.1f} s, difference of the two scenes runs; {day})")  # fmt: skip
    report(lines, args.record)
    shutil.rmtree(lib, ignore_errors=True)


if __name__ == "__main__":
    main()
