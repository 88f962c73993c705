"""One pacing gate per token that learns the platform's fixed rate-limit windows from the answers.

The live limiter keeps a fixed window per token (and per server worker) that opens at the first
request after the previous one expired, at a fractional time. ``X-RateLimit-Reset`` is its end
truncated to whole seconds, so up to 1 s early, and a refused request still counts. So the gate:

- keeps, per window seen (told apart by Reset), the lowest Remaining reported and the requests
  that may not have been counted when it was read (those in flight), and lets a request go only
  while every live window still has room;
- bounds each window's real end from above by ``Reset + 1`` (server time; the offset of the
  server's clock is learnt from ``Date``) and by the arrival of its first answer plus the window's
  length, learnt from answers showing ``Remaining = Limit - 1`` (the request that opened it);
- after a spent window, and at start, sends one request alone and lets the others follow once it
  is answered, so a wrong guess costs one refused request, not one per request in flight.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reporter.errors import RateLimited

logger = logging.getLogger(__name__)
LOUD_WAIT = 5.0  # seconds: a longer hold is announced at INFO
PROBE_HOLD = 2.0  # seconds the others wait for the answer to a request sent alone
POLL = 0.01  # seconds between looks while answers that may free room are in flight
PLAUSIBLE = 366 * 86400.0  # a Reset or Date further than this from the local clock is nonsense
_holds: dict[int, float] = {}  # limiter id -> monotonic time its current hold ends
_holds_lock = threading.Lock()


def holding() -> float | None:
    """Seconds left of the longest hold any gate in this process is in, if one is (for displays)."""
    with _holds_lock:
        left = max(_holds.values(), default=None)
    return None if left is None else max(0.0, left - time.monotonic())


@dataclass(frozen=True)
class Ticket:
    """One request let through the gate: its number and when it left."""

    number: int
    sent: float


@dataclass
class _Window:
    reset: int
    floor: int  # the lowest Remaining reported
    pending: set[int]  # requests that may have been counted after ``floor`` was read
    opened_by: float  # local time its first answer arrived: it had opened by then

    def room(self) -> int:
        return self.floor - len(self.pending)


@dataclass
class _Interval:
    """What is known of one quantity: lo <= value < hi."""

    lo: float = -math.inf
    hi: float = math.inf

    def narrow(self, lo: float, hi: float) -> None:
        new_lo, new_hi = max(self.lo, lo), min(self.hi, hi)
        if new_lo >= new_hi:  # contradicted (a clock step, a reconfigured server): start again
            new_lo, new_hi = lo, hi
        self.lo, self.hi = new_lo, new_hi


@dataclass
class _Header:
    limit: int
    remaining: int
    reset: int


class RateLimiter:
    """Thread-safe gate shared by every request made with one token."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.05,
        max_wait: float = math.inf,
    ) -> None:
        self._clock, self._sleep, self._margin, self._max_wait = clock, sleep, margin, max_wait
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._flight: dict[int, float] = {}
        self._loose: deque[tuple[float, int]] = deque()  # (when, number) of answers without the headers
        self._live: dict[int, _Window] = {}
        self._retired: dict[int, float] = {}  # reset -> opened_by, of windows believed over
        self._offset: _Interval | None = None  # server clock minus local clock
        self._length = _Interval(lo=0.0)  # the window's length in seconds
        self._probe: Ticket | None = None
        self._probe_wanted = True
        self._blocked_until = 0.0
        self._announced = 0.0
        self._warned: set[str] = set()
        self.limit: int | None = None

    # -- the gate ---------------------------------------------------------------------------
    def acquire(self) -> Ticket:
        """Block until one more request fits in every live window, then count it as in flight."""
        while True:
            with self._lock:
                now = self._clock()
                delay, reason = self._delay(now)
                if delay <= 0:
                    return self._take(now)
                self._check_bounded(delay, reason)
                loud = delay > LOUD_WAIT and abs(now + delay - self._announced) > 1.0
                if loud:
                    self._announced = now + delay
            if loud:
                logger.info("rate limit: holding requests back %.0f s: %s", delay, reason)
            self._hold(delay)

    def release(self, ticket: Ticket, headers: Mapping[str, str] | None, *, refused: bool = False) -> None:
        """Record the answer to ``ticket`` (``None`` when there was none) and what it says of the window."""
        with self._lock:
            now = self._clock()
            self._flight.pop(ticket.number, None)
            if self._probe is not None and self._probe.number == ticket.number:
                self._probe, self._probe_wanted = None, False
            if headers is not None:
                self._learn_offset(ticket, now, headers.get("date"))
            header = self._parse(headers, now) if headers is not None else None
            if header is None:
                self._loose.append((now, ticket.number))
                return
            self.limit = header.limit
            self._absorb(ticket, now, header, refused)

    def block_for(self, seconds: float) -> None:
        """After a 429: hold every caller back for at least ``seconds``."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    @property
    def headroom(self) -> tuple[int | None, int | None]:
        """(requests left in the tightest live window, limit) as last seen."""
        with self._lock:
            rooms = [w.room() for w in self._live.values()]
        return (min(rooms) if rooms else None), self.limit

    # -- deciding ---------------------------------------------------------------------------
    def _delay(self, now: float) -> tuple[float, str]:
        if now < self._blocked_until:
            return self._blocked_until - now, "the platform answered 429 and asked to retry later"
        self._retire(now)
        if self._probe is not None and now - self._probe.sent < PROBE_HOLD:
            return min(POLL, PROBE_HOLD - (now - self._probe.sent)), "waiting for the first answer"
        if self._probe_wanted and self._probe is None:
            return 0.0, ""
        if self._room() > 0:
            return 0.0, ""
        spent = [w for w in self._live.values() if w.room() <= 0]
        if not spent or any(n in self._flight for w in spent for n in w.pending):
            return POLL, "answers in flight may show room"
        end = min(self._end(w) for w in spent)
        return end - now, f"{self.limit} requests per window used; waiting for the window to end"

    def _room(self) -> float:
        rooms = [w.room() for w in self._live.values()]
        if rooms:
            return min(rooms)
        return math.inf if self.limit is None else self.limit - len(self._flight)

    def _take(self, now: float) -> Ticket:
        ticket = Ticket(next(self._numbers), now)
        self._flight[ticket.number] = now
        for window in self._live.values():
            window.pending.add(ticket.number)
        if self._probe_wanted and self._probe is None:
            self._probe = ticket
        return ticket

    def _retire(self, now: float) -> None:
        for reset, window in list(self._live.items()):
            if self._end(window) <= now:
                del self._live[reset]
                self._retired[reset] = window.opened_by
                self._probe_wanted = self._probe_wanted or window.room() <= 0
        for reset in sorted(self._retired)[:-16]:
            del self._retired[reset]
        while self._loose and now - self._loose[0][0] >= 600:  # oldest first: drop what expired
            self._loose.popleft()

    def _end(self, window: _Window) -> float:
        """The latest local time the window can really end (plus the margin)."""
        end = window.reset + 1 - self._offset_bounds().lo
        length = self._length_guess()
        if length is not None:
            end = min(end, window.opened_by + length)
        return end + self._margin

    def _length_guess(self) -> float | None:
        """The window length to plan with: the one whole number of seconds still possible, else the bound."""
        lo, hi = self._length.lo, self._length.hi
        if math.isinf(hi):
            return None
        if hi - lo > 3:
            return hi
        whole = [n for n in range(math.ceil(lo), math.floor(hi) + 1) if lo <= n < hi]
        return float(whole[0]) if len(whole) == 1 else hi

    def _check_bounded(self, delay: float, reason: str) -> None:
        if delay > self._max_wait:
            resets = ", ".join(str(r) for r in sorted(self._live)) or "none"
            raise RateLimited(
                f"the Sample Platform's rate limit would hold requests back {delay:.0f} s ({reason}; "
                f"X-RateLimit-Reset {resets}), more than platform.max_retry_after="
                f"{self._max_wait:.0f} s; try again later",
                retry_after=delay,
            )

    def _hold(self, delay: float) -> None:
        """Sleep; a wait of a second or more is shown as a hold (the progress bar says it is waiting)."""
        shown = delay >= 1.0
        if shown:
            with _holds_lock:
                _holds[id(self)] = time.monotonic() + delay
        try:
            self._sleep(delay)
        finally:
            if shown:
                with _holds_lock:
                    _holds.pop(id(self), None)

    # -- learning ---------------------------------------------------------------------------
    def _absorb(self, ticket: Ticket, now: float, header: _Header, refused: bool) -> None:
        for reset, other in self._live.items():
            if reset != header.reset:
                other.pending.discard(ticket.number)
        remaining = 0 if refused else header.remaining
        if refused:
            self._learn_refusal(ticket, header.reset)
        known = self._live.get(header.reset)
        if known is not None and remaining < known.floor:
            known.floor, known.pending = remaining, self._unsure(ticket)
        elif known is not None:
            known.pending.discard(ticket.number)  # counted before the lowest Remaining was read
        window = known or self._open(ticket, now, header.reset, remaining)
        if window is None:
            return
        offset = self._offset_bounds()
        self._length.narrow(header.reset - offset.hi - window.opened_by, math.inf)
        if not refused and header.remaining == header.limit - 1:  # this request opened the window
            self._length.narrow(-math.inf, header.reset + 1 - offset.lo - ticket.sent)

    def _open(self, ticket: Ticket, now: float, reset: int, remaining: int) -> _Window | None:
        opened_by = self._retired.pop(reset, now)
        window = _Window(reset, remaining, self._unsure(ticket), opened_by)
        if self._end(window) <= now and remaining > 0:
            self._retired[reset] = opened_by  # an answer from a window already over
            return None
        self._live[reset] = window
        return window

    def _unsure(self, ticket: Ticket) -> set[int]:
        """Requests that may count after ``ticket``'s answer was read: in flight, or lost since it left."""
        return set(self._flight) | {n for t, n in self._loose if t >= ticket.sent}

    def _learn_refusal(self, ticket: Ticket, reset: int) -> None:
        """A refused request arrived before its window ended: the window is longer than that."""
        window = self._live.get(reset)
        opened_by = window.opened_by if window is not None else self._retired.get(reset)
        if opened_by is not None:
            self._length.narrow(ticket.sent - opened_by, math.inf)

    def _offset_bounds(self) -> _Interval:
        """The server's clock minus ours: taken as 0 (synchronised clocks) until ``Date`` rules that out."""
        evidence = self._offset
        if evidence is None or evidence.lo <= 0.0 < evidence.hi:
            return _Interval(0.0, 0.0)
        return evidence

    def _learn_offset(self, ticket: Ticket, now: float, date: str | None) -> None:
        server = _http_date(date)
        if server is None or abs(server - now) > PLAUSIBLE:
            return
        # Date is the server's time, truncated to the second, at some moment the request was in flight
        if self._offset is None:
            self._offset = _Interval()
        self._offset.narrow(server - now, server + 1 - ticket.sent)

    def _parse(self, headers: Mapping[str, str], now: float) -> _Header | None:
        raw = {name: headers.get(f"x-ratelimit-{name}") for name in ("limit", "remaining", "reset")}
        if any(value is None for value in raw.values()):
            return None
        limit, remaining, reset = (_finite(value) for value in raw.values())
        if limit is None or not 1 <= limit <= 2**53 or remaining is None or remaining < 0:
            self._warn_once(
                "limit",
                f"ignoring rate-limit headers Limit={raw['limit']!r:.40} "
                f"Remaining={raw['remaining']!r:.40}: not plausible numbers",
            )
            return None
        if reset is None or abs(reset - now) > PLAUSIBLE:
            self._warn_once("reset", f"ignoring X-RateLimit-Reset={raw['reset']!r:.40}: not a plausible time")
            return None
        return _Header(int(limit), int(min(remaining, limit)), int(reset))

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning("rate limit: %s", message)


def _finite(raw: str | None) -> float | None:
    try:
        value = float(raw or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _http_date(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def retry_after_seconds(raw: str | None, now: float) -> float | None:
    """Retry-After as seconds from now: a number of seconds or an HTTP date; ``None`` if neither."""
    value = _finite(raw)
    if value is None:
        when = _http_date(raw)
        value = None if when is None else when - now
    return None if value is None else max(0.0, value)
