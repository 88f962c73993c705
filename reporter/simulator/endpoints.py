"""The simulated API's endpoints: query checks, pages, one function per route, as the live server has them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reporter.simulator import views
from reporter.simulator.scenario import REPOSITORY

if TYPE_CHECKING:
    from reporter.simulator.server import SimulatedPlatform

# The live server accepts only the statuses it can derive (the contract also lists skipped, running).
SAMPLE_STATUSES = ("pass", "fail", "missing_output", "not_started")
Reply = tuple[int, Any]


class BadQuery(Exception):
    """A query parameter failed validation; carries ``details.fields``."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(fields)
        self.fields = fields


def error_body(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def too_many(headers: Mapping[str, str]) -> Reply:
    retry = int(headers.get("Retry-After", "1"))
    details = {"retry_after": retry, "limit": int(headers["X-RateLimit-Limit"]), "window": "60s"}
    return 429, error_body("rate_limited", f"Rate limit exceeded. Retry after {retry} seconds.", details)


def _int(query: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
        raise BadQuery({name: f"Must be an integer between {low} and {high}."})
    return int(raw)


def _page(items: list[Any], query: dict[str, str]) -> Reply:
    limit = _int(query, "limit", 50, 1, 100)
    offset = _int(query, "offset", 0, 0, 2147483647)
    chunk = items[offset : offset + limit]
    next_offset = offset + limit if offset + limit < len(items) else None
    pagination = {"limit": limit, "offset": offset, "total": len(items), "next_offset": next_offset}
    return 200, {"data": chunk, "pagination": pagination, "meta": {}}


def _parse_time(raw: str, name: str) -> datetime:
    # The live server reads only UTC "Z" times correctly; an offset is silently dropped.
    text = raw[:-1] if raw.endswith("Z") else re.sub(r"[+-]\d\d:\d\d$", "", raw)
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise BadQuery({name: "Must be an ISO 8601 date-time."}) from None


def _list_runs(sim: SimulatedPlatform, _ids: list[int], query: dict[str, str]) -> Reply:
    now = sim.clock()
    status = query.get("status")
    if status is not None and status not in ("queued", "running", "canceled"):
        raise BadQuery({"status": "Must be one of [queued, running, canceled]."})
    platform = query.get("platform")
    if platform is not None and platform not in ("linux", "windows"):
        raise BadQuery({"platform": "Must be one of [linux, windows]."})
    sort = query.get("sort", "-created_at")
    if sort not in ("created_at", "-created_at", "run_id", "-run_id"):
        raise BadQuery({"sort": "Must be one of [created_at, -created_at, run_id, -run_id]."})
    after = _parse_time(query["created_after"], "created_after") if "created_after" in query else None
    before = _parse_time(query["created_before"], "created_before") if "created_before" in query else None
    runs = [r for r in sim.scenario.runs if r.created_at <= now]
    wanted = {
        "platform": platform,
        "branch": query.get("branch"),
        "commit_sha": query.get("commit_sha"),
        "repository": query.get("repository"),
    }
    selected = []
    for run in runs:
        if status is not None and views.run_status(run, now) != status:
            continue
        fields = {
            "platform": run.platform,
            "branch": run.branch,
            "commit_sha": run.commit_sha,
            "repository": REPOSITORY,
        }
        if any(v is not None and fields[k] != v for k, v in wanted.items()):
            continue
        progress = views.first_progress(run, now)
        if progress is not None and ((after and progress < after) or (before and progress > before)):
            continue
        selected.append(run)
    selected.sort(key=lambda r: r.run_id, reverse=sort.startswith("-"))
    return _page([views.run_json(r, now) for r in selected], query)


def _get_run(sim: SimulatedPlatform, ids: list[int], query: dict[str, str]) -> Reply:
    run = sim.run_by_id(ids[0])
    if run is None:
        return 404, error_body("not_found", f"Run {ids[0]} not found.", {})
    return 200, views.run_json(run, sim.clock())


def _summary(sim: SimulatedPlatform, ids: list[int], query: dict[str, str]) -> Reply:
    run = sim.run_by_id(ids[0])
    if run is None:
        return 404, error_body("not_found", f"Run {ids[0]} not found.", {})
    return 200, views.run_summary(sim.scenario, run, sim.clock())


def _samples(sim: SimulatedPlatform, ids: list[int], query: dict[str, str]) -> Reply:
    _int(query, "limit", 50, 1, 100)
    _int(query, "offset", 0, 0, 2147483647)
    status = query.get("status")
    if status and status not in SAMPLE_STATUSES:
        return 400, error_body("validation_error", f"Invalid status: {status}", {})
    run = sim.run_by_id(ids[0])
    if run is None:
        return 404, error_body("not_found", f"Run {ids[0]} not found.", {})
    rows = views.filter_samples(views.run_samples(sim.scenario, run, sim.clock()), query)
    return _page(rows, query)


def _error_summary(sim: SimulatedPlatform, ids: list[int], query: dict[str, str]) -> Reply:
    group_by = query.get("group_by", "type")
    if group_by not in ("type", "sample_id", "regression_id", "severity"):
        raise BadQuery({"group_by": "Must be one of [type, sample_id, regression_id, severity]."})
    severity = query.get("severity")
    if severity is not None and severity not in ("info", "warning", "error", "critical"):
        raise BadQuery({"severity": "Must be one of [info, warning, error, critical]."})
    run = sim.run_by_id(ids[0])
    if run is None:
        return 404, error_body("not_found", f"Run {ids[0]} not found.", {})
    return _page(views.error_buckets(sim.scenario, run, sim.clock(), group_by, severity), query)


def _sample(sim: SimulatedPlatform, ids: list[int], query: dict[str, str]) -> Reply:
    body = views.sample_json(sim.scenario, ids[0])
    if body is None:
        return 404, error_body("not_found", f"Sample {ids[0]} not found.", {})
    return 200, body


_ROUTES: list[tuple[re.Pattern[str], Callable[..., Reply], str]] = [
    (re.compile(r"/api/v1/runs"), _list_runs, "runs:read"),
    (re.compile(r"/api/v1/runs/(\d+)"), _get_run, "runs:read"),
    (re.compile(r"/api/v1/runs/(\d+)/summary"), _summary, "runs:read"),
    (re.compile(r"/api/v1/runs/(\d+)/samples"), _samples, "runs:read"),
    (re.compile(r"/api/v1/runs/(\d+)/error-summary"), _error_summary, "results:read"),
    (re.compile(r"/api/v1/samples/(\d+)"), _sample, "runs:read"),
]


def route(path: str) -> tuple[Callable[..., Reply], str, list[int]] | None:
    for pattern, handler, scope in _ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return handler, scope, [int(g) for g in match.groups()]
    return None
