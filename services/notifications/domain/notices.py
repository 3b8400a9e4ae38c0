"""What a case's events mean for the citizen: the notice to give, and whether to give it.

A notice is one thing to tell (the decision, a payment, ...) about one event; it becomes one
message per channel the citizen gave. Two rules hold whatever order the events arrive in:
a person reported dead is told nothing more, and after a withdrawal only its confirmation
is sent (unless eligibility rejects the withdrawal: then the decision stands and is told).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    APPLICATION_RECEIVED = "application_received"
    APPROVED = "approved"
    REJECTED = "rejected"
    REFERRED_FOR_REVIEW = "referred_for_review"
    PAYMENT_SETTLED = "payment_settled"
    PAYMENT_RETURNED = "payment_returned"
    SUSPENDED = "suspended"
    ENDED = "ended"
    WITHDRAWN = "withdrawn"

    @property
    def is_decision(self) -> bool:
        return self in (Kind.APPROVED, Kind.REJECTED)


class NoticeState(StrEnum):
    OPEN = "open"  # to be told (as soon as the citizen's contact details are known)
    HELD = "held"  # the case was withdrawn; told only if eligibility rejects the withdrawal
    DROPPED = "dropped"  # never to be told


@dataclass(frozen=True)
class Notice:
    """One thing to tell the citizen of a case, about one event."""

    event_id: str
    case_id: str
    kind: Kind
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseStanding:
    """What decides whether a case's citizen may still be told something."""

    person_dead: bool = False
    withdrawn: bool = False
    decided: bool = False


def state_of(notice: Notice, standing: CaseStanding) -> tuple[NoticeState, str | None]:
    """Whether `notice` is told, held or dropped, with why when it is not told."""
    if standing.person_dead:
        return NoticeState.DROPPED, "person_reported_dead"
    if notice.kind is Kind.WITHDRAWN:
        if standing.decided:  # it crossed the decision: eligibility will reject it
            return NoticeState.DROPPED, "decided_before_withdrawal"
        return NoticeState.OPEN, None
    if standing.withdrawn and notice.kind is not Kind.APPLICATION_RECEIVED:
        return NoticeState.HELD, "withdrawn"
    return NoticeState.OPEN, None
