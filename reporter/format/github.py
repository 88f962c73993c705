"""GitHub-flavoured Markdown: the pull-request triage comment, the triage for the CLI, and the issue plan.

The templates (``*.github.md.j2``) are filled under the GitHub escaping policy: every string from
outside becomes an inline code span (``reporter.format.gfm``); links, labels and the reporter's own
words are trusted Markup. A hidden marker on a body's first line lets the channel find its comment
and issues again; it is written here, never by a template, and nothing from the platform is in it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from typing import Any

from markupsafe import Markup

from reporter.digest import Digest, Entry
from reporter.format.gfm import title
from reporter.format.templates import Links, Templates
from reporter.triage_report import Triage, Verdict

BODY_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters
ROWS = 40  # table rows of a comment before the rest is summed up
COMMENT_MARKER = "<!-- reporter:pr-triage pr={pr} version={version} -->"
ISSUE_MARKER = "<!-- reporter:issue key={key} fingerprint={fingerprint} -->"
LABELS = {
    Verdict.NEW_FAILURE: Markup("🆕 **new**"),
    Verdict.UNKNOWN: Markup("❔ unknown"),
    Verdict.FAILING_ON_MASTER: Markup("🟥 failing on master"),
    Verdict.KNOWN_FLAKY: Markup("🎲 known flaky"),
    Verdict.INFRASTRUCTURE: Markup("🛠️ infrastructure"),
}
CAUSES = {
    "run": Markup("the whole run broke"),
    "tail": Markup("every test from one point on failed"),
    "category": Markup("a whole category failed"),
    "signature": Markup("many samples failed the same way"),
}
OTHER_CAUSE = Markup("a cause shared by many samples")
COMMENTS = {"open": "issue-reopened.github.md.j2", "close": "issue-closed.github.md.j2"}


class GithubLinks(Links):
    """Links for GitHub templates: trusted, so the policy leaves them as they are."""

    def sample(self, sample_id: int) -> str:
        return Markup(super().sample(sample_id))  # noqa: S704 - the configured web_url and a number

    def run(self, run_id: int) -> str:
        return Markup(super().run(run_id))  # noqa: S704 - the configured web_url and a number


class GithubFormat:
    name = "github"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def triage(self, triage: Triage) -> str:
        """The triage as GitHub Markdown, for the CLI (no marker)."""
        return self._body(triage, None, None)

    def comment(self, triage: Triage, pr_number: int, repository: str) -> str:
        """The payload of one pull request's comment: its body and what it covers.

        ``version`` lists the run attempts it covers, newest first (``350.1,346.2``); versions compare
        as lists, so a newer run or a later attempt of a covered run is newer, and a comment already
        showing a newer version is left alone. ``create`` is false when every sample passed: such
        a payload only updates a comment made for an earlier red run.
        """
        version = sorted((run.key for run in triage.runs), reverse=True)
        shown = ",".join(f"{run_id}.{attempt}" for run_id, attempt in version)
        payload = {
            "kind": "pr_comment",
            "repository": repository,
            "pr_number": pr_number,
            "version": [list(key) for key in version],
            "create": any(run.verdicts for run in triage.runs),
            "body": self._body(triage, pr_number, COMMENT_MARKER.format(pr=pr_number, version=shown)),
        }
        return json.dumps(payload, ensure_ascii=False)

    def digest(self, digest: Digest) -> str:
        """The issue plan: flaky samples and co-failing clusters to open or update, failing ones to
        update, recovered ones to close. A sample in a cluster gets no issue of its own (one cause,
        one issue); one it already has is kept up to date."""
        links = GithubLinks(digest.web_url)
        flaky = [*digest.new_flaky, *digest.still_flaky]
        clusters = _clusters(flaky)
        clustered = {id(entry) for members in clusters for entry in members}
        subjects = [
            *(self._subject(e, "keep" if id(e) in clustered else "open", links, digest) for e in flaky),
            *(self._cluster(members, links, digest) for members in clusters),
            *(self._subject(e, "keep", links, digest) for e in digest.failing),
            *(self._subject(e, "close", links, digest) for e in digest.recovered),
        ]
        plan = {
            "kind": "issues",
            "period": digest.period,
            "complete": digest.runs_analysed > 0,
            "subjects": subjects,
        }
        return json.dumps(plan, ensure_ascii=False)

    def _body(self, triage: Triage, pr_number: int | None, marker: str | None) -> str:
        links = GithubLinks(triage.web_url)
        rows, details = ROWS, True
        while True:
            body = self.templates.render(
                "triage.github.md.j2",
                t=triage,
                links=links,
                pr_number=pr_number,
                rows=rows,
                details=details,
                LABELS=LABELS,
                CAUSES=CAUSES,
                OTHER_CAUSE=OTHER_CAUSE,
            )
            body = f"{marker}\n{body}" if marker else body
            if len(body) <= BODY_LIMIT or rows == 0:
                return body
            rows, details = (rows, False) if details else (rows // 2, False)

    def _subject(self, entry: Entry, action: str, links: Links, digest: Digest) -> dict[str, Any]:
        finding = entry.finding
        key = f"flaky-{finding.sample_id}-{_slug(finding.platform)}"
        fingerprint = _fingerprint(entry)
        context: dict[str, Any] = {"e": entry, "f": finding, "links": links, "d": digest}
        body = self.templates.render("issue.github.md.j2", **context)
        return {
            "key": key,
            "action": action,
            "score": finding.score,
            "title": title(f"Flaky sample {finding.sample_name} on {finding.platform}"),
            "body": f"{ISSUE_MARKER.format(key=key, fingerprint=fingerprint)}\n{body}",
            "fingerprint": fingerprint,
            "comment": self.templates.render(COMMENTS[action], **context) if action in COMMENTS else "",
        }

    def _cluster(self, members: list[Entry], links: Links, digest: Digest) -> dict[str, Any]:
        """One issue for samples that fail together on one platform; ``members`` name its samples."""
        platform = members[0].finding.platform
        ids = sorted(e.finding.sample_id for e in members)
        key = f"cluster-{_slug(platform)}-{ids[0]}"
        counts = Counter(run_id for e in members for run_id in set(e.finding.failing_runs))
        together = sorted(run_id for run_id, n in counts.items() if n >= 2)
        fingerprint = hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:12]
        context: dict[str, Any] = {
            "members": members,
            "platform": platform,
            "together": together,
            "links": links,
            "d": digest,
        }
        body = self.templates.render("issue-cluster.github.md.j2", **context)
        marker = ISSUE_MARKER.format(key=key, fingerprint=fingerprint)
        names = ", ".join(e.finding.sample_name for e in members[:3]) + (", …" if len(members) > 3 else "")
        return {
            "key": key,
            "action": "open",
            "score": round(sum(e.finding.score for e in members), 2),
            "title": title(f"{len(members)} samples fail together on {platform}: {names}"),
            "body": marker.replace(" -->", f" members={','.join(map(str, ids))} -->") + "\n" + body,
            "fingerprint": fingerprint,
            "members": ids,
            "comment": self.templates.render("issue-cluster-reopened.github.md.j2", **context),
        }


def _clusters(flaky: list[Entry]) -> list[list[Entry]]:
    """Flaky entries grouped by the co-failing cluster the analysis put them in (two or more)."""
    groups: dict[tuple[str, int], list[Entry]] = defaultdict(list)
    for entry in flaky:
        cluster = getattr(entry.finding, "cluster", None)
        if cluster is not None:
            groups[(entry.finding.platform, cluster)].append(entry)
    return [members for _, members in sorted(groups.items()) if len(members) >= 2]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower())[:20] or "none"


def _fingerprint(entry: Entry) -> str:
    """What makes an issue worth updating: the classification, failures in bands, error types."""
    finding = entry.finding
    band = finding.failures.bit_length()  # 1, 2-3, 4-7, 8-15 ... failures
    parts = [str(finding.classification), str(band), *finding.error_types]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
