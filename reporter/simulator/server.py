"""Serve a scenario on 127.0.0.1 as the Sample Platform API v1, faults included."""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections.abc import Callable, ItemsView, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reporter.simulator.endpoints import BadQuery, Reply, error_body, route, too_many
from reporter.simulator.scenario import Scenario, SimRun

READ_SCOPES = ("runs:read", "results:read")
logger = logging.getLogger(__name__)
Tamper = Callable[[str, dict[str, str], Any], Any]  # (path, query, body) -> the body to send


@dataclass
class Faults:
    """Switches for injected failures; shares are probabilities per request."""

    server_error: float = 0.0
    drop: float = 0.0
    malformed: float = 0.0
    latency: float = 0.0
    seed: int = 0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (killed, timed out) is normal here, not an error to print."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            logger.debug("simulator: client %s went away: %s", client_address, error)
            return
        super().handle_error(request, client_address)


class LiveClock:
    """Platform time that runs ``speed`` times faster than the wall clock from ``start`` on."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        self.start, self.speed = start, speed
        self._began = time.monotonic()
        self._frozen: datetime | None = None

    def __call__(self) -> datetime:
        if self._frozen is not None:
            return self._frozen
        return self.start + timedelta(seconds=(time.monotonic() - self._began) * self.speed)

    def freeze(self, at: datetime) -> None:
        self._frozen = at


@dataclass
class _Window:
    """One fixed rate-limit window: when it opened and how many requests it counted (429s too)."""

    start: float
    count: int = 0


class _WindowHeaders(Mapping[str, str]):
    """Rate-limit headers computed when read, that is when the answer is written (an after-request hook)."""

    def __init__(self, sim: SimulatedPlatform, bucket: str, limit: int, window: float) -> None:
        self._sim, self._bucket, self._limit, self._window = sim, bucket, limit, window

    def _read(self) -> dict[str, str]:
        return self._sim.window_headers(self._bucket, self._limit, self._window)

    def __getitem__(self, name: str) -> str:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return 3

    def items(self) -> ItemsView[str, str]:  # one consistent reading for all three headers
        return self._read().items()


@dataclass
class Stats:
    """What the server saw, for tests and benchmarks."""

    requests: int = 0
    rate_limited: int = 0
    faults: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    by_window: dict[float, int] = field(default_factory=dict)  # requests per rate-limit window start


class SimulatedPlatform:
    """A real HTTP server on loopback answering like the live Sample Platform."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        tokens: dict[str, tuple[str, ...]] | None = None,
        rate_limit: int = 120,
        rate_window: float = 60.0,
        rate_workers: int = 1,
        clock: Callable[[], datetime] | None = None,
        wall: Callable[[], float] = time.time,
        faults: Faults | None = None,
        port: int = 0,
    ) -> None:
        self.scenario = scenario
        self.tokens: dict[str, tuple[str, ...]] = tokens if tokens is not None else {"sim-token": READ_SCOPES}
        self.rate_limit, self.rate_window, self.wall = rate_limit, rate_window, wall
        self.clock = clock or (lambda: scenario.end)
        self.faults = faults or Faults()
        self.tamper: Tamper | None = None  # rewrites an answer's body before it is sent (hostile answers)
        self.stats = Stats()
        self.rate_workers = rate_workers
        self._worker_rng = random.Random(rate_workers)
        self._windows: dict[str, _Window] = {}
        self._by_id = {run.run_id: run for run in scenario.runs}
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v1"

    def start(self) -> SimulatedPlatform:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SimulatedPlatform:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- rate limiting ------------------------------------------------------------------
    def take(self, bucket: str, limit: int, window: float) -> tuple[bool, Mapping[str, str]]:
        """Count one request in ``bucket``'s fixed window, as the live server does; say whether it may pass.

        The window opens at the first request after the previous one expired (a fractional time),
        and 429s count against it. ``X-RateLimit-Reset`` is its end truncated to whole seconds and
        ``Retry-After`` is ``max(1, reset - floor(now))``. With ``rate_workers`` > 1 every request
        lands on a random worker keeping its own window, like gunicorn workers each with their own
        in-process limiter. The headers of an allowed request are read when the answer is written.
        """
        with self._lock:
            now = self.wall()
            if self.rate_workers > 1:
                bucket = f"{bucket}@{self._worker_rng.randrange(self.rate_workers)}"
            entry = self._windows.get(bucket)
            if entry is None or now - entry.start >= window:
                entry = self._windows[bucket] = _Window(now)
            entry.count += 1
            self.stats.by_window[entry.start] = self.stats.by_window.get(entry.start, 0) + 1
            if entry.count <= limit:
                return True, _WindowHeaders(self, bucket, limit, window)
            reset = int(entry.start + window)
        return False, {
            "Retry-After": str(max(1, reset - int(now))),
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }

    def window_headers(self, bucket: str, limit: int, window: float) -> dict[str, str]:
        """The rate-limit headers of ``bucket``'s window as it stands now."""
        with self._lock:
            entry = self._windows.get(bucket)
            if entry is None:
                remaining, reset = limit, int(self.wall() + window)
            else:
                remaining, reset = max(0, limit - entry.count), int(entry.start + window)
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }

    # -- routing --------------------------------------------------------------------------
    def answer(self, path: str, query: dict[str, str], token: str | None) -> tuple[Reply, Mapping[str, str]]:
        found = route(path)
        if found is None:
            return (404, error_body("not_found", f"No route for {path}.", {})), {}
        handler, scope, ids = found
        if token is None or token not in self.tokens:
            allowed, headers = self.take("ip:127.0.0.1", 5, 900.0) if token is None else (True, {})
            if token is not None:
                allowed, headers = self.take(f"token:{token}", self.rate_limit, self.rate_window)
            if not allowed:
                return too_many(headers), headers
            return (
                401,
                error_body("unauthorized", "Bearer token is missing, expired, or invalid.", {}),
            ), headers
        allowed, headers = self.take(f"token:{token}", self.rate_limit, self.rate_window)
        if not allowed:
            with self._lock:
                self.stats.rate_limited += 1
            return too_many(headers), headers
        scopes = self.tokens[token]
        if scope not in scopes:
            details = {"required_scopes": [scope], "missing_scopes": [scope], "token_scopes": list(scopes)}
            return (403, error_body("forbidden", "Token does not have the required scope.", details)), headers
        try:
            return handler(self, ids, query), headers
        except BadQuery as exc:
            body = error_body("validation_error", "Request failed schema validation.", {"fields": exc.fields})
            return (400, body), headers

    def run_by_id(self, run_id: int) -> SimRun | None:
        run = self._by_id.get(run_id)
        return run if run is not None and run.created_at <= self.clock() else None


def _handler_for(sim: SimulatedPlatform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as they are written

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default per-request stderr lines."""

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            with sim._lock:
                sim.stats.requests += 1
                sim.stats.by_path[url.path] = sim.stats.by_path.get(url.path, 0) + 1
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else None
            if self._inject_fault():
                return
            (status, body), headers = sim.answer(url.path, query, token)
            if sim.tamper is not None and status == 200:
                body = sim.tamper(url.path, query, body)
            self._send(status, json.dumps(body).encode(), headers)

        def _inject_fault(self) -> bool:
            faults = sim.faults
            if faults.latency:
                time.sleep(faults.latency)
            with sim._lock:
                roll = faults.rng.random()
            if roll < faults.drop:
                sim.stats.faults += 1
                self.close_connection = True
                self.connection.close()
                return True
            roll -= faults.drop
            if roll < faults.server_error:
                sim.stats.faults += 1
                self._send(503, b"<html><body>503 Service Unavailable</body></html>", {}, "text/html")
                return True
            roll -= faults.server_error
            if roll < faults.malformed:
                sim.stats.faults += 1
                self._send(200, b'{"data": [ {"run_id": 1, "stat', {})
                return True
            return False

        def _send(
            self, status: int, body: bytes, headers: Mapping[str, str], content_type: str = "application/json"
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
