"""A real ``reporter poll`` against the simulator answering one hostile value at a time.

Each case: the poll ends in bounded time with exit 3 naming the run (or the listed item) and the
field, no traceback, every other run ingested; ``status`` shows the invalid run, which is not read
again before its pause is over and is stored once the platform answers well.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reporter.cli import main
from reporter.simulator import SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.views import run_status
from tests.fakes import END, TOKEN

Mutation = Callable[[dict[str, Any]], None]


def reporter(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    """``reporter --config CONFIG ARGS``, in a thread given at most 60 s; (exit code, stdout, stderr)."""
    outcome: dict[str, Any] = {}

    def command() -> None:
        try:
            main(["--config", str(config), *args])
            outcome["code"] = 0
        except SystemExit as exc:
            outcome["code"] = int(exc.code or 0)
        except BaseException as exc:  # a traceback in real life
            outcome["crash"] = exc

    worker = threading.Thread(target=command, daemon=True)
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), f"reporter {' '.join(args)} still running after 60 s"
    assert "crash" not in outcome, f"reporter {' '.join(args)} crashed: {outcome.get('crash')!r}"
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return outcome["code"], out, err


@pytest.fixture
def config(tmp_path: Path, platform: SimulatedPlatform, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SAMPLE_PLATFORM_TOKEN", TOKEN)
    path = tmp_path / "reporter.yaml"
    path.write_text(
        f"platform:\n  base_url: {platform.base_url}\n  max_attempts: 1\nstate:\n  path: state.sqlite3\n"
        "analysis:\n  window_days: 3650\nchannels:\n  stdout: {}\n"
    )
    return path


def finished(scenario: Scenario) -> set[int]:
    return {r.run_id for r in scenario.runs if run_status(r, END) not in ("queued", "running")}


def victim_of(scenario: Scenario) -> int:
    failing = sorted(r.run_id for r in scenario.runs if run_status(r, END) == "fail")
    return failing[len(failing) // 2]


def ingested(config: Path) -> set[int]:
    with sqlite3.connect(config.parent / "state.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT run_id FROM runs WHERE state = 'ingested'")}


def age_marks(config: Path) -> None:
    """Time passes: every invalid run's pause is over."""
    with sqlite3.connect(config.parent / "state.sqlite3") as db:
        db.execute("UPDATE invalid_runs SET retry_at = '2000-01-01T00:00:00+00:00'")


def marks(config: Path) -> list[tuple[int, int, str, str]]:
    with sqlite3.connect(config.parent / "state.sqlite3") as db:
        return db.execute("SELECT run_id, tries, last_seen, retry_at FROM invalid_runs").fetchall()


def describing(victim: int, mutate: Mutation) -> Callable[[str, dict[str, str], Any], Any]:
    """Tamper with the victim's description, in every listing and in ``GET /runs/{victim}``."""

    def tamper(path: str, _query: dict[str, str], body: Any) -> Any:
        if path in ("/api/v1/runs", f"/api/v1/runs/{victim}"):
            for item in body.get("data", [body]):
                if item["run_id"] == victim:
                    mutate(item)
        return body

    return tamper


def resulting(victim: int, mutate: Mutation) -> Callable[[str, dict[str, str], Any], Any]:
    """Tamper with one row of the victim's results."""

    def tamper(path: str, _query: dict[str, str], body: Any) -> Any:
        if path == f"/api/v1/runs/{victim}/samples" and body["data"]:
            mutate(body["data"][0])
        return body

    return tamper


def setting(field: str, value: Any) -> Mutation:
    return lambda item: item.__setitem__(field, value)


DESCRIPTIONS = [
    (
        "created_at",
        "2026-11-19T10:00:00",
        "must carry a time zone (the API gives every time in UTC with an offset) (got '2026-11-19T10:00:00')",
    ),
    ("completed_at", "0001-01-01T00:00:00+01:00", "should be between 1970 and 2200"),
    ("started_at", 1763546400, "should be an ISO 8601 timestamp with a time zone"),
    ("commit_sha", None, "must be text (got None)"),
    ("status", 5, "must be text (got 5)"),
    ("pr_number", float("nan"), "must be a whole number (got nan)"),
    ("pr_number", float("inf"), "must be a whole number (got inf)"),
    ("pr_number", True, "must be a whole number (got True)"),
    ("repository", "ccx\ud800", "is not valid text: character 3 is a lone surrogate"),
    ("branch", "b" * 5000, "must be at most 1000 characters long (got 'bbbb"),
]
RESULTS = [
    ("sample_name", "bad\ud800name", "is not valid text: character 3 is a lone surrogate"),
    ("regression_test_id", 2**64, "must be at most 9223372036854775807 (got 18446744073709551616)"),
    ("exit_code", 2**40, "must be at most 4294967295 (got 1099511627776)"),
    ("exit_code", float("nan"), "must be a whole number (got nan)"),
    ("expected_rc", "0", "must be a whole number (got '0')"),
    ("sample_id", 0, "must be at least 1 (got 0)"),
    ("status", None, "must be text (got None)"),
    ("categories", "DVB", "must be a list (got 'DVB')"),
]


@pytest.mark.parametrize(("field", "value", "complaint"), DESCRIPTIONS + RESULTS)
def test_one_bad_value_sets_its_run_aside_and_the_others_are_ingested(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    platform: SimulatedPlatform,
    scenario: Scenario,
    field: str,
    value: Any,
    complaint: str,
) -> None:
    victim = victim_of(scenario)
    in_results = (field, value, complaint) in RESULTS
    platform.tamper = (resulting if in_results else describing)(victim, setting(field, value))
    code, _, err = reporter(capsys, config, "poll")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 3 and errors[0] == "error: 1 run not ingested this cycle; later polls retry them:"
    assert errors[1].startswith(f"error: run {victim}: invalid answer, read again after ")
    where = f"GET /runs/{victim}/samples (run {victim}): field data.0.{field}" if in_results else field
    assert where in errors[1] and complaint in errors[1]
    assert ingested(config) == finished(scenario) - {victim}
    code, out, _ = reporter(capsys, config, "status")
    shown = [line for line in out.splitlines() if line.startswith("invalid:")]
    assert code == 0 and shown[0] == "invalid:      1 run with an invalid answer, read again after a pause"
    assert shown[1].startswith(f"invalid:      run {victim} (1 try since ") and complaint in shown[1]


@pytest.mark.parametrize("in_results", [True, False], ids=["results", "description"])
def test_an_invalid_run_waits_out_a_growing_pause_then_is_stored_once_answered_well(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    platform: SimulatedPlatform,
    scenario: Scenario,
    in_results: bool,
) -> None:
    victim = victim_of(scenario)
    tamper = resulting if in_results else describing
    platform.tamper = tamper(
        victim, setting("exit_code" if in_results else "created_at", "2026-11-19T10:00:00")
    )
    path = f"/api/v1/runs/{victim}/samples" if in_results else f"/api/v1/runs/{victim}"
    assert reporter(capsys, config, "poll")[0] == 3
    asked = platform.stats.by_path.get(path, 0)
    code, out, _ = reporter(capsys, config, "poll")  # within the pause: not read, not a failure
    assert code == 0 and ", 0 failed, " in out and platform.stats.by_path.get(path, 0) == asked
    age_marks(config)
    code, _, err = reporter(capsys, config, "poll")  # the pause is over: read again, still bad
    assert code == 3 and f"run {victim}: invalid answer" in err
    assert platform.stats.by_path.get(path, 0) > asked
    [(run_id, tries, last_seen, retry_at)] = marks(config)
    assert (run_id, tries) == (victim, 2)
    assert _minutes(last_seen, retry_at) == 20  # 10 minutes after the first try, doubling
    platform.tamper = None
    age_marks(config)
    code, _, _ = reporter(capsys, config, "poll")
    assert code == 0 and ingested(config) == finished(scenario) and marks(config) == []
    code, out, _ = reporter(capsys, config, "status")
    assert "invalid:" not in out


def _minutes(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def extra_run(run_id: int) -> Callable[[str, dict[str, str], Any], Any]:
    """Every listing's first page starts with one more run: a copy of its first, under ``run_id``."""

    def tamper(path: str, query: dict[str, str], body: Any) -> Any:
        if path == "/api/v1/runs" and query.get("offset", "0") == "0" and body["data"]:
            body["data"].insert(0, {**body["data"][0], "run_id": run_id})
        return body

    return tamper


@pytest.mark.parametrize(
    ("run_id", "complaint"),
    [
        (10**12, "GET /runs: field run_id: run 1000000000000 is beyond any run the platform accounts for"),
        (
            2**63 + 5,
            "GET /runs: item at offset 0: field run_id: must be at most 9223372036854775807 (got 9223372036854775813)",
        ),
        (-3, "GET /runs: item at offset 0: field run_id: must be at least 1 (got -3)"),
    ],
)
def test_an_absurd_run_id_is_refused_and_fills_no_gap(
    capsys: pytest.CaptureFixture[str],
    config: Path,
    platform: SimulatedPlatform,
    scenario: Scenario,
    run_id: int,
    complaint: str,
) -> None:
    platform.tamper = extra_run(run_id)
    code, _, err = reporter(capsys, config, "poll")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 3 and errors[1].startswith(f"error: {complaint}")
    assert ingested(config) == finished(scenario)
    assert platform.stats.requests <= len(scenario.runs) + 5  # a listing page or two, one read per run
    before = platform.stats.requests
    code, _, err = reporter(capsys, config, "poll")
    assert code == 3 and complaint in err  # listed again, refused again: nothing stored under it
    assert platform.stats.requests - before <= 3
    with sqlite3.connect(config.parent / "state.sqlite3") as db:
        assert db.execute("SELECT MAX(run_id) FROM runs").fetchone()[0] == max(
            r.run_id for r in scenario.runs
        )


def test_a_listing_page_without_its_data_fails_the_poll_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], config: Path, platform: SimulatedPlatform
) -> None:
    platform.tamper = lambda path, _q, body: {**body, "data": None} if path == "/api/v1/runs" else body
    code, _, err = reporter(capsys, config, "poll")
    assert code == 3
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: GET /runs: field data: must be a list (got None)"
    ]
    assert ingested(config) == set()
