"""The Application aggregate: a citizen's request for one benefit, from submission until a
decision is known; changes state only by applying its own events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from chassis.aggregate import Aggregate
from services.intake.domain.errors import CannotWithdraw


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


WITHDRAWABLE = frozenset({ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW})


@dataclass(frozen=True)
class ApplicationSubmitted:
    case_id: str
    application: Mapping[str, Any]  # the validated application body, in its JSON form
    submitted_at: datetime
    channel: str
    submitted_by: str


@dataclass(frozen=True)
class ApplicationWithdrawn:
    case_id: str
    withdrawn_at: datetime
    withdrawn_by: str
    reason: str | None


@dataclass(frozen=True)
class DecisionNoted:
    """Eligibility's outcome as intake learned it: approved, rejected or under_review."""

    case_id: str
    outcome: str
    noted_at: datetime


@dataclass(frozen=True)
class WithdrawalOverruled:
    """Eligibility had decided before the withdrawal reached it: the decision stands."""

    case_id: str
    decision: str
    noted_at: datetime


ApplicationEvent = ApplicationSubmitted | ApplicationWithdrawn | DecisionNoted | WithdrawalOverruled


@dataclass
class Application(Aggregate):
    stream_prefix: ClassVar[str] = "application"

    case_id: str
    status: ApplicationStatus = ApplicationStatus.SUBMITTED
    submitted_by: str = ""

    @property
    def aggregate_id(self) -> str:
        return self.case_id

    @classmethod
    def blank(cls, aggregate_id: str) -> Application:
        return cls(case_id=aggregate_id)

    @classmethod
    def submit(
        cls,
        *,
        case_id: str,
        application: Mapping[str, Any],
        submitted_at: datetime,
        channel: str,
        submitted_by: str,
    ) -> Application:
        new = cls(case_id=case_id)
        new.record(ApplicationSubmitted(case_id, application, submitted_at, channel, submitted_by))
        return new

    def withdraw(self, *, withdrawn_by: str, withdrawn_at: datetime, reason: str | None) -> None:
        self._check_withdrawable()
        self.record(ApplicationWithdrawn(self.case_id, withdrawn_at, withdrawn_by, reason))

    def note_decision(self, *, outcome: ApplicationStatus, noted_at: datetime) -> None:
        """Record what eligibility decided. After a withdrawal it is still recorded, for
        the audit trail, but the application stays withdrawn."""
        if outcome == self.status:
            return
        self.record(DecisionNoted(self.case_id, outcome.value, noted_at))

    def overrule_withdrawal(self, *, decision: ApplicationStatus, noted_at: datetime) -> None:
        """Eligibility, the authority on timing, decided before the withdrawal reached it:
        the application is no longer withdrawn but decided."""
        if self.status is ApplicationStatus.WITHDRAWN:
            self.record(WithdrawalOverruled(self.case_id, decision.value, noted_at))

    def _check_withdrawable(self) -> None:
        if self.status not in WITHDRAWABLE:
            raise CannotWithdraw(f"an application that is {self.status} cannot be withdrawn")

    def apply(self, event: ApplicationEvent) -> None:
        match event:
            case ApplicationSubmitted():
                self.status = ApplicationStatus.SUBMITTED
                self.submitted_by = event.submitted_by
            case ApplicationWithdrawn():
                self.status = ApplicationStatus.WITHDRAWN
            case DecisionNoted():
                if self.status is not ApplicationStatus.WITHDRAWN:
                    self.status = ApplicationStatus(event.outcome)
            case WithdrawalOverruled():
                self.status = ApplicationStatus(event.decision)
