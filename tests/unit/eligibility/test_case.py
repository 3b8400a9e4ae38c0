"""The eligibility case: automated decisions, reviews, four-eyes, withdrawals, deaths."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chassis.event_types import EventTypes
from services.eligibility.domain.case import (
    AUTOMATED,
    CaseState,
    Decided,
    EligibilityCase,
    Referred,
    WithdrawalRejected,
)
from services.eligibility.domain.errors import ApprovalBlocked, NotReviewable, ReviewForbidden
from services.eligibility.domain.events import STORED_EVENTS
from services.eligibility.domain.rules import Circumstances
from tests.unit.eligibility.policy_fixtures import BOOK, CLEAR, applying

NOW = datetime(2026, 6, 15, 9, tzinfo=UTC)
EVENT_TYPES = EventTypes()
EVENT_TYPES.register_all(STORED_EVENTS)


def to_stored(event: object) -> tuple[str, int, dict[str, Any]]:
    """(type name, schema version, data) as a row holds them, through real JSON."""
    row = EVENT_TYPES.to_new_event(event)
    return row.event_type, row.schema_version, json.loads(json.dumps(row.data))


def from_stored(name: str, data: dict[str, Any]) -> Any:
    return EVENT_TYPES.to_event(name, 1, data)


REFERRED = applying("disability_benefit", disability_group=2, assessment_date="2026-05-01")
REJECTED_FOR_AGE = applying("old_age_pension", born=date(1970, 1, 1), insurance_years=30)


def review(
    case: EligibilityCase,
    *,
    approve: bool = True,
    reasons: Sequence[str] = (),
    note: str | None = None,
    reviewer: str = "cw-1",
    supervisor: bool = False,
    circumstances: Circumstances = CLEAR,
) -> None:
    case.review(
        approve=approve,
        reasons=reasons,
        note=note,
        reviewer=reviewer,
        reviewer_is_supervisor=supervisor,
        circumstances=circumstances,
        at=NOW,
    )


def decided(application: object, circumstances: Circumstances = CLEAR) -> EligibilityCase:
    case = EligibilityCase.receive(application, NOW)  # type: ignore[arg-type]
    case.decide(BOOK, circumstances, NOW)
    return case


def test_referred_case_is_approved_by_a_caseworker_with_the_proposed_award() -> None:
    case = decided(REFERRED)
    assert case.state is CaseState.UNDER_REVIEW
    review(case, note="seen")
    decision = case.pending[-1]
    assert isinstance(decision, Decided)
    assert (case.state, decision.decided_by, decision.note) == (CaseState.APPROVED, "cw-1", "seen")


def test_rejection_on_review_needs_known_reasons() -> None:
    case = decided(REFERRED)
    with pytest.raises(NotReviewable):
        review(case, approve=False)
    with pytest.raises(NotReviewable):
        review(case, approve=False, reasons=["looks_odd"])
    review(case, approve=False, reasons=["not_eligible_on_review"])
    assert case.state is CaseState.REJECTED


def test_nobody_decides_a_case_they_submitted() -> None:
    case = decided(REFERRED)
    with pytest.raises(ReviewForbidden, match="four-eyes"):
        review(case, reviewer="clerk-1", supervisor=True)


def test_deciding_twice_is_refused() -> None:
    case = decided(REFERRED)
    review(case)
    with pytest.raises(NotReviewable):
        review(case, reviewer="cw-2")


def test_overriding_an_automated_rejection_needs_a_supervisor() -> None:
    case = decided(REJECTED_FOR_AGE)
    assert case.state is CaseState.REJECTED
    with pytest.raises(ReviewForbidden, match="supervisor"):
        review(case)
    review(case, note="hardship", reviewer="sup-1", supervisor=True)
    override = case.pending[-1]
    assert isinstance(override, Decided)
    assert override.overrides_automated_rejection
    assert case.state.value == "approved"


def test_automated_approval_has_nothing_to_review() -> None:
    case = decided(applying("old_age_pension", born=date(1950, 1, 1), insurance_years=30))
    assert case.state is CaseState.APPROVED
    with pytest.raises(NotReviewable):
        review(case, approve=False, reasons=["age_below_minimum"], reviewer="s", supervisor=True)


def test_a_death_rejection_cannot_be_overridden() -> None:
    case = decided(REJECTED_FOR_AGE, Circumstances(deceased=True, already_receiving=False))
    with pytest.raises(NotReviewable):
        review(case, reviewer="sup-1", supervisor=True)


def test_withdrawn_case_gets_no_decision() -> None:
    case = EligibilityCase.receive(REFERRED, NOW)
    case.withdraw("withdrawal-1", NOW)
    case.decide(BOOK, CLEAR, NOW)
    assert case.state is CaseState.WITHDRAWN
    assert not any(isinstance(e, Decided | Referred) for e in case.pending)


def test_withdrawal_after_a_decision_is_rejected_and_the_decision_stands() -> None:
    case = decided(applying("old_age_pension", born=date(1950, 1, 1), insurance_years=30))
    case.withdraw("withdrawal-1", NOW)
    rejection = case.pending[-1]
    assert isinstance(rejection, WithdrawalRejected)
    assert (rejection.withdrawal_id, rejection.decision) == ("withdrawal-1", "approved")
    assert case.state is CaseState.APPROVED
    events = len(case.pending)
    case.withdraw("withdrawal-1", NOW)  # the same withdrawal again: answered once
    assert len(case.pending) == events


def test_withdrawal_of_a_case_under_review_closes_it_and_a_review_is_refused() -> None:
    case = decided(REFERRED)
    case.withdraw("withdrawal-1", NOW)
    assert case.state is CaseState.WITHDRAWN
    with pytest.raises(NotReviewable):
        review(case)


@pytest.mark.parametrize(
    "known",
    [
        Circumstances(deceased=True, already_receiving=False),
        Circumstances(deceased=False, already_receiving=True),
    ],
    ids=["reported-dead", "already-receiving"],
)
def test_review_cannot_approve_what_is_known_now_to_forbid_it(known: Circumstances) -> None:
    case = decided(REFERRED)
    with pytest.raises(ApprovalBlocked):
        review(case, circumstances=known)
    assert case.state.value == "under_review"
    review(
        case,
        approve=False,
        reasons=["deceased" if known.deceased else "already_receiving"],
        circumstances=known,
    )
    assert case.state is CaseState.REJECTED


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
    review(case)
    stored = [to_stored(event) for event in case.pending]
    replayed = EligibilityCase.replay(
        "case-1", [from_stored(name, data) for name, _, data in stored]
    )
    assert replayed.state is CaseState.APPROVED
    assert replayed.assessment == case.assessment
    assert replayed.application == case.application
