"""A notifications service killed (SIGKILL) after the gateway or the mail server took a
message but before it recorded that: after a restart the message is sent again with the
same key, the provider does not deliver it twice, and it is recorded as sent once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts import encode, new_cloud_event
from contracts.application import ApplicationBody, agency_today
from contracts.intake import ApplicationSubmitted
from deploy.local.processes import free_port
from tests.integration.applications import application
from tests.integration.notifications.helpers import GATEWAY_TOKEN, Sinks, message_sinks

pytestmark = pytest.mark.integration


def _notifications(settings: ChassisSettings, schema: str, sinks: Sinks) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": str(settings.kafka_enable_idempotence).lower(),
        "DOST_STATE_DIR": str(settings.state_dir),
        "NOTIFICATIONS_SCHEMA_NAME": schema,
        "NOTIFICATIONS_PORT": str(free_port()),
        "NOTIFICATIONS_SMS_GATEWAY_URL": sinks.sms_url,
        "NOTIFICATIONS_SMS_GATEWAY_TOKEN": GATEWAY_TOKEN,
        "NOTIFICATIONS_SMTP_PORT": str(sinks.smtp_port),
        "NOTIFICATIONS_QUIET_HOURS": "00:00-00:00",
        "NOTIFICATIONS_SMS_PER_SECOND": "500",
        "NOTIFICATIONS_EMAILS_PER_SECOND": "500",
        "NOTIFICATIONS_DISPATCH_INTERVAL_S": "0.1",
        "NOTIFICATIONS_SENDING_LEASE_S": "3",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.notifications"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _submitted(settings: ChassisSettings, body: dict[str, Any]) -> str:
    """An application as intake publishes it, on intake's topic."""
    case_id = str(uuid.uuid4())
    accepted = ApplicationBody.model_validate(body, context={"today": agency_today()})
    event = new_cloud_event(
        ApplicationSubmitted(
            case_id=case_id,
            application=accepted,
            submitted_at=datetime.now(UTC),
            channel="http",
            submitted_by="clerk-1",
        ),
        source="urn:dost:intake",
        subject=case_id,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(event.data.topic, encode(event), key=case_id.encode())
    finally:
        await producer.stop()
    return case_id


async def _recorded_sent(database: Database, schema: str, column: str, value: str) -> Any:
    """The message whose `column` is `value`, once it is recorded as sent."""
    async with asyncio.timeout(90):
        while True:
            row = await database.pool.fetchrow(
                f"SELECT status, attempts FROM {schema}.deliveries WHERE {column} = $1", value
            )
            if row is not None and row["status"] == "sent":
                return row
            await asyncio.sleep(0.2)


async def _killed(service: subprocess.Popen[bytes]) -> None:
    async with asyncio.timeout(90):
        while service.poll() is None:
            await asyncio.sleep(0.1)


def _person(**contact: str | None) -> dict[str, Any]:
    body = application()
    body["applicant"].update(
        {
            "national_id": uuid.uuid4().hex[:7].upper(),
            "language": "en",
            "phone": None,
            "email": None,
        }
    )
    body["applicant"].update(contact)
    return body


async def test_killed_between_send_and_record_each_channel_delivers_once(
    settings: ChassisSettings, database: Database, tmp_path: Path
) -> None:
    schema = f"notifications_{uuid.uuid4().hex[:8]}"
    phone = "+99455" + str(uuid.uuid4().int)[:7]
    email = f"killed-{uuid.uuid4().hex[:8]}@example.az"
    async with message_sinks(tmp_path) as sinks:
        service = _notifications(settings, schema, sinks)
        try:
            killed: list[str] = []
            handed_over: dict[str, str] = {}  # channel -> the key of the message killed over

            async def kill_on_text(record: dict[str, Any]) -> None:
                if record["to"] == phone and "sms" not in killed:
                    killed.append("sms")
                    handed_over["sms"] = record["idempotency_key"]
                    os.kill(service.pid, signal.SIGKILL)  # the gateway has it; no answer reaches
                    await asyncio.sleep(0.5)

            def kill_on_email(record: dict[str, Any]) -> None:
                if email in record["to"] and "email" not in killed:
                    killed.append("email")
                    handed_over["email"] = record["message_id"]
                    os.kill(service.pid, signal.SIGKILL)
                    time.sleep(0.5)

            sinks.sms.on_message = kill_on_text
            sinks.mail.on_message = kill_on_email

            # (If eligibility runs in this session it decides these cases too: the decision
            # is a second message to the same citizen, sent normally. The test follows the
            # one that was handed over when the service was killed.)
            await _submitted(settings, _person(phone=phone))
            await _killed(service)
            assert killed == ["sms"]
            service = _notifications(settings, schema, sinks)
            text = await _recorded_sent(database, schema, "notification_id", handed_over["sms"])
            assert text["attempts"] >= 2

            await _submitted(settings, _person(email=email))
            await _killed(service)
            assert killed == ["sms", "email"]
            service = _notifications(settings, schema, sinks)
            mail = await _recorded_sent(
                database, schema, "provider_message_id", handed_over["email"]
            )
            assert mail["attempts"] >= 2
        finally:
            service.kill()
            service.wait(timeout=30)
    # One message each at the sink, although each was handed over at least twice.
    texts = [t for t in sinks.sms.messages() if t["idempotency_key"] == handed_over["sms"]]
    assert len(texts) == 1
    assert sinks.sms.requests[handed_over["sms"]] >= 2
    emails = [e for e in sinks.mail.messages() if e["message_id"] == handed_over["email"]]
    assert len(emails) == 1
    assert sinks.mail.arrivals[handed_over["email"]] >= 2
