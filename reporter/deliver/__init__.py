"""Delivery channels and the outbox that posts each digest once.

A channel names the format of its payloads (``format``, and ``alert_format`` if it
carries alerts); the payload is made by ``reporter.format`` and stored in the outbox
under the key ``channel:period`` before anything is sent; ``send`` delivers a stored
payload as it is. A failed send stays pending and is retried by the next cycle; a
digest already in the outbox is never rendered or queued again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from reporter.config import Settings
from reporter.errors import DeliveryError
from reporter.store import Store

logger = logging.getLogger(__name__)


class Channel(Protocol):
    """Where a digest goes, and in which format (a key of ``reporter.format.DIGEST_FORMATS``)."""

    @property
    def name(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def alert_format(self) -> str | None:
        """The format of alerts on this channel (``reporter.format.ALERT_FORMATS``); None: no alerts."""
        ...

    def send(self, payload: str, key: str) -> None:
        """Deliver one stored payload; raise DeliveryError on failure."""
        ...


@dataclass(frozen=True)
class DeliveryReport:
    sent: tuple[str, ...]
    failed: tuple[str, ...]


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the configuration enables, in a fixed order."""
    from reporter.deliver.email import EmailChannel
    from reporter.deliver.file import FileChannel
    from reporter.deliver.slack import SlackChannel
    from reporter.deliver.stdout import StdoutChannel

    found: list[Channel] = []
    config = settings.channels
    if config.stdout is not None:
        found.append(StdoutChannel(config.stdout.format))
    if config.file is not None:
        found.append(FileChannel(config.file.path, config.file.format))
    if config.slack is not None:
        found.append(SlackChannel(config.slack))
    if config.email is not None:
        found.append(EmailChannel(config.email))
    return found


def deliver_pending(
    store: Store, channels: Sequence[Channel], max_attempts: int = 10, now: datetime | None = None
) -> DeliveryReport:
    """Send every due outbox item whose channel is configured; a failure waits longer each time."""
    now = now or datetime.now(UTC)
    by_name = {channel.name: channel for channel in channels}
    sent, failed = [], []
    for item in store.outbox.items(due=now):
        channel = by_name.get(item.channel)
        if channel is None:
            logger.warning(
                "outbox item %s waits for channel %r, which is not configured", item.key, item.channel
            )
            continue
        try:
            channel.send(item.payload, item.key)
        except DeliveryError as exc:
            final = not exc.retryable or item.attempts + 1 >= max_attempts
            store.outbox.mark_failed(
                item.key, str(exc), final=final, retry_at=now + backoff(item.attempts + 1)
            )
            logger.error("delivery %s failed%s: %s", item.key, "" if final else " (will retry)", exc)
            failed.append(f"{item.key}: {exc}")
            continue
        store.outbox.mark_sent(item.key)
        sent.append(item.key)
    return DeliveryReport(tuple(sent), tuple(failed))


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4 ... minutes, at most six hours."""
    return min(timedelta(minutes=2 ** (attempts - 1)), timedelta(hours=6))
