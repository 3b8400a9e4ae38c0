"""Every decision about one person is serialised on that person: a death and an application
(or two applications) racing in separate transactions never decide past each other."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chassis.database import Database, migrate
from chassis.unit_of_work import UnitOfWork, run_in_unit_of_work, unit_of_work
from contracts import CloudEvent, new_cloud_event
from contracts.application import ApplicationBody, agency_today
from contracts.intake import ApplicationSubmitted
from services.eligibility import handlers
from services.eligibility.app import MIGRATIONS
from services.eligibility.domain.errors import ApprovalBlocked
from services.eligibility.settings import DEFAULT_POLICY_DIR, load_policy_book
from tests.integration.applications import application

pytestmark = pytest.mark.integration
BOOK = load_policy_book(DEFAULT_POLICY_DIR)[0]
ROUNDS = 12
HOLD = 0.3  # how long the first transaction stays open after its work, unless released


@pytest.fixture
async def eligibility_schema(database: Database) -> str:
    schema = f"elig_{uuid.uuid4().hex[:10]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    return schema


def submitted(national_id: str, body: dict[str, Any] | None = None) -> CloudEvent:
    body = body or application()
    body["applicant"]["national_id"] = national_id
    case_id = str(uuid.uuid4())
    data = ApplicationSubmitted(
        case_id=case_id,
        application=ApplicationBody.model_validate(body),
        submitted_at=datetime.now(UTC),
        channel="http",
        submitted_by="clerk-1",
    )
    return new_cloud_event(data, source="urn:dost:intake", subject=case_id)


def fresh_person() -> str:
    return uuid.uuid4().hex[:7].upper()


Work = Callable[[UnitOfWork], Awaitable[None]]


async def interleaved(database: Database, schema: str, first: Work, second: Work) -> None:
    """`first` does its work and keeps its transaction open; `second` starts then, in a
    transaction of its own. `first` commits once `second` is done, or after HOLD seconds
    if `second` is made to wait for it."""
    first_worked, second_done = asyncio.Event(), asyncio.Event()

    async def run_first() -> None:
        async with unit_of_work(database, schema) as work:
            await first(work)
            first_worked.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(second_done.wait(), timeout=HOLD)

    async def run_second() -> None:
        await first_worked.wait()
        try:
            await run_in_unit_of_work(database, schema, second)
        finally:
            second_done.set()

    await asyncio.gather(run_first(), run_second())


def deciding(event: CloudEvent) -> Work:
    async def decide(work: UnitOfWork) -> None:
        await handlers.decide_application(work, event, BOOK, now=datetime.now(UTC))

    return decide


def dying(national_id: str) -> Work:
    async def die(work: UnitOfWork) -> None:
        await handlers.person_died(
            work, national_id, agency_today(), now=datetime.now(UTC), causation_id="death"
        )

    return die


async def open_awards(database: Database, schema: str, national_id: str) -> int:
    return int(
        await database.pool.fetchval(
            f"SELECT count(*) FROM {schema}.awards WHERE national_id = $1 AND ended_on IS NULL",
            national_id,
        )
    )


async def outcome(database: Database, schema: str, case_id: str) -> tuple[str, tuple[str, ...]]:
    row = await database.pool.fetchrow(
        f"SELECT data FROM {schema}.events WHERE stream_id = $1"
        " AND event_type = 'eligibility.Decided'",
        f"eligibility-{case_id}",
    )
    assert row is not None
    return row["data"]["outcome"], tuple(row["data"]["reasons"])


async def test_a_death_crossing_an_approval_ends_the_award(
    database: Database, eligibility_schema: str
) -> None:
    for _ in range(ROUNDS):
        person = fresh_person()
        event = submitted(person)
        await interleaved(database, eligibility_schema, deciding(event), dying(person))
        assert await outcome(database, eligibility_schema, str(event.subject)) == ("approved", ())
        assert await open_awards(database, eligibility_schema, person) == 0


async def test_an_application_crossing_a_death_is_rejected_deceased(
    database: Database, eligibility_schema: str
) -> None:
    for _ in range(ROUNDS):
        person = fresh_person()
        event = submitted(person)
        await interleaved(database, eligibility_schema, dying(person), deciding(event))
        assert await outcome(database, eligibility_schema, str(event.subject)) == (
            "rejected",
            ("deceased",),
        )
        assert await open_awards(database, eligibility_schema, person) == 0


async def test_two_applications_of_one_person_at_once_grant_one_award(
    database: Database, eligibility_schema: str
) -> None:
    for _ in range(ROUNDS):
        person = fresh_person()
        first, second = submitted(person), submitted(person)
        await interleaved(database, eligibility_schema, deciding(first), deciding(second))
        outcomes = {
            await outcome(database, eligibility_schema, str(first.subject)),
            await outcome(database, eligibility_schema, str(second.subject)),
        }
        assert outcomes == {("approved", ()), ("rejected", ("already_receiving",))}
        assert await open_awards(database, eligibility_schema, person) == 1


async def test_racing_without_holding_never_approves_past_a_death_or_twice(
    database: Database, eligibility_schema: str
) -> None:
    """No choreography: a death and two applications of each person at the same moment."""
    people = [fresh_person() for _ in range(ROUNDS)]
    applications = {person: [submitted(person), submitted(person)] for person in people}
    work: list[Work] = []
    for person in people:
        work += [deciding(event) for event in applications[person]] + [dying(person)]
    await asyncio.gather(*(run_in_unit_of_work(database, eligibility_schema, w) for w in work))
    for person in people:
        assert await open_awards(database, eligibility_schema, person) == 0
        results = [
            await outcome(database, eligibility_schema, str(event.subject))
            for event in applications[person]
        ]
        assert [result for result in results if result[0] == "approved"] in ([], [("approved", ())])


async def test_a_review_cannot_approve_for_a_person_reported_dead_meanwhile(
    database: Database, eligibility_schema: str
) -> None:
    """A supervisor overriding an automated rejection after the registry reported the
    applicant dead: the approval is refused, under the same person lock."""
    person = fresh_person()
    body = application(facts={"insurance_years": 20})  # rejected: insufficient record
    event = submitted(person, body)
    await run_in_unit_of_work(database, eligibility_schema, deciding(event))
    await run_in_unit_of_work(database, eligibility_schema, dying(person))

    async def override(work: UnitOfWork) -> None:
        await handlers.review(
            work,
            str(event.subject),
            approve=True,
            reasons=[],
            note=None,
            reviewer="supervisor-1",
            reviewer_is_supervisor=True,
            now=datetime.now(UTC),
            correlation_id="review",
        )

    with pytest.raises(ApprovalBlocked):
        await run_in_unit_of_work(database, eligibility_schema, override)
    assert await open_awards(database, eligibility_schema, person) == 0


async def test_a_referred_case_and_a_death_at_once_end_with_no_open_award(
    database: Database, eligibility_schema: str
) -> None:
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    for _ in range(ROUNDS // 2):
        person = fresh_person()
        event = submitted(
            person,
            application(
                benefit="disability_benefit",
                facts={"disability_group": 1, "assessment_date": assessed},
            ),
        )
        await run_in_unit_of_work(database, eligibility_schema, deciding(event))

        async def approve(work: UnitOfWork, case_id: str = str(event.subject)) -> None:
            with contextlib.suppress(ApprovalBlocked):
                await handlers.review(
                    work,
                    case_id,
                    approve=True,
                    reasons=[],
                    note=None,
                    reviewer="caseworker-1",
                    reviewer_is_supervisor=False,
                    now=datetime.now(UTC),
                    correlation_id="review",
                )

        await interleaved(database, eligibility_schema, approve, dying(person))
        assert await open_awards(database, eligibility_schema, person) == 0
