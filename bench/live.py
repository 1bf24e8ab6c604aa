"""Benchmark: `vstream live record` on a 720p25 source sent in real time over UDP.

The source (generated once into bench/out/) is the sample match scaled to 720p25 H.264 (2 s
GOPs) with AAC, looped; `ffmpeg -re -stream_loop -1 -c copy` sends it as MPEG-TS, so the sender
costs no encoding. The script measures, for every fragment, the time from its last frame's
arrival (the sender's start + the fragment's end in media time) to its listing in the event's
playlist; the time to the first listed fragment; and the recorder's CPU (vstream + its ffmpeg)
as a share of the machine, its peak memory, and (for events of two minutes and more) its
memory once a minute, to show whether it grows with the event's length.

The recorder finds highlights as it records (the default). The source's sound is pink noise (a
crowd) with a roar 12 dB louder for 1.5 s every 30 s (at 20, 50, 80, ... s); the script measures,
for every roar, the time from its arrival to the highlight around it being listed in the event's
highlights playlist (a player reloading a live playlist finds it at most one target duration
later).

With ``--player`` it measures what a viewer gets: `vstream serve` hands out a fan's stream (the
recipe: 6 s of an archive clip, then the event's highlights, vstream.compose.follow) and
headless Chromium plays it in hls.js from its start while it grows; for every roar, the time from
its arrival to hls.js having buffered the first fragment of the highlight around it (the moment
a viewer could play it).

    python bench/live.py [--seconds 60] [--player] [--record]
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from bench.results import report  # noqa: E402


def make_source(sample: str = "match", name: str = "live-720p.ts") -> Path:
    """A sample video as a live encoder sends it: 720p25 H.264 with 2 s GOPs and AAC, in MPEG-TS."""
    src = OUT / name
    if src.exists():
        return src
    from sample_media.build import build

    samples = OUT / "samples"
    build(samples)
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = src.with_suffix(".tmp.ts")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(samples / f"{sample}.mp4"), "-vf", "scale=1280:720,fps=25",
                    "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0",
                    "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", str(tmp)], check=True)  # fmt: skip
    tmp.rename(src)
    return src


ROAR_EVERY, ROAR_FIRST, ROAR_LENGTH = 30, 20, 1.5


def make_roars(src: Path) -> Path:
    """The source's video (stream copy) for 120 s with a crowd that roars every 30 s."""
    out = OUT / "live-720p-roars.ts"
    if out.exists():
        return out
    loud = "+".join(f"between(t,{t},{t + ROAR_LENGTH})" for t in range(ROAR_FIRST, 120, ROAR_EVERY))
    tmp = out.with_suffix(".tmp.ts")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-f", "lavfi", "-i",
                    "anoisesrc=color=pink:amplitude=0.1:sample_rate=48000", "-t", "120", "-map", "0:v", "-map", "1:a",
                    "-af", f"volume='if({loud},4,1)':eval=frame", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k",
                    "-f", "mpegts", str(tmp)], check=True)  # fmt: skip
    tmp.rename(out)
    return out


def loop_length(src: Path) -> float:
    """How long one pass of the looped file lasts (its streams do not end together: 120.22 s, not 120)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(src)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return float(out.strip())


def family(pid: int) -> list[int]:
    """A process and its live children (the recorder and its ffmpeg)."""
    if not Path(f"/proc/{pid}").exists():
        return []
    return [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its live children and the children it has waited for (from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = family(pid)
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / tick  # its own and its finished children's (loudness runs)
        except (OSError, IndexError):
            continue
    return total


def rss(pid: int) -> int:
    total = 0
    pids = family(pid)
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def own_rss(pid: int) -> int:
    """The recorder process's RSS without its children's."""
    try:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration):
        return 0


FAN = """version: 1
name: fan
clips:
  - video: archive
    start: 0
    duration: 6
  - live: bench
"""

# Follows the stream from its start; records, per discontinuity sequence (a block: the archive clip,
# then each highlight), when hls.js buffered its first fragment (Date.now(), ms).
PLAYER_JS = """(url) => new Promise((resolve) => {
  const video = document.createElement('video');
  video.muted = true;
  document.body.appendChild(video);
  window.buffered = {};
  window.failures = [];
  const hls = new Hls({liveDurationInfinity: true});
  hls.on(Hls.Events.FRAG_BUFFERED, (_, data) => {
    if (data.frag.type === 'main' && !(data.frag.cc in window.buffered)) window.buffered[data.frag.cc] = Date.now();
  });
  hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.failures.push(data.details); });
  hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play(); resolve(true); });
  hls.loadSource(url);
  hls.attachMedia(video);
})"""


class Viewer:
    """`vstream serve` with the fan recipe, and hls.js in headless Chromium playing it once published."""

    def __init__(self, lib: Path, src: Path):
        subprocess.run([sys.executable, "-m", "vstream", "ingest", str(src), "--id", "archive", "-L", str(lib)],
                       check=True, capture_output=True)  # fmt: skip
        self.recipes = OUT / "live-recipes"
        self.recipes.mkdir(parents=True, exist_ok=True)
        (self.recipes / "fan.yaml").write_text(FAN)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.lib, self.page, self.server, self.player = lib, None, None, None

    def start(self) -> None:
        self.server = subprocess.Popen([sys.executable, "-m", "vstream", "serve", "-L", str(self.lib), "--recipes",
                                        str(self.recipes), "--port", str(self.port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        from tests.support.hlsplayer import HlsPlayer

        self.player = HlsPlayer().start()

    def poll(self) -> None:
        """Once the stream is published (serve answers 200, not 425), start playing it."""
        import urllib.error
        import urllib.request

        if self.page is not None:
            return
        base = f"http://127.0.0.1:{self.port}"
        try:
            with urllib.request.urlopen(f"{base}/streams/fan/video.m3u8", timeout=5) as r:
                if r.status != 200:
                    return
        except (urllib.error.URLError, OSError):
            return
        self.page = self.player.browser.new_page()
        self.page.goto(f"{base}/static/hls.min.js")  # same origin as the stream
        self.page.set_content("<html><body></body></html>")
        self.page.add_script_tag(url=f"{base}/static/hls.min.js")
        self.page.evaluate(PLAYER_JS, f"{base}/streams/fan/master.m3u8")

    def finish(self, sent_wall: float) -> list[float]:
        """Seconds after the sender started at which each highlight's first fragment was buffered."""
        try:
            if self.page is None:
                return []
            self.page.wait_for_timeout(8000)  # the last highlight, listed at the end
            got = self.page.evaluate("window.buffered")
            failures = self.page.evaluate("window.failures")
            if failures:
                print("hls.js fatal errors:", failures)
            return [got[cc] / 1000 - sent_wall for cc in sorted(got, key=int) if int(cc) >= 1]  # block 0: the archive
        finally:
            self.player.close()
            self.server.terminate()
            self.server.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--record", action="store_true", help="append the result lines to bench/RESULTS.md")
    parser.add_argument("--no-highlights", action="store_true", help="record without finding highlights (the baseline)")
    parser.add_argument("--player", action="store_true", help="also play a fan's stream of the highlights in hls.js")
    args = parser.parse_args()
    src = make_roars(make_source())
    lib = OUT / "live-lib"
    shutil.rmtree(lib, ignore_errors=True)
    viewer = Viewer(lib, src) if args.player else None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = subprocess.Popen([sys.executable, "-m", "vstream", "live", "record", f"udp://127.0.0.1:{port}", "--id", "bench",
                            "-L", str(lib), "--idle", "3", "--reconnect", "0", "--json"]
                           + (["--no-highlights"] if args.no_highlights else []),
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1.5)
    if viewer is not None:
        viewer.start()
    sent_at = time.monotonic()
    sent_wall = time.time()
    sender = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(src), "-t", str(args.seconds),
                               "-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"])  # fmt: skip
    playlist = lib / "live" / "bench" / "index.m3u8"
    highlights = lib / "live" / "bench" / "highlights.m3u8"
    period = loop_length(src)  # the sender loops the file: its roars come again every `period` seconds
    roars = [loop * period + t for loop in range(int(args.seconds // period) + 1) for t in range(ROAR_FIRST, 120, ROAR_EVERY)]
    roars = [t for t in roars if t + 10 < args.seconds]  # (the last ones have no time to be found)
    found_at: list[float] = []  # seconds after the sender started when the n-th highlight was listed
    listed: list[tuple[float, float]] = []  # (media end, seconds after the sender started) per fragment
    cpu_start = cpu_seconds(rec.pid)
    peak = 0
    memory: list[tuple[float, int, int]] = []  # (seconds after the source started, RSS, vstream's own) once a minute
    while rec.poll() is None:
        if time.monotonic() - sent_at >= 60 * (len(memory) + 1) and sender.poll() is None:
            memory.append((time.monotonic() - sent_at, rss(rec.pid), own_rss(rec.pid)))
        if playlist.exists():
            durations = [float(line[8:].split(",")[0]) for line in playlist.read_text().splitlines() if line.startswith("#EXTINF:")]
            now = time.monotonic() - sent_at
            end = sum(durations[: len(listed)])
            for d in durations[len(listed):]:
                end += d
                listed.append((end, now))
        if highlights.exists() and sender.poll() is None:
            count = highlights.read_text().count("#EXT-X-DISCONTINUITY") + 1
            found_at += [time.monotonic() - sent_at] * (count - len(found_at))
        if viewer is not None:
            viewer.poll()
        peak = max(peak, rss(rec.pid))
        cpu_now = cpu_seconds(rec.pid)
        if cpu_now:
            cpu_last = cpu_now
        time.sleep(0.05)
    wall = time.monotonic() - sent_at
    sender.wait()
    cpu_used = cpu_last - cpu_start
    lags = sorted(max(0.0, at - end) for end, at in listed[:-1])  # the last one is listed at the end of the event
    first = listed[0][1] if listed else float("nan")
    p50, p95 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.95))]
    share = cpu_used / (wall * (os.cpu_count() or 1))
    roar_lags = sorted(at - roar for roar, at in zip(roars, found_at))
    print(f"fragments listed: {len(listed)}; first {first:.2f} s after the source started")
    print(f"fragment listed after its last frame: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lags[-1]:.2f} s")
    if roar_lags:
        print(f"highlights: {len(found_at)} listed for {len(roars)} roars; listed after the roar: "
              + " ".join(f"{lag:.1f}" for lag in roar_lags) + " s")
    print(f"recorder CPU (vstream + ffmpeg): {cpu_used:.1f} s over {wall:.0f} s = {share:.1%} of {os.cpu_count()} cores; peak RSS {peak / 2**20:.0f} MiB")
    day = datetime.date.today()
    where = f"{args.seconds} s of 720p25 H.264 + AAC over UDP from ffmpeg -re (2 s GOPs); {os.cpu_count()} cores"
    lines = [
        f"live first fragment listed {first:.2f} s after the source started ({day}; {where})",
        f"live fragment listed after its last frame arrived: p50 {p50:.2f} s, p95 {p95:.2f} s, max {lags[-1]:.2f} s ({day})",
        f"live recorder load{' (no highlights)' if args.no_highlights else ''}: {share:.1%} of the machine's CPU (headroom {1 / max(share, 1e-9):.0f}x), peak RSS {peak / 2**20:.0f} MiB ({day})",
    ]
    if viewer is not None:
        playable = viewer.finish(sent_wall)
        play_lags = sorted(at - roar for roar, at in zip(roars, playable))
        print(f"hls.js (a fan's stream: 6 s of archive, then the highlights): {len(playable)} highlights buffered; "
              "after the roar: " + " ".join(f"{lag:.1f}" for lag in play_lags) + " s")
        if play_lags:
            lines.append(f"live highlight playable in hls.js after the roar: p50 {play_lags[len(play_lags) // 2]:.1f} s, "
                         f"max {play_lags[-1]:.1f} s ({len(play_lags)} highlights of a fan's stream from vstream serve, "
                         f"headless Chromium following it from its start; {day})")  # fmt: skip
    if roar_lags:
        lines.append(f"live highlight listed after the roar: p50 {roar_lags[len(roar_lags) // 2]:.1f} s, max {roar_lags[-1]:.1f} s "
                     f"({len(found_at)} highlights, {len(roars)} roars more than 10 s before the end; clips of 20 s, 2/3 before the peak; {day})")  # fmt: skip
    if len(memory) >= 2:
        (t0, first_rss, first_own), (t1, last_rss, last_own) = memory[0], memory[-1]
        print("RSS per minute (MiB):", " ".join(f"{m / 2**20:.0f}" for _, m, _ in memory))
        print(f"of which vstream itself: {first_own / 2**20:.0f} -> {last_own / 2**20:.0f} MiB, "
              f"its ffmpeg: {(first_rss - first_own) / 2**20:.0f} -> {(last_rss - last_own) / 2**20:.0f} MiB")
        lines.append(f"live recorder memory over the event: {first_rss / 2**20:.0f} MiB at {t0 / 60:.0f} min, "
                     f"{last_rss / 2**20:.0f} MiB at {t1 / 60:.0f} min (vstream {first_own / 2**20:.0f} -> "
                     f"{last_own / 2**20:.0f} MiB, the rest its ffmpeg; {len(listed)} fragments; {day})")  # fmt: skip
    report(lines, args.record)
    rec.wait()
    shutil.rmtree(lib, ignore_errors=True)


if __name__ == "__main__":
    main()
