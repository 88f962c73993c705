"""Say in plain words what is wrong with a configuration value and what to write instead.

Validation errors are rewritten from pydantic's wording; no message ever shows a value that was
written into a secret field or came from an environment variable (nor any other value: the line
number already points at it, and a password typed into the wrong key is still a password).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from reporter.config_source import Loc, Source, key_name

LIMITS = {  # pydantic's bound errors: the context key holding the bound, and the words for it
    "greater_than": ("gt", "must be greater than {}"),
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than": ("lt", "must be less than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "string_too_long": ("max_length", "must be at most {} characters long"),
    "string_too_short": ("min_length", "must be at least {} characters long"),
    "too_long": ("max_length", "must list at most {} items"),
}
_KINDS = {
    "string_type": "must be text; put the value in quotes",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number (not .inf or .nan)",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "tuple_type": "must be a list, written [a, b] or as '- item' lines",
    "list_type": "must be a list, written [a, b] or as '- item' lines",
    "model_type": "must be a section: indented 'key: value' lines under it",
    "dict_type": "must be a section: indented 'key: value' lines under it",
    "path_type": "must be a file or directory path",
    "missing": "is required but not written; add it",
}


def explain(error: Mapping[str, Any], source: Source, model: type[BaseModel]) -> str:
    """One line for one validation error: ``file:line: key: what is wrong; what to write``."""
    loc, kind = tuple(str(part) for part in error["loc"]), str(error["type"])
    if kind == "missing" and loc in source.emptied:
        names = source.emptied[loc]
        return (
            f"{source.at(loc)}: is empty because {', '.join(names)} is unset or empty; "
            f"export {names[0]}=... with the value"
        )
    message = _plain(error, loc, model)
    example = _example(model, loc, kind)
    if example:
        message += f", such as {example}"
    for where, names in source.emptied.items():
        if where[: len(loc)] == loc:
            message += (
                f" ({key_name(where)} is empty because {', '.join(names)} is unset or empty: "
                f"export {names[0]}=...)"
            )
    shown = [n for n in source.variables(loc) if not any(n in v for v in source.emptied.values())]
    if shown and kind not in {"extra_forbidden", "missing"}:
        message += f" (the value comes from {', '.join('${' + n + '}' for n in shown)})"
    return f"{source.at(loc) if loc else source.path}: {message}"


def _plain(error: Mapping[str, Any], loc: Loc, model: type[BaseModel]) -> str:
    kind, context = str(error["type"]), error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key(loc, model)
    if kind == "too_short":
        count = int(context.get("min_length", 1))
        return f"must list at least {count} item{'s' if count != 1 else ''}"
    return plain_words(error, _KINDS)


def plain_words(error: Mapping[str, Any], kinds: Mapping[str, str]) -> str:
    """One validation error in plain words: bounds, choices, a validator's own words, then ``kinds``.

    Shared by the configuration's messages and the API records' (each with its own ``kinds``).
    """
    kind, context = str(error["type"]), error.get("ctx") or {}
    if kind in LIMITS:
        key, words = LIMITS[kind]
        return words.format(_number(context.get(key, "the documented bound")))
    if kind == "literal_error":
        return f"must be {context.get('expected', 'one of the documented values')}"
    if kind in {"value_error", "assertion_error"} and "error" in context:
        return str(context["error"])
    return kinds.get(kind) or str(error["msg"]).replace("Input should be", "must be")


def _unknown_key(loc: Loc, model: type[BaseModel]) -> str:
    parent = _model_at(model, loc[:-1])
    known = list(parent.model_fields) if parent is not None else []
    close = difflib.get_close_matches(loc[-1], known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the keys here are {', '.join(known)}"
    return f"unknown key; {hint} (see config.example.yaml)"


def _example(model: type[BaseModel], loc: Loc, kind: str) -> str | None:
    """``port: 587`` from the field's default, to show what a good value looks like."""
    if kind in {"extra_forbidden", "missing", "value_error"} or not loc:
        return None
    named = tuple(part for part in loc if not part.isdigit())
    parent = _model_at(model, named[:-1])
    info = parent.model_fields.get(named[-1]) if parent is not None else None
    if info is None or info.default in (None, PydanticUndefined) or isinstance(info.default, BaseModel):
        return None
    return f"{named[-1]}: {_yaml(info.default)}"


def _model_at(model: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in loc:
        info = current.model_fields.get(part) if current is not None else None
        if info is None:
            return None
        current = next(
            (k for k in _members(info.annotation) if isinstance(k, type) and issubclass(k, BaseModel)),
            None,
        )
    return current


def _members(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return f"[{', '.join(_yaml(item) for item in value)}]"
    if isinstance(value, float):
        return _number(value)
    text = str(value)
    return f'"{text}"' if any(c in text for c in "*#:[]{}") else text


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
