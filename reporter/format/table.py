"""A table of current findings: fitted to a terminal's width, or a plain layout for pipes and logs.

Nothing ever wraps mid-word. On a terminal every row is one line of the terminal's width: the
sample column takes what the others leave and a longer name ends in an ellipsis (the history
and then the same-commit column give way first on a narrow terminal). Anywhere else (a pipe, a
log, a file) each finding is one line at its natural width, columns aligned, nothing cut. Names
are data, never markup: they go through ``reporter.shown`` first.
"""

from __future__ import annotations

import io

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.console import Console
from rich.text import Text

from reporter.analysis import Finding
from reporter.digest import FindingsReport
from reporter.shown import shown

HEADERS = ("sample", "id", "platform", "class", "score", "fail/runs", "same-commit", "history")
GAP = "  "
MIN_SAMPLE = 16  # the narrowest sample column before other columns give way
PLAIN_SAMPLE = 60  # in the plain layout, names up to this wide are padded to align the columns
OPTIONAL = (7, 6)  # columns dropped, in this order, when a terminal is too narrow: history, same-commit
CLASS = 3  # the column coloured by classification
STYLES = {"failing": "bold red", "flaky": "yellow", "fixed": "green"}


class TableFormat:
    """``width`` and ``color`` describe the terminal the table is for; ``terminal`` (by default
    ``color``) says whether there is one: if not, the plain layout."""

    name = "table"

    def __init__(self, *, width: int = 80, color: bool = False, terminal: bool | None = None) -> None:
        self.width, self.color = width, color
        self.terminal = color if terminal is None else terminal

    def findings(self, report: FindingsReport) -> str:
        rows = [_cells(f) for f in shown(report).findings]
        widths = [max(cell_len(cell) for cell in column) for column in zip(HEADERS, *rows, strict=True)]
        if self.terminal:
            keep, widths = _fitted(widths, self.width)
        else:
            keep, widths[0] = list(range(len(HEADERS))), min(widths[0], PLAIN_SAMPLE)
        lines = [_line(HEADERS, keep, widths, cut=self.terminal, bold=True)]
        lines.append(Text(GAP.join("─" * widths[i] for i in keep)))
        lines += [_line(row, keep, widths, cut=self.terminal) for row in rows]
        return self._print(lines)

    def _print(self, lines: list[Text]) -> str:
        out = io.StringIO()
        widest = max(cell_len(line.plain) for line in lines)
        console = Console(file=out, width=widest + 1, force_terminal=self.color, no_color=not self.color)
        for line in lines:
            console.print(line, no_wrap=True, overflow="ignore", crop=False)
        return out.getvalue()


def _cells(f: Finding) -> tuple[str, ...]:
    return (
        f.sample_name,
        str(f.sample_id),
        f.platform,
        str(f.classification),
        f"{f.score:g}",
        f"{f.failures}/{f.runs}",
        str(f.same_commit_disagreements),
        f.history[-20:],
    )


def _fitted(widths: list[int], total: int) -> tuple[list[int], list[int]]:
    """The columns kept and their widths so that a row is at most ``total`` cells wide."""
    keep = list(range(len(widths)))
    for column in OPTIONAL:
        room = total - sum(widths[i] for i in keep[1:]) - len(GAP) * (len(keep) - 1)
        if room >= min(widths[0], MIN_SAMPLE):
            break
        keep.remove(column)
    room = total - sum(widths[i] for i in keep[1:]) - len(GAP) * (len(keep) - 1)
    widths = [*widths]
    widths[0] = max(1, min(widths[0], room))
    return keep, widths


def _line(
    cells: tuple[str, ...], keep: list[int], widths: list[int], *, cut: bool, bold: bool = False
) -> Text:
    """One row; the class column coloured by classification (on a terminal with colours)."""
    line = Text(style="bold" if bold else "")
    for number, i in enumerate(keep):
        line.append(GAP if number else "")
        line.append(
            _pad(cells[i], widths[i], cut=cut),
            style="" if bold or i != CLASS else STYLES.get(cells[CLASS], ""),
        )
    line.rstrip()
    return line


def _pad(cell: str, width: int, *, cut: bool) -> str:
    if cell_len(cell) <= width:
        return set_cell_size(cell, width)
    if not cut:
        return cell  # the plain layout: a longer name pushes the rest of its line, never cut or wrapped
    return set_cell_size(chop_cells(cell, max(1, width - 1))[0] + "…", width)
