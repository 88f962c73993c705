"""Slack Block Kit: the digest as a message plus thread replies within Slack's limits, and alerts.

The blocks come from ``slack.blocks.j2``, one JSON object per line. What does not fit one message
(50 blocks, about 12,000 characters of text) moves to replies in its thread, and the message says
how many samples wait there. The payload is JSON: ``{"text", "blocks", "thread"}``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.errors import RenderError
from reporter.format.markdown import MarkdownFormat
from reporter.format.templates import Links, Templates

logger = logging.getLogger(__name__)
MAX_BLOCKS = 50
MAX_TEXT = 12_000
MAX_SECTION = 3_000
Blocks = list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One Slack post and the replies that continue it in its thread."""

    text: str
    blocks: Blocks = field(default_factory=list)
    thread: list[Blocks] = field(default_factory=list)

    def to_payload(self) -> str:
        return json.dumps({"text": self.text, "blocks": self.blocks, "thread": self.thread})

    @classmethod
    def from_payload(cls, payload: str) -> SlackMessage:
        data: dict[str, Any] = json.loads(payload)
        return cls(str(data["text"]), list(data.get("blocks") or []), list(data.get("thread") or []))


class SlackFormat:
    name = "slack"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates

    def digest(self, digest: Digest) -> str:
        text, blocks = self.blocks(digest)
        head, thread = split(blocks)
        return SlackMessage(text, head, thread).to_payload()

    def alert(self, alert: Alert, web_url: str) -> str:
        return SlackMessage(MarkdownFormat(self.templates).alert(alert, web_url)).to_payload()

    def blocks(self, digest: Digest) -> tuple[str, Blocks]:
        """The notification text and the Block Kit blocks (one JSON object per template line)."""
        links = Links(digest.web_url)
        text = self.templates.render("slack.text.j2", d=digest, links=links).strip()
        lines = self.templates.render("slack.blocks.j2", d=digest, links=links).splitlines()
        blocks = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                block = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RenderError(
                    f"slack.blocks.j2: rendered line {number} is not one JSON block: {exc}"
                ) from exc
            blocks.append(block)
        return text, blocks


def text_length(value: Any) -> int:
    """Characters of text in a block tree, as Slack counts them against its limits."""
    if isinstance(value, dict):
        own = len(value["text"]) if isinstance(value.get("text"), str) else 0
        return own + sum(text_length(v) for k, v in value.items() if k != "text" or not isinstance(v, str))
    if isinstance(value, list):
        return sum(text_length(v) for v in value)
    return 0


def split(blocks: Blocks) -> tuple[Blocks, list[Blocks]]:
    """The message's blocks and the thread replies' blocks, each within Slack's limits."""
    blocks = [_clip(block) for block in blocks]
    if len(blocks) <= MAX_BLOCKS and text_length(blocks) <= MAX_TEXT:
        return blocks, []
    parts: list[Blocks] = [[]]
    for block in blocks:
        current = parts[-1]
        limit = MAX_BLOCKS - 1 if len(parts) == 1 else MAX_BLOCKS  # room for the "more in thread" note
        if current and (len(current) >= limit or text_length([*current, block]) > MAX_TEXT - 200):
            parts.append([])
        parts[-1].append(block)
    head, thread = parts[0], parts[1:]
    moved = sum(1 for part in thread for b in part if str(b.get("block_id", "")).startswith("sample-"))
    note = (
        f":thread: {moved} more sample{'s' if moved != 1 else ''} in the thread."
        if moved
        else (":thread: continued in the thread.")
    )
    head.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return head, thread


def _clip(block: dict[str, Any]) -> dict[str, Any]:
    text = block.get("text")
    if isinstance(text, dict) and isinstance(text.get("text"), str) and len(text["text"]) > MAX_SECTION:
        logger.warning("slack: a block's text has %d characters; cut to %d", len(text["text"]), MAX_SECTION)
        return {**block, "text": {**text, "text": text["text"][: MAX_SECTION - 1] + "…"}}
    return block
