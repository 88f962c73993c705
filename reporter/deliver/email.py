"""Send a stored email payload by SMTP as multipart/alternative: plain text first, HTML last.

The server's word decides: a 4xx answer (greylisting, a full queue, a temporary login failure) is
tried again later, a 5xx is final. Once the server took the message for a recipient (250 after the
data) it is sent to that recipient, recorded at once, and never sent to them again, whatever QUIT
answers; a retry goes only to the recipients still waiting.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Sequence
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TypeVar

from reporter.config import EmailChannel as EmailSettings
from reporter.deliver import Delivered
from reporter.errors import DeliveryError
from reporter.format.email import EmailPayload

logger = logging.getLogger(__name__)
Refused = dict[str, tuple[int, bytes]]
T = TypeVar("T")


class EmailChannel:
    name = "email"
    format = "email"
    alert_format = "email"

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    @property
    def where(self) -> str:
        return f"SMTP {self.settings.host}:{self.settings.port}"

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
        return f"email: {self.where} {login}"

    def send(self, payload: str, key: str, delivered: Delivered | None = None) -> None:
        delivered = delivered or Delivered()
        waiting = [r for r in self.settings.recipients if delivered.get(_part(r)) is None]
        if not waiting:
            logger.info("email %s: every recipient already has it; not sending it again", key)
            return
        message = self.message(payload, key)
        refused = self._session(lambda smtp: _transfer(smtp, message, waiting, delivered))
        if refused:
            raise self._refusal(refused, everyone=len(refused) == len(waiting), delivered=delivered)

    def _refusal(self, refused: Refused, *, everyone: bool, delivered: Delivered) -> DeliveryError:
        """Final refusals are recorded (never tried again); temporary ones make the item wait."""
        final = sorted(a for a, (code, _) in refused.items() if not _temporary(code))
        for address in final:
            delivered.record(_part(address), f"refused {refused[address][0]}")
        later = sorted(set(refused) - set(final))
        if later:
            answers = "; ".join(f"{a}: {_answer(*refused[a])}" for a in later)
            gone = f" ({', '.join(final)} refused for good)" if final else ""
            return DeliveryError(
                f"{self.where}: refused for now, tried again later to them only: {answers}{gone}",
                channel="email",
            )
        what = "every recipient was refused:" if everyone else "refused recipients"
        return DeliveryError(
            f"{self.where}: {what} {', '.join(final)} ({_answer(*refused[final[0]])}); "
            "check channels.email.recipients",
            channel="email",
            retryable=False,
        )

    def _session(self, work: Callable[[smtplib.SMTP], T]) -> T:
        try:
            smtp = self._connect()
            try:
                self._login(smtp)
                return work(smtp)
            finally:
                _quit(smtp)
        except smtplib.SMTPResponseException as exc:
            raise self._answered(exc) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(
                f"{self.where}: {type(exc).__name__}: {exc}; check channels.email.host, port and security",
                channel="email",
            ) from None

    def _login(self, smtp: smtplib.SMTP) -> None:
        settings = self.settings
        if not settings.username or settings.password is None:
            return
        try:
            smtp.login(settings.username, settings.password.get_secret_value())
        except UnicodeEncodeError:
            raise DeliveryError(
                f"{self.where}: the SMTP username or password holds a character outside ASCII, which "
                "SMTP login cannot send; check channels.email.username and the SMTP password",
                channel="email",
                retryable=False,
            ) from None

    def _answered(self, exc: smtplib.SMTPResponseException) -> DeliveryError:
        """A refusal with an SMTP code: 4xx is tried again later, 5xx is final."""
        answer = _answer(exc.smtp_code, exc.smtp_error)
        if _temporary(exc.smtp_code):
            return DeliveryError(
                f"{self.where}: temporary failure ({answer}); tried again later", channel="email"
            )
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            advice = "authentication failed; check channels.email.username and the SMTP password"
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            advice = "the sender was refused; check channels.email.sender"
        else:
            advice = "the server refused the message"
        return DeliveryError(
            f"{self.where}: {advice} (code {exc.smtp_code}: {answer})", channel="email", retryable=False
        )

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        cafile = str(settings.ca_bundle) if settings.ca_bundle else None
        if settings.security == "tls":
            context = ssl.create_default_context(cafile=cafile)
            return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context(cafile=cafile))
            except BaseException:
                smtp.close()
                raise
        return smtp


def _transfer(smtp: smtplib.SMTP, message: EmailMessage, to: Sequence[str], delivered: Delivered) -> Refused:
    """Send to ``to``; record at once each recipient the server took; return the refused ones."""
    try:
        refused: Refused = smtp.send_message(message, to_addrs=list(to))
    except smtplib.SMTPRecipientsRefused as exc:
        return dict(exc.recipients)
    for address in to:
        if address not in refused:
            delivered.record(_part(address), "accepted")
    return refused


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; what the server answers no longer matters (a message it took is sent)."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        logger.info(
            "SMTP: QUIT was not answered cleanly (%s); what the server took is sent", type(exc).__name__
        )
    finally:
        smtp.close()


def _part(address: str) -> str:
    return f"to:{address}"


def _temporary(code: int) -> bool:
    return 400 <= code < 500


def _answer(code: int, text: bytes | str) -> str:
    """An SMTP answer for a message: code and text, one line, bounded, no control characters."""
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    plain = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", raw).split())
    return f"{code} {plain[:120]}".strip()
