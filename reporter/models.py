"""Typed, frozen models of the Sample Platform API responses the reporter reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

FINISHED = frozenset({"pass", "fail", "canceled", "error", "incomplete"})
PENDING = frozenset({"queued", "running"})
EVIDENCE = frozenset({"pass", "fail"})
KNOWN_STATUSES = FINISHED | PENDING
TESTED = ("pass", "fail", "missing_output")  # a regression test with one of these results ran in the run
SEVERITY = {"exit_code_mismatch": "error", "missing_output": "error", "diff_mismatch": "warning"}
# Exit codes as workers report them: negative for a signal on Linux, NTSTATUS values up to
# 0xFFFFFFFF on Windows (3221225477 is an access violation).
EXIT_CODE_MIN, EXIT_CODE_MAX = -(2**31), 2**32 - 1
ExitCode = Annotated[int, Field(ge=EXIT_CODE_MIN, le=EXIT_CODE_MAX)]
Category = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class ApiModel(BaseModel):
    """Base: immutable, ignores fields the contract may add later."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Run(ApiModel):
    """One CI run of every active regression test on one platform."""

    run_id: int = Field(ge=1)
    status: str
    platform: str
    repository: str
    commit_sha: str
    test_type: str | None = None
    branch: str | None = None
    pr_number: int | None = None
    created_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    github_link: str | None = None

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
    run_id: int
    status: str
    total_samples: int
    pass_count: int
    fail_count: int
    skipped_count: int
    missing_output_count: int
    error_count: int | None = None
    duration_ms: int | None = None


class ErrorBucket(ApiModel):
    """One group of a run's error summary; ``key`` is a string even for ids."""

    group_by: str
    key: str
    count: int = Field(ge=0)
    severity: str
    sample_ids: tuple[int, ...] = ()
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


class RunSample(ApiModel):
    """The result of one regression test in one run."""

    regression_test_id: int = Field(ge=1)
    sample_id: int | None = None
    sample_name: str | None = None
    status: str = Field(max_length=40)
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
    sample_id: int
    sha: str
    original_name: str | None = None
    extension: str | None = None


class Pagination(ApiModel):
    limit: int
    offset: int
    total: int | None = None
    next_offset: int | None = None


T = TypeVar("T", bound=ApiModel)


class Page(ApiModel, Generic[T]):
    data: list[T]
    pagination: Pagination
