"""Reading topics from the outside in tests: a plain aiokafka consumer, no group."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    at_least: int,
    timeout: float = 30.0,
    settle: float = 0.0,
) -> list[ConsumerRecord[Any, Any]]:
    """Every record of `topic` from the beginning, once at least `at_least` have arrived
    (then `settle` seconds more, to catch extras). Fails after `timeout` seconds."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] | None = None
        while not partitions:
            partitions = await _partitions(consumer, topic)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partitions")
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        records: list[ConsumerRecord[Any, Any]] = []
        settle_until: float | None = None
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            now = time.monotonic()
            if len(records) >= at_least:
                settle_until = settle_until or now + settle
                if now >= settle_until:
                    return records
            elif now > deadline:
                raise TimeoutError(
                    f"{topic}: {len(records)} records after {timeout}s, wanted {at_least}"
                )
    finally:
        await consumer.stop()


async def read_to_end(bootstrap_servers: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record of `topic` up to its end offsets as of now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = None
        async with asyncio.timeout(10):
            while not partitions:
                partitions = await _partitions(consumer, topic)
        assigned = [TopicPartition(topic, partition) for partition in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        records: list[ConsumerRecord[Any, Any]] = []
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < end[tp] for tp in assigned]):
                batch = await consumer.getmany(timeout_ms=200)
                for partition_records in batch.values():
                    records.extend(partition_records)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    await consumer._client.force_metadata_update()
    found: set[int] | None = consumer.partitions_for_topic(topic)
    if not found:
        await asyncio.sleep(0.2)
    return found


async def json_records_matching(
    bootstrap_servers: str,
    topic: str,
    matches: Callable[[dict[str, Any]], bool],
    *,
    at_least: int = 1,
    timeout: float = 30.0,
    settle: float = 0.0,
) -> list[dict[str, Any]]:
    """The JSON documents on `topic` for which `matches` holds, once `at_least` of them
    arrived (and `settle` seconds more, to catch any that should not be there)."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_to_end(bootstrap_servers, topic)
        found = []
        for record in records:
            try:
                document = json.loads(record.value)
            except ValueError:
                continue
            if isinstance(document, dict) and matches(document):
                found.append(document)
        if len(found) >= at_least:
            if settle <= 0:
                return found
            await asyncio.sleep(settle)
            settle = 0
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: {len(found)} matching records, wanted {at_least}")
        await asyncio.sleep(0.2)
