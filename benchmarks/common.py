"""Shared set-up for the benchmarks: a simulated platform and settings in a temporary directory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reporter.config import Settings, settings_from_mapping
from reporter.simulator import Faults, Profile, Scenario, SimulatedPlatform, generate
from reporter.simulator.server import READ_SCOPES

TOKEN = "bench-token"
END = datetime(2026, 11, 20, 6, tzinfo=UTC)


def scenario_with_runs(runs: int, seed: int = 3) -> Scenario:
    """A history with about ``runs`` finished runs (two platforms, re-runs and PRs included)."""
    days = max(2, round(runs / 2 / 1.15 / 8 * 1.1))
    return generate(seed, Profile(days=days, commits_per_day=8, pending_runs=0, samples=40), end=END)


@contextmanager
def platform(scenario: Scenario, **options: Any) -> Iterator[SimulatedPlatform]:
    faults = options.pop("faults", Faults())
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, faults=faults, **options) as server:
        yield server


@contextmanager
def settings_for(server: SimulatedPlatform, **sections: dict[str, Any]) -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="reporter-bench-") as folder:
        data: dict[str, Any] = {
            "platform": {"base_url": server.base_url, "token": TOKEN},
            "state": {"path": str(Path(folder) / "state.sqlite3")},
            "analysis": {"window_days": 3650},
            "channels": {},
        }
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        yield settings_from_mapping(data, Path(folder))


def variants() -> dict[str, Profile]:
    """Profiles moved away from the defaults, to see how the method holds on histories unlike them."""
    from dataclasses import replace

    from reporter.simulator import PROFILES

    hard, realistic = PROFILES["hard"], PROFILES["realistic"]
    return {
        "realistic at suite size": replace(realistic, samples=180, commits_per_day=12),
        "hard at suite size": replace(hard, samples=180, commits_per_day=10),
        "hard, more partial failures": replace(hard, partial_infra_share=0.15, disk_full_episodes=4),
        "hard, more outages": replace(hard, category_outage_share=0.1),
        "hard, low-rate flakes": replace(hard, flaky_rates=(0.02, 0.04, 0.06, 0.1)),
        "hard, more bursts": replace(hard, bursty=8, overload_episodes=10),
        "hard, more clusters": replace(hard, clusters=5),
        "hard, more pull-request breakage": replace(hard, pr_breakages=8, pull_requests=12),
        "hard, more retries": replace(hard, rerun_after_red=0.4, restart_after_red=0.2),
    }
