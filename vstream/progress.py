"""The small progress protocol the core reports through (the CLI draws it with rich).

The core never imports rich: long operations accept a :class:`Progress` and
call ``begin`` / ``update`` / ``end`` on it; :data:`SILENT` ignores everything.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, label: str, total: float | None = None) -> None: ...

    def update(self, done: float) -> None: ...

    def end(self) -> None: ...

    def note(self, text: str) -> None: ...


class _Silent:
    def begin(self, label: str, total: float | None = None) -> None:
        pass

    def update(self, done: float) -> None:
        pass

    def end(self) -> None:
        pass

    def note(self, text: str) -> None:
        pass


SILENT: Progress = _Silent()
