"""`UnitOfWork.load` and `save` against a real PostgreSQL: explicit names in the store,
public events in the outbox, optimistic concurrency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from chassis.database import Connection, Database
from chassis.eventstore import ConcurrencyError
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts import CloudEvent, decode, new_cloud_event
from contracts.civil_registry import PersonDied
from tests.unit.test_event_types import PRICED, Order, Priced, Renamed, registry

pytestmark = pytest.mark.integration


def public_events(order: Order, event: Any, event_id: str) -> list[CloudEvent]:
    if not isinstance(event, Renamed):
        return []  # bookkeeping only
    data = PersonDied(national_id="5ZK7PQM", date_of_death=date(2026, 1, 1))  # any contract
    return [new_cloud_event(data, source="urn:test", subject=order.order_id, event_id=event_id)]


async def test_save_appends_under_explicit_names_and_publishes_with_the_causation(
    database: Database, schema: str
) -> None:
    async with unit_of_work(database, schema) as work:
        work.event_types = registry()
        order = Order.blank("o-1")
        order.record(PRICED)
        order.record(Renamed("o-1", "first"))
        saved = await work.save(
            order, public_events=public_events, correlation_id="corr-1", causation_id="cmd-1"
        )
    assert [len(item.published) for item in saved] == [0, 1]
    assert order.version == 2
    async with database.pool.acquire() as connection:
        rows = await connection.fetch(
            f"SELECT event_id, event_type, schema_version, data FROM {schema}.events"
            " WHERE stream_id = 'order-o-1' ORDER BY version"
        )
        (message,) = await _outbox(connection, schema)
    assert [(row["event_type"], row["schema_version"]) for row in rows] == [
        ("shop.Priced", 1),
        ("shop.Renamed", 1),
    ]
    assert rows[0]["data"]["lines"][0]["amount"] == "316.00"
    assert (message.id, message.correlationid, message.causationid) == (
        str(rows[1]["event_id"]),
        "corr-1",
        "cmd-1",
    )

    async with unit_of_work(database, schema) as work:
        work.event_types = registry()
        loaded = await work.load(Order, "o-1")
        assert await work.load(Order, "o-unknown") is None
    assert loaded is not None
    assert (loaded.total, loaded.title, loaded.version) == (Decimal("316.10"), "first", 2)


async def test_a_stale_save_writes_nothing_and_a_reload_succeeds(
    database: Database, schema: str
) -> None:
    async def rename(work: UnitOfWork, title: str) -> Order:
        work.event_types = registry()
        order = await work.load(Order, "o-1")
        assert order is not None
        order.record(Renamed("o-1", title))
        return order

    async with unit_of_work(database, schema) as work:
        work.event_types = registry()
        first = Order.blank("o-1")
        first.record(Priced("o-1", (), PRICED.due, PRICED.at, {}))
        await work.save(first)
    async with unit_of_work(database, schema) as stale_work:
        stale = await rename(stale_work, "stale")
        async with unit_of_work(database, schema) as other_work:
            await other_work.save(await rename(other_work, "other"), public_events=public_events)
        with pytest.raises(ConcurrencyError):
            await stale_work.save(stale, public_events=public_events)
    async with unit_of_work(database, schema) as work:
        work.event_types = registry()
        now = await work.load(Order, "o-1")
    assert now is not None
    assert (now.title, now.version) == ("other", 2)
    async with database.pool.acquire() as connection:
        assert len(await _outbox(connection, schema)) == 1


async def _outbox(connection: Connection, schema: str) -> list[CloudEvent]:
    rows = await connection.fetch(f"SELECT payload FROM {schema}.outbox ORDER BY position")
    return [decode(row["payload"]) for row in rows]
