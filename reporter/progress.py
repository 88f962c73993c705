"""A progress display for long ingests: a rich bar on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

logger = logging.getLogger(__name__)
Advance = Callable[[int, int], None]


@contextmanager
def progress_bar(label: str, *, interactive: bool | None = None) -> Iterator[Advance]:
    """Yield ``advance(done, total)``; draws a bar on a TTY, logs every ten seconds otherwise."""
    if interactive is None:
        interactive = sys.stderr.isatty()
    if not interactive:
        last = [0.0]

        def log_line(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 10 or done == total:
                last[0] = now
                print(f"{label}: {done}/{total} runs", file=sys.stderr, flush=True)

        yield log_line
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
