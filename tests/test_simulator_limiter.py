"""The simulator's rate limiter behaves like the live server's, one behaviour per test (controlled clock)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES
from tests.fakes import TOKEN


class Wall:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> Wall:
    return Wall(1000.4)


@pytest.fixture
def sim(scenario: Scenario, wall: Wall) -> Iterator[SimulatedPlatform]:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=3, wall=wall) as server:
        yield server


def take(sim: SimulatedPlatform) -> tuple[bool, dict[str, str]]:
    allowed, headers = sim.take("token:t", 3, 60.0)
    return allowed, dict(headers)


def test_the_window_opens_at_the_first_request_after_expiry(sim: SimulatedPlatform, wall: Wall) -> None:
    take(sim)
    wall.now = 1060.39  # 59.99 s later: still the same window
    assert take(sim)[1]["X-RateLimit-Remaining"] == "1"
    wall.now = 1075.25  # the window ended at 1060.4; this request opens the next one, not 1060.4
    assert take(sim)[1]["X-RateLimit-Remaining"] == "2"
    assert list(sim.stats.by_window) == [1000.4, 1075.25]


def test_reset_is_the_end_truncated_to_whole_seconds(sim: SimulatedPlatform, wall: Wall) -> None:
    wall.now = 1000.9
    assert take(sim)[1]["X-RateLimit-Reset"] == "1060"  # the window really ends at 1060.9


def test_retry_after_is_reset_minus_the_whole_second_now(sim: SimulatedPlatform, wall: Wall) -> None:
    for _ in range(3):
        assert take(sim)[0]
    wall.now = 1010.7
    allowed, headers = take(sim)
    assert not allowed
    assert headers == {
        "Retry-After": "50",
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "1060",
    }
    wall.now = 1059.95
    assert take(sim)[1]["Retry-After"] == "1"
    wall.now = 1060.2  # past Reset but before the real end (1060.4): still refused, "retry after 1"
    allowed, headers = take(sim)
    assert not allowed and headers["Retry-After"] == "1"


def test_refused_requests_count_against_the_window(sim: SimulatedPlatform, wall: Wall) -> None:
    results = [take(sim)[0] for _ in range(5)]
    assert results == [True, True, True, False, False]
    assert sim.stats.by_window == {1000.4: 5}


def test_headers_are_read_when_the_answer_is_written(sim: SimulatedPlatform, wall: Wall) -> None:
    allowed, first = sim.take("token:t", 3, 60.0)
    take(sim)  # another request arrives while the first is being answered
    assert allowed and first["X-RateLimit-Remaining"] == "1"
    wall.now = 1070.0
    take(sim)  # a new window opens before the first answer goes out
    assert dict(first) == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "2",
        "X-RateLimit-Reset": "1130",
    }


def test_per_worker_windows_each_allow_the_limit(scenario: Scenario, wall: Wall) -> None:
    with SimulatedPlatform(scenario, rate_limit=3, rate_workers=4, wall=wall) as server:
        allowed = [server.take("token:t", 3, 60.0)[0] for _ in range(40)]
    assert 3 < sum(allowed) <= 12
    assert sum(server.stats.by_window.values()) == 40


def test_every_answer_carries_the_headers_over_http(scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=2) as server:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answers = [
            httpx.get(f"{server.base_url}/runs/999999", headers=auth),  # 404
            httpx.get(f"{server.base_url}/runs", params={"limit": 0}, headers=auth),  # 400
            httpx.get(f"{server.base_url}/runs/1", headers=auth),  # 429
        ]
    assert [a.status_code for a in answers] == [404, 400, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[2].headers["Retry-After"] >= "1"
