"""The simulator follows the contract and the live server's observed behaviour, over real HTTP."""

from __future__ import annotations

import time

import httpx
import pytest

from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES
from tests.fakes import TOKEN


def get(
    platform: SimulatedPlatform, path: str, token: str | None = TOKEN, **params: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(platform.base_url + path, params=params, headers=headers, timeout=5)


def test_pages_follow_next_offset_to_the_end(platform: SimulatedPlatform, scenario: Scenario) -> None:
    seen, offset = [], 0
    while offset is not None:
        body = get(platform, "/runs", sort="run_id", limit=7, offset=offset).json()
        assert body["meta"] == {} and body["pagination"]["limit"] == 7
        seen += [r["run_id"] for r in body["data"]]
        offset = body["pagination"]["next_offset"]
    assert seen == sorted(r.run_id for r in scenario.runs)


def test_default_order_is_newest_first_with_zulu_times(platform: SimulatedPlatform) -> None:
    data = get(platform, "/runs", limit=5).json()["data"]
    assert [r["run_id"] for r in data] == sorted((r["run_id"] for r in data), reverse=True)
    assert data[0]["created_at"].endswith("Z")


def test_rate_limit_headers_on_every_response(platform: SimulatedPlatform) -> None:
    response = get(platform, "/runs/999999")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Run 999999 not found.", "details": {}}
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert "X-RateLimit-Remaining" in response.headers


def test_401_without_or_with_a_bad_token(platform: SimulatedPlatform) -> None:
    for token in (None, "wrong"):
        response = get(platform, "/runs", token=token)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def test_403_names_the_missing_scope(scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={"runs-only": ("runs:read",)}) as server:
        response = get(server, "/runs/1/error-summary", token="runs-only")
    assert response.status_code == 403
    assert response.json()["details"] == {
        "required_scopes": ["results:read"],
        "missing_scopes": ["results:read"],
        "token_scopes": ["runs:read"],
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "pass"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_400_validation_errors_name_the_field(
    platform: SimulatedPlatform, params: dict[str, object], field: str
) -> None:
    response = get(platform, "/runs", **params)
    assert response.status_code == 400
    assert field in response.json()["details"]["fields"]


def test_429_with_retry_after_when_the_window_is_spent(scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=3, rate_window=60) as server:
        codes = [get(server, "/runs", limit=1) for _ in range(4)]
    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert [c.headers["X-RateLimit-Remaining"] for c in codes[:3]] == ["2", "1", "0"]
    assert int(codes[3].headers["Retry-After"]) >= 1
    assert codes[3].json()["code"] == "rate_limited"


def test_error_summary_groups_and_orphan_key(platform: SimulatedPlatform, scenario: Scenario) -> None:
    failing = next(
        r
        for r in scenario.runs
        if r.attempts[-1].results.get(scenario.orphan_regression_id, "pass") != "pass"
        and r.attempts[-1].outcome == "completed"
        and r.attempts[-1].completed_at < scenario.end
    )
    buckets = get(platform, f"/runs/{failing.run_id}/error-summary", group_by="sample_id", limit=100).json()
    orphan = [b for b in buckets["data"] if b["key"] == "None"]
    assert orphan and orphan[0]["sample_ids"] == []
    assert buckets["pagination"]["total"] == len(buckets["data"])
    assert all(
        b["first_seen_at"] == b["last_seen_at"] and b["first_seen_at"].endswith("+00:00")
        for b in buckets["data"]
    )
    warnings = get(
        platform, f"/runs/{failing.run_id}/error-summary", group_by="type", severity="warning"
    ).json()
    assert all(b["severity"] == "warning" for b in warnings["data"])


def test_created_after_matches_queued_runs_always(platform: SimulatedPlatform, scenario: Scenario) -> None:
    body = get(platform, "/runs", created_after="2100-01-01T00:00:00Z", limit=100).json()
    assert body["data"] and {r["status"] for r in body["data"]} == {"queued"}


def test_status_filter_accepts_only_pending_and_canceled(platform: SimulatedPlatform) -> None:
    assert get(platform, "/runs", status="running").status_code == 200
    assert get(platform, "/runs", status="fail").status_code == 400


def test_injected_faults(platform: SimulatedPlatform) -> None:
    platform.faults.server_error = 1.0
    assert get(platform, "/runs").status_code == 503
    platform.faults.server_error, platform.faults.malformed = 0.0, 1.0
    with pytest.raises(ValueError):
        get(platform, "/runs").json()
    platform.faults.malformed, platform.faults.drop = 0.0, 1.0
    with pytest.raises(httpx.TransportError):
        get(platform, "/runs")


def test_unknown_paths_lack_rate_limit_headers(platform: SimulatedPlatform) -> None:
    response = get(platform, "/nothing")
    assert response.status_code == 404 and "X-RateLimit-Limit" not in response.headers
