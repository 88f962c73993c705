"""The pacing gate against the simulator's limiter on a controlled clock: callers share one gate,
sleeping lets answers arrive, and the server's windows show what the gate really did."""

from __future__ import annotations

import email.utils
import heapq
import itertools
import logging
import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reporter.client import PlatformClient
from reporter.errors import RateLimited
from reporter.ratelimit import RateLimiter, Ticket, retry_after_seconds
from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES
from tests.fakes import TOKEN, make_settings


class Net:
    """``callers`` callers sharing one gate; answers take ``latency`` seconds there and back."""

    def __init__(self, *, limit: int, window: float, callers: int = 8, latency: float = 0.02) -> None:
        self.now, self.skew = 5000.37, 0.0
        self.limit, self.window, self.latency = limit, window, latency
        self.free = callers
        self.events: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.gate = RateLimiter(clock=self.clock, sleep=self.sleep)
        self.refused = 0
        self.answered: list[tuple[float, Ticket, dict[str, str]]] = []
        self.sim: SimulatedPlatform | None = None

    def clock(self) -> float:
        return self.now

    def server_time(self) -> float:
        return self.now + self.skew

    def sleep(self, seconds: float) -> None:
        target = self.now + seconds
        while self.events and self.events[0][0] <= target:
            when, _, event = heapq.heappop(self.events)
            self.now = max(self.now, when)
            event()
        self.now = target

    def later(self, delay: float, event: Callable[[], None]) -> None:
        heapq.heappush(self.events, (self.now + delay, next(self.order), event))

    def send(self, ticket: Ticket, bucket: str = "token:t") -> None:
        self.later(self.latency / 2, lambda: self._arrive(ticket, bucket))

    def _arrive(self, ticket: Ticket, bucket: str) -> None:
        assert self.sim is not None
        allowed, headers = self.sim.take(bucket, self.limit, self.window)
        self.later(0.002, lambda: self._respond(ticket, allowed, headers))

    def _respond(self, ticket: Ticket, allowed: bool, headers: object) -> None:
        written = {k.lower(): v for k, v in dict(headers).items()}  # type: ignore[call-overload]
        written["date"] = email.utils.formatdate(self.server_time(), usegmt=True)
        self.later(self.latency / 2, lambda: self._deliver(ticket, allowed, written))

    def _deliver(self, ticket: Ticket, allowed: bool, headers: dict[str, str]) -> None:
        self.gate.release(ticket, headers, refused=not allowed)
        self.refused += not allowed
        self.answered.append((self.now, ticket, headers))
        self.free += 1

    def run(self, requests: int) -> list[Ticket]:
        sent: list[Ticket] = []
        while len(sent) < requests:
            if self.free == 0:
                self.sleep(self.events[0][0] - self.now)
                continue
            ticket = self.gate.acquire()
            self.free -= 1
            sent.append(ticket)
            self.send(ticket)
        self.sleep(1.0)
        return sent

    def windows(self) -> list[tuple[float, int]]:
        assert self.sim is not None
        return sorted(self.sim.stats.by_window.items())


@pytest.fixture
def net_for(scenario: Scenario) -> Iterator[Callable[..., Net]]:
    servers: list[SimulatedPlatform] = []

    def build(**options: object) -> Net:
        workers = int(options.pop("workers", 1))  # type: ignore[call-overload]
        net = Net(**options)  # type: ignore[arg-type]
        net.sim = SimulatedPlatform(scenario, wall=net.server_time, rate_workers=workers).start()
        servers.append(net.sim)
        return net

    yield build
    for server in servers:
        server.stop()


def gaps(net: Net) -> list[float]:
    """Idle time between one window's real end and the next window's opening."""
    starts = [start for start, _ in net.windows()]
    return [b - a - net.window for a, b in itertools.pairwise(starts)]


@pytest.mark.parametrize("window", [6.0, 60.0])
def test_every_window_is_used_in_full_and_nothing_is_refused(
    net_for: Callable[..., Net], window: float
) -> None:
    net = net_for(limit=120, window=window)
    net.run(120 * 12 + 50)
    counts = [count for _, count in net.windows()]
    assert net.refused == 0
    assert counts[:-1] == [120] * 12
    assert all(gap >= 0 for gap in gaps(net))
    assert max(gaps(net)[3:]) < 0.1  # once the window's length is learnt, resumes within 0.1 s


def test_eight_requests_in_flight_when_a_spent_window_ends(net_for: Callable[..., Net]) -> None:
    net = net_for(limit=20, window=6.0)
    tickets = net.run(20 * 4)
    starts = [start for start, _ in net.windows()]
    for start in starts[1:]:
        first = next(t for t in tickets if t.sent >= start - net.latency)
        answer = next(when for when, t, _ in net.answered if t == first)
        followers = [t for t in tickets if t.number > first.number][:7]
        assert first.sent >= start - net.latency / 2  # nothing left before the window really ended
        assert all(t.sent >= answer for t in followers)  # the others waited for the first answer
    assert net.refused == 0


def test_a_window_ending_while_eight_are_in_flight_is_never_overrun(net_for: Callable[..., Net]) -> None:
    net = net_for(limit=40, window=6.0, latency=0.4)  # slow answers: windows end mid-flight
    net.run(40 * 6)
    assert net.refused == 0
    assert all(count <= 40 for _, count in net.windows())


def test_restart_midway_through_a_window_is_safe(net_for: Callable[..., Net]) -> None:
    net = net_for(limit=50, window=6.0)
    assert net.sim is not None
    for _ in range(37):  # a previous process spent most of the window
        net.sim.take("token:t", 50, 6.0)
    net.now += 2.2
    net.run(50 * 3)
    assert net.refused == 0
    assert [count for _, count in net.windows()][:3] == [50, 50, 50]


def test_another_process_on_the_same_token_costs_at_most_a_few_refusals(net_for: Callable[..., Net]) -> None:
    net = net_for(limit=60, window=6.0)
    assert net.sim is not None
    other = net.sim

    def burst() -> None:
        for _ in range(15):
            other.take("token:t", 60, 6.0)
        net.later(4.1, burst)

    net.later(0.5, burst)
    net.run(60 * 8)
    assert net.refused <= 8  # at most what was in flight when the other process struck


def test_server_clock_ahead_or_behind(net_for: Callable[..., Net]) -> None:
    for skew in (-0.6, 3.7):
        net = net_for(limit=60, window=6.0)
        net.skew = skew
        net.run(60 * 10)
        assert net.refused <= 2, skew  # a guess ruled out by a refusal, then none
        assert max(gaps(net)[5:]) < 0.25


def test_a_window_that_is_not_whole_seconds_is_learnt(net_for: Callable[..., Net]) -> None:
    net = net_for(limit=60, window=6.5)
    net.run(60 * 12)
    assert net.refused <= 2
    assert max(gaps(net)[6:]) < 0.25


def test_per_worker_windows_are_respected(net_for: Callable[..., Net]) -> None:
    net = net_for(limit=40, window=6.0, workers=3)
    net.run(40 * 10)
    assert net.refused <= 2


def test_a_long_wait_is_announced_once(caplog: pytest.LogCaptureFixture, net_for: Callable[..., Net]) -> None:
    caplog.set_level(logging.INFO, logger="reporter.ratelimit")
    net = net_for(limit=10, window=60.0)
    net.run(25)
    holds = [r.getMessage() for r in caplog.records if "holding" in r.getMessage()]
    assert len(holds) == 2  # one per spent window, not one per caller
    assert "window" in holds[0] and " s" in holds[0]


def test_no_announcement_for_short_waits(
    caplog: pytest.LogCaptureFixture, net_for: Callable[..., Net]
) -> None:
    caplog.set_level(logging.INFO, logger="reporter.ratelimit")
    net = net_for(limit=10, window=4.0)
    net.run(25)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def headers(remaining: str, reset: str, limit: str = "3") -> dict[str, str]:
    return {"x-ratelimit-limit": limit, "x-ratelimit-remaining": remaining, "x-ratelimit-reset": reset}


def test_a_reset_far_away_fails_with_a_clear_message() -> None:
    clock = Clock()
    gate = RateLimiter(clock=clock, sleep=clock.sleep, max_wait=120)
    gate.release(gate.acquire(), headers("0", str(1000 + 30 * 86400)))
    with pytest.raises(RateLimited, match=r"hold requests back 2592\d+ s .*platform.max_retry_after=120 s"):
        gate.acquire()
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("limit", "remaining", "reset"),
    [
        ("3", "0", "inf"),
        ("3", "0", "nan"),
        ("3", "0", "99999999999"),
        ("3", "0", "-1e308"),
        ("nan", "0", "1010"),
        ("inf", "0", "1010"),
        ("0", "0", "1010"),
        ("3", "-5", "1010"),
        ("3", "1e400", "1010"),
        ("3", "zero", "1010"),
    ],
)
def test_nonsense_headers_are_ignored(limit: str, remaining: str, reset: str) -> None:
    clock = Clock()
    gate = RateLimiter(clock=clock, sleep=clock.sleep, max_wait=120)
    gate.release(gate.acquire(), headers(remaining, reset, limit))
    for _ in range(5):
        gate.release(gate.acquire(), None)
    assert clock.sleeps == []


def test_retry_after_as_seconds_or_date() -> None:
    assert retry_after_seconds("7", 1000.0) == 7.0
    assert retry_after_seconds(email.utils.formatdate(1030.0, usegmt=True), 1000.0) == 30.0
    assert retry_after_seconds("inf", 1000.0) is None
    assert retry_after_seconds("nan", 1000.0) is None
    assert retry_after_seconds("-4", 1000.0) == 0.0
    assert retry_after_seconds("soon", 1000.0) is None
    assert math.isfinite(retry_after_seconds("1e300", 1000.0) or 0.0)


def test_the_client_over_http_against_the_live_limiter_is_never_refused(
    scenario: Scenario, tmp_path: Path
) -> None:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=10, rate_window=1.0) as server:
        settings = make_settings(tmp_path, server.base_url, platform={"concurrency": 8})
        with PlatformClient(settings.platform) as client, ThreadPoolExecutor(8) as pool:
            runs = list(pool.map(lambda _: client.run(1).run_id, range(45)))
    assert runs == [1] * 45
    assert server.stats.rate_limited == 0 and client.rate_limited == 0
    assert [count for _, count in sorted(server.stats.by_window.items())][:4] == [10, 10, 10, 10]
