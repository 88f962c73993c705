"""Send a stored email payload by SMTP as multipart/alternative: plain text first, HTML last."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from reporter.config import EmailChannel as EmailSettings
from reporter.errors import DeliveryError
from reporter.format.email import EmailPayload

logger = logging.getLogger(__name__)


class EmailChannel:
    name = "email"
    format = "email"
    alert_format = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    def message(self, payload: str, key: str) -> EmailMessage:
        parts = EmailPayload.from_payload(payload)
        message = EmailMessage(policy=policy.SMTP)  # refuses CR/LF in any header
        message["Subject"] = " ".join(parts.subject.split())
        message["From"] = self.settings.sender
        message["To"] = ", ".join(self.settings.recipients)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=key.replace(":", "."), domain="reporter.local")
        message.set_content(parts.text)
        message.add_alternative(parts.html, subtype="html")
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
