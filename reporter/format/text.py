"""Plain text: the digest for a terminal, a file or the email's text part, and alerts."""

from __future__ import annotations

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.format.templates import Links, Templates


class TextFormat:
    name = "text"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def digest(self, digest: Digest) -> str:
        return self.templates.render("digest.txt.j2", d=digest, links=Links(digest.web_url))

    def alert(self, alert: Alert, web_url: str) -> str:
        return self.templates.render("alert.txt.j2", a=alert, links=Links(web_url))
