"""Idempotent, dead-lettering consumers on FastStream against the real broker and database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import date

import pytest
from aiokafka import AIOKafkaProducer

from chassis.consumer import EventConsumer, EventHandler
from chassis.database import Database
from chassis.dead_letters import ReceivedRecord
from chassis.settings import ChassisSettings
from chassis.telemetry import setup_telemetry
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, decode, encode, new_cloud_event
from contracts.civil_registry import PersonDied
from contracts.topics import dead_letter_topic
from deploy.topics import ensure_topics
from tests.kafka_reading import read_topic
from tests.running import running_consumer

pytestmark = pytest.mark.integration
DIED = PersonDied.event_type


def death(national_id: str = "5ZK7PQM", subject: str | None = None) -> CloudEvent:
    data = PersonDied(national_id=national_id, date_of_death=date(2026, 5, 1))
    return new_cloud_event(data, source="urn:test:registry", subject=subject)


async def _make_effects_table(database: Database, schema: str) -> None:
    await database.pool.execute(
        f"CREATE TABLE {schema}.effects"
        " (event_id text, national_id text, at timestamptz DEFAULT now())"
    )


def recording_handler(schema: str) -> EventHandler:
    async def record(work: UnitOfWork, event: CloudEvent) -> None:
        await work.connection.execute(
            f"INSERT INTO {schema}.effects (event_id, national_id) VALUES ($1, $2)",
            event.id,
            event.data.national_id,
        )

    return record


async def _effects(database: Database, schema: str) -> list[str]:
    rows = await database.pool.fetch(f"SELECT event_id FROM {schema}.effects ORDER BY at")
    return [row["event_id"] for row in rows]


async def _produce(
    settings: ChassisSettings, topic: str, *values: bytes, key: bytes | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.1)


@pytest.fixture
async def topic(settings: ChassisSettings, topic_prefix: str) -> str:
    name = f"{topic_prefix}.registry"
    await ensure_topics(settings.kafka_bootstrap_servers, [name, dead_letter_topic(name)])
    return name


def _consumer(database: Database, schema: str, handlers: dict[str, EventHandler]) -> EventConsumer:
    return EventConsumer(
        database=database,
        schema=schema,
        subscription=f"sub-{uuid.uuid4().hex[:8]}",
        handlers=handlers,
        transient_backoff=0.1,
    )


async def test_redelivered_event_has_no_second_effect(
    database: Database, schema: str, settings: ChassisSettings, topic: str
) -> None:
    await _make_effects_table(database, schema)
    consumer = _consumer(database, schema, {DIED: recording_handler(schema)})
    event = death()
    end_marker = death("7ABCDE1")
    async with running_consumer(settings, consumer, topic):
        # One key, so one partition, handled in order: once the marker has its effect, the
        # redelivered event before it has been handled too.
        await _produce(settings, topic, encode(event), encode(event), key=b"case-1")
        await _produce(settings, topic, encode(end_marker), key=b"case-1")
        await _eventually(lambda: _has_effect(database, schema, end_marker.id))
        effects = await _effects(database, schema)
    assert sorted(effects) == sorted([event.id, end_marker.id])  # one transaction: same `at`


async def test_same_event_delivered_concurrently_has_one_effect(
    database: Database, schema: str
) -> None:
    await _make_effects_table(database, schema)
    slow_started = asyncio.Event()

    async def slow_record(work: UnitOfWork, event: CloudEvent) -> None:
        slow_started.set()
        await asyncio.sleep(0.3)
        await recording_handler(schema)(work, event)

    consumer = _consumer(database, schema, {DIED: slow_record})
    record = ReceivedRecord("registry", 0, 7, None, encode(death()))
    await asyncio.gather(*(consumer.process([record]) for _ in range(4)))
    assert len(await _effects(database, schema)) == 1


async def test_undecodable_unknown_and_invalid_messages_go_to_dlq_and_consumer_goes_on(
    database: Database, schema: str, settings: ChassisSettings, topic: str
) -> None:
    await _make_effects_table(database, schema)
    consumer = _consumer(database, schema, {DIED: recording_handler(schema)})
    good = death()
    unknown = encode(good).replace(
        b"dost.registry.PersonDied.v1", b"dost.registry.PersonMarried.v1"
    )
    invalid = encode(death()).replace(b"5ZK7PQM", b"not-a-fin")
    async with running_consumer(settings, consumer, topic):
        await _produce(settings, topic, b"\xff not json", unknown, invalid, encode(good), key=b"k")
        dead = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=3
        )
        await _eventually(lambda: _has_effect(database, schema, good.id))
    reasons = [dict(record.headers)["dlq-reason"].decode() for record in dead]
    offsets = sorted(int(dict(record.headers)["dlq-source-offset"]) for record in dead)
    assert reasons == ["not_a_cloudevent", "unknown_event_type", "invalid_event_data"]
    assert offsets == [0, 1, 2]
    assert dict(dead[2].headers)["dlq-error"].decode().find("data.national_id") >= 0
    assert [record.value for record in dead] == [b"\xff not json", unknown, invalid]
    assert await _effects(database, schema) == [good.id]
    stored = await database.pool.fetch(
        f"SELECT reason, source_offset FROM {schema}.dead_letters ORDER BY id"
    )
    assert [(row["reason"], row["source_offset"]) for row in stored] == [
        ("not_a_cloudevent", 0),
        ("unknown_event_type", 1),
        ("invalid_event_data", 2),
    ]


async def _has_effect(database: Database, schema: str, event_id: str) -> bool:
    return event_id in await _effects(database, schema)


async def test_failing_handler_dead_letters_and_parks_later_events_of_the_same_case(
    database: Database, schema: str, settings: ChassisSettings, topic: str
) -> None:
    await _make_effects_table(database, schema)
    poison = death("1POISON", subject="case-x")

    async def handler(work: UnitOfWork, event: CloudEvent) -> None:
        if event.id == poison.id:
            raise ValueError("cannot handle this one")
        await recording_handler(schema)(work, event)

    consumer = _consumer(database, schema, {DIED: handler})
    later_same_case = death("2LATER1", subject="case-x")
    other_case = death("3OTHER1", subject="case-y")
    async with running_consumer(settings, consumer, topic):
        await _produce(
            settings, topic, encode(poison), encode(later_same_case), encode(other_case), key=b"k"
        )
        dead = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=2
        )
        await _eventually(lambda: _has_effect(database, schema, other_case.id))
    assert [dict(r.headers)["dlq-reason"].decode() for r in dead] == [
        "handler_failed",
        "blocked_by_earlier_dead_letter",
    ]
    assert "ValueError: cannot handle this one" in dict(dead[0].headers)["dlq-error"].decode()
    assert await _effects(database, schema) == [other_case.id]


async def test_transient_failure_redelivers_the_batch_without_skipping(
    database: Database, schema: str, settings: ChassisSettings, topic: str
) -> None:
    await _make_effects_table(database, schema)
    failures = {"left": 2}

    async def flaky(work: UnitOfWork, event: CloudEvent) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("database went away")
        await recording_handler(schema)(work, event)

    consumer = _consumer(database, schema, {DIED: flaky})
    events = [death(f"{n}FLAKY{n}"[:7].upper().ljust(7, "A")) for n in range(1, 5)]
    async with running_consumer(settings, consumer, topic):
        await _produce(settings, topic, *(encode(e) for e in events), key=b"same-partition")
        await _eventually(lambda: _count_effects(database, schema, len(events)))
    assert await _effects(database, schema) == [e.id for e in events]
    assert failures["left"] == 0


async def _count_effects(database: Database, schema: str, n: int) -> bool:
    return len(await _effects(database, schema)) >= n


async def test_trace_context_travels_from_the_consumed_event_to_what_the_handler_publishes(
    database: Database, schema: str, settings: ChassisSettings
) -> None:
    setup_telemetry("test", state_dir=settings.state_dir)
    incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    incoming = death().model_copy(
        update={"traceparent": f"00-{incoming_trace}-00f067aa0ba902b7-01"}
    )

    async def republish(work: UnitOfWork, event: CloudEvent) -> None:
        work.publish(death("9NEXT99", subject="case-9"), topic="test.next")

    consumer = _consumer(database, schema, {DIED: republish})
    await consumer.process([ReceivedRecord("registry", 0, 1, None, encode(incoming))])
    row = await database.pool.fetchrow(f"SELECT headers, payload FROM {schema}.outbox")
    assert row is not None
    traceparent = dict(row["headers"])["traceparent"]
    assert traceparent.split("-")[1] == incoming_trace
    assert decode(row["payload"]).traceparent == traceparent


async def test_a_known_type_nobody_here_handles_is_skipped_without_a_trace(
    database: Database, schema: str
) -> None:
    # (Eligibility reads payments' topic for ended entitlements only: the million payment
    # instructions of a run must not each leave an inbox row behind.)
    await _make_effects_table(database, schema)
    consumer = _consumer(database, schema, {"dost.intake.ApplicationWithdrawn.v1": record_any})
    skipped = ReceivedRecord("registry", 0, 1, b"case-1", encode(death()))
    invalid = json.loads(encode(death("7ABCDE2")))
    invalid["data"]["date_of_death"] = "not a date"  # bad data, but not ours to judge
    skipped_invalid = ReceivedRecord("registry", 0, 2, b"case-1", json.dumps(invalid).encode())
    await consumer.process([skipped, skipped_invalid])
    assert await database.pool.fetchval(f"SELECT count(*) FROM {schema}.inbox") == 0
    assert await database.pool.fetchval(f"SELECT count(*) FROM {schema}.dead_letters") == 0

    handled = _consumer(database, schema, {DIED: recording_handler(schema)})
    await handled.process([skipped])
    assert await database.pool.fetchval(f"SELECT count(*) FROM {schema}.inbox") == 1


async def record_any(work: UnitOfWork, event: CloudEvent) -> None:
    raise AssertionError("not for this type")
