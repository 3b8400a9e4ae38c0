"""How far consumer groups are behind: the end of each partition they read minus the offset
they have committed. Asked with a plain consumer per group that joins nothing (it only
fetches the committed offsets), which every Kafka-protocol broker answers, where the admin
API's group listing is not implemented by all."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


async def consumer_lag(
    bootstrap_servers: str, groups: Iterable[str], topics: Iterable[str]
) -> list[PartitionLag]:
    """For each group, every partition of `topics` it has committed an offset for, with
    its lag (partitions it never committed on are left out), ordered by group, topic and
    partition."""
    found: list[PartitionLag] = []
    topics = sorted(set(topics))
    for group in sorted(set(groups)):
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            for partition in partitions:
                committed = await consumer.committed(partition)
                if committed is not None:
                    found.append(
                        PartitionLag(
                            group, partition.topic, partition.partition, committed, ends[partition]
                        )
                    )
        finally:
            await consumer.stop()
    return found
