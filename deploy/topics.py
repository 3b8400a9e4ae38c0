"""Create the public topics and their dead-letter topics (idempotent): `dost topics`."""

from __future__ import annotations

from collections.abc import Sequence

from chassis import topics as kafka_topics
from chassis.settings import ChassisSettings
from chassis.topics import TopicLayout
from contracts.topics import all_topics_with_dead_letters


async def ensure_topics(
    bootstrap_servers: str,
    topics: Sequence[str] | None = None,
    *,
    layout: TopicLayout | None = None,
) -> list[str]:
    """Create whichever of `topics` (default: every public topic and its DLQ) is missing,
    laid out as `layout` (default: as the environment's settings say); returns the names
    created now."""
    wanted = list(topics) if topics is not None else all_topics_with_dead_letters()
    return await kafka_topics.ensure_topics(
        bootstrap_servers, wanted, layout or TopicLayout.from_settings(ChassisSettings())
    )
