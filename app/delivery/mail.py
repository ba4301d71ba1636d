"""Mail backends (SMTP, and the development log) and the outbox handler for kind `email`.

`LEADLINK_SMTP_HOST` set → `SmtpBackend`; unset → `LogBackend`, which sends nothing: the email
stays readable in the admin outbox (`/admin/emails/{id}`), so `make run` works without a mail
server. The log then names the message's id, never its address or links: a log line outlives an
erased lead.
"""

from __future__ import annotations

import email.policy
import logging
import re
from collections import deque
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Literal, Protocol

import aiosmtplib

from app.config import Settings
from app.delivery.exceptions import PermanentFailure, TemporaryFailure
from app.delivery.models import OutboxMessage

__all__ = [
    "MAIL_POLICY",
    "EmailHandler",
    "LogBackend",
    "MailBackend",
    "SmtpBackend",
    "backend_from_settings",
    "build_email",
    "links_in",
    "readable_at",
]

logger = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10.0
KEPT_BY_LOG_BACKEND = 100
_LINK = re.compile(r"https?://\S+")

# The standard policies fold a header longer than 78 characters, and a long URL in
# `List-Unsubscribe` can only be folded into RFC 2047 encoded words, which mail clients do not
# read there. RFC 5322 allows 998; 7-bit transfer encodings never depend on 8BITMIME.
MAIL_POLICY = email.policy.SMTP.clone(max_line_length=998, cte_type="7bit")


class MailBackend(Protocol):
    """Sends one message or raises `TemporaryFailure` / `PermanentFailure`; `delivers` says
    whether a message handed over leaves the instance at all."""

    delivers: bool

    async def send(self, message: EmailMessage) -> None: ...


def build_email(payload: dict[str, Any], *, mail_from: str, date: datetime) -> EmailMessage:
    """The MIME message of an outbox payload: text/plain and text/html as alternatives.

    `email.message.EmailMessage` refuses header values containing CR or LF, a second guard
    behind the subject being made one line when the email was rendered. Flatten it with
    `as_bytes()` (its own policy), not a generator with a default policy.
    """
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "leadlink.invalid"
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = mail_from
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{payload['message_id']}@{domain}>"
    # RFC 3834: tells vacation responders not to answer a confirmation email.
    message["Auto-Submitted"] = "auto-generated"
    for name, value in payload.get("headers", {}).items():
        message[name] = value
    message.set_content(payload["text"])
    message.add_alternative(payload["html"], subtype="html")
    return message


def links_in(text: str) -> list[str]:
    """The http(s) links of a plain-text body, without trailing punctuation."""
    return [match.rstrip(".,;:!?)]>'\"") for match in _LINK.findall(text)]


class SmtpBackend:
    """Delivers through an SMTP server with aiosmtplib: one connection per message."""

    delivers = True

    def __init__(
        self,
        *,
        hostname: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        security: Literal["starttls", "tls", "none"] = "starttls",
        timeout: float = SMTP_TIMEOUT_SECONDS,
    ) -> None:
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = password
        self.security = security
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpBackend:
        if not settings.smtp_host:
            raise ValueError("LEADLINK_SMTP_HOST is not set")
        return cls(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            security=settings.smtp_security,
        )

    def __str__(self) -> str:
        return f"SMTP {self.hostname}:{self.port} ({self.security})"

    async def send(self, message: EmailMessage) -> None:
        recipient = parseaddr(str(message["To"]))[1]
        # A non-ASCII local part cannot be written in 7-bit headers or a plain envelope.
        international = not recipient.isascii()
        policy = MAIL_POLICY.clone(utf8=True) if international else MAIL_POLICY
        try:
            await aiosmtplib.send(
                message.as_bytes(policy=policy),
                sender=parseaddr(str(message["From"]))[1],
                recipients=[recipient],
                mail_options=["SMTPUTF8"] if international else None,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=self.security == "starttls",
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            failure = f"recipient refused: {'; '.join(str(r) for r in exc.recipients)}"
            if codes and all(500 <= code < 600 for code in codes):
                raise PermanentFailure(failure) from exc
            raise TemporaryFailure(failure) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"SMTP {exc.code}: {exc.message}") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            if international:  # no SMTPUTF8 on this server: asking again will not help
                raise PermanentFailure(str(exc)) from exc
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc


class LogBackend:
    """Development: sends nothing. The outbox row keeps the rendered message, which the admin
    outbox shows with its links; the worker's log line names only the message id (see
    `EmailHandler`). The last `KEPT_BY_LOG_BACKEND` messages are also kept in `messages` for
    tests and the console.
    """

    delivers = False

    def __init__(self) -> None:
        self.messages: deque[EmailMessage] = deque(maxlen=KEPT_BY_LOG_BACKEND)

    def __str__(self) -> str:
        return "the admin outbox (LEADLINK_SMTP_HOST is not set)"

    async def send(self, message: EmailMessage) -> None:
        self.messages.append(message)


def backend_from_settings(settings: Settings) -> MailBackend:
    if settings.smtp_host:
        return SmtpBackend.from_settings(settings)
    if settings.is_production:
        logger.warning(
            "LEADLINK_SMTP_HOST is not set: emails are not sent, only kept in /admin/emails"
        )
    return LogBackend()


def readable_at(message_id: int) -> str:
    """Where the admin reads an email that was not sent."""
    return f"/admin/emails/{message_id}"


class EmailHandler:
    """The outbox handler of kind `email`: builds the MIME message and hands it to a backend.

    Returns what the worker's log line should say instead of "sent" when the backend does not
    deliver (no SMTP server), so the log tells the truth once: not sent, readable in the admin.
    """

    def __init__(self, backend: MailBackend, *, mail_from: str) -> None:
        self.backend = backend
        self.mail_from = mail_from

    async def __call__(self, message: OutboxMessage) -> str | None:
        email = build_email(message.payload, mail_from=self.mail_from, date=message.created_at)
        await self.backend.send(email)
        if self.backend.delivers:
            return None
        return f"not sent (no SMTP server configured); read it at {readable_at(message.id)}"
