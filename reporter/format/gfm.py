"""GitHub-flavoured Markdown for text from outside: every string an inline code span that shows it as it is.

Inside a code span GitHub renders no Markdown, no HTML, no link, autolink or image, and no
``@mention`` or ``#reference``. Line breaks, control and invisible characters become spaces, the
text is cut at ``NAME_LIMIT`` characters, the backtick fence outgrows any run of backticks in it,
and ``|`` is escaped so that a table cell holds it (outside a table GitHub then shows ``\\|``: a
cosmetic cost, paid so that no placement can split a row).
"""

from __future__ import annotations

import re

from markupsafe import Markup

from reporter.shown import clip

NAME_LIMIT = 120
_SHA = re.compile(r"[0-9a-f]{7,40}")


def one_line(text: object) -> str:
    """Printable characters on one line, runs of space collapsed."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


def code(text: object, limit: int = NAME_LIMIT) -> Markup:
    """``text`` as an inline code span GitHub shows literally, safe in a table cell."""
    value = clip(one_line(text), limit)
    if not value:
        return Markup("(empty)")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", value)), default=0) + 1)
    pad = " " if value[0] == "`" or value[-1] == "`" else ""
    return Markup(f"{fence}{pad}{value.replace('|', chr(92) + '|')}{pad}{fence}")  # noqa: S704 - a code span


def sha(text: object) -> Markup:
    """A commit as GitHub shows it: seven hex digits, or anything else as code."""
    value = str(text)
    return Markup(value[:7]) if _SHA.fullmatch(value) else code(value, limit=40)  # noqa: S704 - hex only


def finalize(value: object) -> object:
    """What ``{{ value }}`` writes in a GitHub template: trusted Markup as is, numbers as they
    are, every other string as code."""
    if isinstance(value, Markup) or value is None or not isinstance(value, str):
        return "" if value is None else value
    return code(value)


def title(text: str, limit: int = 200) -> str:
    """One line for an issue title: control and invisible characters dropped, length capped."""
    return clip(one_line(text), limit)
