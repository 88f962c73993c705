"""Post a stored Slack payload with slack-sdk: a bot token and channel, or an incoming webhook.

The payload (``reporter.format.slack``) is a message and the replies that continue it in its
thread. With a bot token every post carries message metadata holding the outbox key
(``slack:<period>``, and ``#n`` for the n-th thread reply); before posting, the channel's recent
history and the thread are searched for those keys, so a crash between Slack accepting a post and
the outbox recording it does not post twice. Webhooks can neither read history nor thread: their
replies follow as separate messages, and a crash in that window can repeat a post.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from reporter.config import SlackChannel as SlackSettings
from reporter.errors import DeliveryError
from reporter.format.slack import SlackMessage

logger = logging.getLogger(__name__)
# slack-sdk logs full request URLs (a webhook URL is a secret) at DEBUG: its clients get a logger
# that never goes below INFO, whatever the root level is.
sdk_logger = logging.getLogger(f"{__name__}.sdk")
sdk_logger.setLevel(logging.INFO)
EVENT_TYPE = "reporter_digest"
HINTS = {
    "invalid_auth": "the Slack bot token is invalid; set channels.slack.token",
    "not_authed": "no Slack bot token was sent; set channels.slack.token",
    "account_inactive": "the Slack bot token belongs to a deactivated app or user",
    "token_revoked": "the Slack bot token was revoked; create a new one",
    "channel_not_found": "the Slack channel does not exist or is private; check channels.slack.channel",
    "not_in_channel": "the bot is not a member of the channel; invite it with /invite @app",
    "missing_scope": "the bot token lacks a scope (chat:write, and channels:history to avoid duplicates)",
    "msg_blocks_too_long": "the message is too long for Slack",
    "invalid_blocks": "Slack refused the message layout; check a customised slack.blocks.j2",
}
Blocks = list[dict[str, Any]]


class SlackChannel:
    name = "slack"
    format = "slack"
    alert_format = "slack"

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        handlers = [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        if settings.webhook_url is not None:
            url = settings.webhook_url.get_secret_value()
            self._hook = WebhookClient(url, retry_handlers=handlers, logger=sdk_logger)
        else:
            token = settings.token.get_secret_value() if settings.token else None
            self._web = WebClient(
                token=token, base_url=settings.api_url, retry_handlers=handlers, logger=sdk_logger
            )

    def __repr__(self) -> str:
        return f"SlackChannel(channel={self.settings.channel!r})"

    def send(self, payload: str, key: str) -> None:
        message = SlackMessage.from_payload(payload)
        try:
            if self._hook is not None:
                self._send_webhook(message)
            else:
                self._send_bot(message, key)
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except (SlackRequestError, OSError) as exc:
            raise DeliveryError(f"slack: cannot reach Slack: {type(exc).__name__}", channel="slack") from None

    def check(self) -> str:
        """For ``check-config --online``: is the token valid and the channel readable?"""
        if self._web is None:
            return "slack: incoming webhook configured (a webhook cannot be checked without posting)"
        try:
            who = self._web.auth_test()
            self._web.conversations_history(channel=self.settings.channel or "", limit=1)
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except (SlackRequestError, OSError) as exc:
            raise DeliveryError(f"slack: cannot reach Slack: {type(exc).__name__}", channel="slack") from None
        return (
            f"slack: token valid (team {who.get('team')}, user {who.get('user')}), channel "
            f"{self.settings.channel} readable"
        )

    def _send_bot(self, message: SlackMessage, key: str) -> None:
        assert self._web is not None
        channel = self.settings.channel or ""
        parent = self._find(channel, key)
        if parent is None:
            parent = self._post(channel, message.text, message.blocks, key)
        else:
            logger.info("slack: digest %s is already in %s; not posting it again", key, channel)
        done = self._replies_done(channel, parent, key) if message.thread else set()
        for number, blocks in enumerate(message.thread, start=1):
            if f"{key}#{number}" not in done:
                self._post(
                    channel,
                    f"{message.text} (part {number + 1})",
                    blocks,
                    f"{key}#{number}",
                    thread_ts=parent,
                )

    def _post(self, channel: str, text: str, blocks: Blocks, key: str, thread_ts: str | None = None) -> str:
        assert self._web is not None
        response = self._web.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks or None,
            unfurl_links=False,
            unfurl_media=False,
            thread_ts=thread_ts,
            metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}},
        )
        return str(response["ts"])

    def _find(self, channel: str, key: str) -> str | None:
        """The ts of a message already posted with this key, from the channel's recent history."""
        assert self._web is not None
        try:
            history = self._web.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        except SlackApiError as exc:
            if exc.response.get("error") != "missing_scope":
                raise
            logger.warning(
                "slack: cannot read channel history (missing_scope); a crash right after "
                "posting could post twice"
            )
            return None
        return _with_key(history.get("messages") or [], {key}).get(key)

    def _replies_done(self, channel: str, parent: str, key: str) -> set[str]:
        assert self._web is not None
        replies = self._web.conversations_replies(channel=channel, ts=parent, include_all_metadata=True)
        return set(_with_key(replies.get("messages") or [], None))

    def _send_webhook(self, message: SlackMessage) -> None:
        assert self._hook is not None
        for blocks in [message.blocks, *message.thread]:
            response = self._hook.send(text=message.text, blocks=blocks or None, unfurl_links=False)
            if response.status_code in (404, 410):
                raise DeliveryError(
                    f"slack webhook: HTTP {response.status_code} ({response.body}); the webhook was "
                    "removed or its channel archived: create a new one",
                    channel="slack",
                    retryable=False,
                )
            if response.status_code >= 400:
                retryable = response.status_code >= 500 or response.status_code == 429
                raise DeliveryError(
                    f"slack webhook: HTTP {response.status_code} ({response.body})",
                    channel="slack",
                    retryable=retryable,
                )


def _with_key(messages: list[dict[str, Any]], keys: set[str] | None) -> dict[str, str]:
    """Outbox keys found in messages' metadata, mapped to the messages' ts."""
    found: dict[str, str] = {}
    for item in messages:
        metadata = item.get("metadata") or {}
        key = (metadata.get("event_payload") or {}).get("key")
        if metadata.get("event_type") == EVENT_TYPE and key and (keys is None or key in keys):
            found[str(key)] = str(item.get("ts"))
    return found


def _api_error(exc: SlackApiError) -> DeliveryError:
    code = str(exc.response.get("error", "unknown_error"))
    hint = HINTS.get(code, "see the Slack API documentation for this error")
    retryable = code in ("ratelimited", "internal_error", "fatal_error", "service_unavailable")
    return DeliveryError(f"slack: {code}: {hint}", channel="slack", retryable=retryable)
