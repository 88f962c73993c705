"""The one exception tree of reporter; every error a user can see is one of these.

    ReporterError                  exit 1 unless a subclass says otherwise
    ├── ConfigError                exit 2  bad file, key, type or missing variable
    ├── PlatformError              exit 3  the Sample Platform API failed us
    │   ├── PlatformUnreachable            DNS, refused, TLS, timeouts (after retries)
    │   ├── TokenRejected                  401: missing, expired or invalid token
    │   ├── ScopeMissing                   403: token lacks a scope
    │   ├── NotFound                       404: no such run or sample
    │   ├── RequestRejected                400: the server refused our query
    │   ├── RateLimited                    429 (retried; raised only when retries ran out)
    │   ├── ServerFailed                   5xx (retried; raised only when retries ran out)
    │   ├── ResponseInvalid                body not JSON, refused, or not as the contract says
    │   │   └── RecordInvalid              a record breaks the contract (a bad field): read after a pause
    │   ├── RunChanged                     a run changed while it was being read (read it again later)
    │   └── RunsNotIngested                some runs of a poll failed (retried next poll)
    ├── CheckFailed                exit 3  check-config --online found a problem
    ├── RunsNotTriaged             exit 3  triage: some runs named could not be judged
    ├── StoreError                 exit 4  the SQLite state file is unusable
    ├── RenderError                exit 5  a template failed to load or render
    ├── DeliveryError              exit 6  Slack, SMTP or a file refused the digest
    └── Interrupted                exit 130  Ctrl-C or SIGINT stopped a command

Exit codes come only from here: the command line turns every one of these into its message and
``exit_code``.

Outside errors are wrapped at the boundary with ``raise ... from exc`` so the
cause stays visible in tracebacks while the message stays short and specific.
"""

from __future__ import annotations


class ReporterError(Exception):
    """Base of every error reporter raises on purpose."""

    exit_code = 1


class ConfigError(ReporterError):
    """The configuration file or environment is invalid."""

    exit_code = 2


class PlatformError(ReporterError):
    """A request to the Sample Platform API failed."""

    exit_code = 3

    def __init__(self, message: str, *, endpoint: str = "", run_id: int | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.run_id = run_id


class PlatformUnreachable(PlatformError):
    """The platform could not be reached at all."""


class TokenRejected(PlatformError):
    """HTTP 401: the token is missing, expired or invalid."""


class ScopeMissing(PlatformError):
    """HTTP 403: the token is valid but lacks a scope."""


class NotFound(PlatformError):
    """HTTP 404: the run or sample does not exist."""


class RequestRejected(PlatformError):
    """HTTP 400: the server refused the query parameters."""


class RateLimited(PlatformError):
    """HTTP 429 that persisted through every retry."""

    def __init__(self, message: str, *, retry_after: float, endpoint: str = "") -> None:
        super().__init__(message, endpoint=endpoint)
        self.retry_after = retry_after


class ServerFailed(PlatformError):
    """HTTP 5xx that persisted through every retry."""


class ResponseInvalid(PlatformError):
    """The body was not JSON or did not match the contract."""


class RecordInvalid(ResponseInvalid):
    """A well-formed answer holding a record that breaks the contract; the run is read again later."""


class RunChanged(PlatformError):
    """The platform's answers about one run disagree: it changed (restarted, re-judged) mid-read."""


class RunsNotIngested(PlatformError):
    """A poll finished, but some runs could not be ingested; the next poll tries them again."""

    def __init__(self, failures: tuple[str, ...]) -> None:
        runs = "1 run" if len(failures) == 1 else f"{len(failures)} runs"
        listed = "\n".join(failures)
        super().__init__(f"{runs} not ingested this cycle; later polls retry them:\n{listed}")
        self.failures = failures


class CheckFailed(ReporterError):
    """An online check of ``check-config --online`` failed; the message lists every problem."""

    exit_code = 3


class RunsNotTriaged(ReporterError):
    """``reporter triage`` judged what it could; some runs it was asked for could not be judged."""

    exit_code = 3

    def __init__(self, problems: tuple[str, ...]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StoreError(ReporterError):
    """The state database cannot be opened, read or written."""

    exit_code = 4


class RenderError(ReporterError):
    """A report template could not be loaded or rendered."""

    exit_code = 5


class DeliveryError(ReporterError):
    """A delivery channel refused or failed to take the digest."""

    exit_code = 6

    def __init__(self, message: str, *, channel: str = "", retryable: bool = True) -> None:
        super().__init__(message)
        self.channel = channel
        self.retryable = retryable


class Interrupted(ReporterError):
    """The user stopped a command (Ctrl-C, SIGINT)."""

    exit_code = 130
