"""The library directory: the unit of state every command shares.

Layout (version :data:`LAYOUT`)::

    LIBRARY/
      library.json       format marker + layout version (written atomically)
      catalog.sqlite     videos, tags (SQLite in WAL mode: readers never block)
      media/<id>-<token>/  one directory per ingested video: media file, index.m3u8, thumb.jpg
      media/.stage-*/    work in progress; a stage whose owner died is removed by the next writer
      .lock              advisory writer lock (flock)

Consistency: media is written into a stage directory, then renamed into
``media/`` and recorded in the catalog inside one critical section under the
writer lock. A process killed anywhere leaves either an unreferenced directory
(removed by the next writer) or a complete, recorded video.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import sqlite3
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from vstream import __version__
from vstream.errors import LayoutError, LibraryBusy, NotFound, UsageError

LAYOUT = 1
MARKER = "library.json"
DEFAULT_DIR = "vstream-library"
ENV_VAR = "VSTREAM_LIBRARY"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id          TEXT PRIMARY KEY,
    content_hash      TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,
    source_size INTEGER NOT NULL,
    source_mtime_ns INTEGER NOT NULL,
    media_dir   TEXT NOT NULL,
    format      TEXT NOT NULL,
    duration    REAL NOT NULL,
    ingested_at TEXT NOT NULL,
    meta        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS videos_source ON videos(source);
CREATE TABLE IF NOT EXISTS tags (
    video_id TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (video_id, key)
);
CREATE INDEX IF NOT EXISTS tags_kv ON tags(key, value);
CREATE TABLE IF NOT EXISTS index_state (
    video_id    TEXT NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    media_dir   TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    seconds     REAL NOT NULL,
    indexed_at  TEXT NOT NULL,
    PRIMARY KEY (video_id, stage)
);
CREATE TABLE IF NOT EXISTS retired (
    media_dir   TEXT PRIMARY KEY,
    video_id    TEXT NOT NULL,
    retired_at  REAL NOT NULL
);
"""


REMOTE_SCHEME = "s3://"


def is_remote(location: object) -> bool:
    """An ``s3://`` library (vstream.storage) rather than a directory; decided without importing it."""
    return isinstance(location, str) and location.startswith(REMOTE_SCHEME)


def resolve_path(option: str | os.PathLike[str] | None = None) -> Path:
    """``--library``, else ``$VSTREAM_LIBRARY``, else ``./vstream-library``."""
    value = option or os.environ.get(ENV_VAR) or DEFAULT_DIR
    return Path(value).expanduser().absolute()


def atomic_write(path: Path, data: bytes | str, *, durable: bool = True) -> None:
    """Write to a temp name in the same directory, fsync (unless ``durable=False``), rename over the target.

    Readers see the old file or the new one, never a torn one, either way; ``durable=False``
    is for files vstream can regenerate (personal playlists), where an fsync each would cost
    more than composing them.
    """
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def fsync_tree(folder: Path) -> None:
    """Make a folder's files and entries durable: what a commit record points at must survive power loss."""
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def slugify(name: str) -> str:
    """A stable, URL- and path-safe id from a file name: ``"My Talk (2).mp4"`` -> ``my-talk-2``."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text[:64].strip("-") or "video"


ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_id(video_id: str) -> str:
    if not ID_RE.match(video_id):
        raise UsageError(
            f"invalid video id {video_id!r}",
            hint="use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return video_id


@dataclass
class Video:
    id: str
    content_hash: str
    source: str
    source_size: int
    source_mtime_ns: int
    media_dir: str  # relative to the library root
    format: str
    duration: float
    ingested_at: str
    meta: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        probe = self.meta.get("probe", {})
        video = probe.get("video") or {}
        width, height = display_size(video)
        return {
            "id": self.id,
            "duration": round(self.duration, 3),
            "format": self.format,
            "resolution": f"{width}x{height}" if video else None,  # as players show it (rotation applied)
            "orientation": ("portrait" if height > width else "landscape" if width > height else "square") if video else None,
            "rotation": video.get("rotation", 0) if video else 0,
            "segments": self.meta.get("segment_count") or len(self.meta.get("segments", [])),
            "tags": dict(self.tags),
            "source": self.source,
            "ingested_at": self.ingested_at,
        }


def display_size(video: dict[str, Any]) -> tuple[int | None, int | None]:
    """A probed video stream's width and height as players show it (a 90/270 rotation swaps them)."""
    w, h = video.get("width"), video.get("height")
    return (h, w) if video.get("rotation", 0) in (90, 270) else (w, h)


# Every audio track vstream makes (silence, --transcode, --resample-audio) is AAC at this rate: players
# that keep the first clip's init section (ffmpeg, GStreamer's playbin) play every clip's sound at its rate.
AUDIO_RATE = 48000


def stored_audio_rate(meta: dict[str, Any]) -> int | None:
    """The sample rate of a video's stored audio track: its source's when copied; :data:`AUDIO_RATE`
    when vstream made the track (silence, --transcode, --resample-audio); None if unknown."""
    stream = meta.get("stream") or {}
    if stream.get("audio_source") in ("encode", "silence"):
        return AUDIO_RATE
    return (stream.get("audio") or {}).get("sample_rate")


# A video's per-keyframe tables: in the catalog row of a local library; beside the media, in
# TABLES_FILE, for a library on object storage, whose catalog is uploaded whole at every commit
# (they are ~0.1 MB per hour of video: 1 GB of catalog for a 10,000-hour archive otherwise).
TABLES = ("keyframes", "gops", "segments")
TABLES_FILE = "tables.json"


class VideoMeta(dict):
    """A video's ``meta``; its :data:`TABLES` are read from their file on first use when not inline."""

    def __init__(self, data: dict[str, Any], load: Callable[[], dict[str, Any]] | None = None):
        super().__init__(data)
        self._load = load

    def _fill(self) -> None:
        if self._load is not None:
            load, self._load = self._load, None
            self.update(load())

    def __missing__(self, key: str) -> Any:
        if key in TABLES and self._load is not None:
            self._fill()
            return self[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in TABLES and key not in self:
            self._fill()
        return super().get(key, default)


class Library:
    """An open library directory. Cheap to create; reads never take the writer lock."""

    def __init__(self, root: Path, remote=None):
        self.root = Path(root)
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._searcher = None  # what search() keeps warm between calls
        # on object storage (vstream.storage): root is this machine's mirror of the remote library
        self.remote = remote
        self.mirror = None
        self.generation = 0  # moves when a pull replaced the catalog (its data_version starts over)
        self._pulled_at = 0.0
        self._pulled_videos: dict[str, str] = {}  # id -> media_dir when the writer lock was taken
        self.dead_files: list[str] = []  # library-relative files deleted locally: the next push deletes them remotely
        if remote is not None:
            from vstream.storage import Mirror

            self.mirror = Mirror(self.root, remote)

    @property
    def location(self) -> str:
        """What users call the library: its directory, or its s3:// URL."""
        return self.remote.url if self.remote is not None else str(self.root)

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, *, create: bool = False) -> "Library":
        value = path or os.environ.get(ENV_VAR)
        if is_remote(str(value) if value else None):
            return cls._open_remote(str(value), create=create)
        root = resolve_path(path)
        lib = cls(root)
        marker = root / MARKER
        if not marker.exists():
            if not create:
                raise NotFound(
                    f"no vstream library at {root}",
                    hint="run `vstream init` or `vstream ingest FILE` to create one, or pass --library DIR",
                )
            lib._create()
        lib._check_layout()
        return lib

    @classmethod
    def _open_remote(cls, url: str, *, create: bool) -> "Library":
        from vstream.storage import Remote, mirror_dir

        remote = Remote(url)
        root = mirror_dir(url)
        root.mkdir(parents=True, exist_ok=True)
        lib = cls(root, remote)
        if not lib.refresh(max_age=0, wait=60 if not (root / MARKER).exists() else 0):
            if not create:
                raise NotFound(f"no vstream library at {remote.url}",
                               hint="run `vstream init --library URL` or `vstream ingest FILE --library URL` to create one")  # fmt: skip
            lib._forget_mirror()  # of a library that was deleted from the bucket: nothing of it may come back
            lib._create()
        lib._check_layout()
        return lib

    def _forget_mirror(self) -> None:
        from vstream.storage import Mirror

        for entry in self.root.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            elif entry.name != ".lock":
                entry.unlink()
        self.mirror = Mirror(self.root, self.remote)

    def refresh(self, *, max_age: float = 0, wait: float = 0) -> bool:
        """On object storage: fetch the catalog if it changed remotely (at most every ``max_age`` s).

        Takes this machine's writer lock for the swap (a local writer is pushing fresher data
        anyway, so with ``wait=0`` a busy lock skips the pull). False when there is no library there.
        """
        if self.mirror is None:
            return True
        if max_age and time.monotonic() - self._pulled_at < max_age:
            return True
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not try_flock(fd, wait):
                return (self.root / MARKER).exists()
            return self._pull()
        finally:
            os.close(fd)

    def _pull(self) -> bool:
        before = self.mirror.state["etags"].get("catalog.sqlite")
        exists = self.mirror.pull()
        if exists and self.mirror.state["etags"].get("catalog.sqlite") != before:
            self._db = None  # not closed: another thread may be mid-query on the old file, which it keeps
            self.generation += 1
        self._pulled_at = time.monotonic()
        return exists

    def media_dirs(self) -> dict[str, str]:
        """Every kept media folder: each video's (by id) and each retired one's (``retired:DIR``)."""
        dirs = {r[0]: r[1] for r in self.db.execute("SELECT id, media_dir FROM videos")}
        dirs.update({f"retired:{r['media_dir']}": r["media_dir"] for r in self.retired()})
        return dirs

    def retired(self) -> list[sqlite3.Row]:
        """Media that a re-ingest or remove superseded, kept for the streams that may still play it."""
        try:
            return self.db.execute("SELECT * FROM retired ORDER BY retired_at").fetchall()
        except sqlite3.OperationalError:  # a catalog from before retirement existed (nothing retired)
            return []

    def data_version(self) -> tuple[int, int]:
        """Changes whenever the catalog does, whoever changed it (for caches of what it holds)."""
        return (self.generation, self.db.execute("PRAGMA data_version").fetchone()[0])

    def _push(self, lock) -> None:
        """Under the remote lock: upload what this command wrote, then the catalog, then delete what it orphaned."""
        if lock.lost:
            raise LibraryBusy(f"lost the lock of {self.location} (renewal failed); nothing was published",
                              hint="check the connection to the object store and run the command again")  # fmt: skip
        snapshot = self.root / ".catalog.push.sqlite"
        snapshot.unlink(missing_ok=True)
        dst = sqlite3.connect(snapshot)
        try:
            self.db.backup(dst)
        finally:
            dst.close()
        now = self.media_dirs()
        before = self._pulled_videos
        kept = set(now.values())
        dead = set(before.values()) - kept
        gone = sorted(v for v in set(before) - set(now) if not v.startswith("retired:"))
        if lock.took_over:  # a writer died here: sweep what it may have uploaded without a catalog
            dead |= {"/".join(o["path"].split("/")[:2]) for o in self.remote.list("media/")} - kept
        folders = sorted(dead) + [f"index/{kind}/{vid}" for vid in gone for kind in ("thumbs", "faces")]
        keys = [f"index/transcripts/{vid}.{ext}" for vid in gone for ext in ("vtt", "json")] + self.dead_files
        try:
            self.mirror.push(snapshot, folders, keys)
            self.dead_files = []
        finally:
            snapshot.unlink(missing_ok=True)

    def _create(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} exists and is not a directory", hint="choose another --library path")
        self.root.mkdir(parents=True, exist_ok=True)
        with self.writing(wait=30):  # two first writers (two cron jobs) may race to create it
            if (self.root / MARKER).exists():
                return
            ours = {".lock", ".remote.json", ".unpublished", "media", "catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "catalog.sqlite-journal"}
            foreign = [p.name for p in self.root.iterdir()
                       if p.name not in ours and not (p.name.startswith(f".{MARKER}.") and p.name.endswith(".tmp"))]  # fmt: skip
            if foreign:
                raise UsageError(
                    f"{self.root} is not empty and is not a vstream library",
                    hint="choose an empty or new directory for --library",
                )
            (self.root / "media").mkdir(exist_ok=True)
            # persistent: readers never block writers. A mirror of a remote library is replaced by
            # rename when the remote catalog changes, which a WAL file beside it would not survive.
            self.db.execute("PRAGMA journal_mode=" + ("DELETE" if self.remote is not None else "WAL"))
            self.db.executescript(_SCHEMA)
            self.db.execute(f"PRAGMA user_version = {LAYOUT}")
            self.db.commit()
            marker = {"format": "vstream-library", "layout": LAYOUT, "created_with": __version__}
            atomic_write(self.root / MARKER, json.dumps(marker, indent=2) + "\n")

    def _check_layout(self) -> None:
        try:
            marker = json.loads((self.root / MARKER).read_text())
            layout = int(marker["layout"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LayoutError(
                f"{self.root / MARKER} is unreadable or damaged ({exc})",
                hint="restore it from a backup; vstream will not guess the layout",
            ) from exc
        if layout > LAYOUT:
            raise LayoutError(
                f"library {self.root} has layout {layout}, newer than this vstream ({__version__}) understands ({LAYOUT})",
                hint="upgrade vstream: pip install -U vstream",
            )
        if layout < LAYOUT:
            raise LayoutError(
                f"library {self.root} has layout {layout}, older than this vstream's ({LAYOUT})",
                hint="open it with the vstream that wrote it, or ingest its sources into a new library",
            )

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            # check_same_thread=False: `vstream serve` uses one Library from its worker threads, one at a time
            db = sqlite3.connect(self.root / "catalog.sqlite", timeout=60, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: no corruption on power loss
            if self.remote is not None:  # a mirror's catalog is replaced by rename: no WAL beside it
                db.execute("PRAGMA journal_mode=DELETE")
            db.row_factory = sqlite3.Row
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the writer lock -----------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, *, wait: float = 600, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the library's writer lock. Re-entrant within one Library object.

        Waits up to ``wait`` seconds (calling ``on_wait`` once with who holds it),
        then raises :class:`LibraryBusy`. Also removes stale work of dead writers.
        """
        if self._lock_fd is not None:
            yield
            return
        self.root.mkdir(parents=True, exist_ok=True)
        remote_lock = None
        if self.remote is not None:
            from vstream.storage import RemoteLock

            remote_lock = RemoteLock(self.remote)
            remote_lock.acquire(wait, on_wait)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not try_flock(fd, 0):
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                if on_wait and wait > 0:
                    on_wait(f"waiting for the library lock held by {holder} (up to {wait:g}s)")
                if not try_flock(fd, wait):
                    raise LibraryBusy(f"library busy: {self.root} is locked by {holder}",
                                      hint="wait for it to finish or pass a longer --wait")  # fmt: skip
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            self._lock_fd = fd
            if remote_lock is not None:
                self._pull()  # what other machines committed before we got the lock
                self.mirror.begin_write()
            if (self.root / MARKER).exists():
                self.db.executescript(_SCHEMA)  # tables added within this layout version (IF NOT EXISTS)
            if remote_lock is not None:  # what the push compares with, to delete what this command orphaned
                self._pulled_videos = self.media_dirs() if (self.root / MARKER).exists() else {}
            self._remove_stale()
            yield
            if remote_lock is not None:
                self._push(remote_lock)
        finally:
            if self._lock_fd == fd:
                self._lock_fd = None
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)  # closing releases the flock
            if remote_lock is not None:
                remote_lock.release()

    def _remove_stale(self) -> None:
        """Under the writer lock: drop dead writers' stages and media no catalog row points at."""
        media = self.root / "media"
        if not media.is_dir() or not (self.root / MARKER).exists():
            return
        referenced = set(self.media_dirs().values())  # videos' media, and retired media kept for streams
        for entry in media.iterdir():
            rel = f"media/{entry.name}"
            if entry.name.startswith(".stage-"):
                if not _stage_alive(entry):
                    shutil.rmtree(entry, ignore_errors=True)
            elif entry.is_dir() and rel not in referenced:
                shutil.rmtree(entry, ignore_errors=True)

    # --- staging -------------------------------------------------------------------------

    @contextlib.contextmanager
    def stage(self) -> Iterator[Path]:
        """A private work directory under media/, alive while this process holds its lock."""
        media = self.root / "media"
        media.mkdir(parents=True, exist_ok=True)
        path = media / f".stage-{secrets.token_hex(6)}"
        path.mkdir()
        fd = os.open(path / ".owner", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            os.close(fd)
            shutil.rmtree(path, ignore_errors=True)

    # --- reading -------------------------------------------------------------------------

    def _video(self, row: sqlite3.Row) -> Video:
        tags = {k: v for k, v in self.db.execute("SELECT key, value FROM tags WHERE video_id=? ORDER BY key", (row["id"],))}
        meta = json.loads(row["meta"])
        if meta.get("tables_file"):
            rel = f"{row['media_dir']}/{meta['tables_file']}"
            meta = VideoMeta(meta, lambda: json.loads(self._file(rel).read_text()))
        return Video(
            id=row["id"],
            content_hash=row["content_hash"],
            source=row["source"],
            source_size=row["source_size"],
            source_mtime_ns=row["source_mtime_ns"],
            media_dir=row["media_dir"],
            format=row["format"],
            duration=row["duration"],
            ingested_at=row["ingested_at"],
            meta=meta,
            tags=tags,
        )

    def get(self, video_id: str) -> Video:
        row = self.db.execute("SELECT * FROM videos WHERE id=?", (video_id,)).fetchone()
        if row is None:
            raise NotFound(f"no video {video_id!r} in {self.root}", hint=self._suggest(video_id))
        return self._video(row)

    def _suggest(self, video_id: str) -> str:
        import difflib

        ids = [r[0] for r in self.db.execute("SELECT id FROM videos ORDER BY id")]
        close = difflib.get_close_matches(video_id, ids, n=3, cutoff=0.5)
        if close:
            return "did you mean " + ", ".join(close) + "?"
        return "see `vstream list`" if ids else "the library is empty: ingest videos first"

    def find_by_hash(self, content_hash: str) -> Video | None:
        row = self.db.execute("SELECT * FROM videos WHERE content_hash=?", (content_hash,)).fetchone()
        return self._video(row) if row else None

    def find_unchanged(self, source: str, size: int, mtime_ns: int) -> Video | None:
        """The video ingested from this exact file, if its size and mtime are unchanged (no hashing)."""
        row = self.db.execute(
            "SELECT * FROM videos WHERE source=? AND source_size=? AND source_mtime_ns=?", (source, size, mtime_ns)
        ).fetchone()
        return self._video(row) if row else None

    def find_by_source(self, source: str) -> Video | None:
        row = self.db.execute("SELECT * FROM videos WHERE source=? ORDER BY ingested_at DESC", (source,)).fetchone()
        return self._video(row) if row else None

    def videos(self, tags: dict[str, str] | None = None) -> list[Video]:
        """Videos whose tags match ``tags`` (see :func:`tag_matches`: exact values, or ``<3``, ``>=2``, ``!=x``, ``*``)."""
        exact = {k: v for k, v in (tags or {}).items() if tag_filter(v)[0] == "="}
        sql, args = "SELECT * FROM videos", []
        for i, (key, value) in enumerate(exact.items()):
            sql += " WHERE" if i == 0 else " AND"
            sql += " id IN (SELECT video_id FROM tags WHERE key=? AND value=?)"
            args += [key, tag_filter(value)[1]]
        videos = [self._video(r) for r in self.db.execute(sql + " ORDER BY id", args)]
        return [v for v in videos if tag_matches(v.tags, tags or {})]

    def search(self, query: str, **options: Any):
        """Moments for ``query`` (see :class:`vstream.search.SearchOptions` for the options); best first."""
        from vstream.search import SearchOptions, Searcher

        if self._searcher is None:
            self._searcher = Searcher(self)
        return self._searcher.search(query, SearchOptions(**options)).moments

    def path(self, video: Video, name: str) -> Path:
        """A file of a video's media folder; on object storage, fetched into the mirror on first use."""
        return self._file(f"{video.media_dir}/{name}")

    def _file(self, rel: str) -> Path:
        return self.mirror.ensure(rel) if self.mirror is not None else self.root / rel

    # --- writing (callers hold ``writing()``) ---------------------------------------------

    def unique_id(self, wanted: str, *, content_hash: str | None = None) -> str:
        """``wanted`` if free (or already this content's), else ``wanted-2``, ``wanted-3``..."""
        candidate, n = wanted, 1
        while True:
            row = self.db.execute("SELECT content_hash FROM videos WHERE id=?", (candidate,)).fetchone()
            if row is None or (content_hash is not None and row[0] == content_hash):
                return candidate
            n += 1
            suffix = f"-{n}"
            candidate = wanted[: 64 - len(suffix)] + suffix

    def commit_video(self, video: Video, stage: Path, *, replaces: Video | None = None) -> Video:
        """Move a finished stage into place and record it, atomically with respect to readers."""
        assert self._lock_fd is not None, "commit_video needs the writer lock"
        media_dir = f"media/{video.id}-{secrets.token_hex(4)}"
        (stage / ".owner").unlink(missing_ok=True)
        stored = dict(video.meta)
        if self.remote is not None:  # the catalog stays small: it is uploaded whole at every commit
            tables = {k: stored.pop(k) for k in TABLES if k in stored}
            atomic_write(stage / TABLES_FILE, json.dumps(tables, separators=(",", ":")))
            stored["tables_file"] = TABLES_FILE
        fsync_tree(stage)  # ingest flushed the media file while ffmpeg wrote it: little is left
        os.rename(stage, self.root / media_dir)
        fsync_dir(self.root / "media")
        stage.mkdir()  # stage() removes its directory on exit; give it an empty one
        video.media_dir = media_dir
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            if replaces is not None:
                db.execute("DELETE FROM videos WHERE id=?", (replaces.id,))
                if replaces.media_dir != media_dir:  # published streams may still play it: `vstream gc` decides
                    self._retire(replaces)
            db.execute(
                "INSERT INTO videos (id, content_hash, source, source_size, source_mtime_ns, media_dir, format, duration,"
                " ingested_at, meta) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    video.id,
                    video.content_hash,
                    video.source,
                    video.source_size,
                    video.source_mtime_ns,
                    media_dir,
                    video.format,
                    video.duration,
                    video.ingested_at,
                    json.dumps(stored, separators=(",", ":")),
                ),
            )
            db.executemany(
                "INSERT INTO tags (video_id, key, value) VALUES (?,?,?)",
                [(video.id, k, v) for k, v in sorted(video.tags.items())],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            shutil.rmtree(self.root / media_dir, ignore_errors=True)
            raise
        return video

    def _retire(self, video: Video) -> None:
        """In the caller's transaction: keep ``video``'s media for the streams that point at it."""
        self.db.execute("INSERT OR REPLACE INTO retired (media_dir, video_id, retired_at) VALUES (?,?,?)",
                        (video.media_dir, video.id, time.time()))  # fmt: skip

    def set_tags(self, video_id: str, tags: dict[str, str], remove: list[str] = ()) -> Video:
        self.get(video_id)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM tags WHERE video_id=? AND key=?", [(video_id, k) for k in remove])
            db.executemany(
                "INSERT INTO tags (video_id, key, value) VALUES (?,?,?)"
                " ON CONFLICT(video_id, key) DO UPDATE SET value=excluded.value",
                [(video_id, k, v) for k, v in tags.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return self.get(video_id)

    def rename(self, old: str, new: str) -> Video:
        """Give a video another id (under the writer lock). Its media stays; its index rows go, so the
        next ``vstream index`` indexes it under the new id (the rows, thumbnails and transcripts name it)."""
        assert self._lock_fd is not None, "rename needs the writer lock"
        video = self.get(old)
        new = check_id(new)
        if new == video.id:
            return video
        taken = self.db.execute("SELECT source FROM videos WHERE id=?", (new,)).fetchone()
        if taken:
            raise UsageError(f"id {new!r} is already used by {taken[0]}", hint="choose another id")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("PRAGMA defer_foreign_keys = ON")  # the parent and its children change in one commit
            db.execute("UPDATE videos SET id=? WHERE id=?", (new, video.id))
            db.execute("UPDATE tags SET video_id=? WHERE video_id=?", (new, video.id))
            db.execute("DELETE FROM index_state WHERE video_id=?", (video.id,))
            from vstream import people

            people.rename_video(db, video.id, new)  # named faces stay named under the new id
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        shutil.rmtree(self.root / "index" / "thumbs" / video.id, ignore_errors=True)
        shutil.rmtree(self.root / "index" / "faces" / video.id, ignore_errors=True)  # who they are stays (catalog)
        for ext in ("vtt", "json"):
            (self.root / "index" / "transcripts" / f"{video.id}.{ext}").unlink(missing_ok=True)
        subtitles = self.root / "subtitles" / video.id  # the user's files: they follow the video
        if subtitles.is_dir() and not (self.root / "subtitles" / new).exists():
            os.replace(subtitles, self.root / "subtitles" / new)
        from vstream.index.store import Store

        store = Store(self)
        if store.exists():  # rows of a killed rename are swept by the next index run (unknown ids)
            store.delete_video(video.id)
        return self.get(new)

    def remove(self, video_id: str) -> Video:
        video = self.get(video_id)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM videos WHERE id=?", (video_id,))  # index_state rows cascade
            from vstream import people

            people.drop_video(db, video_id)
            self._retire(video)  # its media stays while published streams point at it (`vstream gc`)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        shutil.rmtree(self.root / "index" / "thumbs" / video_id, ignore_errors=True)
        shutil.rmtree(self.root / "index" / "faces" / video_id, ignore_errors=True)
        shutil.rmtree(self.root / "subtitles" / video_id, ignore_errors=True)  # composed streams hold copies
        from vstream.index.store import Store

        store = Store(self)
        if store.exists():  # rows of a killed remove are swept by the next index run
            store.delete_video(video_id)
        return video

    # --- index state ---------------------------------------------------------------------

    def index_state(self, video_id: str) -> dict[str, dict[str, Any]]:
        """``{stage: {fingerprint, media_dir, rows, seconds, indexed_at}}`` for one video."""
        try:
            rows = self.db.execute("SELECT * FROM index_state WHERE video_id=?", (video_id,)).fetchall()
        except sqlite3.OperationalError:  # a catalog from before the index existed
            return {}
        return {r["stage"]: {k: r[k] for k in r.keys() if k not in ("video_id", "stage")} for r in rows}

    def set_index_state(self, video: Video, stage: str, fingerprint: str, rows: int, seconds: float) -> None:
        from datetime import datetime, timezone

        self.db.execute(
            "INSERT OR REPLACE INTO index_state VALUES (?,?,?,?,?,?,?)",
            (video.id, stage, fingerprint, video.media_dir, rows, round(seconds, 3),
             datetime.now(timezone.utc).isoformat(timespec="seconds")),
        )  # fmt: skip

    def health(self) -> dict[str, Any]:
        """What `vstream doctor` reports about the library: counts and integrity."""
        problems = []
        check = self.db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            problems.append(f"catalog: {check}")
        videos = self.videos()
        for v in videos:
            media = f"{v.media_dir}/{v.meta['files']['media']}"
            if self.remote is not None:
                if self.remote.head(media) is None:
                    problems.append(f"{v.id}: media file {media} is missing in {self.location}")
            elif not (self.root / v.media_dir).is_dir():
                problems.append(f"{v.id}: media directory {v.media_dir} is missing")
        return {"path": self.location, "layout": LAYOUT, "videos": len(videos), "problems": problems}


def try_flock(fd: int, wait: float) -> bool:
    """Take an exclusive flock on ``fd``, trying for up to ``wait`` seconds; False when it stayed busy."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def _stage_alive(stage: Path) -> bool:
    return lock_held(stage / ".owner")


def lock_held(path: Path) -> bool:
    """Whether a process holds an flock on ``path`` (the lock dies with its process, unlike a pid,
    which is reused). Read-only and shared: checkers do not block each other, and a read-only
    library can be checked."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


TAG_OPS = ("<=", ">=", "!=", "<", ">", "=")


def tag_filter(value: Any) -> tuple[str, str]:
    """``"<3"`` -> ``("<", "3")``; ``"*"`` -> ``("*", "")`` (the tag is present); else ``("=", value)``."""
    text = str(value)
    if text == "*":
        return "*", ""
    for op in TAG_OPS:
        if text.startswith(op):
            return op, text[len(op):].strip()
    return "=", text


def tag_matches(tags: dict[str, str], filters: dict[str, Any]) -> bool:
    """Every filter holds: ``series: lost`` (equal), ``episode: "<3"`` (numeric when both sides are
    numbers, else by text), ``">=2"``, ``"!=pilot"``, ``"*"`` (has the tag). A missing tag never matches."""
    for key, raw in filters.items():
        if key not in tags:
            return False
        op, want = tag_filter(raw)
        if op == "*":
            continue
        have: Any = tags[key]
        try:
            have, want = float(have), float(want)  # type: ignore[assignment]
        except ValueError:
            have = tags[key]
        ok = {"=": have == want, "!=": have != want, "<": have < want, "<=": have <= want,
              ">": have > want, ">=": have >= want}[op]  # fmt: skip
        if not ok:
            return False
    return True


def parse_tags(items: list[str], *, what: str = "tag", example: str = "--tag series=lost") -> dict[str, str]:
    """``["series=lost", "season=1"]`` -> dict; a clear usage error otherwise (``what``: tag or var)."""
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", key):
            raise UsageError(f"bad {what} {item!r}", hint=f"write {what}s as {'key' if what == 'tag' else 'name'}=value, e.g. {example}")
        tags[key] = value.strip()
    return tags
