"""Shared fixtures: a simulated platform on loopback, settings pointing at it, a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reporter.client import PlatformClient
from reporter.config import Settings, settings_from_mapping
from reporter.simulator import Profile, Scenario, SimulatedPlatform, generate
from reporter.simulator.server import READ_SCOPES
from reporter.store import Store

TOKEN = "test-token-5f3a9c"
END = datetime(2026, 11, 20, 6, tzinfo=UTC)
SMALL = Profile(days=6, samples=16, commits_per_day=3, pull_requests=2, pending_runs=2)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return generate(7, SMALL, end=END)


@pytest.fixture
def platform(scenario: Scenario) -> Iterator[SimulatedPlatform]:
    with SimulatedPlatform(scenario, tokens={TOKEN: READ_SCOPES}, rate_limit=100_000) as server:
        yield server


def make_settings(tmp_path: Path, base_url: str, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "platform": {
            "base_url": base_url,
            "token": TOKEN,
            "max_attempts": 3,
            "max_retry_seconds": 10,
            "connect_timeout": 2,
            "read_timeout": 5,
        },
        "state": {"path": str(tmp_path / "state.sqlite3")},
        "channels": {},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return settings_from_mapping(data, tmp_path)


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


class FakeSlack:
    """A loopback Slack Web API and webhook endpoint that records requests and can answer errors."""

    def __init__(self) -> None:
        import json
        import threading
        import time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.posted: list[dict[str, Any]] = []
        self.script: dict[str, list[tuple[int, dict[str, Any], dict[str, str]]]] = {}
        self.hang_after_post = 0.0  # seconds to wait before answering a post Slack already took
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, method: str, body: dict[str, Any]) -> None:
                fake.requests.append((method, body))
                queued = fake.script.get(method)
                if queued:
                    status, reply, headers = queued.pop(0)
                else:
                    status, reply, headers = 200, fake.default(method, body), {}
                    if method == "chat.postMessage" and fake.hang_after_post:
                        time.sleep(fake.hang_after_post)
                data = json.dumps(reply).encode() if method != "webhook" or status != 200 else b"ok"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json" if method != "webhook" else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                self._answer(url.path.rsplit("/", 1)[-1], {k: v[-1] for k, v in parse_qs(url.query).items()})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw or "{}")
                else:
                    body = {k: v[-1] for k, v in parse_qs(raw).items()}
                method = "webhook" if url.path.startswith("/hooks/") else url.path.rsplit("/", 1)[-1]
                self._answer(method, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def default(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if method in ("chat.postMessage", "webhook"):
            problem = self.invalid(body)
            if problem:
                return {"ok": False, "error": problem}
        if method == "chat.postMessage":
            message = {"ts": f"{len(self.posted) + 1}.0001", **body}
            self.posted.append(message)
            return {"ok": True, "channel": body.get("channel"), "ts": message["ts"], "message": message}
        if method == "conversations.history":
            top = [m for m in self.posted if not m.get("thread_ts")]
            return {"ok": True, "messages": list(reversed(top))}
        if method == "conversations.replies":
            thread = [m for m in self.posted if m["ts"] == body["ts"] or m.get("thread_ts") == body["ts"]]
            return {"ok": True, "messages": thread}
        if method == "auth.test":
            return {"ok": True, "team": "ccx", "user": "reporter"}
        if method == "webhook":
            self.posted.append(body)
        return {"ok": True}

    @staticmethod
    def invalid(body: dict[str, Any]) -> str | None:
        """Slack's own limits on a message's blocks."""
        import json

        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not body.get("text"):
            return "no_text"
        if len(blocks) > 50:
            return "invalid_blocks"
        texts = [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]
        texts += [
            e["text"] for b in blocks for e in b.get("elements", []) if isinstance(e, dict) and "text" in e
        ]
        if any(len(t) > 3000 for t in texts if isinstance(t, str)):
            return "invalid_blocks"
        if sum(len(t) for t in texts if isinstance(t, str)) > 13_200:
            return "msg_blocks_too_long"
        return None

    def fail(self, method: str, error: str, times: int = 1) -> None:
        self.script.setdefault(method, []).extend([(200, {"ok": False, "error": error}, {})] * times)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (aiosmtpd needs one it is told)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_controller(**options: Any) -> Any:
    """An aiosmtpd server on loopback; ``controller.inbox.messages`` keeps what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Inbox(Message):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **options)
    controller.inbox = inbox
    return controller


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    """A real SMTP server (aiosmtpd) on loopback that keeps every message it receives."""
    controller = smtp_controller()
    controller.start()
    yield controller
    controller.stop()
