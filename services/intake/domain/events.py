"""How the Application's events are stored: explicit type names and schema versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.domain.application import (
    ApplicationEvent,
    ApplicationSubmitted,
    ApplicationWithdrawn,
    DecisionNoted,
    WithdrawalOverruled,
)

SUBMITTED = "intake.ApplicationSubmitted"
WITHDRAWN = "intake.ApplicationWithdrawn"
DECISION_NOTED = "intake.DecisionNoted"
WITHDRAWAL_OVERRULED = "intake.WithdrawalOverruled"


def to_stored(event: ApplicationEvent) -> tuple[str, int, dict[str, Any]]:
    """(type name, schema version, JSON data) of `event`."""
    match event:
        case ApplicationSubmitted():
            return (
                SUBMITTED,
                1,
                {
                    "case_id": event.case_id,
                    "application": dict(event.application),
                    "submitted_at": event.submitted_at.isoformat(),
                    "channel": event.channel,
                    "submitted_by": event.submitted_by,
                },
            )
        case ApplicationWithdrawn():
            return (
                WITHDRAWN,
                1,
                {
                    "case_id": event.case_id,
                    "withdrawn_at": event.withdrawn_at.isoformat(),
                    "withdrawn_by": event.withdrawn_by,
                    "reason": event.reason,
                },
            )
        case DecisionNoted():
            return (
                DECISION_NOTED,
                1,
                {
                    "case_id": event.case_id,
                    "outcome": event.outcome,
                    "noted_at": event.noted_at.isoformat(),
                },
            )
        case WithdrawalOverruled():
            return (
                WITHDRAWAL_OVERRULED,
                1,
                {
                    "case_id": event.case_id,
                    "decision": event.decision,
                    "noted_at": event.noted_at.isoformat(),
                },
            )


def from_stored(event_type: str, data: dict[str, Any]) -> ApplicationEvent:
    """The domain event a stored row holds."""
    if event_type == SUBMITTED:
        return ApplicationSubmitted(
            data["case_id"],
            data["application"],
            datetime.fromisoformat(data["submitted_at"]),
            data["channel"],
            data["submitted_by"],
        )
    if event_type == WITHDRAWN:
        return ApplicationWithdrawn(
            data["case_id"],
            datetime.fromisoformat(data["withdrawn_at"]),
            data["withdrawn_by"],
            data["reason"],
        )
    if event_type == DECISION_NOTED:
        return DecisionNoted(
            data["case_id"], data["outcome"], datetime.fromisoformat(data["noted_at"])
        )
    if event_type == WITHDRAWAL_OVERRULED:
        return WithdrawalOverruled(
            data["case_id"], data["decision"], datetime.fromisoformat(data["noted_at"])
        )
    raise ValueError(f"unknown stored event type {event_type!r}")
