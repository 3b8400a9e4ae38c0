"""The case tracker is rebuilt from the event topics on demand."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from chassis.auth import Role
from chassis.database import Database
from chassis.settings import ChassisSettings
from tests.integration.applications import application, bearer
from tests.kafka_reading import json_records_matching

pytestmark = pytest.mark.integration


async def test_rebuild_from_topics_restores_every_case_and_its_timeline(
    clerk: httpx.AsyncClient, intake_url: str, settings: ChassisSettings, database: Database
) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    case_id = (await clerk.post("/v1/applications", json=application(), headers=headers)).json()[
        "case_id"
    ]
    await clerk.post(f"/v1/applications/{case_id}/withdraw")
    published = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.intake.events.v1",
        lambda e: e.get("subject") == case_id,
        at_least=2,
    )
    async with asyncio.timeout(30):  # the live tracker subscription has seen both, too
        while await database.pool.fetchval(
            "SELECT count(*) FROM intake.inbox WHERE subscription = 'intake.tracker'"
            " AND message_id = ANY($1::text[])",
            [event["id"] for event in published],
        ) < len(published):
            await asyncio.sleep(0.1)
    before = (await clerk.get(f"/v1/applications/{case_id}")).json()
    await database.pool.execute("DELETE FROM intake.tracker_timeline WHERE case_id = $1", case_id)
    assert (await clerk.get(f"/v1/applications/{case_id}")).status_code == 404

    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.SUPERVISOR), timeout=60
    ) as supervisor:
        assert (await clerk.post("/v1/tracker/rebuild")).status_code == 403
        rebuilt = await supervisor.post("/v1/tracker/rebuild")
    assert rebuilt.status_code == 200
    assert rebuilt.json()["events_recorded"] >= 2
    after = (await clerk.get(f"/v1/applications/{case_id}")).json()
    assert after == before
    assert after["status"] == "withdrawn"
