"""Reading one run's results: how many requests each case costs, and every check that forces a full read.

A small platform answering ``/runs/{id}/summary`` and ``/runs/{id}/samples`` (with upstream's
``status`` filter) through httpx.MockTransport, so each case is one run built by hand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reporter.client import PlatformClient
from reporter.errors import ResponseInvalid, RunChanged
from reporter.fetch import References, fetch
from reporter.models import Run
from reporter.store import TestSet
from tests.fakes import make_settings

DONE = datetime(2026, 11, 10, 12, tzinfo=UTC)
SUITE = 237  # regression tests on the real platform: three pages of 100


def row(regression_id: int, status: str = "pass", exit_code: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "regression_test_id": regression_id,
        "sample_id": 1000 + regression_id,
        "sample_name": f"sample-{regression_id}.ts",
        "status": status,
        "exit_code": exit_code,
        "expected_rc": 0,
        "categories": ["General"],
        **extra,
    }


class Platform:
    """One run's results served like the live server: summary counts, filtered and paged listings."""

    def __init__(self, rows: list[dict[str, Any]], status: str = "fail", filters: bool = True) -> None:
        self.rows, self.status, self.filters = rows, status, filters
        self.requests: Counter[str] = Counter()
        self.summary_status: str | None = None
        self.after_summary: list[dict[str, Any]] = []  # results as they are right after the summary

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, query = request.url.path, dict(request.url.params)
        wanted = query.get("status")
        self.requests[path.rsplit("/", 1)[-1] + (f"?status={wanted}" if wanted else "")] += 1
        if path.endswith("/summary"):
            counts = Counter(r["status"] for r in self.rows)
            self.rows = self.after_summary or self.rows
            return httpx.Response(
                200,
                json={
                    "run_id": 7,
                    "status": self.summary_status or self.status,
                    "total_samples": SUITE + 5,  # the active tests now, not this run's results
                    "pass_count": counts["pass"],
                    "fail_count": counts["fail"],
                    "skipped_count": 5,
                    "missing_output_count": counts["missing_output"],
                },
            )
        rows = [r for r in self.rows if not (wanted and self.filters) or r["status"] == wanted]
        limit, offset = int(query.get("limit", 50)), int(query.get("offset", 0))
        following = offset + limit if offset + limit < len(rows) else None
        page = {"limit": limit, "offset": offset, "total": len(rows), "next_offset": following}
        return httpx.Response(
            200, json={"data": rows[offset : offset + limit], "pagination": page, "meta": {}}
        )

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def suite(size: int = SUITE, **failing: str) -> list[dict[str, Any]]:
    """``size`` passing tests, with the given regression ids (as ``r<id>``) failing as said."""
    statuses = {int(k[1:]): v for k, v in failing.items()}
    return [
        row(i, statuses.get(i, "pass"), 0 if statuses.get(i, "pass") == "pass" else 10)
        for i in range(1, size + 1)
    ]


def reference(size: int = SUITE, at: datetime = DONE - timedelta(hours=3)) -> References:
    return References([TestSet("linux", at, {i: 1000 + i for i in range(1, size + 1)})])


def run(status: str = "fail") -> Run:
    return Run(
        run_id=7,
        status=status,
        platform="linux",
        repository="a/b",
        commit_sha="c" * 40,
        completed_at=DONE,
    )


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Any]:
    opened: list[PlatformClient] = []

    def build(platform: Platform) -> PlatformClient:
        settings = make_settings(tmp_path, "http://platform.test/api/v1")
        client = PlatformClient(
            settings.platform, transport=httpx.MockTransport(platform.handle), sleep=lambda _s: None
        )
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.close()


def test_a_suite_that_fits_one_page_costs_one_request(connect: Any) -> None:
    platform = Platform(suite(80, r5="fail", r9="missing_output"))
    results = fetch(connect(platform), run(), References())
    assert platform.requests == {"samples": 1}
    assert results.complete and len(results.tests) == 80
    assert {t.regression_test_id: t.error_types for t in results.tests if t.error_types} == {
        5: ("exit_code_mismatch",),
        9: ("exit_code_mismatch", "missing_output"),
    }


def test_a_green_run_of_a_known_suite_costs_its_summary_only(connect: Any) -> None:
    platform = Platform(suite(), status="pass")
    results = fetch(connect(platform), run("pass"), reference())
    assert platform.requests == {"summary": 1}
    assert not results.complete and len(results.tests) == SUITE
    assert {t.status for t in results.tests} == {"pass"} and results.run.status == "pass"


def test_a_run_with_one_kind_of_failure_costs_two_requests(connect: Any) -> None:
    platform = Platform(suite(r3="fail", r200="fail"))
    results = fetch(connect(platform), run(), reference())
    assert platform.requests == {"summary": 1, "samples?status=fail": 1}
    failing = [t for t in results.tests if t.status != "pass"]
    assert [(t.regression_test_id, t.exit_code, t.categories) for t in failing] == [
        (3, 10, ("General",)),
        (200, 10, ("General",)),
    ]
    assert len(results.tests) == SUITE


def test_both_kinds_of_failure_cost_three_requests_still_fewer_than_the_full_listing(connect: Any) -> None:
    platform = Platform(suite(r3="fail", r4="missing_output"))
    fetch(connect(platform), run(), reference())
    assert platform.requests == {"summary": 1, "samples?status=fail": 1, "samples?status=missing_output": 1}


def test_a_test_added_since_the_reference_is_read_in_full_and_becomes_the_reference(connect: Any) -> None:
    platform = Platform(suite(SUITE + 1, r3="fail"))
    references = reference()
    results = fetch(connect(platform), run(), references)
    assert platform.requests == {"summary": 1, "samples": 3}
    assert results.complete and 1000 + SUITE + 1 in {t.sample_id for t in results.tests}
    newest = references.near(run())
    assert newest is not None and len(newest.samples) == SUITE + 1


def test_a_swapped_test_that_fails_is_caught_by_the_reference_check(connect: Any) -> None:
    rows = suite(r3="fail")
    rows[-1] = row(SUITE + 50, "fail", 10)  # one test gone, another one new, the same count
    platform = Platform(rows)
    results = fetch(connect(platform), run(), reference())
    assert platform.requests == {"summary": 1, "samples?status=fail": 1, "samples": 3}
    tested = {t.regression_test_id for t in results.tests if t.tested}
    assert SUITE + 50 in tested and SUITE not in tested


def test_without_a_recent_reference_the_run_is_read_in_full(connect: Any) -> None:
    platform = Platform(suite(r3="fail"))
    fetch(connect(platform), run(), reference(at=DONE - timedelta(days=4)))
    assert platform.requests == {"samples": 3}


def test_a_server_ignoring_the_status_filter_still_gives_the_right_results(connect: Any) -> None:
    platform = Platform(suite(r3="fail", r4="fail"), filters=False)
    results = fetch(connect(platform), run(), reference())
    assert platform.requests == {"summary": 1, "samples?status=fail": 3}
    assert results.complete and {t.regression_test_id for t in results.tests if t.status == "fail"} == {3, 4}


def test_counts_that_move_between_requests_are_settled_by_the_full_listing(connect: Any) -> None:
    platform = Platform(suite(r3="fail", r4="fail"))
    platform.after_summary = suite(r3="fail")  # a variant accepted between the two requests
    results = fetch(connect(platform), run(), reference())
    assert platform.requests == {"summary": 1, "samples?status=fail": 1, "samples": 3}
    assert results.complete and [t.regression_test_id for t in results.tests if t.status == "fail"] == [3]


def test_a_finished_run_listing_no_results_was_restarted_under_us(connect: Any) -> None:
    with pytest.raises(RunChanged, match="run 7: finished as fail but lists no results"):
        fetch(connect(Platform([])), run(), References())
    restarted = Platform(suite(r3="fail"))
    restarted.summary_status = "queued"
    with pytest.raises(RunChanged, match="its summary says queued"):
        fetch(connect(restarted), run(), reference())


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("exit_code", 2**32, "exit_code: must be at most 4294967295 (got 4294967296)"),
        ("exit_code", "crashed", "exit_code: must be a whole number (got 'crashed')"),
        ("categories", ["x" * 101], "categories.0: must be at most 100 characters long (got 'xxxx"),
        ("categories", ["DVB"] * 51, "categories: must list at most 50 items (got a list of 51)"),
    ],
)
def test_bad_values_name_the_run_and_the_field(connect: Any, field: str, value: Any, complaint: str) -> None:
    rows = suite(80)
    rows[4][field] = value
    with pytest.raises(ResponseInvalid) as caught:
        fetch(connect(Platform(rows)), run(), References())
    assert "GET /runs/7/samples (run 7): field data.4." in str(caught.value) and complaint in str(
        caught.value
    )


def test_windows_and_signal_exit_codes_are_kept(connect: Any) -> None:
    rows = suite(80)
    rows[0].update(status="fail", exit_code=3221225477)
    rows[1].update(status="missing_output", exit_code=-9)
    rows[2].update(categories=None)
    results = fetch(connect(Platform(rows)), run(), References())
    assert [(t.exit_code, t.error_types) for t in results.tests[:3]] == [
        (3221225477, ("exit_code_mismatch",)),
        (-9, ("exit_code_mismatch", "missing_output")),
        (0, ()),
    ]
    assert results.tests[2].categories == ()
