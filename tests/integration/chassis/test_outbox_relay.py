"""The outbox relay against a real PostgreSQL and Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections.abc import Sequence

import pytest

from chassis import outbox
from chassis.database import Database
from chassis.outbox import OutboxMessage
from chassis.settings import ChassisSettings
from chassis.unit_of_work import unit_of_work
from deploy.topics import ensure_topics
from tests.kafka_reading import read_topic
from tests.running import running_relay

pytestmark = pytest.mark.integration


def _message(topic: str, key: str, n: int) -> OutboxMessage:
    return OutboxMessage(topic=topic, payload=f"{key}:{n}".encode(), key=key.encode())


async def _outbox_size(database: Database, schema: str) -> int:
    return int(await database.pool.fetchval(f"SELECT count(*) FROM {schema}.outbox"))


async def _wait_until_empty(database: Database, schema: str, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while await _outbox_size(database, schema):
            await asyncio.sleep(0.1)


def _payloads(records: Sequence[object]) -> list[str]:
    return [record.value.decode() for record in records]  # type: ignore[attr-defined]


async def test_message_committed_later_with_lower_position_is_not_skipped(
    database: Database, schema: str, settings: ChassisSettings, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    await ensure_topics(settings.kafka_bootstrap_servers, [topic])
    early_written = asyncio.Event()
    release_early = asyncio.Event()

    async def early_writer() -> None:
        async with database.pool.acquire() as connection, connection.transaction():
            await outbox.put(connection, schema, [_message(topic, "early", 1)])
            early_written.set()
            await release_early.wait()

    async with running_relay(settings, schema):
        early = asyncio.create_task(early_writer())
        await early_written.wait()
        async with database.pool.acquire() as connection, connection.transaction():
            await outbox.put(connection, schema, [_message(topic, "late", 1)])
        first = await read_topic(settings.kafka_bootstrap_servers, topic, at_least=1)
        assert _payloads(first) == ["late:1"]
        release_early.set()
        await early
        records = await read_topic(settings.kafka_bootstrap_servers, topic, at_least=2)
        await _wait_until_empty(database, schema)
    assert sorted(_payloads(records)) == ["early:1", "late:1"]


async def test_concurrent_writers_all_published_in_order_per_key(
    database: Database, schema: str, settings: ChassisSettings, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    await ensure_topics(settings.kafka_bootstrap_servers, [topic])
    writers, per_writer = 10, 20

    async def write(writer: int) -> None:
        for n in range(per_writer):
            async with unit_of_work(database, schema) as work:
                work.publish_raw(_message(topic, f"case-{writer}", n))
                await asyncio.sleep(random.uniform(0, 0.005))

    async with running_relay(settings, schema, batch_size=25):
        await asyncio.gather(*(write(w) for w in range(writers)))
        records = await read_topic(
            settings.kafka_bootstrap_servers, topic, at_least=writers * per_writer
        )
        await _wait_until_empty(database, schema)
    by_key: dict[str, list[int]] = {}
    for payload in _payloads(records):
        key, n = payload.split(":")
        by_key.setdefault(key, []).append(int(n))
    assert len(records) == writers * per_writer
    assert by_key == {f"case-{w}": list(range(per_writer)) for w in range(writers)}


async def test_only_one_relay_per_schema_publishes(
    database: Database, schema: str, settings: ChassisSettings
) -> None:
    async with running_relay(settings, schema) as first, running_relay(settings, schema) as second:
        async with asyncio.timeout(10):
            while not (first.is_leader or second.is_leader):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert [first.is_leader, second.is_leader].count(True) == 1


async def test_relay_killed_mid_batch_loses_nothing(
    database: Database, schema: str, settings: ChassisSettings, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}.events"
    await ensure_topics(settings.kafka_bootstrap_servers, [topic])
    total = 4000
    async with database.pool.acquire() as connection, connection.transaction():
        await outbox.put(
            connection, schema, [_message(topic, f"case-{n % 50}", n) for n in range(total)]
        )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DOST_STATE_DIR": str(settings.state_dir),
        "OUTBOX_RELAY_BATCH_SIZE": "50",
    }
    command = [sys.executable, "-m", "chassis.relay", "--schema", schema]
    relay = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async with asyncio.timeout(60):
            while await _outbox_size(database, schema) > total - 200:
                await asyncio.sleep(0.01)
        relay.send_signal(signal.SIGKILL)
        relay.wait(timeout=10)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    left = await _outbox_size(database, schema)
    assert 0 < left < total, "the relay must have been killed part-way through"

    restarted = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        await _wait_until_empty(database, schema, timeout=90)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=20)
    records = await read_topic(settings.kafka_bootstrap_servers, topic, at_least=total, timeout=60)
    published = {int(payload.split(":")[1]) for payload in _payloads(records)}
    assert published == set(range(total))
