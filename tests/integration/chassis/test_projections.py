"""Checkpointed projections fed from the event store, and their rebuild."""

from __future__ import annotations

import pytest

from chassis.database import Connection, Database
from chassis.eventstore import EventStore, NewEvent, RecordedEvent
from chassis.projections import ProjectionRunner

pytestmark = pytest.mark.integration


class CaseCounts:
    """Events per case, kept in a table of the test's schema."""

    name = "case_counts"

    def __init__(self, schema: str) -> None:
        self.table = f"{schema}.case_counts"

    async def apply(self, connection: Connection, event: RecordedEvent) -> None:
        await connection.execute(
            f"INSERT INTO {self.table} (case_id, events) VALUES ($1, 1)"
            " ON CONFLICT (case_id) DO UPDATE SET events = case_counts.events + 1",
            event.stream_id,
        )

    async def clear(self, connection: Connection) -> None:
        await connection.execute(f"TRUNCATE {self.table}")


async def _counts(database: Database, schema: str) -> dict[str, int]:
    rows = await database.pool.fetch(f"SELECT case_id, events FROM {schema}.case_counts")
    return {row["case_id"]: row["events"] for row in rows}


async def test_projection_catches_up_from_its_checkpoint_and_rebuilds_identically(
    database: Database, schema: str
) -> None:
    await database.pool.execute(
        f"CREATE TABLE {schema}.case_counts (case_id text PRIMARY KEY, events int NOT NULL)"
    )
    store = EventStore(schema)
    runner = ProjectionRunner(database, schema, CaseCounts(schema), batch_size=7)
    async with database.pool.acquire() as connection:
        for n in range(20):
            await store.append(connection, f"case-{n % 3}", n // 3, [NewEvent("t.E", {"n": n})])
    assert await runner.catch_up() == 20
    first = await _counts(database, schema)
    assert first == {"case-0": 7, "case-1": 7, "case-2": 6}

    async with database.pool.acquire() as connection:
        await store.append(connection, "case-3", 0, [NewEvent("t.E", {}), NewEvent("t.E", {})])
    assert await runner.catch_up() == 2  # only what is new since the checkpoint
    assert await runner.catch_up() == 0
    caught_up = await _counts(database, schema)

    await database.pool.execute(f"UPDATE {schema}.case_counts SET events = 999")  # corrupt it
    assert await runner.rebuild() == 22
    assert await _counts(database, schema) == caught_up == {**first, "case-3": 2}
    last = (await store.read_all(database.pool, 0, 100))[-1].position
    assert await runner.checkpoint() == last
