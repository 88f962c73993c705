"""Test doubles and builders shared by the test files: settings, histories, digests, loopback peers.

Imported by the tests themselves (``from tests.fakes import ...``); ``conftest.py`` only turns some
of them into fixtures.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from reporter.analysis import analyse
from reporter.config import AnalysisSettings, Settings, settings_from_mapping
from reporter.digest import Digest, build
from reporter.history import History, RunRecord
from reporter.simulator import Profile

TOKEN = "test-token-5f3a9c"
END = datetime(2026, 11, 20, 6, tzinfo=UTC)
SMALL = Profile(days=6, samples=16, commits_per_day=3, pull_requests=2, pending_runs=2)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 7, tzinfo=UTC)
OTHERS = frozenset(range(1, 21))  # twenty healthy samples in every run
EVIL = "<!channel> & <https://evil.example|click> <script>alert(1)</script>"
ROOT = Path(__file__).resolve().parent.parent  # the source checkout


def uncommented(text: str) -> str:
    """The example with its commented-out channels switched on, as its comment tells a user to."""
    return re.sub(r"(?m)^  # ( *[a-z_]+:.*)$", r"  \1", text)


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


# -- histories and digests ---------------------------------------------------------------------
def history(
    pattern: str,
    *,
    sample: int = 99,
    platform: str = "linux",
    commits: Iterable[str] | None = None,
    extra: Iterable[RunRecord] = (),
) -> History:
    """One run per character: '.' pass, 'x' fail; each run on its own commit unless ``commits`` says."""
    shas = list(commits) if commits is not None else [f"{i:040x}" for i in range(len(pattern))]
    runs = [
        run(i + 1, sha, {sample} if c == "x" else set(), tested={sample}, platform=platform)
        for i, (c, sha) in enumerate(zip(pattern, shas, strict=True))
    ]
    ordered = sorted([*runs, *extra], key=lambda r: r.run_id)
    return History(tuple(ordered), {sample: "sample.ts"})


def run(
    run_id: int,
    sha: str,
    failing: set[int],
    *,
    tested: set[int] = frozenset(),
    platform: str = "linux",
    status: str | None = None,
    pr: int | None = None,
) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        platform=platform,
        commit_sha=sha,
        branch="pull_request" if pr else "master",
        pr_number=pr,
        kind="pr" if pr else "commit",
        status=status or ("fail" if failing else "pass"),
        created_at=T0 + timedelta(hours=run_id),
        completed_at=T0 + timedelta(hours=run_id, minutes=30),
        tested=frozenset(OTHERS | tested | failing),
        failures={s: ("exit_code_mismatch",) for s in failing},
    )


def digest_named(name: str, pattern: str = "..x....x.....x..x....") -> Digest:
    h = history(pattern)
    result = analyse(type(h)(h.runs, {99: name}), AnalysisSettings())
    return build(
        result,
        period="2026-11-20",
        generated_at=NOW,
        window_days=30,
        web_url="https://sp.example",
        previous=None,
    )


# -- loopback peers ----------------------------------------------------------------------------
SCOPES = {  # the bot token scope each Web API method needs (public channels)
    "chat.postMessage": "chat:write",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
}
BAD_GATEWAY = (
    502,
    "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
    {},
)


class FakeSlack:
    """A loopback Slack Web API and webhook endpoint that records requests and can answer errors."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.posted: list[dict[str, Any]] = []
        # answers to give instead of the normal one, per method, in order: (status, JSON body or raw
        # text, headers); None answers normally
        self.script: dict[str, list[tuple[int, dict[str, Any] | str, dict[str, str]] | None]] = {}
        self.hang_after_post = 0.0  # seconds to wait before answering a post Slack already took
        self.scopes = set(SCOPES.values())  # the bot token's scopes: a method needing another fails
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, method: str, body: dict[str, Any]) -> None:
                fake.requests.append((method, body))
                queued = fake.script.get(method)
                scripted = queued.pop(0) if queued else None
                if scripted is not None:
                    status, reply, headers = scripted
                else:
                    status, reply, headers = 200, fake.default(method, body), {}
                    if method == "chat.postMessage" and fake.hang_after_post and reply.get("ok"):
                        time.sleep(fake.hang_after_post)
                if isinstance(reply, str):  # a proxy's page, not Slack's JSON
                    data, kind = reply.encode(), "text/html; charset=utf-8"
                elif method == "webhook":
                    data, kind = (b"ok" if status == 200 else json.dumps(reply).encode()), "text/plain"
                else:
                    data, kind = json.dumps(reply).encode(), "application/json"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if method != "webhook":
                    self.send_header("X-OAuth-Scopes", ",".join(sorted(fake.scopes)))
                self.send_header("Content-Type", kind)
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
        needed = SCOPES.get(method)
        if needed is not None and needed not in self.scopes:
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(self.scopes),
            }
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

    def keys(self) -> list[str]:
        """The outbox keys of the posted messages, in posting order."""
        found = []
        for message in self.posted:
            metadata = message["metadata"]
            metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
            found.append(metadata["event_payload"]["key"])
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (aiosmtpd needs one it is told)."""

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def smtp_controller(**options: Any) -> Any:
    """An aiosmtpd server on loopback; ``controller.inbox.messages`` keeps what it receives."""

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
