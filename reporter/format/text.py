"""Plain text: the digest for a terminal, a file or the email's text part, and alerts; <= 100 columns."""

from __future__ import annotations

from rich.cells import cell_len, chop_cells

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.format.templates import Links, Templates
from reporter.triage_report import Triage

COLUMNS = 100


class TextFormat:
    name = "text"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def digest(self, digest: Digest) -> str:
        return fit(self.templates.render("digest.txt.j2", d=digest, links=Links(digest.web_url)))

    def alert(self, alert: Alert, web_url: str) -> str:
        return fit(self.templates.render("alert.txt.j2", a=alert, links=Links(web_url)))

    def triage(self, triage: Triage) -> str:
        return fit(self.templates.render("triage.txt.j2", t=triage, links=Links(triage.web_url)))


def fit(text: str, columns: int = COLUMNS) -> str:
    """Every line at most ``columns`` wide (in terminal cells): longer ones wrap, indented."""
    return "".join(
        "".join(f"{line}\n" for line in wrap(line.rstrip("\n"), columns))
        if cell_len(line) > columns
        else line
        for line in text.splitlines(keepends=True)
    )


def wrap(line: str, columns: int) -> list[str]:
    """One long line as several: broken at spaces, words wider than a line cut by cells.

    Continuation lines are indented two more than the line (four after a ``* `` bullet).
    """
    body = line.lstrip(" ")
    indent = len(line) - len(body) + (4 if body.startswith("* ") else 2)
    pad = " " * min(indent, columns // 2)
    lines, current = [], line[: len(line) - len(body)]
    for word in body.split(" "):
        sep = " " if current.strip() else ""
        if cell_len(current + sep + word) <= columns:
            current += sep + word
        elif cell_len(pad + word) <= columns:
            lines.append(current)
            current = pad + word
        else:  # wider than any line: fill this one, then whole lines
            if columns - cell_len(current + sep) < 10:
                lines.append(current)
                current, sep = pad, ""
            head = chop_cells(word, columns - cell_len(current + sep))[0]
            pieces = chop_cells(word[len(head) :], columns - len(pad)) if len(head) < len(word) else []
            lines.append(current + sep + head)
            lines.extend(pad + piece for piece in pieces[:-1])
            current = pad + pieces[-1] if pieces else pad
    lines.append(current)
    return [text.rstrip() for text in lines if text.strip()]
