"""Print a stored payload to standard output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from reporter.deliver import Delivered


class StdoutChannel:
    name = "stdout"
    alert_format = "text"

    def __init__(self, fmt: str = "text", stream: TextIO | None = None) -> None:
        self.format = fmt
        self.stream = stream

    def send(self, payload: str, key: str, delivered: Delivered | None = None) -> None:
        stream = self.stream or sys.stdout
        stream.write(payload)
        stream.flush()
