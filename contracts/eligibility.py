"""Eligibility's events (topic `dost.eligibility.events.v1`): explainable decisions."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.registry import EventData, event_model
from contracts.topics import ELIGIBILITY_EVENTS
from contracts.types import Benefit, Money, NationalId, PlainText


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleCheck(_Part):
    """One rule that was checked, what it looked at, and whether it passed."""

    rule: str = Field(description="Rule name, e.g. `minimum_age`.")
    inputs: dict[str, str] = Field(description="The values the rule compared, as text.")
    passed: bool
    reason: str | None = Field(None, description="Reason code when the rule failed.")


class ScheduledAmount(_Part):
    """The monthly amount from a date on, under the policy in force from then."""

    effective_from: date
    amount: Money
    policy_version: str


class Award(_Part):
    """What an approval grants."""

    amount: Money = Field(description="Amount of the first month (or the lump sum), AZN.")
    payment: Literal["monthly", "lump_sum"]
    start_date: date = Field(description="First day covered (monthly) or the award date.")
    end_date: date | None = Field(None, description="Last day covered; None = open-ended.")
    amount_schedule: list[ScheduledAmount] = Field(
        default_factory=list,
        description="Monthly amount by policy period, for every policy known at decision time.",
    )


class Payee(_Part):
    """Who an approved award is paid to: the applicant, and the account they gave."""

    national_id: NationalId
    full_name: str
    bank_account: str | None = Field(
        None, description="IBAN the applicant gave; absent for a lump sum applied for without one."
    )


@event_model("dost.eligibility.EligibilityDecided.v1", topic=ELIGIBILITY_EVENTS)
class EligibilityDecided(EventData):
    """A case was approved or rejected, automatically or by a caseworker."""

    case_id: str
    benefit: Benefit
    outcome: Literal["approved", "rejected"]
    reasons: list[str] = Field(description="Rejection reason codes; empty when approved.")
    award: Award | None = Field(None, description="Present when approved.")
    payee: Payee | None = Field(None, description="Present when approved: who is paid.")
    policy_version: str
    rules: list[RuleCheck] = Field(description="Every rule checked, with inputs and result.")
    decided_at: AwareDatetime
    decided_by: str = Field(description="`automated`, or the caseworker's subject.")


@event_model("dost.eligibility.ReferredForReview.v1", topic=ELIGIBILITY_EVENTS)
class ReferredForReview(EventData):
    """The case needs a caseworker; `proposal` is what the rules would grant."""

    case_id: str
    benefit: Benefit
    review_reasons: list[str] = Field(description="Why a person must look at it.")
    proposal: Award | None
    policy_version: str
    rules: list[RuleCheck]
    referred_at: AwareDatetime


@event_model("dost.eligibility.ReviewCompleted.v1", topic=ELIGIBILITY_EVENTS)
class ReviewCompleted(EventData):
    """A caseworker (or a supervisor overriding an automated rejection) decided."""

    case_id: str
    outcome: Literal["approved", "rejected"]
    reasons: list[str]
    note: PlainText | None = None
    reviewed_by: str
    reviewed_at: AwareDatetime
    overrides_automated_rejection: bool = False


@event_model("dost.eligibility.WithdrawalRejected.v1", topic=ELIGIBILITY_EVENTS)
class WithdrawalRejected(EventData):
    """A withdrawal reached eligibility after the case was decided: the decision stands.

    Eligibility is the authority on whether a withdrawal came in time. Intake accepts a
    withdrawal before it has learned of a decision; when eligibility had decided first, it
    answers with this event and every context keeps the decision (the case is paid if
    approved). A withdrawal that came in time closes the case with no decision at all."""

    case_id: str
    decision: Literal["approved", "rejected"] = Field(description="The decision that stands.")
    reason: Literal["decided_before_withdrawal"] = "decided_before_withdrawal"
    withdrawal_id: str = Field(description="CloudEvent id of the ApplicationWithdrawn event.")
    rejected_at: AwareDatetime
