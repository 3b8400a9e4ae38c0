"""Bulk reads and writes for a million entitlements: many streams in one round trip, the
whole store in chunks, read models by keyset and loaded with COPY."""

from __future__ import annotations

from typing import Any, cast

import pytest

from chassis import bulk
from chassis.database import Connection, Database
from chassis.eventstore import EventStore, NewEvent, StreamAppend
from chassis.unit_of_work import unit_of_work
from tests.unit.test_event_types import PRICED, Order, Renamed, registry

pytestmark = pytest.mark.integration


class _CountingQueries:
    """A connection that counts the queries sent through it."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.round_trips = 0

    async def fetch(self, *arguments: Any) -> Any:
        self.round_trips += 1
        return await self.connection.fetch(*arguments)


def _event(n: int) -> NewEvent:
    return NewEvent("test.Happened", {"n": n})


async def test_read_streams_reads_many_streams_in_one_round_trip(
    database: Database, schema: str
) -> None:
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        await store.append_batch(
            connection,
            [StreamAppend(f"s-{i}", 0, [_event(i), _event(i + 1000)]) for i in range(300)],
        )
        counting = _CountingQueries(connection)
        streams = await store.read_streams(
            cast(Connection, counting), [f"s-{i}" for i in range(300)] + ["none"]
        )
    assert counting.round_trips == 1
    assert len(streams) == 300
    assert [event.data["n"] for event in streams["s-7"]] == [7, 1007]
    assert [event.version for event in streams["s-7"]] == [1, 2]


async def test_the_whole_store_reads_in_chunks_in_commit_order(
    database: Database, schema: str
) -> None:
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        for start in range(0, 2500, 500):
            await store.append_batch(
                connection,
                [StreamAppend(f"s-{i}", 0, [_event(i)]) for i in range(start, start + 500)],
            )
        chunks = [chunk async for chunk in store.chunks(connection, chunk=400)]
        later = [chunk async for chunk in store.chunks(connection, chunks[2][-1].position, 1000)]
        last = await store.last_position(connection)
    assert [len(chunk) for chunk in chunks] == [400] * 6 + [100]
    assert [event.data["n"] for chunk in chunks for event in chunk] == list(range(2500))
    assert sum(len(chunk) for chunk in later) == 2500 - 1200
    assert last == chunks[-1][-1].position


async def test_read_models_are_read_by_keyset_and_loaded_with_copy(
    database: Database, schema: str
) -> None:
    table = f"{schema}.entitlements"
    await database.pool.execute(
        f"CREATE TABLE {table} (entitlement_id text PRIMARY KEY, person text, active boolean)"
    )
    async with database.pool.acquire() as connection, connection.transaction():
        loaded = await bulk.copy_into(
            connection,
            table,
            ["entitlement_id", "person", "active"],
            ((f"e-{i:05d}", f"p-{i % 100}", i % 3 != 0) for i in range(10_000)),
        )
    assert loaded == 10_000
    seen: list[str] = []
    sizes: list[int] = []
    async for rows in bulk.in_chunks(
        database.pool,
        table,
        key="entitlement_id",
        columns=["person"],
        where="active AND person <> $1",
        arguments=["p-1"],
        chunk=1000,
    ):
        sizes.append(len(rows))
        seen += [row["entitlement_id"] for row in rows]
    expected = [f"e-{i:05d}" for i in range(10_000) if i % 3 != 0 and i % 100 != 1]
    assert seen == expected
    assert max(sizes) == 1000
    with pytest.raises(ValueError, match="identifier"):
        async for _ in bulk.in_chunks(database.pool, table, key="id; drop", columns=[]):
            pass


async def test_load_many_sees_what_the_unit_of_work_appended(
    database: Database, schema: str
) -> None:
    async with unit_of_work(database, schema) as work:
        work.event_types = registry()
        for order_id in ("o-1", "o-2"):
            order = Order.blank(order_id)
            order.record(PRICED)
            await work.save(order)
    async with unit_of_work(database, schema) as work:
        work.event_types = registry()
        first = await work.load(Order, "o-1")
        assert first is not None
        first.record(Renamed("o-1", "renamed here"))
        await work.save(first)
        loaded = await work.load_many(Order, ["o-1", "o-2", "o-3"])
    assert sorted(loaded) == ["o-1", "o-2"]
    assert (loaded["o-1"].title, loaded["o-1"].version) == ("renamed here", 2)
    assert loaded["o-2"].version == 1
