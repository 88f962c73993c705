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
    json       findings, a triage      docs/json-schema.md               -
    table      findings                a terminal table                  -
    github     a triage, a PR comment, GitHub Markdown (the comment and   triage.github.md.j2,
               a digest's issue plan   the issue plan as JSON payloads)  issue*.github.md.j2
    (text also turns a triage into plain text with triage.txt.j2)

A new format is one module with a class implementing the protocol below for what it turns (a new
kind of report, such as a pull request's triage, adds its protocol and registry here), usually one
template in ``templates/``, and one line in a registry. What a template shows is escaped for its
output by its environment (``reporter.format.templates``) and bounded (``reporter.shown``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, TypeVar

from reporter.alerts import Alert
from reporter.digest import Digest, FindingsReport
from reporter.errors import RenderError
from reporter.format.email import EmailFormat
from reporter.format.github import GithubFormat
from reporter.format.html import HtmlFormat
from reporter.format.json import JsonFormat
from reporter.format.markdown import MarkdownFormat
from reporter.format.mrkdwn import MrkdwnFormat
from reporter.format.slack import SlackFormat
from reporter.format.table import TableFormat
from reporter.format.templates import Templates
from reporter.format.text import TextFormat
from reporter.triage_report import Triage

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


class TriageFormat(Protocol):
    """Turns the verdicts for pull-request runs into a payload."""

    def triage(self, triage: Triage) -> str: ...


DIGEST_FORMATS: Mapping[str, Callable[[Templates], DigestFormat]] = {
    "text": TextFormat,
    "markdown": MarkdownFormat,
    "mrkdwn": MrkdwnFormat,
    "html": HtmlFormat,
    "slack": SlackFormat,
    "email": EmailFormat,
}
# What a channel can be sent of a digest: the pages above, and the GitHub issue plan (for no reader)
CHANNEL_DIGEST_FORMATS: Mapping[str, Callable[[Templates], DigestFormat]] = {
    **DIGEST_FORMATS,
    "github": GithubFormat,
}
ALERT_FORMATS: Mapping[str, Callable[[Templates], AlertFormat]] = {
    "text": TextFormat,
    "markdown": MarkdownFormat,
    "mrkdwn": MrkdwnFormat,
    "slack": SlackFormat,
    "email": EmailFormat,
}
FINDINGS_FORMATS: Mapping[str, Callable[[], FindingsFormat]] = {"table": TableFormat, "json": JsonFormat}
TRIAGE_FORMATS: Mapping[str, Callable[[Templates], TriageFormat]] = {
    "text": TextFormat,
    "markdown": GithubFormat,
    "json": lambda _templates: JsonFormat(),
}


def digest_format(name: str, templates: Templates) -> DigestFormat:
    return _pick(CHANNEL_DIGEST_FORMATS, name, "digest")(templates)


def alert_format(name: str, templates: Templates) -> AlertFormat:
    return _pick(ALERT_FORMATS, name, "alert")(templates)


def triage_format(name: str, templates: Templates) -> TriageFormat:
    return _pick(TRIAGE_FORMATS, name, "triage")(templates)


def _pick(registry: Mapping[str, T], name: str, what: str) -> T:
    if name not in registry:
        raise RenderError(f"unknown {what} format {name!r}; use one of {', '.join(registry)}")
    return registry[name]


__all__ = [
    "ALERT_FORMATS",
    "CHANNEL_DIGEST_FORMATS",
    "DIGEST_FORMATS",
    "FINDINGS_FORMATS",
    "TRIAGE_FORMATS",
    "AlertFormat",
    "DigestFormat",
    "FindingsFormat",
    "Templates",
    "TriageFormat",
    "alert_format",
    "digest_format",
    "triage_format",
]
