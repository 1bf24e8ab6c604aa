"""The `vstream` command: the typer app, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys

import typer

from vstream import __version__, errors

app = typer.Typer(
    name="vstream",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


EPILOG = (
    "Exit codes: 0 ok, 1 some items of a batch failed, 2 usage error, 3 not found, 4 bad media, "
    "5 library busy or layout mismatch, 6 missing dependency, 7 I/O error (permissions, disk full), "
    "70 internal error. Set VSTREAM_DEBUG=1 to see tracebacks."
)


def _version(value: bool) -> None:
    if value:
        print(f"vstream {__version__}")
        raise typer.Exit()


@app.callback(epilog=EPILOG)
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Personalized streaming from a local media library: ingest videos to HLS without
    re-encoding, then retrieve, compose and stream moments."""


def _register() -> None:
    from vstream.cli import compose, doctor, index, ingest, library_cmds, live, mcp, people, search, serve, subtitles

    library_cmds.register(app)
    ingest.register(app)
    index.register(app)
    search.register(app)
    compose.register(app)
    serve.register(app)
    doctor.register(app)
    mcp.register(app)
    subtitles.register(app)
    people.register(app)
    live.register(app)


_register()


def run(argv: list[str] | None = None) -> None:
    """Console-script entry point: map exceptions to documented exit codes, one line each.

    With ``--json`` an error is also one JSON object on stdout, ``{"error", "hint", "exit_code"}``,
    so a script that parses stdout always gets JSON.
    """
    from vstream.cli.output import error

    debug = os.environ.get("VSTREAM_DEBUG") == "1"
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    failure: tuple[str, str | None] | None = None  # (message, hint) of an error, for --json
    try:
        code = app(args=argv, standalone_mode=False, prog_name="vstream")
    except typer.Abort:
        print("aborted", file=sys.stderr)
        code, failure = errors.INTERRUPTED, ("aborted", None)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        show = getattr(exc, "show", None)
        show() if show else print(f"error: {exc}", file=sys.stderr)
        code = getattr(exc, "exit_code", errors.USAGE) or errors.USAGE
        failure = (getattr(exc, "format_message", lambda: str(exc))(), None)
    except errors.VstreamError as exc:
        if debug:
            raise
        error(str(exc))
        code, failure = exc.exit_code, (exc.message, exc.hint)
    except OSError as exc:  # permissions, disk full, read-only media: the OS's words and the path
        if debug:
            raise
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        error(f"{exc.strerror or exc}{where}")
        code, failure = errors.IO_ERROR, (f"{exc.strerror or exc}{where}", None)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code, failure = errors.INTERRUPTED, ("interrupted", None)
    except Exception as exc:  # a bug: one line, and how to see more
        if debug:
            raise
        if type(exc).__module__ == "sqlite3":  # the catalog: read-only, disk full, locked too long
            message = f"library catalog: {exc}"
            hint = "check that this user may write to the library directory"
            error(f"{message} ({hint})")
            code, failure = (errors.BUSY if "locked" in str(exc) else errors.IO_ERROR), (message, hint)
        else:
            message = f"internal error: {type(exc).__name__}: {exc}"
            error(f"{message} (set VSTREAM_DEBUG=1 for the traceback)")
            code, failure = errors.INTERNAL, (message, "set VSTREAM_DEBUG=1 for the traceback")
    if failure is not None and as_json:
        from vstream.cli.output import print_json

        print_json({"error": failure[0], "hint": failure[1], "exit_code": code})
    sys.exit(code if isinstance(code, int) else 0)
