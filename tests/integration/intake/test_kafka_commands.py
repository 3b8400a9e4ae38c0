"""Other government systems submit applications over Kafka. Written as an outside system
would: plain aiokafka and hand-built JSON, none of the project's code on the wire."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.http import CloudEvent as SdkCloudEvent
from cloudevents.kafka import KafkaMessage, from_structured, to_binary

from chassis.database import Database
from chassis.settings import ChassisSettings
from tests.integration.applications import application
from tests.kafka_reading import json_records_matching, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("intake_url")]
COMMANDS = "dost.intake.commands.v1"
EVENTS = "dost.intake.events.v1"
SOURCE = "urn:gov:state-employment-service"


def command(data: dict[str, Any], command_id: str | None = None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": command_id or str(uuid.uuid4()),
        "source": SOURCE,
        "type": "dost.intake.SubmitApplication.v1",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


async def send(settings: ChassisSettings, *payloads: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(COMMANDS, payload)
    finally:
        await producer.stop()


def _caused_by(command_id: str, event_type: str) -> Any:
    return lambda event: event.get("causationid") == command_id and event["type"] == event_type


async def test_external_system_submits_a_command_and_reads_the_submitted_event(
    settings: ChassisSettings, intake_url: str, clerk: httpx.AsyncClient
) -> None:
    sent = command(application())
    await send(settings, json.dumps(sent).encode())
    (event,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(sent["id"], "dost.intake.ApplicationSubmitted.v1"),
    )
    assert event["specversion"] == "1.0"
    assert event["correlationid"] == sent["id"]
    assert event["subject"] == event["data"]["case_id"]
    assert event["data"]["channel"] == "kafka"
    assert event["data"]["submitted_by"] == SOURCE
    assert event["data"]["application"]["applicant"]["national_id"] == "5ZK7PQM"
    case = (await clerk.get(f"/v1/applications/{event['subject']}")).json()
    assert case["status"] == "submitted"


async def test_a_duplicate_command_is_answered_again_with_the_original_outcome(
    settings: ChassisSettings, database: Database, intake_schema: str
) -> None:
    """A sender that retries after a timeout must be able to tell "deduplicated" from
    "lost": the duplicate gets the same ApplicationSubmitted again (same event id), and one
    case is opened."""
    sent = json.dumps(command(application())).encode()
    command_id = json.loads(sent)["id"]
    await send(settings, sent, sent)
    answers = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(command_id, "dost.intake.ApplicationSubmitted.v1"),
        at_least=2,
    )
    assert len({answer["id"] for answer in answers}) == 1
    assert len({answer["subject"] for answer in answers}) == 1
    keys = await database.pool.fetchval(
        f"SELECT count(*) FROM {intake_schema}.submission_keys"
        " WHERE scope = $1 AND idempotency_key = $2",
        SOURCE,
        command_id,
    )
    assert keys == 1


async def test_a_duplicate_invalid_command_is_rejected_again_with_the_same_rejection(
    settings: ChassisSettings,
) -> None:
    sent = json.dumps(command(application(facts={"insurance_years": 80}))).encode()
    command_id = json.loads(sent)["id"]
    await send(settings, sent)
    (first,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(command_id, "dost.intake.SubmissionRejected.v1"),
    )
    await send(settings, sent)
    answers = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(command_id, "dost.intake.SubmissionRejected.v1"),
        at_least=2,
    )
    assert [answer["id"] for answer in answers] == [first["id"], first["id"]]
    assert answers[1]["data"] == first["data"]


async def test_a_command_in_binary_content_mode_from_the_cloudevents_sdk_is_accepted(
    settings: ChassisSettings,
) -> None:
    """The CloudEvents Kafka binding allows binary mode: attributes in `ce_*` headers, the
    data as the value. The outside system here uses the CNCF SDK, not our code."""
    command_id = str(uuid.uuid4())
    event = SdkCloudEvent(
        {
            "type": "dost.intake.SubmitApplication.v1",
            "source": SOURCE,
            "id": command_id,
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
        },
        application(),
    )
    message = to_binary(event)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            COMMANDS,
            message.value,
            key=message.key,
            headers=[(name, bytes(value)) for name, value in message.headers.items()],
        )
    finally:
        await producer.stop()
    (submitted,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(command_id, "dost.intake.ApplicationSubmitted.v1"),
    )
    assert submitted["data"]["submitted_by"] == SOURCE


async def test_the_cloudevents_sdk_reads_the_events_intake_publishes(
    settings: ChassisSettings,
) -> None:
    sent = command(application())
    await send(settings, json.dumps(sent).encode())
    await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(sent["id"], "dost.intake.ApplicationSubmitted.v1"),
    )
    records = await read_to_end(settings.kafka_bootstrap_servers, EVENTS)
    ours = [
        record
        for record in records
        if json.loads(record.value).get("causationid") == sent["id"]
        and json.loads(record.value)["type"] == "dost.intake.ApplicationSubmitted.v1"
    ]
    assert ours
    for record in ours:
        headers = dict(record.headers)
        assert not any(name.startswith("ce_") for name in headers)  # structured mode only
        event = from_structured(KafkaMessage(headers=headers, key=record.key, value=record.value))
        assert event["type"] == "dost.intake.ApplicationSubmitted.v1"
        assert event["source"] == "urn:dost:intake"
        assert event["subject"] == event.data["case_id"]
        assert event.data["channel"] == "kafka"


async def test_command_id_reused_for_another_application_is_rejected(
    settings: ChassisSettings,
) -> None:
    command_id = str(uuid.uuid4())
    first = command(application(), command_id)
    other = command(application(center_id="sumgait-2"), command_id)
    await send(settings, json.dumps(first).encode(), json.dumps(other).encode())
    (rejection,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(command_id, "dost.intake.SubmissionRejected.v1"),
    )
    assert rejection["data"]["errors"][0]["type"] == "idempotency_key_reused"
    submitted = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(command_id, "dost.intake.ApplicationSubmitted.v1"),
        settle=1.0,
    )
    assert len(submitted) == 1


async def test_invalid_command_is_rejected_naming_the_command_source_and_every_error(
    settings: ChassisSettings,
) -> None:
    data = application(facts={"insurance_years": 80}, extra_field=True)
    data["applicant"]["national_id"] = "abc"
    sent = command(data)
    await send(settings, json.dumps(sent).encode())
    (rejection,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        EVENTS,
        _caused_by(sent["id"], "dost.intake.SubmissionRejected.v1"),
    )
    assert rejection["data"]["command_id"] == sent["id"]
    assert rejection["data"]["source_system"] == SOURCE
    assert {error["loc"] for error in rejection["data"]["errors"]} == {
        "data.applicant.national_id",
        "data.facts.insurance_years",
        "data.extra_field",
    }
    assert all(error["msg"] for error in rejection["data"]["errors"])


async def test_bytes_that_are_not_a_cloudevent_go_to_the_dead_letter_topic(
    settings: ChassisSettings,
) -> None:
    marker = uuid.uuid4().hex
    await send(settings, f"submit please {marker}".encode())

    async def dead_letters() -> list[Any]:
        records = await read_to_end(settings.kafka_bootstrap_servers, f"{COMMANDS}.dlq")
        return [r for r in records if marker.encode() in r.value]

    async with asyncio.timeout(30):
        while not (found := await dead_letters()):
            await asyncio.sleep(0.2)
    headers = dict(found[0].headers)
    assert headers["dlq-reason"] == b"not_a_cloudevent"
    assert headers["dlq-source-topic"] == COMMANDS.encode()
    assert int(headers["dlq-source-offset"]) >= 0


async def test_trace_context_of_an_http_request_travels_with_the_event(
    settings: ChassisSettings, clerk: httpx.AsyncClient
) -> None:
    trace_id = uuid.uuid4().hex
    response = await clerk.post(
        "/v1/applications",
        json=application(),
        headers={
            "Idempotency-Key": str(uuid.uuid4()),
            "traceparent": f"00-{trace_id}-b7ad6b7169203331-01",
        },
    )
    case_id = response.json()["case_id"]
    (event,) = await json_records_matching(
        settings.kafka_bootstrap_servers, EVENTS, lambda e: e.get("subject") == case_id
    )
    assert event["traceparent"].split("-")[1] == trace_id
