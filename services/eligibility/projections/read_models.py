"""Eligibility's read models, all built from its own event store: the applications it
received, the deaths the registry reported, approved awards (for `already_receiving`) and
the review queue. :func:`apply` folds one stored event into them; handlers call it in the
transaction of the event itself, and a rebuild calls it to fill shadow tables from the
whole store (:mod:`services.eligibility.projections.rebuild`), so both build the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from chassis.database import Connection, Queryable
from services.eligibility.domain.case import (
    ApplicationReceived,
    AwardEnded,
    Decided,
    Referred,
    WithdrawalRejected,
    Withdrawn,
)
from services.eligibility.domain.person import DeathReported
from services.eligibility.domain.rules import APPROVED, ApplicationFacts, Circumstances

TABLES = ("applications", "deaths", "awards", "review_queue")


@dataclass(frozen=True)
class EligibilityTables:
    """Where the read models are kept: the live tables, or a rebuild's shadow tables."""

    applications: str
    deaths: str
    awards: str
    review_queue: str

    @classmethod
    def live(cls, schema: str) -> EligibilityTables:
        return cls(*(f"{schema}.{table}" for table in TABLES))

    @classmethod
    def shadow(cls, schema: str) -> EligibilityTables:
        return cls(*(f"{schema}.{table}_rebuild" for table in TABLES))

    def all(self) -> tuple[str, ...]:
        return (self.applications, self.deaths, self.awards, self.review_queue)


async def apply(
    connection: Connection, tables: EligibilityTables, aggregate_id: str, event: object
) -> None:
    """Fold one event of the stream of `aggregate_id` (a case id, or a national id for a
    person) into the read models."""
    match event:
        case ApplicationReceived():
            await _received(connection, tables, event.application)
        case Referred():
            await _enqueue(connection, tables, aggregate_id, event)
        case Decided():
            await _dequeue(connection, tables, aggregate_id)
            if event.outcome == APPROVED and event.assessment.proposal is not None:
                await _award(connection, tables, aggregate_id, event)
        case Withdrawn() | WithdrawalRejected():
            await _dequeue(connection, tables, aggregate_id)
        case DeathReported():
            await _death(connection, tables, event)
        case AwardEnded():
            await connection.execute(
                f"UPDATE {tables.awards} SET ended_on = least(coalesce(ended_on, $2), $2)"
                " WHERE case_id = $1",
                aggregate_id,
                event.ended_on,
            )


async def _received(
    connection: Connection, tables: EligibilityTables, application: ApplicationFacts
) -> None:
    await connection.execute(
        f"INSERT INTO {tables.applications} (case_id, national_id, benefit, child_birth_date,"
        " birth_date, application_date, submitted_by, facts)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id) DO NOTHING",
        application.case_id,
        application.national_id,
        application.benefit,
        application.child_birth_date,
        application.birth_date,
        application.application_date,
        application.submitted_by,
        dict(application.facts),
    )


async def _enqueue(
    connection: Connection, tables: EligibilityTables, case_id: str, event: Referred
) -> None:
    assessment = event.assessment
    await connection.execute(
        f"INSERT INTO {tables.review_queue} (case_id, national_id, benefit, submitted_by,"
        " referred_at, review_reasons, facts, proposal, rules)"
        " SELECT case_id, national_id, benefit, submitted_by, $2::timestamptz, $3::jsonb,"
        " jsonb_build_object('birth_date', birth_date, 'application_date', application_date)"
        " || facts, $4::jsonb, $5::jsonb"
        f" FROM {tables.applications} WHERE case_id = $1 ON CONFLICT (case_id) DO NOTHING",
        case_id,
        event.referred_at,
        list(assessment.review_reasons),
        _json(assessment.proposal) if assessment.proposal else None,
        [_json(rule) for rule in assessment.rules],
    )


async def _dequeue(connection: Connection, tables: EligibilityTables, case_id: str) -> None:
    await connection.execute(f"DELETE FROM {tables.review_queue} WHERE case_id = $1", case_id)


async def _award(
    connection: Connection, tables: EligibilityTables, case_id: str, event: Decided
) -> None:
    proposal = event.assessment.proposal
    assert proposal is not None
    await connection.execute(
        f"INSERT INTO {tables.awards}"
        " (case_id, national_id, benefit, child_birth_date, start_date, end_date)"
        " SELECT case_id, national_id, benefit, child_birth_date, $2::date, $3::date"
        f" FROM {tables.applications} WHERE case_id = $1 ON CONFLICT (case_id) DO NOTHING",
        case_id,
        proposal.start_date,
        proposal.end_date,
    )


async def _death(connection: Connection, tables: EligibilityTables, event: DeathReported) -> None:
    await connection.execute(
        f"INSERT INTO {tables.deaths} (national_id, date_of_death, reported_at)"
        " VALUES ($1, $2, $3) ON CONFLICT (national_id) DO UPDATE SET"
        " date_of_death = EXCLUDED.date_of_death, reported_at = EXCLUDED.reported_at",
        event.national_id,
        event.date_of_death,
        event.reported_at,
    )
    # Awards end with the death (payments terminates them; here it only matters that the
    # person no longer counts as receiving).
    await connection.execute(
        f"UPDATE {tables.awards} SET ended_on = $2 WHERE national_id = $1 AND ended_on IS NULL",
        event.national_id,
        event.date_of_death,
    )


def _json(value: object) -> Any:
    return TypeAdapter(type(value)).dump_python(value, mode="json")


async def circumstances(
    connection: Connection, schema: str, application: ApplicationFacts
) -> Circumstances:
    """What other contexts told us of the applicant, as of the application date."""
    tables = EligibilityTables.live(schema)
    deceased = await connection.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {tables.deaths} WHERE national_id = $1)",
        application.national_id,
    )
    receiving = await connection.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {tables.awards} WHERE national_id = $1 AND benefit = $2"
        " AND case_id <> $3 AND ended_on IS NULL AND (end_date IS NULL OR end_date >= $4)"
        " AND ($5::date IS NULL OR child_birth_date = $5))",
        application.national_id,
        application.benefit,
        application.case_id,
        application.application_date,
        application.child_birth_date,
    )
    return Circumstances(deceased=bool(deceased), already_receiving=bool(receiving))


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
