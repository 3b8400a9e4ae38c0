"""The fault-injecting Kafka proxy, against a real Tansu broker with plain aiokafka clients."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
    UnknownTopicOrPartitionError,
)

from tests.kafka_faults import FaultyBroker, faulty_broker
from tests.kafka_reading import read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture
async def kafka(tmp_path: Path) -> AsyncIterator[FaultyBroker]:
    async with faulty_broker(tmp_path) as broker:
        yield broker


async def _create_topics(kafka: FaultyBroker, names: list[str]) -> None:
    """One partition each, so the order of records is the order of offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


async def _listed_topics(kafka: FaultyBroker) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        topics: list[str] = await admin.list_topics()
        return topics
    finally:
        await admin.close()


@pytest.fixture
async def topic(kafka: FaultyBroker) -> str:
    name = f"faults.{uuid.uuid4().hex[:10]}"
    await _create_topics(kafka, [name])
    return name


@pytest.fixture
async def producer(kafka: FaultyBroker) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    yield producer
    async with asyncio.timeout(10):
        await producer.stop()


async def _values(kafka: FaultyBroker, topic: str) -> list[bytes]:
    return [record.value for record in await read_to_end(kafka.bootstrap_servers, topic)]


async def test_records_pass_through_unchanged(
    kafka: FaultyBroker, topic: str, producer: AIOKafkaProducer
) -> None:
    sent = [
        (f"key-{n}".encode(), f"value-{n}".encode(), [("n", str(n).encode())]) for n in range(3)
    ]
    for key, value, headers in sent:
        await producer.send_and_wait(topic, value, key=key, headers=headers)

    records = await read_to_end(kafka.bootstrap_servers, topic)

    assert [(r.key, r.value, list(r.headers)) for r in records] == sent
    assert kafka.proxy.records_passed[topic] == 3
    assert kafka.proxy.produce_requests_seen == 3
    assert kafka.proxy.produce_requests_failed == 0


async def test_refused_produce_fails_the_send_and_writes_nothing(
    kafka: FaultyBroker, topic: str, producer: AIOKafkaProducer
) -> None:
    kafka.proxy.fail_produce(lambda p: p.topic == topic, error_code=MessageSizeTooLargeError.errno)

    with pytest.raises(MessageSizeTooLargeError):
        await producer.send_and_wait(topic, b"refused")

    assert await _values(kafka, topic) == []
    assert kafka.proxy.produce_requests_failed == 1
    assert kafka.proxy.records_passed[topic] == 0


async def test_refusal_of_one_partition_lets_the_others_of_the_request_through(
    kafka: FaultyBroker, producer: AIOKafkaProducer
) -> None:
    refused_topic, accepted_topic = (f"faults.{uuid.uuid4().hex[:10]}" for _ in range(2))
    await _create_topics(kafka, [refused_topic, accepted_topic])
    await producer.partitions_for(refused_topic)
    await producer.partitions_for(accepted_topic)
    kafka.proxy.fail_produce(
        lambda p: p.values == (b"too large",), error_code=MessageSizeTooLargeError.errno
    )
    seen_before = kafka.proxy.produce_requests_seen

    # Queued in one go, so the producer sends both batches in one request.
    refused = await producer.send(refused_topic, b"too large")
    accepted = await producer.send(accepted_topic, b"fine")

    with pytest.raises(MessageSizeTooLargeError):
        await refused
    await accepted
    assert kafka.proxy.produce_requests_seen == seen_before + 1
    assert await _values(kafka, refused_topic) == []
    assert await _values(kafka, accepted_topic) == [b"fine"]


async def test_refusal_limited_to_first_request_lets_the_next_send_through(
    kafka: FaultyBroker, topic: str, producer: AIOKafkaProducer
) -> None:
    failure = kafka.proxy.fail_produce(
        lambda p: p.topic == topic, error_code=MessageSizeTooLargeError.errno, times=1
    )

    with pytest.raises(MessageSizeTooLargeError):
        await producer.send_and_wait(topic, b"first")
    await producer.send_and_wait(topic, b"second")

    assert await _values(kafka, topic) == [b"second"]
    assert failure.failed_requests == 1
    assert not failure.active


@pytest.mark.parametrize("error", [NotLeaderForPartitionError, RequestTimedOutError])
async def test_retriable_refusal_is_retried_by_the_producer_and_written_once(
    kafka: FaultyBroker, topic: str, producer: AIOKafkaProducer, error: type[Exception]
) -> None:
    kafka.proxy.fail_produce(lambda p: p.topic == topic, error_code=error.errno, times=1)  # type: ignore[attr-defined]

    await producer.send_and_wait(topic, b"retried")

    assert await _values(kafka, topic) == [b"retried"]
    assert kafka.proxy.produce_requests_failed == 1
    assert kafka.proxy.produce_requests_seen == 2


async def test_hidden_topic_is_unknown_until_shown(kafka: FaultyBroker, topic: str) -> None:
    visible = f"faults.{uuid.uuid4().hex[:10]}"
    await _create_topics(kafka, [visible])
    kafka.proxy.hide_topics([topic])
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=1000)
    await producer.start()
    try:
        with pytest.raises(UnknownTopicOrPartitionError):
            await producer.partitions_for(topic)
        assert await producer.partitions_for(visible) == {0}
        listed = await _listed_topics(kafka)
        assert visible in listed
        assert topic not in listed

        kafka.proxy.show_topics([topic])

        assert await producer.partitions_for(topic) == {0}
        assert topic in await _listed_topics(kafka)
    finally:
        await producer.stop()


async def test_held_produce_response_blocks_the_send_after_the_broker_wrote_it(
    kafka: FaultyBroker, topic: str, producer: AIOKafkaProducer
) -> None:
    kafka.proxy.hold_produce_responses()
    send = asyncio.create_task(producer.send_and_wait(topic, b"held"))
    async with asyncio.timeout(5):
        await kafka.proxy.produce_response_held()

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(send), timeout=0.5)
    assert kafka.proxy.held_produce_responses == 1
    # Only the producer's connection waits: a consumer's own connections see the record.
    assert await _values(kafka, topic) == [b"held"]
    assert not send.done()

    kafka.proxy.release()

    async with asyncio.timeout(5):
        metadata = await send
    assert metadata.offset == 0
    assert await _values(kafka, topic) == [b"held"]
    assert kafka.proxy.held_produce_responses == 0


async def test_close_drops_held_connections_and_stops_listening(
    kafka: FaultyBroker, topic: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=1000)
    await producer.start()
    try:
        kafka.proxy.hold_produce_responses()
        send = asyncio.create_task(producer.send_and_wait(topic, b"held"))
        async with asyncio.timeout(5):
            await kafka.proxy.produce_response_held()

        async with asyncio.timeout(2):
            await kafka.proxy.close()

        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", kafka.proxy.listen_port), timeout=1).close()
        # Cut off from the broker, the producer gives the record up after its request timeout.
        async with asyncio.timeout(10):
            with pytest.raises(KafkaError):
                await send
    finally:
        async with asyncio.timeout(10):
            await producer.stop()
