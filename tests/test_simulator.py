"""The simulator follows the contract and the live server's observed behaviour, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from reporter.cli import cli
from reporter.simulator import PROFILES, SimulatedPlatform, generate
from reporter.simulator.scenario import Attempt, Incident, SampleSpec, Scenario, SimRun
from reporter.simulator.server import READ_SCOPES
from reporter.simulator.suite import CATEGORY_SIZES, category_counts
from tests.fakes import TOKEN


def get(
    platform: SimulatedPlatform, path: str, token: str | None = TOKEN, **params: str | int
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(platform.base_url + path, params=params, headers=headers, timeout=5)


def test_pages_follow_next_offset_to_the_end(platform: SimulatedPlatform, scenario: Scenario) -> None:
    seen, offset = [], 0
    while offset is not None:
        body = get(platform, "/runs", sort="run_id", limit=7, offset=offset).json()
        assert body["meta"] == {} and body["pagination"]["limit"] == 7
        seen += [r["run_id"] for r in body["data"]]
        offset = body["pagination"]["next_offset"]
    assert seen == sorted(r.run_id for r in scenario.runs)


def test_default_order_is_newest_first_with_zulu_times(platform: SimulatedPlatform) -> None:
    data = get(platform, "/runs", limit=5).json()["data"]
    assert [r["run_id"] for r in data] == sorted((r["run_id"] for r in data), reverse=True)
    assert data[0]["created_at"].endswith("Z")


def test_rate_limit_headers_on_every_response(platform: SimulatedPlatform) -> None:
    response = get(platform, "/runs/999999")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Run 999999 not found.", "details": {}}
    assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
    assert "X-RateLimit-Remaining" in response.headers


def test_401_without_or_with_a_bad_token(platform: SimulatedPlatform) -> None:
    for token in (None, "wrong"):
        response = get(platform, "/runs", token=token)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


def test_403_names_the_missing_scope(scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={"runs-only": ("runs:read",)}) as server:
        response = get(server, "/runs/1/error-summary", token="runs-only")
    assert response.status_code == 403
    assert response.json()["details"] == {
        "required_scopes": ["results:read"],
        "missing_scopes": ["results:read"],
        "token_scopes": ["runs:read"],
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "pass"}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"sort": "name"}, "sort"),
    ],
)
def test_400_validation_errors_name_the_field(
    platform: SimulatedPlatform, params: dict[str, str | int], field: str
) -> None:
    response = get(platform, "/runs", TOKEN, **params)
    assert response.status_code == 400
    assert field in response.json()["details"]["fields"]


def test_429_with_retry_after_when_the_window_is_spent(scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=3, rate_window=60) as server:
        codes = [get(server, "/runs", limit=1) for _ in range(4)]
    assert [c.status_code for c in codes] == [200, 200, 200, 429]
    assert [c.headers["X-RateLimit-Remaining"] for c in codes[:3]] == ["2", "1", "0"]
    assert int(codes[3].headers["Retry-After"]) >= 1
    assert codes[3].json()["code"] == "rate_limited"


def test_error_summary_groups_and_orphan_key(platform: SimulatedPlatform, scenario: Scenario) -> None:
    failing = next(
        r
        for r in scenario.runs
        if r.attempts[-1].results.get(scenario.orphan_regression_id, "pass") != "pass"
        and r.attempts[-1].outcome == "completed"
        and r.attempts[-1].completed_at < scenario.end
    )
    buckets = get(platform, f"/runs/{failing.run_id}/error-summary", group_by="sample_id", limit=100).json()
    orphan = [b for b in buckets["data"] if b["key"] == "None"]
    assert orphan and orphan[0]["sample_ids"] == []
    assert buckets["pagination"]["total"] == len(buckets["data"])
    assert all(
        b["first_seen_at"] == b["last_seen_at"] and b["first_seen_at"].endswith("+00:00")
        for b in buckets["data"]
    )
    warnings = get(
        platform, f"/runs/{failing.run_id}/error-summary", group_by="type", severity="warning"
    ).json()
    assert all(b["severity"] == "warning" for b in warnings["data"])


def test_created_after_matches_queued_runs_always(platform: SimulatedPlatform, scenario: Scenario) -> None:
    body = get(platform, "/runs", created_after="2100-01-01T00:00:00Z", limit=100).json()
    assert body["data"] and {r["status"] for r in body["data"]} == {"queued"}


def test_status_filter_accepts_only_pending_and_canceled(platform: SimulatedPlatform) -> None:
    assert get(platform, "/runs", status="running").status_code == 200
    assert get(platform, "/runs", status="fail").status_code == 400


def test_injected_faults(platform: SimulatedPlatform) -> None:
    platform.faults.server_error = 1.0
    assert get(platform, "/runs").status_code == 503
    platform.faults.server_error, platform.faults.malformed = 0.0, 1.0
    with pytest.raises(ValueError):
        get(platform, "/runs").json()
    platform.faults.malformed, platform.faults.drop = 0.0, 1.0
    with pytest.raises(httpx.TransportError):
        get(platform, "/runs")


def test_unknown_paths_lack_rate_limit_headers(platform: SimulatedPlatform) -> None:
    response = get(platform, "/nothing")
    assert response.status_code == 404 and "X-RateLimit-Limit" not in response.headers


# -- the hard profile: what real histories contain, pinned through the API -----------------------

HARD_END = datetime(2026, 11, 20, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def hard() -> Scenario:
    return generate(3, PROFILES["hard"], end=HARD_END)


@pytest.fixture(scope="module")
def hard_platform(hard: Scenario) -> Iterator[SimulatedPlatform]:
    with SimulatedPlatform(hard, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000) as server:
        yield server


@pytest.fixture(scope="module")
def api(hard_platform: SimulatedPlatform) -> Iterator[httpx.Client]:
    with connect(hard_platform) as client:
        yield client


def connect(platform: SimulatedPlatform) -> httpx.Client:
    """One connection for many requests (a new client per request costs more than the answer)."""
    return httpx.Client(base_url=platform.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)


def rows(api: httpx.Client, run_id: int, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        body = api.get(f"/runs/{run_id}/samples", params={"limit": 20, "offset": offset, **params}).json()
        assert body["pagination"]["total"] >= len(body["data"])
        found += body["data"]
        offset = body["pagination"]["next_offset"]
    return found


def finished_incidents(scenario: Scenario, cause: str) -> list[tuple[SimRun, Incident]]:
    """Incidents in the attempt each run shows at the end (its last one)."""
    return [
        (run, incident)
        for run in scenario.runs
        if run.attempts[-1].outcome == "completed" and run.attempts[-1].completed_at <= scenario.end
        for incident in run.attempts[-1].incidents
        if incident.cause == cause
    ]


def test_partial_infrastructure_failure_is_a_tail_with_one_exit_code(
    api: httpx.Client, hard: Scenario
) -> None:
    found = [(r, i) for r, i in finished_incidents(hard, "partial_infrastructure") if i.exit_code is not None]
    assert len(found) >= 3
    for run, incident in found[:3]:
        listed = rows(api, run.run_id)
        assert [r["regression_test_id"] for r in listed] == sorted(r["regression_test_id"] for r in listed)
        tail = listed[len(listed) - len(incident.regression_ids) :]
        assert [r["regression_test_id"] for r in tail] == list(incident.regression_ids)
        assert 0.15 <= len(tail) / len(listed) <= 0.75
        assert {r["exit_code"] for r in tail} == {incident.exit_code}
        assert incident.exit_code in (5, -9 if run.platform == "linux" else 1)
        assert len({r["status"] for r in tail}) == 1 and tail[0]["status"] != "pass"
        assert api.get(f"/runs/{run.run_id}").json()["status"] == "fail"
        sample_id = next(r["sample_id"] for r in tail if r["sample_id"] is not None)
        cause = hard.failure_cause(run.run_id, -1, sample_id)
        assert cause in ("partial_infrastructure", "flaky", "regression", "pull_request")


def test_category_outage_fails_every_test_of_one_category_with_exit_code_2(
    api: httpx.Client, hard: Scenario
) -> None:
    found = finished_incidents(hard, "category_outage")
    assert found
    run, incident = found[0]
    assert incident.category is not None
    listed = rows(api, run.run_id, category=incident.category.lower())
    assert len(listed) == len(incident.regression_ids) >= 2
    assert all(incident.category in r["categories"] for r in listed)
    later = set(run.attempts[-1].causes[r] for r in incident.regression_ids)
    if later == {"category_outage"}:  # no partial failure on top of it
        assert {r["exit_code"] for r in listed} == {2}
        assert all(r["status"] in ("fail", "missing_output") for r in listed)
    buckets = api.get(f"/runs/{run.run_id}/error-summary", params=dict(group_by="type", limit=100)).json()
    mismatch = next(b for b in buckets["data"] if b["key"] == "exit_code_mismatch")
    assert {r["sample_id"] for r in listed} <= set(mismatch["sample_ids"])


def test_a_restarted_run_shows_each_attempt_under_the_same_id(hard: Scenario) -> None:
    run = next(r for r in hard.runs if len(r.attempts) > 1 and r.attempts[1].completed_at < hard.end)
    first, second = run.attempts[0], run.attempts[1]
    assert first.outcome != "completed" or any(v != "pass" for v in first.results.values())
    moment = [first.completed_at + timedelta(minutes=1)]
    with (
        SimulatedPlatform(hard, tokens={TOKEN: READ_SCOPES}, clock=lambda: moment[0]) as server,
        connect(server) as client,
    ):
        before = client.get(f"/runs/{run.run_id}").json()
        assert before["status"] in ("fail", "canceled", "error")
        assert len(rows(client, run.run_id)) == len(first.results)
        moment[0] = second.queued_at + timedelta(seconds=1)
        assert client.get(f"/runs/{run.run_id}").json()["status"] == "queued"
        assert rows(client, run.run_id) == []
        moment[0] = second.completed_at + timedelta(seconds=1)
        after = client.get(f"/runs/{run.run_id}").json()
        listed = rows(client, run.run_id)
    assert after["run_id"] == run.run_id and after["completed_at"] != before["completed_at"]
    expected = {
        r: "pass" if v == "pass" else ("missing_output" if v == "missing_output" else "fail")
        for r, v in second.results.items()
    }
    assert {r["regression_test_id"]: r["status"] for r in listed} == expected


def test_samples_filters_match_the_live_server(api: httpx.Client, hard: Scenario) -> None:
    run = next(
        r
        for r in reversed(hard.runs)
        if r.attempts[-1].completed_at < hard.end
        and {"exit_code_mismatch", "missing_output"} <= set(r.attempts[-1].results.values())
    )
    everything = rows(api, run.run_id)
    for status in ("pass", "fail", "missing_output"):
        chosen = rows(api, run.run_id, status=status)
        assert chosen and chosen == [r for r in everything if r["status"] == status]
    assert rows(api, run.run_id, status="not_started") == []
    for status in ("skipped", "running", "broken"):
        answer = api.get(f"/runs/{run.run_id}/samples", params=dict(status=status))
        assert answer.status_code == 400
        assert answer.json() == {
            "code": "validation_error",
            "message": f"Invalid status: {status}",
            "details": {},
        }
    category = everything[0]["categories"][0]
    assert rows(api, run.run_id, category=category.upper()) == [
        r for r in everything if category in r["categories"]
    ]
    assert rows(api, run.run_id, tag="anything") == []
    name = everything[0]["sample_name"]
    assert everything[0] in rows(api, run.run_id, name=name[2:8].upper())
    assert api.get("/runs/99999/samples").status_code == 404
    assert api.get(f"/runs/{run.run_id}/samples", params=dict(limit=0)).status_code == 400


def test_samples_lists_only_tests_with_a_result(api: httpx.Client, hard: Scenario) -> None:
    canceled = next(
        r
        for r in hard.runs
        if r.attempts[-1].outcome == "canceled" and 0 < len(r.attempts[-1].results) < len(hard.suite)
    )
    listed = rows(api, canceled.run_id)
    assert [r["regression_test_id"] for r in listed] == sorted(canceled.attempts[-1].results)
    summary = api.get(f"/runs/{canceled.run_id}/summary").json()
    assert summary["total_samples"] == len(hard.suite)
    assert summary["skipped_count"] == len(hard.suite) - len(listed)
    new = next(s for s in hard.samples if s.kind == "new")
    early = next(r for r in hard.runs if r.commit_index < new.from_commit and r.attempts[-1].results)
    assert new.sample_id not in {r["sample_id"] for r in rows(api, early.run_id)}
    errored = [
        r for r in hard.runs if r.attempts[-1].outcome == "error" and r.attempts[-1].completed_at < hard.end
    ]
    for run in errored:
        assert rows(api, run.run_id) == []


def test_rows_errors_and_summary_agree(api: httpx.Client, hard: Scenario) -> None:
    finished = [r for r in hard.runs if r.attempts[-1].completed_at < hard.end and r.attempts[-1].results]
    checked = 0
    for run in finished[::3]:
        listed = rows(api, run.run_id)
        for row in listed:
            if row["status"] == "pass":
                assert row["exit_code"] == row["expected_rc"] and row["outputs"][0]["status"] == "pass"
            elif row["status"] == "fail":
                differs = row["exit_code"] != row["expected_rc"]
                assert differs != (row["outputs"][0]["status"] == "fail")
            else:
                assert row["status"] == "missing_output" and row["outputs"] == []
        by_type = api.get(
            f"/runs/{run.run_id}/error-summary", params=dict(group_by="type", limit=100)
        ).json()["data"]
        summary = api.get(f"/runs/{run.run_id}/summary").json()
        assert sum(b["count"] for b in by_type) == summary["error_count"]
        rc_errors = sum(r["exit_code"] != r["expected_rc"] for r in listed)
        assert next((b["count"] for b in by_type if b["key"] == "exit_code_mismatch"), 0) == rc_errors
        assert summary["missing_output_count"] == sum(r["status"] == "missing_output" for r in listed)
        by_sample = api.get(
            f"/runs/{run.run_id}/error-summary", params=dict(group_by="sample_id", limit=100)
        ).json()
        failing = {str(r["sample_id"]) for r in listed if r["status"] != "pass"}
        assert {b["key"] for b in by_sample["data"]} == failing
        checked += 1
    assert checked >= 10


def test_categories_follow_the_real_suite(api: httpx.Client, hard: Scenario) -> None:
    run = next(
        r
        for r in reversed(hard.runs)
        if r.attempts[-1].completed_at < hard.end and r.attempts[-1].outcome == "completed"
    )
    listed = rows(api, run.run_id)
    counts: dict[str, int] = {}
    for row in listed:
        assert len(row["categories"]) == 1 and row["command"]
        counts[row["categories"][0]] = counts.get(row["categories"][0], 0) + 1
        if row["categories"] == ["NoCC"]:
            assert row["expected_rc"] == 10
    assert set(counts) <= set(CATEGORY_SIZES)
    assert max(counts, key=lambda c: counts[c]) == "Options"
    assert len(counts) >= 10
    assert category_counts(237) == CATEGORY_SIZES and sum(category_counts(61).values()) == 61


def test_a_seed_gives_the_same_history(hard: Scenario) -> None:
    def fingerprint(scenario: Scenario) -> list[object]:
        return [
            (
                r.run_id,
                r.platform,
                r.commit_sha,
                r.created_at,
                [(a.outcome, a.results, a.exit_codes) for a in r.attempts],
            )
            for r in scenario.runs
        ]

    again = generate(3, PROFILES["hard"], end=HARD_END)
    assert fingerprint(again) == fingerprint(hard) and again.flaky == hard.flaky
    assert fingerprint(generate(4, PROFILES["hard"], end=HARD_END)) != fingerprint(hard)


def test_new_behaviours_are_off_unless_a_profile_asks(scenario: Scenario) -> None:
    assert not scenario.clusters and not scenario.same_code
    assert {i.cause for _, _, i in scenario.incidents()} <= {"infrastructure_run"}
    assert {s.kind for s in scenario.samples} <= {
        "stable",
        "flaky",
        "regression",
        "fixed",
        "platform_broken",
        "pr_broken",
        "new",
    }


# -- the hard profile: the generator's phenomena and their ground truth -------------------------


def shown(scenario: Scenario) -> list[tuple[SimRun, Attempt]]:
    """Each finished run with the attempt it shows at the end."""
    return [
        (r, r.attempts[-1])
        for r in scenario.runs
        if r.attempts[-1].completed_at <= scenario.end and r.attempts[-1].outcome == "completed"
    ]


def fails(attempt: Attempt, spec: SampleSpec) -> bool:
    return any(attempt.results.get(r, "pass") != "pass" for r in spec.regression_ids)


def test_bursty_samples_fail_inside_overload_episodes(hard: Scenario) -> None:
    bursty = [s for s in hard.samples if s.kind == "bursty"]
    assert len(bursty) == 3 and hard.overloads
    inside = outside = inside_failed = outside_failed = 0
    for spec in bursty:
        (platform,) = spec.platforms
        for run, attempt in shown(hard):
            if run.platform != platform or spec.regression_ids[0] not in attempt.results:
                continue
            covered = any(e.covers(platform, attempt.queued_at) for e in hard.overloads)
            failed = attempt.causes.get(spec.regression_ids[0]) == "flaky" and fails(attempt, spec)
            inside, inside_failed = inside + covered, inside_failed + (covered and failed)
            outside, outside_failed = outside + (not covered), outside_failed + (not covered and failed)
    assert inside >= 5 and 0.2 <= inside_failed / inside <= 0.8
    assert outside_failed / outside < 0.03
    assert all(e.end - e.start <= timedelta(hours=24) for e in hard.overloads)


def test_cluster_members_fail_together(hard: Scenario) -> None:
    assert len(hard.clusters) == 2
    for cause in (c for c in hard.causes if c.kind == "cluster"):
        members = [hard.sample(sid) for sid in {sid for sid, _ in cause.members}]
        assert 3 <= len(members) <= 6 and all(m is not None and m.kind == "clustered" for m in members)
        assert cause.members <= hard.flaky
        together = 0
        for run, attempt in shown(hard):
            if run.platform in cause.platforms:
                failed = sum(fails(attempt, m) for m in members if m is not None)
                together += failed >= len(members) // 2 + 1
        assert together >= 2


def test_reruns_follow_red_runs(hard: Scenario) -> None:
    first: dict[tuple[str, str], SimRun] = {}
    retried = {"red": 0, "green": 0}
    seen = {"red": 0, "green": 0}
    for run in sorted(hard.runs, key=lambda r: r.created_at):
        key = (run.commit_sha, run.platform)
        if key in first:
            continue
        first[key] = run
        colour = (
            "red"
            if any(
                v != "pass" and a.causes.get(r) != "regression"
                for a in run.attempts[:1]
                for r, v in a.results.items()
            )
            else "green"
        )
        seen[colour] += 1
        again = len(run.attempts) > 1 or sum(1 for r in hard.runs if (r.commit_sha, r.platform) == key) > 1
        retried[colour] += again
    assert retried["red"] / seen["red"] > 0.1
    assert retried["green"] / max(1, seen["green"]) < retried["red"] / seen["red"]


def test_activity_is_uneven_with_quiet_windows_days(hard: Scenario) -> None:
    per_day: dict[int, dict[str, int]] = {}
    for run in hard.runs:
        day = (run.created_at - hard.start).days
        counts = per_day.setdefault(day, {"linux": 0, "windows": 0})
        counts[run.platform] += 1
    totals = [sum(per_day.get(d, {}).values()) for d in range(30)]
    assert min(totals) <= 1 and max(totals) >= 8
    assert any(c["linux"] >= 2 and c["windows"] <= c["linux"] // 3 for c in per_day.values())


def test_breakage_kinds(hard: Scenario) -> None:
    for spec in hard.samples:
        runs = [(r, a) for r, a in shown(hard) if r.platform in spec.platforms and r.branch == "master"]
        if spec.kind == "intermittent_regression":
            assert spec.steady_commit is not None
            assert all(
                fails(a, spec) for r, a in runs if r.commit_index >= spec.steady_commit and not a.incidents
            )
            assert not any(
                fails(a, spec) for r, a in runs if r.commit_index < spec.from_commit and not a.incidents
            )
        if spec.kind == "flaky_broken":
            assert all(fails(a, spec) for r, a in runs if r.commit_index >= spec.from_commit)
            assert {(spec.sample_id, p) for p in spec.platforms} <= hard.failing - hard.flaky
        if spec.kind == "pr_broken":
            own = [
                a for r, a in shown(hard) if r.pr_number == spec.pr_number and r.platform in spec.platforms
            ]
            if spec.pr_fixed_push is not None:
                assert not any(
                    fails(a, spec)
                    for r, a in shown(hard)
                    if r.pr_number == spec.pr_number and r.push >= spec.pr_fixed_push and not a.incidents
                )
                own = [
                    a
                    for r, a in shown(hard)
                    if r.pr_number == spec.pr_number
                    and r.platform in spec.platforms
                    and r.push < spec.pr_fixed_push
                ]
            first = spec.regression_ids[0]
            assert all(
                first not in a.results or "pull_request" in (a.causes.get(first), a.underlying.get(first))
                for a in own
            )
            blamed = [r for r, a in shown(hard) if a.causes.get(first) == "pull_request"]
            assert all(r.pr_number == spec.pr_number for r in blamed)


def test_a_rare_flake_fails_once_and_its_rerun_passes(hard: Scenario) -> None:
    for spec in (s for s in hard.samples if s.kind == "rare_flaky"):
        failed = [
            (r, a)
            for r in hard.runs
            for a in r.attempts
            if fails(a, spec) and a.causes.get(spec.regression_ids[0]) == "flaky"
        ]
        assert len(failed) == 1
        run = failed[0][0]
        again = [
            r
            for r in hard.runs
            if r.commit_sha == run.commit_sha and r.platform == run.platform and r is not run
        ]
        assert any(not fails(r.attempts[0], spec) for r in again)


def test_empty_commits_carry_the_code_of_a_red_commit(hard: Scenario) -> None:
    assert hard.same_code
    for empty, original in hard.same_code.items():
        assert empty != original and original in hard.commits
        index = hard.commits.index(original)
        assert {r.commit_index for r in hard.runs if r.commit_sha == empty} == {index}


def test_noise_causes_name_why_innocent_samples_failed(hard: Scenario) -> None:
    noise = hard.noise_causes()
    causes = set().union(*noise.values())
    assert {"partial_infrastructure", "category_outage", "pull_request", "fixed_regression"} <= causes
    assert not set(noise) & (hard.flaky | hard.failing)
    for run, attempt in shown(hard):
        for spec in hard.samples:
            cause = hard.failure_cause(run.run_id, len(run.attempts) - 1, spec.sample_id)
            assert (cause is None) == (not fails(attempt, spec))
            if cause is not None and (spec.sample_id, run.platform) in noise:
                assert cause in {
                    "partial_infrastructure",
                    "category_outage",
                    "infrastructure_run",
                    "pull_request",
                    "regression",
                }
    assert hard.failure_cause(10**6, 0, hard.samples[0].sample_id) is None


def test_simulate_names_the_profiles_it_knows() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--profile", "nope", "--port", "0"])
    assert result.exit_code == 2 and "hard" in result.output and "--profile" in result.output


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_short_hard_history_keeps_its_truth_honest(seed: int) -> None:
    short = generate(seed, replace(PROFILES["hard"], days=3, samples=12), end=HARD_END)
    for spec in short.samples:
        assert spec.kind != "clustered" or spec.group is not None
        if spec.kind == "rare_flaky":
            assert sum(fails(a, spec) for r in short.runs for a in r.attempts) >= 1
    assert all(len({sid for sid, _ in c}) >= 2 for c in short.clusters)
    for spec in (s for s in short.samples if s.kind == "intermittent_regression"):
        assert spec.steady_commit is not None and spec.steady_commit >= spec.from_commit


def test_simulate_refuses_a_history_without_days() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--days", "0", "--port", "0"])
    assert result.exit_code == 2 and "--days" in result.output
