"""Eligibility's read models, fed by the events it consumes and the decisions it makes:
deaths, approved awards (for already_receiving) and the review queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from chassis.database import Connection, Queryable
from services.eligibility.domain.case import EligibilityCase
from services.eligibility.domain.events import application_to_json, award_to_json
from services.eligibility.domain.rules import ApplicationFacts, Award, Circumstances


async def record_death(connection: Connection, schema: str, national_id: str, died: date) -> None:
    await connection.execute(
        f"INSERT INTO {schema}.deaths (national_id, date_of_death) VALUES ($1, $2)"
        " ON CONFLICT (national_id) DO UPDATE SET date_of_death = EXCLUDED.date_of_death",
        national_id,
        died,
    )
    # Awards end with the month of death (payments terminates them; here it only matters
    # that the person no longer counts as receiving).
    await connection.execute(
        f"UPDATE {schema}.awards SET ended_on = $2 WHERE national_id = $1 AND ended_on IS NULL",
        national_id,
        died,
    )


async def circumstances(
    connection: Connection, schema: str, application: ApplicationFacts
) -> Circumstances:
    """What other contexts told us of the applicant, as of the application date."""
    deceased = await connection.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {schema}.deaths WHERE national_id = $1)",
        application.national_id,
    )
    receiving = await connection.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {schema}.awards WHERE national_id = $1 AND benefit = $2"
        " AND case_id <> $3 AND ended_on IS NULL AND (end_date IS NULL OR end_date >= $4)"
        " AND ($5::date IS NULL OR child_birth_date = $5))",
        application.national_id,
        application.benefit,
        application.case_id,
        application.application_date,
        application.child_birth_date,
    )
    return Circumstances(deceased=bool(deceased), already_receiving=bool(receiving))


async def record_award(
    connection: Connection, schema: str, application: ApplicationFacts, award: Award
) -> None:
    await connection.execute(
        f"INSERT INTO {schema}.awards"
        " (case_id, national_id, benefit, child_birth_date, start_date, end_date)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (case_id) DO NOTHING",
        application.case_id,
        application.national_id,
        application.benefit,
        application.child_birth_date,
        award.start_date,
        award.end_date,
    )


async def enqueue_review(
    connection: Connection, schema: str, case: EligibilityCase, at: datetime
) -> None:
    assert case.assessment is not None
    application = application_to_json(case.applicant)
    proposal = case.assessment.proposal
    await connection.execute(
        f"INSERT INTO {schema}.review_queue (case_id, national_id, benefit, submitted_by,"
        " referred_at, review_reasons, facts, proposal, rules)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (case_id) DO NOTHING",
        case.case_id,
        case.applicant.national_id,
        case.applicant.benefit,
        case.applicant.submitted_by,
        at,
        list(case.assessment.review_reasons),
        {
            "birth_date": application["birth_date"],
            "application_date": application["application_date"],
            **application["facts"],
        },
        award_to_json(proposal) if proposal else None,
        [
            {"rule": r.rule, "inputs": dict(r.inputs), "passed": r.passed, "reason": r.reason}
            for r in case.assessment.rules
        ],
    )


async def dequeue_review(connection: Connection, schema: str, case_id: str) -> None:
    await connection.execute(f"DELETE FROM {schema}.review_queue WHERE case_id = $1", case_id)


async def queued_cases_of(connection: Connection, schema: str, national_id: str) -> list[str]:
    rows = await connection.fetch(
        f"SELECT case_id FROM {schema}.review_queue WHERE national_id = $1", national_id
    )
    return [row["case_id"] for row in rows]


@dataclass(frozen=True)
class QueuedReview:
    case_id: str
    benefit: str
    referred_at: datetime
    review_reasons: list[str]
    facts: dict[str, Any]
    proposal: dict[str, Any] | None
    rules: list[dict[str, Any]]


async def review_queue(
    connection: Queryable, schema: str, limit: int, offset: int
) -> list[QueuedReview]:
    """Cases waiting for a caseworker, oldest first."""
    rows = await connection.fetch(
        f"SELECT case_id, benefit, referred_at, review_reasons, facts, proposal, rules"
        f" FROM {schema}.review_queue ORDER BY referred_at, case_id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )
    return [QueuedReview(**dict(row)) for row in rows]
