"""`vstream mcp`."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vstream.cli.common import LibraryOption


def register(app: typer.Typer) -> None:
    app.command("mcp")(mcp)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def mcp(
    library: Optional[str] = LibraryOption,
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Where `vstream serve` (or a CDN) serves the library: streams are answered as URLs under it."),
    http: bool = typer.Option(False, "--http", help="Serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="With --http: the address to bind (loopback unless you say otherwise)."),
    port: int = typer.Option(8650, "--port", "-p", help="With --http: the port."),
    token: Optional[str] = typer.Option(None, "--token", envvar="VSTREAM_MCP_TOKEN", show_envvar=False,
                                        help="With --http: the bearer token every request needs (required beyond loopback) [$VSTREAM_MCP_TOKEN]."),
    allow_write: bool = typer.Option(False, "--allow-write", help="Add the ingest_file, index_video and job_status tools (jobs that change the library)."),
    ingest_dir: List[str] = typer.Option([], "--ingest-dir", help="With --allow-write: a folder whose files ingest_file may take (repeatable; nothing outside them)."),
) -> None:
    """Serve the library to agents over the Model Context Protocol: find moments, read
    transcripts, validate recipes and compose streams. Read-only for the library's videos.

    stdio by default (register it with a desktop agent as the command `vstream mcp --library DIR`);
    --http for Streamable HTTP.
    """
    import importlib.util

    from vstream.errors import MissingDependency, UsageError
    from vstream.library import Library

    if importlib.util.find_spec("mcp") is None:
        raise MissingDependency("the MCP SDK is not installed", hint="pip install 'vstream[mcp]'")
    lib = Library.open(library)
    if ingest_dir and not allow_write:
        raise UsageError("--ingest-dir opens a folder to the ingest tool, which only --allow-write adds",
                         hint="add --allow-write, or drop --ingest-dir")  # fmt: skip
    folders = []
    for d in ingest_dir:
        folder = Path(d).expanduser()
        if not folder.is_dir():
            raise UsageError(f"--ingest-dir {d}: not a folder")
        folders.append(folder.resolve())
    write = {"allow_write": allow_write, "ingest_dirs": folders}
    if not http:
        from vstream.mcp_server import run_stdio

        run_stdio(lib, base_url=base_url, **write)
        return
    if host not in LOOPBACK and not token:
        raise UsageError(f"--host {host} reaches beyond this machine: give a --token (or $VSTREAM_MCP_TOKEN)",
                         hint="or keep the default loopback address")  # fmt: skip
    if token is not None and len(token) < 16:
        raise UsageError("--token must be at least 16 characters", hint="e.g. openssl rand -hex 24")
    from vstream.cli.output import err
    from vstream.cli.serve import check_port_free
    from vstream.mcp_server import run_http

    check_port_free(host, port)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"vstream MCP (Streamable HTTP) on http://{shown}:{port}/mcp for {lib.location}"
              + (" (bearer token required)" if token else ""), markup=False)  # fmt: skip
    run_http(lib, host=host, port=port, token=token, base_url=base_url, **write)
