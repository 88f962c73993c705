"""Print the digest to standard output."""

from __future__ import annotations

import sys
from typing import TextIO

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.render import Renderer


class StdoutChannel:
    name = "stdout"

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.format = fmt
        self.stream = stream

    def prepare(self, digest: Digest, renderer: Renderer) -> str:
        return renderer.digest(digest, self.format)

    def prepare_alert(self, alert: Alert, renderer: Renderer, web_url: str) -> str:
        return renderer.alert(alert, web_url, "text")

    def send(self, payload: str, key: str) -> None:
        stream = self.stream or sys.stdout
        stream.write(payload)
        stream.flush()
