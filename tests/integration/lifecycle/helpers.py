"""Following a case through the services from the outside."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from tests.kafka_reading import json_records_matching

ELIGIBILITY_EVENTS = "dost.eligibility.events.v1"


async def submit(clerk: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await clerk.post(
        "/v1/applications", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["case_id"])


async def eligibility_event(
    settings: ChassisSettings, case_id: str, name: str, *, settle: float = 0.0
) -> list[dict[str, Any]]:
    """The case's eligibility events of type `name` (e.g. EligibilityDecided)."""
    return await json_records_matching(
        settings.kafka_bootstrap_servers,
        ELIGIBILITY_EVENTS,
        lambda e: e.get("subject") == case_id and e["type"] == f"dost.eligibility.{name}.v1",
        settle=settle,
        timeout=60,
    )


async def case_status(
    clerk: httpx.AsyncClient, case_id: str, wanted: str, timeout: float = 30
) -> dict[str, Any]:
    """The tracker's view of the case once it shows `wanted`."""
    async with asyncio.timeout(timeout):
        while True:
            case: dict[str, Any] = (await clerk.get(f"/v1/applications/{case_id}")).json()
            if case.get("status") == wanted:
                return case
            await asyncio.sleep(0.2)


async def intake_noted_decision(database: Database, intake_schema: str, case_id: str) -> None:
    """Returns once intake's own record of the case (what a withdrawal is checked against)
    holds eligibility's decision. Its tracker, another subscription, may show it sooner."""
    async with asyncio.timeout(30):
        while not await database.pool.fetchval(
            f"SELECT count(*) FROM {intake_schema}.events"
            " WHERE stream_id = $1 AND event_type = 'intake.DecisionNoted'",
            f"application-{case_id}",
        ):
            await asyncio.sleep(0.1)


def today() -> str:
    """Today as the services take it: in the agency's time zone, not UTC."""
    return agency_today().isoformat()


def person(body: dict[str, Any]) -> dict[str, Any]:
    """`body` for a person of their own (a fresh national id), so rules about the person
    (already receiving, deceased) are not touched by other tests."""
    body["applicant"]["national_id"] = uuid.uuid4().hex[:7].upper()
    return body


async def publish_json(
    settings: ChassisSettings, topic: str, document: dict[str, Any], key: str | None = None
) -> None:
    """Send a JSON document as a plain outside producer would."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, json.dumps(document).encode(), key=key.encode() if key else None
        )
    finally:
        await producer.stop()


async def report_death(
    settings: ChassisSettings,
    database: Database,
    national_id: str,
    died: date,
    *,
    eligibility_schema: str,
) -> None:
    """The civil registry reports a death; returns once the eligibility service running in
    `eligibility_schema` has recorded it."""
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:gov:civil-registry",
        "type": "dost.registry.PersonDied.v1",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"national_id": national_id, "date_of_death": died.isoformat()},
    }
    await publish_json(settings, "dost.registry.events.v1", event)
    async with asyncio.timeout(30):
        while not await database.pool.fetchval(
            f"SELECT count(*) FROM {eligibility_schema}.deaths WHERE national_id = $1",
            national_id,
        ):
            await asyncio.sleep(0.1)


def withdrawal_of(case_id: str) -> dict[str, Any]:
    """An ApplicationWithdrawn event as intake publishes it, for a case intake accepted a
    withdrawal of (the test publishes it itself to choose when eligibility sees it)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:dost:intake",
        "type": "dost.intake.ApplicationWithdrawn.v1",
        "subject": case_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "case_id": case_id,
            "withdrawn_at": datetime.now(UTC).isoformat(),
            "withdrawn_by": "clerk-2",
            "reason": None,
        },
    }
