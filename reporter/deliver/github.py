"""Deliver stored GitHub payloads: a pull request's triage comment, and the digest's issue plan.

The comment (``reporter.format.github``) starts with a hidden marker naming the pull request and the
run attempts it covers. Before writing, the pull request's comments are read: a comment of
ours with the marker is edited in place, one already covering this run or a newer one is left
alone, and none is created only for a red run. So a kill between GitHub accepting a comment and the
outbox recording it never writes twice, and a late retry never replaces newer verdicts.

Issues work the same way: each body's marker names its sample and platform (``key``) and a
fingerprint of what matters; the issues the token's account opened (or, for an app token, those
carrying the first label) are read, then each planned issue is opened (at most ``issues_per_day``
a day, highest scores first), updated when its fingerprint changed, reopened or closed with a
comment. Comments carry a marker too, so a retried plan never comments twice.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from reporter.config import GithubChannel as GithubSettings
from reporter.deliver import Delivered
from reporter.deliver.github_api import GithubApi
from reporter.errors import DeliveryError

logger = logging.getLogger(__name__)
COMMENT = re.compile(r"<!-- reporter:pr-triage pr=(\d+) version=(\d+\.\d+(?:,\d+\.\d+)*) -->")
Version = list[tuple[int, int]]  # the run attempts a comment covers, newest first
ISSUE = re.compile(
    r"<!-- reporter:issue key=([a-z0-9_-]+) fingerprint=([0-9a-f]+)(?: members=([0-9,]+))? -->"
)
NOTE = "<!-- reporter:note key={key} action={action} period={period} -->"
STALE = "Closing: the reporter no longer finds this among the flaky samples of its window."


@dataclass(frozen=True, slots=True)
class Issue:
    """One of our issues as GitHub has it."""

    number: int
    state: str
    fingerprint: str
    created_at: datetime | None
    members: frozenset[int] = frozenset()  # a co-failing cluster's samples


class GithubChannel:
    name = "github"
    alert_format = None

    def __init__(self, settings: GithubSettings, api: GithubApi | None = None) -> None:
        self.settings = settings
        self.format = "github" if settings.issues else None  # digests become the issue plan
        self._api = api
        self._login: str | None = None
        self._asked_login = False

    def __repr__(self) -> str:
        return f"GithubChannel(repository={self.settings.repository!r})"

    @property
    def api(self) -> GithubApi:
        """The API client, made on first use (a channel listed but not used opens no connection)."""
        if self._api is None:
            self._api = GithubApi(self.settings)
        return self._api

    @property
    def repo(self) -> str:
        return f"/repos/{self.settings.repository}"

    def send(self, payload: str, key: str, delivered: Delivered | None = None) -> None:
        """Deliver one payload; ``delivered`` keeps the comment written and each issue brought in line."""
        data = json.loads(payload)
        delivered = delivered or Delivered()
        if data.get("kind") == "pr_comment":
            self._comment(data, key, delivered)
        elif data.get("kind") == "issues":
            self._issues(data, delivered)
        else:
            raise DeliveryError(f"github: outbox item {key} is not a GitHub payload", retryable=False)

    # -- pull-request comments -------------------------------------------------------------
    def _comment(self, data: dict[str, Any], key: str, delivered: Delivered) -> None:
        if str(data.get("repository", "")).lower() != self.settings.repository.lower():
            shown = data.get("repository")
            logger.warning("github: %s is for %s, not %s; skipping it", key, shown, self.repo)
            return
        pr, body = int(data["pr_number"]), str(data["body"])
        version = [(int(run_id), int(attempt)) for run_id, attempt in data["version"]]
        found = self._find_comment(pr)
        if found is None:
            if data.get("create", True):
                made = self.api.post(f"{self.repo}/issues/{pr}/comments", {"body": body})
                delivered.record("comment", str(made.get("id", "")) if isinstance(made, dict) else "")
                logger.info("github: commented on pull request #%d (%s)", pr, key)
            return
        comment_id, shown = found
        if shown >= version:
            logger.info("github: pull request #%d already shows these runs or newer; leaving it", pr)
            return
        self.api.patch(f"{self.repo}/issues/comments/{comment_id}", {"body": body})
        delivered.record("comment", str(comment_id))
        logger.info("github: updated the comment on pull request #%d (%s)", pr, key)

    def _find_comment(self, pr: int) -> tuple[int, Version] | None:
        """Our comment on the pull request and the run attempts it shows, if there is one."""
        login = self.login()
        for comment in self.api.pages(f"{self.repo}/issues/{pr}/comments", {}):
            first = str(comment.get("body") or "").split("\n", 1)[0].strip()
            marker = COMMENT.fullmatch(first)
            author = (comment.get("user") or {}).get("login")
            if marker and int(marker.group(1)) == pr and (login is None or author == login):
                shown = [tuple(map(int, part.split("."))) for part in marker.group(2).split(",")]
                return int(comment["id"]), [(run_id, attempt) for run_id, attempt in shown]
        return None

    def login(self) -> str | None:
        """The token's account (None for an app token, which has no user)."""
        if not self._asked_login:
            self._asked_login = True
            try:
                self._login = str(self.api.get("/user")["login"])
            except (DeliveryError, KeyError, TypeError):
                self._login = None
        return self._login

    # -- issues ------------------------------------------------------------------------------
    def _issues(self, plan: dict[str, Any], delivered: Delivered) -> None:
        self._ensure_labels()
        existing = self._managed_issues()
        today = datetime.now(UTC) - timedelta(days=1)
        opened = sum(1 for issue in existing.values() if issue.created_at and issue.created_at > today)
        period = str(plan.get("period", ""))
        subjects = sorted(plan.get("subjects", []), key=lambda s: -float(s.get("score", 0)))
        deferred, planned = 0, {s["key"] for s in subjects}
        for subject in subjects:
            issue = existing.get(subject["key"]) or _same_cluster(existing, subject, planned)
            if delivered.get(f"issue:{subject['key']}") is not None:
                continue  # brought in line by an earlier attempt of this plan
            if subject["action"] == "open" and issue is None:
                if opened >= self.settings.issues_per_day:
                    deferred += 1
                    continue
                self._open(subject)
                opened += 1
            elif issue is not None:
                self._follow(issue, subject, period)
            delivered.record(f"issue:{subject['key']}", subject["action"])
        if plan.get("complete"):
            for key, issue in existing.items():
                if issue.state == "open" and key not in planned:
                    self._note(issue.number, key, "close", period, STALE)
                    self._set(issue.number, {"state": "closed", "state_reason": "completed"})
        if deferred:
            logger.info("github: %d flaky samples wait for an issue (issues_per_day reached)", deferred)

    def _open(self, subject: dict[str, Any]) -> None:
        new = {"title": subject["title"], "body": subject["body"], "labels": list(self.settings.labels)}
        self.api.post(f"{self.repo}/issues", new)
        logger.info("github: opened an issue for %s", subject["key"])

    def _follow(self, issue: Issue, subject: dict[str, Any], period: str) -> None:
        """Bring one existing issue in line with its subject: update, reopen or close it."""
        action, key = subject["action"], subject["key"]
        changed = issue.fingerprint != subject["fingerprint"]
        if action == "open" and issue.state == "closed":
            self._set(issue.number, {"state": "open", "title": subject["title"], "body": subject["body"]})
            self._note(issue.number, key, "reopen", period, subject["comment"])
        elif action in ("open", "keep") and issue.state == "open" and changed:
            self._set(issue.number, {"title": subject["title"], "body": subject["body"]})
        elif action == "close" and issue.state == "open":
            self._note(issue.number, key, "close", period, subject["comment"])
            self._set(issue.number, {"state": "closed", "state_reason": "completed", "body": subject["body"]})

    def _set(self, number: int, changes: dict[str, Any]) -> None:
        self.api.patch(f"{self.repo}/issues/{number}", changes)

    def _note(self, number: int, key: str, action: str, period: str, text: str) -> None:
        """Comment once: a comment already carrying this note's marker is not repeated."""
        marker = NOTE.format(key=key, action=action, period=re.sub(r"[^0-9-]", "", period))
        for comment in self.api.pages(f"{self.repo}/issues/{number}/comments", {}):
            if str(comment.get("body") or "").split("\n", 1)[0].strip() == marker:
                return
        self.api.post(f"{self.repo}/issues/{number}/comments", {"body": f"{marker}\n{text}"})

    def _managed_issues(self) -> dict[str, Issue]:
        """Our issues by key: those the token's account opened, or else those with the first label."""
        login = self.login()
        where = {"creator": login} if login else {"labels": self.settings.labels[0]}
        found: dict[str, Issue] = {}
        for item in self.api.pages(f"{self.repo}/issues", {"state": "all", **where}):
            if "pull_request" in item:
                continue
            marker = ISSUE.fullmatch(str(item.get("body") or "").split("\n", 1)[0].strip())
            if marker is None or marker.group(1) in found:
                continue
            members = frozenset(int(m) for m in (marker.group(3) or "").split(",") if m)
            number, state = int(item["number"]), str(item.get("state"))
            found[marker.group(1)] = Issue(
                number, state, marker.group(2), _when(item.get("created_at")), members
            )
        return found

    def _ensure_labels(self) -> None:
        for label in self.settings.labels:
            try:
                self.api.get(f"{self.repo}/labels/{label}")
            except DeliveryError as exc:
                if "HTTP 404" not in str(exc):
                    raise
                self.api.post(
                    f"{self.repo}/labels",
                    {"name": label, "color": "d4c5f9", "description": "Flaky Sample Platform sample"},
                )

    # -- check-config --online -----------------------------------------------------------------
    def check(self) -> str:
        """Can the token read the repository and write comments and issues? Writes nothing."""
        info = self.api.get(self.repo)
        if not isinstance(info, dict):
            raise DeliveryError(f"github: {self.repo}: unexpected answer", retryable=False)
        problems = []
        if info.get("archived"):
            problems.append("the repository is archived: nothing can be written to it")
        if self.settings.issues and not info.get("has_issues", True):
            problems.append("issues are disabled on the repository")
        permissions = info.get("permissions") or {}
        scopes = self._scopes()
        if scopes is not None and not ({"repo", "public_repo"} & scopes):
            problems.append("the classic token lacks the public_repo (or repo) scope needed to comment")
        labelling = permissions.get("triage") or permissions.get("push")
        if permissions and not labelling and self.settings.issues:
            problems.append("the token cannot set labels (needs triage access): issues would be unlabelled")
        if problems:
            where = self.settings.repository
            raise DeliveryError(f"github: {where}: " + "; ".join(problems), retryable=False)
        who = self.login() or "an app installation"
        return f"github: token of {who} can read {self.settings.repository}, comment and open issues there"

    def _scopes(self) -> set[str] | None:
        """A classic token's scopes (None for fine-grained and app tokens, which send no list)."""
        header = self.api.request("GET", "/rate_limit").headers.get("x-oauth-scopes")
        return None if header is None else {part.strip() for part in header.split(",") if part.strip()}


def _same_cluster(existing: dict[str, Issue], subject: dict[str, Any], planned: set[str]) -> Issue | None:
    """A cluster's issue under another key: on the same platform, sharing at least half its samples.

    Its members change as samples join or leave; the issue found is taken over (its key is planned).
    """
    members = frozenset(subject.get("members") or ())
    if not members:
        return None
    platform = subject["key"].rsplit("-", 1)[0]
    for key, issue in existing.items():
        overlap = len(members & issue.members)
        if (
            key.startswith(platform + "-")
            and overlap
            and overlap * 2 >= min(len(members), len(issue.members))
        ):
            planned.add(key)
            return issue
    return None


def _when(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None
    except ValueError:
        return None
