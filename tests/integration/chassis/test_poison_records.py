"""Poison never stalls a subscription: whatever a record does to the consumer, it ends in the
dead-letter topic with a reason after bounded attempts, and the records behind it go on."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from chassis.consumer import EventConsumer, EventHandler, source_and_id
from chassis.database import Database
from chassis.dead_letters import ReceivedRecord
from chassis.settings import ChassisSettings
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, encode, new_cloud_event
from contracts.civil_registry import PersonDied
from contracts.topics import dead_letter_topic
from deploy.topics import ensure_topics
from tests.kafka_reading import read_topic
from tests.running import running_consumer

pytestmark = pytest.mark.integration
DIED = PersonDied.event_type


def death(national_id: str = "5ZK7PQM", **changes: Any) -> CloudEvent:
    data = PersonDied(national_id=national_id, date_of_death=date(2026, 5, 1))
    return new_cloud_event(data, source="urn:test:registry", **changes)


def document(event: CloudEvent, **attributes: Any) -> bytes:
    raw = json.loads(encode(event))
    raw.update(attributes)
    return json.dumps(raw).encode()


@pytest.fixture
async def topic(settings: ChassisSettings, topic_prefix: str) -> str:
    name = f"{topic_prefix}.registry"
    await ensure_topics(settings.kafka_bootstrap_servers, [name, dead_letter_topic(name)])
    return name


@pytest.fixture
async def effects(database: Database, schema: str) -> Callable[[], Awaitable[list[str]]]:
    await database.pool.execute(
        f"CREATE TABLE {schema}.effects (n serial PRIMARY KEY, event_id text NOT NULL)"
    )

    async def read() -> list[str]:
        rows = await database.pool.fetch(f"SELECT event_id FROM {schema}.effects ORDER BY n")
        return [row["event_id"] for row in rows]

    return read


def recording(schema: str) -> EventHandler:
    async def record(work: UnitOfWork, event: CloudEvent) -> None:
        await work.connection.execute(
            f"INSERT INTO {schema}.effects (event_id) VALUES ($1)", event.id
        )

    return record


def consumer(database: Database, schema: str, handler: EventHandler, **options: Any) -> Any:
    return EventConsumer(
        database=database,
        schema=schema,
        subscription=f"sub-{uuid.uuid4().hex[:8]}",
        handlers={DIED: handler},
        transient_backoff=0.1,
        retry_backoff=0.01,
        **options,
    )


async def produce(
    settings: ChassisSettings,
    topic: str,
    *values: bytes,
    key: bytes = b"one-partition",
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def until_effect(
    effects: Callable[[], Awaitable[list[str]]], event_id: str, timeout: float = 60
) -> list[str]:
    async with asyncio.timeout(timeout):
        while event_id not in (seen := await effects()):
            await asyncio.sleep(0.1)
    return seen


def reasons(records: list[Any]) -> list[str]:
    return [dict(record.headers)["dlq-reason"].decode() for record in records]


async def test_deeply_nested_json_and_control_characters_in_attributes_are_dead_lettered(
    database: Database,
    schema: str,
    settings: ChassisSettings,
    topic: str,
    effects: Callable[[], Awaitable[list[str]]],
) -> None:
    depth = 20_000
    deep = (b'{"data":[' * depth) + (b"]}" * depth)
    poison = [
        deep,
        document(death(), id="id-with-\u0000-nul"),
        document(death(), source="urn:\u0000"),
        document(death(), subject="case\u0000"),
    ]
    end_marker = death("7ABCDE1")
    async with running_consumer(settings, consumer(database, schema, recording(schema)), topic):
        await produce(settings, topic, *poison, encode(end_marker))
        dead = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=len(poison)
        )
        assert await until_effect(effects, end_marker.id) == [end_marker.id]
    assert reasons(dead) == ["not_a_cloudevent"] * len(poison)
    assert [record.value for record in dead] == poison
    errors = [dict(record.headers)["dlq-error"].decode() for record in dead]
    assert "nested" in errors[0]
    assert all(
        attribute in error
        for attribute, error in zip(("id", "source", "subject"), errors[1:], strict=True)
    )


async def test_a_header_with_a_nul_does_not_stop_the_dead_letter(
    database: Database,
    schema: str,
    settings: ChassisSettings,
    topic: str,
    effects: Callable[[], Awaitable[list[str]]],
) -> None:
    end_marker = death("7ABCDE1")
    async with running_consumer(settings, consumer(database, schema, recording(schema)), topic):
        await produce(settings, topic, b"not json", headers=[("origin", b"a\x00b")])
        await produce(settings, topic, encode(end_marker))
        (dead,) = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=1
        )
        await until_effect(effects, end_marker.id)
    assert dead.value == b"not json"
    assert dict(dead.headers)["origin"] == "a\ufffdb".encode()


@pytest.mark.parametrize(
    "failure",
    [FileNotFoundError("template missing"), asyncpg.InterfaceError("a bug, not an outage")],
    ids=["os-error", "interface-error"],
)
async def test_a_handler_error_that_is_not_an_outage_is_dead_lettered_not_retried_forever(
    database: Database,
    schema: str,
    settings: ChassisSettings,
    topic: str,
    effects: Callable[[], Awaitable[list[str]]],
    failure: Exception,
) -> None:
    poison = death("1POISON", subject="case-poison")
    attempts = {"poison": 0}

    async def handler(work: UnitOfWork, event: CloudEvent) -> None:
        if event.id == poison.id:
            attempts["poison"] += 1
            raise failure
        await recording(schema)(work, event)

    end_marker = death("7ABCDE1")
    async with running_consumer(settings, consumer(database, schema, handler), topic):
        await produce(settings, topic, encode(poison), encode(end_marker))
        (dead,) = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=1
        )
        assert await until_effect(effects, end_marker.id) == [end_marker.id]
    assert reasons([dead]) == ["handler_failed"]
    assert type(failure).__name__ in dict(dead.headers)["dlq-error"].decode()
    assert attempts["poison"] == 3


async def test_a_record_that_fails_outside_its_handler_is_isolated_and_dead_lettered(
    database: Database,
    schema: str,
    settings: ChassisSettings,
    topic: str,
    effects: Callable[[], Awaitable[list[str]]],
) -> None:
    """A record that breaks the batch itself (here its inbox id cannot be computed) must
    not hold its partition: the batch is retried, then split until that record is alone,
    and the records before and after it are handled."""
    poison = death("1POISON", subject="case-poison")

    def message_id(event: CloudEvent, record: ReceivedRecord) -> str:
        if event.id == poison.id:
            raise RuntimeError("no id for this one")
        return source_and_id(event, record)

    before, after = death("2BEFORE"), death("3AFTER1")
    subscription = consumer(database, schema, recording(schema), message_id=message_id)
    async with running_consumer(settings, subscription, topic):
        await produce(settings, topic, encode(before), encode(poison), encode(after))
        (dead,) = await read_topic(
            settings.kafka_bootstrap_servers, dead_letter_topic(topic), at_least=1
        )
        assert await until_effect(effects, after.id) == [before.id, after.id]
    assert reasons([dead]) == ["unprocessable"]
    assert dead.value == encode(poison)
    assert "RuntimeError: no id for this one" in dict(dead.headers)["dlq-error"].decode()
    parked = await database.pool.fetchval(
        f"SELECT subject FROM {schema}.dead_letters WHERE reason = 'unprocessable'"
    )
    assert parked == "case-poison"  # later messages of that case wait behind it


async def test_a_dead_letter_queued_earlier_in_the_batch_survives_a_later_retry(
    database: Database, schema: str, effects: Callable[[], Awaitable[list[str]]]
) -> None:
    poison, flaky = death("1POISON"), death("2FLAKY1")
    failures = {"flaky": 1}

    async def handler(work: UnitOfWork, event: CloudEvent) -> None:
        if event.id == poison.id:
            raise ValueError("never works")
        if event.id == flaky.id and failures["flaky"]:
            failures["flaky"] -= 1
            raise ValueError("works the second time")
        await recording(schema)(work, event)

    records = [
        ReceivedRecord("registry", 0, offset, None, encode(event))
        for offset, event in enumerate([poison, flaky])
    ]
    await consumer(database, schema, handler).process(records)
    assert await effects() == [flaky.id]
    dead = await database.pool.fetch(
        f"SELECT topic, headers FROM {schema}.outbox WHERE topic = 'registry.dlq'"
    )
    assert len(dead) == 1
    assert dict(dead[0]["headers"])["dlq-source-offset"] == "0"


async def test_the_same_id_from_two_sources_is_two_messages(
    database: Database, schema: str, effects: Callable[[], Awaitable[list[str]]]
) -> None:
    """CloudEvents makes source + id unique, not id: two registries may both use id 1."""
    first = death("1FIRST1", event_id="1")
    second = death("2SECOND", event_id="1").model_copy(update={"source": "urn:other:registry"})
    again = death("1FIRST1", event_id="1")
    records = [
        ReceivedRecord("registry", 0, offset, None, encode(event))
        for offset, event in enumerate([first, second, again])
    ]
    await consumer(database, schema, recording(schema)).process(records)
    assert await effects() == ["1", "1"]
