"""How the eligibility case's events are stored: explicit type names and schema versions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from services.eligibility.domain.case import (
    ApplicationReceived,
    CaseEvent,
    Decided,
    Referred,
    WithdrawalRejected,
    Withdrawn,
)
from services.eligibility.domain.rules import (
    ApplicationFacts,
    Assessment,
    Award,
    RuleResult,
    ScheduledAmount,
)

RECEIVED = "eligibility.ApplicationReceived"
DECIDED = "eligibility.Decided"
REFERRED = "eligibility.Referred"
WITHDRAWN = "eligibility.Withdrawn"
WITHDRAWAL_REJECTED = "eligibility.WithdrawalRejected"


def to_stored(event: CaseEvent) -> tuple[str, int, dict[str, Any]]:
    """(type name, schema version, JSON data) of `event`."""
    match event:
        case ApplicationReceived():
            return (
                RECEIVED,
                1,
                {
                    "application": application_to_json(event.application),
                    "received_at": event.received_at.isoformat(),
                },
            )
        case Decided():
            return (
                DECIDED,
                1,
                {
                    "assessment": assessment_to_json(event.assessment),
                    "outcome": event.outcome,
                    "reasons": list(event.reasons),
                    "decided_at": event.decided_at.isoformat(),
                    "decided_by": event.decided_by,
                    "note": event.note,
                    "overrides_automated_rejection": event.overrides_automated_rejection,
                },
            )
        case Referred():
            return (
                REFERRED,
                1,
                {
                    "assessment": assessment_to_json(event.assessment),
                    "referred_at": event.referred_at.isoformat(),
                },
            )
        case Withdrawn():
            return WITHDRAWN, 1, {"withdrawn_at": event.withdrawn_at.isoformat()}
        case WithdrawalRejected():
            return (
                WITHDRAWAL_REJECTED,
                1,
                {
                    "withdrawal_id": event.withdrawal_id,
                    "decision": event.decision,
                    "rejected_at": event.rejected_at.isoformat(),
                },
            )


def from_stored(event_type: str, data: dict[str, Any]) -> CaseEvent:
    """The domain event a stored row holds."""
    if event_type == RECEIVED:
        return ApplicationReceived(
            application_from_json(data["application"]), datetime.fromisoformat(data["received_at"])
        )
    if event_type == DECIDED:
        return Decided(
            assessment_from_json(data["assessment"]),
            data["outcome"],
            tuple(data["reasons"]),
            datetime.fromisoformat(data["decided_at"]),
            data["decided_by"],
            data["note"],
            data["overrides_automated_rejection"],
        )
    if event_type == REFERRED:
        return Referred(
            assessment_from_json(data["assessment"]), datetime.fromisoformat(data["referred_at"])
        )
    if event_type == WITHDRAWN:
        return Withdrawn(datetime.fromisoformat(data["withdrawn_at"]))
    if event_type == WITHDRAWAL_REJECTED:
        return WithdrawalRejected(
            data["withdrawal_id"], data["decision"], datetime.fromisoformat(data["rejected_at"])
        )
    raise ValueError(f"unknown stored event type {event_type!r}")


def application_to_json(application: ApplicationFacts) -> dict[str, Any]:
    return {
        "case_id": application.case_id,
        "benefit": application.benefit,
        "national_id": application.national_id,
        "birth_date": application.birth_date.isoformat(),
        "application_date": application.application_date.isoformat(),
        "facts": dict(application.facts),
        "submitted_by": application.submitted_by,
    }


def application_from_json(data: dict[str, Any]) -> ApplicationFacts:
    return ApplicationFacts(
        case_id=data["case_id"],
        benefit=data["benefit"],
        national_id=data["national_id"],
        birth_date=date.fromisoformat(data["birth_date"]),
        application_date=date.fromisoformat(data["application_date"]),
        facts=data["facts"],
        submitted_by=data["submitted_by"],
    )


def assessment_to_json(assessment: Assessment) -> dict[str, Any]:
    return {
        "outcome": assessment.outcome,
        "reasons": list(assessment.reasons),
        "review_reasons": list(assessment.review_reasons),
        "proposal": award_to_json(assessment.proposal) if assessment.proposal else None,
        "rules": [
            {"rule": r.rule, "inputs": dict(r.inputs), "passed": r.passed, "reason": r.reason}
            for r in assessment.rules
        ],
        "policy_version": assessment.policy_version,
    }


def assessment_from_json(data: dict[str, Any]) -> Assessment:
    return Assessment(
        outcome=data["outcome"],
        reasons=tuple(data["reasons"]),
        review_reasons=tuple(data["review_reasons"]),
        proposal=award_from_json(data["proposal"]) if data["proposal"] else None,
        rules=tuple(
            RuleResult(r["rule"], r["inputs"], r["passed"], r["reason"]) for r in data["rules"]
        ),
        policy_version=data["policy_version"],
    )


def award_to_json(award: Award) -> dict[str, Any]:
    return {
        "amount": str(award.amount),
        "payment": award.payment,
        "start_date": award.start_date.isoformat(),
        "end_date": award.end_date.isoformat() if award.end_date else None,
        "schedule": [
            {
                "effective_from": s.effective_from.isoformat(),
                "amount": str(s.amount),
                "policy_version": s.policy_version,
            }
            for s in award.schedule
        ],
    }


def award_from_json(data: dict[str, Any]) -> Award:
    return Award(
        amount=Decimal(data["amount"]),
        payment=data["payment"],
        start_date=date.fromisoformat(data["start_date"]),
        end_date=date.fromisoformat(data["end_date"]) if data["end_date"] else None,
        schedule=tuple(
            ScheduledAmount(
                date.fromisoformat(s["effective_from"]), Decimal(s["amount"]), s["policy_version"]
            )
            for s in data["schedule"]
        ),
    )
