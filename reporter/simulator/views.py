"""What the simulated platform shows of its history at a given moment, as JSON-ready dicts."""

from __future__ import annotations

import hashlib
import random
import re
from datetime import datetime
from typing import Any

from reporter.simulator.scenario import REPOSITORY, Attempt, RegressionTest, Scenario, SimRun
from reporter.simulator.suite import fault_code

SEVERITY = {"exit_code_mismatch": "error", "missing_output": "error", "diff_mismatch": "warning"}
_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}
_EXTENSIONS = {"srt": "srt", "ttxt": "txt", "webvtt": "vtt", "spupng": "xml"}


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


def _test(scenario: Scenario, regression_id: int, sample_id: int | None) -> RegressionTest:
    found = scenario.suite.get(regression_id)
    return found or RegressionTest(regression_id, sample_id, ("General",), 0, "-autoprogram -out=srt")


def exit_code(test: RegressionTest, platform: str, attempt: Attempt, verdict: str) -> int:
    """The exit code a result row holds, consistent with its verdict."""
    code = attempt.exit_codes.get(test.regression_id)
    if verdict in ("pass", "diff_mismatch"):
        return test.expected_rc
    if verdict == "missing_output":
        return test.expected_rc if code is None else code
    if code is None or code == test.expected_rc:
        return fault_code(test.sample_id, platform, test.expected_rc)
    return code


def errors_of(verdict: str, code: int, expected: int) -> list[str]:
    """The error items the platform derives from one result row, in its order."""
    found = ["exit_code_mismatch"] if code != expected else []
    return found + ([verdict] if verdict in ("missing_output", "diff_mismatch") else [])


def sample_status(verdict: str) -> str:
    if verdict == "missing_output":
        return "missing_output"
    return "pass" if verdict == "pass" else "fail"


def _runtime(run: SimRun, regression_id: int, verdict: str) -> int:
    base = 400 + (regression_id * 7919 + run.run_id * 104729) % 9000
    return base * (3 if run.platform == "windows" else 2) // 2 + (30000 if verdict == "missing_output" else 0)


def run_samples(scenario: Scenario, run: SimRun, now: datetime) -> list[dict[str, Any]]:
    """One row per regression test with a result in the attempt in force (tests not run are absent)."""
    attempt = attempt_at(run, now)
    results = visible_results(run, now)
    if attempt is None or not results:
        return []
    table = _sample_of(scenario)
    rows = []
    for regression_id in sorted(results):
        verdict = results[regression_id]
        sample_id, name = table.get(regression_id, (None, None))
        test = _test(scenario, regression_id, sample_id)
        code = exit_code(test, run.platform, attempt, verdict)
        output = {"output_id": regression_id * 10 + 1, "filename": _output_name(test), "status": "pass"}
        output["status"] = "fail" if verdict == "diff_mismatch" else "pass"
        rows.append(
            {
                "regression_test_id": regression_id,
                "sample_id": sample_id,
                "sample_name": name,
                "status": sample_status(verdict),
                "exit_code": code,
                "expected_rc": test.expected_rc,
                "runtime_ms": _runtime(run, regression_id, verdict),
                "command": test.command,
                "categories": list(test.categories),
                "outputs": [] if verdict == "missing_output" else [output],
            }
        )
    return rows


def _output_name(test: RegressionTest) -> str:
    match = re.search(r"-out=(\w+)", test.command)
    extension = _EXTENSIONS.get(match.group(1) if match else "srt", "srt")
    return f"test-{test.regression_id}.{extension}"


def filter_samples(rows: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    """The live server's ``status``, ``name``, ``tag`` and ``category`` filters (tags: none here)."""
    if query.get("status"):
        rows = [r for r in rows if r["status"] == query["status"]]
    if query.get("name"):
        rows = [r for r in rows if r["sample_name"] and query["name"].lower() in r["sample_name"].lower()]
    if query.get("tag"):
        rows = []
    if query.get("category"):
        wanted = query["category"].lower()
        rows = [r for r in rows if wanted in [c.lower() for c in r["categories"]]]
    return rows


def run_summary(scenario: Scenario, run: SimRun, now: datetime) -> dict[str, Any]:
    rows = run_samples(scenario, run, now)
    statuses = [r["status"] for r in rows]
    total = len(_sample_of(scenario))
    errors = sum(len(errors_of(_verdict(r), r["exit_code"], r["expected_rc"])) for r in rows)
    duration = sum(r["runtime_ms"] for r in rows)
    return {
        "run_id": run.run_id,
        "status": run_status(run, now),
        "total_samples": total,
        "pass_count": statuses.count("pass"),
        "fail_count": statuses.count("fail"),
        "skipped_count": max(0, total - len(rows)),
        "missing_output_count": statuses.count("missing_output"),
        "error_count": errors,
        "duration_ms": duration or None,
    }


def _verdict(row: dict[str, Any]) -> str:
    if row["status"] == "missing_output":
        return "missing_output"
    if row["status"] == "fail" and row["exit_code"] == row["expected_rc"]:
        return "diff_mismatch"
    return "exit_code_mismatch" if row["status"] == "fail" else "pass"


def error_buckets(
    scenario: Scenario, run: SimRun, now: datetime, group_by: str, severity: str | None
) -> list[dict[str, Any]]:
    """Groups in order of first appearance, as the live server returns them."""
    table = _sample_of(scenario)
    attempt = attempt_at(run, now)
    failures = [(r, v) for r, v in visible_results(run, now).items() if v != "pass"]
    random.Random(run.run_id).shuffle(failures)
    seen = offset_time(attempt.completed_at) if failures and attempt else None
    groups: dict[str, dict[str, Any]] = {}
    for regression_id, verdict in failures:
        sample_id = table.get(regression_id, (None, None))[0]
        test = _test(scenario, regression_id, sample_id)
        code = exit_code(test, run.platform, attempt, verdict) if attempt else test.expected_rc
        for error_type in errors_of(verdict, code, test.expected_rc):
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
                    "severity": SEVERITY[error_type],
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
