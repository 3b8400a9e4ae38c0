"""The two ways a message reaches a citizen: an HTTP SMS gateway and an SMTP server.

Each takes a message with its notification id, the key that makes a repeated send
harmless (the SMS gateway's `Idempotency-Key`, the e-mail's `Message-ID`), and answers
with an outcome instead of raising: delivered, a failure worth retrying, or a refusal for
good."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notifications.domain.delivery import Outcome


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: str
    recipient: str
    subject: str | None
    body: str
    html: str | None
    language: str


class Channel(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, message: OutgoingMessage) -> Outcome: ...
