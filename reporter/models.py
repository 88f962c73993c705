"""Typed, frozen models of the Sample Platform API responses the reporter reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
)

FINISHED = frozenset({"pass", "fail", "canceled", "error", "incomplete"})
PENDING = frozenset({"queued", "running"})
EVIDENCE = frozenset({"pass", "fail"})
KNOWN_STATUSES = FINISHED | PENDING
TESTED = ("pass", "fail", "missing_output")  # a regression test with one of these results ran in the run
SEVERITY = {"exit_code_mismatch": "error", "missing_output": "error", "diff_mismatch": "warning"}
# Exit codes as workers report them: negative for a signal on Linux, NTSTATUS values up to
# 0xFFFFFFFF on Windows (3221225477 is an access violation).
EXIT_CODE_MIN, EXIT_CODE_MAX = -(2**31), 2**32 - 1
ID_MAX = 2**63 - 1  # the largest integer SQLite stores
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _text_or_moment(value: Any) -> Any:
    """A timestamp comes as ISO 8601 text (a number would be read as unix seconds): refuse anything else."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("should be an ISO 8601 timestamp with a time zone")


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"should be between {EARLIEST.year} and {LATEST.year}")
    return value


def _encodes(value: Any) -> Any:
    """Text that can be stored and printed: no lone surrogate (a JSON escape such as \\ud800)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"is not valid text: character {exc.start} is a lone surrogate") from None
    return value


# Every value is checked where it arrives, so that no later stage meets one it cannot store or
# compare: integers are integers (not floats, booleans or numeric strings) that SQLite can hold,
# timestamps carry a time zone and lie in a sane range, text encodes as UTF-8 and is bounded.
Id = Annotated[int, Strict(), Field(ge=1, le=ID_MAX)]
Count = Annotated[int, Strict(), Field(ge=0, le=ID_MAX)]
ExitCode = Annotated[int, Strict(), Field(ge=EXIT_CODE_MIN, le=EXIT_CODE_MAX)]
Moment = Annotated[AwareDatetime, BeforeValidator(_text_or_moment), AfterValidator(_in_range)]
Word = Annotated[str, Strict(), StringConstraints(max_length=40), BeforeValidator(_encodes)]
Name = Annotated[str, Strict(), StringConstraints(max_length=1000), BeforeValidator(_encodes)]
Category = Annotated[
    str, Strict(), StringConstraints(min_length=1, max_length=100), BeforeValidator(_encodes)
]


class ApiModel(BaseModel):
    """Base: immutable, ignores fields the contract may add later."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Run(ApiModel):
    """One CI run of every active regression test on one platform."""

    run_id: Id
    status: Word
    platform: Word
    repository: Name
    commit_sha: Name
    test_type: Word | None = None
    branch: Name | None = None
    pr_number: Id | None = None
    created_at: Moment | None = None
    queued_at: Moment | None = None
    started_at: Moment | None = None
    completed_at: Moment | None = None
    github_link: Name | None = None

    @property
    def finished(self) -> bool:
        """Finished runs never change again unless restarted; unknown statuses count as not finished."""
        return self.status in FINISHED

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    @property
    def kind(self) -> str:
        """``pr`` or ``commit``; derived from the branch when the server omits test_type."""
        if self.test_type in ("pr", "commit"):
            return self.test_type
        return "pr" if self.pr_number is not None or self.branch == "pull_request" else "commit"


class RunSummary(ApiModel):
    run_id: Id
    status: Word
    total_samples: Count
    pass_count: Count
    fail_count: Count
    skipped_count: Count
    missing_output_count: Count
    error_count: Count | None = None
    duration_ms: Count | None = None


class ErrorBucket(ApiModel):
    """One group of a run's error summary; ``key`` is a string even for ids."""

    group_by: Word
    key: Name
    count: Count
    severity: Word
    sample_ids: tuple[Id, ...] = ()
    first_seen_at: Moment | None = None
    last_seen_at: Moment | None = None

    @property
    def sample_id(self) -> int | None:
        """The key as a sample id when it is one (ASCII digits that fit); ``"None"`` and others give None."""
        key = self.key
        if not (key.isascii() and key.isdigit()) or not 1 <= int(key) <= ID_MAX:
            return None
        return int(key)


class RunSample(ApiModel):
    """The result of one regression test in one run."""

    regression_test_id: Id
    sample_id: Id | None = None
    sample_name: Name | None = None
    status: Word
    exit_code: ExitCode | None = None
    expected_rc: ExitCode | None = None
    categories: tuple[Category, ...] = Field(default=(), max_length=50)

    @field_validator("categories", mode="before")
    @classmethod
    def _no_categories(cls, value: Any) -> Any:
        return () if value is None else value

    @property
    def tested(self) -> bool:
        return self.status in TESTED

    @property
    def error_types(self) -> tuple[str, ...]:
        """The errors the platform derives from this result, in name order.

        missing_output is checked first and may come with an exit-code mismatch; a plain fail is an
        exit-code mismatch when the codes differ, otherwise an output diff. (A result whose exit code
        is wrong can also have a diff: the platform's per-run error summary would show both.)
        """
        if self.status not in ("fail", "missing_output"):
            return ()
        mismatch = self.exit_code is not None and self.exit_code != (self.expected_rc or 0)
        if self.status == "missing_output":
            return ("exit_code_mismatch", "missing_output") if mismatch else ("missing_output",)
        return ("exit_code_mismatch",) if mismatch else ("diff_mismatch",)


class Sample(ApiModel):
    sample_id: Id
    sha: Name
    original_name: Name | None = None
    extension: Name | None = None


class Pagination(ApiModel):
    limit: Count
    offset: Count
    total: Count | None = None
    next_offset: Count | None = None


class Page(ApiModel):
    """One page of a listing; its items are checked one by one (``reporter.paging``)."""

    data: list[Any]
    pagination: Pagination
