"""Dead letters are redriven once their cause is fixed: a case's letters re-run in their
original order, the parked ones with them, and the case flows again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import date

import pytest
from aiokafka import AIOKafkaProducer

from chassis import dead_letters, jobs
from chassis.consumer import EventConsumer
from chassis.database import Database
from chassis.jobs import JobRunner
from chassis.redrive import KIND, DeadLetterRedrive
from chassis.settings import ChassisSettings
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, encode, new_cloud_event
from contracts.civil_registry import PersonDied
from contracts.topics import dead_letter_topic
from deploy.topics import ensure_topics
from tests.kafka_reading import read_topic
from tests.running import running_consumer

pytestmark = pytest.mark.integration


def death(national_id: str, subject: str) -> CloudEvent:
    data = PersonDied(national_id=national_id, date_of_death=date(2026, 5, 1))
    return new_cloud_event(data, source="urn:test:registry", subject=subject)


class Cases:
    """A subscription whose handler fails for the cases in `broken` (the cause to fix)."""

    def __init__(self, database: Database, schema: str) -> None:
        self.database = database
        self.schema = schema
        self.broken = {"case-x"}
        self.consumer = EventConsumer(
            database=database,
            schema=schema,
            subscription=f"{schema}.registry",
            handlers={PersonDied.event_type: self.handle},
            retry_backoff=0.01,
            transient_backoff=0.1,
        )

    async def handle(self, work: UnitOfWork, event: CloudEvent) -> None:
        if event.subject in self.broken:
            raise ValueError(f"cannot handle {event.subject} yet")
        await work.connection.execute(
            f"INSERT INTO {self.schema}.effects (event_id) VALUES ($1)", event.id
        )

    async def effects(self) -> list[str]:
        rows = await self.database.pool.fetch(
            f"SELECT event_id FROM {self.schema}.effects ORDER BY n"
        )
        return [row["event_id"] for row in rows]


@pytest.fixture
async def cases(database: Database, schema: str) -> Cases:
    await database.pool.execute(
        f"CREATE TABLE {schema}.effects (n serial PRIMARY KEY, event_id text NOT NULL)"
    )
    return Cases(database, schema)


@pytest.fixture
async def topic(settings: ChassisSettings, topic_prefix: str) -> str:
    name = f"{topic_prefix}.registry"
    await ensure_topics(settings.kafka_bootstrap_servers, [name, dead_letter_topic(name)])
    return name


async def produce(settings: ChassisSettings, topic: str, *events: CloudEvent) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(topic, encode(event), key=b"one-partition")
    finally:
        await producer.stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


def dost(settings: ChassisSettings, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy", *arguments],
        env={**os.environ, "DATABASE_URL": settings.database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def redrive(cases: Cases, database: Database, name: str) -> jobs.JobStatus:
    runner = JobRunner(
        database,
        cases.schema,
        {KIND: DeadLetterRedrive({cases.consumer.subscription: cases.consumer})},
    )
    await runner.run_job(name)
    job = await jobs.status(database.pool, cases.schema, name)
    assert job is not None
    return job


async def test_a_fixed_case_is_redriven_in_order_and_then_flows_again(
    database: Database, settings: ChassisSettings, topic: str, cases: Cases
) -> None:
    first, second, other = (
        death("1FIRST1", "case-x"),
        death("2SECOND", "case-x"),
        death("3OTHER1", "case-y"),
    )
    async with running_consumer(settings, cases.consumer, topic):
        await produce(settings, topic, first, second, other)
        dead = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=2
        )
        await until(lambda: _has(cases, other.id))
        assert [dict(r.headers)["dlq-reason"] for r in dead] == [
            b"handler_failed",
            b"blocked_by_earlier_dead_letter",
        ]

        listed = dost(settings, "dlq", "list", "--subscription", cases.consumer.subscription)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.count("case=case-x") == 2
        assert "handler_failed" in listed.stdout
        assert "blocked_by_earlier_dead_letter" in listed.stdout

        cases.broken.clear()  # the cause is fixed
        submitted = dost(
            settings,
            "dlq",
            "redrive",
            "--subscription",
            cases.consumer.subscription,
            "--subject",
            "case-x",
            "--no-wait",
        )
        assert submitted.returncode == 0, submitted.stderr
        (name,) = [
            row["name"]
            for row in await database.pool.fetch(f"SELECT name FROM {cases.schema}.jobs")
        ]
        job = await redrive(cases, database, name)
        assert (job.status, job.result) == ("completed", {"redriven": 2, "still_open": 0})
        assert await cases.effects() == [other.id, first.id, second.id]
        assert await dead_letters.open_counts(database.pool, cases.schema) == {}

        later = death("4LATER1", "case-x")
        await produce(settings, topic, later)
        await until(lambda: _has(cases, later.id))
    assert await cases.effects() == [other.id, first.id, second.id, later.id]
    resolutions = await database.pool.fetch(
        f"SELECT resolution FROM {cases.schema}.dead_letters ORDER BY id"
    )
    assert [row["resolution"] for row in resolutions] == ["redriven", "redriven"]


async def test_a_case_whose_cause_is_not_fixed_stays_parked_in_order(
    database: Database, settings: ChassisSettings, topic: str, cases: Cases
) -> None:
    first, second = death("1FIRST1", "case-x"), death("2SECOND", "case-x")
    async with running_consumer(settings, cases.consumer, topic):
        await produce(settings, topic, first, second)
        await read_topic(settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=2)
    async with database.pool.acquire() as connection:
        job, _ = await jobs.submit(
            connection,
            cases.schema,
            name="redrive-again",
            kind=KIND,
            params={"subscription": cases.consumer.subscription},
        )
    done = await redrive(cases, database, job.name)
    assert (done.status, done.result) == ("completed", {"redriven": 0, "still_open": 1})
    still = await dead_letters.open_letters(database.pool, cases.schema)
    assert [(letter.subject, letter.redrive_attempts) for letter in still] == [
        ("case-x", 1),  # tried again, failed again, with the new error
        ("case-x", 0),  # not tried: it waits behind the first
    ]
    assert "cannot handle case-x yet" in still[0].error
    assert await cases.effects() == []


async def test_redriving_one_letter_that_has_an_earlier_one_of_its_case_is_refused(
    database: Database, settings: ChassisSettings, topic: str, cases: Cases
) -> None:
    async with running_consumer(settings, cases.consumer, topic):
        await produce(settings, topic, death("1FIRST1", "case-x"), death("2SECOND", "case-x"))
        await read_topic(settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=2)
    second = (await dead_letters.open_letters(database.pool, cases.schema))[1]
    async with database.pool.acquire() as connection:
        job, _ = await jobs.submit(
            connection,
            cases.schema,
            name="redrive-one",
            kind=KIND,
            params={"subscription": cases.consumer.subscription, "id": second.id},
        )
    cases.broken.clear()
    done = await redrive(cases, database, job.name)
    assert done.status == "failed"
    assert done.error is not None
    assert "came first" in done.error
    assert await cases.effects() == []


async def _has(cases: Cases, event_id: str) -> bool:
    return event_id in await cases.effects()


async def test_a_letter_of_a_type_no_longer_handled_is_let_go_by_a_redrive(
    database: Database, cases: Cases
) -> None:
    # Dead-lettered while the subscription still handled deaths; redriven by a release
    # that no longer does: the letter is resolved, nothing is handled, the redrive completes.
    await cases.consumer.process(
        [
            dead_letters.ReceivedRecord(
                "registry", 0, 1, b"case-x", encode(death("5ZK7PQM", "case-x"))
            )
        ]
    )
    (letter,) = await dead_letters.open_letters(database.pool, cases.schema)
    released = EventConsumer(
        database=database,
        schema=cases.schema,
        subscription=cases.consumer.subscription,
        handlers={"dost.intake.ApplicationWithdrawn.v1": cases.handle},
    )
    await jobs.submit(
        database.pool,
        cases.schema,
        name="redrive-released",
        kind=KIND,
        params={"subscription": released.subscription},
    )
    await JobRunner(
        database, cases.schema, {KIND: DeadLetterRedrive({released.subscription: released})}
    ).run_job("redrive-released")

    job = await jobs.status(database.pool, cases.schema, "redrive-released")
    assert job is not None
    assert job.status == "completed", job
    assert await dead_letters.open_letters(database.pool, cases.schema) == []
    assert await cases.effects() == []
    resolution = await database.pool.fetchval(
        f"SELECT resolution FROM {cases.schema}.dead_letters WHERE id = $1", letter.id
    )
    assert resolution == "redriven"
