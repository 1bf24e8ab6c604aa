"""Live events: record a source into the library as it arrives, clip it at once, keep it afterwards.

``vstream live record SOURCE --id EVENT`` stream-copies SRT, RTMP (listening), UDP/RTP, an HLS URL
or a file that is still growing into ``LIBRARY/live/EVENT/``:

* each connection is a **take** (``take-001/``...): ffmpeg's HLS muxer writes it as one fMP4
  file, a fragment per keyframe interval, with its own playlist; ADTS audio goes through
  ``aac_adtstoasc``. A dropped connection that comes back is the next take, behind a
  discontinuity, never a corrupt file;
* vstream writes the event's own **EVENT playlist** (``index.m3u8``) from the takes as their
  fragments complete: the target duration is fixed up front (it may never change in a live
  playlist), the playlist only grows, ``EXT-X-PROGRAM-DATE-TIME`` marks every take's start
  (wall clock), ``EXT-X-ENDLIST`` comes only when the event ends;
* ``event.json`` holds the state (takes, fragments, the recorder's pid); a recorder killed with
  ``kill -9`` leaves an event that ``vstream live list`` shows as interrupted, and that ``vstream
  live record --id EVENT`` resumes (a new take) or ``vstream live stop EVENT`` closes;
* when the event ends (SIGINT/SIGTERM, the source's end, or no reconnect within
  ``--reconnect`` seconds) its takes become one ordinary library video ``EVENT`` (stream copy),
  which index, search and compose use like any other. The live folder stays: clips and streams
  made during the event keep playing.

``vstream live clip EVENT --last 30`` is a VOD playlist of the recorded fragments (no re-encode),
as soon as the fragments exist. While it records, the recorder also finds the event's loud
moments and grows their playlist (:mod:`vstream.live_highlights`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from vstream.errors import MediaError, NotFound, UsageError
from vstream.library import Library, atomic_write, check_id, lock_held, try_flock
from vstream.progress import SILENT, Progress

T = TypeVar("T")
LIVE_DIR = "live"
STATE = "event.json"
PLAYLIST = "index.m3u8"
TARGET_DURATION = 6  # seconds: fixed for the whole event; a longer keyframe interval is warned about
MAX_GOP = 10.0  # a source whose keyframes are further apart cannot be clipped usefully: refused
POLL = 0.2  # how often a take's playlist is read for completed fragments
BEFORE_PEAK = 2 / 3  # of a --loudest clip: before the loudest moment
SCHEMES = ("srt", "rtmp", "udp", "rtp", "http", "https", "file")


@dataclass
class Fragment:
    duration: float
    length: int
    offset: int

    def to_list(self) -> list:
        return [round(self.duration, 6), self.length, self.offset]


@dataclass
class Take:
    n: int
    started_at: str  # wall clock (ISO, UTC) of the take's first frame, from ffmpeg's program date time
    init: list[int] = field(default_factory=list)  # [length, offset] of the init section
    fragments: list[Fragment] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return f"take-{self.n:03d}"

    @property
    def media(self) -> str:
        return f"{self.folder}/media.m4s"

    @property
    def duration(self) -> float:
        return sum(f.duration for f in self.fragments)

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "started_at": self.started_at, "init": self.init,
                "fragments": [f.to_list() for f in self.fragments]}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> "Take":
        return cls(data["n"], data["started_at"], list(data.get("init") or []),
                   [Fragment(*f) for f in data.get("fragments", [])])  # fmt: skip


@dataclass
class Event:
    id: str
    source: str
    status: str = "starting"  # starting | recording | ended | interrupted (read from a dead pid)
    started_at: str = ""
    target: int = TARGET_DURATION
    takes: list[Take] = field(default_factory=list)
    pid: int | None = None
    video: str | None = None  # the library video it became
    warnings: list[str] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(t.duration for t in self.takes)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "status": self.status, "started_at": self.started_at,
                "target": self.target, "takes": [t.to_dict() for t in self.takes], "pid": self.pid,
                "video": self.video, "warnings": self.warnings}  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "live": self.status in ("starting", "recording"), "status": self.status,
                "source": redact(self.source), "started_at": self.started_at, "duration": round(self.duration, 3),
                "takes": len(self.takes), "fragments": sum(len(t.fragments) for t in self.takes),
                "playlist": f"{LIVE_DIR}/{self.id}/{PLAYLIST}", "video": self.video}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> "Event":
        return cls(data["id"], data["source"], data.get("status", "starting"), data.get("started_at", ""),
                   int(data.get("target", TARGET_DURATION)), [Take.from_dict(t) for t in data.get("takes", [])],
                   data.get("pid"), data.get("video"), list(data.get("warnings", [])))  # fmt: skip


def redact(source: str) -> str:
    """A source URL without its credentials or stream key (they stay in event.json only)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(source)
    if not parts.scheme or parts.scheme == "file":
        return source
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    path = parts.path.rsplit("/", 1)[0] + "/…" if parts.scheme == "rtmp" and parts.path.count("/") > 1 else parts.path
    return urlunsplit((parts.scheme, host, path, "", ""))


# --- the pure part -----------------------------------------------------------------------------


def render_playlist(event: Event, since: float = 0.0) -> str:
    """The event's EVENT playlist (pure): every take behind a discontinuity, each starting with its
    init section and its wall-clock time; ENDLIST once the event has ended. ``since`` (event
    seconds) starts it at the fragment holding that time: a start-over playlist that keeps growing."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{event.target}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:EVENT", "#EXT-X-INDEPENDENT-SEGMENTS"]  # fmt: skip
    for i, span in enumerate(select(event, since, float("inf"))):
        lines += (["#EXT-X-DISCONTINUITY"] if i else []) + span_lines(span)
    if event.status == "ended":
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def since_of(event: Event, start: str) -> float:
    """A start-over point (event seconds, HH:MM:SS or wall-clock ISO) in event seconds."""
    return _when(event, start)


def parse_take(text: str) -> tuple[list[int], str | None, list[Fragment], bool]:
    """ffmpeg's playlist of one take -> (init [length, offset], first program date time, fragments, ended)."""
    init: list[int] = []
    started = None
    fragments: list[Fragment] = []
    duration = None
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            rng = line.split('BYTERANGE="', 1)[1].split('"', 1)[0]
            length, offset = rng.split("@")
            init = [int(length), int(offset)]
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:") and started is None:
            started = line.split(":", 1)[1].strip()
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line.startswith("#EXT-X-BYTERANGE:") and duration is not None:
            length, offset = line[17:].split("@")
            fragments.append(Fragment(duration, int(length), int(offset)))
            duration = None
    return init, started, fragments, "#EXT-X-ENDLIST" in text


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    value = text.strip().replace("Z", "+00:00")
    if len(value) > 5 and value[-5] in "+-" and value[-3] != ":":  # ffmpeg writes +0000
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass
class Span:
    take: Take
    fragments: list[Fragment]
    start: float  # event media seconds of the first fragment


def select(event: Event, start: float, end: float) -> list[Span]:
    """The whole fragments that cover ``[start, end)`` of the event's media time (pure)."""
    out: list[Span] = []
    t = 0.0
    for take in event.takes:
        chosen, first = [], None
        for f in take.fragments:
            if t + f.duration > start + 1e-6 and t < end - 1e-6:
                chosen.append(f)
                first = t if first is None else first
            t += f.duration
        if chosen:
            out.append(Span(take, chosen, first))
    return out


def clip_playlist(event: Event, spans: list[Span], prefix: str) -> str:
    """A VOD playlist of the selected fragments; URIs are ``prefix`` + the take's media (pure)."""
    longest = max((f.duration for s in spans for f in s.fragments), default=1.0)
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest - 1e-3))}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]  # fmt: skip
    for i, span in enumerate(spans):
        lines += (["#EXT-X-DISCONTINUITY"] if i else []) + span_lines(span, prefix)
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def follows(before: Span | None, span: Span) -> bool:
    """Whether ``span`` starts at the fragment right after ``before``'s last one, in the same take (pure):
    played one after the other they are one timeline, no discontinuity between them."""
    if before is None or before.take.n != span.take.n:
        return False
    last = before.fragments[-1]
    return span.fragments[0].offset == last.offset + last.length


def span_lines(span: Span, prefix: str = "") -> list[str]:
    """One span's lines (pure): its take's init section, the wall-clock time of its first fragment, the
    fragments as byte ranges of ``prefix`` + the take's media."""
    take, uri = span.take, prefix + span.take.media
    lines = [f'#EXT-X-MAP:URI="{uri}",BYTERANGE="{take.init[0]}@{take.init[1]}"', f"#EXT-X-PROGRAM-DATE-TIME:{span_began(span)}"]
    for f in span.fragments:
        lines += [f"#EXTINF:{f.duration:.6f},", f"#EXT-X-BYTERANGE:{f.length}@{f.offset}", uri]
    return lines


def span_began(span: Span) -> str:
    """The wall-clock time (ISO) of a span's first fragment."""
    take = span.take
    skipped = sum(f.duration for f in take.fragments[: take.fragments.index(span.fragments[0])])
    return take.started_at if not skipped else iso(parse_time(take.started_at) + timedelta(seconds=skipped))


def with_init_segments(text: str) -> str:
    """A live playlist as serve hands it out (pure): the first fragment after each discontinuity becomes
    the resource ``take-NNN/i/OFFSET+LENGTH.m4s`` (its take's init section, then the fragment), named
    with a byte range of all of it. VLC 3 restarts its MP4 demuxer at a discontinuity without loading a
    byte-range EXT-X-MAP ("no moov before mdat"); the other players load the map as before and read
    the init section twice. (The byte range is for ffmpeg, whose reused HTTP connection would
    otherwise ask for the previous segment's range.)"""
    out: list[str] = []
    pending = False  # after a discontinuity, until its first fragment
    init = 0  # the current map's length
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "#EXT-X-DISCONTINUITY":
            pending = True
        elif line.startswith("#EXT-X-MAP:") and 'BYTERANGE="' in line:
            init = int(line.split('BYTERANGE="', 1)[1].split("@", 1)[0])
        elif pending and line.startswith("#EXT-X-BYTERANGE:") and i + 1 < len(lines) and lines[i + 1].endswith("/media.m4s"):
            length, offset = (int(v) for v in line[17:].split("@"))
            if offset:  # (at 0 it is already whole)
                out += [f"#EXT-X-BYTERANGE:{init + length}@0", lines[i + 1][: -len("media.m4s")] + f"i/{offset}+{length}.m4s"]
                pending = False
                i += 2
                continue
            pending = False
        elif pending and line and not line.startswith("#"):
            pending = False
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def init_and_fragment(event: Event, n: int, offset: int, length: int) -> tuple[str, list[int], list[int]]:
    """For ``take-NNN/i/OFFSET+LENGTH.m4s``: the take's media, its init section and that fragment's
    ``[length, offset]``; NotFound unless it is a recorded fragment of the take."""
    take = next((t for t in event.takes if t.n == n), None)
    if take is None or not any(f.offset == offset and f.length == length for f in take.fragments):
        raise NotFound(f"no fragment {offset}+{length} in take {n} of {event.id}")
    return take.media, take.init, [length, offset]


def media_time(event: Event, when: datetime) -> float:
    """A wall-clock time -> the event's media seconds (through the take it falls in)."""
    t = 0.0
    for take in event.takes:
        begin = parse_time(take.started_at)
        if when < begin:
            return t
        if (when - begin).total_seconds() <= take.duration:
            return t + (when - begin).total_seconds()
        t += take.duration
    last = event.takes[-1] if event.takes else None
    recorded_until = parse_time(last.started_at) + timedelta(seconds=last.duration) if last else when
    return t + max(0.0, (when - recorded_until).total_seconds())  # later than recorded: that much later


def input_argv(source: str, idle: float) -> list[str]:
    """ffmpeg input options for a source: listening for pushes, following a growing file, timeouts."""
    scheme = source.split("://", 1)[0].lower() if "://" in source else "file"
    micro = str(int(idle * 1_000_000))
    # probe 1.5 s of a live source, not ffmpeg's default 5: the first fragment is listed that much sooner
    fast = ["-analyzeduration", "1500000", "-probesize", "2000000"]
    if scheme not in SCHEMES:
        raise UsageError(f"{source}: unknown source", hint="use srt://, rtmp://, udp://, rtp://, an http(s) HLS URL or a file")
    if scheme in ("udp", "rtp", "srt"):
        return [*fast, "-timeout", micro, "-i", source]
    if scheme == "rtmp":  # vstream listens; the encoder pushes to it (OBS, ffmpeg, a camera)
        return [*fast, "-listen", "1", "-rw_timeout", micro, "-i", source]
    if scheme in ("http", "https"):
        return [*fast, "-rw_timeout", micro, "-live_start_index", "0", "-i", source]
    path = source[7:] if source.startswith("file://") else source
    if not Path(path).exists():
        raise NotFound(f"{path}: no such file", hint="give a file that is being written, or a stream URL")
    return ["-follow", "1", "-rw_timeout", micro, "-i", f"file:{Path(path).resolve()}"]


def record_argv(ffmpeg: str, source: str, take_dir: Path, idle: float) -> list[str]:
    """One take: stream copy into an fMP4 HLS of one file, a fragment per keyframe interval, its video
    track in the library's timescale (90 kHz: a composed stream's players that keep the first init
    section read the live fragments' times right after archive clips)."""
    from vstream.ingest import VIDEO_TIMESCALE

    return [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", *input_argv(source, idle),
            "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy", "-bsf:a", "aac_adtstoasc",
            "-f", "hls", "-hls_time", "0.1", "-hls_playlist_type", "event", "-hls_segment_type", "fmp4",
            "-hls_segment_options", f"video_track_timescale={VIDEO_TIMESCALE}",
            "-hls_flags", "single_file+program_date_time+independent_segments",
            "-hls_segment_filename", str(take_dir / "media.m4s"), str(take_dir / "take.m3u8")]  # fmt: skip


REFUSALS = ("matches no streams", "not currently supported in container", "Could not find tag for codec",
            "Invalid data found when processing input")  # fmt: skip


def _refusal(line: str) -> str:
    if "matches no streams" in line:
        return "the source carries no video"
    if "Invalid data" in line:
        return "the source is not a stream ffmpeg can read"
    return "its codec cannot be stream-copied into the library (" + line.split("]")[-1].strip()[:120] + ")"


def _die_with_parent() -> None:
    """In the recorder's ffmpeg child: SIGTERM when the recorder dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def is_push(source: str) -> bool:
    """Sources that connect to us (or send without a connection): a drop may be followed by a reconnect."""
    scheme = source.split("://", 1)[0].lower() if "://" in source else "file"
    return scheme in ("srt", "rtmp", "udp", "rtp") and ("mode=listener" in source or scheme != "srt")


# --- the library side ----------------------------------------------------------------------------


def events_dir(lib: Library) -> Path:
    return lib.root / LIVE_DIR


def load(lib: Library, event_id: str) -> Event:
    path = events_dir(lib) / check_id(event_id) / STATE
    try:
        event = Event.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise NotFound(f"no live event {event_id!r} in {lib.root}", hint="list them with: vstream live list") from None
    if event.status in ("starting", "recording") and not recording(lib, event.id):
        event.status = "interrupted"  # its recorder died (even if another process now has its pid)
    return event


def _lock_path(lib: Library, event_id: str) -> Path:
    return events_dir(lib) / f".{event_id}.lock"


def take_lock(lib: Library, event_id: str, wait: float = 0.0) -> int | None:
    """The event's lock (``live/.EVENT.lock``, flock), held by its recorder for its whole run and by a
    command closing the event: the file descriptor, or None when another process holds it."""
    events_dir(lib).mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_path(lib, event_id), os.O_RDWR | os.O_CREAT, 0o644)
    if try_flock(fd, wait):
        return fd
    os.close(fd)
    return None


def recording(lib: Library, event_id: str) -> bool:
    """Whether a recorder holds the event."""
    return lock_held(_lock_path(lib, event_id))


def events(lib: Library) -> list[Event]:
    folder = events_dir(lib)
    out = []
    for state in sorted(folder.glob(f"*/{STATE}")) if folder.is_dir() else []:
        try:
            out.append(load(lib, state.parent.name))
        except (NotFound, ValueError, KeyError):
            continue
    return out


def read_records(path: Path, make: Callable[[dict], T]) -> list[T]:
    """The records of a JSON-lines file that a recorder or a follower appends to, each made by
    ``make``: a torn last line (from a killed writer) and a record ``make`` refuses are skipped."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    out = []
    for raw in text.splitlines():
        try:
            out.append(make(json.loads(raw)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def trim_torn(path: Path) -> None:
    """Cut a JSON-lines file back to its last whole line: a writer killed mid-line left a torn one, and
    the next line appended would be glued to it (both lost to :func:`read_records`). Only the file's
    one writer calls this, before it appends."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if not size:
                return
            fh.seek(max(0, size - 65536))
            tail = fh.read()
            if tail.endswith(b"\n"):
                return
            cut = tail.rfind(b"\n")
            if cut < 0 and size > len(tail):  # a line longer than the tail read: find its start the slow way
                fh.seek(0)
                whole = fh.read()
                fh.truncate(whole.rfind(b"\n") + 1)
                return
            fh.truncate(size - len(tail) + cut + 1)
    except FileNotFoundError:
        return


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")  # a zombie (killed, not yet reaped) is not recording
    try:
        return stat.read_text().split(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def save(lib: Library, event: Event) -> None:
    folder = events_dir(lib) / event.id
    # compact: the C encoder (an indented dump is pure Python, and this runs at every fragment)
    atomic_write(folder / STATE, json.dumps(event.to_dict(), separators=(",", ":")) + "\n", durable=False)
    atomic_write(folder / PLAYLIST, render_playlist(event), durable=False)


class Recorder:
    """Runs ``record`` for one event: takes, the growing playlist, the end, the library video."""

    def __init__(self, lib: Library, source: str, event_id: str, *, timeout: float = 15.0, reconnect: float = 10.0,
                 idle: float = 5.0, target: int = TARGET_DURATION, progress: Progress = SILENT,
                 on_fragment: Callable[[Event], None] | None = None, highlights: Any = None):  # fmt: skip
        """``highlights``: a :class:`vstream.live_highlights.Settings` to find highlights as it records."""
        from vstream.media import ffmpeg as ff

        if not 1 <= timeout <= 3600 or not 0 <= reconnect <= 3600 or not 0.5 <= idle <= 600:
            raise UsageError("--timeout 1..3600, --reconnect 0..3600 and --idle 0.5..600 seconds")
        if not 2 <= target <= 30:
            raise UsageError("--target-duration must be 2..30 seconds")
        self.lib, self.source, self.progress = lib, source, progress
        self.timeout, self.reconnect, self.idle = timeout, reconnect, idle
        self.ffmpeg = ff.find_ffmpeg().path
        self.on_fragment = on_fragment
        self.highlights = highlights.check() if highlights is not None else None
        self._highlighter: Any = None
        input_argv(source, idle)  # a bad source fails now, before anything is written
        self.folder = events_dir(lib) / check_id(event_id)
        # one recorder per event, even when two start at once (cron): held until the event is finished
        self._lock = take_lock(lib, event_id, wait=1.0)  # (a command checking the event holds it for an instant)
        if self._lock is None:
            raise UsageError(f"live event {event_id!r} is being recorded by another process",
                             hint="choose another --id, or stop it: vstream live stop " + event_id)  # fmt: skip
        try:
            self._load_or_create(lib, source, event_id, target)
        except BaseException:
            self.close()
            raise
        self._stop = False
        self._child: subprocess.Popen | None = None
        self._seen: tuple = ()  # the take playlist's (path, size, mtime) at the last parse
        self._prefix = ""  # its text up to its last complete fragment at that parse

    def close(self) -> None:
        """Release the event's lock (when the recorder is done with the event)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _load_or_create(self, lib: Library, source: str, event_id: str, target: int) -> None:
        if (self.folder / STATE).exists():
            self.event = load(lib, event_id)
            if self.event.status in ("starting", "recording"):
                raise UsageError(f"live event {event_id!r} is being recorded (pid {self.event.pid})",
                                 hint="choose another --id, or stop it: vstream live stop " + event_id)  # fmt: skip
            if self.event.status == "ended":
                hint = "choose another --id" if self.event.video else f"vstream live stop {event_id} adds its video"
                raise UsageError(f"live event {event_id!r} has ended", hint=hint)
            self.event.source, self.event.status = source, "starting"  # interrupted: resume with a new take
        else:
            if event_id in {v.id for v in lib.videos()}:
                raise UsageError(f"id {event_id!r} is already a library video", hint="choose another --id")
            self.event = Event(event_id, source, target=target)

    def stop(self, *_: Any) -> None:
        """Finish after the fragment being written (SIGINT/SIGTERM)."""
        self._stop = True
        if self._child is not None and self._child.poll() is None:
            self._child.send_signal(signal.SIGINT)  # ffmpeg closes the fragment and its playlist

    def run(self) -> Event:
        previous = {s: signal.signal(s, self.stop) for s in (signal.SIGINT, signal.SIGTERM)}
        created = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.event.pid = os.getpid()
            save(self.lib, self.event)
            if self.highlights is not None:
                from vstream.live_highlights import Highlighter

                self._highlighter = Highlighter(self.lib, self.event, self.highlights, self.progress)
            wait = self.timeout
            try:
                while not self._stop:
                    take = self._take(wait)
                    if take is None:  # nothing came within the wait
                        break
                    if not is_push(self.source):
                        break  # a file or a pulled HLS stream ended: the event ends
                    wait = self.reconnect
                    if wait <= 0:
                        break
                    self.progress.note(f"{self.event.id}: the source went away; waiting {wait:g} s for it to come back")
            except MediaError:
                if not any(t.fragments for t in self.event.takes):
                    if created:
                        shutil.rmtree(self.folder, ignore_errors=True)
                    raise
            self._stop_highlighter()
            if not any(t.fragments for t in self.event.takes):
                if created:
                    shutil.rmtree(self.folder, ignore_errors=True)  # nothing half-listed
                else:
                    self.event.status = "interrupted"
                    save(self.lib, self.event)
                raise NotFound(f"no video arrived from {redact(self.source)} within {self.timeout:g} s",
                               hint="check the sender and the address (vstream listens on srt mode=listener and rtmp)")  # fmt: skip
            return finish(self.lib, self.event, self.progress)
        finally:
            self._stop_highlighter()
            self.close()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _stop_highlighter(self) -> None:
        if self._highlighter is not None:
            self._highlighter.close()  # (finish judges what it left)
            self._highlighter = None

    def _take(self, wait: float) -> Take | None:
        n = max((t.n for t in self.event.takes), default=0) + 1
        take_dir = self.folder / f"take-{n:03d}"
        shutil.rmtree(take_dir, ignore_errors=True)
        take_dir.mkdir(parents=True)
        argv = record_argv(self.ffmpeg, self.source, take_dir, self.idle)
        # its own session: a Ctrl-C reaches vstream, which stops ffmpeg in order; and ffmpeg gets SIGTERM
        # (it closes the fragment and its playlist) if vstream itself dies, even by kill -9
        self._child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_die_with_parent)  # fmt: skip
        take: Take | None = None
        deadline = time.monotonic() + wait
        try:
            while True:
                done = self._child.poll() is not None
                take = self._sync(take_dir, n, take)
                if done:
                    break
                if take is None and time.monotonic() > deadline:
                    self._child.kill()
                    self._child.wait()
                    break
                if self._stop and self._child.poll() is None:
                    self._child.send_signal(signal.SIGINT)
                time.sleep(POLL)
            take = self._sync(take_dir, n, take)
        finally:
            if self._child.poll() is None:
                self._child.kill()
                self._child.wait()
            stderr = self._child.stderr.read().decode(errors="replace") if self._child.stderr else ""
            self._child = None
        if take is None:
            shutil.rmtree(take_dir, ignore_errors=True)
            lines = [line.strip() for line in stderr.splitlines() if line.strip()]
            refused = next((line for line in lines if any(k in line for k in REFUSALS)), None)
            if refused:  # not a timeout: the source is not something a library can hold as it is
                raise MediaError(f"{redact(self.source)}: {_refusal(refused)}",
                                 hint="vstream records H.264/HEVC video with AAC/MP3/AC-3 audio by stream copy")  # fmt: skip
            if lines and "Immediate exit requested" not in lines[-1] and "Exiting normally" not in lines[-1]:
                self.progress.note(f"{self.event.id}: ffmpeg: {lines[-1][:200]}")
        return take

    def _sync(self, take_dir: Path, n: int, take: Take | None) -> Take | None:
        """Read the take's playlist; publish fragments that completed since the last read."""
        listing = take_dir / "take.m3u8"
        try:
            seen = listing.stat()
            if take is not None and (listing, seen.st_size, seen.st_mtime_ns) == self._seen:
                return take  # unchanged since the last poll: nothing to parse (an hour's playlist is 5,000 lines)
            text = listing.read_text()
        except FileNotFoundError:
            return take
        self._seen = (listing, seen.st_size, seen.st_mtime_ns)
        if take is not None and self._prefix and text.startswith(self._prefix):  # ffmpeg appended: read the rest
            _, started, more, _ = parse_take(text[len(self._prefix):])
            init, fragments = take.init, take.fragments + more
        else:
            init, started, fragments, _ = parse_take(text)
        end = text.rfind(".m4s\n")  # the prefix holding every complete fragment, for the next read
        self._prefix = text[: end + 5] if end >= 0 and fragments else ""
        if not init or not fragments:
            return take
        if take is None:
            take = Take(n, iso(parse_time(started)) if started else iso(datetime.now(timezone.utc)), init)
            self.event.takes.append(take)
            if not self.event.started_at:
                self.event.started_at = take.started_at
            self.event.status = "recording"
        if len(fragments) == len(take.fragments):
            return take
        for f in fragments[len(take.fragments):]:
            if f.duration > MAX_GOP:
                note = (f"keyframes {f.duration:.1f} s apart: clips and highlights can only start every "
                        f"{f.duration:.0f} s (set the encoder's keyframe interval to 2 s)")  # fmt: skip
                if note not in self.event.warnings:
                    self.event.warnings.append(note)
                    self.progress.note(f"{self.event.id}: warning: {note}")
            elif f.duration > self.event.target + 0.5:
                note = f"a keyframe interval of {f.duration:.1f} s is longer than the target duration ({self.event.target} s)"
                if note not in self.event.warnings:
                    self.event.warnings.append(note)
                    self.progress.note(f"{self.event.id}: warning: {note}")
        take.fragments = fragments
        save(self.lib, self.event)
        if self._highlighter is not None:
            self._highlighter.offer(self.event)
        if self.on_fragment is not None:
            self.on_fragment(self.event)
        return take


def finish(lib: Library, event: Event, progress: Progress = SILENT) -> Event:
    """End an event: ENDLIST on its playlist (players see the end at once), then its takes become the
    library video ``EVENT``. An event ended without its video (a failed or killed finish) is finished
    again by ``vstream live stop``."""
    from vstream.ingest import IngestOptions, ingest_file
    from vstream.media import ffmpeg as ff

    from vstream import live_highlights

    event.status = "ended"
    event.pid = os.getpid()  # finishing: `stop` waits for this process to add the video
    save(lib, event)
    live_highlights.finalize(lib, event, progress)  # (an event recorded with highlights: the rest, and ENDLIST)
    takes = [t for t in event.takes if t.fragments]
    folder = events_dir(lib) / event.id
    work = folder / ".finish"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        binary = ff.find_ffmpeg().path
        parts = []
        for take in takes:  # each take as a plain MP4 (stream copy), then one file of them all
            part = work / f"{take.folder}.mp4"
            # what event.json says was recorded, as a finished playlist: a take cut off by a crash has no
            # ENDLIST, and ffmpeg would read it as live (from its last fragments, reloading forever)
            listing = folder / take.folder / "finished.m3u8"
            atomic_write(listing, take_playlist(take), durable=False)
            ff.run([binary, "-hide_banner", "-nostdin", "-v", "error", "-y", "-i", str(listing),
                    "-c", "copy", "-movflags", "+faststart", str(part)], what="live finish")  # fmt: skip
            parts.append(part)
        whole = work / f"{event.id}.mp4"
        if len(parts) == 1:
            os.replace(parts[0], whole)
        else:
            listing = work / "takes.txt"
            listing.write_text("".join(f"file '{p.name}'\n" for p in parts))
            ff.run([binary, "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c", "copy", "-movflags", "+faststart", str(whole)], what="live finish")  # fmt: skip
        progress.note(f"{event.id}: recorded {event.duration:.1f} s in {len(takes)} take(s); adding it to the library")
        result = ingest_file(lib, whole, IngestOptions(video_id=event.id, tags={"live": "recorded"}), progress)
        if result.status == "failed":
            raise MediaError(f"{event.id}: the recording could not be ingested: {result.message}")
        event.video = result.id
    finally:
        event.pid = None
        save(lib, event)
        shutil.rmtree(work, ignore_errors=True)
    return event


def take_playlist(take: Take, media: str = "media.m4s", fragments: list[Fragment] | None = None) -> str:
    """A take's recorded fragments (or some of them) as a VOD playlist of ``media`` (by default beside
    it: for finishing)."""
    fragments = take.fragments if fragments is None else fragments
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{max(1, math.ceil(max(f.duration for f in fragments)))}",
             "#EXT-X-PLAYLIST-TYPE:VOD", f'#EXT-X-MAP:URI="{media}",BYTERANGE="{take.init[0]}@{take.init[1]}"']  # fmt: skip
    for f in fragments:
        lines += [f"#EXTINF:{f.duration:.6f},", f"#EXT-X-BYTERANGE:{f.length}@{f.offset}", media]
    return "\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n"


def stop(lib: Library, event_id: str, *, wait: float = 30.0, progress: Progress = SILENT) -> Event:
    """Stop a recording (its recorder finishes the event) or close an interrupted one."""
    event = load(lib, event_id)
    if event.video:
        return event
    if not recording(lib, event_id):
        return _close(lib, event_id, wait, progress)
    if event.pid and _alive(event.pid):
        os.kill(event.pid, signal.SIGTERM)  # its recorder finishes the event
    return _finished(lib, event_id, wait, progress)


def _close(lib: Library, event_id: str, wait: float, progress: Progress = SILENT) -> Event:
    """Finish an event nobody records, under its lock (a recorder resuming it meanwhile goes first)."""
    fd = take_lock(lib, event_id)
    if fd is None:
        return _finished(lib, event_id, wait, progress)
    try:
        event = load(lib, event_id)
        if event.video:
            return event
        if not any(t.fragments for t in event.takes):
            shutil.rmtree(events_dir(lib) / event.id, ignore_errors=True)
            raise NotFound(f"live event {event_id!r} recorded nothing; removed it")
        return finish(lib, event, progress)
    finally:
        os.close(fd)


def _finished(lib: Library, event_id: str, wait: float, progress: Progress = SILENT) -> Event:
    """Wait for the recorder to add the library video (or finish it here if the recorder died)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(POLL)
        event = load(lib, event_id)
        if event.video:
            return event
        if not recording(lib, event_id):  # the recorder died before it finished
            return _close(lib, event_id, max(0.0, deadline - time.monotonic()), progress)
    raise UsageError(f"live event {event_id!r} did not finish within {wait:g} s", hint="run vstream live stop again")


def clip(lib: Library, event_id: str, *, last: float | None = None, start: str | None = None,
         end: str | None = None, out: Path | None = None, loudest: float | None = None) -> dict[str, Any]:  # fmt: skip
    """A VOD playlist of an event's recorded fragments: the last N seconds, from/to (media seconds
    or wall-clock ISO times), or N seconds around the loudest moment so far. Written into the
    event's folder (or ``out``); returns what it holds."""
    event = load(lib, event_id)
    if loudest is not None:
        if last is not None or start or end:
            raise UsageError("give --loudest, --last, or --from/--to, one of them")
        start, end = (f"{t:.3f}" for t in loudest_range(lib, event, loudest))
    lo, hi, spans = clip_spans(event, last=last, start=start, end=end)
    folder = events_dir(lib) / event.id
    name = f"clip-{lo:.1f}-{hi:.1f}.m3u8".replace(".0-", "-").replace(".0.m3u8", ".m3u8")
    target = out or folder / "clips" / name
    target = target.absolute()
    prefix = os.path.relpath(folder, target.parent).replace(os.sep, "/") + "/"
    prefix = "" if prefix == "./" else prefix
    text = clip_playlist(event, spans, prefix)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, text, durable=False)
    first = spans[0].start
    duration = sum(f.duration for s in spans for f in s.fragments)
    return {"event": event.id, "playlist": str(target), "start": round(first, 3), "end": round(first + duration, 3),
            "duration": round(duration, 3), "requested": [round(lo, 3), round(hi, 3)], "live": event.status != "ended"}  # fmt: skip


def clip_spans(event: Event, *, last: float | None = None, start: str | None = None,
               end: str | None = None) -> tuple[float, float, list[Span]]:  # fmt: skip
    """The range asked for (event seconds) and the fragments covering it; :class:`NotYet` if not recorded yet."""
    recorded = event.duration
    if recorded <= 0:
        raise NotYet(f"not yet: nothing of {event.id} is recorded so far", hint="ask again in a few seconds",
                     retry_after=event.target)  # fmt: skip
    if last is not None:
        if start or end:
            raise UsageError("give --last, or --from/--to, not both")
        if last <= 0:
            raise UsageError("--last must be more than 0 seconds")
        lo, hi = max(0.0, recorded - last), recorded
    else:
        lo = _when(event, start) if start else 0.0
        hi = _when(event, end) if end else recorded
    if hi <= lo:
        raise UsageError(f"the clip {lo:.1f}-{hi:.1f} s is empty")
    if hi > recorded + 1e-6 and event.status == "ended":
        raise UsageError(f"{event.id} ended at {recorded:.1f} s; the clip ends at {hi:.1f} s",
                         hint=f"ask for a range inside 0-{recorded:.1f} s")  # fmt: skip
    if hi > recorded + 1e-6:
        raise NotYet(f"not yet: {event.id} holds {recorded:.1f} s so far, the clip ends at {hi:.1f} s",
                     hint=f"ask again in {hi - recorded:.0f} s", retry_after=hi - recorded)  # fmt: skip
    spans = select(event, lo, hi)
    if not spans:
        raise NotYet(f"not yet: nothing recorded of {event.id} at {lo:.1f}-{hi:.1f} s", retry_after=event.target)
    return lo, hi, spans


def loudest_range(lib: Library, event: Event, seconds: float) -> tuple[float, float]:
    """``seconds`` of the event around its loudest moment recorded so far (a crowd's roar), event
    seconds: :data:`BEFORE_PEAK` of it before the peak (the roar follows the play that caused it).
    Fragments the recorder has measured are not measured again."""
    from vstream.index.loudness import peaks
    from vstream.live_highlights import STEP, loudness

    if not 2 <= seconds <= 600:
        raise UsageError("--loudest must be 2..600 seconds")
    if event.duration <= 0:
        raise NotYet(f"not yet: nothing of {event.id} is recorded so far", retry_after=event.target)
    try:
        values = loudness(lib, event)  # the complete fragments only: the one being written is left out
    except MediaError as exc:
        raise UsageError(f"cannot measure the loudness of {event.id}: {exc.message}",
                         hint="--loudest needs the event's sound") from None  # fmt: skip
    found = peaks(values, limit=1, step=STEP)
    if not found:
        raise NotYet(f"not yet: {event.id} has been silent so far", retry_after=event.target)
    peak = found[0][0]
    recorded = event.duration
    lo = max(0.0, min(peak - seconds * BEFORE_PEAK, recorded - seconds))
    return lo, min(recorded, lo + seconds)


def _when(event: Event, text: str) -> float:
    """Media seconds from ``12.5`` or ``HH:MM:SS`` (event time) or an ISO wall-clock time."""
    from vstream.timecode import parse_time as parse_seconds

    value = text.strip()
    if "T" in value or value.count("-") >= 2:
        try:
            return media_time(event, parse_time(value))
        except ValueError:
            raise UsageError(f"{text!r} is not a time", hint="seconds, HH:MM:SS, or an ISO time like 2026-12-01T20:15:00Z") from None
    try:
        return parse_seconds(value)
    except (ValueError, UsageError):
        raise UsageError(f"{text!r} is not a time", hint="seconds, HH:MM:SS, or an ISO time like 2026-12-01T20:15:00Z") from None


class NotYet(NotFound):
    """What is asked for has not been recorded yet (serve: 425 Too Early)."""

    def __init__(self, message: str, hint: str | None = None, *, retry_after: float = 1.0):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after
