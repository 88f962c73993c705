"""Configure logging once for the CLI: text or JSON lines, noisy libraries and secrets kept quiet."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from reporter.shown import printable

QUIET = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "slack_sdk": logging.INFO,
    "apscheduler": logging.WARNING,
    "urllib3": logging.WARNING,
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        body = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body)


class TextFormatter(logging.Formatter):
    """Text lines with no terminal escape sequence or control character from what they quote."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


# Loggers whose INFO lines show even without -v: a long wait is never silent.
ALWAYS_SAID = ("reporter.ratelimit",)


def configure_logging(verbosity: int = 0, fmt: str = "text") -> None:
    """Root logger to stderr; httpx request lines and slack-sdk's debug (webhook URLs) silenced."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(max(floor, level))
    for name in ALWAYS_SAID:
        logging.getLogger(name).setLevel(min(logging.INFO, level))
