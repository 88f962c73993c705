"""A progress display for long ingests: a rich bar on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from reporter.ratelimit import holding

logger = logging.getLogger(__name__)
Advance = Callable[[int, int, int], None]
WAITING = "waiting for the rate-limit window"


class EtaOrWait(ProgressColumn):
    """The time remaining, or, while pacing holds requests back, that and for how long."""

    def __init__(self) -> None:
        super().__init__()
        self._eta = TimeRemainingColumn()

    def render(self, task: Task) -> Text:
        left = holding()
        if left is not None:
            return Text(f"{WAITING} ({left:.0f} s)")
        return Text("ETA ") + self._eta.render(task)


@contextmanager
def progress_bar(label: str, *, interactive: bool | None = None) -> Iterator[Advance]:
    """Yield ``advance(done, total, requests)``: a bar on a TTY, a log line every ten seconds elsewhere."""
    if interactive is None:
        interactive = sys.stderr.isatty()
    began = time.monotonic()
    if not interactive:
        last = [0.0]

        def log_line(done: int, total: int, requests: int) -> None:
            now = time.monotonic()
            if now - last[0] >= 10 or done == total:
                last[0] = now
                rate = requests / max(now - began, 1e-6)
                left = holding()
                waiting = "" if left is None else f", {WAITING} ({left:.0f} s)"
                print(
                    f"{label}: {done}/{total} runs, {requests} requests, {rate:.1f} req/s{waiting}",
                    file=sys.stderr,
                    flush=True,
                )

        yield log_line
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TextColumn("{task.fields[requests]} requests, {task.fields[rate]} req/s"),
        EtaOrWait(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None, requests=0, rate="0.0")

        def advance(done: int, total: int, requests: int) -> None:
            rate = requests / max(time.monotonic() - began, 1e-6)
            bar.update(task, completed=done, total=total, requests=requests, rate=f"{rate:.1f}")

        yield advance
