"""Recipes: YAML, loaded safely and bounded, validated with field paths and line numbers.

A recipe is data (checked into users' repos): ``version: 1``, ``name``, ``vars`` with defaults
referenced as ``{{name}}`` in any string, ``clips`` (explicit or search-driven), ``overlays``,
``captions`` and ``output``. The JSON Schema that editors use ships beside this module
(``recipe.schema.json``); errors name the field path and the line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vstream.errors import UsageError

MAX_BYTES = 256 * 1024  # a recipe is a few KB; this bounds what a YAML file can make us read
MAX_NODES = 20_000  # bounds alias expansion ("billion laughs") and giant documents
VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
SCHEMA_PATH = Path(__file__).with_name("recipe.schema.json")


class RecipeError(UsageError):
    """A recipe problem: one line with the file, the line number and the field path."""


@dataclass
class Recipe:
    path: Path
    data: dict[str, Any]  # validated, vars not yet substituted
    lines: dict[str, int] = field(default_factory=dict)  # field path -> line number

    @property
    def name(self) -> str:
        return self.data["name"]

    @property
    def folder(self) -> Path:
        return self.path.parent

    def defaults(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.data.get("vars") or {}).items()}

    def where(self, path: str) -> str:
        line = self.lines.get(path)
        return f"{self.path.name}:{line}" if line else self.path.name

    def render(self, values: dict[str, str]) -> dict[str, Any]:
        """The recipe with every ``{{var}}`` replaced; an undefined one is an error naming it and where."""
        merged = self.defaults() | {k: str(v) for k, v in values.items()}

        def sub(value: Any, path: str) -> Any:
            if isinstance(value, str):
                def one(match: re.Match) -> str:
                    name = match.group(1)
                    if name not in merged:
                        raise RecipeError(f"{self.where(path)}: {path} uses {{{{{name}}}}}, which is not defined",
                                          hint=f"add it under vars: or pass --set {name}=VALUE")  # fmt: skip
                    return merged[name]

                return VAR_RE.sub(one, value)
            if isinstance(value, list):
                return [sub(v, f"{path}[{i}]") for i, v in enumerate(value)]
            if isinstance(value, dict):
                return {k: sub(v, f"{path}.{k}" if path else k) for k, v in value.items()}
            return value

        return sub({k: v for k, v in self.data.items() if k != "vars"}, "")


def load(path: str | Path) -> Recipe:
    path = Path(path).expanduser()
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise RecipeError(f"{path.name}: {size} bytes is too large for a recipe (limit {MAX_BYTES})")
    return loads(path.read_text(encoding="utf-8", errors="strict"), path.absolute())


def loads(text: str, path: Path) -> Recipe:
    import yaml

    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError(f"{path.name}: the recipe is empty")
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        raise RecipeError(f"{where}: YAML syntax error: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path.name}: YAML error: {exc}") from None
    finally:
        loader.dispose()
    _check_size(data, path)
    lines = _line_map(node)
    recipe = Recipe(path, data, lines)
    validate(recipe)
    return recipe


class _BoundedLoader:
    """yaml.SafeLoader that refuses documents expanding to more than MAX_NODES nodes."""

    def __new__(cls, text: str):
        import yaml

        class Loader(yaml.SafeLoader):
            nodes = 0

            def construct_object(self, node, deep=False):
                Loader.nodes += 1
                if Loader.nodes > MAX_NODES:
                    raise RecipeError(f"the recipe expands to more than {MAX_NODES} values (aliases?)")
                return super().construct_object(node, deep=deep)

        return Loader(text)


def _check_size(data: Any, path: Path) -> None:
    """Aliases share objects, so a small file can expand to billions of values: count them, bounded."""
    budget = MAX_NODES
    stack = [data]
    while stack:
        item = stack.pop()
        budget -= 1
        if budget < 0:
            raise RecipeError(f"{path.name}: the recipe expands to more than {MAX_NODES} values (aliases?)")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _line_map(node, path: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    import yaml

    out = {} if out is None else out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = f"{path}.{key.value}" if path else str(key.value)
            out[child] = key.start_mark.line + 1
            _line_map(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _line_map(value, f"{path}[{i}]", out)
    return out


def validate(recipe: Recipe) -> None:
    """JSON Schema validation; the first error names its field path and line."""
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(recipe.data), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if not errors:
        return
    err = min(errors, key=lambda e: len(list(e.absolute_path)))
    path = ""
    for part in err.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    message = err.message
    if err.validator == "additionalProperties":
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(k for k in err.instance if k not in allowed)
        if extra:
            path = f"{path}.{extra[0]}" if path else extra[0]
            import difflib

            close = difflib.get_close_matches(extra[0], sorted(allowed), n=1)
            message = f"unknown field {extra[0]!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif err.validator in ("maxItems", "minItems", "maxLength", "minLength"):  # not the whole list or text back
        what = "items" if err.validator.endswith("Items") else "characters"
        bound = "at most" if err.validator.startswith("max") else "at least"
        message = f"{len(err.instance)} {what}: {bound} {err.validator_value}"
    raise RecipeError(f"{recipe.where(path)}: {path or 'recipe'}: {message}")
