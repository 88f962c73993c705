"""Render digests and findings to text, Markdown, HTML and JSON with Jinja templates; pure."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from rich.table import Table
from rich.text import Text

import reporter
from reporter.alerts import Alert
from reporter.analysis import Finding
from reporter.digest import Digest
from reporter.errors import RenderError
from reporter.grid import TrendPoint

SCHEMA_VERSION = 1
FORMATS = {"text": "digest.txt.j2", "markdown": "digest.md.j2", "html": "digest.html.j2"}


def packaged_templates() -> Path:
    """Templates inside an installed wheel, or the top-level folder of a source checkout."""
    inside = Path(reporter.__file__).parent / "templates"
    return inside if inside.is_dir() else Path(reporter.__file__).parent.parent / "templates"


def escape_mrkdwn(text: object) -> str:
    """Slack mrkdwn control characters: &, < and > (in that order), nothing else."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _arrow(pair: tuple[int | None, int]) -> str:
    before, now = pair
    if before is None:
        return ""
    if now == before:
        return " (=)"
    return f" ({'▲' if now > before else '▼'} {now - before:+d})"


def _squares(history: str) -> str:
    return history.replace("x", "🟥").replace(".", "🟩")


class Renderer:
    """Loads templates from the user's directory first, then the shipped ones."""

    def __init__(self, directory: Path | None = None) -> None:
        search = [str(directory)] if directory else []
        search.append(str(packaged_templates()))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters.update(
            recovered_line=lambda f: f"{escape_mrkdwn(f.sample_name)} `{f.platform}`",
            breakage_line=lambda b: f"PR #{b.pr_number} breaks {escape_mrkdwn(b.sample_name)}",
            mrkdwn=escape_mrkdwn,
            arrow=_arrow,
            squares=_squares,
            short=lambda sha: str(sha)[:7],
        )

    def render(self, template: str, **context: Any) -> str:
        try:
            return self.env.get_template(template).render(**context)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(
                f"template {exc.name!r} not found in {self.env.loader.searchpath}; "  # type: ignore[union-attr]
                "check templates.directory"
            ) from exc
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'filename', None) or template}:{getattr(exc, 'lineno', '?')}"
            raise RenderError(f"{where}: template error: {exc}") from exc

    def digest(self, digest: Digest, fmt: str, *, email: bool = False) -> str:
        """``email`` makes the HTML mail-safe: no SVG, the trend as a table."""
        if fmt not in FORMATS:
            raise RenderError(f"unknown digest format {fmt!r}; use one of {', '.join(FORMATS)}")
        return self.render(
            FORMATS[fmt], d=digest, links=Links(digest.web_url), email=email, chart=Chart(digest.trend_points)
        )

    def slack(self, digest: Digest) -> tuple[str, list[dict[str, Any]]]:
        """The notification text and the Block Kit blocks (one JSON object per template line)."""
        links = Links(digest.web_url)
        text = self.render("slack.text.j2", d=digest, links=links).strip()
        lines = self.render("slack.blocks.j2", d=digest, links=links).splitlines()
        blocks = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                block = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RenderError(
                    f"slack.blocks.j2: rendered line {number} is not one JSON block: {exc}"
                ) from exc
            blocks.append(block)
        return text, blocks

    def alert(self, alert: Alert, web_url: str, fmt: str) -> str:
        template = {"text": "alert.txt.j2", "markdown": "alert.md.j2"}[fmt]
        return self.render(template, a=alert, links=Links(web_url))


class Chart:
    """Coordinates of the trend chart's lines, for an inline SVG."""

    width, height, pad = 600, 140, 24

    def __init__(self, points: tuple[TrendPoint, ...]) -> None:
        self.points = points
        self.top = max([1, *(max(p.flaky, p.failing) for p in points)])

    def line(self, field: str) -> str:
        if not self.points:
            return ""
        step = (self.width - 2 * self.pad) / max(len(self.points) - 1, 1)
        scale = (self.height - 2 * self.pad) / self.top
        return " ".join(
            f"{self.pad + i * step:.1f},{self.height - self.pad - getattr(p, field) * scale:.1f}"
            for i, p in enumerate(self.points)
        )


class Links:
    """Addresses of platform pages, for templates."""

    def __init__(self, web_url: str) -> None:
        self.web_url = web_url.rstrip("/")

    def sample(self, sample_id: int) -> str:
        return f"{self.web_url}/sample/{sample_id}"

    def run(self, run_id: int) -> str:
        return f"{self.web_url}/test/{run_id}"


def finding_dict(finding: Finding, links: Links) -> dict[str, Any]:
    """One finding in the stable JSON schema (docs/json-schema.md)."""

    def ref(r: Any) -> dict[str, Any] | None:
        if r is None:
            return None
        return {
            "run_id": r.run_id,
            "commit_sha": r.commit_sha,
            "completed_at": r.completed_at,
            "url": links.run(r.run_id),
        }

    return {
        "sample_id": finding.sample_id,
        "sample_name": finding.sample_name,
        "platform": finding.platform,
        "classification": finding.classification,
        "score": finding.score,
        "confidence": finding.confidence,
        "runs": finding.runs,
        "failures": finding.failures,
        "flips": finding.flips,
        "same_commit_disagreements": finding.same_commit_disagreements,
        "first_failure": ref(finding.first_failure),
        "last_failure": ref(finding.last_failure),
        "error_types": list(finding.error_types),
        "regression_ids": list(finding.regression_ids),
        "history": finding.history,
        "regression_tests": [
            {
                "regression_id": t.regression_id,
                "classification": t.classification,
                "failures": t.failures,
                "runs": t.runs,
                "history": t.history,
            }
            for t in finding.regression_tests
        ],
        "evidence": {"failing_runs": list(finding.failing_runs)},
        "links": {"sample": links.sample(finding.sample_id)},
    }


def findings_json(
    findings: Iterable[Finding], *, generated_at: datetime, window_days: int, web_url: str
) -> str:
    links = Links(web_url)
    body = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": generated_at.isoformat(),
        "window_days": window_days,
        "findings": [finding_dict(f, links) for f in findings],
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def findings_table(findings: Iterable[Finding]) -> Table:
    table = Table(title="Findings", show_lines=False)
    for column in ("sample", "platform", "class", "score", "fail/runs", "same-commit", "history"):
        table.add_column(column, overflow="fold")
    for f in findings:
        cells = (
            f"{f.sample_name} ({f.sample_id})",
            f.platform,
            f.classification,
            f"{f.score:g}",
            f"{f.failures}/{f.runs}",
            str(f.same_commit_disagreements),
            f.history[-20:],
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: names are data, never markup
    return table
