"""Email: a subject of counts, the plain-text digest and mail-safe HTML with inlined CSS, under a size cap.

Gmail clips messages beyond about 102 KB, so the grid is narrowed and, if need be, fewer samples are
listed (with a note saying how many more exist) until text and HTML fit. The payload is JSON:
``{"subject", "text", "html"}``.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass, replace

import css_inline

from reporter.alerts import Alert
from reporter.digest import Digest
from reporter.format.html import HtmlFormat
from reporter.format.templates import Templates
from reporter.format.text import TextFormat
from reporter.grid import Grid

MAX_BYTES = 90_000  # Gmail clips messages beyond about 102 KB; leave room for headers and encoding
# (grid columns, samples per list) tried in turn until the message fits
SHAPES: tuple[tuple[int, int | None], ...] = (
    (40, None),
    (20, None),
    (10, None),
    (0, None),
    (0, 50),
    (0, 25),
    (0, 10),
)
_STYLE_BLOCKS = re.compile(r"<style\b.*?</style>", re.DOTALL | re.IGNORECASE)
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EmailPayload:
    """What one email says; headers other than the subject are the channel's business."""

    subject: str
    text: str
    html: str

    def to_payload(self) -> str:
        return json.dumps({"subject": self.subject, "text": self.text, "html": self.html})

    @classmethod
    def from_payload(cls, payload: str) -> EmailPayload:
        data = json.loads(payload)
        return cls(str(data["subject"]), str(data["text"]), str(data["html"]))


def subject_for(digest: Digest) -> str:
    """Counts only: no text from the platform ever reaches a header."""
    flaky = len(digest.new_flaky) + len(digest.still_flaky)
    if digest.blind:
        return f"[reporter] {digest.period}: not an all clear (reporter blind or no data)"
    if digest.all_clear:
        return f"[reporter] {digest.period}: all clear"
    return (
        f"[reporter] {digest.period}: {len(digest.failing)} failing, {flaky} flaky "
        f"({len(digest.new_flaky)} new)"
    )


class EmailFormat:
    name = "email"

    def __init__(self, templates: Templates) -> None:
        self.templates = templates
        self.text = TextFormat(templates)
        self.html = HtmlFormat(templates, email=True)

    def digest(self, digest: Digest) -> str:
        """Text and mail-safe HTML with inlined CSS in the first shape that fits the cap (else the last).

        Each shape is smaller than the one before it, so after the first the search halves the
        shapes left: a long digest is rendered three or four times, not seven.
        """
        digest = self.templates.shown(digest)  # once, for the subject and every shape tried
        made: dict[int, tuple[str, str] | None] = {}  # None: too large

        def fits(index: int) -> bool:
            made[index] = self._fitting(digest, *SHAPES[index])
            if made[index] is None:
                logger.info("email: too large with %d grid columns and %s samples a list", *SHAPES[index])
                return False
            return True

        low, high = 0, len(SHAPES) - 1  # the answer is in [low, high]; the last shape if none fits
        if not fits(0):
            low = 1
            while low < high:
                middle = (low + high) // 2
                if fits(middle):
                    high = middle
                else:
                    low = middle + 1
        text, page = made.get(low) or self._render(digest, *SHAPES[low])
        return EmailPayload(subject_for(digest), text, page).to_payload()

    def alert(self, alert: Alert, web_url: str) -> str:
        text = self.text.alert(alert, web_url)
        subject = f"[reporter] run {alert.run.run_id}: {len(alert.failures)} unexplained failures"
        return EmailPayload(subject, text, f"<pre>{html.escape(text)}</pre>").to_payload()

    def _fitting(self, digest: Digest, columns: int, per_section: int | None) -> tuple[str, str] | None:
        """Text and inlined HTML in this shape if they fit the cap; None if not.

        Inlining the styles is most of the cost; a page more than twice the cap before (style blocks
        aside, which inlining removes) is known to be too large without it.
        """
        text, page = self._shaped(digest, columns, per_section)
        size = len(text.encode())
        if size + len(_STYLE_BLOCKS.sub("", page).encode()) > 2 * MAX_BYTES:
            return None
        page = css_inline.inline(page)
        return (text, page) if size + len(page.encode()) < MAX_BYTES else None

    def _render(self, digest: Digest, columns: int, per_section: int | None) -> tuple[str, str]:
        text, page = self._shaped(digest, columns, per_section)
        return text, css_inline.inline(page)

    def _shaped(self, digest: Digest, columns: int, per_section: int | None) -> tuple[str, str]:
        shaped = digest.shortened(per_section) if per_section is not None else digest
        shaped = replace(shaped, grids=tuple(_narrow(g, columns) for g in digest.grids) if columns else ())
        shaped = self.templates.already_shown(shaped)  # cut from the shown digest: nothing to walk again
        return self.text.digest(shaped), self.html.digest(shaped)


def _narrow(grid: Grid, columns: int) -> Grid:
    rows = tuple(replace(row, cells=row.cells[-columns:]) for row in grid.rows)
    return replace(grid, columns=grid.columns[-columns:], rows=rows)
