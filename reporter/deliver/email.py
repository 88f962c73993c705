"""Send the digest by SMTP as multipart/alternative: plain text first, HTML last."""

from __future__ import annotations

import html
import json
import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import replace
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import css_inline

from reporter.alerts import Alert
from reporter.config import EmailChannel as EmailSettings
from reporter.digest import Digest
from reporter.errors import DeliveryError
from reporter.grid import Grid
from reporter.render import Renderer

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
logger = logging.getLogger(__name__)


def _narrow(grid: Grid, columns: int) -> Grid:
    rows = tuple(replace(row, cells=row.cells[-columns:]) for row in grid.rows)
    return replace(grid, columns=grid.columns[-columns:], rows=rows)


def subject_for(digest: Digest) -> str:
    """Counts only: no text from the platform ever reaches a header."""
    flaky = len(digest.new_flaky) + len(digest.still_flaky)
    if digest.all_clear:
        return f"[reporter] {digest.period}: all clear"
    return (
        f"[reporter] {digest.period}: {len(digest.failing)} failing, {flaky} flaky "
        f"({len(digest.new_flaky)} new)"
    )


class EmailChannel:
    name = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def prepare(self, digest: Digest, renderer: Renderer) -> str:
        """Text and mail-safe HTML with inlined CSS, the grid narrowed until the mail fits the cap."""
        for shape in SHAPES:
            text, page = self._render(digest, renderer, *shape)
            if len(text.encode()) + len(page.encode()) < MAX_BYTES:
                break
            logger.info("email: too large with %d grid columns and %s samples a list; shrinking", *shape)
        return json.dumps({"subject": subject_for(digest), "text": text, "html": page})

    @staticmethod
    def _render(digest: Digest, renderer: Renderer, columns: int, per_section: int | None) -> tuple[str, str]:
        shaped = digest.shortened(per_section) if per_section is not None else digest
        shaped = replace(shaped, grids=tuple(_narrow(g, columns) for g in digest.grids) if columns else ())
        page = css_inline.inline(renderer.digest(shaped, "html", email=True))
        return renderer.digest(shaped, "text"), page

    def prepare_alert(self, alert: Alert, renderer: Renderer, web_url: str) -> str:
        text = renderer.alert(alert, web_url, "text")
        subject = f"[reporter] run {alert.run.run_id}: {len(alert.failures)} unexplained failures"
        return json.dumps({"subject": subject, "text": text, "html": f"<pre>{html.escape(text)}</pre>"})

    def message(self, payload: str, key: str) -> EmailMessage:
        parts = json.loads(payload)
        message = EmailMessage(policy=policy.SMTP)  # refuses CR/LF in any header
        message["Subject"] = " ".join(str(parts["subject"]).split())
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=key.replace(":", "."), domain="reporter.local")
        message.set_content(parts["text"])
        message.add_alternative(parts["html"], subtype="html")
        return message

    def check(self) -> str:
        """For ``check-config --online``: connect and authenticate, send nothing."""
        self._session(lambda smtp: None)
        login = "authenticated" if self.settings.username else "connected (no login configured)"
        return f"email: SMTP {self.settings.host}:{self.settings.port} {login}"

    def send(self, payload: str, key: str) -> None:
        message = self.message(payload, key)
        refused = self._session(lambda smtp: smtp.send_message(message))
        if refused:
            where = f"SMTP {self.settings.host}:{self.settings.port}"
            raise DeliveryError(
                f"{where}: refused recipients {', '.join(refused)}", channel="email", retryable=False
            )

    def _session(self, work: Callable[[smtplib.SMTP], dict[str, Any] | None]) -> dict[str, Any] | None:
        settings = self.settings
        where = f"SMTP {settings.host}:{settings.port}"
        try:
            with self._connect() as smtp:
                if settings.username and settings.password is not None:
                    smtp.login(settings.username, settings.password.get_secret_value())
                return work(smtp)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"{where}: authentication failed (code {exc.smtp_code}); check "
                "channels.email.username and the SMTP password",
                channel="email",
                retryable=False,
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"{where}: every recipient was refused: {', '.join(exc.recipients)}; "
                "check channels.email.recipients",
                channel="email",
                retryable=False,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"{where}: {type(exc).__name__}: {exc}; check channels.email.host, port and security",
                channel="email",
            ) from None

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        cafile = str(settings.ca_bundle) if settings.ca_bundle else None
        if settings.security == "tls":
            context = ssl.create_default_context(cafile=cafile)
            return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.security == "starttls":
            smtp.starttls(context=ssl.create_default_context(cafile=cafile))
        return smtp
