"""HTTP client of the Sample Platform API: auth, paging, pacing, retries, typed answers."""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_random_exponential

from reporter import __version__, client_messages
from reporter.config import TOKEN_VARIABLE, PlatformSettings
from reporter.errors import (
    ConfigError,
    Interrupted,
    PlatformError,
    PlatformUnreachable,
    RateLimited,
    RecordInvalid,
    ResponseInvalid,
    ScopeMissing,
    ServerFailed,
)
from reporter.models import ApiModel, ErrorBucket, Run, RunSample, RunSummary, Sample
from reporter.paging import Listing, parse
from reporter.ratelimit import RateLimiter, Ticket, retry_after_seconds
from reporter.transport import (
    ACCEPT_ENCODING,
    BodyRefused,
    DeadlineBackend,
    Stopped,
    deadline_transport,
    read_body,
)

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=ApiModel)
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no whitespace, control or non-ASCII character


class _Transient(Exception):
    """A failure worth another attempt; carries the error to raise if none is left."""

    def __init__(
        self, error: PlatformError, retry_after: float | None = None, timed_out: str | None = None
    ) -> None:
        super().__init__(str(error))
        self.error, self.retry_after = error, retry_after
        self.timed_out = timed_out  # the kind of timeout (ConnectTimeout, ReadTimeout...), if one


@dataclass(frozen=True)
class Reachability:
    """What ``check-config --online`` learns about the API and the token."""

    base_url: str
    scopes_present: tuple[str, ...]
    scopes_missing: tuple[str, ...]
    remaining: int | None
    limit: int | None

    def describe(self) -> str:
        return (
            f"platform {self.base_url}: reachable, token accepted, scopes present: "
            f"{', '.join(self.scopes_present)}; rate-limit headroom {self.remaining}/{self.limit}"
        )

    def problems(self) -> list[str]:
        return [f"platform: the token lacks scope {scope}" for scope in self.scopes_missing]


class PlatformClient:
    """Typed access to the endpoints the reporter uses; thread-safe, one per token."""

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
    ) -> None:
        """``stop``, once set, ends every wait (pacing, retry pauses, answers) with ``Interrupted``."""
        self.settings = settings
        token = settings.token.get_secret_value()
        if not _TOKEN.fullmatch(token):
            raise ConfigError(
                f"platform.token (${TOKEN_VARIABLE}) is empty or holds whitespace, a control or a "
                "non-ASCII character (often a trailing newline); set it to the token alone"
            )
        self._sleep, self._stop = sleep, stop
        self.limiter = limiter or RateLimiter(sleep=self._pause, max_wait=settings.max_retry_after)
        self.requests = 0
        self.rate_limited = 0
        self._deadline: DeadlineBackend | None = None
        if transport is None:
            self._deadline = DeadlineBackend(stop.is_set if stop is not None else None)
            transport = deadline_transport(
                settings.base_url,
                self._deadline,
                verify=_verify(settings),
                max_connections=settings.concurrency + 2,
            )
        self._http = httpx.Client(
            base_url=settings.base_url + "/",
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            transport=transport,
            follow_redirects=False,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"sample-platform-reporter/{__version__}",
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
        )

    def __repr__(self) -> str:
        return f"PlatformClient(base_url={self.settings.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ------------------------------------------------------------------------
    def run(self, run_id: int) -> Run:
        return self._one(f"runs/{run_id}", Run, run_id=run_id)

    def summary(self, run_id: int) -> RunSummary:
        return self._one(f"runs/{run_id}/summary", RunSummary, run_id=run_id)

    def sample(self, sample_id: int) -> Sample:
        return self._one(f"samples/{sample_id}", Sample)

    def run_samples(self, run_id: int, status: str | None = None) -> list[RunSample]:
        """The run's regression test results; only those with ``status`` if given (a server-side filter)."""
        path, params = f"runs/{run_id}/samples", {"limit": 100, **({"status": status} if status else {})}
        return list(self.pages(path, RunSample, params, run_id=run_id, key=_regression_id))

    def error_summary(self, run_id: int, group_by: str) -> list[ErrorBucket]:
        path, params = f"runs/{run_id}/error-summary", {"group_by": group_by, "limit": 100}
        return list(self.pages(path, ErrorBucket, params, run_id=run_id, key=_bucket_key))

    def runs(self, params: dict[str, Any], page_size: int = 25, offset: int = 0) -> Listing[Run]:
        """Runs in the order asked for, each once; the caller stops iterating when it has enough.

        A listed run that breaks the contract is skipped with a warning and kept in ``rejected``.
        """
        return Listing(
            partial(self._get, run_id=None),
            "runs",
            Run,
            {"limit": page_size, **params},
            key=lambda r: r.run_id,
            offset=offset,
            id_field="run_id",
        )

    def reachability(self) -> Reachability:
        """Probe the token's scopes with the cheapest requests that need each one."""
        present, missing = [], []
        latest = next(iter(self.pages("runs", Run, {"limit": 1}, key=lambda r: r.run_id)), None)
        present.append("runs:read")
        if latest is not None:
            try:
                self._get(f"runs/{latest.run_id}/error-summary", {"limit": 1}, run_id=latest.run_id)
                present.append("results:read")
            except ScopeMissing:
                missing.append("results:read")
        remaining, limit = self.limiter.headroom
        return Reachability(self.settings.base_url, tuple(present), tuple(missing), remaining, limit)

    # -- paging ---------------------------------------------------------------------------
    def pages(
        self,
        path: str,
        model: type[M],
        params: dict[str, Any],
        *,
        run_id: int | None = None,
        key: Callable[[M], object],
        offset: int = 0,
    ) -> Listing[M]:
        """Every item of a listing, each once; a bad item fails the whole listing (``reporter.paging``)."""
        get = partial(self._get, run_id=run_id)
        return Listing(get, path, model, params, key=key, run_id=run_id, offset=offset)

    def _one(self, path: str, model: type[M], *, run_id: int | None = None) -> M:
        return parse(model, self._get(path, {}, run_id=run_id), path, run_id)

    # -- one request, paced and retried -------------------------------------------------
    def _get(self, path: str, params: dict[str, Any], *, run_id: int | None = None) -> Any:
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.settings.max_attempts)
            | stop_after_delay(self.settings.max_retry_seconds),
            wait=self._wait,
            sleep=self._pause,
            before_sleep=_log_retry,
            reraise=True,
        )
        started = time.monotonic()
        try:
            for attempt in retrying:
                with attempt:
                    return self._attempt(path, params, run_id)
        except _Transient as exc:
            if exc.timed_out is None:
                raise exc.error from exc
            attempts = int(retrying.statistics.get("attempt_number", 1))
            took = time.monotonic() - started
            text = client_messages.no_answer(self.settings, path, exc.timed_out, attempts, took)
            raise PlatformUnreachable(text, endpoint=path, run_id=run_id) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            return 0.0  # the limiter already holds every caller back for Retry-After
        return float(wait_random_exponential(multiplier=0.5, max=30)(state))

    def _pause(self, seconds: float) -> None:
        """Sleep, or with a stop event wait on it: a stop ends the pause at once."""
        if self._stop is not None and self._sleep is time.sleep:
            self._stop.wait(seconds)
        else:
            self._sleep(seconds)
        self._check_stop()

    def _check_stop(self, path: str = "") -> None:
        if self._stop is not None and self._stop.is_set():
            raise Interrupted(
                f"stopped while waiting for the Sample Platform{f' (GET /{path})' if path else ''}"
            )

    def _attempt(self, path: str, params: dict[str, Any], run_id: int | None) -> Any:
        self._check_stop(path)
        ticket = self.limiter.acquire()
        try:
            response, body = self._send(ticket, path, params)
        except httpx.TimeoutException as exc:
            raise _Transient(
                PlatformUnreachable(
                    f"GET /{path}: the Sample Platform at {self.settings.base_url} did not answer in time "
                    f"({type(exc).__name__}; platform.read_timeout {self.settings.read_timeout:g} s per "
                    f"read, platform.request_deadline {self.settings.request_deadline:g} s in all); "
                    "raise them or retry later",
                    endpoint=path,
                    run_id=run_id,
                ),
                timed_out=type(exc).__name__,
            ) from exc
        except httpx.TransportError as exc:
            raise _unreachable(self.settings.base_url, path, exc, run_id) from exc
        except Stopped as exc:
            raise Interrupted(f"stopped while waiting for the Sample Platform (GET /{path})") from exc
        except BodyRefused as exc:
            raise ResponseInvalid(
                f"GET /{path}: the answer's body was refused: {exc}", endpoint=path, run_id=run_id
            ) from exc
        finally:
            self.requests += 1
        return self._check(response, body, path, run_id)

    def _send(self, ticket: Ticket, path: str, params: dict[str, Any]) -> tuple[httpx.Response, bytes]:
        """One GET within the total deadline; the gate hears of its answer (or of its absence)."""
        response: httpx.Response | None = None
        try:
            with self._deadline.deadline(self.settings.request_deadline) if self._deadline else nullcontext():
                response = self._http.send(self._http.build_request("GET", path, params=params), stream=True)
                try:
                    return response, read_body(response, self._deadline)
                finally:
                    response.close()
        finally:
            headers = response.headers if response is not None else None
            self.limiter.release(
                ticket, headers, refused=response is not None and response.status_code == 429
            )

    def _check(self, response: httpx.Response, body: bytes, path: str, run_id: int | None) -> Any:
        status = response.status_code
        where = f"GET /{path}"
        if 300 <= status < 400:
            raise client_messages.redirected(
                self.settings.base_url, path, status, response.headers.get("location"), run_id
            )
        if status == 429:
            self.rate_limited += 1
            asked = retry_after_seconds(response.headers.get("retry-after"), time.time())
            retry_after = 1.0 if asked is None else asked
            if retry_after > self.settings.max_retry_after:
                raise RateLimited(
                    f"{where}: the Sample Platform asks to wait {_seconds(retry_after)} s (rate limited), "
                    f"more than platform.max_retry_after={self.settings.max_retry_after:.0f} s; "
                    "try again later",
                    retry_after=retry_after,
                    endpoint=path,
                )
            self.limiter.block_for(retry_after)
            raise _Transient(
                RateLimited(
                    f"{where}: still rate limited after retries", retry_after=retry_after, endpoint=path
                ),
                retry_after,
            )
        if status >= 500:
            raise _Transient(
                ServerFailed(
                    f"{where}: the Sample Platform answered HTTP {status} on every attempt; retry later",
                    endpoint=path,
                    run_id=run_id,
                )
            )
        content_type = response.headers.get("content-type", "")
        if status >= 400 and status not in (401, 403) and not _json_or_none(body):
            text = client_messages.no_api(self.settings.base_url, path, status, content_type)
            raise PlatformUnreachable(text, endpoint=path, run_id=run_id)
        if status >= 400:
            raise client_messages.client_error(status, _json_or_none(body), path, run_id)
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            text = f"{where}: the body is not valid JSON ({exc})"
            if "html" in content_type.lower():
                text = client_messages.no_api(self.settings.base_url, path, status, content_type)
            raise _Transient(ResponseInvalid(text, endpoint=path, run_id=run_id)) from exc
        except (ValueError, RecursionError) as exc:  # well-formed, but not readable: the same next time
            raise RecordInvalid(
                f"{where}: the body nests too deep or holds a number too long to read",
                endpoint=path,
                run_id=run_id,
            ) from exc


def _regression_id(sample: RunSample) -> int:
    return sample.regression_test_id


def _bucket_key(bucket: ErrorBucket) -> str:
    return bucket.key


def _verify(settings: PlatformSettings) -> bool | ssl.SSLContext:
    if not settings.verify_tls:
        return False
    if settings.ca_bundle is not None:
        return ssl.create_default_context(cafile=str(settings.ca_bundle))
    return True


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value < 1e9 else f"{value:.1e}"


def _json_or_none(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _unreachable(
    base_url: str, path: str, exc: httpx.TransportError, run_id: int | None
) -> _Transient | PlatformUnreachable:
    """The request could not be made; a TLS mismatch is a setting to fix, not worth another try."""
    reason = str(exc) or type(exc).__name__
    hint, retry = "check platform.base_url and the network", True
    if any(word in reason.upper() for word in ("CERTIFICATE", "SSL", "TLS")):
        hint, retry = client_messages.tls_hint(base_url, reason)
    error = PlatformUnreachable(
        f"cannot reach the Sample Platform at {base_url} (GET /{path}): {reason}; {hint}",
        endpoint=path,
        run_id=run_id,
    )
    return _Transient(error) if retry else error


def _log_retry(state: RetryCallState) -> None:
    """Each failed attempt, as it happens: a timeout at WARNING (minutes can pass), others at INFO."""
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    if not isinstance(error, _Transient):
        return
    pause = state.next_action.sleep if state.next_action is not None else 0.0
    level = logging.WARNING if error.timed_out else logging.INFO
    logger.log(level, "%s (attempt %d); trying again in %.1f s", error.error, state.attempt_number, pause)
