"""A service is ready only when the topics it reads and writes exist as configured, and says
what is wrong otherwise. Topics are the operator's to create, not the service's."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.settings import ChassisSettings
from chassis.topics import TopicLayout
from contracts.topics import INTAKE_COMMANDS, INTAKE_EVENTS, all_topics_with_dead_letters
from deploy.topics import ensure_topics
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.kafka_faults import FaultyBroker, faulty_broker
from tests.running_service import serving

pytestmark = pytest.mark.integration


@pytest.fixture
async def kafka(tmp_path: Path) -> AsyncIterator[FaultyBroker]:
    async with faulty_broker(tmp_path) as broker:
        yield broker


async def readiness(client: httpx.AsyncClient, *, until_status: int) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while (answer := await client.get("/readyz")).status_code != until_status:
            await asyncio.sleep(0.2)
    body: dict[str, Any] = answer.json()
    return body


def intake_settings(settings: ChassisSettings, **changes: Any) -> IntakeSettings:
    return IntakeSettings(
        **settings.model_dump(by_alias=True), schema_name=f"intake_{uuid.uuid4().hex[:8]}"
    ).model_copy(update=changes)


async def test_a_missing_topic_keeps_the_service_unready_until_an_operator_creates_it(
    settings: ChassisSettings, kafka: FaultyBroker
) -> None:
    await ensure_topics(
        kafka.bootstrap_servers,
        all_topics_with_dead_letters(),
        layout=TopicLayout.from_settings(settings),
    )
    kafka.proxy.hide_topics([INTAKE_COMMANDS])  # as on a broker without auto-creation
    app = create_app(intake_settings(settings, kafka_bootstrap_servers=kafka.bootstrap_servers))
    app.state.runtime.topic_check_interval = 0.3
    async with (
        serving(app, wait_until_ready=False) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=5) as client,
    ):
        unready = await readiness(client, until_status=503)
        assert unready["checks"]["topics"] is False
        assert unready["checks"]["consumers"] is False
        assert unready["problems"] == [
            f"topic {INTAKE_COMMANDS} does not exist (create it with `dost topics`)"
        ]
        kafka.proxy.show_topics([INTAKE_COMMANDS])
        ready = await readiness(client, until_status=200)
    assert ready["checks"] == {
        "database": True,
        "broker": True,
        "topics": True,
        "consumers": True,
        "background_tasks": True,
    }
    assert ready["problems"] == []


async def test_topics_with_another_partition_count_are_named_and_the_service_is_unready(
    settings: ChassisSettings,
) -> None:
    expected = TopicLayout.from_settings(settings).partitions + 1
    app = create_app(intake_settings(settings, kafka_topic_partitions=expected))
    async with (
        serving(app, wait_until_ready=False) as base_url,
        httpx.AsyncClient(base_url=base_url, timeout=5) as client,
    ):
        unready = await readiness(client, until_status=503)
    assert (
        f"topic {INTAKE_EVENTS} has {expected - 1} partitions, expected {expected}"
        " (KAFKA_TOPIC_PARTITIONS)"
    ) in unready["problems"]
    assert unready["checks"]["consumers"] is False
