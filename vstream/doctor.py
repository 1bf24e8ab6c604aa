"""What `vstream doctor` checks: programs, packages, models, the library."""

from __future__ import annotations

import importlib.metadata
import os
from typing import Any

from vstream.errors import VstreamError

# (distribution, import purpose, required)
PACKAGES = [
    ("typer", "command line", True),
    ("rich", "terminal output", True),
    ("av", "probing and keyframe tables (PyAV)", True),
    ("m3u8", "playlist parsing", True),
    ("ffmpeg-python", "filter graphs", True),
    ("PyYAML", "recipes", True),
    ("xxhash", "content identity", True),
]


def _check(name: str, status: str, detail: str, fix: str | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "detail": detail, "fix": fix}


def diagnose(library: str | None = None) -> dict[str, Any]:
    from vstream.media import ffmpeg as ff

    checks = []
    try:
        tool = ff.find_ffmpeg()
        checks.append(_check("ffmpeg", "ok", f"{ff.version(tool.path)} at {tool.path} (from {tool.source})"))
    except VstreamError as exc:
        checks.append(_check("ffmpeg", "missing", exc.message, exc.hint))
    for dist, purpose, required in PACKAGES:
        try:
            checks.append(_check(dist, "ok", f"{importlib.metadata.version(dist)} ({purpose})"))
        except importlib.metadata.PackageNotFoundError:
            checks.append(_check(dist, "missing" if required else "optional", f"not installed ({purpose})",
                                 f"pip install {dist}"))  # fmt: skip
    checks.extend(_library_checks(library))
    ok = all(c["status"] in ("ok", "optional") for c in checks)
    return {"ok": ok, "checks": checks}


def _library_checks(library: str | None) -> list[dict[str, Any]]:
    from vstream.library import MARKER, Library, resolve_path

    root = resolve_path(library)
    if not (root / MARKER).exists():
        return [_check("library", "optional", f"none yet at {root}", "`vstream init` or `vstream ingest FILE` creates it")]
    try:
        with Library.open(root) as lib:
            health = lib.health()
    except VstreamError as exc:
        return [_check("library", "problem", str(exc), exc.hint)]
    if health["problems"]:
        return [_check("library", "problem", f"{root}: " + "; ".join(health["problems"][:3]),
                       "re-ingest the affected videos with --force, or remove them")]  # fmt: skip
    return [_check("library", "ok", f"{root}: layout {health['layout']}, {health['videos']} videos")]


def env_summary() -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in ("VSTREAM_LIBRARY", "VSTREAM_FFMPEG")}
