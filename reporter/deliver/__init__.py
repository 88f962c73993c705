"""Delivery channels and the outbox that posts each digest once.

A channel names the format of its payloads (``format``, and ``alert_format`` if it
carries alerts); the payload is made by ``reporter.format`` and stored in the outbox
under the key ``channel:period`` before anything is sent; ``send`` delivers a stored
payload as it is, recording in ``delivered`` each part the moment it is delivered. A
failed send stays pending and is retried by the next cycle from where it stopped; a
digest already in the outbox is never rendered or queued again. Each item's failure is
its own: whatever one channel raises is recorded against that item, and the next item
is sent all the same.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from reporter.config import Settings
from reporter.errors import DeliveryError, StoreError
from reporter.store import Store

logger = logging.getLogger(__name__)


class Delivered:
    """The parts of one outbox item already delivered (a part's name, and what the channel kept of it).

    ``record`` saves a part at once (in the outbox, when the item comes from there), before
    anything else is sent, so a crash or failure later never sends that part again.
    """

    def __init__(
        self, done: Mapping[str, str] | None = None, save: Callable[[str, str], None] | None = None
    ) -> None:
        self._done = dict(done or {})
        self._save = save

    def get(self, part: str) -> str | None:
        return self._done.get(part)

    def record(self, part: str, value: str) -> None:
        if self._save is not None:
            self._save(part, value)
        self._done[part] = value


class Channel(Protocol):
    """Where a digest goes, and in which format (a key of ``reporter.format.DIGEST_FORMATS``)."""

    @property
    def name(self) -> str: ...

    @property
    def format(self) -> str | None:
        """The format of digests on this channel; None: it carries no digests (GitHub comments only)."""
        ...

    @property
    def alert_format(self) -> str | None:
        """The format of alerts on this channel (``reporter.format.ALERT_FORMATS``); None: no alerts."""
        ...

    def send(self, payload: str, key: str, delivered: Delivered | None = None) -> None:
        """Deliver one stored payload, skipping the parts ``delivered`` has; raise DeliveryError."""
        ...


@dataclass(frozen=True)
class DeliveryReport:
    sent: tuple[str, ...]
    failed: tuple[str, ...]


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the configuration enables, in a fixed order."""
    from reporter.deliver.email import EmailChannel
    from reporter.deliver.file import FileChannel
    from reporter.deliver.github import GithubChannel
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
    if config.github is not None and (config.github.pr_comments or config.github.issues):
        found.append(GithubChannel(config.github))
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
        error = _send(store, channel, item.key, item.payload)
        if error is None:
            store.outbox.mark_sent(item.key)
            sent.append(item.key)
            continue
        final = not error.retryable or item.attempts + 1 >= max_attempts
        store.outbox.mark_failed(item.key, str(error), final=final, retry_at=now + backoff(item.attempts + 1))
        logger.error("delivery %s failed%s: %s", item.key, "" if final else " (will retry)", error)
        failed.append(f"{item.key}: {error}")
    return DeliveryReport(tuple(sent), tuple(failed))


def _send(store: Store, channel: Channel, key: str, payload: str) -> DeliveryError | None:
    """Send one item; whatever the channel raises becomes this item's error, never the next one's.

    An unexpected exception (a bug) is named by its type and where it was raised, never by its
    text, which could hold a secret (a password's characters, a webhook URL).
    """
    delivered = Delivered(
        store.outbox.parts(key), lambda part, kept: store.outbox.record_part(key, part, kept)
    )
    try:
        channel.send(payload, key, delivered)
    except DeliveryError as exc:
        return exc
    except StoreError:
        raise  # the state itself failed: nothing can be recorded, every command stops
    except Exception as exc:  # one channel's bug must not stop the others
        return DeliveryError(
            f"{channel.name}: unexpected {type(exc).__name__} at {_origin(exc)}; this is a bug in "
            "reporter: please report it with this message (the delivery is retried)",
            channel=channel.name,
        )
    return None


def _origin(exc: BaseException) -> str:
    """Where ``exc`` was raised: file name, line and function of the innermost frame."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "an unknown place"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno} ({last.name})"


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4 ... minutes, at most six hours."""
    return min(timedelta(minutes=2 ** (attempts - 1)), timedelta(hours=6))
