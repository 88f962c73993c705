"""SIGTERM or Ctrl-C ends `run`, `poll` and `backfill` within seconds, at any moment, the state whole.

Each test starts the real command in a subprocess against a slow simulated platform, waits until
it is at the chosen moment (a request in flight, a rate-limit wait, a delivery that never
answers), signals it, and measures how long it takes to exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reporter.simulator import Faults, SimulatedPlatform
from reporter.simulator.scenario import Scenario
from reporter.simulator.server import READ_SCOPES
from reporter.store import Store
from tests.fakes import TOKEN
from tests.test_crash_safety import stored, truth

BOUND = 5.0  # seconds from the signal to the end of the process
pytestmark = pytest.mark.slow


class Command:
    """``reporter`` in a subprocess, its stderr collected line by line."""

    def __init__(self, config: Path, *args: str) -> None:
        env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN}
        argv = [sys.executable, "-m", "reporter", "--config", str(config), "-v", *args]
        self.process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(f"the command ended before {what}:\n{''.join(self.lines)}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout} s:\n{''.join(self.lines)}")
            time.sleep(0.05)

    def stop(self, signum: int = signal.SIGTERM) -> tuple[int, float]:
        """Signal it; its exit code and the seconds it took to exit (killed after 30 s)."""
        began = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"still running 30 s after {signal.Signals(signum).name}:\n{''.join(self.lines)}")
        self._reader.join(timeout=5)
        return code, time.monotonic() - began

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)


@pytest.fixture
def slow(scenario: Scenario) -> Iterator[SimulatedPlatform]:
    """The platform answering after 1.5 s each time, with room for every request."""
    faults = Faults(latency=1.5)
    with SimulatedPlatform(
        scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000, faults=faults
    ) as server:
        yield server


def config_for(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    config = tmp_path / "reporter.yaml"
    config.write_text(
        f"platform:\n  base_url: {base_url}\n  max_retry_after: 600\nstate:\n  path: state.sqlite3\n"
        f"analysis:\n  window_days: 3650\nchannels: {{}}\n{extra}"
    )
    return config


def assert_whole_then_complete(tmp_path: Path, platform: SimulatedPlatform, config: Path) -> None:
    """The stopped state is intact, and a poll afterwards finishes with every finished run stored."""
    state = tmp_path / "state.sqlite3"
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    platform.faults.latency = 0.0
    platform.rate_limit = 100_000
    env = {**os.environ, "SAMPLE_PLATFORM_TOKEN": TOKEN}
    command = [sys.executable, "-m", "reporter", "--config", str(config), "poll"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert stored(state) == truth(platform.scenario, platform.clock)


def test_poll_stops_mid_request(tmp_path: Path, slow: SimulatedPlatform) -> None:
    config = config_for(tmp_path, slow.base_url)
    poll = Command(config, "poll")
    poll.wait_for(lambda: slow.stats.requests >= 1, "request in flight")
    code, took = poll.stop()
    assert code == 130 and took < BOUND
    assert poll.said("stopped while waiting for the Sample Platform (GET /runs)")
    with Store(tmp_path / "state.sqlite3") as store:
        assert '"result": "stopped"' in (store.meta("job.poll") or "")
    assert_whole_then_complete(tmp_path, slow, config)


def test_poll_stops_while_fetching_runs_in_parallel(tmp_path: Path, slow: SimulatedPlatform) -> None:
    config = config_for(tmp_path, slow.base_url)
    poll = Command(config, "poll")
    poll.wait_for(lambda: any("/samples" in path for path in slow.stats.by_path), "run fetched")
    code, took = poll.stop()
    assert code == 130 and took < BOUND
    assert poll.said("the next poll continues") or poll.said("the next poll goes on from there")
    assert_whole_then_complete(tmp_path, slow, config)


def test_poll_stops_mid_rate_limit_wait(tmp_path: Path, scenario: Scenario) -> None:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=4, rate_window=60) as server:
        config = config_for(tmp_path, server.base_url)
        poll = Command(config, "poll")
        poll.wait_for(lambda: poll.said("rate limit: holding requests back"), "rate-limit wait")
        code, took = poll.stop()
        assert code == 130 and took < BOUND
        assert_whole_then_complete(tmp_path, server, config)


def test_backfill_stops_on_ctrl_c(tmp_path: Path, slow: SimulatedPlatform) -> None:
    config = config_for(tmp_path, slow.base_url)
    backfill = Command(config, "backfill", "--days", "3650")
    backfill.wait_for(lambda: slow.stats.requests >= 12, "a dozen requests")
    code, took = backfill.stop(signal.SIGINT)
    assert code == 130 and took < BOUND
    with Store(tmp_path / "state.sqlite3") as store:
        assert '"result": "stopped"' in (store.meta("job.backfill") or "")
    assert_whole_then_complete(tmp_path, slow, config)


def test_daemon_stops_mid_poll_and_exits_0(tmp_path: Path, slow: SimulatedPlatform) -> None:
    config = config_for(tmp_path, slow.base_url)
    daemon = Command(config, "run")
    daemon.wait_for(lambda: slow.stats.requests >= 3, "poll under way")
    code, took = daemon.stop()
    assert code == 0 and took < BOUND
    assert_whole_then_complete(tmp_path, slow, config)


class SilentServer:
    """Accepts connections and never says a word (a hung mail relay)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; then refused
        self.listener.close()
        for connection in self.accepted:
            connection.close()


def test_poll_stops_mid_delivery_and_keeps_it_queued(tmp_path: Path, platform: SimulatedPlatform) -> None:
    relay = SilentServer()
    port, accepted = relay.port, relay.accepted
    email = (
        f"  email:\n    host: 127.0.0.1\n    port: {port}\n    security: none\n    timeout: 60\n"
        "    sender: r@ccx.example\n    recipients: [d@ccx.example]\n"
    )
    config = config_for(tmp_path, platform.base_url)
    config.write_text(config.read_text().replace("channels: {}\n", "channels:\n" + email))
    with Store(tmp_path / "state.sqlite3") as store:
        store.outbox.enqueue("2026-11-20", "{}", {"email": '{"subject": "s", "text": "t", "html": "h"}'})
    poll = Command(config, "poll")
    poll.wait_for(lambda: bool(accepted), "delivery under way")
    code, took = poll.stop()
    assert code == 130 and took < BOUND
    with Store(tmp_path / "state.sqlite3") as store:
        [item] = store.outbox.items(("pending", "sent", "failed"))
    assert (item.status, item.attempts) == ("pending", 0)  # neither sent nor counted as failed: retried
    relay.close()  # refused from now on: the next poll's delivery fails at once
    assert_whole_then_complete(tmp_path, platform, config)
