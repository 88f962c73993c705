"""Slack mrkdwn: the digest and alerts as Slack formats text (``<url|label>`` links, ``*bold*``); escaped."""

from __future__ import annotations

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.format.templates import Links, Templates


class MrkdwnFormat:
    """For a chat that reads Slack's own markup (Slack itself gets Block Kit from ``slack``)."""

    name = "mrkdwn"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def digest(self, digest: Digest) -> str:
        return self.templates.render("digest.mrkdwn.j2", d=digest, links=Links(digest.web_url))

    def alert(self, alert: Alert, web_url: str) -> str:
        return self.templates.render("alert.mrkdwn.j2", a=alert, links=Links(web_url))
