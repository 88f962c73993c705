"""Logging set-up: what shows at the default verbosity."""

from __future__ import annotations

import logging

import pytest

from reporter.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    limiter = logging.getLogger("reporter.ratelimit")
    before = limiter.level
    yield None
    root.handlers[:], root.level = handlers, level
    limiter.setLevel(before)


def test_a_long_rate_limit_wait_shows_without_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0)
    logging.getLogger("reporter.ratelimit").info("rate limit: holding requests back 42 s: window spent")
    logging.getLogger("reporter.ingest").info("an ordinary progress line")
    err = capsys.readouterr().err
    assert "holding requests back 42 s" in err
    assert "ordinary progress line" not in err


def test_debug_verbosity_is_not_lowered_by_the_always_said_loggers() -> None:
    configure_logging(2)
    assert logging.getLogger("reporter.ratelimit").isEnabledFor(logging.DEBUG)
