"""A service killed (SIGKILL) in the middle of its work loses nothing and repeats nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts import encode, new_cloud_event
from contracts.application import ApplicationBody, agency_today
from contracts.intake import ApplicationSubmitted
from deploy.local.processes import free_port
from tests.integration.applications import application
from tests.kafka_reading import json_records_matching

pytestmark = pytest.mark.integration
CASES = 300


def _eligibility(settings: ChassisSettings, schema: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": str(settings.kafka_enable_idempotence).lower(),
        "DOST_STATE_DIR": str(settings.state_dir),
        "ELIGIBILITY_SCHEMA_NAME": schema,
        "ELIGIBILITY_PORT": str(free_port()),
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "KAFKA_MAX_BATCH_RECORDS": "10",
        "OUTBOX_RELAY_BATCH_SIZE": "7",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.eligibility"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _decided_streams(database: Database, schema: str, case_ids: list[str]) -> int:
    exists = await database.pool.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.events")
    if not exists:
        return 0
    return int(
        await database.pool.fetchval(
            f"SELECT count(DISTINCT stream_id) FROM {schema}.events"
            " WHERE event_type = 'eligibility.Decided' AND stream_id = ANY($1::text[])",
            [f"eligibility-{case_id}" for case_id in case_ids],
        )
    )


async def test_eligibility_killed_mid_stream_decides_every_case_exactly_once(
    settings: ChassisSettings, database: Database
) -> None:
    schema = f"chaos_{uuid.uuid4().hex[:8]}"
    submitted_at = datetime.now(UTC)
    events = []
    for _ in range(CASES):
        body = application()
        body["applicant"]["national_id"] = uuid.uuid4().hex[:7].upper()
        case_id = str(uuid.uuid4())
        data = ApplicationSubmitted(
            case_id=case_id,
            application=ApplicationBody.model_validate(
                body, context={"today": agency_today(submitted_at)}
            ),
            submitted_at=submitted_at,
            channel="http",
            submitted_by="clerk-chaos",
        )
        events.append(new_cloud_event(data, source="urn:dost:intake", subject=case_id))
    case_ids = [str(event.subject) for event in events]

    service = _eligibility(settings, schema)
    try:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        await producer.start()
        try:
            for event in events:
                await producer.send(
                    "dost.intake.events.v1", encode(event), key=str(event.subject).encode()
                )
            await producer.flush()
        finally:
            await producer.stop()
        async with asyncio.timeout(90):
            while await _decided_streams(database, schema, case_ids) < CASES // 5:
                await asyncio.sleep(0.02)
        service.send_signal(signal.SIGKILL)
        service.wait(timeout=10)
    finally:
        if service.poll() is None:
            service.kill()
            service.wait()
    decided_when_killed = await _decided_streams(database, schema, case_ids)
    assert decided_when_killed < CASES, "the service must die with work left to do"

    restarted = _eligibility(settings, schema)
    try:
        async with asyncio.timeout(120):
            while await _decided_streams(database, schema, case_ids) < CASES:
                await asyncio.sleep(0.2)
            while await database.pool.fetchval(f"SELECT count(*) FROM {schema}.outbox"):
                await asyncio.sleep(0.2)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)

    # The service reads the whole topic, so it also decides what earlier tests submitted.
    decisions_per_case = await database.pool.fetch(
        f"SELECT stream_id, count(*) AS decisions FROM {schema}.events"
        " WHERE event_type = 'eligibility.Decided' AND stream_id = ANY($1::text[])"
        " GROUP BY stream_id",
        [f"eligibility-{case_id}" for case_id in case_ids],
    )
    assert len(decisions_per_case) == CASES
    assert {row["decisions"] for row in decisions_per_case} == {1}
    wanted = set(case_ids)
    published = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.eligibility.events.v1",
        lambda e: (
            e.get("subject") in wanted and e["type"] == "dost.eligibility.EligibilityDecided.v1"
        ),
        at_least=CASES,
        timeout=60,
    )
    # At least once on the wire (a relay killed mid-batch sends its batch again), but the
    # same decision: one event id per case, the one stored. Another eligibility deployment
    # on the same topics (the integration tests' one, if it runs in this session) decides
    # these cases too, under event ids of its own schema.
    stored = await _decision_ids(database, [schema], case_ids)
    elsewhere = await _decision_ids(database, await _other_schemas(database, schema), case_ids)
    ids_by_case: dict[str, set[str]] = {}
    for document in published:
        if document["id"] not in elsewhere.get(document["subject"], set()):
            ids_by_case.setdefault(document["subject"], set()).add(document["id"])
    assert ids_by_case == stored
    assert all(len(ids) == 1 for ids in ids_by_case.values())


async def _other_schemas(database: Database, schema: str) -> list[str]:
    rows = await database.pool.fetch(
        "SELECT table_schema FROM information_schema.tables"
        " WHERE table_name = 'events' AND table_schema <> $1",
        schema,
    )
    return [row["table_schema"] for row in rows]


async def _decision_ids(
    database: Database, schemas: list[str], case_ids: list[str]
) -> dict[str, set[str]]:
    """Event ids of the decisions stored in `schemas`, by case."""
    ids: dict[str, set[str]] = {}
    for schema in schemas:
        rows = await database.pool.fetch(
            f"SELECT stream_id, event_id FROM {schema}.events"
            " WHERE event_type = 'eligibility.Decided' AND stream_id = ANY($1::text[])",
            [f"eligibility-{case_id}" for case_id in case_ids],
        )
        for row in rows:
            case_id = row["stream_id"].removeprefix("eligibility-")
            ids.setdefault(case_id, set()).add(str(row["event_id"]))
    return ids
