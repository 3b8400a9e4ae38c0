"""The Application aggregate: a citizen's request for one benefit, from submission until a
decision is known; changes state only by applying its own events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

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
class Application:
    case_id: str
    status: ApplicationStatus = ApplicationStatus.SUBMITTED
    version: int = 0
    submitted_by: str = ""
    pending: list[ApplicationEvent] = field(default_factory=list)

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
        new._record(ApplicationSubmitted(case_id, application, submitted_at, channel, submitted_by))
        return new

    @classmethod
    def replay(cls, case_id: str, events: Iterable[ApplicationEvent]) -> Application:
        application = cls(case_id=case_id)
        for event in events:
            application._apply(event)
            application.version += 1
        return application

    def withdraw(self, *, withdrawn_by: str, withdrawn_at: datetime, reason: str | None) -> None:
        self._check_withdrawable()
        self._record(ApplicationWithdrawn(self.case_id, withdrawn_at, withdrawn_by, reason))

    def note_decision(self, *, outcome: ApplicationStatus, noted_at: datetime) -> None:
        """Record what eligibility decided. After a withdrawal it is still recorded, for
        the audit trail, but the application stays withdrawn."""
        if outcome == self.status:
            return
        self._record(DecisionNoted(self.case_id, outcome.value, noted_at))

    def overrule_withdrawal(self, *, decision: ApplicationStatus, noted_at: datetime) -> None:
        """Eligibility, the authority on timing, decided before the withdrawal reached it:
        the application is no longer withdrawn but decided."""
        if self.status is ApplicationStatus.WITHDRAWN:
            self._record(WithdrawalOverruled(self.case_id, decision.value, noted_at))

    def _check_withdrawable(self) -> None:
        if self.status not in WITHDRAWABLE:
            raise CannotWithdraw(f"an application that is {self.status} cannot be withdrawn")

    def _record(self, event: ApplicationEvent) -> None:
        self._apply(event)
        self.pending.append(event)

    def _apply(self, event: ApplicationEvent) -> None:
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
