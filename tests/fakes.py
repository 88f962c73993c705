"""Test doubles and builders shared by the test files: settings, histories, digests, loopback peers.

Imported by the tests themselves (``from tests.fakes import ...``); ``conftest.py`` only turns some
of them into fixtures.
"""

from __future__ import annotations

import email.message
import json
import re
import socket
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
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


class QuietHTTPServer(ThreadingHTTPServer):
    """A loopback test server that never prints a client's hang-up into another test's output."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a timeout, a closed connection) is expected here."""


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
    tested: set[int] | frozenset[int] = frozenset(),
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
BAD_GATEWAY: tuple[int, str, dict[str, str]] = (
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

        self.server = QuietHTTPServer(("127.0.0.1", 0), Handler)
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
        """Slack's own limits on a message and on each of its blocks (the error Slack answers)."""

        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not body.get("text"):
            return "no_text"
        if len(str(body["text"])) > 40_000:
            return "msg_too_long"
        ids = [str(b["block_id"]) for b in blocks if "block_id" in b]
        if len(blocks) > 50 or len(ids) != len(set(ids)) or any(len(i) > 255 for i in ids):
            return "invalid_blocks"
        if any(FakeSlack.block_problem(b) for b in blocks):
            return "invalid_blocks"
        texts = [b["text"]["text"] for b in blocks if isinstance(b.get("text"), dict)]
        texts += [
            e["text"] for b in blocks for e in b.get("elements", []) if isinstance(e, dict) and "text" in e
        ]
        texts += [f["text"] for b in blocks for f in b.get("fields", []) if isinstance(f, dict)]
        if sum(len(t) for t in texts if isinstance(t, str)) > 13_200:
            return "msg_blocks_too_long"
        return None

    @staticmethod
    def block_problem(block: dict[str, Any]) -> str | None:
        """What Slack refuses in one block: a header, section or context beyond its limits."""

        def text_within(obj: Any, limit: int, kinds: tuple[str, ...] = ("plain_text", "mrkdwn")) -> bool:
            return (
                isinstance(obj, dict)
                and obj.get("type") in kinds
                and isinstance(obj.get("text"), str)
                and 1 <= len(obj["text"]) <= limit
            )

        kind = block.get("type")
        if kind == "header" and not text_within(block.get("text"), 150, ("plain_text",)):
            return "a header's text is plain_text of 1 to 150 characters"
        if kind == "section":
            fields = block.get("fields") or []
            if "text" not in block and not fields:
                return "a section needs text or fields"
            if "text" in block and not text_within(block["text"], 3000):
                return "a section's text is 1 to 3,000 characters"
            if len(fields) > 10 or not all(text_within(f, 2000) for f in fields):
                return "a section has at most 10 fields of 1 to 2,000 characters"
        if kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                return "a context block has 1 to 10 elements"
            if not all(text_within(e, 3000) for e in elements if e.get("type") != "image"):
                return "a context element's text is 1 to 3,000 characters"
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


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[email.message.Message] = []

    def handle_message(self, message: email.message.Message) -> None:
        self.messages.append(message)


class SmtpServer(Controller):
    def __init__(self, inbox: Inbox, **options: Any) -> None:
        super().__init__(inbox, hostname="127.0.0.1", port=free_port(), **options)
        self.inbox = inbox


def smtp_controller(**options: Any) -> SmtpServer:
    """An aiosmtpd server on loopback; ``controller.inbox.messages`` keeps what it receives."""
    return SmtpServer(Inbox(), **options)


# -- reports with every section, and hostile ones ----------------------------------------------
HOSTILE = (
    "<!channel> <!here> <@U0123> <https://evil.example|err> & `code` *bold* _it_ ~gone~ "
    "\"quoted\" 'single' [link](https://evil.example) <script>alert(1)</script> | # 1."
)
HOSTILE_IDS = {"pr_number", "sample_id", "run_id", "regression_id", "run_ids", "regression_ids"}
NOT_FROM_THE_PLATFORM = {"timezone", "web_url", "trend"}  # settings and our own keys


def finding(
    sample_id: int,
    name: str,
    platform: str,
    classification: str,
    history: str,
    *,
    types: tuple[str, ...] = ("exit_code_mismatch",),
    same_commit: int = 0,
) -> Any:
    from reporter.analysis import Classification, Finding, RegressionTest, RunRef

    kind = Classification(classification)
    first = RunRef(30, "a1b2c3d" + "0" * 33, "2026-11-19T06:30:00+00:00")
    last = RunRef(40, "b" * 40, "2026-11-20T05:30:00+00:00")
    tests = (
        RegressionTest(sample_id * 10, kind, 3, 20, history),
        RegressionTest(sample_id * 10 + 1, kind, 1, 20, history),
    )
    fails = history.count("x")
    return Finding(
        sample_id, name, platform, kind, 12.5, 0.9, len(history), fails, 3, same_commit,
        first, last, types, (sample_id * 10,), history, (30, 40), tests,
    )  # fmt: skip


def full_digest(timezone: str = "UTC") -> Digest:
    """A digest with something in every section: failing on two platforms, new and still flaky,
    recovered, pull-request breakages, error types, excluded runs, a grid, a trend, freshness."""
    from reporter.analysis import PullRequestBreakage
    from reporter.digest import Entry, Freshness, TrendPoint
    from reporter.grid import Cell, Column, Grid, Row

    failing = [finding(7, "broken.ts", p, "failing", "....xxxxxx") for p in ("linux", "windows")]
    flaky = finding(8, "flaky.ts", "linux", "flaky", "..x..x.x..", same_commit=2)
    still = finding(
        9, "old-flaky.mkv", "windows", "flaky", ".x...x..x.", types=("diff_mismatch", "missing_output")
    )
    fixed = finding(10, "fixed.ts", "linux", "fixed", "xx........")
    columns = tuple(
        Column(100 + i, f"{i:07x}" + "0" * 33, datetime(2026, 11, 18 + i // 4, 6 * (i % 4), tzinfo=UTC), None)
        for i in range(10)
    )
    rows = tuple(
        Row(f.sample_id, f.sample_name, f.classification, tuple(
            Cell("fail" if c == "x" else "pass", f"run {col.run_id}: {'failed' if c == 'x' else 'passed'}")
            for c, col in zip(f.history, columns, strict=True)
        ))
        for f in (failing[0], flaky)
    )  # fmt: skip
    return Digest(
        period="2026-11-20",
        generated_at=NOW,
        window_days=30,
        runs_analysed=40,
        excluded={"canceled": 2, "infrastructure": 1},
        new_flaky=(Entry(flaky, True),),
        still_flaky=(Entry(still, False),),
        failing=tuple(Entry(f, True) for f in failing),
        recovered=(Entry(fixed, True),),
        pr_breakages=(PullRequestBreakage(2322, 11, "pr-only.ts", ("linux", "windows"), (41, 42)),),
        error_types={"exit_code_mismatch": 12, "diff_mismatch": 3},
        trend={"flaky": (1, 2), "failing": (2, 2), "runs": (35, 40), "excluded": (1, 3)},
        previous_period="2026-11-19",
        web_url="https://sp.example",
        grids=(Grid("linux", columns, rows),),
        trend_points=(
            TrendPoint(date(2026, 11, 18), 1, 2),
            TrendPoint(date(2026, 11, 19), 1, 2),
            TrendPoint(date(2026, 11, 20), 2, 2),
        ),
        freshness=Freshness(END, END, timedelta(hours=1), False, None, "GET /runs: HTTP 400 bad"),
        timezone=timezone,
    )


def hostile(value: Any, text: str = HOSTILE, name: str = "") -> Any:
    """``value`` with every string from the platform, and every id a template shows, set to ``text``
    (mapping keys to ``text`` and a number): whatever field a report gains is covered too."""
    import dataclasses
    from enum import Enum

    if name in NOT_FROM_THE_PLATFORM:
        return value
    if name in HOSTILE_IDS and isinstance(value, int):
        return text
    if name in HOSTILE_IDS and isinstance(value, tuple):
        return tuple(text for _ in value)
    if isinstance(value, str) and not isinstance(value, Enum):
        return text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: hostile(getattr(value, f.name), text, f.name) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    if isinstance(value, tuple):
        return tuple(hostile(v, text) for v in value)
    if isinstance(value, dict):
        return {f"{text} {i}": hostile(v, text) for i, v in enumerate(value.values())}
    return value
