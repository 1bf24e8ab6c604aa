"""The HLS clients we can run here, headless: ffmpeg, GStreamer playbin/playbin3, VLC.

Each plays a URL to its end as fast as it can and reports what a viewer would have seen and heard:
the video frames' presentation times (so a running time that jumps back or stalls shows), how
much sound was decoded (a clip whose sample rate the decoder does not take on plays fast or slow,
so less or more sound than picture comes out), decoder errors, and how long it played.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field


HEARD_RATE = 48000


@dataclass
class Played:
    frames: list[float] = field(default_factory=list)  # presentation times of the decoded video frames, in order
    sound: float | None = None  # seconds of decoded audio (sum of its buffers' durations); None: not measured
    sound_starts: float | None = None  # when the first sound is heard; None: not measured
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    @property
    def stalls(self) -> list[tuple[float, float]]:
        """Neighbouring frames whose time does not move forward (a jump back, or frames stuck on one time)."""
        return [(a, b) for a, b in zip(self.frames, self.frames[1:]) if b <= a]


def gstreamer(url: str, element: str = "playbin", timeout: float = 90) -> Played:
    """``gst-launch-1.0 ELEMENT`` with sinks without a clock: when each video frame would be shown
    (the running time the video sink syncs to, from its debug log), the sound as decoded
    (converted to 48 kHz mono 16-bit into a file whose size is its duration), and decoder errors.

    Not from ``-v`` and ``fakesink silent=false``: gst-launch prints a sink's ``last-message`` when
    it gets to the notification, by then often the next buffer's, so frames that come in a burst (a
    B-frame video's reordered frames, drained at a clip's end) were printed twice and their
    neighbours not at all: 788-802 "frames" of an 800-frame file, and two equal times read as the
    video going back. Nor from a buffer's PTS: qtdemux keeps an MP4's edit in the segment (a B-frame
    video's first frame at PTS 0.08 s in a segment starting at 0.08 s is shown at 0)."""
    fd, heard = tempfile.mkstemp(prefix="vstream-heard-", suffix=".raw")
    os.close(fd)
    argv = ["gst-launch-1.0", element, f"uri={url}", "video-sink=fakesink sync=false name=seen",
            f"audio-sink=audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate={HEARD_RATE},channels=1 "
            f"! filesink sync=false location={heard}"]  # fmt: skip
    try:
        played = _gst_launch(argv, element, timeout)
        played.sound = os.path.getsize(heard) / (2 * HEARD_RATE)
    finally:
        os.unlink(heard)
    return played


def _gst_launch(argv: list[str], element: str, timeout: float) -> Played:
    if element == "playbin":
        # Sinks without a clock take audio as fast as it comes and video as fast as it decodes, so video
        # falls behind until decodebin's buffering queue holds its 5 s (2 MB) limit of video. qtdemux then
        # blocks on video with audio's queue empty; that is "buffering" to gst-launch, which pauses, the
        # video sink prerolls and waits, and audio never comes (a deadlock: 2 of 6 plays of a fan's stream,
        # a 1.8 Mbit/s live take after a 0.1 Mbit/s clip; 0 of 8 with these queues; 0 of 2 played in real
        # time with the default ones). A player paced by a clock never drifts 5 s apart: queues big enough
        # for the whole stream keep this harness out of the deadlock without changing what it reads.
        argv[3:3] = ["buffer-duration=600000000000", "buffer-size=1000000000"]
    started = time.monotonic()
    hung = ""
    for attempt in (1, 2):  # a gst-launch that hangs (seen in full runs on a busy 2-core machine before the
        # clock-less deadlock above was understood: before the first frame, or at ~12 s of a 16 s stream)
        # gets one fresh start; a stream that hangs twice fails, with both attempts' frame counts
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, errors="replace",
                                  env=os.environ | {"GST_DEBUG": "*:1,basesink:6", "GST_DEBUG_NO_COLOR": "1"})  # fmt: skip
            break
        except subprocess.TimeoutExpired as exc:
            log = (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            seen = len(shown(log, "seen"))
            hung += f"{element} did not reach the end in {timeout:g} s (attempt {attempt}, {seen} frames seen); "
            if attempt == 2:
                return Played(errors=[hung.rstrip("; ")], wall=time.monotonic() - started)
    played = Played(wall=time.monotonic() - started, frames=shown(proc.stderr, "seen"))
    text = proc.stdout + proc.stderr
    played.errors = [ln for ln in text.splitlines() if " ERROR " in ln and "libav" in ln or ln.startswith("ERROR")]
    if proc.returncode != 0 and not played.errors:
        played.errors.append(f"gst-launch exited {proc.returncode}")
    return played


def shown(log: str, sink: str) -> list[float]:
    """The running times (seconds) at which the basesink named ``sink`` would show its buffers, from a
    ``GST_DEBUG=basesink:6`` log: each buffer's "got times" is followed by the clock time it waits
    for; a buffer outside its segment is dropped before that (a real sink drops it too); EOS waits
    without a buffer."""
    times: list[float] = []
    pending = False
    tag = f":<{sink}> "
    for line in log.splitlines():
        if tag not in line:
            continue
        if "gst_base_sink_chain_unlocked" in line and "got times start" in line:
            pending = True
        elif "sync times for EOS" in line:
            pending = False
        elif pending and "possibly waiting for clock to reach " in line:
            m = CLOCK.search(line)
            if m:
                times.append((int(m.group(1)) * 60 + int(m.group(2))) * 60 + int(m.group(3)) + int(m.group(4)) / 1e9)
            pending = False
    return times


CLOCK = re.compile(r"possibly waiting for clock to reach (\d+):(\d+):(\d+)\.(\d{9})")


def vlc(url: str, rate: float = 4.0, timeout: float = 180) -> Played:
    """``cvlc`` with dummy outputs at ``rate``x (VLC refuses to run as root: then as user nobody)."""
    home = "/tmp/vstream-vlc-home"
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o777)
    argv = ["cvlc", "--play-and-exit", "--vout=dummy", "--aout=dummy", f"--rate={rate}", "-v", url]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "nobody", "--", "env", f"HOME={home}", *argv]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    played = Played(wall=time.monotonic() - started)
    played.errors = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                     if ("error" in ln and "demux" in ln) or "no moov" in ln or "Failed to create demuxer" in ln]  # fmt: skip
    return played


def ffmpeg(url: str, timeout: float = 180) -> Played:
    """ffmpeg's HLS demuxer (ffplay's and mpv's) decoding every frame and all the sound; the video's
    timestamps as it reads them, and the decoded samples at the rate the decoder took on."""
    started = time.monotonic()
    proc = subprocess.run(["ffmpeg", "-v", "error", "-i", url, "-map", "0:v:0", "-map", "0:a:0?",
                           "-fps_mode", "passthrough",
                           "-enc_time_base:v", "-1",  # the demuxer's 90 kHz, not the first clip's frame rate
                           "-f", "framemd5", "-"], capture_output=True, text=True, timeout=timeout)  # fmt: skip
    played = Played(wall=time.monotonic() - started)
    scales = {int(m.group(1)): int(m.group(2)) / int(m.group(3))
              for m in re.finditer(r"#tb (\d+): (\d+)/(\d+)", proc.stdout)}
    kinds = {int(m.group(1)): m.group(2) for m in re.finditer(r"#media_type (\d+): (\w+)", proc.stdout)}
    if "audio" in kinds.values():
        played.sound = 0.0
    for line in proc.stdout.splitlines():
        if line and not line.startswith("#"):
            index, _, pts, duration = (int(x) for x in line.split(",")[:4])
            if kinds.get(index, "video") == "video":
                played.frames.append(pts * scales.get(index, 1.0))
            else:  # an audio frame's duration is its samples, over the rate the decoder runs at
                played.sound += duration * scales.get(index, 1.0)
                if played.sound_starts is None:
                    played.sound_starts = pts * scales.get(index, 1.0)
    played.errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return played


def available() -> dict[str, bool]:
    return {"gstreamer": bool(shutil.which("gst-launch-1.0")), "vlc": bool(shutil.which("cvlc")),
            "ffmpeg": bool(shutil.which("ffmpeg"))}  # fmt: skip
