"""The GitHub REST API over httpx: the token, pagination, retries and GitHub's rate limits.

GitHub answers a spent primary limit with 403 or 429 and ``x-ratelimit-remaining: 0`` (wait until
``x-ratelimit-reset``), and a secondary limit with 403 or 429 and ``retry-after`` (or, without it,
at least a minute). A response showing no requests left makes the next request wait for the reset.
Writes are spaced ``WRITE_GAP`` apart, as GitHub asks of content-creating requests. Every wait is
bounded by ``max_wait_seconds``: a longer one raises a retryable DeliveryError, and the outbox tries
again later. The token is sent in a header, never logged, never part of a message.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from reporter import __version__
from reporter.config import GithubChannel as GithubSettings
from reporter.errors import DeliveryError
from reporter.ratelimit import retry_after_seconds

logger = logging.getLogger(__name__)
WRITE_GAP = 1.0  # seconds between content-creating requests
SECONDARY_WAIT = 60.0  # a secondary limit without retry-after: wait at least this long
ATTEMPTS = 4
MAX_PAGES = 100
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class GithubApi:
    """JSON requests to one GitHub API; one instance per channel, used from one thread."""

    def __init__(
        self,
        settings: GithubSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        write_gap: float = WRITE_GAP,
    ) -> None:
        self.settings = settings
        self.requests = 0
        self._sleep, self._clock, self._write_gap = sleep, clock, write_gap
        self._not_before = 0.0  # a spent primary limit: no request before this time
        self._last_write = -write_gap
        token = settings.token.get_secret_value() if settings.token else ""
        self._http = httpx.Client(
            base_url=settings.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"sample-platform-reporter/{__version__}",
            },
            timeout=httpx.Timeout(30.0, connect=10.0),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"GithubApi({self.settings.api_url!r}, {self.settings.repository!r})"

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body).json()

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("PATCH", path, json=body).json()

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a listing, following the ``Link: rel="next"`` header."""
        url: str | None = path
        query: dict[str, Any] | None = {"per_page": 100, **params}
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self.request("GET", url, params=query)
            items = response.json()
            if not isinstance(items, list):
                kind = type(items).__name__
                raise DeliveryError(f"github: {path}: expected a list, got {kind}", channel="github")
            yield from (item for item in items if isinstance(item, dict))
            found = _NEXT.search(response.headers.get("link", ""))
            url, query = (found.group(1), None) if found else (None, None)
            if url is not None and not url.startswith(self.settings.api_url + "/"):
                logger.warning("github: %s: the next page is on another host; not following it", path)
                return  # the token must never travel to another host

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request, retried through rate limits, 5xx and dropped connections; errors explained."""
        for attempt in range(1, ATTEMPTS + 1):
            self._pace(method)
            try:
                response = self._http.request(method, path, **options)
            except httpx.HTTPError as exc:
                if attempt == ATTEMPTS:
                    where, kind = self.settings.api_url, type(exc).__name__
                    raise DeliveryError(f"github: cannot reach {where}: {kind}", channel="github") from None
                self._wait(2.0**attempt, "connection failed")
                continue
            finally:
                self.requests += 1
            self._note_limit(response)
            wait = self._limited(response)
            if wait is None and response.status_code < 500:
                return _checked(response, method, path)
            if attempt == ATTEMPTS:
                break
            self._wait(wait if wait is not None else 2.0**attempt, f"HTTP {response.status_code}")
        raise DeliveryError(
            f"github: {method} {path}: still refused after {ATTEMPTS} attempts "
            f"(HTTP {response.status_code}); will retry later",
            channel="github",
        )

    def _pace(self, method: str) -> None:
        now = self._clock()
        due = self._not_before
        if method != "GET":
            due = max(due, self._last_write + self._write_gap)
        if due > now:
            self._wait(due - now, "rate limit")
        if method != "GET":
            self._last_write = self._clock()

    def _wait(self, seconds: float, why: str) -> None:
        if seconds > self.settings.max_wait_seconds:
            raise DeliveryError(
                f"github: {why}: GitHub asks to wait {seconds:.0f} s, more than max_wait_seconds "
                f"({self.settings.max_wait_seconds:.0f}); will retry later",
                channel="github",
            )
        logger.info("github: %s; waiting %.1f s", why, seconds)
        self._sleep(seconds)

    def _note_limit(self, response: httpx.Response) -> None:
        """No requests left in this window: nothing more until it resets."""
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = _number(response.headers.get("x-ratelimit-reset"))
            if reset is not None:
                self._not_before = max(self._not_before, reset + 1)

    def _limited(self, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again if this is a rate-limit answer, else None."""
        if response.status_code not in (403, 429):
            return None
        retry_after = retry_after_seconds(response.headers.get("retry-after"), self._clock())
        if retry_after is not None:
            return max(retry_after, 1.0)
        if response.headers.get("x-ratelimit-remaining") == "0":
            return max(self._not_before - self._clock(), 1.0)
        if response.status_code == 429 or "rate limit" in _message(response).lower():
            return SECONDARY_WAIT
        return None


def _checked(response: httpx.Response, method: str, path: str) -> httpx.Response:
    code = response.status_code
    if code < 400:
        return response
    message = _message(response)[:200]
    hint = {
        401: "the GitHub token is missing, expired or invalid; export GITHUB_TOKEN",
        403: "the GitHub token lacks a permission (Issues and Pull requests: write), or the issue is locked",
        404: "no such repository, pull request or issue, or the token cannot see it; check channels.github",
        410: "issues are disabled on the repository",
        422: "GitHub refused the content",
    }.get(code, "unexpected answer")
    raise DeliveryError(
        f"github: {method} {path}: HTTP {code} ({message}): {hint}",
        channel="github",
        retryable=code not in (401, 403, 404, 410, 422),
    )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def _number(text: str | None) -> float | None:
    """A finite number, or None (``nan`` and ``inf`` are no time to wait for)."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None
