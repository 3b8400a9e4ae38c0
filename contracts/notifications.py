"""Notifications' events (topic `dost.notifications.events.v1`): what a citizen was told.

The subject of each event is the case id. The recipient is masked (`+994*******67`,
`a***@example.az`): a phone number or e-mail address never leaves the service in an event.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from contracts.registry import EventData, event_model
from contracts.topics import NOTIFICATIONS_EVENTS
from contracts.types import Language

MessageKind = Literal[
    "application_received",
    "approved",
    "rejected",
    "referred_for_review",
    "payment_settled",
    "payment_returned",
    "suspended",
    "ended",
    "withdrawn",
]
"""What a message tells the citizen; one kind per event of the case that matters to them."""

Channel = Literal["sms", "email"]


class _Notification(EventData):
    notification_id: str = Field(
        description="`<event id>:<channel>`: one message per event and channel, never more."
    )
    case_id: str
    event_id: str = Field(description="CloudEvent id of the event the message is about.")
    kind: MessageKind
    channel: Channel
    language: Language
    recipient: str = Field(description="The phone number or e-mail address, masked.")
    attempts: int = Field(ge=1, description="Delivery attempts made.")


@event_model("dost.notifications.NotificationSent.v1", topic=NOTIFICATIONS_EVENTS)
class NotificationSent(_Notification):
    """The SMS gateway or the mail server accepted the message."""

    provider_message_id: str | None = Field(
        None, description="The gateway's message id, or the e-mail's Message-ID."
    )
    sent_at: AwareDatetime


@event_model("dost.notifications.NotificationFailed.v1", topic=NOTIFICATIONS_EVENTS)
class NotificationFailed(_Notification):
    """The message could not be delivered: refused for good (an invalid number, a mailbox
    that does not exist) or still failing after every retry."""

    reason: str = Field(description="What the gateway or mail server answered last.")
    permanent: bool = Field(description="Refused for good rather than out of retries.")
    failed_at: AwareDatetime
