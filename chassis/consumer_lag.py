"""How far consumer groups are behind: the end of each partition they read minus the offset
they have committed (nothing committed yet counts from the beginning, since the platform's
groups start at the earliest offset). Asked with a plain consumer per group that joins
nothing, only fetching committed offsets: every Kafka-protocol broker answers that, where
the admin API's group listing is not implemented by all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    bootstrap_servers: str, groups: Mapping[str, Iterable[str]]
) -> list[PartitionLag]:
    """For each group, every partition of the topics it reads, ordered by group, topic and
    partition."""
    found: list[PartitionLag] = []
    for group in sorted(groups):
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False
        )
        try:
            await consumer.start()
            partitions = [
                TopicPartition(topic, partition)
                for topic in sorted(set(groups[group]))
                for partition in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = await consumer.end_offsets(partitions) if partitions else {}
            for partition in partitions:
                committed = await consumer.committed(partition)
                found.append(
                    PartitionLag(
                        group, partition.topic, partition.partition, committed or 0, ends[partition]
                    )
                )
        finally:
            await consumer.stop()
    return found
