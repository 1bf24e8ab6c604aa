"""`vstream mcp`."""

from __future__ import annotations

from typing import Optional

import typer

from vstream.cli.common import LibraryOption


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)


def mcp(
    library: Optional[str] = LibraryOption,
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Where `vstream serve` (or a CDN) serves the library: streams are answered as URLs under it."),
) -> None:
    """Serve the library to agents over the Model Context Protocol (stdio): find moments, read
    transcripts, validate recipes and compose streams. Read-only for the library's videos.

    Register it with a desktop agent as a command: vstream mcp --library /path/to/library
    """
    import importlib.util

    from vstream.errors import MissingDependency
    from vstream.library import Library

    if importlib.util.find_spec("mcp") is None:
        raise MissingDependency("the MCP SDK is not installed", hint="pip install 'vstream[mcp]'")
    from vstream.mcp_server import run_stdio

    run_stdio(Library.open(library), base_url=base_url)
