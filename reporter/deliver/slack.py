"""Post the digest to Slack with slack-sdk: a bot token and channel, or an incoming webhook.

With a bot token each post carries message metadata holding the outbox key,
and the channel's recent history is searched for that key before posting, so
a crash between Slack accepting a post and the outbox recording it does not
post twice. Webhooks cannot read history: that window remains for them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from reporter.config import SlackChannel as SlackSettings
from reporter.digest import Digest
from reporter.errors import DeliveryError
from reporter.render import Renderer

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
    "msg_too_long": "the message is too long for Slack",
}


class SlackChannel:
    name = "slack"

    def __init__(self, settings: SlackSettings) -> None:
        self.settings = settings
        handlers = [
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
        ]
        self._web = None
        self._hook = None
        if settings.webhook_url is not None:
            self._hook = WebhookClient(
                settings.webhook_url.get_secret_value(), retry_handlers=handlers, logger=sdk_logger
            )
        else:
            token = settings.token.get_secret_value() if settings.token else None
            self._web = WebClient(
                token=token, base_url=settings.api_url, retry_handlers=handlers, logger=sdk_logger
            )

    def __repr__(self) -> str:
        return f"SlackChannel(channel={self.settings.channel!r})"

    def prepare(self, digest: Digest, renderer: Renderer) -> str:
        return json.dumps({"text": renderer.digest(digest, "markdown")})

    def send(self, payload: str, key: str) -> None:
        message: dict[str, Any] = json.loads(payload)
        if self._hook is not None:
            self._send_webhook(message)
        else:
            self._send_bot(message, key)

    def _send_bot(self, message: dict[str, Any], key: str) -> None:
        assert self._web is not None
        channel = self.settings.channel or ""
        try:
            if self._already_posted(channel, key):
                logger.info("slack: digest %s is already in %s; not posting it again", key, channel)
                return
            self._web.chat_postMessage(
                channel=channel,
                text=message["text"],
                mrkdwn=True,
                unfurl_links=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"key": key}},
            )
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except (SlackRequestError, OSError) as exc:
            raise DeliveryError(
                f"slack: cannot reach {self.settings.api_url}: {type(exc).__name__}", channel="slack"
            ) from None

    def _already_posted(self, channel: str, key: str) -> bool:
        assert self._web is not None
        try:
            history = self._web.conversations_history(channel=channel, limit=50, include_all_metadata=True)
        except SlackApiError as exc:
            if exc.response.get("error") == "missing_scope":
                logger.warning(
                    "slack: cannot read channel history (missing_scope); a crash right after "
                    "posting could post twice"
                )
                return False
            raise
        messages: list[dict[str, Any]] = history.get("messages", []) or []
        for item in messages:
            metadata = item.get("metadata") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return True
        return False

    def _send_webhook(self, message: dict[str, Any]) -> None:
        assert self._hook is not None
        try:
            response = self._hook.send(text=message["text"], unfurl_links=False)
        except (SlackRequestError, OSError) as exc:
            raise DeliveryError(
                f"slack webhook: cannot reach the webhook: {type(exc).__name__}", channel="slack"
            ) from None
        if response.status_code in (404, 410):
            raise DeliveryError(
                f"slack webhook: HTTP {response.status_code} ({response.body}); the webhook "
                "was removed or its channel archived: create a new one",
                channel="slack",
                retryable=False,
            )
        if response.status_code >= 400:
            raise DeliveryError(
                f"slack webhook: HTTP {response.status_code} ({response.body})",
                channel="slack",
                retryable=response.status_code >= 500 or response.status_code == 429,
            )


def _api_error(exc: SlackApiError) -> DeliveryError:
    code = str(exc.response.get("error", "unknown_error"))
    hint = HINTS.get(code, "see the Slack API documentation for this error")
    retryable = code in ("ratelimited", "internal_error", "fatal_error", "service_unavailable")
    return DeliveryError(f"slack: {code}: {hint}", channel="slack", retryable=retryable)
