"""What a reader is shown of outside text: control characters removed, every string bounded.

``printable`` is the one function between outside text and a terminal or a log: it removes
terminal escape sequences (CSI, OSC, DCS and the rest, 7- and 8-bit), other control characters
but tab and newline, bidirectional overrides and lone surrogates. ``shown`` applies it, on one
line, to every string of a report (a digest, an alert, findings) and bounds each to ``SHOWN``
characters with an ellipsis, so that no field a template shows, today's or tomorrow's, can ring
a terminal or make a megabyte email; ``full`` gives the longer ``FULL`` form for a title.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

SHOWN = 200  # characters of one outside string in a rendering, ellipsis included
FULL = 2_000  # characters kept for a title attribute, where a format has one
ELLIPSIS = "…"
T = TypeVar("T")

_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI, 7- or 8-bit, to its final byte
    r"|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x9c|\x1b\\)?"  # OSC, DCS...
    r"|\x1b[ -/]*[0-~]?"  # any other escape sequence
)
# C0 controls but tab and newline, DEL, C1 controls, bidirectional overrides and isolates,
# line and paragraph separators, lone surrogates
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_SPACES = re.compile(r"[\t\n]+")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal or write to a log: no escape sequence, no control.

    Tabs and newlines stay; a lone surrogate (which cannot be encoded) becomes U+FFFD.
    """
    if text.isprintable():  # the common case, fast
        return text
    text = _SEQUENCES.sub("", text)
    return _CONTROLS.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else "", text)


def one_line(text: str) -> str:
    """``printable`` on one line: tabs and newlines become a space."""
    return _SPACES.sub(" ", printable(text)) if not text.isprintable() else text


def clip(text: str, limit: int = SHOWN) -> str:
    """At most ``limit`` characters, the last an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


class Shown(str):
    """A string cut to ``SHOWN`` characters that remembers a longer form (``full``) for a title."""

    full: str

    def __new__(cls, text: str) -> Shown:
        made = super().__new__(cls, clip(text))
        made.full = clip(text, FULL)
        return made


def full(value: object) -> str:
    """The longer form of a shown string for a title attribute; any other value as it is."""
    return value.full if isinstance(value, Shown) else str(value)


def shown(value: T) -> T:
    """``value`` with every string in it on one printable line and bounded (see the module).

    Walks dataclasses, tuples, lists, sets and mappings (keys too); enums, numbers, dates and other
    objects stay as they are. Whatever holds no string to change is returned unchanged, itself, so
    a clean report costs one walk and no copy.
    """
    return _walk(value)  # type: ignore[no-any-return]


ATOM, TEXT, RECORD, SEQUENCE, MAPPING = range(5)
_KINDS: dict[type, int] = {}  # how each type is walked, found once per type
_FIELDS: dict[type, tuple[str, ...]] = {}
# numbers, and (below) short printable strings, are passed over without a call: most of a report
_PLAIN = frozenset({int, float, bool, type(None)})


def _kind(cls: type) -> int:
    if cls not in _KINDS:
        if issubclass(cls, Enum) or not issubclass(cls, str | tuple | list | set | frozenset | Mapping):
            _KINDS[cls] = RECORD if dataclasses.is_dataclass(cls) else ATOM
        else:
            _KINDS[cls] = TEXT if issubclass(cls, str) else MAPPING if issubclass(cls, Mapping) else SEQUENCE
        if _KINDS[cls] == RECORD:
            _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return _KINDS[cls]


def _walk(value: Any) -> Any:
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _kind(type(value))
    if kind == TEXT:
        return _text(value)
    if kind == RECORD:
        return _record(value)
    if kind == SEQUENCE:
        return _sequence(value)
    if kind == MAPPING:
        return _mapping(value)
    return value


def _text(value: str) -> str:
    if len(value) <= SHOWN and value.isprintable():
        return value
    text = one_line(value)
    return Shown(text) if len(text) > SHOWN else text


def _record(value: Any) -> Any:
    changes = {}
    for name in _FIELDS[type(value)]:
        old = getattr(value, name)
        cls = type(old)
        if cls not in _PLAIN and not (cls is str and len(old) <= SHOWN and old.isprintable()):
            new = _walk(old)
            if new is not old:
                changes[name] = new
    return dataclasses.replace(value, **changes) if changes else value


def _sequence(value: Any) -> Any:
    items = [
        item
        if type(item) in _PLAIN or (type(item) is str and len(item) <= SHOWN and item.isprintable())
        else _walk(item)
        for item in value
    ]
    changed = any(new is not old for new, old in zip(items, value, strict=True))
    return type(value)(items) if changed else value


def _mapping(value: Mapping[Any, Any]) -> Any:
    pairs = [(_walk(k), _walk(v)) for k, v in value.items()]
    changed = any(k is not ok or v is not ov for (k, v), (ok, ov) in zip(pairs, value.items(), strict=True))
    return dict(pairs) if changed else value
