"""`vstream doctor`."""

from __future__ import annotations

from typing import Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption
from vstream.cli.output import out, print_json


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(library: Optional[str] = LibraryOption, json: bool = JsonOption) -> None:
    """Check ffmpeg, Python packages, models and the library; exit 6 if something required is missing."""
    from vstream.doctor import diagnose
    from vstream.errors import MISSING_DEPENDENCY

    report = diagnose(library)
    if json:
        print_json(report)
    else:
        for check in report["checks"]:
            mark = {"ok": "ok  ", "missing": "MISSING", "optional": "--  ", "problem": "PROBLEM", "warn": "WARN"}[check["status"]]
            line = f"{mark:<8} {check['name']:<22} {check['detail']}"
            if check.get("fix") and check["status"] != "ok":
                line += f"\n{'':<31}fix: {check['fix']}"
            out.print(line, markup=False, highlight=False)
    if not report["ok"]:
        raise typer.Exit(MISSING_DEPENDENCY)
