"""SMS quiet hours defer messages, never drop them; a death cancels what waits and stops
everything that would come. Each test runs a notifications service of its own, with quiet
hours set around the present moment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.topics import PAYMENTS_EVENTS, REGISTRY_EVENTS
from tests.integration.conftest import RunningService
from tests.integration.lifecycle.helpers import publish_json, submit
from tests.integration.notifications.helpers import citizen, notifications_service
from tests.integration.notifications.test_messages_reach_citizens import payments_event

pytestmark = pytest.mark.integration
BAKU = ZoneInfo("Asia/Baku")


def window(before: timedelta, after: timedelta) -> tuple[str, datetime]:
    """Quiet hours from `before` ago until `after` from now (Baku time), and their end."""
    now = datetime.now(BAKU).replace(microsecond=0)
    start, end = now - before, now + after
    return f"{start:%H:%M:%S}-{end:%H:%M:%S}", end


async def test_sms_in_quiet_hours_wait_for_their_end_while_email_goes_at_once(
    settings: ChassisSettings,
    tmp_path: Path,
    clerk: httpx.AsyncClient,
    eligibility_service: RunningService,
) -> None:
    quiet, end = window(timedelta(hours=1), timedelta(seconds=30))
    async with notifications_service(settings, tmp_path, quiet_hours=quiet) as service:
        body = citizen("en")
        phone = body["applicant"]["phone"]
        case_id = await submit(clerk, body)
        messages = await service.until_messages(
            case_id,
            lambda ms: (
                {m["kind"] for m in ms if m["channel"] == "email" and m["status"] == "sent"}
                == {"application_received", "approved"}
            ),
        )
        # Planned inside the window (on a machine slow enough, one may come after its end).
        texts = [
            m
            for m in messages
            if m["channel"] == "sms" and datetime.fromisoformat(m["created_at"]) < end
        ]
        assert texts, "no SMS was planned within the quiet hours"
        for text in texts:
            if datetime.now(UTC) < end:
                assert (text["status"], text["attempts"]) == ("pending", 0)
            assert datetime.fromisoformat(text["send_after"]) == end
        if datetime.now(UTC) < end:
            assert service.sinks.texts_to(phone) == []
        # Deferred, not dropped: out they go when the quiet hours end.
        await service.until_messages(
            case_id, lambda ms: all(m["status"] == "sent" for m in ms) and len(ms) == 4
        )
        received = service.sinks.texts_to(phone)
        assert len(received) == 2
        assert all(datetime.fromisoformat(t["received_at"]) >= end for t in received)


async def test_a_death_cancels_waiting_messages_and_nothing_more_is_told(
    settings: ChassisSettings,
    tmp_path: Path,
    clerk: httpx.AsyncClient,
    database: Database,
    eligibility_service: RunningService,
) -> None:
    quiet, _ = window(timedelta(hours=1), timedelta(hours=1))
    async with notifications_service(settings, tmp_path, quiet_hours=quiet) as service:
        body = citizen("en")
        national_id = body["applicant"]["national_id"]
        case_id = await submit(clerk, body)
        await service.until_messages(
            case_id,
            lambda ms: (
                {m["kind"] for m in ms if m["channel"] == "email" and m["status"] == "sent"}
                == {"application_received", "approved"}
            ),
        )
        died = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "urn:gov:civil-registry",
            "type": "dost.registry.PersonDied.v1",
            "time": datetime.now(UTC).isoformat(),
            "datacontenttype": "application/json",
            "data": {
                "national_id": national_id,
                "date_of_death": datetime.now(BAKU).date().isoformat(),
            },
        }
        await publish_json(settings, REGISTRY_EVENTS, died)
        messages = await service.until_messages(
            case_id,
            lambda ms: [m["status"] for m in ms if m["channel"] == "sms"] == ["cancelled"] * 2,
        )
        assert {m["error"] for m in messages if m["channel"] == "sms"} == {"person_reported_dead"}
        # What comes after the death is not told at all.
        settled = payments_event(
            "PaymentSettled",
            case_id,
            {
                "instruction_id": "PI-9",
                "amount": "316.00",
                "settled_at": datetime.now(UTC).isoformat(),
            },
        )
        await publish_json(settings, PAYMENTS_EVENTS, settled, key=case_id)
        async with asyncio.timeout(30):
            while (
                state := await database.pool.fetchrow(
                    f"SELECT state, state_reason FROM {service.schema}.notices WHERE event_id = $1",
                    settled["id"],
                )
            ) is None:
                await asyncio.sleep(0.1)
        assert dict(state) == {"state": "dropped", "state_reason": "person_reported_dead"}
        assert len(await service.messages(case_id)) == 4
        assert service.sinks.texts_to(body["applicant"]["phone"]) == []
