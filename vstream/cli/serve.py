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
    recipes: str = typer.Option("recipes", "--recipes", "-r", help="Folder of recipe YAML files (and brand images)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind: loopback unless you say otherwise."),
    port: int = typer.Option(8642, "--port", "-p", help="Port."),
    secret: Optional[str] = typer.Option(None, "--secret", envvar="VSTREAM_SECRET", show_envvar=False,
                                         help="Require HMAC-signed manifest URLs (segments stay public) [$VSTREAM_SECRET]."),
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
    folder = Path(recipes).expanduser().absolute()
    if not folder.is_dir():
        raise NotFound(f"--recipes {recipes}: no such folder", hint="point --recipes at a folder of recipe files")
    if not 1 <= port <= 65535 or ttl < 0:
        raise UsageError("--port must be 1-65535 and --ttl >= 0")
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"serving on {host}: anyone who can reach this machine can watch"
             + ("" if secret else " (no --secret: manifests are unsigned)"))
    if hlsjs_path() is None:
        warn("hls.js not found (run `npm ci` in the vstream checkout): the page plays only in Safari")
    import uvicorn

    app = create_app(Settings(library=lib, recipes=folder, secret=secret, ttl=ttl, base_url=base_url))
    shown = f"[{host}]" if ":" in host else host
    err.print(f"vstream serving {lib.location} on http://{shown}:{port}/ (Ctrl-C stops)", markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
