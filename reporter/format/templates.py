"""The Jinja templates every format fills: the user's directory first, then the shipped ones."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import jinja2

import reporter
from reporter.errors import RenderError


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


class HasRunId(Protocol):
    @property
    def run_id(self) -> int: ...


class Links:
    """Addresses of platform pages, for templates."""

    def __init__(self, web_url: str) -> None:
        self.web_url = web_url.rstrip("/")

    def sample(self, sample_id: int) -> str:
        return f"{self.web_url}/sample/{sample_id}"

    def run(self, run_id: int) -> str:
        return f"{self.web_url}/test/{run_id}"

    def runs(self, columns: Iterable[HasRunId]) -> list[str]:
        """The run page of each grid column, in order (a grid has thousands of cells, few columns)."""
        return [self.run(column.run_id) for column in columns]


class Templates:
    """Loads templates from the user's directory first, then the shipped ones; HTML is autoescaped."""

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
            noise_line=noise_line,
            cluster_line=cluster_line,
        )

    def render(self, template: str, **context: Any) -> str:
        """Fill one template; a missing or broken template is a RenderError naming file and line."""
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


def noise_line(event: Any) -> str:
    """One shared cause set aside, in plain words (escape it for the output, it holds a category name)."""
    where = f"run {event.run_id}" + (f" (attempt {event.attempt})" if event.attempt > 1 else "")
    count = len(event.sample_ids)
    if event.cause == "run":
        return f"{where}: {event.signature}, the whole run set aside"
    if event.cause == "tail":
        tail = f"every test from #{event.first_test} on failed ({event.signature})"
        return f"{where}: {tail}, {count} samples set aside"
    if event.cause == "category":
        return f"{where}: every tested sample of {event.signature} failed, {count} set aside"
    return f"{where}: {count} samples failed the same way ({event.signature}), set aside"


def cluster_line(cluster: Any) -> str:
    """One co-failing cluster in plain words (escape it for the output, it holds sample names)."""
    names = ", ".join(
        f"{name} (#{s})" for s, name in zip(cluster.sample_ids, cluster.sample_names, strict=True)
    )
    line = f"cluster {cluster.cluster_id} [{cluster.platform}]: {names}"
    line += f" fail together in {len(cluster.run_ids)} runs"
    if cluster.error_types:
        line += f", {', '.join(cluster.error_types)}"
    if cluster.categories:
        line += f"; categories {', '.join(cluster.categories)}"
    return line
