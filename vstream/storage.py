"""Libraries on S3-compatible object storage (``--library s3://bucket/prefix``).

One storage layer, obstore (Python bindings of the Rust ``object_store`` crate that LanceDB
and Lance use too, so both read the same ``AWS_*`` settings), carries everything but the
index tables, which LanceDB keeps on S3 natively:

    s3://bucket/prefix/
      library.json, catalog.sqlite       the layout marker and the catalog (one object: the commit point)
      media/<id>-<token>/...             media file, playlist, thumbnail: uploaded before the catalog
      index/lancedb/*.lance              LanceDB tables (LanceDB's own commit protocol)
      index/thumbs/, index/transcripts/, index/models.json, streams/...
      .lock                              the writer lock: created with If-None-Match, renewed with If-Match

Each machine works in a local mirror (``$VSTREAM_CACHE/s3/BUCKET/PREFIX``, by default under
``~/.cache/vstream``): commands read the catalog from it, fetch media files on first use, and
a writer pushes what it wrote when its lock is released, the catalog last. Readers elsewhere see
the old catalog or the new one, never one pointing at media that is not uploaded yet.

Credentials, region and endpoint come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ENDPOINT_URL`` for MinIO, R2 or a test server).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable

from vstream.errors import IO_ERROR, LibraryBusy, MissingDependency, UsageError, VstreamError
from vstream.library import REMOTE_SCHEME, atomic_write

LOCK_KEY = ".lock"
# seconds a lock lives without renewal: a killed writer's lock is taken over after this
LOCK_TTL = float(os.environ.get("VSTREAM_LOCK_TTL", "60"))
CATALOG = "catalog.sqlite"
STATE = ".remote.json"  # in the mirror: what was last pulled or pushed (a cache: losing an update costs a transfer)
DIRTY = ".unpublished"  # in the mirror: its catalog may hold commits not pushed yet


class StorageError(VstreamError):
    exit_code = IO_ERROR


def split_url(url: str) -> tuple[str, str]:
    rest = url[len(REMOTE_SCHEME):].strip("/")
    bucket, _, prefix = rest.partition("/")
    if not bucket or ".." in prefix.split("/"):
        raise UsageError(f"bad library URL {url!r}", hint="write it as s3://BUCKET/PREFIX")
    return bucket, prefix.strip("/")


def _env_config() -> dict[str, str]:
    """object_store settings from the AWS environment (endpoint, region, keys); http only for an explicit endpoint."""
    config: dict[str, str] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        config["aws_endpoint"] = endpoint
        if endpoint.startswith("http://"):
            config["aws_allow_http"] = "true"
    for env, key in (("AWS_ACCESS_KEY_ID", "aws_access_key_id"), ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"),
                     ("AWS_SESSION_TOKEN", "aws_session_token")):  # fmt: skip
        if os.environ.get(env):
            config[key] = os.environ[env]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        config["aws_region"] = region
    if "aws_access_key_id" not in config:
        config = _profile_config() | config  # the environment wins over the profile
    return config


def _profile_config() -> dict[str, str]:
    """Keys, region and endpoint from the AWS config files (AWS_PROFILE, SSO, roles), when boto3 is installed.

    object_store reads environment variables and instance roles but not ``~/.aws/config``;
    boto3's resolver does, and hands its (possibly temporary) keys to both storage engines.
    """
    try:
        import boto3
        import botocore.exceptions
    except ImportError:
        return {}
    try:
        session = boto3.Session()
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(f"AWS configuration: {exc}", hint="check AWS_PROFILE and ~/.aws/config") from None
    if credentials is None:
        return {}
    frozen = credentials.get_frozen_credentials()
    config = {"aws_access_key_id": frozen.access_key, "aws_secret_access_key": frozen.secret_key}
    if frozen.token:
        config["aws_session_token"] = frozen.token
    if session.region_name:
        config["aws_region"] = session.region_name
    endpoint = session.client("s3").meta.endpoint_url  # a profile's endpoint_url (MinIO, R2), else AWS's own
    if endpoint and not endpoint.rstrip("/").endswith(".amazonaws.com"):
        config["aws_endpoint"] = endpoint
        if endpoint.startswith("http://"):
            config["aws_allow_http"] = "true"
    return config


def mirror_dir(url: str) -> Path:
    bucket, prefix = split_url(url)
    base = Path(os.environ.get("VSTREAM_CACHE") or Path.home() / ".cache" / "vstream").expanduser()
    return (base / "s3" / bucket / (prefix or "_root")).absolute()


class Remote:
    """A library's bucket prefix: bytes in and out, conditional puts, presigned URLs."""

    def __init__(self, url: str):
        try:
            from obstore.store import S3Store
        except ImportError:
            raise MissingDependency("libraries on object storage need obstore",
                                    hint="pip install 'vstream[s3]'") from None  # fmt: skip

        self.url = url.rstrip("/")
        self.bucket, self.prefix = split_url(url)
        self.config = _env_config()
        try:
            self.store = S3Store(self.bucket, prefix=self.prefix or None, config=self.config)
        except Exception as exc:  # obstore raises its own errors for bad settings
            raise StorageError(f"cannot use {self.url}: {exc}", hint="check the AWS_* settings") from None

    # --- for LanceDB / Lance, which open the tables themselves --------------------------

    def uri(self, rel: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}/{rel}" if self.prefix else f"s3://{self.bucket}/{rel}"

    def storage_options(self) -> dict[str, str]:
        opts = dict(self.config)
        if "aws_allow_http" in opts:
            opts["allow_http"] = opts.pop("aws_allow_http")
        return opts

    # --- objects ------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable, *args, **kw):
        try:
            return fn(*args, **kw)
        except FileNotFoundError:
            raise
        except Exception as exc:
            name = type(exc).__name__
            if name == "NotFoundError":
                raise FileNotFoundError(what) from None
            if name in ("AlreadyExistsError", "PreconditionError"):
                raise
            raise StorageError(f"{self.url}: {what} failed: {str(exc).splitlines()[0][:300]}",
                               hint="check the endpoint, bucket and credentials (AWS_* environment)") from None  # fmt: skip

    def head(self, rel: str) -> dict[str, Any] | None:
        import obstore

        try:
            return self._call(f"HEAD {rel}", obstore.head, self.store, rel)
        except FileNotFoundError:
            return None

    def get(self, rel: str) -> tuple[bytes, dict[str, Any]] | None:
        import obstore

        try:
            result = self._call(f"GET {rel}", obstore.get, self.store, rel)
        except FileNotFoundError:
            return None
        return bytes(result.bytes()), result.meta

    def put(self, rel: str, data: bytes, *, mode: Any = "overwrite") -> dict[str, Any]:
        import obstore

        return self._call(f"PUT {rel}", obstore.put, self.store, rel, data, mode=mode)

    def upload(self, rel: str, path: Path) -> str | None:
        """Put a file (multipart for big ones, streamed from disk); its new ETag."""
        import obstore

        with open(path, "rb") as fh:
            return self._call(f"PUT {rel}", obstore.put, self.store, rel, fh).get("e_tag")

    def stream(self, rel: str):
        """An object's bytes in chunks of 8 MiB or more, and its metadata: ``(chunks, meta)``."""
        import obstore

        result = self._call(f"GET {rel}", obstore.get, self.store, rel)
        return result.stream(min_chunk_size=8 << 20), result.meta

    def download(self, rel: str, dest: Path) -> dict[str, Any]:
        """Stream an object to ``dest`` (atomically: temp name, then rename)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            chunks, meta = self.stream(rel)
            with open(tmp, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return meta

    def delete(self, rels: Iterable[str]) -> None:
        import obstore

        rels = list(rels)
        for i in range(0, len(rels), 1000):
            self._call("DELETE", obstore.delete, self.store, rels[i:i + 1000])

    def list(self, prefix: str) -> list[dict[str, Any]]:
        import obstore

        return self._call(f"LIST {prefix}", lambda: obstore.list(self.store, prefix).collect())

    def any(self, prefix: str) -> bool:
        """Whether any object lies under ``prefix`` (one list request)."""
        import obstore

        stream = self._call(f"LIST {prefix}", obstore.list, self.store, prefix, chunk_size=1)
        return next(iter(stream), None) is not None

    def sign(self, rel: str, seconds: int = 3600) -> str:
        import obstore

        return self._call(f"SIGN {rel}", obstore.sign, self.store, "GET", rel, timedelta(seconds=seconds))


class RemoteLock:
    """The writer lock of a library on object storage.

    Taken by creating ``.lock`` with If-None-Match (the put fails if it exists), kept by
    renewing it with If-Match every ``ttl / 3`` seconds, released by deleting it. A lock whose
    holder stopped renewing it (killed, or its machine died) is taken over after it expires,
    again with If-Match, so two writers that find it stale at once cannot both get it.
    """

    def __init__(self, remote: Remote, ttl: float | None = None):
        ttl = LOCK_TTL if ttl is None else ttl
        self.remote, self.ttl = remote, ttl
        self.owner = f"pid {os.getpid()} on {socket.gethostname()} ({secrets.token_hex(4)})"
        self.e_tag: str | None = None
        self.lost = False
        self.took_over = False  # the lock was taken from a holder that stopped renewing it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "expires": time.time() + self.ttl}).encode()

    def acquire(self, wait: float, on_wait: Callable[[str], None] | None = None) -> None:
        deadline = time.monotonic() + wait
        told = False
        while True:
            holder = self._try()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                raise LibraryBusy(f"library busy: {self.remote.url} is locked by {holder}",
                                  hint="wait for it to finish or pass a longer --wait")  # fmt: skip
            if not told and on_wait:
                on_wait(f"waiting for the library lock held by {holder} (up to {wait:g}s)")
                told = True
            time.sleep(0.2)
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="vstream-lock")
        self._thread.start()

    def _try(self) -> str | None:
        """None when we hold the lock now, else who holds it."""
        try:
            self.e_tag = self.remote.put(LOCK_KEY, self._body(), mode="create")["e_tag"]
            return None
        except Exception as exc:
            if type(exc).__name__ != "AlreadyExistsError":
                raise
        got = self.remote.get(LOCK_KEY)
        if got is None:
            return "another writer"  # released meanwhile: try again
        data, meta = got
        try:
            current = json.loads(data)
            holder, expires = str(current["owner"]), float(current["expires"])
        except (ValueError, KeyError, TypeError):
            holder, expires = "an unreadable lock", 0.0
        if expires > time.time():
            return holder
        try:  # expired: take it over, unless someone else just did
            self.e_tag = self.remote.put(LOCK_KEY, self._body(), mode={"e_tag": meta["e_tag"]})["e_tag"]
            self.took_over = True
            return None
        except Exception as exc:
            if type(exc).__name__ != "PreconditionError":
                raise
            return holder

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.e_tag = self.remote.put(LOCK_KEY, self._body(), mode={"e_tag": self.e_tag})["e_tag"]
            except Exception:
                self.lost = True  # someone took it over (we were too slow) or the store is gone
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if not self.lost:
            try:
                self.remote.delete([LOCK_KEY])
            except StorageError:
                pass  # it expires on its own


# --- the mirror ---------------------------------------------------------------------------

PUSH_SKIP_DIRS = ("cache/", "index/lancedb/", "media/.stage-", "live/")  # live/: a recorder's own (its source's key)
PUSH_SKIP_NAMES = {".lock", ".owner", STATE, DIRTY, CATALOG, ".catalog.push.sqlite", f"{CATALOG}-journal", f"{CATALOG}-wal", f"{CATALOG}-shm"}
SMALL_FILES = ("library.json", "config.json", "index/models.json")  # pulled whenever they change


class Mirror:
    """The local copy of a remote library, and what was last exchanged with the remote."""

    def __init__(self, root: Path, remote: Remote):
        self.root, self.remote = root, remote
        self.path = root / STATE
        try:
            self.state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.state = {}
        self.state.setdefault("etags", {})
        self.state.setdefault("files", {})
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.state, separators=(",", ":")), durable=False)

    def record(self, rel: str) -> None:
        st = (self.root / rel).stat()
        self.state["files"][rel] = [st.st_size, st.st_mtime_ns]

    # --- down -----------------------------------------------------------------------------

    def pull(self) -> bool:
        """Fetch the catalog and small files that changed remotely; False when there is no library there."""
        changed = False
        for rel in (*SMALL_FILES, CATALOG):
            meta = self.remote.head(rel)
            if meta is None:
                if rel == "library.json":
                    return False
                continue
            fresh = self.state["etags"].get(rel) == meta["e_tag"] and (self.root / rel).exists()
            if fresh and not (rel == CATALOG and (self.root / DIRTY).exists()):
                continue  # (a dirty catalog holds commits a killed writer never pushed: only pushed work counts)
            if rel == CATALOG:
                for leftover in (f"{CATALOG}-journal", f"{CATALOG}-wal", f"{CATALOG}-shm"):
                    (self.root / leftover).unlink(missing_ok=True)  # the remote catalog is the truth
            got = self.remote.download(rel, self.root / rel)
            self.state["etags"][rel] = got["e_tag"]
            self.record(rel)
            if rel == CATALOG:
                (self.root / DIRTY).unlink(missing_ok=True)
            changed = True
        if changed:
            self.save()
        return True

    def ensure(self, rel: str) -> Path:
        """The local path of ``rel``, downloaded first if this machine does not have it yet."""
        path = self.root / rel
        if path.exists():
            return path
        with self._fetching(rel):  # one download per file, however many threads ask (serve)
            if not path.exists():
                try:
                    self.remote.download(rel, path)
                except FileNotFoundError:
                    return path  # callers report the missing file as they would locally
                self.record(rel)
                self.save()
        return path

    @contextlib.contextmanager
    def _fetching(self, rel: str):
        with self._guard:
            lock = self._locks.setdefault(rel, threading.Lock())
        with lock:
            yield
        with self._guard:
            self._locks.pop(rel, None)

    # --- up -------------------------------------------------------------------------------

    def begin_write(self) -> None:
        """The local catalog may now get commits that exist nowhere else until :meth:`push`.

        A marker file, not a field of the state: other processes on this machine rewrite the state.
        """
        (self.root / DIRTY).touch()

    def upload(self, files: list[str]) -> None:
        with ThreadPoolExecutor(8) as pool:
            etags = list(pool.map(lambda rel: self.remote.upload(rel, self.root / rel), files))
        for rel, e_tag in zip(files, etags):
            self.record(rel)
            if rel in SMALL_FILES:  # pulled by ETag: remember ours, so it is not fetched back
                self.state["etags"][rel] = e_tag
        self.save()

    def publish(self, folder: str) -> None:
        """Upload what changed under ``folder`` now (a Ray worker's thumbnails, on a node of its own)."""
        self.upload(self.changed_files(folder))

    def changed_files(self, folder: str = "") -> list[str]:
        """Files of the mirror (under ``folder``) not as they were last pulled or pushed."""
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root / folder):
            rel_dir = os.path.relpath(dirpath, self.root)
            rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
            dirnames[:] = [d for d in dirnames if not any((rel_dir + d + "/").startswith(s) for s in PUSH_SKIP_DIRS)]
            for name in filenames:
                rel = rel_dir + name
                if name in PUSH_SKIP_NAMES or name.endswith(".tmp"):
                    continue
                st = (self.root / rel).stat()
                if self.state["files"].get(rel) != [st.st_size, st.st_mtime_ns]:
                    out.append(rel)
        return sorted(out)

    def push(self, catalog_snapshot: Path, dead_folders: Iterable[str] = (), dead_keys: Iterable[str] = ()) -> int:
        """Upload what changed, then the catalog (the commit point), then delete what it no longer references."""
        files = self.changed_files()
        self.upload(files)
        meta = self.remote.put(CATALOG, catalog_snapshot.read_bytes())
        self.state["etags"][CATALOG] = meta["e_tag"]
        self.save()
        (self.root / DIRTY).unlink(missing_ok=True)
        doomed = [o["path"] for d in dead_folders for o in self.remote.list(d.rstrip("/") + "/")] + list(dead_keys)
        if doomed:  # (deleting a key that is not there is not an error)
            self.remote.delete(doomed)
            for rel in doomed:
                self.state["files"].pop(rel, None)
            self.save()
        return len(files)


class RemoteSource:
    """A video to ingest straight from object storage, without a local copy.

    ffmpeg and PyAV open a presigned HTTP(S) URL of it (``str(source)``), reading with ranges as
    they seek; the content hash streams the object once. ``source`` in the catalog is the s3:// URL.
    """

    def __init__(self, url: str):
        from types import SimpleNamespace

        from vstream.errors import MediaError

        bucket, key = split_url(url)
        if not key or key.endswith("/"):
            raise UsageError(f"{url}: not an object", hint="name one video, e.g. s3://bucket/videos/talk.mp4")
        self.url, self.key = url, key
        self.remote = Remote(f"s3://{bucket}")
        meta = self.remote.head(key)
        if meta is None:
            raise MediaError(f"{url}: no such object")
        name = PurePosixPath(key)
        self.name, self.stem, self.suffix = name.name, name.stem, name.suffix
        self._stat = SimpleNamespace(st_size=int(meta["size"]), st_mtime_ns=int(meta["last_modified"].timestamp() * 1e9))
        self.http = self.remote.sign(key, 6 * 3600)

    def __str__(self) -> str:
        return self.http

    def stat(self):
        return self._stat

    def content_hash(self) -> str:
        import xxhash

        digest = xxhash.xxh3_128()
        for chunk in self.remote.stream(self.key)[0]:
            digest.update(memoryview(chunk))
        return "xxh3-128:" + digest.hexdigest()


def list_sources(url: str, extensions: Iterable[str]) -> list[str]:
    """``s3://bucket/folder/``: the videos under it (by file extension), as URLs."""
    bucket, prefix = split_url(url)
    remote = Remote(f"s3://{bucket}")
    exts = {e.lower() for e in extensions}
    keys = sorted(o["path"] for o in remote.list(prefix + "/" if prefix else ""))
    return [f"s3://{bucket}/{k}" for k in keys if "." in k and "." + k.rsplit(".", 1)[-1].lower() in exts]
