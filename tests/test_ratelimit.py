"""Pacing with a controllable clock: no request goes past the window, waits end at the reset."""

from __future__ import annotations

from reporter.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def headers(remaining: int, reset: float, limit: int = 3) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(reset)),
    }


def test_waits_for_the_reset_when_the_window_is_spent() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    limiter.acquire()
    limiter.release(headers(remaining=0, reset=1010))
    limiter.acquire()
    assert clock.sleeps == [10.0]
    assert clock.now == 1010.0


def test_counts_locally_between_responses() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    limiter.acquire()
    limiter.release(headers(remaining=2, reset=1060))
    limiter.acquire()  # 1 left locally
    limiter.acquire()  # 0 left locally, no response seen yet
    assert clock.sleeps == []
    limiter.acquire()  # must wait for the window
    assert clock.sleeps == [60.0]


def test_a_new_window_restores_the_limit() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    limiter.acquire()
    limiter.release(headers(remaining=0, reset=1005))
    clock.now = 1006
    limiter.acquire()
    assert clock.sleeps == []
    assert limiter.remaining == 2


def test_retry_after_blocks_every_caller() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    limiter.block_for(7)
    limiter.acquire()
    assert clock.sleeps == [7.0]


def test_stale_response_from_an_old_window_is_ignored() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, margin=0.0)
    limiter.acquire()
    limiter.release(headers(remaining=50, reset=1060, limit=60))
    limiter.release(headers(remaining=59, reset=1000, limit=60))
    assert limiter.remaining == 50
