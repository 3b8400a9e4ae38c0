"""Kafka topics as the platform needs them: created by the operator's tooling (`dost topics`),
checked by every service at start-up, never created on the fly by a client.

A production cluster replicates each topic (`KAFKA_TOPIC_REPLICATION_FACTOR`, default 3)
and acknowledges a write only once `min.insync.replicas` copies have it (default 2), so one
broker can fail without losing an acknowledged event. The partition count fixes which
partition a case's events go to: a service refuses to report ready when a topic it uses
is missing or has another partition count than configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from chassis.settings import ChassisSettings
from contracts.topics import EVENT_TOPICS


@dataclass(frozen=True)
class TopicLayout:
    """How every platform topic is laid out."""

    partitions: int = 6
    replication_factor: int = 3
    min_insync_replicas: int = 2
    retention_ms: int = 30 * 24 * 3600 * 1000
    event_retention_ms: int = -1

    @classmethod
    def from_settings(cls, settings: ChassisSettings) -> TopicLayout:
        return cls(
            partitions=settings.kafka_topic_partitions,
            replication_factor=settings.kafka_topic_replication_factor,
            min_insync_replicas=settings.kafka_topic_min_insync_replicas,
            retention_ms=settings.kafka_topic_retention_ms,
            event_retention_ms=settings.kafka_event_topic_retention_ms,
        )

    def configs(self, topic: str) -> dict[str, str]:
        """The topic-level configuration `topic` is created with: an event topic keeps its
        records as long as `event_retention_ms` (forever by default: read models are
        rebuilt from them), commands and dead letters as long as `retention_ms`."""
        retention = self.event_retention_ms if topic in EVENT_TOPICS else self.retention_ms
        return {
            "min.insync.replicas": str(self.min_insync_replicas),
            "retention.ms": str(retention),
        }


async def ensure_topics(
    bootstrap_servers: str, topics: Sequence[str], layout: TopicLayout
) -> list[str]:
    """Create whichever of `topics` is missing, laid out as `layout`; returns the names
    created now. Existing topics are left as they are (see :func:`topic_problems`)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in dict.fromkeys(topics) if topic not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [
                NewTopic(
                    topic,
                    layout.partitions,
                    layout.replication_factor,
                    topic_configs=layout.configs(topic),
                )
                for topic in missing
            ]
        )
        created = []
        for topic, code, *_ in response.topic_errors:
            if code == 0:
                created.append(topic)
            elif for_code(code) is not TopicAlreadyExistsError:
                raise for_code(code)(f"could not create topic {topic}")
        return created
    finally:
        await admin.close()


async def topic_problems(
    bootstrap_servers: str, topics: Sequence[str], layout: TopicLayout
) -> list[str]:
    """What is wrong with `topics` on the cluster (missing, or another partition count
    than `layout` says), in words an operator can act on; empty when all is well.

    Asks for the metadata of all topics, which no broker answers by creating one."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        described = {entry["topic"]: entry for entry in await admin.describe_topics(None)}
    finally:
        await admin.close()
    problems = []
    for topic in dict.fromkeys(topics):
        entry = described.get(topic)
        if entry is None or entry["error_code"] != 0:
            problems.append(f"topic {topic} does not exist (create it with `dost topics`)")
        elif len(entry["partitions"]) != layout.partitions:
            problems.append(
                f"topic {topic} has {len(entry['partitions'])} partitions,"
                f" expected {layout.partitions} (KAFKA_TOPIC_PARTITIONS)"
            )
    return problems
