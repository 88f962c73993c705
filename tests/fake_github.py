"""A loopback fake of the GitHub REST API: tokens, a repository, pull requests, comments, issues, labels.

It behaves as GitHub does where the reporter depends on it: 401 for an unknown token, 403 for a token
without write access or for editing someone else's comment, labels silently dropped for accounts
without triage access, 422 for a body over 65,536 characters, the issues listing including pull
requests, ``Link`` pagination, the primary rate limit (``x-ratelimit-*`` headers, 403 with
``remaining: 0`` when spent) on a clock the test controls, and scripted secondary limits (403 or
429 with ``retry-after``). Writes can be held after they are applied, before the answer is sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 65_536


@dataclass
class Account:
    """Who a token belongs to and what it may do."""

    login: str | None  # None: an app installation token (no /user)
    scopes: str | None = "public_repo"  # the x-oauth-scopes header of a classic token; None: fine-grained
    write: bool = True  # may comment and open issues
    triage: bool = True  # may set labels
    remaining: int = 5000


@dataclass
class Scripted:
    """A canned answer for the next requests whose method and path match."""

    method: str
    path: str
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    times: int = 1


@dataclass
class State:
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)  # pull requests too, as on GitHub
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeGithub:
    def __init__(self, repository: str = "CCExtractor/ccextractor", pulls: range = range(1, 21)) -> None:
        self.repository = repository
        self.accounts: dict[str, Account] = {"ghp-test-token": Account("reporter-bot")}
        self.state = State()
        self.requests: list[tuple[str, str, dict[str, Any] | None]] = []
        self.script: list[Scripted] = []
        self.limit = 5000
        self.now = time.time()
        self.window_end = self.now + 3600
        self.hold_writes = threading.Event()  # set: answer writes only once released
        self.released = threading.Event()
        self.held = threading.Event()  # set when a write was applied and its answer is being held
        self._lock = threading.Lock()
        self._ids = 1000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, headers, reply = fake.answer(
                    method, self.path, self.headers.get("Authorization", ""), body
                )
                if method != "GET" and status < 300 and fake.hold_writes.is_set():
                    fake.held.set()
                    fake.released.wait(30)
                data = json.dumps(reply).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        for number in pulls:
            self.state.issues[number] = self._item(number, f"PR {number}", "", "contributor", pull=True)

    # -- test controls ---------------------------------------------------------------------------
    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def advance(self, seconds: float) -> None:
        """The client's sleep: time passes on the fake's clock only."""
        self.now += seconds

    def secondary_limit(
        self, method: str, path: str, status: int = 403, retry_after: int | str | None = 2
    ) -> None:
        headers = {"retry-after": str(retry_after)} if retry_after is not None else {}
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        self.script.append(Scripted(method, path, status, headers, {"message": message}))

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.state.comments.values() if c["issue"] == number]

    def our_issues(self) -> list[dict[str, Any]]:
        return [i for i in self.state.issues.values() if "pull_request" not in i]

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests if m != "GET"]

    # -- GitHub ------------------------------------------------------------------------------------
    def answer(
        self, method: str, target: str, auth: str, body: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], Any]:
        url = urlsplit(target)
        path, query = unquote(url.path), {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self._lock:
            self.requests.append((method, path, body))
            account = self.accounts.get(re.sub(r"^(Bearer|token) ", "", auth))
            if account is None:
                return 401, {}, {"message": "Bad credentials"}
            headers = self._limits(account)
            for scripted in self.script:
                if (scripted.method, scripted.path) == (method, path) and scripted.times > 0:
                    scripted.times -= 1
                    return scripted.status, {**headers, **scripted.headers}, scripted.body
            if account.remaining < 0:
                headers["x-ratelimit-remaining"] = "0"
                return 403, headers, {"message": "API rate limit exceeded for user ID 1."}
            status, reply, extra = self._route(method, path, query, body, account)
            return status, {**headers, **extra}, reply

    def _limits(self, account: Account) -> dict[str, str]:
        if self.now >= self.window_end:
            self.window_end = self.now + 3600
            account.remaining = self.limit
        account.remaining -= 1
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(account.remaining, 0)),
            "x-ratelimit-reset": str(int(self.window_end)),
            "x-ratelimit-used": str(self.limit - max(account.remaining, 0)),
            "x-ratelimit-resource": "core",
        }
        if account.scopes is not None:
            headers["x-oauth-scopes"] = account.scopes
        return headers

    def _route(
        self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None, who: Account
    ) -> tuple[int, Any, dict[str, str]]:
        repo = f"/repos/{self.repository}"
        if path == "/user":
            if who.login is None:
                return 403, {"message": "Resource not accessible by integration"}, {}
            return 200, {"login": who.login, "type": "User"}, {}
        if path == "/rate_limit":
            return 200, {"resources": {"core": {"limit": self.limit, "remaining": who.remaining}}}, {}
        if not path.startswith(repo + "/") and path != repo:
            return 404, {"message": "Not Found"}, {}
        rest = path[len(repo) :]
        routes: list[tuple[str, str, Callable[..., tuple[int, Any, dict[str, str]]]]] = [
            ("GET", r"", self._repo),
            ("GET", r"/issues/(\d+)/comments", self._list_comments),
            ("POST", r"/issues/(\d+)/comments", self._add_comment),
            ("PATCH", r"/issues/comments/(\d+)", self._edit_comment),
            ("GET", r"/issues", self._list_issues),
            ("POST", r"/issues", self._open_issue),
            ("PATCH", r"/issues/(\d+)", self._edit_issue),
            ("GET", r"/labels/([^/]+)", self._label),
            ("POST", r"/labels", self._add_label),
        ]
        for verb, pattern, handler in routes:
            found = re.fullmatch(pattern, rest)
            if verb == method and found:
                return handler(who, query, body or {}, *found.groups())
        return 404, {"message": "Not Found"}, {}

    def _repo(self, who: Account, query: dict[str, str], body: dict[str, Any]) -> Any:
        permissions = {"admin": False, "maintain": False, "push": False, "triage": who.triage, "pull": True}
        info = {"full_name": self.repository, "has_issues": True, "archived": False, "private": False}
        return 200, {**info, "permissions": permissions}, {}

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], path: str) -> Any:
        size, page = min(int(query.get("per_page", 30)), 100), int(query.get("page", 1))
        chosen = items[(page - 1) * size : page * size]
        extra = {}
        if page * size < len(items):
            others = "&".join(f"{k}={v}" for k, v in query.items() if k not in ("page", "per_page"))
            extra["Link"] = f'<{self.url}{path}?per_page={size}&page={page + 1}&{others}>; rel="next"'
        return 200, chosen, extra

    def _list_comments(self, who: Account, query: dict[str, str], body: dict[str, Any], number: str) -> Any:
        if int(number) not in self.state.issues:
            return 404, {"message": "Not Found"}, {}
        found = sorted(self.comments_on(int(number)), key=lambda c: c["id"])
        return self._page(found, query, f"/repos/{self.repository}/issues/{number}/comments")

    def _add_comment(self, who: Account, query: dict[str, str], body: dict[str, Any], number: str) -> Any:
        if int(number) not in self.state.issues:
            return 404, {"message": "Not Found"}, {}
        if not who.write:
            return 403, {"message": "Resource not accessible by personal access token"}, {}
        if len(body.get("body", "")) > MAX_BODY:
            return 422, {"message": "Validation Failed", "errors": [{"code": "custom", "field": "body"}]}, {}
        self._ids += 1
        comment = {"id": self._ids, "issue": int(number), "body": body["body"], "user": {"login": who.login}}
        self.state.comments[self._ids] = comment
        return 201, comment, {}

    def _edit_comment(
        self, who: Account, query: dict[str, str], body: dict[str, Any], comment_id: str
    ) -> Any:
        comment = self.state.comments.get(int(comment_id))
        if comment is None:
            return 404, {"message": "Not Found"}, {}
        if comment["user"]["login"] != who.login:
            return 403, {"message": "Resource not accessible by personal access token"}, {}
        if len(body.get("body", "")) > MAX_BODY:
            return 422, {"message": "Validation Failed"}, {}
        comment["body"] = body["body"]
        return 200, comment, {}

    def _list_issues(self, who: Account, query: dict[str, str], body: dict[str, Any]) -> Any:
        state = query.get("state", "open")
        wanted = set(filter(None, query.get("labels", "").split(",")))
        found = [
            item
            for number, item in sorted(self.state.issues.items(), reverse=True)
            if (state == "all" or item["state"] == state)
            and wanted <= {label["name"] for label in item["labels"]}
            and query.get("creator", item["user"]["login"]) == item["user"]["login"]
        ]
        return self._page(found, query, f"/repos/{self.repository}/issues")

    def _open_issue(self, who: Account, query: dict[str, str], body: dict[str, Any]) -> Any:
        if not who.write:
            return 403, {"message": "Resource not accessible by personal access token"}, {}
        if not body.get("title") or len(body.get("body", "")) > MAX_BODY:
            return 422, {"message": "Validation Failed"}, {}
        number = max(self.state.issues, default=0) + 1
        item = self._item(number, body["title"], body.get("body", ""), who.login or "app[bot]")
        if who.triage:  # GitHub drops labels silently for accounts that may not set them
            item["labels"] = [{"name": name} for name in body.get("labels", [])]
        self.state.issues[number] = item
        return 201, item, {}

    def _edit_issue(self, who: Account, query: dict[str, str], body: dict[str, Any], number: str) -> Any:
        item = self.state.issues.get(int(number))
        if item is None:
            return 404, {"message": "Not Found"}, {}
        if not who.write:
            return 403, {"message": "Resource not accessible by personal access token"}, {}
        for key in ("title", "body", "state", "state_reason"):
            if key in body:
                item[key] = body[key]
        return 200, item, {}

    def _label(self, who: Account, query: dict[str, str], body: dict[str, Any], name: str) -> Any:
        found = self.state.labels.get(name)
        return (200, found, {}) if found else (404, {"message": "Not Found"}, {})

    def _add_label(self, who: Account, query: dict[str, str], body: dict[str, Any]) -> Any:
        if not who.triage:
            return 403, {"message": "Resource not accessible by personal access token"}, {}
        if body["name"] in self.state.labels:
            return 422, {"message": "Validation Failed", "errors": [{"code": "already_exists"}]}, {}
        self.state.labels[body["name"]] = {"name": body["name"], "color": body.get("color", "ededed")}
        return 201, self.state.labels[body["name"]], {}

    def _item(self, number: int, title: str, body: str, login: str, pull: bool = False) -> dict[str, Any]:
        created = datetime.fromtimestamp(self.now, UTC).isoformat().replace("+00:00", "Z")
        item: dict[str, Any] = {
            "number": number,
            "title": title,
            "body": body,
            "state": "open",
            "state_reason": None,
            "labels": [],
            "user": {"login": login},
            "created_at": created,
        }
        if pull:
            item["pull_request"] = {"url": f"{self.url}/repos/{self.repository}/pulls/{number}"}
        return item
