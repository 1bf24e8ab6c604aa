"""Recording benchmark lines: every bench/*.py prints its figures and, with --record, appends them here.

Each recorded block says when, on what machine and with which package versions it was
measured (the versions constraints.txt pins), so a figure can be reproduced on a fresh install.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PACKAGES = ("vstream", "lancedb", "pylance", "pyarrow", "numpy", "onnxruntime", "faster-whisper", "ctranslate2", "av")


def environment() -> str:
    """``2026-12-01, 2 CPUs (model), Python 3.11.7, ffmpeg 5.1.x; lancedb 0.40.0, ...`` for a results line."""
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    try:
        ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split()[2]
    except (OSError, IndexError):
        ffmpeg = "?"
    cpu = "?"
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                   if ln.startswith("model name"))  # fmt: skip
    except (OSError, StopIteration):
        pass
    return (f"{datetime.date.today().isoformat()}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"ffmpeg {ffmpeg}; " + ", ".join(versions))  # fmt: skip


def record(lines: list[str]) -> None:
    """Append ``lines`` to bench/RESULTS.md as list items, under a line naming the environment."""
    with RESULTS.open("a") as fh:
        fh.write(f"\nMeasured {environment()}:\n\n")
        fh.write("".join(f"- {line}\n" for line in lines))


def report(lines: list[str], keep: bool) -> None:
    """Print a benchmark's result lines; with ``keep`` (``--record``) also append them to RESULTS.md."""
    print("\n".join(lines))
    if keep:
        record(lines)
