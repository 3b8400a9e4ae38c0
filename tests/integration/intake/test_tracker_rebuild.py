"""The case tracker is rebuilt from the event topics on demand."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest

from chassis.auth import Role
from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from tests.integration.applications import application, bearer
from tests.kafka_reading import json_records_matching

pytestmark = pytest.mark.integration


async def test_rebuild_from_topics_restores_every_case_and_its_timeline(
    clerk: httpx.AsyncClient,
    intake_url: str,
    intake_schema: str,
    settings: ChassisSettings,
    database: Database,
) -> None:
    # Eligibility, if it runs in this session, refers this application for review rather
    # than deciding it, so it can still be withdrawn.
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = application(
        benefit="disability_benefit", facts={"disability_group": 2, "assessment_date": assessed}
    )
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    case_id = (await clerk.post("/v1/applications", json=body, headers=headers)).json()["case_id"]
    assert (await clerk.post(f"/v1/applications/{case_id}/withdraw")).status_code == 200
    published = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.intake.events.v1",
        lambda e: e.get("subject") == case_id,
        at_least=2,
    )
    # The live tracker subscription has taken both in too (its inbox id holds the event id),
    # so it will not record them again after the rows are deleted below.
    async with asyncio.timeout(30):
        while await database.pool.fetchval(
            f"SELECT count(*) FROM {intake_schema}.inbox, unnest($2::text[]) AS event(id)"
            " WHERE subscription = $1 AND strpos(message_id, event.id) > 0",
            f"{intake_schema}.tracker",
            [event["id"] for event in published],
        ) < len(published):
            await asyncio.sleep(0.1)
    before = (await clerk.get(f"/v1/applications/{case_id}")).json()
    await database.pool.execute(
        f"DELETE FROM {intake_schema}.tracker_timeline WHERE case_id = $1", case_id
    )
    assert (await clerk.get(f"/v1/applications/{case_id}")).status_code == 404

    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.SUPERVISOR), timeout=60
    ) as supervisor:
        assert (await clerk.post("/v1/tracker/rebuild")).status_code == 403
        rebuilt = await supervisor.post("/v1/tracker/rebuild")
    assert rebuilt.status_code == 200
    assert rebuilt.json()["events_recorded"] >= 2
    after = (await clerk.get(f"/v1/applications/{case_id}")).json()
    # A referral published after `before` was read is rebuilt too; nothing else is new.
    arrived_since = [entry for entry in after["timeline"] if entry not in before["timeline"]]
    assert [entry["source"] for entry in arrived_since] in ([], ["urn:dost:eligibility"])
    assert [entry for entry in after["timeline"] if entry not in arrived_since] == before[
        "timeline"
    ]
    assert {**after, "timeline": None} == {**before, "timeline": None}
    assert after["status"] == "withdrawn"
