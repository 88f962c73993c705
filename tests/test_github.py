"""The GitHub channel against the fake GitHub API: the comment edited in place, the issue cycle, limits."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reporter.analysis import analyse
from reporter.config import AnalysisSettings
from reporter.config import GithubChannel as GithubSettings
from reporter.deliver.github import GithubChannel
from reporter.deliver.github_api import GithubApi
from reporter.digest import Digest, build
from reporter.errors import DeliveryError
from reporter.format import Templates
from reporter.format.github import GithubFormat
from reporter.history import History
from reporter.triage import triage
from reporter.triage_report import RunTriage, Triage
from tests.fake_github import Account, FakeGithub
from tests.fakes import EVIL, make_settings, run
from tests.test_triage import SAMPLE, pull
from tests.test_triage_format import assert_inert

TOKEN = "ghp-test-token"
WEB = "https://sp.example"


def options(fake: FakeGithub, tmp_path: Path, **extra: Any) -> GithubSettings:
    values = {
        "token": TOKEN,
        "repository": fake.repository,
        "api_url": fake.url,
        "pr_comments": True,
        **extra,
    }
    github = make_settings(tmp_path, "http://127.0.0.1:9", channels={"github": values}).channels.github
    assert github is not None
    return github


def channel(fake: FakeGithub, tmp_path: Path, **extra: Any) -> GithubChannel:
    settings = options(fake, tmp_path, **extra)
    api = GithubApi(settings, sleep=fake.advance, clock=lambda: fake.now, write_gap=0)
    return GithubChannel(settings, api)


def judged(*runs_failing: tuple[int, str, set[int]], names: dict[int, str] | None = None) -> Triage:
    """Pull request 7's runs (id, platform, failing samples) after twenty green master runs."""
    tested = {SAMPLE, 5}
    master = [run(i, f"{i:040x}", set(), tested=tested) for i in range(1, 21)]
    mine = [pull(run_id, failing, platform=platform) for run_id, platform, failing in runs_failing]
    history = History(tuple([*master, *mine]), names or {SAMPLE: "sample.ts", 5: "other.ts"})
    settings = AnalysisSettings()
    done: tuple[RunTriage, ...] = triage(history, analyse(history, settings), mine, settings)
    return Triage(datetime(2026, 11, 20, tzinfo=UTC), done, WEB, 30)


def comment_payload(report: Triage) -> str:
    return GithubFormat(Templates()).comment(report, 7, "CCExtractor/ccextractor")


# -- the pull-request comment ----------------------------------------------------------------
def test_one_comment_created_then_edited_in_place(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path)
    first = judged((30, "linux", {SAMPLE}))
    target.send(comment_payload(first), "github:pr-7-run-30.1")
    (made,) = github.comments_on(7)
    assert made["body"].startswith("<!-- reporter:pr-triage pr=7 version=30.1 -->\n")
    assert "[Run 30](https://sp.example/test/30)" in made["body"]
    both = judged((30, "linux", {SAMPLE}), (31, "windows", {SAMPLE, 5}))
    target.send(comment_payload(both), "github:pr-7-run-31.1")
    (edited,) = github.comments_on(7)
    assert edited["id"] == made["id"]
    assert edited["body"].startswith("<!-- reporter:pr-triage pr=7 version=31.1,30.1 -->\n")
    assert "[Run 31](https://sp.example/test/31)" in edited["body"]
    writes = len(github.writes())
    target.send(comment_payload(first), "github:pr-7-run-30.1")  # a late retry of the older one
    target.send(comment_payload(both), "github:pr-7-run-31.1")  # and the same one again
    assert len(github.writes()) == writes
    assert github.comments_on(7)[0]["body"] == edited["body"]


def test_green_runs_update_an_existing_comment_but_never_open_one(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path)
    target.send(comment_payload(judged((30, "linux", set()))), "github:pr-7-run-30.1")
    assert github.comments_on(7) == []
    target.send(comment_payload(judged((31, "linux", {SAMPLE}))), "github:pr-7-run-31.1")
    target.send(comment_payload(judged((32, "linux", set()))), "github:pr-7-run-32.1")
    (comment,) = github.comments_on(7)
    assert "every sample passed" in comment["body"] and "version=32.1" in comment["body"]


def test_a_copied_marker_in_someone_elses_comment_is_not_ours(github: FakeGithub, tmp_path: Path) -> None:
    github.state.comments[1] = {
        "id": 1,
        "issue": 7,
        "body": "<!-- reporter:pr-triage pr=7 version=999.1 -->\nha",
        "user": {"login": "someone"},
    }
    channel(github, tmp_path).send(comment_payload(judged((30, "linux", {SAMPLE}))), "github:pr-7-run-30.1")
    ours = [c for c in github.comments_on(7) if c["user"]["login"] == "reporter-bot"]
    assert len(ours) == 1 and github.state.comments[1]["body"].endswith("ha")


def test_a_comment_is_found_on_a_later_page(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path)
    target.send(comment_payload(judged((30, "linux", {SAMPLE}))), "k1")
    for n in range(250):
        github.state.comments[10_000 + n] = {
            "id": 10_000 + n,
            "issue": 7,
            "body": "+1",
            "user": {"login": "x"},
        }
    target.send(comment_payload(judged((31, "linux", {SAMPLE}))), "k2")
    assert len([c for c in github.comments_on(7) if c["user"]["login"] == "reporter-bot"]) == 1


@pytest.mark.parametrize(
    "name", [EVIL, "@ccextractor/maintainers", "```\n[x](https://evil.example)", "a|b\n|c"]
)
def test_hostile_sample_names_reach_github_inert(github: FakeGithub, tmp_path: Path, name: str) -> None:
    report = judged((30, "linux", {SAMPLE}), names={SAMPLE: name, 5: "x"})
    channel(github, tmp_path).send(comment_payload(report), "github:pr-7-run-30.1")
    (comment,) = github.comments_on(7)
    assert_inert(comment["body"])


def test_a_comment_for_another_repository_is_skipped(github: FakeGithub, tmp_path: Path) -> None:
    payload = GithubFormat(Templates()).comment(judged((30, "linux", {SAMPLE})), 7, "someone/else")
    channel(github, tmp_path).send(payload, "github:pr-7-run-30.1")
    assert github.writes() == []


# -- tokens, permissions and rate limits ------------------------------------------------------
def test_a_bad_token_is_explained_never_shown_and_not_retried(
    github: FakeGithub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    target = channel(github, tmp_path, token="ghp-wrong-secret")
    with pytest.raises(DeliveryError) as caught:
        target.send(comment_payload(judged((30, "linux", {SAMPLE}))), "github:pr-7-run-30.1")
    assert "HTTP 401" in str(caught.value) and "GITHUB_TOKEN" in str(caught.value)
    assert not caught.value.retryable
    assert "ghp-wrong-secret" not in caplog.text + str(caught.value)


def test_no_write_access_is_a_final_error_naming_the_permission(github: FakeGithub, tmp_path: Path) -> None:
    github.accounts[TOKEN] = Account("reporter-bot", write=False)
    with pytest.raises(DeliveryError, match=r"HTTP 403 .*Issues and Pull requests: write") as caught:
        channel(github, tmp_path).send(comment_payload(judged((30, "linux", {SAMPLE}))), "k")
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_limit_is_waited_out_as_github_asks(
    github: FakeGithub, tmp_path: Path, status: int
) -> None:
    github.secondary_limit("POST", "/repos/CCExtractor/ccextractor/issues/7/comments", status, retry_after=7)
    before = github.now
    channel(github, tmp_path).send(comment_payload(judged((30, "linux", {SAMPLE}))), "k")
    assert len(github.comments_on(7)) == 1
    assert github.now - before == pytest.approx(7)


@pytest.mark.parametrize("retry_after", [None, "nan", "inf", "soon"])
def test_a_secondary_limit_without_a_usable_retry_after_waits_a_minute(
    github: FakeGithub, tmp_path: Path, retry_after: str | None
) -> None:
    github.secondary_limit("GET", "/user", 403, retry_after=retry_after)
    before = github.now
    channel(github, tmp_path).send(comment_payload(judged((30, "linux", {SAMPLE}))), "k")
    assert github.now - before == pytest.approx(60)


def test_a_spent_primary_limit_waits_for_the_reset(github: FakeGithub, tmp_path: Path) -> None:
    github.accounts[TOKEN].remaining = 2  # /user and the listing; the post has to wait
    github.window_end = reset = github.now + 30
    channel(github, tmp_path).send(comment_payload(judged((30, "linux", {SAMPLE}))), "k")
    assert len(github.comments_on(7)) == 1
    assert github.now >= reset  # it waited for the new window instead of hitting the limit
    assert [m for m, _, _ in github.requests] == ["GET", "GET", "POST"]


def test_a_wait_longer_than_allowed_is_left_to_the_outbox(github: FakeGithub, tmp_path: Path) -> None:
    github.secondary_limit("POST", "/repos/CCExtractor/ccextractor/issues/7/comments", 429, retry_after=600)
    with pytest.raises(DeliveryError, match="more than max_wait_seconds") as caught:
        channel(github, tmp_path).send(comment_payload(judged((30, "linux", {SAMPLE}))), "k")
    assert caught.value.retryable and github.comments_on(7) == []


def test_check_reads_without_writing(github: FakeGithub, tmp_path: Path) -> None:
    assert "token of reporter-bot can read CCExtractor/ccextractor" in channel(github, tmp_path).check()
    github.accounts[TOKEN] = Account(None, scopes=None)  # an app installation
    assert "an app installation" in channel(github, tmp_path).check()
    github.accounts[TOKEN] = Account("reporter-bot", scopes="read:org")
    with pytest.raises(DeliveryError, match="public_repo"):
        channel(github, tmp_path).check()
    github.accounts[TOKEN] = Account("reporter-bot", triage=False)
    with pytest.raises(DeliveryError, match="cannot set labels"):
        channel(github, tmp_path, issues=True).check()
    assert github.writes() == []


# -- issues for flaky samples ------------------------------------------------------------------
def digest_of(
    pattern: str, previous: Digest | None, period: str, sample: int = SAMPLE, name: str | None = None
) -> Digest:
    runs = [
        run(i + 1, f"{i + 1:040x}", {sample} if c == "x" else set(), tested={sample})
        for i, c in enumerate(pattern)
    ]
    history = History(tuple(runs), {sample: name or f"sample-{sample}.ts"})
    state = (previous.period, previous.state()) if previous else None
    return build(
        analyse(history, AnalysisSettings()),
        period=period,
        generated_at=datetime.fromisoformat(f"{period}T07:00:00+00:00"),
        window_days=30,
        web_url=WEB,
        previous=state,
    )


def plan(made: Digest) -> str:
    return GithubFormat(Templates()).digest(made)


def test_the_issue_cycle_open_update_close_reopen(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path, pr_comments=False, issues=True)
    flaky = digest_of("..x...x....x..x...x..", None, "2026-11-20")
    target.send(plan(flaky), "github:2026-11-20")
    (issue,) = [dict(i) for i in github.our_issues()]
    assert issue["body"].startswith("<!-- reporter:issue key=flaky-99-linux fingerprint=")
    assert [label["name"] for label in issue["labels"]] == ["flaky-sample"]
    assert "sample-99.ts" in issue["title"] and issue["state"] == "open"
    writes = len(github.writes())
    target.send(plan(digest_of("..x...x....x..x...x...", flaky, "2026-11-21")), "github:2026-11-21")
    assert len(github.writes()) == writes  # nothing material changed: no edit
    worse = digest_of("..x...x....x..x...x..xx.x.x..x.x", flaky, "2026-11-22")
    target.send(plan(worse), "github:2026-11-22")
    assert github.our_issues()[0]["body"] != issue["body"] and len(github.our_issues()) == 1
    fixed = digest_of("." * 40, worse, "2026-11-23")  # no failure left in the window
    assert fixed.recovered
    target.send(plan(fixed), "github:2026-11-23")
    target.send(plan(fixed), "github:2026-11-23")  # retried: still one closing comment
    (closed,) = github.our_issues()
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    notes = github.comments_on(closed["number"])
    assert len(notes) == 1 and "passes steadily" in notes[0]["body"]
    again = digest_of("..x...x....x..x...x..", fixed, "2026-11-24")
    target.send(plan(again), "github:2026-11-24")
    (reopened,) = github.our_issues()
    assert reopened["state"] == "open" and reopened["number"] == closed["number"]
    assert "flaky on `linux` again" in github.comments_on(closed["number"])[-1]["body"]


def test_at_most_issues_per_day_highest_scores_first(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path, pr_comments=False, issues=True, issues_per_day=2)
    subjects = []
    for sample, pattern in (
        (1, "x.x.x.x.x.x.x.x.x.x."),
        (2, "..x...x...x...x...x."),
        (3, "x...x...x...x...x..."),
        (4, "...x.....x.....x...x"),
    ):
        entry = digest_of(pattern, None, "2026-11-20", sample=sample)
        subjects += json.loads(plan(entry))["subjects"]
    combined = json.dumps({"kind": "issues", "period": "2026-11-20", "complete": False, "subjects": subjects})
    target.send(combined, "github:2026-11-20")
    first = {i["title"] for i in github.our_issues()}
    assert len(first) == 2
    top = sorted(subjects, key=lambda s: -s["score"])[:2]
    assert first == {s["title"] for s in top}
    target.send(combined, "github:2026-11-20")  # same day: the cap holds
    assert len(github.our_issues()) == 2
    for issue in github.our_issues():
        issue["created_at"] = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    target.send(combined, "github:2026-11-21")
    assert len(github.our_issues()) == 4


def test_an_app_token_finds_its_issues_by_label(github: FakeGithub, tmp_path: Path) -> None:
    github.accounts[TOKEN] = Account(None, scopes=None)
    target = channel(github, tmp_path, pr_comments=False, issues=True, labels=["flaky", "ci"])
    made = plan(digest_of("..x...x....x..x...x..", None, "2026-11-20"))
    target.send(made, "github:2026-11-20")
    target.send(made, "github:2026-11-20")
    (issue,) = github.our_issues()
    assert {label["name"] for label in issue["labels"]} == {"flaky", "ci"}
    assert set(github.state.labels) == {"flaky", "ci"}


def test_an_issue_whose_sample_left_the_findings_is_closed(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path, pr_comments=False, issues=True)
    target.send(plan(digest_of("..x...x....x..x...x..", None, "2026-11-20")), "a")
    other = digest_of("..x...x....x..x...x..", None, "2026-11-21", sample=5)
    target.send(plan(replace(other, recovered=())), "b")
    states = {i["title"]: i["state"] for i in github.our_issues()}
    assert states == {
        "Flaky sample sample-99.ts on linux": "closed",
        "Flaky sample sample-5.ts on linux": "open",
    }


@pytest.mark.parametrize("name", [EVIL, "@ccextractor/maintainers\n\n# heading", "x" * 3000 + "\u202e"])
def test_hostile_sample_names_in_issues_stay_inert(github: FakeGithub, tmp_path: Path, name: str) -> None:
    target = channel(github, tmp_path, pr_comments=False, issues=True)
    target.send(plan(digest_of("..x...x....x..x...x..", None, "2026-11-20", name=name)), "github:2026-11-20")
    (issue,) = github.our_issues()
    assert_inert(issue["body"])
    assert len(issue["title"]) <= 200 and issue["title"].isprintable()


def test_a_next_page_on_another_host_is_not_followed(github: FakeGithub, tmp_path: Path) -> None:
    import httpx

    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        link = '<https://elsewhere.example/steal?page=2>; rel="next"'
        return httpx.Response(200, json=[{"id": 1}], headers={"link": link})

    settings = options(github, tmp_path)
    api = GithubApi(settings, transport=httpx.MockTransport(answer), write_gap=0)
    assert list(api.pages("/repos/CCExtractor/ccextractor/issues", {})) == [{"id": 1}]
    assert len(seen) == 1 and all(u.startswith(github.url) for u in seen)


def test_server_errors_and_dropped_connections_are_retried_then_left_to_the_outbox(
    github: FakeGithub, tmp_path: Path
) -> None:
    import httpx

    answers: list[object] = [
        httpx.ConnectError("reset"),
        httpx.Response(502),
        httpx.Response(200, json={"ok": 1}),
    ]
    waits: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        item = answers.pop(0) if answers else httpx.Response(503)
        if isinstance(item, Exception):
            raise item
        assert isinstance(item, httpx.Response)
        return item

    api = GithubApi(
        options(github, tmp_path), transport=httpx.MockTransport(answer), sleep=waits.append, write_gap=0
    )
    assert api.get("/user") == {"ok": 1}
    assert waits == [2.0, 4.0]
    with pytest.raises(DeliveryError, match="still refused after 4 attempts") as caught:
        api.get("/user")
    assert caught.value.retryable


def test_a_restarted_run_updates_the_comment_and_its_late_older_payload_does_not(
    github: FakeGithub, tmp_path: Path
) -> None:
    target = channel(github, tmp_path)
    before = judged((30, "linux", {SAMPLE}), (31, "windows", {SAMPLE}))
    restarted = replace(before, runs=(replace(before.runs[0], attempt=2, verdicts=()), before.runs[1]))
    target.send(comment_payload(before), "github:pr-7-run-31.1")
    target.send(comment_payload(restarted), "github:pr-7-run-31.1-30.2")
    (comment,) = github.comments_on(7)
    assert comment["body"].startswith("<!-- reporter:pr-triage pr=7 version=31.1,30.2 -->")
    target.send(comment_payload(before), "github:pr-7-run-31.1")  # retried late
    assert github.comments_on(7)[0]["body"] == comment["body"]


def cluster_plan(members: list[int], period: str, complete: bool = True) -> str:
    key = f"cluster-linux-{min(members)}"
    fingerprint = f"{sum(1 << m for m in members):012x}"
    marker = (
        f"<!-- reporter:issue key={key} fingerprint={fingerprint} members={','.join(map(str, members))} -->"
    )
    subject = {
        "key": key,
        "action": "open",
        "score": 9.0,
        "title": f"{len(members)} samples fail together on linux",
        "body": f"{marker}\nmembers {members}",
        "fingerprint": fingerprint,
        "members": members,
        "comment": "again",
    }
    return json.dumps({"kind": "issues", "period": period, "complete": complete, "subjects": [subject]})


def test_a_cluster_keeps_its_issue_while_its_members_change(github: FakeGithub, tmp_path: Path) -> None:
    target = channel(github, tmp_path, pr_comments=False, issues=True)
    target.send(cluster_plan([3, 4, 5], "2026-11-20"), "a")
    target.send(cluster_plan([3, 4, 6], "2026-11-21"), "b")
    target.send(cluster_plan([4, 6, 7], "2026-11-22"), "c")  # now keyed by sample 4: found by overlap
    (issue,) = github.our_issues()
    assert issue["body"].startswith("<!-- reporter:issue key=cluster-linux-4 ") and issue["state"] == "open"
    target.send(cluster_plan([20, 21], "2026-11-23"), "d")  # another cluster: the old one is gone
    states = sorted((i["title"], i["state"]) for i in github.our_issues())
    assert states == [
        ("2 samples fail together on linux", "open"),
        ("3 samples fail together on linux", "closed"),
    ]


def test_samples_the_analysis_clusters_share_one_issue(github: FakeGithub, tmp_path: Path) -> None:
    entries = []
    for sample in (3, 4, 8):
        made = digest_of("..x...x....x..x...x..", None, "2026-11-20", sample=sample)
        (entry,) = made.new_flaky
        cluster = 1 if sample != 8 else None
        entries.append(replace(entry, finding=replace(entry.finding, cluster=cluster)))
    combined = replace(made, new_flaky=tuple(entries))
    subjects = json.loads(plan(combined))["subjects"]
    actions = {s["key"]: s["action"] for s in subjects}
    assert actions == {
        "flaky-3-linux": "keep",
        "flaky-4-linux": "keep",
        "flaky-8-linux": "open",
        "cluster-linux-3": "open",
    }
    (cluster,) = [s for s in subjects if s["key"] == "cluster-linux-3"]
    assert cluster["members"] == [3, 4] and "members=3,4 -->" in cluster["body"].splitlines()[0]
    assert_inert(cluster["body"])
    channel(github, tmp_path, pr_comments=False, issues=True).send(plan(combined), "github:2026-11-20")
    titles = sorted(i["title"] for i in github.our_issues())
    assert titles == [
        "2 samples fail together on linux: sample-3.ts, sample-4.ts",
        "Flaky sample sample-8.ts on linux",
    ]
