"""Payments' events (topic `dost.payments.events.v1`): entitlements and what they pay.

The subject of each event is the case id; the entitlement id is the case id too (one
entitlement per approved case). Bank details never leave the service in an event.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.eligibility import ScheduledAmount
from contracts.registry import EventData, event_model
from contracts.topics import PAYMENTS_EVENTS
from contracts.types import Benefit, Money

MonthText = str


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonthPaid(_Part):
    """One month an instruction pays, at the amount in force in that month."""

    month: MonthText = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM.")
    amount: Money


@event_model("dost.payments.EntitlementGranted.v1", topic=PAYMENTS_EVENTS)
class EntitlementGranted(EventData):
    """An approved case is owed a benefit from now on."""

    entitlement_id: str
    case_id: str
    benefit: Benefit
    payment: Literal["monthly", "lump_sum"]
    amount: Money = Field(description="Monthly amount of the first month, or the lump sum.")
    start_date: date
    end_date: date | None = Field(description="Last day covered; None = open-ended.")
    amount_schedule: list[ScheduledAmount] = Field(
        default_factory=list, description="Monthly amount by policy period."
    )
    granted_at: AwareDatetime


@event_model("dost.payments.PaymentInstructionIssued.v1", topic=PAYMENTS_EVENTS)
class PaymentInstructionIssued(EventData):
    """A payment run instructed the bank to pay these months (arrears folded in)."""

    instruction_id: str = Field(description="Also the end-to-end id in the bank file.")
    entitlement_id: str
    case_id: str
    period: MonthText = Field(description="The run's period, YYYY-MM.")
    months: list[MonthPaid]
    amount: Money
    issued_at: AwareDatetime


@event_model("dost.payments.PaymentSettled.v1", topic=PAYMENTS_EVENTS)
class PaymentSettled(EventData):
    """The bank credited the beneficiary."""

    instruction_id: str
    entitlement_id: str
    case_id: str
    amount: Money
    settled_at: AwareDatetime


@event_model("dost.payments.PaymentReturned.v1", topic=PAYMENTS_EVENTS)
class PaymentReturned(EventData):
    """The bank returned the money; the months are paid again by a later run."""

    instruction_id: str
    entitlement_id: str
    case_id: str
    amount: Money
    reason: str = Field(description="The bank's reason.")
    returned_at: AwareDatetime


@event_model("dost.payments.EntitlementSuspended.v1", topic=PAYMENTS_EVENTS)
class EntitlementSuspended(EventData):
    """Payments stop until new bank details are recorded (after repeated returns)."""

    entitlement_id: str
    case_id: str
    reason: Literal["bank_details"]
    suspended_at: AwareDatetime


@event_model("dost.payments.EntitlementResumed.v1", topic=PAYMENTS_EVENTS)
class EntitlementResumed(EventData):
    """New bank details were recorded; the months missed are paid as arrears."""

    entitlement_id: str
    case_id: str
    resumed_at: AwareDatetime


@event_model("dost.payments.EntitlementTerminated.v1", topic=PAYMENTS_EVENTS)
class EntitlementTerminated(EventData):
    """The entitlement ended: the person died (at the end of that month) or its end date
    passed with nothing left to pay."""

    entitlement_id: str
    case_id: str
    reason: Literal["death", "expired"]
    ends_on: date = Field(description="The last day the entitlement covers.")
    terminated_at: AwareDatetime


@event_model("dost.payments.OverpaymentDetected.v1", topic=PAYMENTS_EVENTS)
class OverpaymentDetected(EventData):
    """Months after the end of an entitlement were paid: the amount to recover."""

    entitlement_id: str
    case_id: str
    instruction_ids: list[str]
    months: list[MonthText]
    amount: Money
    detected_at: AwareDatetime
