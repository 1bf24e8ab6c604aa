"""Benchmark: a live event's speech transcribed while it is recorded, and a fan's stream of what is said.

The source (generated once into bench/out/) is the sample talk scaled to 720p25 H.264 (2 s GOPs)
with its speech (four sentences per 32 s: at 0.5, 8.5, 16.5 and 24.5 s), looped and sent in real
time over UDP (`ffmpeg -re -stream_loop -1 -c copy`: the sender costs no encoding). Three vstream
processes run as they would at a live event: `live record` (the baseline load), `index --follow`
(Whisper on the newest audio, --whisper-model, tiny.en by default) and `compose --follow` of a fan's
recipe whose live clip says `said: budget`. For every "budget" sentence (8.5 s into each loop) the
script measures the time from its first word's arrival to (a) its line kept in the transcript and
(b) the highlight around it listed in the fan's stream; and the CPU of the follower and of the
recorder as shares of the machine (the headroom: how many such events the machine keeps up with).

With ``--ocr`` the follower also reads each fragment's on-screen text (``index --follow --ocr``),
with ``--labels`` it describes what each shows (``--visual labels``): the CPU line then says what
they cost together.

    python bench/live_speech.py [--seconds 96] [--whisper-model tiny.en] [--ocr] [--labels] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench.live import cpu_seconds, loop_length, make_source, rss  # noqa: E402
from bench.results import report  # noqa: E402

SAID_AT = 8.5  # seconds into the talk: "The budget discussion for next year starts after coffee."
FAN = "version: 1\nname: fan\nclips:\n  - live: bench\n    said: budget\n"


def vstream(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vstream", *args], **kw)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=96)
    parser.add_argument("--whisper-model", default="tiny.en")
    parser.add_argument("--ocr", action="store_true", help="the follower reads on-screen text too")
    parser.add_argument("--labels", action="store_true", help="the follower describes what each fragment shows too")
    parser.add_argument("--record", action="store_true", help="append the result lines to bench/RESULTS.md")
    args = parser.parse_args()
    src = make_source("talk", "live-talk-720p.ts")
    lib = OUT / "live-speech-lib"
    shutil.rmtree(lib, ignore_errors=True)
    recipes = OUT / "live-speech-recipes"
    recipes.mkdir(parents=True, exist_ok=True)
    (recipes / "fan.yaml").write_text(FAN)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    rec = vstream("live", "record", f"udp://127.0.0.1:{port}", "--id", "bench", "-L", str(lib), "--idle", "3",
                  "--reconnect", "0", **quiet)  # fmt: skip
    time.sleep(1.5)
    sent_at = time.monotonic()
    sender = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(src), "-t", str(args.seconds),
                               "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])  # fmt: skip
    playlist = lib / "live" / "bench" / "index.m3u8"
    while not playlist.exists() and time.monotonic() - sent_at < 30:
        time.sleep(0.1)
    follower = vstream("index", "--follow", "bench", "-L", str(lib), "--whisper-model", args.whisper_model,
                       *(["--ocr"] if args.ocr else []), *(["--visual", "labels"] if args.labels else []), **quiet)  # fmt: skip
    fan = vstream("compose", str(recipes / "fan.yaml"), "-L", str(lib), "--follow", **quiet)
    period = loop_length(src)
    said = [loop * period + SAID_AT for loop in range(int(args.seconds // period) + 1)]
    said = [t for t in said if t + 20 < args.seconds]  # (a clip and a settled sentence need the time)
    transcript = lib / "live" / "bench" / "speech.jsonl"
    stream = lib / "streams" / "fan" / "guest" / "video.m3u8"
    kept_at: list[float] = []  # seconds after the sender started when the n-th "budget" line was kept
    listed_at: list[float] = []  # ... when the n-th highlight was listed in the fan's stream
    cpu = {"recorder": cpu_seconds(rec.pid), "follower": cpu_seconds(follower.pid)}
    last = dict(cpu)
    peak = 0
    while follower.poll() is None or fan.poll() is None:
        now = time.monotonic() - sent_at
        if transcript.exists():
            lines = [json.loads(x) for x in transcript.read_text().splitlines() if x.strip()]
            kept_at += [now] * (sum("budget" in x["text"].lower() for x in lines) - len(kept_at))
        if stream.exists():
            listed_at += [now] * (stream.read_text().count("#EXT-X-PROGRAM-DATE-TIME") - len(listed_at))
        for name, proc in (("recorder", rec), ("follower", follower)):
            got = cpu_seconds(proc.pid)
            if got:
                last[name] = got
        if follower.poll() is None:
            peak = max(peak, rss(follower.pid))
        if now > args.seconds + 120:
            break
        time.sleep(0.05)
    wall = min(time.monotonic() - sent_at, args.seconds)
    for proc in (sender, rec, follower, fan):
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
    cores = os.cpu_count() or 1
    share = {name: (last[name] - cpu[name]) / (wall * cores) for name in cpu}
    kept = sorted(at - t for t, at in zip(said, kept_at))
    listed = sorted(at - t for t, at in zip(said, listed_at))
    day = datetime.date.today()
    what = (f"Whisper {args.whisper_model}" + (" + OCR of every fragment's keyframe" if args.ocr else "")
            + (" + labels of every fragment's keyframe" if args.labels else ""))
    print(f'"budget" said {len(said)} times: transcript line kept after: ' + " ".join(f"{x:.1f}" for x in kept) + " s")
    print("highlight listed in the fan's stream after: " + " ".join(f"{x:.1f}" for x in listed) + " s")
    print(f"CPU: recorder {share['recorder']:.1%}, follower ({what}) {share['follower']:.1%} of {cores} "
          f"cores; follower peak RSS {peak / 2**20:.0f} MiB")  # fmt: skip
    where = f"{args.seconds} s of the talk sample at 720p25 over UDP from ffmpeg -re; {what}; {cores} cores"
    lines = []
    if kept and listed:
        lines.append(f"live spoken keyword: transcript line kept p50 {kept[len(kept) // 2]:.1f} s, max {kept[-1]:.1f} s, "
                     f"highlight listed in a fan's said: stream p50 {listed[len(listed) // 2]:.1f} s, max {listed[-1]:.1f} s "
                     f"after the sentence began ({len(listed)} of {len(said)}; {where}; {day})")  # fmt: skip
    extra = "".join(w for w, on in ((" + on-screen text", args.ocr), (" + labels", args.labels)) if on)
    lines.append(f"live transcription{extra} load: follower "
                 f"{share['follower']:.1%} of the machine's CPU beside the recorder's "
                 f"{share['recorder']:.1%} (headroom {1 / max(share['follower'] + share['recorder'], 1e-9):.1f}x), "
                 f"follower peak RSS {peak / 2**20:.0f} MiB ({day})")  # fmt: skip
    report(lines, args.record)
    shutil.rmtree(lib, ignore_errors=True)


if __name__ == "__main__":
    main()
