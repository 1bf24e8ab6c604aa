"""`vstream serve`."""

from __future__ import annotations

from typing import Optional

import typer

from vstream.cli.common import LibraryOption
from vstream.cli.output import err, warn


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    library: Optional[str] = LibraryOption,
    recipes: Optional[str] = typer.Option(None, "--recipes", "-r", help="Folder of recipe YAML files (and brand images) [default: ./recipes when it exists]."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind: loopback unless you say otherwise."),
    port: int = typer.Option(8642, "--port", "-p", help="Port."),
    secret: Optional[str] = typer.Option(None, "--secret", envvar="VSTREAM_SECRET", show_envvar=False,
                                         help="Require HMAC-signed manifest URLs (segments stay public) [$VSTREAM_SECRET]."),
    admin_token: Optional[str] = typer.Option(None, "--admin-token", envvar="VSTREAM_ADMIN_TOKEN", show_envvar=False,
                                              help="The bearer token people's faces and names (/api/people, person search, names in results, recipes that select by person) need; with --secret, also what /api/link and POST /api/reels need to hand out signed links [$VSTREAM_ADMIN_TOKEN]."),
    ttl: int = typer.Option(60, "--ttl", help="Seconds a personal manifest is cached (and may be cached by players)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Segment URLs under this base (a CDN) instead of /media."),
) -> None:
    """Serve personal streams on demand, the library's segments, a JSON API and a web page.

    Manifests: /streams/RECIPE/master.m3u8?user=u42&VAR=value (composed per request and
    cached per user and vars). API: /api/search?q=, /api/videos, /api/recipes, /api/link,
    POST /api/reels. Page: / (search, play, brand a reel).
    """
    from pathlib import Path

    from vstream.errors import NotFound, UsageError
    from vstream.library import Library
    from vstream.serve.app import Settings, create_app, hlsjs_path

    lib = Library.open(library)
    folder = Path(recipes or "recipes").expanduser().absolute()
    if not folder.is_dir():
        if recipes is not None:
            raise NotFound(f"--recipes {recipes}: no such folder", hint="point --recipes at a folder of recipe files")
        warn("no ./recipes folder: search, reels and the videos' own streams work; "
             "recipe streams need --recipes DIR")
    if not 1 <= port <= 65535 or ttl < 0:
        raise UsageError("--port must be 1-65535 and --ttl >= 0")
    check_port_free(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"serving on {host}: anyone who can reach this machine can watch"
             + ("" if secret else " (no --secret: manifests are unsigned)"))
    if hlsjs_path() is None:
        warn("hls.js not found (run `npm ci` in the vstream checkout): the page plays only in Safari")
    import uvicorn

    if admin_token and not secret:
        warn("--admin-token without --secret: people's faces and names need the token, but stream links are "
             "unsigned (anyone may open any recipe stream but those that select by person)")
    if admin_token is not None and len(admin_token) < 16:
        raise UsageError("--admin-token must be at least 16 characters", hint="e.g. openssl rand -hex 24")
    app = create_app(Settings(library=lib, recipes=folder, secret=secret, ttl=ttl, base_url=base_url,
                              admin_token=admin_token))
    shown = f"[{host}]" if ":" in host else host
    err.print(f"vstream serving {lib.location} on http://{shown}:{port}/ (Ctrl-C stops)", markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def check_port_free(host: str, port: int) -> None:
    """Fail before saying "serving on ..." when the address cannot be bound (in use, not ours)."""
    import errno
    import socket

    from vstream.errors import IOFailure

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise IOFailure(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise IOFailure(f"port {port} on {host} is already in use", hint="stop what runs there, or choose --port N") from None
            raise IOFailure(f"cannot listen on {host}:{port}: {exc.strerror}", hint="choose another --host or --port") from None
