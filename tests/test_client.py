"""The platform client against the simulator over loopback, and edge cases via MockTransport."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.errors import (
    NotFound,
    PlatformUnreachable,
    RateLimited,
    RequestRejected,
    ResponseInvalid,
    ScopeMissing,
    ServerFailed,
    TokenRejected,
)
from reporter.ratelimit import RateLimiter
from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES
from tests.fakes import TOKEN, make_settings

RUN = {"run_id": 1, "status": "pass", "platform": "linux", "repository": "a/b", "commit_sha": "0" * 40}


def no_sleep(_seconds: float) -> None:
    return None


def test_lists_every_run_once_across_pages(client: PlatformClient, scenario: Scenario) -> None:
    runs = list(client.runs({"sort": "run_id"}, page_size=5))
    assert [r.run_id for r in runs] == sorted(r.run_id for r in scenario.runs)
    assert client.requests == -(-len(scenario.runs) // 5)


def test_typed_error_summary_and_samples(client: PlatformClient, scenario: Scenario) -> None:
    run = next(r for r in client.runs({"sort": "run_id"}) if r.status == "fail")
    buckets = client.error_summary(run.run_id, "sample_id")
    tests = client.run_samples(run.run_id)
    assert buckets and all(isinstance(b.key, str) for b in buckets)
    failing = {int(b.key) for b in buckets if b.key != "None"}
    assert failing == {t.sample_id for t in tests if t.status in ("fail", "missing_output") and t.sample_id}


def test_401_tells_the_operator_what_to_set(tmp_path: Path, platform: SimulatedPlatform) -> None:
    settings = make_settings(tmp_path, platform.base_url, platform={"token": "expired-token"})
    with PlatformClient(settings.platform, sleep=no_sleep) as client, pytest.raises(TokenRejected) as caught:
        client.run(1)
    assert "rejected the API token (missing, expired or invalid); set SAMPLE_PLATFORM_TOKEN" in str(
        caught.value
    )


def test_403_names_the_missing_scope(tmp_path: Path, scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={TOKEN: ("runs:read",)}) as server:
        settings = make_settings(tmp_path, server.base_url)
        with PlatformClient(settings.platform, sleep=no_sleep) as client:
            with pytest.raises(ScopeMissing, match="lacks scope results:read"):
                client.error_summary(1, "type")
            reach = client.reachability()
    assert reach.scopes_present == ("runs:read",) and reach.scopes_missing == ("results:read",)


def test_404_names_the_run(client: PlatformClient) -> None:
    with pytest.raises(NotFound, match="run 424242 not found"):
        client.run(424242)


def test_400_names_the_field(client: PlatformClient) -> None:
    with pytest.raises(RequestRejected, match="status"):
        list(client.runs({"status": "pass"}))


def test_429_waits_retry_after_then_succeeds(tmp_path: Path, scenario: Scenario) -> None:
    slept: list[float] = []
    began = time.time()

    def clock() -> float:
        """One clock for server and client that moves only when the client waits: no race with load."""
        return began + sum(slept)

    with SimulatedPlatform(
        scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=2, rate_window=1.0, wall=clock
    ) as server:
        for _ in range(3):  # another process using the same token spends the window
            httpx.get(f"{server.base_url}/runs/1", headers={"Authorization": f"Bearer {TOKEN}"})
        settings = make_settings(tmp_path, server.base_url)
        limiter = RateLimiter(clock=clock, sleep=slept.append, max_wait=settings.platform.max_retry_after)
        with PlatformClient(settings.platform, limiter=limiter, sleep=slept.append) as client:
            assert client.run(1).run_id == 1
    assert client.rate_limited == 1
    assert 1.0 <= sum(slept) <= 2.5  # Retry-After: 1, and not much more


def test_429_with_a_huge_retry_after_gives_up_with_advice(tmp_path: Path, scenario: Scenario) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "900"}, json={"code": "rate_limited"})

    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with PlatformClient(settings.platform, transport=httpx.MockTransport(handler), sleep=no_sleep) as client:
        with pytest.raises(RateLimited, match="wait 900 s"):
            client.run(1)


def test_5xx_is_retried_then_reported(tmp_path: Path) -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            return httpx.Response(503, text="<html>down</html>")
        return httpx.Response(200, json=RUN)

    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1", platform={"max_attempts": 4})
    with PlatformClient(settings.platform, transport=httpx.MockTransport(flaky), sleep=no_sleep) as client:
        assert client.run(1).status == "pass"
    assert calls["n"] == 3
    always = httpx.MockTransport(lambda r: httpx.Response(502, text="bad gateway"))
    with PlatformClient(settings.platform, transport=always, sleep=no_sleep) as client:
        with pytest.raises(ServerFailed, match="HTTP 502 on every attempt"):
            client.run(1)
        assert client.requests == 4


def test_4xx_is_never_retried(tmp_path: Path) -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(401, json={"code": "unauthorized", "message": "no", "details": {}})

    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with PlatformClient(settings.platform, transport=httpx.MockTransport(handler), sleep=no_sleep) as client:
        with pytest.raises(TokenRejected):
            client.run(1)
    assert calls["n"] == 1


def test_missing_field_names_endpoint_run_and_field(tmp_path: Path) -> None:
    body = {"run_id": 5, "platform": "linux", "repository": "a/b", "commit_sha": "0" * 40}
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with PlatformClient(settings.platform, transport=transport, sleep=no_sleep) as client:
        with pytest.raises(ResponseInvalid) as caught:
            client.run(5)
    assert str(caught.value) == "GET /runs/5 (run 5): field status: is missing"


def test_unknown_status_is_tolerated(tmp_path: Path) -> None:
    body = {
        "run_id": 5,
        "status": "exploded",
        "platform": "linux",
        "repository": "a/b",
        "commit_sha": "0" * 40,
    }
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=body))
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with PlatformClient(settings.platform, transport=transport, sleep=no_sleep) as client:
        run = client.run(5)
    assert run.status == "exploded" and not run.finished and not run.pending


def test_pagination_that_never_advances_is_stopped(tmp_path: Path) -> None:
    page = {
        "data": [
            {"run_id": 1, "status": "pass", "platform": "linux", "repository": "a/b", "commit_sha": "0" * 40}
        ],
        "pagination": {"limit": 1, "offset": 0, "total": None, "next_offset": 0},
        "meta": {},
    }
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json=page))
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with PlatformClient(settings.platform, transport=transport, sleep=no_sleep) as client:
        with pytest.raises(ResponseInvalid, match="does not advance"):
            list(client.runs({}))


def test_connection_refused_is_one_line_with_the_base_url(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1", platform={"max_attempts": 2})
    with PlatformClient(settings.platform, sleep=no_sleep) as client:
        with pytest.raises(PlatformUnreachable) as caught:
            client.run(1)
    message = str(caught.value)
    assert "cannot reach the Sample Platform at http://127.0.0.1:9/api/v1" in message
    assert "\n" not in message


def test_malformed_json_is_retried(platform: SimulatedPlatform, settings: Settings) -> None:
    platform.faults.malformed = 1.0
    with PlatformClient(settings.platform, sleep=no_sleep) as client:
        with pytest.raises(ResponseInvalid, match="not valid JSON"):
            client.run(1)
        platform.faults.malformed = 0.0
        assert client.run(1).run_id == 1


def test_token_never_appears_in_logs_or_errors(
    tmp_path: Path, platform: SimulatedPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-token-value-77"
    settings = make_settings(tmp_path, platform.base_url, platform={"token": secret})
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []
    with PlatformClient(settings.platform, sleep=no_sleep) as client:
        messages.append(repr(client))
        for call in (lambda: client.run(1), lambda: client.error_summary(1, "type")):
            try:
                call()
            except Exception as exc:
                messages.append(str(exc))
                messages.append(repr(exc))
    messages.append(repr(settings))
    messages.append(json.dumps(settings.model_dump(mode="json")))
    everything = "\n".join(messages) + caplog.text
    assert "rejected the API token" in everything
    assert secret not in everything


def test_user_agent_and_bearer_are_sent(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, json=RUN)

    settings = make_settings(tmp_path, "http://127.0.0.1:9/api/v1")
    with PlatformClient(settings.platform, transport=httpx.MockTransport(handler), sleep=no_sleep) as client:
        client.run(1)
    assert seen["user-agent"].startswith("sample-platform-reporter/")
    assert seen["authorization"] == f"Bearer {TOKEN}"


def test_5xx_and_dropped_connections_from_the_simulator_are_survived(
    platform: SimulatedPlatform, settings: Settings, scenario: Scenario
) -> None:
    platform.faults.server_error, platform.faults.drop = 0.3, 0.2
    with PlatformClient(settings.platform.model_copy(update={"max_attempts": 12}), sleep=no_sleep) as client:
        runs = list(client.runs({"sort": "run_id"}, page_size=10))
        buckets = client.error_summary(runs[-1].run_id, "type")
    assert [r.run_id for r in runs] == sorted(r.run_id for r in scenario.runs)
    assert platform.stats.faults > 0 and isinstance(buckets, list)
