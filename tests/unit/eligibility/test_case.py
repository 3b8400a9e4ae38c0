"""The eligibility case: automated decisions, reviews, four-eyes, withdrawals, deaths."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.eligibility.domain.case import (
    AUTOMATED,
    CaseState,
    Decided,
    EligibilityCase,
    Referred,
)
from services.eligibility.domain.errors import NotReviewable, ReviewForbidden
from services.eligibility.domain.events import from_stored, to_stored
from services.eligibility.domain.rules import Circumstances
from tests.unit.eligibility.policy_fixtures import BOOK, CLEAR, applying

NOW = datetime(2026, 6, 15, 9, tzinfo=UTC)
REFERRED = applying("disability_benefit", disability_group=2, assessment_date="2026-05-01")
REJECTED_FOR_AGE = applying("old_age_pension", born=date(1970, 1, 1), insurance_years=30)


def decided(application: object, circumstances: Circumstances = CLEAR) -> EligibilityCase:
    case = EligibilityCase.receive(application, NOW)  # type: ignore[arg-type]
    case.decide(BOOK, circumstances, NOW)
    return case


def test_referred_case_is_approved_by_a_caseworker_with_the_proposed_award() -> None:
    case = decided(REFERRED)
    assert case.state is CaseState.UNDER_REVIEW
    case.review(
        approve=True, reasons=[], note="seen", reviewer="cw-1", reviewer_is_supervisor=False, at=NOW
    )
    decision = case.pending[-1]
    assert isinstance(decision, Decided)
    assert (case.state, decision.decided_by, decision.note) == (CaseState.APPROVED, "cw-1", "seen")


def test_rejection_on_review_needs_known_reasons() -> None:
    case = decided(REFERRED)
    with pytest.raises(NotReviewable):
        case.review(
            approve=False,
            reasons=[],
            note=None,
            reviewer="cw-1",
            reviewer_is_supervisor=False,
            at=NOW,
        )
    with pytest.raises(NotReviewable):
        case.review(
            approve=False,
            reasons=["looks_odd"],
            note=None,
            reviewer="cw-1",
            reviewer_is_supervisor=False,
            at=NOW,
        )
    case.review(
        approve=False,
        reasons=["not_eligible_on_review"],
        note=None,
        reviewer="cw-1",
        reviewer_is_supervisor=False,
        at=NOW,
    )
    assert case.state is CaseState.REJECTED


def test_nobody_decides_a_case_they_submitted() -> None:
    case = decided(REFERRED)
    with pytest.raises(ReviewForbidden, match="four-eyes"):
        case.review(
            approve=True,
            reasons=[],
            note=None,
            reviewer="clerk-1",
            reviewer_is_supervisor=True,
            at=NOW,
        )


def test_deciding_twice_is_refused() -> None:
    case = decided(REFERRED)
    case.review(
        approve=True, reasons=[], note=None, reviewer="cw-1", reviewer_is_supervisor=False, at=NOW
    )
    with pytest.raises(NotReviewable):
        case.review(
            approve=True,
            reasons=[],
            note=None,
            reviewer="cw-2",
            reviewer_is_supervisor=False,
            at=NOW,
        )


def test_overriding_an_automated_rejection_needs_a_supervisor() -> None:
    case = decided(REJECTED_FOR_AGE)
    assert case.state is CaseState.REJECTED
    with pytest.raises(ReviewForbidden, match="supervisor"):
        case.review(
            approve=True,
            reasons=[],
            note=None,
            reviewer="cw-1",
            reviewer_is_supervisor=False,
            at=NOW,
        )
    case.review(
        approve=True,
        reasons=[],
        note="hardship",
        reviewer="sup-1",
        reviewer_is_supervisor=True,
        at=NOW,
    )
    override = case.pending[-1]
    assert isinstance(override, Decided)
    assert override.overrides_automated_rejection
    assert case.state.value == "approved"


def test_automated_approval_has_nothing_to_review() -> None:
    case = decided(applying("old_age_pension", born=date(1950, 1, 1), insurance_years=30))
    assert case.state is CaseState.APPROVED
    with pytest.raises(NotReviewable):
        case.review(
            approve=False,
            reasons=["age_below_minimum"],
            note=None,
            reviewer="s",
            reviewer_is_supervisor=True,
            at=NOW,
        )


def test_a_death_rejection_cannot_be_overridden() -> None:
    case = decided(REJECTED_FOR_AGE, Circumstances(deceased=True, already_receiving=False))
    with pytest.raises(NotReviewable):
        case.review(
            approve=True,
            reasons=[],
            note=None,
            reviewer="sup-1",
            reviewer_is_supervisor=True,
            at=NOW,
        )


def test_withdrawn_case_gets_no_decision() -> None:
    case = EligibilityCase.receive(REFERRED, NOW)
    case.withdraw(NOW)
    case.decide(BOOK, CLEAR, NOW)
    assert case.state is CaseState.WITHDRAWN
    assert not any(isinstance(e, Decided | Referred) for e in case.pending)


def test_withdrawal_after_a_decision_changes_nothing() -> None:
    case = decided(applying("old_age_pension", born=date(1950, 1, 1), insurance_years=30))
    events = len(case.pending)
    case.withdraw(NOW)
    assert (case.state, len(case.pending)) == (CaseState.APPROVED, events)


def test_death_closes_a_pending_review_as_rejected_deceased() -> None:
    case = decided(REFERRED)
    case.close_for_death(NOW)
    closing = case.pending[-1]
    assert isinstance(closing, Decided)
    assert (closing.outcome, closing.reasons, closing.decided_by) == (
        "rejected",
        ("deceased",),
        AUTOMATED,
    )


def test_stored_events_replay_to_the_same_case() -> None:
    case = decided(REFERRED)
    case.review(
        approve=True, reasons=[], note=None, reviewer="cw-1", reviewer_is_supervisor=False, at=NOW
    )
    stored = [to_stored(event) for event in case.pending]
    replayed = EligibilityCase.replay(
        "case-1", [from_stored(name, data) for name, _, data in stored]
    )
    assert replayed.state is CaseState.APPROVED
    assert replayed.assessment == case.assessment
    assert replayed.application == case.application
