"""`vstream index --ray`: the same index stages as Ray tasks on model-holding actors.

Each (video, stage) job runs on an actor that loaded the models once (Whisper, the text
embedder, the visual backend, OCR); the actor computes the rows and writes the job's
thumbnails and transcript file into the library (a shared folder), and the *driver* commits
the rows and the catalog state, exactly as an in-process run does. So a worker that dies
mid-job loses nothing and duplicates nothing: Ray restarts the actor and retries the job
(``max_restarts`` / ``max_task_retries``), and only a returned result is ever written; a
job that keeps failing is reported like any failing video, and the next run finishes it.

Without ``--ray`` nothing here is imported: Ray is an opt-in extra (``vstream[ray]``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from dataclasses import asdict
from typing import Any, Iterator

from vstream.errors import MissingDependency, UsageError
from vstream.index.pipeline import IndexOptions, Job, Output
from vstream.models import ModelSettings
from vstream.progress import SILENT, Progress


class _Worker:
    """Holds one library handle and one set of models for the actor's lifetime."""

    def __init__(self, root: str, settings: dict[str, Any], stages: list[str]):
        import ray

        from vstream.library import Library
        from vstream.models import Models

        # the actor's CPU share (num_cpus=1): each model's thread pool stays on it, so N workers use N cores
        os.environ["VSTREAM_THREADS"] = str(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
        self.lib = Library.open(root) if root.startswith("s3://") else Library(root)
        self.models = Models(ModelSettings(**settings))
        # load once, up front: jobs then measure (and pay for) their own work only
        if "scenes" in stages:
            self.models.visual()
            if self.models.settings.ocr:
                self.models.ocr()
        if "speech" in stages:
            self.models.whisper()
        if "scenes" in stages or "speech" in stages:
            self.models.text()

    def run(self, job: dict[str, Any], opts: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        from vstream.errors import VstreamError
        from vstream.index.pipeline import run_job

        crash = os.environ.get("VSTREAM_FAULT_KILL_WORKER_ONCE")  # fault injection for the tests: die mid-job once
        if crash and not os.path.exists(crash):
            open(crash, "w").close()
            os._exit(1)

        try:
            output = run_job(self.lib, Job(**job), self.models, IndexOptions(**opts))
            if self.lib.mirror is not None:  # a library on S3: this node's thumbnails and transcripts go up now
                self.lib.mirror.publish("index/")
            return job, output
        except (VstreamError, OSError) as exc:  # this video's problem: reported, the batch goes on
            return job, exc

    def loaded(self) -> dict[str, Any]:
        return self.models.loaded()

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """Runs index jobs on a Ray cluster: ``address`` is ``local`` (start one here), ``auto`` or ``HOST:PORT``."""

    def __init__(self, lib, address: str = "local", workers: int | None = None, progress: Progress = SILENT):
        self.lib = lib
        self.address = address
        self.workers = workers
        self.progress = progress
        self.actors: list[Any] = []
        self._loaded: dict[str, Any] = {}
        self._quiet: contextlib.AbstractContextManager | None = None

    def _init(self):
        if self.address == "local":  # a one-machine cluster on loopback only (read when ray is imported)
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        try:
            import ray
        except ImportError:
            raise MissingDependency("--ray needs Ray", hint="pip install 'vstream[ray]'") from None
        if self._quiet is None:  # Ray reports retries and dead workers on stdout: results go there, so move it
            self._quiet = contextlib.redirect_stdout(sys.stderr)
            self._quiet.__enter__()
        if self.address not in ("local", "auto") and not self.address.startswith("ray://"):
            _reachable(self.address)
        if not ray.is_initialized():
            common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                          configure_logging=True)  # fmt: skip
            try:
                if self.address == "local":
                    ray.init(num_cpus=self.workers or os.cpu_count() or 1, **common)
                else:
                    ray.init(address=self.address, **common)
            except ConnectionError as exc:
                raise UsageError(f"--ray {self.address}: no Ray cluster there ({exc})",
                                 hint="start one with `ray start --head`, or use --ray local") from None  # fmt: skip
        return ray

    def run(self, jobs: list[Job], opts: IndexOptions, settings: ModelSettings) -> Iterator[tuple[Job, Output | BaseException]]:
        if not jobs:
            return
        ray = self._init()
        from ray.util import ActorPool

        cpus = int(ray.cluster_resources().get("CPU", 1))
        count = max(1, min(self.workers or cpus, cpus, len(jobs)))
        actor = ray.remote(num_cpus=1, max_restarts=2, max_task_retries=2)(_Worker)
        stages = sorted({j.stage for j in jobs})
        # a library on S3 is opened by its URL: a worker on this machine shares its mirror (VSTREAM_CACHE)
        self.actors = [actor.remote(self.lib.location, settings.to_dict(), stages) for _ in range(count)]
        pool = ActorPool(self.actors)
        self.progress.begin(f"indexing on Ray ({count} workers)", float(len(jobs)))
        options = asdict(opts)
        for job in jobs:
            pool.submit(lambda a, j: a.run.remote(asdict(j), options), job)
        done = 0
        while pool.has_next():
            try:
                job, output = pool.get_next_unordered()
                result = (Job(**job), output)
            except ray.exceptions.RayError as exc:  # the actor died more often than Ray retries
                raise UsageError(f"a Ray worker failed for good: {exc}", hint="see the Ray logs; run index again") from None
            done += 1
            self.progress.update(done)
            yield result
        self._loaded = ray.get(self.actors[0].loaded.remote())
        self.progress.end()

    def loaded(self) -> dict[str, Any]:
        return self._loaded

    def close(self) -> None:
        try:
            import ray
        except ImportError:
            return
        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if ray.is_initialized():
            ray.shutdown()
        if self._quiet is not None:
            self._quiet.__exit__(None, None, None)
            self._quiet = None


def _reachable(address: str) -> None:
    """Fail fast with a clear message (ray.init would retry for minutes) when nothing listens at HOST:PORT."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            return
    except (OSError, ValueError) as exc:
        raise UsageError(f"--ray {address}: no Ray cluster there ({exc})",
                         hint="start one with `ray start --head`, or use --ray local") from None
