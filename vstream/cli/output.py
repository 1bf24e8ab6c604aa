"""One place for output: results to stdout (table on a terminal, JSON when asked),
progress, warnings and errors to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any



class _Console:
    """A rich Console made on first use: importing rich costs ~45 ms that JSON output never needs."""

    def __init__(self, **options: Any):
        self._options = options
        self._console = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)

    def real(self) -> Any:
        """The rich Console itself, for rich objects that use it directly (Progress enters it: ``with
        console``, which a proxy cannot answer, special methods being looked up on the type)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console


out: Any = _Console(highlight=False, soft_wrap=True)
err: Any = _Console(stderr=True, highlight=False, soft_wrap=True)


def counted(n: int, noun: str) -> str:
    """``1 moment``, ``2 moments`` (nouns whose plural adds s)."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False) if sys.stderr.isatty() else print(
        f"error: {message}", file=sys.stderr
    )


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}") if sys.stderr.isatty() else print(f"warning: {message}", file=sys.stderr)


class RichProgress:
    """The core's Progress protocol drawn as a rich progress bar on a terminal, silent otherwise."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled  # (rich loads only to draw)
        self._progress = None
        self._task = None

    def __enter__(self) -> "RichProgress":
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err.real(), transient=True
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress:
            self._progress.stop()

    def begin(self, label: str, total: float | None = None) -> None:
        if not self._progress:
            return
        if self._task is None:
            self._task = self._progress.add_task(label, total=total)
        else:
            self._progress.reset(self._task, description=label, total=total, completed=0)

    def update(self, done: float) -> None:
        if self._progress and self._task is not None:
            self._progress.update(self._task, completed=done)

    def end(self) -> None:
        if self._progress and self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None

    def note(self, text: str) -> None:
        if self._progress:
            self._progress.console.print(text)
        else:
            print(text, file=sys.stderr)
