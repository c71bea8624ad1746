"""Mail over SMTP, configured by ``ECOM_SMTP_*``: STARTTLS whenever the server offers it (or
required), login when a user is set, attachments by file path."""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class SmtpSettings(BaseSettings):
    """``ECOM_SMTP_HOST`` unset means mail is off: reports are still written, not sent."""

    model_config = SettingsConfigDict(env_prefix="ECOM_SMTP_", extra="ignore")

    host: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "ecom reports <reports@localhost>"
    # auto: STARTTLS when the server offers it; require: refuse to send in clear; ssl: TLS from the
    # first byte (port 465); off: never (a loopback relay).
    tls: Literal["auto", "require", "ssl", "off"] = "auto"
    timeout_s: float = 30.0
    # A CA bundle for a private relay's certificate (the system's store otherwise).
    ca_file: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.host)


class MailError(RuntimeError):
    """The mail could not be handed to the server (the reason is in the message)."""


def build_message(settings: SmtpSettings, to: str, subject: str, text: str, *, html: str | None = None,
                  attachments: Sequence[Path] = ()) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="ecom.local")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for path in attachments:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, sub = kind.split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return message


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Hand ``message`` to the configured server; raises MailError with the reason."""
    if not settings.enabled:
        raise MailError("mail is off: set ECOM_SMTP_HOST (and ECOM_SMTP_PORT, ECOM_SMTP_USER, ...)")
    context = ssl.create_default_context(cafile=settings.ca_file)
    try:
        if settings.tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host or "", settings.port, timeout=settings.timeout_s,
                                                    context=context)
        else:
            client = smtplib.SMTP(settings.host or "", settings.port, timeout=settings.timeout_s)
        with client:
            client.ehlo()
            if settings.tls in ("auto", "require") and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif settings.tls == "require":
                raise MailError(f"{settings.host}:{settings.port} does not offer STARTTLS and ECOM_SMTP_TLS=require")
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(message)
    except MailError:
        raise
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"{settings.host}:{settings.port}: {error}") from error
