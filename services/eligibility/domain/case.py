"""The eligibility case: one application's way to a decision, automated or by review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import ClassVar

from chassis.aggregate import Aggregate
from services.eligibility.domain.errors import ApprovalBlocked, NotReviewable, ReviewForbidden
from services.eligibility.domain.policy import PolicyBook
from services.eligibility.domain.rules import (
    APPROVED,
    REJECTED,
    REJECTION_REASONS,
    ApplicationFacts,
    Assessment,
    Circumstances,
    assess,
)

AUTOMATED = "automated"


class CaseState(StrEnum):
    RECEIVED = "received"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ApplicationReceived:
    application: ApplicationFacts
    received_at: datetime


@dataclass(frozen=True)
class Decided:
    """Approved or rejected, by the rules (`decided_by` automated) or by a reviewer."""

    assessment: Assessment
    outcome: str
    reasons: tuple[str, ...]
    decided_at: datetime
    decided_by: str
    note: str | None = None
    overrides_automated_rejection: bool = False


@dataclass(frozen=True)
class Referred:
    assessment: Assessment
    referred_at: datetime


@dataclass(frozen=True)
class Withdrawn:
    withdrawn_at: datetime


@dataclass(frozen=True)
class WithdrawalRejected:
    """A withdrawal came after the decision: the decision stands."""

    withdrawal_id: str
    decision: str
    rejected_at: datetime


@dataclass(frozen=True)
class AwardEnded:
    """Payments ended the entitlement the approval granted (death, or its end date)."""

    ended_on: date
    reason: str
    ended_at: datetime


CaseEvent = ApplicationReceived | Decided | Referred | Withdrawn | WithdrawalRejected | AwardEnded


@dataclass
class EligibilityCase(Aggregate):
    stream_prefix: ClassVar[str] = "eligibility"

    case_id: str
    state: CaseState = CaseState.RECEIVED
    application: ApplicationFacts | None = None
    assessment: Assessment | None = None
    decided_by: str | None = None
    rejected_withdrawals: set[str] = field(default_factory=set)
    award_ended_on: date | None = None

    @property
    def aggregate_id(self) -> str:
        return self.case_id

    @classmethod
    def blank(cls, aggregate_id: str) -> EligibilityCase:
        return cls(case_id=aggregate_id)

    @classmethod
    def receive(cls, application: ApplicationFacts, received_at: datetime) -> EligibilityCase:
        case = cls(case_id=application.case_id)
        case.record(ApplicationReceived(application, received_at))
        return case

    @property
    def applicant(self) -> ApplicationFacts:
        assert self.application is not None
        return self.application

    def decide(self, book: PolicyBook, circumstances: Circumstances, at: datetime) -> None:
        """Apply the rules: approve, reject, or refer to a caseworker."""
        if self.state is not CaseState.RECEIVED:
            return  # withdrawn before its turn, or decided already
        assessment = assess(self.applicant, book, circumstances)
        if assessment.outcome in (APPROVED, REJECTED):
            self.record(Decided(assessment, assessment.outcome, assessment.reasons, at, AUTOMATED))
        else:
            self.record(Referred(assessment, at))

    def review(
        self,
        *,
        approve: bool,
        reasons: Sequence[str],
        note: str | None,
        reviewer: str,
        reviewer_is_supervisor: bool,
        circumstances: Circumstances,
        at: datetime,
    ) -> None:
        """A person decides: a referred case (caseworker), or an automated rejection
        overridden (supervisor). Nobody decides a case they submitted, and nobody approves
        for a person reported dead or already receiving the benefit (as known now)."""
        overriding = self._check_reviewable(approve)
        if overriding and not reviewer_is_supervisor:
            raise ReviewForbidden("overriding an automated rejection needs a supervisor")
        if reviewer == self.applicant.submitted_by:
            raise ReviewForbidden("nobody may decide a case they submitted (four-eyes)")
        reasons = tuple(reasons)
        self._check_reasons(approve, reasons)
        if approve:
            self._check_approvable(circumstances)
        assert self.assessment is not None
        outcome = APPROVED if approve else REJECTED
        self.record(Decided(self.assessment, outcome, reasons, at, reviewer, note, overriding))

    def withdraw(self, withdrawal_id: str, at: datetime) -> None:
        """A withdrawal before a decision closes the case without one; after the decision
        it is rejected and the decision stands. This case is the authority on which came
        first."""
        if self.state in (CaseState.RECEIVED, CaseState.UNDER_REVIEW):
            self.record(Withdrawn(at))
        elif (
            self.state in (CaseState.APPROVED, CaseState.REJECTED)
            and withdrawal_id not in self.rejected_withdrawals
        ):
            self.record(WithdrawalRejected(withdrawal_id, self.state.value, at))

    def end_award(self, ended_on: date, reason: str, at: datetime) -> None:
        """The approved award's entitlement ended: the person no longer receives it (and
        may apply again). Only once."""
        if self.state is CaseState.APPROVED and self.award_ended_on is None:
            self.record(AwardEnded(ended_on, reason, at))

    def close_for_death(self, at: datetime) -> None:
        """The applicant died while the case waited for a review: it is rejected."""
        if self.state is CaseState.UNDER_REVIEW:
            assert self.assessment is not None
            self.record(Decided(self.assessment, REJECTED, ("deceased",), at, AUTOMATED))

    def _check_reviewable(self, approve: bool) -> bool:
        """Whether the review would override an automated rejection."""
        if self.state is CaseState.UNDER_REVIEW:
            return False
        if self.state is CaseState.REJECTED and self.decided_by == AUTOMATED and approve:
            assert self.assessment is not None
            if "deceased" in self.assessment.reasons:
                raise NotReviewable("a rejection because the applicant died cannot be overridden")
            return True
        raise NotReviewable(f"the case is {self.state} and has nothing to review")

    @staticmethod
    def _check_approvable(circumstances: Circumstances) -> None:
        if circumstances.deceased:
            raise ApprovalBlocked("the applicant was reported dead: the case cannot be approved")
        if circumstances.already_receiving:
            raise ApprovalBlocked(
                "the applicant already receives this benefit: the case cannot be approved"
            )

    @staticmethod
    def _check_reasons(approve: bool, reasons: tuple[str, ...]) -> None:
        unknown = [reason for reason in reasons if reason not in REJECTION_REASONS]
        if unknown:
            raise NotReviewable(f"unknown reason codes: {', '.join(unknown)}")
        if not approve and not reasons:
            raise NotReviewable("a rejection needs at least one reason")

    def apply(self, event: CaseEvent) -> None:
        match event:
            case ApplicationReceived():
                self.application = event.application
                self.state = CaseState.RECEIVED
            case Decided():
                self.assessment = event.assessment
                self.decided_by = event.decided_by
                self.state = CaseState(event.outcome)
            case Referred():
                self.assessment = event.assessment
                self.state = CaseState.UNDER_REVIEW
            case Withdrawn():
                self.state = CaseState.WITHDRAWN
            case WithdrawalRejected():
                self.rejected_withdrawals.add(event.withdrawal_id)
            case AwardEnded():
                self.award_ended_on = event.ended_on
