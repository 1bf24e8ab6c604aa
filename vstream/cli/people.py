"""`vstream people`: who is on screen across the library, named by you."""

from __future__ import annotations

from typing import List, Optional

import typer

from vstream.cli.common import JsonOption, LibraryOption, WaitOption
from vstream.cli.output import counted, out, print_json

app = typer.Typer(
    help="People found by the faces index stage: list, name, merge, split, hide or forget them.",
    invoke_without_command=True,
)


def register(main: typer.Typer) -> None:
    main.add_typer(app, name="people")


def _show(person, json: bool, verb: str) -> None:
    if json:
        print_json(person.to_dict())
    else:
        out.print(f"{verb} p{person.id}" + (f" {person.name}" if person.name else "") +
                  f": {counted(person.appearances, 'appearance')} in {counted(person.videos, 'video')}",
                  markup=False)  # fmt: skip


@app.callback()
def people_list(
    ctx: typer.Context,
    library: Optional[str] = LibraryOption,
    all_: bool = typer.Option(False, "--all", help="Include hidden people."),
    min_appearances: int = typer.Option(1, "--min-appearances", help="Leave out unnamed people seen fewer times."),
    json: bool = JsonOption,
) -> None:
    """List the library's people, the most seen first (with no sub-command).

    --json prints {"people": [{id, label, name, hidden, videos, appearances, seconds, thumbnail}]}.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"library": library}
        return
    from vstream import people
    from vstream.library import Library

    lib = Library.open(library)
    found = people.people(lib, include_hidden=all_, min_appearances=min_appearances)
    if json:
        print_json({"library": lib.location, "people": [p.to_dict() for p in found]})
        return
    if not found:
        out.print("no people yet: index with the face models installed (vstream doctor says if they are)", markup=False)
        return
    for p in found:
        flag = " (hidden)" if p.hidden else ""
        out.print(f"p{p.id:<5} {p.name or '-':<24} {counted(p.appearances, 'appearance'):>16}  {counted(p.videos, 'video'):>10}  "
                  f"{p.seconds:>8.1f}s  {p.thumbnail}{flag}", markup=False, highlight=False)  # fmt: skip


def _library(ctx: typer.Context, library: Optional[str]):
    from vstream.library import Library

    return Library.open(library or (ctx.obj or {}).get("library"))


def _change(ctx: typer.Context, library: Optional[str], wait: float, json: bool, verb: str, change) -> None:
    """Run ``change(lib)`` (a vstream.people function) under the writer lock and show the person it returns."""
    lib = _library(ctx, library)
    with lib.writing(wait=wait):
        _show(change(lib), json, verb)


@app.command("name")
def name(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="A person id (p3 or 3) or their current name."),
    new_name: str = typer.Argument(..., help="The name to give them."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Name a person. Names stay through re-indexing, new videos and new face models."""
    from vstream import people

    _change(ctx, library, wait, json, "named", lambda lib: people.name(lib, person, new_name))


@app.command("unname")
def unname(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="A person id or name."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Take a person's name away (their faces stay together)."""
    from vstream import people

    _change(ctx, library, wait, json, "unnamed", lambda lib: people.unname(lib, person))


@app.command("merge")
def merge(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="The person to keep (id or name)."),
    others: List[str] = typer.Argument(..., help="People who are the same person: their faces move to the first."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Merge people the clustering kept apart (the first keeps its name, else takes the others')."""
    from vstream import people

    _change(ctx, library, wait, json, "merged into", lambda lib: people.merge(lib, person, others))


@app.command("faces")
def faces(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="A person id or name."),
    library: Optional[str] = LibraryOption,
    json: bool = JsonOption,
) -> None:
    """A person's faces (VIDEO:TRACK, when, the face crop): what split and unlink take."""
    from vstream import people

    lib = _library(ctx, library)
    rows = people.faces_of(lib, person)
    if json:
        print_json({"person": people.resolve(lib, person).to_dict(), "faces": rows})
        return
    for r in rows:
        pin = "  (placed by you)" if r["pinned"] else ""
        out.print(f"{r['face']:<24} {r['start']:>8.2f}-{r['end']:<8.2f} {r['thumbnail']}{pin}", markup=False, highlight=False)


@app.command("split")
def split(
    ctx: typer.Context,
    faces: List[str] = typer.Argument(..., help="Faces to move (VIDEO:TRACK, from vstream people faces)."),
    to: Optional[str] = typer.Option(None, "--to", help="Move them to this person [default: a new person]."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Move wrongly clustered faces to a new person (or --to someone). Later index runs keep them there."""
    from vstream import people

    _change(ctx, library, wait, json, "moved to", lambda lib: people.split(lib, faces, to=to))


@app.command("unlink")
def unlink(
    ctx: typer.Context,
    face: str = typer.Argument(..., help="One face (VIDEO:TRACK) that is not who it was put with."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Take one wrong face out of its person (it becomes a person of its own)."""
    from vstream import people

    _change(ctx, library, wait, json, "unlinked to", lambda lib: people.split(lib, [face]))


@app.command("hide")
def hide(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="A person id or name."),
    undo: bool = typer.Option(False, "--undo", help="Show them again."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Hide a person from the list and from search results' people (their faces stay indexed)."""
    from vstream import people

    _change(ctx, library, wait, json, "shown" if undo else "hidden", lambda lib: people.hide(lib, person, not undo))


@app.command("forget")
def forget(
    ctx: typer.Context,
    person: str = typer.Argument(..., help="A person id or name."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask: needed where there is no terminal to ask on (scripts, pipes; piped input does not confirm)."),
    library: Optional[str] = LibraryOption,
    wait: float = WaitOption,
    json: bool = JsonOption,
) -> None:
    """Delete a person: their name, face embeddings (every stored version) and face crops.
    A re-index does not bring them back (only where they were is kept, without any face data);
    their face in a new video is found again as an unnamed person."""
    import sys

    from vstream import people
    from vstream.errors import UsageError

    lib = _library(ctx, library)
    target = people.resolve(lib, person)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"forgetting {target.label} deletes their faces for good", hint="add --yes to confirm")
        typer.confirm(f"Forget {target.label} ({counted(target.appearances, 'appearance')})?", abort=True, err=True)
    with lib.writing(wait=wait):
        gone, count = people.forget(lib, str(target.id))
    if json:
        print_json({"forgotten": gone.to_dict(), "faces_deleted": count})
    else:
        out.print(f"forgot {gone.label}: {count} face tracks deleted", markup=False)
