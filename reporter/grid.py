"""Lay out the recent runs of flagged samples as a TestGrid-style grid; pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reporter.analysis import FAILING, FLAKY, Analysis, Classification
from reporter.history import History, RunRecord

PASS, FAIL, FLIP, NOISE, UNTESTED = "pass", "fail", "flip", "noise", "untested"
COLUMNS = 40


@dataclass(frozen=True, slots=True)
class Column:
    """One run, as a grid column."""

    run_id: int
    commit_sha: str
    completed_at: datetime | None
    noise: str | None  # why the whole run is set aside, if it is


@dataclass(frozen=True, slots=True)
class Cell:
    state: str  # pass, fail, flip (failed on a commit that also passed), noise, untested
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    sample_id: int
    sample_name: str
    classification: Classification
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Grid:
    """One platform: recent runs as columns (oldest first), flagged samples as rows."""

    platform: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]


def grids(history: History, result: Analysis, columns: int = COLUMNS) -> tuple[Grid, ...]:
    """A grid per platform that has flagged samples."""
    flagged = [f for f in result.findings if f.classification in (FLAKY, FAILING)]
    pr_noise = {(run_id, b.sample_id) for b in result.pr_breakages for run_id in b.run_ids}
    infra = set(result.infra_runs)
    shared = {(e.key, s): e.signature for e in result.infra_noise if e.cause != "run" for s in e.sample_ids}
    made = []
    for platform in sorted({f.platform for f in flagged}):
        runs = sorted(
            (r for r in history.runs if r.platform == platform),
            key=lambda r: (r.completed_at or datetime.min, r.run_id),
        )[-columns:]
        cols = tuple(Column(r.run_id, r.commit_sha, r.completed_at, _run_noise(r, infra)) for r in runs)
        mixed = _mixed_commits(runs)
        rows = tuple(
            Row(
                f.sample_id,
                f.sample_name,
                f.classification,
                tuple(
                    _cell(r, col, f.sample_id, mixed, pr_noise, shared)
                    for r, col in zip(runs, cols, strict=True)
                ),
            )
            for f in flagged
            if f.platform == platform
        )
        made.append(Grid(platform, cols, rows))
    return tuple(made)


def _run_noise(run: RunRecord, infra: set[tuple[int, int]]) -> str | None:
    if not run.evidence:
        return run.status
    return "infrastructure" if run.key in infra else None


def _mixed_commits(runs: Sequence[RunRecord]) -> dict[int, set[str]]:
    """Per sample, the commits on which it both passed and failed."""
    seen: dict[tuple[int, str], set[bool]] = defaultdict(set)
    for run in runs:
        if run.evidence:
            for sample_id in run.tested | run.failures.keys():
                seen[(sample_id, run.commit_sha)].add(sample_id in run.failures)
    mixed: dict[int, set[str]] = defaultdict(set)
    for (sample_id, sha), outcomes in seen.items():
        if len(outcomes) == 2:
            mixed[sample_id].add(sha)
    return mixed


def _cell(
    run: RunRecord,
    column: Column,
    sample_id: int,
    mixed: dict[int, set[str]],
    pr_noise: set[tuple[int, int]],
    shared: dict[tuple[tuple[int, int], int], str],
) -> Cell:
    head = f"run {run.run_id}, commit {run.commit_sha[:7]}"
    if column.noise:
        return Cell(NOISE, f"{head}: excluded ({column.noise})")
    if (run.key, sample_id) in shared:
        return Cell(NOISE, f"{head}: excluded (shared cause: {shared[(run.key, sample_id)]})")
    if (run.run_id, sample_id) in pr_noise:
        return Cell(NOISE, f"{head}: excluded (pull request #{run.pr_number} breakage)")
    if sample_id in run.failures:
        types = ", ".join(run.failures[sample_id]) or "failed"
        if run.commit_sha in mixed.get(sample_id, set()):
            return Cell(FLIP, f"{head}: {types}; the same commit also passed")
        return Cell(FAIL, f"{head}: {types}")
    if sample_id in run.tested:
        return Cell(PASS, f"{head}: passed")
    return Cell(UNTESTED, f"{head}: not tested")
