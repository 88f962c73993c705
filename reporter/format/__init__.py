"""Formatting, its own stage: one module per output format, each turning what is reported into a payload.

A payload is the string the outbox stores and a channel sends as it is (a page of text, Markdown or
HTML; JSON for Slack and email). Formats are pure: no I/O besides reading templates.

    format     turns                   into                              templates
    text       a digest, an alert      plain text, lines <= 100 columns  digest.txt.j2, alert.txt.j2
    markdown   a digest, an alert      Markdown (CommonMark, GitHub)     digest.md.j2, alert.md.j2
    mrkdwn     a digest, an alert      Slack mrkdwn                      digest.mrkdwn.j2, alert.mrkdwn.j2
    html       a digest                a standalone page                 digest.html.j2
    slack      a digest, an alert      a Block Kit message and thread    slack.text.j2, slack.blocks.j2
    email      a digest, an alert      subject, text and HTML            (the text and html formats)
    json       findings                docs/json-schema.md               -
    table      findings                a terminal table                  -

A new format is one module with a class implementing the protocol below for what it turns (a new
kind of report, such as a pull request's triage, adds its protocol and registry here), usually one
template in ``templates/``, and one line in a registry. What a template shows is escaped for its
output by its environment (``reporter.format.templates``) and bounded (``reporter.format.shown``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from reporter.alerts import Alert
from reporter.digest import Digest, FindingsReport
from reporter.errors import RenderError
from reporter.format.email import EmailFormat
from reporter.format.html import HtmlFormat
from reporter.format.json import JsonFormat
from reporter.format.markdown import MarkdownFormat
from reporter.format.mrkdwn import MrkdwnFormat
from reporter.format.slack import SlackFormat
from reporter.format.table import TableFormat
from reporter.format.templates import Templates
from reporter.format.text import TextFormat

T = TypeVar("T")


class DigestFormat(Protocol):
    """Turns a digest into a payload."""

    def digest(self, digest: Digest) -> str: ...


class AlertFormat(Protocol):
    """Turns a run alert into a payload; ``web_url`` is where the platform's pages are."""

    def alert(self, alert: Alert, web_url: str) -> str: ...


class FindingsFormat(Protocol):
    """Turns the current findings into a payload."""

    def findings(self, report: FindingsReport) -> str: ...


DIGEST_FORMATS: Mapping[str, Callable[[Templates], DigestFormat]] = {
    "text": TextFormat,
    "markdown": MarkdownFormat,
    "mrkdwn": MrkdwnFormat,
    "html": HtmlFormat,
    "slack": SlackFormat,
    "email": EmailFormat,
}
ALERT_FORMATS: Mapping[str, Callable[[Templates], AlertFormat]] = {
    "text": TextFormat,
    "markdown": MarkdownFormat,
    "mrkdwn": MrkdwnFormat,
    "slack": SlackFormat,
    "email": EmailFormat,
}
FINDINGS_FORMATS: Mapping[str, Callable[[], FindingsFormat]] = {"table": TableFormat, "json": JsonFormat}


def digest_format(name: str, templates: Templates) -> DigestFormat:
    return _pick(DIGEST_FORMATS, name, "digest")(templates)


def alert_format(name: str, templates: Templates) -> AlertFormat:
    return _pick(ALERT_FORMATS, name, "alert")(templates)


def _pick(registry: Mapping[str, T], name: str, what: str) -> T:
    if name not in registry:
        raise RenderError(f"unknown {what} format {name!r}; use one of {', '.join(registry)}")
    return registry[name]


__all__ = [
    "ALERT_FORMATS",
    "DIGEST_FORMATS",
    "FINDINGS_FORMATS",
    "AlertFormat",
    "DigestFormat",
    "FindingsFormat",
    "Templates",
    "alert_format",
    "digest_format",
]
