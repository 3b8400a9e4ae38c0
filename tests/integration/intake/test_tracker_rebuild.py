"""The case tracker is rebuilt from the event topics on demand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError

from chassis import jobs
from chassis.auth import Role
from chassis.database import Database
from chassis.jobs import JobRunner, JobStep
from chassis.settings import ChassisSettings
from chassis.unit_of_work import UnitOfWork
from contracts.application import agency_today
from services.intake.projections import TrackerRebuild, TrackerTables
from services.intake.projections.tracker_rebuild import deleted_history
from tests.integration.applications import application, bearer
from tests.kafka_reading import json_records_matching

pytestmark = pytest.mark.integration


async def test_rebuild_from_topics_restores_every_case_and_its_timeline(
    clerk: httpx.AsyncClient,
    intake_url: str,
    intake_schema: str,
    settings: ChassisSettings,
    database: Database,
) -> None:
    # Eligibility, if it runs in this session, refers this application for review rather
    # than deciding it, so it can still be withdrawn.
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = application(
        benefit="disability_benefit", facts={"disability_group": 2, "assessment_date": assessed}
    )
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    case_id = (await clerk.post("/v1/applications", json=body, headers=headers)).json()["case_id"]
    assert (await clerk.post(f"/v1/applications/{case_id}/withdraw")).status_code == 200
    published = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.intake.events.v1",
        lambda e: e.get("subject") == case_id,
        at_least=2,
    )
    # The live tracker subscription has taken both in too (its inbox id holds the event id),
    # so it will not record them again after the rows are deleted below.
    async with asyncio.timeout(30):
        while await database.pool.fetchval(
            f"SELECT count(*) FROM {intake_schema}.inbox, unnest($2::text[]) AS event(id)"
            " WHERE subscription = $1 AND strpos(message_id, event.id) > 0",
            f"{intake_schema}.tracker",
            [event["id"] for event in published],
        ) < len(published):
            await asyncio.sleep(0.1)
    before = (await clerk.get(f"/v1/applications/{case_id}")).json()
    await database.pool.execute(
        f"DELETE FROM {intake_schema}.tracker_timeline WHERE case_id = $1", case_id
    )
    assert (await clerk.get(f"/v1/applications/{case_id}")).status_code == 404

    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.SUPERVISOR), timeout=60
    ) as supervisor:
        assert (await clerk.post("/v1/tracker/rebuild")).status_code == 403
        started = await supervisor.post("/v1/tracker/rebuild")
        assert started.status_code == 202, started.text
        again = await supervisor.post("/v1/tracker/rebuild")
        job = await finished(supervisor, started.json()["name"])
    assert again.json()["name"] == started.json()["name"]  # one rebuild at a time
    assert job["status"] == "completed", job
    assert job["done"] == job["total"] >= 2
    assert job["result"]["events"] >= 2
    after = (await clerk.get(f"/v1/applications/{case_id}")).json()
    # A referral published after `before` was read is rebuilt too; nothing else is new.
    arrived_since = [entry for entry in after["timeline"] if entry not in before["timeline"]]
    assert [entry["source"] for entry in arrived_since] in ([], ["urn:dost:eligibility"])
    assert [entry for entry in after["timeline"] if entry not in arrived_since] == before[
        "timeline"
    ]
    assert {**after, "timeline": None} == {**before, "timeline": None}
    assert after["status"] == "withdrawn"


async def finished(supervisor: httpx.AsyncClient, name: str) -> dict[str, Any]:
    """The job once it has completed or failed."""
    async with asyncio.timeout(120):
        while True:
            job: dict[str, Any] = (await supervisor.get(f"/v1/jobs/{name}")).json()
            if job["status"] in ("completed", "failed"):
                return job
            await asyncio.sleep(0.2)


async def test_a_rebuild_that_fails_halfway_leaves_the_live_tracker_as_it_was(
    clerk: httpx.AsyncClient, intake_schema: str, settings: ChassisSettings, database: Database
) -> None:
    """The rebuild fills shadow tables; until the swap the live tracker is untouched, so a
    rebuild that breaks down (here: the broker goes away after the first chunk) changes
    nothing a clerk sees."""
    for _ in range(3):  # more events on the topics than one chunk replays
        await clerk.post(
            "/v1/applications", json=application(), headers={"Idempotency-Key": str(uuid.uuid4())}
        )
    live = TrackerTables.live(intake_schema)
    before = await _rows(database, live)

    class BrokenAfterOneChunk(TrackerRebuild):
        chunks = 0

        async def step(
            self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any
        ) -> JobStep:
            if checkpoint is not None and checkpoint["phase"] == "replay":
                self.chunks += 1
                if self.chunks > 1:
                    raise KafkaConnectionError("the broker went away")
            return await super().step(work, params, checkpoint)

    kind = BrokenAfterOneChunk(settings.kafka_bootstrap_servers, chunk=1)
    async with database.pool.acquire() as connection:
        job, _ = await jobs.submit(
            connection, intake_schema, name=f"broken-{uuid.uuid4()}", kind="broken", params={}
        )
    runner = JobRunner(database, intake_schema, {"broken": kind}, max_attempts=2)
    await runner.run_job(job.name)
    failed = await jobs.status(database.pool, intake_schema, job.name)
    assert failed is not None
    assert (failed.status, failed.done) == ("failed", 1)
    assert failed.error is not None
    assert "the broker went away" in failed.error
    after = await _rows(database, live)
    assert set(before[0]) <= set(after[0])  # only what arrived meanwhile is new
    assert set(before[1]) <= set(after[1])


async def _rows(database: Database, tables: TrackerTables) -> tuple[list[str], list[str]]:
    timeline = await database.pool.fetch(f"SELECT event_id FROM {tables.timeline}")
    cases = await database.pool.fetch(f"SELECT case_id FROM {tables.cases}")
    return [row["event_id"] for row in timeline], [row["case_id"] for row in cases]


def test_a_partition_that_lost_records_makes_the_rebuild_fail_naming_it() -> None:
    assert deleted_history({"dost.intake.events.v1/0": 0, "dost.intake.events.v1/1": 0}) is None
    reason = deleted_history({"dost.intake.events.v1/0": 0, "dost.intake.events.v1/3": 1200})
    assert reason is not None
    assert "dost.intake.events.v1/3 starts at offset 1200" in reason
    assert "/0" not in reason


async def test_a_rebuild_stopped_halfway_goes_on_from_its_checkpoint_to_every_case(
    clerk: httpx.AsyncClient, intake_schema: str, settings: ChassisSettings, database: Database
) -> None:
    for _ in range(3):
        await clerk.post(
            "/v1/applications", json=application(), headers={"Idempotency-Key": str(uuid.uuid4())}
        )
    stop = asyncio.Event()

    class StopsAfterTwoChunks(TrackerRebuild):
        chunks = 0

        async def step(
            self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any
        ) -> JobStep:
            self.chunks += 1
            if self.chunks == 2:
                stop.set()  # the runner stops after this chunk, as if its process ended
            return await super().step(work, params, checkpoint)

    async with database.pool.acquire() as connection:
        job, _ = await jobs.submit(
            connection, intake_schema, name=f"halfway-{uuid.uuid4()}", kind="rebuild", params={}
        )
    first = JobRunner(
        database,
        intake_schema,
        {"rebuild": StopsAfterTwoChunks(settings.kafka_bootstrap_servers, chunk=1)},
    )
    await first.run_job(job.name, stop)
    halfway = await jobs.status(database.pool, intake_schema, job.name)
    assert halfway is not None
    assert (halfway.status, halfway.done) == ("running", 1)
    second = JobRunner(
        database,
        intake_schema,
        {"rebuild": TrackerRebuild(settings.kafka_bootstrap_servers, chunk=2)},
    )
    await second.run_job(job.name)
    done = await jobs.status(database.pool, intake_schema, job.name)
    assert done is not None
    assert done.status == "completed"
    assert done.done == done.total
    assert done.result is not None
    live = TrackerTables.live(intake_schema)
    timeline, cases = await _rows(database, live)
    assert done.result["events"] == len(timeline)
    assert done.result["cases"] == len(cases)
    leftovers = await database.pool.fetchval(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1"
        " AND table_name LIKE 'tracker_%_rebuild'",
        intake_schema,
    )
    assert leftovers == 0
