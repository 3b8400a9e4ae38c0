"""What the bank or treasury reports about payment instructions (`dost.bank.settlements.v1`)."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from contracts.registry import EventData, event_model
from contracts.topics import BANK_SETTLEMENTS
from contracts.types import PlainText


@event_model("dost.bank.PaymentSettled.v1", topic=BANK_SETTLEMENTS)
class PaymentSettled(EventData):
    """The money reached the beneficiary's account."""

    instruction_id: str = Field(description="The payment instruction's id.")
    settled_at: AwareDatetime


@event_model("dost.bank.PaymentReturned.v1", topic=BANK_SETTLEMENTS)
class PaymentReturned(EventData):
    """The bank could not credit the account and returned the money."""

    instruction_id: str = Field(description="The payment instruction's id.")
    reason: PlainText = Field(min_length=1, max_length=500, description="The bank's reason.")
