"""Print a stored payload to standard output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from reporter.deliver import Progress


class StdoutChannel:
    name = "stdout"
    alert_format = "text"

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.format = fmt
        self.stream = stream

    def send(self, payload: str, key: str, progress: Progress | None = None) -> None:
        stream = self.stream or sys.stdout
        stream.write(payload)
        stream.flush()
