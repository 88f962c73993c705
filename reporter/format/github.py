"""GitHub-flavoured Markdown: the pull-request triage comment, the triage for the CLI, and the issue plan.

Every string that comes from the platform (sample names, error types, commits, causes) is put in an
inline code span: inside one, GitHub renders no Markdown, no HTML, no link, no autolink and no
``@mention`` or ``#reference``. Line breaks and other control or invisible characters become spaces,
a name is cut at ``NAME_LIMIT`` characters, the fence outgrows any backticks in the text, and in a
table cell ``|`` is escaped. A hidden marker on the first line lets the channel find its comment and
issues again; nothing from the platform is ever written on that line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from typing import Any

from reporter.digest import Digest, Entry
from reporter.format.templates import Links, Templates
from reporter.triage import Triage, Verdict

NAME_LIMIT = 120
BODY_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters
ROWS = 40  # table rows of a comment before the rest is summed up
COMMENT_MARKER = "<!-- reporter:pr-triage pr={pr} version={version} -->"
ISSUE_MARKER = "<!-- reporter:issue key={key} fingerprint={fingerprint} -->"
LABELS = {
    Verdict.NEW_FAILURE: "🆕 **new**",
    Verdict.UNKNOWN: "❔ unknown",
    Verdict.FAILING_ON_MASTER: "🟥 failing on master",
    Verdict.KNOWN_FLAKY: "🎲 known flaky",
    Verdict.INFRASTRUCTURE: "🛠️ infrastructure",
}
CAUSES = {
    "run": "the whole run broke",
    "tail": "every test from one point on failed",
    "category": "a whole category failed",
    "signature": "many samples failed the same way",
}
COMMENTS = {"open": "issue-reopened.github.md.j2", "close": "issue-closed.github.md.j2"}
_SHA = re.compile(r"[0-9a-f]{7,40}")


def code(text: object, table: bool = False, limit: int = NAME_LIMIT) -> str:
    """``text`` as an inline code span that GitHub shows literally (see the module's docstring)."""
    value = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    if not value:
        return "(empty)"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value[0] == "`" or value[-1] == "`" else ""
    if table:
        value = value.replace("|", "\\|")
    return f"{fence}{pad}{value}{pad}{fence}"


def cell(text: object) -> str:
    """``code`` for a table cell."""
    return code(text, table=True)


def sha(text: object) -> str:
    """A commit as GitHub shows it: seven hex digits, or anything else as code."""
    value = str(text)
    return value[:7] if _SHA.fullmatch(value) else code(value, limit=40)


def title(text: str, limit: int = 200) -> str:
    """One line for an issue title: control and invisible characters dropped, length capped."""
    value = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


class GithubFormat:
    name = "github"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates
        templates.env.filters.update(gh=code, ghcell=cell, sha=sha)
        templates.env.globals.update(LABELS=LABELS, CAUSES=CAUSES)

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
        links = Links(digest.web_url)
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
        links = Links(triage.web_url)
        rows, details = ROWS, True
        while True:
            body = self.templates.render(
                "triage.github.md.j2",
                t=triage,
                links=links,
                pr_number=pr_number,
                marker=marker,
                rows=rows,
                details=details,
            )
            if len(body) <= BODY_LIMIT or rows == 0:
                return body
            rows, details = (rows, False) if details else (rows // 2, False)

    def _subject(self, entry: Entry, action: str, links: Links, digest: Digest) -> dict[str, Any]:
        finding = entry.finding
        key = f"flaky-{finding.sample_id}-{_slug(finding.platform)}"
        fingerprint = _fingerprint(entry)
        context = {"e": entry, "f": finding, "links": links, "d": digest}
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
        context = {
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
