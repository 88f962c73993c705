"""Listings and records at the model boundary, through the client with httpx.MockTransport."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from reporter.client import PlatformClient
from reporter.errors import RecordInvalid, ResponseInvalid
from reporter.models import ErrorBucket
from tests.fakes import make_settings


def run_json(run_id: int, **fields: Any) -> dict[str, Any]:
    base = {
        "run_id": run_id,
        "status": "pass",
        "platform": "linux",
        "repository": "a/b",
        "commit_sha": "0" * 40,
    }
    return {**base, "created_at": "2026-11-19T10:00:00Z", **fields}


def page(items: list[Any], offset: int, following: int | None, total: int | None = 100) -> dict[str, Any]:
    return {
        "data": items,
        "pagination": {"limit": 3, "offset": offset, "total": total, "next_offset": following},
        "meta": {},
    }


class Answers:
    """A platform answering each request with ``answer(path, query)``; it counts them."""

    def __init__(self, answer: Any) -> None:
        self.answer, self.requests = answer, 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        query = dict(request.url.params)
        body = self.answer(request.url.path.removeprefix("/api/v1/"), query)
        return httpx.Response(200, content=json.dumps(body).encode())  # NaN as the token it is


def client_for(tmp_path: Path, answers: Answers) -> PlatformClient:
    settings = make_settings(tmp_path, "http://platform.test/api/v1", platform={"max_attempts": 1})
    return PlatformClient(
        settings.platform, transport=httpx.MockTransport(answers.handle), sleep=lambda _s: None
    )


def test_a_page_repeating_itself_with_an_advancing_offset_ends_the_listing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    same = [run_json(9), run_json(8), run_json(7)]
    answers = Answers(lambda _p, q: page(same, int(q["offset"]), int(q["offset"]) + 3))
    with client_for(tmp_path, answers) as client, caplog.at_level(logging.WARNING):
        runs = list(client.runs({}, page_size=3))
    assert [r.run_id for r in runs] == [9, 8, 7] and answers.requests == 2
    assert "GET /runs: the page at offset 3 holds only items listed before; ending the listing there" in (
        caplog.text
    )


def test_a_page_with_some_new_items_goes_on(tmp_path: Path) -> None:
    pages = {0: [run_json(9), run_json(8), run_json(7)], 3: [run_json(7), run_json(6), run_json(5)]}
    answers = Answers(
        lambda _p, q: page(pages[int(q["offset"])], int(q["offset"]), 3 if q["offset"] == "0" else None)
    )
    with client_for(tmp_path, answers) as client:
        assert [r.run_id for r in client.runs({}, page_size=3)] == [9, 8, 7, 6, 5]


def test_a_bad_listed_run_is_skipped_naming_its_offset_id_and_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = [run_json(9), run_json(8, completed_at="2026-11-19T11:00:00"), "not a run", run_json(6)]
    answers = Answers(lambda _p, q: page(items, 0, None))
    with client_for(tmp_path, answers) as client, caplog.at_level(logging.WARNING):
        listing = client.runs({}, page_size=3)
        assert [r.run_id for r in listing] == [9, 6]
    assert [(r.offset, r.item_id) for r in listing.rejected] == [(1, 8), (2, None)]
    assert listing.rejected[0].reason == (
        "GET /runs: item at offset 1 (run 8): field completed_at: must carry a time zone "
        "(the API gives every time in UTC with an offset) (got '2026-11-19T11:00:00')"
    )
    assert "GET /runs: item at offset 2: field (body): must be an object" in caplog.text


def test_a_page_of_items_without_usable_ids_does_not_end_the_listing(tmp_path: Path) -> None:
    pages = {
        0: page([{**run_json(9), "run_id": "x"}, {"run_id": None}], 0, 2),
        2: page([run_json(5), run_json(4)], 2, None),
    }
    answers = Answers(lambda _p, q: pages[int(q.get("offset", 0))])
    with client_for(tmp_path, answers) as client:
        listing = client.runs({}, page_size=2)
        assert [r.run_id for r in listing] == [5, 4]
    assert [r.item_id for r in listing.rejected] == [None, None]


def test_a_bad_result_row_fails_the_whole_run(tmp_path: Path) -> None:
    rows = [
        {"regression_test_id": 1, "status": "pass"},
        {"regression_test_id": 2, "status": "pass", "exit_code": 1.5},
    ]
    answers = Answers(lambda _p, q: page(rows, 0, None))
    with client_for(tmp_path, answers) as client, pytest.raises(RecordInvalid) as caught:
        client.run_samples(7)
    assert str(caught.value) == (
        "GET /runs/7/samples (run 7): field data.1.exit_code: must be a whole number (got 1.5)"
    )
    assert caught.value.run_id == 7


@pytest.mark.parametrize(
    ("pagination", "complaint"),
    [
        ({"next_offset": 2**63 + 5}, "field pagination.next_offset: must be at most 9223372036854775807"),
        ({"total": -1}, "field pagination.total: must be at least 0 (got -1)"),
        ({"limit": None}, "field pagination.limit: must be a whole number (got None)"),
    ],
)
def test_a_page_whose_pagination_is_unusable_fails_the_listing(
    tmp_path: Path, pagination: dict[str, Any], complaint: str
) -> None:
    body = page([run_json(9)], 0, 3)
    body["pagination"].update(pagination)
    with client_for(tmp_path, Answers(lambda _p, _q: body)) as client:
        with pytest.raises(RecordInvalid, match=f"^GET /runs: {re.escape(complaint)}"):
            list(client.runs({}))


def test_an_answer_about_another_run_is_invalid(tmp_path: Path) -> None:
    with client_for(tmp_path, Answers(lambda _p, _q: run_json(6))) as client:
        with pytest.raises(
            RecordInvalid, match=r"^GET /runs/5 \(run 5\): field run_id: the answer is about run 6$"
        ):
            client.run(5)


@pytest.mark.parametrize(
    ("field", "value", "complaint"),
    [
        ("fail_count", float("nan"), "field fail_count: must be a whole number (got nan)"),
        ("pass_count", 10**30, "field pass_count: must be at most"),
        (
            "missing_output_count",
            -1,
            "field missing_output_count: must be at least 0",
        ),
        ("status", None, "field status: must be text (got None)"),
    ],
)
def test_a_summary_with_a_bad_count_is_invalid(
    tmp_path: Path, field: str, value: Any, complaint: str
) -> None:
    summary = {
        "run_id": 5,
        "status": "fail",
        "total_samples": 3,
        "pass_count": 2,
        "fail_count": 1,
        "skipped_count": 0,
        "missing_output_count": 0,
        field: value,
    }
    with client_for(tmp_path, Answers(lambda _p, _q: summary)) as client:
        with pytest.raises(RecordInvalid, match=rf"^GET /runs/5/summary \(run 5\): {re.escape(complaint)}"):
            client.summary(5)


def test_body_that_is_not_json_stays_a_plain_invalid_response(tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, content=b"<html>"))
    settings = make_settings(tmp_path, "http://platform.test/api/v1", platform={"max_attempts": 1})
    with PlatformClient(settings.platform, transport=transport, sleep=lambda _s: None) as client:
        with pytest.raises(ResponseInvalid) as caught:
            client.run(5)
    assert not isinstance(caught.value, RecordInvalid)  # retried next poll, not set aside


@pytest.mark.parametrize(
    ("key", "sample_id"),
    [("12", 12), ("None", None), ("²", None), ("٣", None), ("0", None), ("9" * 30, None), ("-4", None)],
)
def test_a_bucket_key_is_a_sample_id_only_when_it_is_one(key: str, sample_id: int | None) -> None:
    bucket = ErrorBucket(group_by="sample_id", key=key, count=1, severity="error")
    assert bucket.sample_id == sample_id


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"run_id": ' + b"9" * 5000 + b"}"],
    ids=["nested 100,000 deep", "a number of 5,000 digits"],
)
def test_a_body_beyond_reading_is_an_invalid_answer_not_a_crash(tmp_path: Path, body: bytes) -> None:
    calls: list[int] = []

    def answer(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=body)

    settings = make_settings(tmp_path, "http://platform.test/api/v1", platform={"max_attempts": 3})
    with PlatformClient(
        settings.platform, transport=httpx.MockTransport(answer), sleep=lambda _s: None
    ) as client:
        with pytest.raises(RecordInvalid, match=r"^GET /runs/5: the body nests too deep or holds a number"):
            client.run(5)
    assert len(calls) == 1  # the same answer next time: not retried at once


def test_pages_of_bad_items_repeating_with_an_advancing_offset_end_the_listing(tmp_path: Path) -> None:
    bad = [run_json(9, status=None), {"run_id": "x"}, run_json(8, platform=3)]
    answers = Answers(lambda _p, q: page(bad, int(q["offset"]), int(q["offset"]) + 3))
    with client_for(tmp_path, answers) as client:
        listing = client.runs({}, page_size=3)
        assert list(listing) == []
    assert answers.requests == 2 and [r.item_id for r in listing.rejected] == [9, None, 8, 9, None, 8]


def test_pages_without_one_usable_id_end_the_listing_after_a_few(tmp_path: Path) -> None:
    answers = Answers(lambda _p, q: page([{"run_id": "x"}], int(q["offset"]), int(q["offset"]) + 1))
    with client_for(tmp_path, answers) as client:
        assert list(client.runs({}, page_size=1)) == []
    assert answers.requests == 4
