"""Eligibility's read models (applications, deaths, awards, review queue) are rebuilt from
its own event store as a resumable job, to exactly what the live handlers kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chassis import jobs
from chassis.database import Database, migrate
from chassis.jobs import JobRunner
from chassis.unit_of_work import UnitOfWork, run_in_unit_of_work
from contracts.application import agency_today
from services.eligibility import handlers
from services.eligibility.app import MIGRATIONS
from services.eligibility.projections import EligibilityTables, ReadModelRebuild
from tests.integration.applications import application
from tests.integration.eligibility.test_decisions_about_one_person import (
    deciding,
    dying,
    fresh_person,
    submitted,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def eligibility_schema(database: Database) -> str:
    schema = f"elig_{uuid.uuid4().hex[:10]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    return schema


async def _history(database: Database, schema: str, people: int) -> list[str]:
    """Applications of every kind, a review, a death: what fills every read model."""
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    case_ids = []
    for n in range(people):
        person = fresh_person()
        pension = submitted(person)
        referred = submitted(
            person,
            application(
                benefit="disability_benefit",
                facts={"disability_group": 1 + n % 3, "assessment_date": assessed},
            ),
        )
        rejected = submitted(fresh_person(), application(facts={"insurance_years": 10}))
        for event in (pension, referred, rejected):
            await run_in_unit_of_work(database, schema, deciding(event))
            case_ids.append(str(event.subject))
        if n % 3 == 0:
            await run_in_unit_of_work(database, schema, dying(person))
        elif n % 3 == 1:
            await run_in_unit_of_work(database, schema, _approving(str(referred.subject)))
    return case_ids


def _approving(case_id: str) -> Any:
    async def approve(work: UnitOfWork) -> None:
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

    return approve


async def _contents(database: Database, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    tables = EligibilityTables.live(schema)
    contents = {}
    for table in tables.all():
        rows = await database.pool.fetch(f"SELECT * FROM {table}")
        contents[table] = sorted(tuple(str(value) for value in row.values()) for row in rows)
    return contents


async def _run(database: Database, schema: str, name: str, chunk: int) -> jobs.JobStatus:
    runner = JobRunner(database, schema, {"rebuild": ReadModelRebuild(chunk=chunk)})
    async with database.pool.acquire() as connection:
        await jobs.submit(connection, schema, name=name, kind="rebuild", params={})
    await runner.run_job(name)
    job = await jobs.status(database.pool, schema, name)
    assert job is not None
    return job


async def test_a_rebuild_restores_exactly_what_the_live_handlers_kept(
    database: Database, eligibility_schema: str
) -> None:
    await _history(database, eligibility_schema, people=6)
    kept = await _contents(database, eligibility_schema)
    assert all(kept.values()), "every read model has rows to rebuild"
    for table in EligibilityTables.live(eligibility_schema).all():
        await database.pool.execute(f"DELETE FROM {table}")  # lost, or corrupted
    job = await _run(database, eligibility_schema, "rebuild-1", chunk=7)
    assert (job.status, job.error) == ("completed", None)
    assert job.total is not None
    assert job.done >= job.total > 7
    assert await _contents(database, eligibility_schema) == kept


async def test_what_is_decided_during_a_rebuild_is_in_the_rebuilt_read_models(
    database: Database, eligibility_schema: str
) -> None:
    await _history(database, eligibility_schema, people=2)
    stop = asyncio.Event()

    class StopsAfterFirstChunk:
        kind = "rebuild"

        def __init__(self) -> None:
            self.inner = ReadModelRebuild(chunk=3)

        async def step(self, work: UnitOfWork, params: Any, checkpoint: Any) -> jobs.JobStep:
            stop.set()
            return await self.inner.step(work, params, checkpoint)

    async with database.pool.acquire() as connection:
        await jobs.submit(
            connection, eligibility_schema, name="rebuild-2", kind="rebuild", params={}
        )
    await JobRunner(database, eligibility_schema, {"rebuild": StopsAfterFirstChunk()}).run_job(
        "rebuild-2", stop
    )
    later = await _history(database, eligibility_schema, people=2)  # after the rebuild began
    kept = await _contents(database, eligibility_schema)
    runner = JobRunner(database, eligibility_schema, {"rebuild": ReadModelRebuild(chunk=3)})
    await runner.run_job("rebuild-2")
    job = await jobs.status(database.pool, eligibility_schema, "rebuild-2")
    assert job is not None
    assert job.status == "completed"
    assert job.result is not None
    assert job.result["caught_up"] > 0  # stored after the rebuild began, folded in at the swap
    rebuilt = await _contents(database, eligibility_schema)
    assert rebuilt == kept
    applications = EligibilityTables.live(eligibility_schema).applications
    assert set(later) <= {
        row["case_id"] for row in await database.pool.fetch(f"SELECT case_id FROM {applications}")
    }
