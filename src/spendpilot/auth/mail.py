"""Outgoing mail (invitations, password resets): SMTP when configured, a file outbox in development.

A mail here usually carries a link with a credential in it, so neither the link nor the body is
ever logged: the log says what kind of mail went where, and in development the whole message is
written to <data dir>/outbox/ (readable by this user only) for the developer to open.
"""

from __future__ import annotations

import os
import secrets
import unicodedata
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from pathlib import Path

import aiosmtplib

from spendpilot.clock import utcnow
from spendpilot.config import Settings
from spendpilot.logs import get_logger

log = get_logger(__name__)


class Delivery(StrEnum):
    SENT = "sent"          # accepted by the SMTP server
    OUTBOX = "outbox"      # development without SMTP: written to the outbox directory
    DISABLED = "disabled"  # production without SMTP: not sent
    FAILED = "failed"      # the SMTP server could not be reached or refused it


def one_line(value: str) -> str:
    """A header value from text people chose (an org's name): line breaks and control characters
    would fail the message or inject headers, so every run of them becomes one space."""
    printable = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in value)
    return " ".join(printable.split())


class Mailer:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.outbox = settings.data_dir / "outbox"

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    def compose(self, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.smtp_from
        message["To"] = to
        message["Subject"] = one_line(subject)
        message["Message-ID"] = make_msgid(domain="spendpilot.local")
        message.set_content(text)
        return message

    async def send(self, kind: str, to: str, subject: str, text: str) -> Delivery:
        """Send one mail; never raises (a mail that cannot go out must not fail the request)."""
        message = self.compose(to, subject, text)
        domain = to.rsplit("@", 1)[-1]
        if not self.configured:
            if self.settings.env == "production":
                log.warning("mail_not_sent", kind=kind, to_domain=domain, reason="SPENDPILOT_SMTP_HOST is not set")
                return Delivery.DISABLED
            path = self._write_outbox(message)
            log.info("mail_written_to_outbox", kind=kind, to_domain=domain, path=str(path))
            return Delivery.OUTBOX
        settings = self.settings
        try:
            await aiosmtplib.send(
                message, hostname=settings.smtp_host, port=settings.smtp_port,
                username=settings.smtp_username or None, password=settings.smtp_password or None,
                use_tls=settings.smtp_security == "tls", start_tls=settings.smtp_security == "starttls",
                timeout=settings.smtp_timeout_s)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("mail_failed", kind=kind, to_domain=domain, error_type=type(exc).__name__)
            return Delivery.FAILED
        log.info("mail_sent", kind=kind, to_domain=domain)
        return Delivery.SENT

    def _write_outbox(self, message: EmailMessage) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        path = self.outbox / f"{stamp}-{secrets.token_hex(4)}.eml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(message.as_bytes())
        return path
