"""The outbox relay against a real PostgreSQL and Kafka-protocol broker, healthy and faulty."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from chassis import outbox
from chassis.database import Database
from chassis.outbox import OutboxMessage
from chassis.settings import ChassisSettings
from chassis.topics import TopicLayout
from chassis.unit_of_work import unit_of_work
from deploy.topics import ensure_topics
from tests.kafka_faults import FaultyBroker, faulty_broker
from tests.kafka_reading import read_to_end, read_topic
from tests.running import running_relay

pytestmark = pytest.mark.integration
UNKNOWN_SERVER_ERROR = -1  # not retriable by the client: the batch fails at once


def _message(topic: str, key: str, n: int, padding: int = 0) -> OutboxMessage:
    return OutboxMessage(
        topic=topic, payload=f"{key}:{n}:".encode() + b"." * padding, key=key.encode()
    )


def _payloads(records: Sequence[Any]) -> list[str]:
    return [record.value.decode().rstrip(".").rstrip(":") for record in records]


def _numbers(records: Sequence[Any], key: str) -> list[int]:
    return [
        int(payload.split(":")[1]) for payload in _payloads(records) if payload.split(":")[0] == key
    ]


def _first_occurrences(numbers: list[int]) -> list[int]:
    return list(dict.fromkeys(numbers))


async def _outbox_size(database: Database, schema: str) -> int:
    return int(await database.pool.fetchval(f"SELECT count(*) FROM {schema}.outbox"))


async def _wait_until_empty(database: Database, schema: str, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while await _outbox_size(database, schema):
            await asyncio.sleep(0.1)


async def _put(database: Database, schema: str, messages: Sequence[OutboxMessage]) -> None:
    async with database.pool.acquire() as connection, connection.transaction():
        await outbox.put(connection, schema, messages)


@pytest.fixture
async def kafka(tmp_path: Path) -> AsyncIterator[FaultyBroker]:
    async with faulty_broker(tmp_path) as broker:
        yield broker


@pytest.fixture
def relay_settings(settings: ChassisSettings, kafka: FaultyBroker) -> ChassisSettings:
    return settings.model_copy(update={"kafka_bootstrap_servers": kafka.bootstrap_servers})


async def _topic(bootstrap: str, name: str, partitions: int = 1) -> str:
    layout = TopicLayout(partitions=partitions, replication_factor=1, min_insync_replicas=1)
    await ensure_topics(bootstrap, [name], layout=layout)
    return name


async def test_message_committed_later_with_lower_position_is_not_skipped(
    database: Database, schema: str, settings: ChassisSettings, topic_prefix: str
) -> None:
    topic = await _topic(settings.kafka_bootstrap_servers, f"{topic_prefix}.events")
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
        await _put(database, schema, [_message(topic, "late", 1)])
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
    topic = await _topic(settings.kafka_bootstrap_servers, f"{topic_prefix}.events", 3)
    writers, per_writer = 10, 20

    async def write(writer: int) -> None:
        for n in range(per_writer):
            async with unit_of_work(database, schema) as work:
                work.publish_raw(_message(topic, f"case-{writer}", n))

    async with running_relay(settings, schema, batch_size=25):
        await asyncio.gather(*(write(w) for w in range(writers)))
        await _wait_until_empty(database, schema)
    records = await read_to_end(settings.kafka_bootstrap_servers, topic)
    assert len(records) == writers * per_writer
    for writer in range(writers):
        assert _numbers(records, f"case-{writer}") == list(range(per_writer))


async def test_two_relays_of_one_schema_publish_each_message_once(
    database: Database, schema: str, settings: ChassisSettings, topic_prefix: str
) -> None:
    topic = await _topic(settings.kafka_bootstrap_servers, f"{topic_prefix}.events", 3)
    total = 300
    async with (
        running_relay(settings, schema, batch_size=20) as first,
        running_relay(settings, schema, batch_size=20) as second,
    ):
        for start in range(0, total, 30):
            await _put(
                database,
                schema,
                [_message(topic, f"case-{n % 7}", n) for n in range(start, start + 30)],
            )
            await asyncio.sleep(0.05)
        await _wait_until_empty(database, schema)
        assert [first.is_leader, second.is_leader].count(True) == 1
    records = await read_to_end(settings.kafka_bootstrap_servers, topic)
    numbers = sorted(int(payload.split(":")[1]) for payload in _payloads(records))
    assert numbers == list(range(total))  # every message, none twice


async def test_a_refused_row_is_parked_its_key_waits_and_every_other_key_goes_on(
    database: Database,
    schema: str,
    relay_settings: ChassisSettings,
    kafka: FaultyBroker,
    topic_prefix: str,
) -> None:
    topic = await _topic(kafka.bootstrap_servers, f"{topic_prefix}.events")
    refusal = kafka.proxy.fail_produce(
        lambda partition: any(b"poison" in (value or b"") for value in partition.values),
        error_code=MessageSizeTooLargeError.errno,
    )
    rows = [
        _message(topic, "a", 1),
        OutboxMessage(topic=topic, payload=b"a:2:poison", key=b"a"),
        _message(topic, "a", 3),
        *(_message(topic, "b", n) for n in range(1, 4)),
    ]
    await _put(database, schema, rows)
    async with running_relay(relay_settings, schema):
        async with asyncio.timeout(30):
            while await _outbox_size(database, schema) > 2:
                await asyncio.sleep(0.1)
        async with database.pool.acquire() as connection:
            status = await outbox.status(connection, schema)
        delivered = await read_to_end(kafka.bootstrap_servers, topic)
        assert _numbers(delivered, "b") == [1, 2, 3]
        assert _numbers(delivered, "a") == [1]  # acknowledged once, never sent again
        (parked,) = status.parked
        assert (parked.key, parked.attempts) == ("a", 1)
        assert parked.last_error is not None
        assert "MessageSizeTooLargeError" in parked.last_error
        assert status.queued == 2  # the parked row, and a:3 waiting behind it

        kafka.proxy.clear_produce_failures()
        async with database.pool.acquire() as connection:
            assert await outbox.retry_parked(connection, schema) == 1
        await _wait_until_empty(database, schema)
    records = await read_to_end(kafka.bootstrap_servers, topic)
    assert _numbers(records, "a") == [1, 2, 3]
    assert refusal.failed_requests >= 1


async def test_rows_for_a_topic_the_broker_does_not_know_are_parked_and_others_go_on(
    database: Database,
    schema: str,
    relay_settings: ChassisSettings,
    kafka: FaultyBroker,
    topic_prefix: str,
) -> None:
    known = await _topic(kafka.bootstrap_servers, f"{topic_prefix}.known")
    missing = f"{topic_prefix}.missing"
    kafka.proxy.hide_topics([missing])
    await _put(database, schema, [_message(missing, "m", 1), _message(known, "k", 1)])
    async with running_relay(relay_settings, schema):
        records = await read_topic(kafka.bootstrap_servers, known, at_least=1)
        async with asyncio.timeout(30):
            while not (await _parked(database, schema)):
                await asyncio.sleep(0.1)
        (parked,) = await _parked(database, schema)
        assert parked.topic == missing
        assert parked.last_error is not None
        assert "does not exist" in parked.last_error
        await _topic(kafka.bootstrap_servers, missing)
        kafka.proxy.show_topics([missing])
        async with database.pool.acquire() as connection:
            await outbox.retry_parked(connection, schema)
        await _wait_until_empty(database, schema)
    assert _payloads(records) == ["k:1"]
    assert _payloads(await read_to_end(kafka.bootstrap_servers, missing)) == ["m:1"]


async def _parked(database: Database, schema: str) -> list[outbox.ParkedMessage]:
    async with database.pool.acquire() as connection:
        return (await outbox.status(connection, schema)).parked


async def test_a_failed_batch_is_never_overtaken_by_a_later_batch_of_its_partition(
    database: Database,
    schema: str,
    relay_settings: ChassisSettings,
    kafka: FaultyBroker,
    topic_prefix: str,
) -> None:
    """Rows of one key too big for one record batch: the broker fails the second batch
    sent. Without idempotence a retry must still not put a later row before it."""
    topic = await _topic(kafka.bootstrap_servers, f"{topic_prefix}.events")
    requests_of_topic = {"seen": 0}

    def second_request(partition: Any) -> bool:
        if partition.topic != topic:
            return False
        requests_of_topic["seen"] += 1
        return requests_of_topic["seen"] == 2

    kafka.proxy.fail_produce(second_request, error_code=UNKNOWN_SERVER_ERROR, times=1)
    total = 16
    await _put(database, schema, [_message(topic, "a", n, padding=100_000) for n in range(total)])
    async with running_relay(relay_settings, schema, batch_size=100):
        await _wait_until_empty(database, schema)
    numbers = _numbers(await read_to_end(kafka.bootstrap_servers, topic), "a")
    assert kafka.proxy.produce_requests_failed == 1
    assert _first_occurrences(numbers) == list(range(total))


def _relay_process(
    settings: ChassisSettings, schema: str, **environment: str
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": str(settings.kafka_enable_idempotence).lower(),
        "DOST_STATE_DIR": str(settings.state_dir),
        "OUTBOX_RELAY_POLL_INTERVAL": "0.2",
        **environment,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "chassis.relay", "--schema", schema],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


class _Processes:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def add(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def processes() -> Iterator[_Processes]:
    started = _Processes()
    yield started
    started.stop_all()


async def test_relay_killed_mid_batch_loses_nothing(
    database: Database,
    schema: str,
    relay_settings: ChassisSettings,
    kafka: FaultyBroker,
    topic_prefix: str,
    processes: _Processes,
) -> None:
    topic = await _topic(kafka.bootstrap_servers, f"{topic_prefix}.events", 3)
    total = 2000
    await _put(database, schema, [_message(topic, f"case-{n % 50}", n) for n in range(total)])
    first = processes.add(_relay_process(relay_settings, schema, OUTBOX_RELAY_BATCH_SIZE="50"))
    async with asyncio.timeout(60):
        while await _outbox_size(database, schema) > total - 500:
            await asyncio.sleep(0.01)
    # The broker writes the relay's next batch but its acknowledgement is held: the relay
    # is killed with that batch on the topic and still in the outbox.
    kafka.proxy.hold_produce_responses()
    async with asyncio.timeout(30):
        await kafka.proxy.produce_response_held()
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    kafka.proxy.release()
    left = await _outbox_size(database, schema)
    assert 0 < left < total

    restarted = processes.add(_relay_process(relay_settings, schema, OUTBOX_RELAY_BATCH_SIZE="50"))
    await _wait_until_empty(database, schema, timeout=90)
    restarted.send_signal(signal.SIGTERM)
    restarted.wait(timeout=20)
    records = await read_to_end(kafka.bootstrap_servers, topic)
    published = [int(payload.split(":")[1]) for payload in _payloads(records)]
    assert set(published) == set(range(total))
    assert len(published) > len(set(published))  # the held batch went out twice: at least once
    for case in range(50):
        assert _first_occurrences(_numbers(records, f"case-{case}")) == list(range(case, total, 50))


async def test_a_frozen_leader_loses_its_lease_to_another_relay(
    database: Database,
    schema: str,
    settings: ChassisSettings,
    topic_prefix: str,
    processes: _Processes,
) -> None:
    """The leader's host freezes (SIGSTOP keeps its TCP connections open, as a hung VM or a
    long pause does): within the lease's time to live another relay takes over, and the
    frozen one, woken, does not lead beside it."""
    topic = await _topic(settings.kafka_bootstrap_servers, f"{topic_prefix}.events")
    frozen = processes.add(_relay_process(settings, schema, OUTBOX_RELAY_LEASE_SECONDS="2"))
    async with asyncio.timeout(30):
        while not await _lease_holder(database, schema):
            await asyncio.sleep(0.1)
    first_holder = await _lease_holder(database, schema)
    frozen.send_signal(signal.SIGSTOP)
    async with running_relay(settings, schema, lease_seconds=2) as standby:
        await _put(database, schema, [_message(topic, "k", 1)])
        await read_topic(settings.kafka_bootstrap_servers, topic, at_least=1)
        assert standby.is_leader
        assert await _lease_holder(database, schema) == standby.lease.holder != first_holder
        frozen.send_signal(signal.SIGCONT)
        await _put(database, schema, [_message(topic, "k", 2)])
        records = await read_topic(settings.kafka_bootstrap_servers, topic, at_least=2)
        await _wait_until_empty(database, schema)
        assert standby.is_leader
        assert await _lease_holder(database, schema) == standby.lease.holder
    assert _payloads(records) == ["k:1", "k:2"]


async def _lease_holder(database: Database, schema: str) -> str | None:
    holder = await database.pool.fetchval(
        f"SELECT holder FROM {schema}.leases WHERE name = 'outbox-relay' AND expires_at > now()"
    )
    return str(holder) if holder else None
