"""E-mail through SMTP (aiosmtplib), with STARTTLS or implicit TLS and AUTH when set.

Each message has a deterministic `Message-ID` made from its notification id, so a message
sent again after a crash is the same message to every mail system on the way (the local
server, like large mailbox providers, does not deliver a Message-ID twice). A 5xx refusal
of the recipient or of the message: refused for good. A 4xx reply, a timeout, a broken
connection, and what says our own setup is wrong (authentication, TLS required, our sender
refused): try again later, so a rotated password loses no message."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from services.notifications.channels import OutgoingMessage
from services.notifications.domain.delivery import Delivered, Failed, Outcome

_OUR_SETUP = frozenset({530, 534, 535, 538})  # authentication or TLS required: our side
_MESSAGE_IDS = uuid.UUID("5b1f3c0e-8f4e-4f0b-9a77-d05700000002")


def message_id(notification_id: str, domain: str) -> str:
    return f"<{uuid.uuid5(_MESSAGE_IDS, notification_id)}@{domain}>"


class SmtpMailer:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        message_id_domain: str,
        username: str | None = None,
        password: str | None = None,
        tls: str = "none",
        ca_file: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.message_id_domain = message_id_domain
        self.username = username
        self.password = password
        self.tls = tls
        self.ca_file = ca_file
        self.timeout = timeout

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.recipient
        email["Subject"] = message.subject or ""
        email["Message-ID"] = message_id(message.notification_id, self.message_id_domain)
        email["Date"] = formatdate(localtime=False, usegmt=True)
        email["X-DOST-Notification"] = message.notification_id
        email.set_content(message.body)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        email["Content-Language"] = message.language  # after the content, which resets it
        return email

    async def send(self, message: OutgoingMessage) -> Outcome:
        email = self.compose(message)
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                cert_bundle=self.ca_file,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            permanent = all(code >= 500 for code in codes)
            return Failed(f"recipient refused: {codes}", permanent=permanent)
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused) as error:
            return Failed(f"our mail setup was refused: {error.code}", permanent=False)
        except aiosmtplib.SMTPResponseException as error:
            permanent = error.code >= 500 and error.code not in _OUR_SETUP
            return Failed(f"server answered {error.code}: {error.message[:200]}", permanent)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            return Failed(f"server unreachable: {type(error).__name__}", permanent=False)
        return Delivered(str(email["Message-ID"]))
