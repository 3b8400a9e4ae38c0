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


def today() -> str:
    return datetime.now(UTC).date().isoformat()


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
    settings: ChassisSettings, database: Database, national_id: str, died: date
) -> None:
    """The civil registry reports a death; returns once eligibility has recorded it."""
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
            "SELECT count(*) FROM eligibility.deaths WHERE national_id = $1", national_id
        ):
            await asyncio.sleep(0.1)
