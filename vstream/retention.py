"""Published media outlives the streams that point at it.

A re-ingest or ``vstream remove`` never deletes a video's media at once: the folder is
*retired* (a catalog row, in the same transaction that drops the video), because composed
streams, ``search --playlist`` reels and the playlists players already loaded still name
its byte ranges. ``vstream gc`` sweeps: a retired folder goes once no playlist in the
library references it (mark: every ``*.m3u8`` outside ``media/``) and its grace period
has passed (for players mid-playback and playlists kept outside the library, which no
scan can see). ``vstream doctor`` reports playlists whose media is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vstream.library import Library

DEFAULT_GRACE = 24 * 3600.0  # seconds a retired folder is kept even when nothing in the library names it
_REF = re.compile(r"(?:^|/)(media/[A-Za-z0-9._-]+)/[^/\s?#]+")
SKIP = {"media", "index", "cache"}  # top-level folders that hold no published playlists


@dataclass
class Swept:
    media_dir: str
    video_id: str
    retired_at: float
    status: str  # deleted | kept
    reason: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def playlists(lib: Library) -> list[Path]:
    """The library's published playlists: composed streams, reels and any other ``*.m3u8`` outside media/."""
    found = []
    for top in sorted(lib.root.iterdir()) if lib.root.is_dir() else ():
        if top.name in SKIP or top.name.startswith("."):
            continue
        if top.is_file() and top.suffix == ".m3u8":
            found.append(top)
        elif top.is_dir():
            for folder, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found.extend(Path(folder) / f for f in files if f.endswith(".m3u8"))
    return found


def references(lib: Library) -> dict[str, list[str]]:
    """``{media_dir: [playlists that name it]}`` (library-relative), from every published playlist."""
    refs: dict[str, list[str]] = {}
    for path in playlists(lib):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        rel = path.relative_to(lib.root).as_posix()
        for media_dir in sorted({m.group(1) for m in _REF.finditer(text)}):
            refs.setdefault(media_dir, []).append(rel)
    return refs


def dangling(lib: Library) -> dict[str, list[str]]:
    """Playlists whose media folder no longer exists: ``{media_dir: [playlists]}``."""
    return {d: ps for d, ps in references(lib).items() if not (lib.root / d).is_dir()}


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def gc(lib: Library, *, grace: float = DEFAULT_GRACE, dry_run: bool = False, wait: float = 600.0) -> list[Swept]:
    """Delete retired media no published playlist references once ``grace`` seconds have passed."""
    if grace < 0:
        from vstream.errors import UsageError

        raise UsageError("--grace must not be negative")
    out: list[Swept] = []
    with lib.writing(wait=wait):
        refs = references(lib)
        now = time.time()
        doomed = []
        for row in lib.retired():
            media_dir, age = row["media_dir"], now - row["retired_at"]
            size = folder_bytes(lib.root / media_dir)
            users = refs.get(media_dir, [])
            if users:
                status, reason = "kept", f"{len(users)} playlist(s) play it, e.g. {users[0]}"
            elif age < grace:
                status, reason = "kept", f"retired {_ago(age)} ago; kept {_ago(grace)} for players mid-playback"
            else:
                status, reason = "deleted", "no playlist in the library plays it"
                doomed.append(media_dir)
            out.append(Swept(media_dir, row["video_id"], row["retired_at"], status, reason, size))
        if doomed and not dry_run:
            db = lib.db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM retired WHERE media_dir=?", [(d,) for d in doomed])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            for media_dir in doomed:  # after the commit: a crash here leaves folders the next writer sweeps
                shutil.rmtree(lib.root / media_dir, ignore_errors=True)
    if dry_run:
        for s in out:
            if s.status == "deleted":
                s.status = "would delete"
    return out


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``12h``, ``7d`` -> seconds."""
    from vstream.errors import UsageError

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m:
        raise UsageError(f"bad duration {text!r}", hint="write e.g. 90s, 15m, 12h or 7d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _ago(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
