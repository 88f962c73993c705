"""Read a configuration file's YAML: key lines, duplicate keys, ``${VAR}`` expansion, plain YAML errors.

The result is plain data for validation plus a ``Source`` that knows where each key was written
and which values came from the environment, so messages can name the line and never show a value
that came from a variable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reporter.errors import ConfigError

Loc = tuple[str, ...]
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>(?:(?!\$\{)[^}])*))?\}")
_BARE_VAR = re.compile(r"\$(?P<name>[A-Z_][A-Z0-9_]*)")  # $NAME in capitals: meant as a variable
MAX_VALUES = 10_000  # keys and values, aliases expanded: a real configuration has a few hundred
_SECTIONS_IN = {(): "section", ("channels",): "channel"}  # a key written with no value here means {}


@dataclass(frozen=True)
class Source:
    """Where each key of one configuration was written, and which values came from variables."""

    path: Path
    lines: Mapping[Loc, int] = field(default_factory=dict)
    expanded: Mapping[Loc, tuple[str, ...]] = field(default_factory=dict)  # loc -> variable names
    emptied: Mapping[Loc, tuple[str, ...]] = field(default_factory=dict)  # expanded to "": unset
    unresolved: frozenset[Loc] = frozenset()  # a variable was missing: already reported

    def reported(self, loc: Loc) -> bool:
        """True when a missing variable at or around ``loc`` already explains a problem there."""
        return any(loc[: len(bad)] == bad or bad[: len(loc)] == loc for bad in self.unresolved)

    def at(self, loc: Loc) -> str:
        """``file:line: key`` for a key path (the nearest written parent's line if it is missing)."""
        name = key_name(loc)
        return f"{self.where(loc)}: {name}" if name else self.where(loc)

    def where(self, loc: Loc) -> str:
        for cut in range(len(loc), 0, -1):
            if loc[:cut] in self.lines:
                return f"{self.path}:{self.lines[loc[:cut]]}"
        return str(self.path)

    def variables(self, loc: Loc) -> tuple[str, ...]:
        """Variables whose values went into ``loc`` or anything under it."""
        found: list[str] = []
        for where, names in self.expanded.items():
            if where[: len(loc)] == loc or loc[: len(where)] == where:
                found += [name for name in names if name not in found]
        return tuple(found)


def key_name(loc: Loc) -> str:
    """``filters.platforms[0]`` for ``("filters", "platforms", "0")``."""
    text = ""
    for raw in loc:
        part = "".join(c if c.isprintable() else "?" for c in raw[:40]) + ("..." if len(raw) > 40 else "")
        text += f"[{part}]" if part.isdigit() else f".{part}" if text else part
    return text


def read_source(
    path: Path, env: Mapping[str, str], defaults: Mapping[tuple[str, str], str]
) -> tuple[dict[str, Any], Source, list[str]]:
    """Parse and expand ``path``, ``defaults`` filling unwritten ``(section, key)`` values before
    expansion: (data, source, problems); a file that cannot be parsed raises."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the config file is not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    node, raw = _parse(path, text)
    _refuse_alias_bombs(path, node)
    lines = dict(_key_lines(node, ()))
    problems = [f"{path}:{line}: {message}" for line, message in _duplicates(node, ())]
    _open_sections(raw, ())
    for (section, key), value in defaults.items():
        written = raw.setdefault(section, {})
        if isinstance(written, dict):
            written.setdefault(key, value)
    expansion = _Expansion(env, Source(path, lines), problems)
    data = expansion.value(raw, ())
    source = Source(path, lines, expansion.expanded, expansion.emptied, frozenset(expansion.unresolved))
    return data, source, problems


def _parse(path: Path, text: str) -> tuple[yaml.Node, dict[str, Any]]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        raw = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    except RecursionError as exc:
        raise ConfigError(f"{path}: invalid YAML: values nested too deeply") from exc
    finally:
        loader.dispose()
    if node is None:
        raise ConfigError(
            f"{path}:1: the file is empty (or only comments): start from a copy of config.example.yaml, "
            "which reads the API token from the environment and needs nothing else"
        )
    if not isinstance(raw, dict):
        kind = "a list" if isinstance(raw, list) else "a single value"
        raise ConfigError(
            f"{path}:{node.start_mark.line + 1}: the file holds {kind}; it must be sections such as "
            "'platform:' and 'channels:' with indented 'key: value' lines under them"
        )
    return node, raw


_YAML_CONTEXTS = {
    "while parsing a flow sequence": "a '[' list opened on this line is never closed with ']'",
    "while parsing a flow mapping": "a '{' mapping opened on this line is never closed with '}'",
    "while scanning a quoted scalar": "a quoted value opened on this line is never closed",
    "while scanning a simple key": "a line without ':' (write 'key: value')",
}
_YAML_PROBLEMS = (
    (
        "cannot start any token",
        "a tab or a special character where a value starts: indent with spaces "
        "and quote values that start with @, ` or %",
    ),
    (
        "mapping values are not allowed here",
        "a ':' where none can be: check the indentation, a missing "
        "':' on the line above, or quote a value that contains ': '",
    ),
    ("found undefined alias", "a value starting with '*' must be quoted"),
    ("expected <block end>", "this line's indentation does not match the lines above it"),
    ("could not find expected ':'", "a line without ':' (write 'key: value')"),
)


def _yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc)
    context = str(getattr(exc, "context", None) or "")
    plain = next((text for needle, text in _YAML_PROBLEMS if needle in problem), None)
    if context in _YAML_CONTEXTS and context_mark is not None:
        noticed = f" (noticed at line {problem_mark.line + 1})" if problem_mark is not None else ""
        return f"{path}:{context_mark.line + 1}: invalid YAML: {_YAML_CONTEXTS[context]}{noticed}"
    where = f":{problem_mark.line + 1}" if problem_mark is not None else ""
    return f"{path}{where}: invalid YAML: {plain or problem}"


def _refuse_alias_bombs(path: Path, node: yaml.Node) -> None:
    """Aliases (``*name``) repeat a value; nested, they can make a short file expand without end."""
    stack, seen = [node], 0
    while stack:
        current = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(
                f"{path}: more than {MAX_VALUES} values once aliases (*name) are expanded; "
                "a configuration needs far fewer: write the values out"
            )
        if isinstance(current, yaml.MappingNode):
            stack += [part for pair in current.value for part in pair]
        elif isinstance(current, yaml.SequenceNode):
            stack += current.value


def _key_lines(node: yaml.Node | None, prefix: Loc) -> Iterator[tuple[Loc, int]]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = (*prefix, str(key.value))
            yield path, key.start_mark.line + 1
            yield from _key_lines(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = (*prefix, str(index))
            yield path, item.start_mark.line + 1
            yield from _key_lines(item, path)


def _duplicates(node: yaml.Node | None, prefix: Loc) -> Iterator[tuple[int, str]]:
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            path, line = (*prefix, str(key.value)), key.start_mark.line + 1
            if path[-1] in first:
                yield (
                    line,
                    (
                        f"{key_name(path)}: written twice (first at line {first[path[-1]]}); "
                        "YAML keeps only the last, so remove one of them"
                    ),
                )
            first.setdefault(path[-1], line)
            yield from _duplicates(value, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicates(item, (*prefix, str(index)))


def _open_sections(raw: dict[str, Any], loc: Loc) -> None:
    """``channels:`` or ``stdout:`` written with nothing under it means an empty mapping, not null."""
    if loc not in _SECTIONS_IN:
        return
    for key, value in raw.items():
        if value is None:
            raw[key] = {}
        if isinstance(raw[key], dict):
            _open_sections(raw[key], (*loc, str(key)))


class _Expansion:
    """Expand ``${VAR}`` and ``${VAR:-default}``; a value that expands to nothing counts as unset."""

    def __init__(self, env: Mapping[str, str], source: Source, problems: list[str]) -> None:
        self.env, self.source, self.problems = env, source, problems
        self.expanded: dict[Loc, tuple[str, ...]] = {}
        self.emptied: dict[Loc, tuple[str, ...]] = {}
        self.unresolved: set[Loc] = set()

    def value(self, value: Any, loc: Loc) -> Any:
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                expanded = self.value(item, (*loc, str(key)))
                if not (expanded == "" and (*loc, str(key)) in self.emptied):
                    result[key] = expanded
            return result
        if isinstance(value, list):
            return [self.value(item, (*loc, str(index))) for index, item in enumerate(value)]
        return self.text(value, loc) if isinstance(value, str) else value

    def text(self, value: str, loc: Loc) -> str:
        names = [match.group("name") for match in _VAR.finditer(value)]
        self._refuse_malformed(value, loc)
        if not names:
            return value
        self.expanded[loc] = tuple(dict.fromkeys(names))
        result = _VAR.sub(lambda match: self._substitute(match, loc), value)
        if result == "" and loc not in self.unresolved:
            self.emptied[loc] = self.expanded[loc]
        return result

    def _substitute(self, match: re.Match[str], loc: Loc) -> str:
        name, default = match.group("name"), match.group("default")
        if name in self.env:
            return self.env[name]
        if default is not None:
            return default
        self.unresolved.add(loc)
        self.problems.append(
            f"{self.source.at(loc)}: environment variable {name} is not set; "
            f"export {name}=... or write ${{{name}:-default}}"
        )
        return ""

    def _refuse_malformed(self, value: str, loc: Loc) -> None:
        covered = {m.start() for m in _VAR.finditer(value)}
        for start in (m.start() for m in re.finditer(r"\$\{", value)):
            if start not in covered:
                name = re.match(r"[A-Za-z0-9_]*", value[start + 2 :])
                shown = "${" + (name.group(0) if name else "")
                self.unresolved.add(loc)
                self.problems.append(
                    f"{self.source.at(loc)}: '{shown}' is not a complete variable reference "
                    "(a missing '}', a name that is not letters, digits and _, or a nested ${...}); "
                    "write ${NAME} or ${NAME:-default}"
                )
                return
        bare = _BARE_VAR.fullmatch(value)
        if bare:
            self.unresolved.add(loc)
            self.problems.append(
                f"{self.source.at(loc)}: ${bare.group('name')} is not expanded (only ${{...}} is); "
                f"write ${{{bare.group('name')}}}"
            )
