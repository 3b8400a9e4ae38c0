"""Folding a case's timeline into what the tracker shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.projections import TimelineEntry, fold_case

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def entry(minute: int, event_type: str, **data: Any) -> TimelineEntry:
    return TimelineEntry(f"e{minute}", event_type, "urn:x", T0 + timedelta(minutes=minute), data)


SUBMITTED = entry(
    0,
    "dost.intake.ApplicationSubmitted.v1",
    application={
        "benefit": "old_age_pension",
        "center_id": "c",
        "applicant": {"national_id": "5ZK7PQM"},
    },
)


def test_submitted_case_shows_the_application() -> None:
    view = fold_case("c-1", [SUBMITTED])
    assert (view.status, view.benefit, view.national_id) == (
        "submitted",
        "old_age_pension",
        "5ZK7PQM",
    )
    assert view.submitted_at == T0


def test_decision_entitlements_payments_and_notifications_are_collected() -> None:
    view = fold_case(
        "c-1",
        [
            SUBMITTED,
            entry(1, "dost.eligibility.ReferredForReview.v1", reason="x"),
            entry(2, "dost.eligibility.ReviewCompleted.v1", outcome="approved"),
            entry(3, "dost.payments.EntitlementGranted.v1", amount="280.00"),
            entry(4, "dost.payments.PaymentInstructionIssued.v1", amount="280.00"),
            entry(5, "dost.notifications.NotificationSent.v1", channel="sms"),
            entry(6, "dost.payments.EntitlementSuspended.v1"),
        ],
    )
    assert view.status == "suspended"
    assert view.decision is not None
    assert view.decision["outcome"] == "approved"
    assert [len(view.entitlements), len(view.payments), len(view.notifications)] == [1, 1, 1]


def test_withdrawal_is_final_even_if_a_decision_follows() -> None:
    view = fold_case(
        "c-1",
        [
            SUBMITTED,
            entry(1, "dost.intake.ApplicationWithdrawn.v1"),
            entry(2, "dost.eligibility.EligibilityDecided.v1", outcome="approved"),
        ],
    )
    assert view.status == "withdrawn"
    assert view.decision is not None
