"""Markdown (CommonMark, as GitHub renders it): the digest and alerts for a file, a wiki or a PR."""

from __future__ import annotations

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.format.templates import Links, Templates


class MarkdownFormat:
    name = "markdown"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def digest(self, digest: Digest) -> str:
        return self.templates.render("digest.md.j2", d=digest, links=Links(digest.web_url))

    def alert(self, alert: Alert, web_url: str) -> str:
        return self.templates.render("alert.md.j2", a=alert, links=Links(web_url))
