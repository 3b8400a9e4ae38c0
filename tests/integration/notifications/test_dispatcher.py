"""The dispatcher's claim and record steps against the real database, with channels that
answer as the test says: the state a message is left in after each outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiolimiter import AsyncLimiter

from chassis.database import Database, migrate
from services.notifications.app import MIGRATIONS
from services.notifications.channels import OutgoingMessage
from services.notifications.domain.delivery import (
    Delivered,
    Failed,
    Outcome,
    QuietHours,
    RetryPolicy,
)
from services.notifications.handlers.citizens import person_reported_dead
from services.notifications.handlers.dispatch import Dispatcher

pytestmark = pytest.mark.integration
BAKU = ZoneInfo("Asia/Baku")


class Answering:
    """A channel that answers each send with the next outcome it was given."""

    name = "sms"

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.sent: list[OutgoingMessage] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, message: OutgoingMessage) -> Outcome:
        self.sent.append(message)
        return self.outcomes.pop(0)


async def dispatcher_with(
    database: Database, schema: str, channel: Answering, quiet: str = "00:00-00:00"
) -> Dispatcher:
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    return Dispatcher(
        database=database,
        schema=schema,
        channels={"sms": channel},
        limiters={"sms": AsyncLimiter(1000, 1)},
        retry=RetryPolicy(max_attempts=3, base=timedelta(seconds=10), cap=timedelta(seconds=10)),
        quiet_hours=QuietHours.parse(quiet),
        claim_for=timedelta(seconds=30),
    )


async def a_message(database: Database, schema: str, national_id: str = "AAA1111") -> str:
    await database.pool.execute(
        f"INSERT INTO {schema}.deliveries (notification_id, event_id, case_id, national_id,"
        " kind, channel, language, recipient, recipient_masked, body, not_before)"
        " VALUES ('e1:sms', 'e1', 'case-1', $1, 'approved', 'sms', 'en', '+994501234567',"
        " '+994*******67', 'DOST: approved', now())",
        national_id,
    )
    return "e1:sms"


async def row(database: Database, schema: str) -> dict[str, object]:
    found = await database.pool.fetchrow(
        f"SELECT status, attempts, recipient, last_error, not_before FROM {schema}.deliveries"
    )
    assert found is not None
    return dict(found)


async def test_sent_is_recorded_once_with_its_event_and_the_recipient_masked(
    database: Database, schema: str
) -> None:
    channel = Answering(Delivered("gw-1"))
    dispatcher = await dispatcher_with(database, schema, channel)
    await a_message(database, schema)
    assert await dispatcher.dispatch_due() == 1
    assert await dispatcher.dispatch_due() == 0
    state = await row(database, schema)
    assert (state["status"], state["attempts"], state["recipient"]) == ("sent", 1, "+994*******67")
    (message,) = await database.pool.fetch(f"SELECT topic, payload FROM {schema}.outbox")
    assert message["topic"] == "dost.notifications.events.v1"
    assert b"+994501234567" not in bytes(message["payload"])
    assert b"+994*******67" in bytes(message["payload"])


async def test_a_claim_that_ran_out_is_taken_again_and_the_late_record_is_superseded(
    database: Database, schema: str
) -> None:
    channel = Answering(Delivered("gw-1"), Delivered("gw-1"))
    dispatcher = await dispatcher_with(database, schema, channel)
    await a_message(database, schema)
    (first,) = await dispatcher.claim()
    later = datetime.now(UTC) + timedelta(seconds=31)  # the first claim has run out
    (second,) = await dispatcher.claim(now=later)
    assert second.attempts == 2
    assert await dispatcher.record(second, Delivered("gw-1")) == "sent"
    assert await dispatcher.record(first, Delivered("gw-1")) == "superseded"
    assert len(await database.pool.fetch(f"SELECT 1 FROM {schema}.outbox")) == 1


async def test_transient_failures_retry_later_then_fail_and_permanent_ones_fail_at_once(
    database: Database, schema: str
) -> None:
    channel = Answering()
    dispatcher = await dispatcher_with(database, schema, channel)
    await a_message(database, schema)
    moment = datetime.now(UTC)
    for _attempt in (1, 2):
        (claimed,) = await dispatcher.claim(now=moment)
        assert await dispatcher.record(claimed, Failed("503", False), now=moment) == "retry"
        state = await row(database, schema)
        assert state["status"] == "pending"
        retry_at = state["not_before"]
        assert isinstance(retry_at, datetime)
        assert moment + timedelta(seconds=5) <= retry_at <= moment + timedelta(seconds=10)
        assert await dispatcher.claim(now=moment) == []  # not before its time
        moment = retry_at
    (claimed,) = await dispatcher.claim(now=moment)
    assert claimed.attempts == 3
    assert await dispatcher.record(claimed, Failed("503", False), now=moment) == "failed"
    assert (await row(database, schema))["status"] == "failed"


async def test_a_retry_in_quiet_hours_waits_for_their_end(database: Database, schema: str) -> None:
    now = datetime.now(BAKU).replace(microsecond=0)
    end = now + timedelta(hours=2)
    quiet = f"{now + timedelta(seconds=5):%H:%M:%S}-{end:%H:%M:%S}"
    dispatcher = await dispatcher_with(database, schema, Answering(), quiet)
    await a_message(database, schema)
    before_quiet = now + timedelta(seconds=2)
    (claimed,) = await dispatcher.claim(now=before_quiet)
    assert await dispatcher.record(claimed, Failed("503", False), now=before_quiet) == "retry"
    assert (await row(database, schema))["not_before"] == end


async def test_a_death_while_an_attempt_is_out_stops_the_retries(
    database: Database, schema: str
) -> None:
    dispatcher = await dispatcher_with(database, schema, Answering())
    await a_message(database, schema, national_id="DEAD123")
    (claimed,) = await dispatcher.claim()
    async with database.pool.acquire() as connection:
        await person_reported_dead(connection, schema, "DEAD123")
    assert (await row(database, schema))["status"] == "sending"  # out: cannot be called back
    assert await dispatcher.record(claimed, Failed("503", False)) == "cancelled"
    state = await row(database, schema)
    assert (state["status"], state["last_error"]) == ("cancelled", "person_reported_dead")
    assert await dispatcher.claim(now=datetime.now(UTC) + timedelta(hours=2)) == []
