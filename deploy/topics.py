"""Create the public topics and their dead-letter topics (idempotent)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from contracts.topics import all_topics_with_dead_letters


async def ensure_topics(
    bootstrap_servers: str,
    topics: Sequence[str] | None = None,
    *,
    partitions: int = 3,
    replication_factor: int = 1,
) -> list[str]:
    """Create whichever of `topics` (default: every public topic and its DLQ) is missing;
    returns the names created now."""
    wanted = list(topics) if topics is not None else all_topics_with_dead_letters()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(topic, partitions, replication_factor) for topic in missing]
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
