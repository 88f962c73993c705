"""The Jinja templates every format fills, each under its output's escaping policy; user's directory first.

Every value a template interpolates is escaped for its output by the environment, never by a
filter a template has to remember, and every string it is given first goes through
``reporter.shown`` (one printable line, bounded). The policy follows the template's name:

    *.html.j2               HTML: Jinja's autoescaping
    *.mrkdwn.j2, slack.*    Slack mrkdwn: &, < and > escaped (mentions and links from the platform
                            stay text); ``tojson`` escapes the strings it is given the same way
    *.github.md.j2          GitHub Markdown: every string an inline code span (``reporter.format.gfm``),
                            which stops mentions, references and autolinks too
    *.md.j2                 Markdown (CommonMark): HTML escaped, Markdown syntax backslash-escaped
    anything else           plain text: nothing to escape

Template text itself, macros and ``|safe`` are trusted: a value is only ever escaped once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup, escape

import reporter
from reporter.digest import Entry
from reporter.errors import RenderError
from reporter.format import gfm
from reporter.shown import Shown, full, shown

HTML, CHAT, MARKDOWN, TEXT, GITHUB = "html", "chat", "markdown", "text", "github"
T = TypeVar("T")
# Markdown syntax a value could open inline: code, emphasis, links, tables, strikethrough; an
# underscore only where it can (CommonMark never reads one between letters as emphasis)
_MARKDOWN_SYNTAX = re.compile(r"[\\`*\[\]|~]|(?<![^\W_])_+|_+(?![^\W_])")


def packaged_templates() -> Path:
    """Templates inside an installed wheel, or the top-level folder of a source checkout."""
    inside = Path(reporter.__file__).parent / "templates"
    return inside if inside.is_dir() else Path(reporter.__file__).parent.parent / "templates"


def policy(template: str) -> str:
    """How a template's values are escaped, from its name (see the module)."""
    name = template.rsplit("/", 1)[-1]
    if name.endswith((".html.j2", ".html")):
        return HTML
    if name.endswith(".mrkdwn.j2") or name.startswith("slack."):
        return CHAT
    if name.endswith(".github.md.j2"):
        return GITHUB
    if name.endswith(".md.j2"):
        return MARKDOWN
    return TEXT


def escape_mrkdwn(text: object) -> str:
    """Slack mrkdwn control characters: &, < and > (in that order), nothing else."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn_from_html(text: str) -> str:
    """HTML-escaped text as Slack mrkdwn wants it: Slack decodes only &amp;, &lt; and &gt;.

    Jinja's escaping also writes quotes as &#34; and &#39;; a literal ``&`` is always ``&amp;``
    after escaping, so these two can only come from an escaped quote.
    """
    return text.replace("&#34;", '"').replace("&#39;", "'")


def _markdown(value: Any) -> Markup:
    """One value for Markdown: syntax characters backslash-escaped, then HTML-escaped."""
    if isinstance(value, Markup):
        return value
    return escape(_MARKDOWN_SYNTAX.sub(lambda m: "".join(f"\\{c}" for c in m.group()), str(value)))


def _markdown_join(values: Iterable[Any], separator: str = "") -> Markup:
    return escape(separator).join(_markdown(value) for value in values)


def _chat_strings(value: Any) -> Any:
    """Strings inside ``value`` as mrkdwn: escaped, unless trusted (template text, macros)."""
    if isinstance(value, Markup):
        return mrkdwn_from_html(str(value))
    if isinstance(value, str):
        return escape_mrkdwn(value)
    if isinstance(value, dict):
        return {str(_chat_strings(k)): _chat_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_chat_strings(v) for v in value]
    return value


def _chat_json(value: Any) -> Markup:
    """``tojson`` for chat templates: a JSON value whose strings are escaped for mrkdwn."""
    return Markup(json.dumps(_chat_strings(value), ensure_ascii=False))  # noqa: S704 - escaped above


def _chat_trusted(value: Any) -> Markup:
    """``|mrkdwn`` in a chat template: escaped once, here, and not again."""
    return value if isinstance(value, Markup) else Markup(escape_mrkdwn(value))  # noqa: S704 - escaped


def _arrow(pair: tuple[int | None, int]) -> str:
    before, now = pair
    if before is None:
        return ""
    if now == before:
        return " (=)"
    return f" ({'▲' if now > before else '▼'} {now - before:+d})"


def _squares(history: str) -> str:
    return history.replace("x", "🟥").replace(".", "🟩")


def when(value: object, zone: str = "UTC", fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A moment (a datetime or ISO text) in ``zone``; a date as it is; ``?`` when unknown."""
    if value is None or value == "":
        return "?"
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime(fmt)
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(str(zone))).strftime(fmt)


@dataclass(frozen=True, slots=True)
class SampleRow:
    """One sample of a digest section with its platforms' entries, for one row per sample."""

    sample_id: int
    sample_name: str
    entries: tuple[Entry, ...]

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(e.finding.platform for e in self.entries)


def by_sample(entries: Sequence[Entry]) -> list[SampleRow]:
    """Entries grouped by sample, in the order of each sample's first (highest ranked) entry."""
    groups: dict[int, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.finding.sample_id, []).append(entry)
    return [SampleRow(sid, group[0].finding.sample_name, tuple(group)) for sid, group in groups.items()]


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


FILTERS: dict[str, Callable[..., Any]] = {
    "noise_line": noise_line,
    "cluster_line": cluster_line,
    "arrow": _arrow,
    "squares": _squares,
    "short": lambda sha: str(sha)[:7],
    "when": when,
    "by_sample": by_sample,
    "full": full,
    "mrkdwn": escape_mrkdwn,
}
POLICY_FILTERS: dict[str, dict[str, Callable[..., Any]]] = {
    CHAT: {"tojson": _chat_json, "mrkdwn": _chat_trusted},
    MARKDOWN: {"join": _markdown_join},
    GITHUB: {"sha": gfm.sha, "squares": lambda history: Markup(_squares(str(history)))},  # noqa: S704
}


_ENVIRONMENTS: dict[tuple[tuple[str, ...], str], jinja2.Environment] = {}


class Templates:
    """Loads templates from the user's directory first, then the shipped ones, each under its policy."""

    def __init__(self, directory: Path | None = None) -> None:
        search = [str(directory)] if directory else []
        search.append(str(packaged_templates()))
        self.loader = jinja2.FileSystemLoader(search)
        self._shown: dict[int, tuple[Any, Any]] = {}  # id -> (value, shown value), last used last

    def shown(self, value: Any) -> Any:
        """``shown(value)``, remembered for the last few values: the formats of one report share it."""
        kept = self._shown.pop(id(value), None)
        if kept is None or kept[0] is not value:
            kept = (value, shown(value))
            self._remember((kept[1], kept[1]))  # what was shown shows as it is
        self._remember(kept)  # the most recently used last
        return kept[1]

    def already_shown(self, value: T) -> T:
        """Take ``value`` as shown: made only of parts of shown values (a digest cut shorter)."""
        self._remember((value, value))
        return value

    def _remember(self, kept: tuple[Any, Any]) -> None:
        self._shown[id(kept[0])] = kept
        while len(self._shown) > 8:
            del self._shown[next(iter(self._shown))]  # the least recently used

    def environment(self, kind: str) -> jinja2.Environment:
        """The Jinja environment of one escaping policy, made once per process and template folders.

        Sharing it keeps each template compiled once in a long-running process (the scheduler);
        a template edited on disk is read again (Jinja checks its modification time).
        """
        key = (tuple(self.loader.searchpath), kind)
        if key not in _ENVIRONMENTS:
            env = jinja2.Environment(
                loader=self.loader,
                autoescape=kind != TEXT,  # noqa: S701 - plain text has nothing to escape
                finalize={MARKDOWN: _markdown, GITHUB: gfm.finalize}.get(kind),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=True,
            )
            env.filters.update(FILTERS)
            env.tests["cut"] = lambda value: isinstance(value, Shown)
            env.filters.update(POLICY_FILTERS.get(kind, {}))
            _ENVIRONMENTS[key] = env
        return _ENVIRONMENTS[key]

    def render(self, template: str, *, finish: bool = True, **context: Any) -> str:
        """Fill one template; a missing or broken template is a RenderError naming file and line.

        Every context value goes through ``shown`` first. ``finish=False`` leaves a chat
        template's text HTML-escaped, for a caller that parses it before ``mrkdwn_from_html``.
        """
        kind = policy(template)
        try:
            filled = {name: self.shown(value) for name, value in context.items()}
            text = self.environment(kind).get_template(template).render(**filled)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(
                f"template {exc.name!r} not found in {self.loader.searchpath}; check templates.directory"
            ) from exc
        except jinja2.TemplateError as exc:
            where = f"{getattr(exc, 'filename', None) or template}:{getattr(exc, 'lineno', '?')}"
            raise RenderError(f"{where}: template error: {exc}") from exc
        return mrkdwn_from_html(text) if finish and kind in (CHAT, MARKDOWN) else text
