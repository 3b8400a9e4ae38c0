"""What the dispatcher does when a gateway or mail server fails: retries with back-off,
then NotificationFailed; a refusal for good fails at once. Addresses and numbers are
masked in the events, the logs and the spans."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry import trace

from chassis.settings import ChassisSettings
from contracts.topics import NOTIFICATIONS_EVENTS
from tests.integration.lifecycle.helpers import submit
from tests.integration.notifications.helpers import Notifications, citizen
from tests.kafka_reading import json_records_matching

pytestmark = pytest.mark.integration
KINDS = ("application_received", "approved")


def settled_on(channel: str) -> Callable[[list[dict[str, Any]]], bool]:
    """True once both messages of the channel are sent or failed for good."""

    def done(messages: list[dict[str, Any]]) -> bool:
        final = [
            m for m in messages if m["channel"] == channel and m["status"] in ("sent", "failed")
        ]
        return {m["kind"] for m in final} == set(KINDS)

    return done


def on(channel: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["channel"] == channel and m["kind"] in KINDS]


async def test_a_gateway_that_fails_a_while_is_retried_until_it_takes_the_message(
    notifications: Notifications, clerk: httpx.AsyncClient
) -> None:
    body = citizen("en")
    phone = body["applicant"]["phone"]
    notifications.sinks.sms.faults[phone] = [503, 502]
    case_id = await submit(clerk, body)
    texts = on("sms", await notifications.until_messages(case_id, settled_on("sms")))
    assert {m["status"] for m in texts} == {"sent"}
    assert sum(m["attempts"] for m in texts) == 4  # two messages, two failed attempts
    assert len(notifications.sinks.texts_to(phone)) == 2


async def test_a_gateway_that_keeps_failing_ends_in_notification_failed_after_the_last_try(
    notifications: Notifications, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    body = citizen("en")
    phone = body["applicant"]["phone"]
    notifications.sinks.sms.faults[phone] = [503] * 6  # 3 attempts for each of 2 messages
    case_id = await submit(clerk, body)
    texts = on("sms", await notifications.until_messages(case_id, settled_on("sms")))
    assert [(m["status"], m["attempts"]) for m in texts] == [("failed", 3), ("failed", 3)]
    assert all("503" in m["error"] for m in texts)
    assert notifications.sinks.texts_to(phone) == []
    failed = await json_records_matching(
        settings.kafka_bootstrap_servers,
        NOTIFICATIONS_EVENTS,
        lambda e: e.get("subject") == case_id and e["type"].endswith("NotificationFailed.v1"),
        at_least=2,
        timeout=30,
    )
    for event in failed:
        assert event["data"]["permanent"] is False
        assert event["data"]["attempts"] == 3
        assert event["data"]["recipient"] == phone[:4] + "*******" + phone[-2:]
        assert event["data"]["channel"] == "sms"


async def test_an_invalid_number_fails_at_once(
    notifications: Notifications, clerk: httpx.AsyncClient
) -> None:
    body = citizen("en")
    phone = body["applicant"]["phone"]
    notifications.sinks.sms.faults[phone] = [400]
    case_id = await submit(clerk, body)
    texts = on("sms", await notifications.until_messages(case_id, settled_on("sms")))
    assert sorted((m["status"], m["attempts"]) for m in texts) == [("failed", 1), ("sent", 1)]


async def test_mail_server_4xx_is_retried_and_5xx_fails_at_once_with_the_address_masked(
    notifications: Notifications,
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = citizen("en")
    email, phone = body["applicant"]["email"], body["applicant"]["phone"]
    notifications.sinks.mail.faults[email] = [
        "451 4.3.0 Mailbox busy, try later",
        f"550 5.1.1 <{email}>: no such mailbox",
    ]
    case_id = await submit(clerk, body)
    emails = on("email", await notifications.until_messages(case_id, settled_on("email")))
    assert sorted((m["status"], m["attempts"]) for m in emails) in (
        [("failed", 1), ("sent", 2)],  # the 4xx hit one message, the 5xx the other
        [("failed", 2), ("sent", 1)],  # or both hit the same one
    )
    (failure,) = [m for m in emails if m["status"] == "failed"]
    assert "550" in failure["error"]
    assert email not in failure["error"]
    assert email[0] + "***@example.az" in failure["error"]
    (event,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        NOTIFICATIONS_EVENTS,
        lambda e: e.get("subject") == case_id and e["type"].endswith("NotificationFailed.v1"),
        timeout=30,
    )
    assert event["data"]["permanent"] is True
    # Nowhere a number or an address in full: not in the events about the case, ...
    events = await json_records_matching(
        settings.kafka_bootstrap_servers,
        NOTIFICATIONS_EVENTS,
        lambda e: e.get("subject") == case_id,
        at_least=4,
        timeout=30,
    )
    assert email not in json.dumps(events)
    assert phone not in json.dumps(events)
    # ... not in a log line of any service (the SMTP server's own debug log, standing in for
    # the provider's, does show the conversation), ...
    for record in caplog.records:
        if record.name.startswith("mail."):
            continue
        assert email not in record.getMessage()
        assert phone not in record.getMessage()
    # ... and not in a span.
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    for path in (settings.state_dir / "traces").glob("*.jsonl"):
        text = path.read_text()
        assert email not in text
        assert phone not in text
