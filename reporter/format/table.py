"""A terminal table of current findings (rich); names are data, never markup."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from reporter.digest import FindingsReport


class TableFormat:
    """``width`` and ``color`` describe the terminal the table is for (80 columns, plain, elsewhere)."""

    name = "table"

    def __init__(self, *, width: int = 80, color: bool = False) -> None:
        self.width, self.color = width, color

    def findings(self, report: FindingsReport) -> str:
        table = Table(title="Findings", show_lines=False)
        for column in ("sample", "platform", "class", "score", "fail/runs", "same-commit", "history"):
            table.add_column(column, overflow="fold")
        for f in report.findings:
            cells = (
                f"{f.sample_name} ({f.sample_id})",
                f.platform,
                f.classification,
                f"{f.score:g}",
                f"{f.failures}/{f.runs}",
                str(f.same_commit_disagreements),
                f.history[-20:],
            )
            table.add_row(*(Text(cell) for cell in cells))
        out = io.StringIO()
        Console(file=out, width=self.width, force_terminal=self.color, no_color=not self.color).print(table)
        return out.getvalue()
