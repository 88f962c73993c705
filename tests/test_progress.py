"""The backfill display says when pacing holds requests back instead of showing a frozen ETA."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.progress import Progress

from reporter.progress import EtaOrWait, progress_bar
from reporter.ratelimit import RateLimiter


def spent_gate(during_hold: list[str], render: object) -> RateLimiter:
    now = [1000.0]

    def sleep(seconds: float) -> None:
        during_hold.append(render())  # type: ignore[operator]
        now[0] += seconds

    gate = RateLimiter(clock=lambda: now[0], sleep=sleep)
    spent = {"x-ratelimit-limit": "1", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1042"}
    gate.release(gate.acquire(), spent)
    return gate


def test_the_bar_shows_the_wait_instead_of_the_eta() -> None:
    column = EtaOrWait()
    with Progress(column, console=Console(file=io.StringIO())) as bar:
        bar.add_task("backfill", total=10, completed=3)
        task = bar.tasks[0]
        seen: list[str] = []
        spent_gate(seen, lambda: column.render(task).plain).acquire()
        after = column.render(task).plain
    assert seen and re.fullmatch(r"waiting for the rate-limit window \(4[23] s\)", seen[0])
    assert after.startswith("ETA ")


def test_plain_progress_lines_say_so_too(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("backfill", interactive=False) as advance:
        seen: list[str] = []
        spent_gate(seen, lambda: advance(5, 5, 7)).acquire()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("backfill: 5/5 runs, 7 requests") and "waiting for the rate-limit window" in line
