"""Reading topics from the outside in tests: a plain aiokafka consumer, no group."""

from __future__ import annotations

import asyncio
import time
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


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int] | None:
    await consumer._client.force_metadata_update()
    found: set[int] | None = consumer.partitions_for_topic(topic)
    if not found:
        await asyncio.sleep(0.2)
    return found
