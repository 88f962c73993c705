"""The whole pipeline against an embedded simulated platform: no network, no credentials."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reporter import ingest, jobs
from reporter.analysis import FAILING, FLAKY, Analysis
from reporter.config import Settings, settings_from_mapping
from reporter.deliver import Channel
from reporter.deliver.file import FileChannel
from reporter.deliver.stdout import StdoutChannel
from reporter.format import Templates
from reporter.format.text import TextFormat
from reporter.simulator import Faults, Profile, SimulatedPlatform, generate
from reporter.simulator.server import READ_SCOPES
from reporter.triage_jobs import TriageRequest, run_triage
from reporter.triage_report import Triage

DEMO_TOKEN = "demo-token"  # noqa: S105 - the embedded simulator's own token, not a secret


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo produced and how it compares with the simulator's ground truth."""

    directory: Path
    text_path: Path
    html_path: Path
    state_path: Path
    runs_ingested: int
    requests: int
    found: dict[str, set[tuple[int, str]]]
    truth: dict[str, set[tuple[int, str]]]
    triage: Triage | None = None
    triage_path: Path | None = None


def demo_settings(base_url: str, directory: Path) -> Settings:
    data: dict[str, Any] = {
        "platform": {
            "base_url": base_url,
            "token": DEMO_TOKEN,
            "web_url": "https://sampleplatform.ccextractor.org",
        },
        "state": {"path": str(directory / "reporter.sqlite3")},
        "analysis": {"window_days": 30},
        "channels": {"stdout": {}},
    }
    return settings_from_mapping(data, directory)


def run_demo(
    directory: Path,
    *,
    seed: int = 7,
    days: int = 14,
    progress: ingest.Progress | None = None,
) -> DemoOutcome:
    """Simulate ``days`` of CI, poll it, analyse it, and write the digest as text and HTML."""
    directory.mkdir(parents=True, exist_ok=True)
    scenario = generate(seed, Profile(days=days), end=datetime.now(UTC).replace(minute=0, second=0))
    platform = SimulatedPlatform(scenario, tokens={DEMO_TOKEN: READ_SCOPES}, rate_limit=100_000)
    text_path, html_path = directory / "digest.txt", directory / "digest.html"
    with platform:
        settings = demo_settings(platform.base_url, directory)
        with jobs.open_store(settings) as store:
            polled = jobs.poll(settings, store, progress=progress)
            channels: list[Channel] = [
                StdoutChannel("text"),
                FileChannel(text_path, "text", name="file-text"),
                FileChannel(html_path, "html", name="file-html"),
            ]
            jobs.run_digest(settings, store, channels=channels)
            _, result = jobs.analyse(settings, store)
            since = TriageRequest(since=scenario.start)
            shown = _telling(run_triage(settings, store, since).triage)
    triage_path = directory / "triage.txt"
    if shown is not None:
        triage_path.write_text(TextFormat(Templates()).triage(shown), encoding="utf-8")
    return DemoOutcome(
        directory,
        text_path,
        html_path,
        settings.state.path,
        polled.ingested,
        platform.stats.requests,
        _found(result),
        {FLAKY: scenario.flaky, FAILING: scenario.failing},
        shown,
        triage_path if shown is not None else None,
    )


def _telling(triage: Triage) -> Triage | None:
    """The pull-request run whose failures got the most different verdicts (the latest of equals)."""
    judged = [run for run in triage.runs if run.verdicts]
    if not judged:
        return None
    best = max(judged, key=lambda run: (len({v.verdict for v in run.verdicts}), run.run_id))
    return replace(triage, runs=(best,))


def _found(result: Analysis) -> dict[str, set[tuple[int, str]]]:
    return {kind: {(f.sample_id, f.platform) for f in result.by_class(kind)} for kind in (FLAKY, FAILING)}


@contextmanager
def serve_simulation(
    profile: Profile, *, seed: int, token: str, rate_limit: int, window: float, faults: Faults, port: int
) -> Iterator[str]:
    """A simulated platform serving a ``profile`` history on 127.0.0.1 for the block; yields its URL."""
    server = SimulatedPlatform(
        generate(seed, profile),
        tokens={token: READ_SCOPES},
        rate_limit=rate_limit,
        rate_window=window,
        faults=faults,
        port=port,
    )
    with server:
        yield server.base_url
