"""Fixtures: a simulated platform on loopback, settings pointing at it, a real SQLite store, peers.

Helpers live in ``tests/fakes.py``; tests import them from there, never from this file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from reporter.client import PlatformClient
from reporter.config import Settings
from reporter.logs import QUIET
from reporter.simulator import Scenario, SimulatedPlatform, generate
from reporter.simulator.server import READ_SCOPES
from reporter.store import Store
from tests.fake_github import FakeGithub
from tests.fakes import END, SMALL, TOKEN, FakeSlack, make_settings, smtp_controller


@pytest.fixture(autouse=True)
def logging_as_found() -> Iterator[None]:
    """A command run in this process configures logging; undo it so no later test writes to its stream.

    Its handler writes to the stderr captured for that test; left in place it would print a
    "Logging error" into another test's stderr, or, once that test has ended, into a closed stream.
    """
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in (None, *QUIET)}
    yield
    for handler in root.handlers[:]:
        if not type(handler).__module__.startswith("_pytest"):
            root.removeHandler(handler)
            handler.close()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return generate(7, SMALL, end=END)


@pytest.fixture
def platform(scenario: Scenario) -> Iterator[SimulatedPlatform]:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000) as server:
        yield server


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    def build(base_url: str, **sections: Any) -> Settings:
        return make_settings(tmp_path, base_url, **sections)

    return build


@pytest.fixture
def settings(platform: SimulatedPlatform, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, platform.base_url, analysis={"window_days": 30})


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    with Store(settings.state.path) as opened:
        yield opened


@pytest.fixture
def client(settings: Settings) -> Iterator[PlatformClient]:
    with PlatformClient(settings.platform, sleep=lambda _s: None) as opened:
        yield opened


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    controller = smtp_controller()
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def github() -> Iterator[FakeGithub]:
    """A fake GitHub REST API on loopback (token ``ghp-test-token``, pull requests 1-20)."""
    fake = FakeGithub()
    yield fake
    fake.close()
