"""Recording benchmark lines: every bench/*.py prints its figures and, with --record, appends them here."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def record(lines: list[str]) -> None:
    """Append ``lines`` to bench/RESULTS.md as list items (move them under their heading by hand)."""
    with RESULTS.open("a") as fh:
        fh.write("".join(f"- {line}\n" for line in lines))
