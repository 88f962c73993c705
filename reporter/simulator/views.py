"""What the simulated platform shows of its history at a given moment, as JSON-ready dicts."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from typing import Any

from reporter.simulator.scenario import REPOSITORY, Attempt, Scenario, SimRun

SEVERITY = {"exit_code_mismatch": "error", "missing_output": "error", "diff_mismatch": "warning"}
_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def zulu(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def offset_time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def attempt_at(run: SimRun, now: datetime) -> Attempt | None:
    """The attempt in force at ``now`` (a restart replaces the previous one)."""
    current = None
    for attempt in run.attempts:
        if attempt.queued_at <= now:
            current = attempt
    return current


def run_status(run: SimRun, now: datetime) -> str:
    attempt = attempt_at(run, now)
    if attempt is None or now < attempt.started_at:
        return "queued"
    if now < attempt.completed_at:
        return "running"
    if attempt.outcome != "completed":
        return attempt.outcome if attempt.outcome == "error" else "canceled"
    return "fail" if any(v != "pass" for v in attempt.results.values()) else "pass"


def first_progress(run: SimRun, now: datetime) -> datetime | None:
    attempt = attempt_at(run, now)
    if attempt is None or now < attempt.started_at:
        return None
    return attempt.started_at


def run_json(run: SimRun, now: datetime) -> dict[str, Any]:
    attempt = attempt_at(run, now)
    status = run_status(run, now)
    started = attempt.started_at if attempt and status != "queued" else None
    done = attempt.completed_at if attempt and status not in ("queued", "running") else None
    link = (
        f"https://github.com/{REPOSITORY}/pull/{run.pr_number}"
        if run.pr_number
        else f"https://github.com/{REPOSITORY}/commit/{run.commit_sha}"
    )
    return {
        "run_id": run.run_id,
        "status": status,
        "platform": run.platform,
        "test_type": run.test_type,
        "repository": REPOSITORY,
        "branch": run.branch,
        "commit_sha": run.commit_sha,
        "pr_number": run.pr_number,
        "created_at": zulu(run.created_at),
        "queued_at": zulu(attempt.queued_at if attempt else None),
        "started_at": zulu(started),
        "completed_at": zulu(done),
        "github_link": link,
    }


def visible_results(run: SimRun, now: datetime) -> dict[int, str]:
    attempt = attempt_at(run, now)
    if attempt is None or now < attempt.completed_at:
        return {}
    return attempt.results


def _sample_of(scenario: Scenario) -> dict[int, tuple[int | None, str | None]]:
    table: dict[int, tuple[int | None, str | None]] = {scenario.orphan_regression_id: (None, None)}
    for spec in scenario.samples:
        for regression_id in spec.regression_ids:
            table[regression_id] = (spec.sample_id, spec.name)
    return table


def run_samples(scenario: Scenario, run: SimRun, now: datetime) -> list[dict[str, Any]]:
    results = visible_results(run, now)
    rows = []
    for regression_id, (sample_id, name) in sorted(_sample_of(scenario).items()):
        verdict = results.get(regression_id)
        if verdict is None:
            status = "not_started"
        elif verdict == "missing_output":
            status = "missing_output"
        else:
            status = "pass" if verdict == "pass" else "fail"
        if regression_id not in results and run_status(run, now) in ("pass", "fail"):
            continue  # not part of this run (e.g. a sample added later)
        rows.append(
            {
                "regression_test_id": regression_id,
                "sample_id": sample_id,
                "sample_name": name,
                "categories": ["General"],
                "command": "-autoprogram -out=srt",
                "status": status,
                "runtime_ms": 1200 if verdict else None,
                "exit_code": None if verdict is None else (10 if verdict == "exit_code_mismatch" else 0),
                "expected_rc": 0,
                "outputs": [],
            }
        )
    return rows


def run_summary(scenario: Scenario, run: SimRun, now: datetime) -> dict[str, Any]:
    results = visible_results(run, now)
    verdicts = list(results.values())
    return {
        "run_id": run.run_id,
        "status": run_status(run, now),
        "total_samples": len(_sample_of(scenario)),
        "pass_count": verdicts.count("pass"),
        "fail_count": sum(1 for v in verdicts if v in ("exit_code_mismatch", "diff_mismatch")),
        "skipped_count": 0,
        "missing_output_count": verdicts.count("missing_output"),
        "error_count": sum(1 for v in verdicts if v != "pass"),
        "duration_ms": 1200 * len(verdicts),
    }


def error_buckets(
    scenario: Scenario, run: SimRun, now: datetime, group_by: str, severity: str | None
) -> list[dict[str, Any]]:
    """Groups in order of first appearance, as the live server returns them."""
    table = _sample_of(scenario)
    failures = [(r, v) for r, v in visible_results(run, now).items() if v != "pass"]
    random.Random(run.run_id).shuffle(failures)
    seen = offset_time(attempt_at(run, now).completed_at) if failures else None  # type: ignore[union-attr]
    groups: dict[str, dict[str, Any]] = {}
    for regression_id, error_type in failures:
        sample_id = table[regression_id][0]
        key = {
            "type": error_type,
            "sample_id": str(sample_id),
            "regression_id": str(regression_id),
            "severity": SEVERITY[error_type],
        }[group_by]
        group = groups.setdefault(
            key,
            {
                "group_by": group_by,
                "key": key,
                "count": 0,
                "severity": "info",
                "sample_ids": [],
                "first_seen_at": seen,
                "last_seen_at": seen,
            },
        )
        group["count"] += 1
        if _RANK[SEVERITY[error_type]] > _RANK[group["severity"]]:
            group["severity"] = SEVERITY[error_type]
        if sample_id is not None and sample_id not in group["sample_ids"]:
            group["sample_ids"].append(sample_id)
    buckets = list(groups.values())
    return [b for b in buckets if severity is None or b["severity"] == severity]


def sample_json(scenario: Scenario, sample_id: int) -> dict[str, Any] | None:
    spec = scenario.sample(sample_id)
    if spec is None:
        return None
    digest = hashlib.sha256(spec.name.encode()).hexdigest()
    return {
        "sample_id": spec.sample_id,
        "sha": digest,
        "extension": spec.name.rsplit(".", 1)[-1],
        "original_name": spec.name,
        "filename": f"{digest}.{spec.name.rsplit('.', 1)[-1]}",
        "tags": [],
        "regression_test_count": len(spec.regression_ids),
        "active": True,
    }
