"""Where the stages meet: alerts after a poll, exactly once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reporter import jobs
from reporter.analysis import FAILING, FLAKY
from reporter.config import Settings
from reporter.deliver.stdout import StdoutChannel
from reporter.simulator import SimulatedPlatform
from reporter.store import Store
from tests.fakes import make_settings


@pytest.fixture
def settings(tmp_path: Path, platform: SimulatedPlatform) -> Settings:
    """Alerts on, to a stdout channel the tests pass in (none is configured, so polls send none)."""
    return make_settings(
        tmp_path,
        platform.base_url,
        analysis={"window_days": 3650},
        alerts={"enabled": True, "channels": ["stdout"]},
    )


def test_alerts_follow_new_master_runs_once(settings: Settings) -> None:
    out = io.StringIO()
    channel = StdoutChannel(stream=out)
    with Store(settings.state.path) as store:
        result = jobs.poll(settings, store)
        history, findings = jobs.analyse(settings, store)
        sent = jobs.send_alerts(settings, store, result.new_run_ids, [channel])
        again = jobs.send_alerts(settings, store, result.new_run_ids, [channel])
    assert sent > 0 and again == 0
    assert out.getvalue().count("failed for reasons known flakiness does not explain") == sent
    known = {(f.sample_id, f.platform) for f in findings.findings if f.classification in (FLAKY, FAILING)}
    runs = {r.run_id: r for r in history.runs}
    for block in out.getvalue().split("Run ")[1:]:
        run = runs[int(block.split(" ", 1)[0])]
        assert run.pr_number is None and run.status == "fail" and run.run_id not in findings.infra_run_ids
        for sample_id in (int(part.split(")")[0]) for part in block.split("(#")[1:]):
            assert (sample_id, run.platform) not in known


def test_checking_new_runs_reads_only_those_runs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    with Store(settings.state.path) as store:
        result = jobs.poll(settings, store)
        first, *rest = result.new_run_ids
        jobs.send_alerts(settings, store, (first,), [StdoutChannel(stream=out)])  # makes the snapshot

        def no_history(*args: object) -> None:
            raise AssertionError("a poll's alert check must not read the whole history")

        monkeypatch.setattr(Store, "history", no_history)
        later = jobs.send_alerts(settings, store, tuple(rest), [StdoutChannel(stream=out)])
    blamed = []
    for block in out.getvalue().split("Run ")[1:]:
        platform = block.split("(", 1)[1].split(",", 1)[0]
        blamed += [(platform, line) for line in block.splitlines() if line.startswith("  * ")]
    assert later > 0
    assert len(blamed) == len(set(blamed))  # each unexplained sample is alerted about once a platform
