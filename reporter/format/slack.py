"""Slack Block Kit: the digest and alerts as a message plus thread replies, within every Slack limit.

The blocks come from ``slack.blocks.j2``, one JSON object per line, escaped for mrkdwn by the
template environment. Each block is then fitted to its type's limits (a section's text, a header,
a context's elements, fields, block ids): what is too long is split into more blocks of the same
type at line breaks, and a single line too long for any block is cut with a note. What does not
fit one message (50 blocks, about 12,000 characters of text) moves to replies in its thread, and
the message says how many samples wait there. The payload is JSON: ``{"text", "blocks", "thread"}``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.errors import RenderError
from reporter.format.mrkdwn import MrkdwnFormat
from reporter.format.templates import Links, Templates, mrkdwn_from_html

logger = logging.getLogger(__name__)
MAX_BLOCKS = 50  # blocks in one message
MAX_TEXT = 12_000  # characters of text in one message's blocks (Slack refuses a little beyond 13,000)
MAX_SECTION = 3_000  # a section's text, and any text object's
MAX_HEADER = 150  # a header's plain text
MAX_FIELDS = 10  # fields in a section
MAX_FIELD = 2_000  # one field's text
MAX_ELEMENTS = 10  # elements in a context block
MAX_BLOCK_ID = 255
MAX_FALLBACK = 3_000  # the notification text beside the blocks
CUT = " … (cut to fit Slack; `reporter flaky` shows everything)"
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
        """The alert's mrkdwn as sections (a long one continues in the thread)."""
        text = MrkdwnFormat(self.templates).alert(alert, web_url).strip()
        head, thread = split([{"type": "section", "text": {"type": "mrkdwn", "text": text}}])
        return SlackMessage(cut(text.split("\n", 1)[0], MAX_FALLBACK), head, thread).to_payload()

    def blocks(self, digest: Digest) -> tuple[str, Blocks]:
        """The notification text and the Block Kit blocks (one JSON object per template line)."""
        links = Links(digest.web_url)
        text = self.templates.render("slack.text.j2", d=digest, links=links).strip()
        lines = self.templates.render("slack.blocks.j2", finish=False, d=digest, links=links)
        blocks = []
        for number, line in enumerate(lines.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                block = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RenderError(
                    f"slack.blocks.j2: rendered line {number} is not one JSON block: {exc}"
                ) from exc
            blocks.append(_finished(block))
        return cut(text, MAX_FALLBACK), blocks


def _finished(value: Any) -> Any:
    """Every string of a parsed block as mrkdwn (quotes the template escaped written back)."""
    if isinstance(value, str):
        return mrkdwn_from_html(value)
    if isinstance(value, dict):
        return {k: _finished(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finished(v) for v in value]
    return value


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
    blocks = fit(blocks)
    if len(blocks) <= MAX_BLOCKS and text_length(blocks) <= MAX_TEXT:
        return blocks, []
    parts: list[Blocks] = [[]]
    size = 0  # text in the current part
    for block in blocks:
        current, length = parts[-1], text_length(block)
        limit = MAX_BLOCKS - 1 if len(parts) == 1 else MAX_BLOCKS  # room for the "more in thread" note
        if current and (len(current) >= limit or size + length > MAX_TEXT - 200):
            parts.append([])
            size = 0
        parts[-1].append(block)
        size += length
    head, thread = parts[0], parts[1:]
    moved = sum(1 for part in thread for b in part if str(b.get("block_id", "")).startswith("sample-"))
    note = (
        f":thread: {moved} more sample{'s' if moved != 1 else ''} in the thread."
        if moved
        else (":thread: continued in the thread.")
    )
    head.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return head, thread


def fit(blocks: Blocks) -> Blocks:
    """Every block within its type's limits, split into more blocks or cut with a note; ids unique."""
    fitted = [dict(piece) for block in blocks for piece in _fit_block(block)]
    seen: set[str] = set()
    for block in fitted:
        if "block_id" in block:
            block_id = str(block["block_id"])[:MAX_BLOCK_ID]
            number = 1
            while block_id in seen:
                number += 1
                block_id = f"{str(block['block_id'])[: MAX_BLOCK_ID - 8]}-{number}"
            seen.add(block_id)
            block["block_id"] = block_id
    return fitted


def _fit_block(block: dict[str, Any]) -> Blocks:
    """One block as one or more blocks of its type within their limits; nothing left when empty."""
    kind = block.get("type")
    if kind == "header":
        text = cut(_text_of(block), MAX_HEADER, markup=False)
        return [{**block, "text": {"type": "plain_text", "text": text}}] if text.strip() else []
    if kind == "section":
        return _fit_section(block)
    if kind == "context":
        elements = [_fit_element(e) for e in block.get("elements") or [] if _has_text(e)]
        groups = _groups(elements, MAX_ELEMENTS)
        if len(groups) > 1:
            logger.info("slack: a context block of %d elements split in %d", len(elements), len(groups))
        return [{**(block if n == 0 else {"type": "context"}), "elements": g} for n, g in enumerate(groups)]
    return [block]


def _fit_section(block: dict[str, Any]) -> Blocks:
    """A section's text in pieces of at most MAX_SECTION at line breaks, its fields ten at a time;
    the first piece keeps the block's id and the rest of it (an accessory)."""
    text: dict[str, Any] = block.get("text") or {}
    chunks = chunk_lines(text["text"], MAX_SECTION) if _has_text(text) else []
    if len(chunks) > 1:
        logger.info("slack: a section of %d characters split in %d", len(text["text"]), len(chunks))
    fields = [_fit_element(f, MAX_FIELD) for f in block.get("fields") or [] if _has_text(f)]
    groups = _groups(fields, MAX_FIELDS)
    parts: Blocks = [{"text": {**text, "text": chunk}} for chunk in chunks] + [{"fields": g} for g in groups]
    if len(chunks) == 1 and groups:
        parts[0:2] = [{**parts[0], **parts[1]}]
    if not parts:
        return []
    first = {key: value for key, value in block.items() if key not in ("text", "fields")}
    return [{**first, **parts[0]}, *({"type": "section", **part} for part in parts[1:])]


def _groups(items: list[Any], count: int, total: int = MAX_TEXT // 2) -> list[list[Any]]:
    """``items`` in groups of at most ``count`` and at most ``total`` characters of text."""
    groups: list[list[Any]] = []
    for item in items:
        if not groups or len(groups[-1]) >= count or text_length([*groups[-1], item]) > total:
            groups.append([])
        groups[-1].append(item)
    return groups


def _has_text(value: Any) -> bool:
    return isinstance(value, dict) and (
        value.get("type") == "image" or bool(str(value.get("text", "")).strip())
    )


def _fit_element(element: Any, limit: int = MAX_SECTION) -> Any:
    if isinstance(element, dict) and isinstance(element.get("text"), str) and len(element["text"]) > limit:
        return {**element, "text": cut(element["text"], limit, markup=element.get("type") == "mrkdwn")}
    return element


def _text_of(block: dict[str, Any]) -> str:
    text = block.get("text")
    return str(text.get("text", "")) if isinstance(text, dict) else ""


def chunk_lines(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, broken at line ends; a longer line is cut."""
    chunks: list[str] = []
    current = ""
    for whole in text.split("\n"):
        line = cut(whole, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()] or [cut(text, limit)]


def cut(text: str, limit: int, *, markup: bool = True) -> str:
    """At most ``limit`` characters; when cut, a note says so, and in mrkdwn no link or entity is
    left open (the cut moves before an unclosed ``<`` or ``&``)."""
    if len(text) <= limit:
        return text
    note = CUT if limit >= 1_000 else "…"
    kept = text[: limit - len(note)]
    if markup:
        opened = kept.rfind("<")
        if opened > kept.rfind(">"):
            kept = kept[:opened]
        ampersand = kept.rfind("&")
        if ampersand > kept.rfind(";"):
            kept = kept[:ampersand]
    logger.warning("slack: a text of %d characters cut to %d", len(text), limit)
    return kept.rstrip() + note
