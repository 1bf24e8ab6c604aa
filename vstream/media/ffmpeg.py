"""Find ffmpeg, and run every ffmpeg command through one runner.

Commands are built elsewhere as plain argv lists (testable without running
anything); :func:`run` executes one, reports progress from ``-progress`` and turns
a failure into a :class:`~vstream.errors.MediaError` carrying ffmpeg's last
meaningful stderr line.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from vstream.errors import IOFailure, MediaError, MissingDependency

INSTALL_HINT = "install it with `apt-get install ffmpeg` (or `make setup`), or set VSTREAM_FFMPEG=/path/to/ffmpeg"


@dataclass(frozen=True)
class Tool:
    path: str
    source: str  # "VSTREAM_FFMPEG", "PATH" or "imageio-ffmpeg"


# ffmpeg's words for an operating-system failure while writing its output
OS_FAILURES = (
    ("No space left on device", "free space on the disk that holds the library (df -h), then run it again"),
    ("Read-only file system", "the library's disk is mounted read-only"),
    ("Disk quota exceeded", "this user's disk quota is full"),
)


def find_ffmpeg() -> Tool:
    """``VSTREAM_FFMPEG``, else ``ffmpeg`` on PATH, else the imageio-ffmpeg binary."""
    env = os.environ.get("VSTREAM_FFMPEG")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise MissingDependency(f"VSTREAM_FFMPEG={env} is not an executable file", hint=INSTALL_HINT)
        return Tool(env, "VSTREAM_FFMPEG")
    found = shutil.which("ffmpeg")
    if found:
        return Tool(found, "PATH")
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return Tool(imageio_ffmpeg.get_ffmpeg_exe(), "imageio-ffmpeg")
    except Exception:  # noqa: BLE001 - any failure means "not available"
        pass
    raise MissingDependency("ffmpeg was not found", hint=INSTALL_HINT)


def find_ffprobe() -> Tool | None:
    """ffprobe beside the ffmpeg in use, else on PATH (vstream itself probes with PyAV)."""
    ff = find_ffmpeg()
    sibling = Path(ff.path).with_name("ffprobe")
    if sibling.is_file():
        return Tool(str(sibling), ff.source)
    found = shutil.which("ffprobe")
    return Tool(found, "PATH") if found else None


def version(binary: str) -> str:
    out = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False).stdout
    first = out.splitlines()[0] if out else ""
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[1] == "version" else first


_NOISE = ("Conversion failed", "Exiting normally", "Press [q]")


def last_error_line(stderr: str) -> str:
    """The most useful line of ffmpeg's stderr: the last one that says something."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.startswith(_NOISE):
            return line
    return lines[-1] if lines else "ffmpeg failed without a message"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the child gets SIGKILL when vstream dies, so a killed ingest leaves no orphan ffmpeg."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Running:
    """An ffmpeg process started by :func:`start`; :meth:`wait` returns its stderr or raises."""

    def __init__(
        self,
        argv: list[str],
        duration: float | None,
        on_progress: Callable[[float], None] | None,
        what: str,
        on_line: Callable[[str], None] | None = None,
    ):
        self.what = what
        if on_progress and duration:
            argv[1:1] = ["-progress", "pipe:1", "-nostats"]
        with warnings.catch_warnings():
            # lancedb warns on any fork once loaded; this child only calls prctl() and execs ffmpeg
            warnings.filterwarnings("ignore", message="lancedb fork support", category=RuntimeWarning)
            self.proc = self._spawn(argv)
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=lambda: self._stderr.append(self.proc.stderr.read()), daemon=True),
            threading.Thread(target=self._read_stdout, args=(duration, on_progress, on_line), daemon=True),
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _spawn(argv: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def _read_stdout(self, duration, on_progress, on_line) -> None:
        for line in self.proc.stdout:
            if on_line is not None:
                on_line(line)
            elif on_progress and duration and line.startswith("out_time_us="):
                value = line.split("=", 1)[1].strip()
                if value.isdigit():
                    on_progress(min(1.0, int(value) / 1e6 / duration))

    def wait(self) -> str:
        try:
            self.proc.wait()
        except BaseException:
            self.kill()
            raise
        for t in self._threads:
            t.join()
        stderr = "".join(self._stderr)
        if self.proc.returncode != 0:
            for words, hint in OS_FAILURES:  # the disk, not the media: say so, with the I/O exit code
                if words in stderr:
                    raise IOFailure(f"{self.what} failed: {words.lower()}", hint=hint)
            raise MediaError(f"{self.what} failed: {last_error_line(stderr)}")
        return stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def start(
    argv: Sequence[str],
    *,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    what: str = "ffmpeg",
    on_line: Callable[[str], None] | None = None,
) -> Running:
    """Start an ffmpeg argv (``argv[0]`` is the binary) in the background.

    With ``duration`` and ``on_progress`` the command gets ``-progress pipe:1`` and
    ``on_progress`` receives the fraction done (from a reader thread); otherwise
    ``on_line`` receives each line ffmpeg writes to stdout.
    """
    return Running(list(argv), duration, on_progress, what, on_line)


def run(
    argv: Sequence[str],
    *,
    duration: float | None = None,
    on_progress: Callable[[float], None] | None = None,
    what: str = "ffmpeg",
    on_line: Callable[[str], None] | None = None,
) -> str:
    """Run an ffmpeg argv to completion. Returns stderr; raises MediaError with ffmpeg's useful line."""
    return start(argv, duration=duration, on_progress=on_progress, what=what, on_line=on_line).wait()
