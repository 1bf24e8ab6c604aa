"""Options shared by every command."""

from __future__ import annotations

from typing import Optional

import typer

LibraryOption = typer.Option(
    None,
    "--library",
    "-L",
    envvar="VSTREAM_LIBRARY",
    help="Library directory [default: ./vstream-library, or $VSTREAM_LIBRARY].",
    show_envvar=False,
)
JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout (for scripts).")
WaitOption = typer.Option(600.0, "--wait", metavar="SECONDS", help="How long to wait for another writer's lock.")

Library = Optional[str]
