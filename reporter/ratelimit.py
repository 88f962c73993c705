"""One pacing gate per token, fed by X-RateLimit-* and Retry-After headers.

Requests go ahead while the current fixed window has room; when the local
count of what is left reaches zero, callers sleep until the window resets.
Counting happens locally on acquire, so concurrent requests never overshoot
the window between two responses.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable, Mapping

logger = logging.getLogger(__name__)


class RateLimiter:
    """Thread-safe gate shared by every request made with one token."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.05,
    ) -> None:
        self._clock, self._sleep, self._margin = clock, sleep, margin
        self._lock = threading.Lock()
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset: float | None = None
        self._blocked_until = 0.0
        self._skew = 0.0
        self._in_flight = 0
        self.waited = 0.0

    def acquire(self) -> None:
        """Block until one more request fits in the window, then count it."""
        while True:
            delay = self._try_take()
            if delay <= 0:
                return
            self.waited += delay
            logger.debug("rate limit: waiting %.2f s", delay)
            self._sleep(delay)

    def _try_take(self) -> float:
        with self._lock:
            now = self._clock() + self._skew
            if now < self._blocked_until:
                return self._blocked_until - now
            if self.reset is not None and now >= self.reset:
                self.remaining, self.reset = self.limit, None
            if self.remaining is not None and self.remaining <= 0 and self.reset is not None:
                return self.reset - now + self._margin
            if self.remaining is not None:
                self.remaining -= 1
            self._in_flight += 1
            return 0.0

    def release(self, headers: Mapping[str, str] | None) -> None:
        """Record one finished request and what its response said of the window."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if headers is None:
                return
            self._learn_skew(headers.get("date"))
            limit = _number(headers.get("x-ratelimit-limit"))
            remaining = _number(headers.get("x-ratelimit-remaining"))
            reset = _number(headers.get("x-ratelimit-reset"))
            if limit is None or remaining is None or reset is None:
                return
            self.limit = int(limit)
            if self.reset is None or reset > self.reset:
                self.reset = reset
                self.remaining = int(remaining) - self._in_flight
            elif reset == self.reset:
                self.remaining = min(
                    self.remaining if self.remaining is not None else int(remaining), int(remaining)
                )

    def block_for(self, seconds: float) -> None:
        """After a 429: hold every caller back for ``seconds``."""
        with self._lock:
            until = self._clock() + self._skew + seconds
            self._blocked_until = max(self._blocked_until, until)
            self.remaining = 0

    @property
    def headroom(self) -> tuple[int | None, int | None]:
        """(remaining, limit) as last seen."""
        return self.remaining, self.limit

    def _learn_skew(self, date: str | None) -> None:
        if not date:
            return
        try:
            server = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        skew = server - self._clock()
        # Date has one-second resolution: only correct for clocks clearly apart.
        self._skew = skew if abs(skew) > 2 else 0.0


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None
