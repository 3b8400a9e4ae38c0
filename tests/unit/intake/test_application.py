"""The Application aggregate, in memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chassis.event_types import EventTypes
from services.intake.domain.application import (
    Application,
    ApplicationStatus,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    DecisionNoted,
)
from services.intake.domain.errors import CannotWithdraw
from services.intake.domain.events import STORED_EVENTS

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
EVENT_TYPES = EventTypes()
EVENT_TYPES.register_all(STORED_EVENTS)


def to_stored(event: object) -> tuple[str, int, dict[str, Any]]:
    """(type name, schema version, data) as a row holds them, through real JSON."""
    row = EVENT_TYPES.to_new_event(event)
    return row.event_type, row.schema_version, json.loads(json.dumps(row.data))


def from_stored(name: str, data: dict[str, Any]) -> Any:
    return EVENT_TYPES.to_event(name, 1, data)


def submitted() -> Application:
    application = Application.submit(
        case_id="c-1",
        application={"benefit": "x"},
        submitted_at=NOW,
        channel="http",
        submitted_by="clerk-1",
    )
    return Application.replay("c-1", application.pending)


def test_submit_records_one_event_and_starts_submitted() -> None:
    application = Application.submit(
        case_id="c-1",
        application={"benefit": "x"},
        submitted_at=NOW,
        channel="http",
        submitted_by="clerk-1",
    )
    assert application.status is ApplicationStatus.SUBMITTED
    assert [type(event) for event in application.pending] == [ApplicationSubmitted]


@pytest.mark.parametrize("status", [ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW])
def test_withdraw_is_allowed_before_a_decision(status: ApplicationStatus) -> None:
    application = submitted()
    application.note_decision(outcome=status, noted_at=NOW)
    application.withdraw(withdrawn_by="clerk-2", withdrawn_at=NOW, reason=None)
    assert application.status is ApplicationStatus.WITHDRAWN
    assert isinstance(application.pending[-1], ApplicationWithdrawn)


@pytest.mark.parametrize("outcome", [ApplicationStatus.APPROVED, ApplicationStatus.REJECTED])
def test_withdraw_after_a_decision_is_refused_and_records_nothing(
    outcome: ApplicationStatus,
) -> None:
    application = submitted()
    application.note_decision(outcome=outcome, noted_at=NOW)
    recorded = list(application.pending)
    with pytest.raises(CannotWithdraw):
        application.withdraw(withdrawn_by="clerk-2", withdrawn_at=NOW, reason=None)
    assert application.pending == recorded


def test_withdrawn_twice_is_refused() -> None:
    application = submitted()
    application.withdraw(withdrawn_by="c", withdrawn_at=NOW, reason="moved")
    with pytest.raises(CannotWithdraw):
        application.withdraw(withdrawn_by="c", withdrawn_at=NOW, reason="moved")


def test_late_decision_is_kept_but_the_application_stays_withdrawn() -> None:
    application = submitted()
    application.withdraw(withdrawn_by="c", withdrawn_at=NOW, reason=None)
    application.note_decision(outcome=ApplicationStatus.APPROVED, noted_at=NOW)
    assert isinstance(application.pending[-1], DecisionNoted)
    assert application.status is ApplicationStatus.WITHDRAWN


def test_withdrawal_overruled_by_an_earlier_decision_makes_the_application_decided() -> None:
    application = submitted()
    application.withdraw(withdrawn_by="c", withdrawn_at=NOW, reason=None)
    application.overrule_withdrawal(decision=ApplicationStatus.APPROVED, noted_at=NOW)
    assert application.status is ApplicationStatus.APPROVED
    overruled = application.pending[-1]
    stored = [to_stored(event) for event in application.pending]
    replayed = Application.replay("c-1", [from_stored(name, data) for name, _, data in stored])
    assert replayed.status is ApplicationStatus.APPROVED
    assert stored[-1][0] == "intake.WithdrawalOverruled"
    events = len(application.pending)
    application.overrule_withdrawal(decision=ApplicationStatus.APPROVED, noted_at=NOW)
    assert len(application.pending) == events  # only a withdrawn application is overruled
    assert application.pending[-1] is overruled


def test_replaying_stored_events_rebuilds_the_same_state() -> None:
    application = submitted()
    application.note_decision(outcome=ApplicationStatus.UNDER_REVIEW, noted_at=NOW)
    application.withdraw(withdrawn_by="c", withdrawn_at=NOW, reason="r")
    stored = [to_stored(event) for event in application.pending]
    replayed = Application.replay("c-1", [from_stored(name, data) for name, _, data in stored])
    assert replayed.status is ApplicationStatus.WITHDRAWN
    assert replayed.version == 2
    assert [name for name, version, _ in stored] == [
        "intake.DecisionNoted",
        "intake.ApplicationWithdrawn",
    ]
    assert all(version == 1 for _, version, _ in stored)
