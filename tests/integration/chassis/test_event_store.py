"""The event store against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import date

import pytest

from chassis.consumer import EventConsumer
from chassis.database import Database
from chassis.dead_letters import ReceivedRecord
from chassis.eventstore import ConcurrencyError, EventStore, NewEvent, StreamAppend
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts import CloudEvent, encode, new_cloud_event
from contracts.civil_registry import PersonDied

pytestmark = pytest.mark.integration


def _event(n: int) -> NewEvent:
    return NewEvent(event_type="test.Happened", data={"n": n})


async def test_appended_events_read_back_in_stream_and_global_order(
    database: Database, schema: str
) -> None:
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        assert await store.append(connection, "case-a", 0, [_event(1), _event(2)]) == 2
        assert await store.append(connection, "case-b", 0, [_event(3)]) == 1
        assert await store.append(connection, "case-a", 2, [_event(4)]) == 3
        stream = await store.read_stream(connection, "case-a")
        everything = await store.read_all(connection)
    assert [(e.version, e.data["n"]) for e in stream] == [(1, 1), (2, 2), (3, 4)]
    assert [e.data["n"] for e in everything] == [1, 2, 3, 4]
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert all(e.event_type == "test.Happened" and e.schema_version == 1 for e in everything)


async def test_stale_expected_version_raises_and_writes_nothing(
    database: Database, schema: str
) -> None:
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        await store.append(connection, "case-a", 0, [_event(1)])
    with pytest.raises(ConcurrencyError):
        async with unit_of_work(database, schema) as work:
            await work.append("case-b", 0, [_event(2)])
            await work.append("case-a", 0, [_event(3)])
    async with database.pool.acquire() as connection:
        assert [e.data["n"] for e in await store.read_all(connection)] == [1]
        assert await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox") == 0


async def test_expected_version_ahead_of_stream_is_rejected(
    database: Database, schema: str
) -> None:
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        with pytest.raises(ConcurrencyError):
            await store.append(connection, "case-a", 3, [_event(1)])
        assert await store.stream_version(connection, "case-a") == 0


async def test_concurrent_writers_to_one_stream_exactly_one_wins(
    database: Database, schema: str
) -> None:
    store = EventStore(schema)

    async def write(n: int) -> bool:
        try:
            async with unit_of_work(database, schema) as work:
                await work.append("case-a", 0, [_event(n)])
                await asyncio.sleep(0.01)
        except ConcurrencyError:
            return False
        return True

    outcomes = await asyncio.gather(*(write(n) for n in range(12)))
    assert outcomes.count(True) == 1
    async with database.pool.acquire() as connection:
        assert len(await store.read_stream(connection, "case-a")) == 1


async def test_batch_append_is_all_or_nothing(database: Database, schema: str) -> None:
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        await store.append(connection, "case-3", 0, [_event(0)])
        with pytest.raises(ConcurrencyError):
            await store.append_batch(
                connection,
                [StreamAppend(f"case-{i}", 0, [_event(i), _event(i)]) for i in range(5)],
            )
        assert len(await store.read_all(connection)) == 1
        await store.append_batch(
            connection,
            [StreamAppend(f"case-{i}", 0, [_event(i), _event(i)]) for i in range(5) if i != 3],
        )
        assert len(await store.read_all(connection)) == 9


async def test_tailing_reader_never_skips_events_committed_out_of_order(
    database: Database, schema: str
) -> None:
    """Writers hold their transactions open for random times after appending, so commits
    land in a different order than they started; a reader that follows read_all by
    position while they run must still see every event exactly once."""
    store = EventStore(schema)
    writers, per_writer = 12, 15
    done = asyncio.Event()

    async def write(writer: int) -> None:
        for n in range(per_writer):
            async with unit_of_work(database, schema) as work:
                await asyncio.sleep(random.uniform(0, 0.004))
                await work.append(f"w{writer}-{n}", 0, [_event(n)])
                await asyncio.sleep(random.uniform(0, 0.004))

    async def tail() -> list[int]:
        seen: list[int] = []
        position = 0
        while True:
            finished = done.is_set()
            async with database.pool.acquire() as connection:
                batch = await store.read_all(connection, position, limit=50)
            seen += [event.position for event in batch]
            position = batch[-1].position if batch else position
            if finished and not batch:
                return seen
            await asyncio.sleep(0.001)

    reader = asyncio.create_task(tail())
    await asyncio.gather(*(write(w) for w in range(writers)))
    done.set()
    seen = await reader
    async with database.pool.acquire() as connection:
        stored = [event.position for event in await store.read_all(connection, 0, 10_000)]
    assert len(stored) == writers * per_writer
    assert seen == stored


async def test_an_open_unit_of_work_does_not_block_other_writers_and_positions_follow_commits(
    database: Database, schema: str
) -> None:
    """A long transaction that appended (a consumer's batch, say) must not stall another
    writer: the ordering lock is taken only at the commit. The writer that commits first
    gets the lower position, whoever appended first."""
    store = EventStore(schema)
    first_appended = asyncio.Event()
    second_committed = asyncio.Event()
    commit_order: list[str] = []

    async def first() -> None:
        async with unit_of_work(database, schema) as work:
            await work.append("first", 0, [_event(1)])
            first_appended.set()
            with contextlib.suppress(TimeoutError):  # old code: the second never gets through
                await asyncio.wait_for(second_committed.wait(), timeout=5)
        commit_order.append("first")

    async def second() -> None:
        await first_appended.wait()
        async with unit_of_work(database, schema) as work:
            await work.append("second", 0, [_event(2)])
        commit_order.append("second")
        second_committed.set()

    await asyncio.gather(first(), second())
    async with database.pool.acquire() as connection:
        events = await store.read_all(connection)
    assert commit_order == ["second", "first"]
    assert [e.stream_id for e in events] == ["second", "first"]


async def test_a_consumer_batch_in_progress_does_not_stall_other_writers(
    database: Database, schema: str
) -> None:
    handler_appended = asyncio.Event()
    writer_committed = asyncio.Event()
    commit_order: list[str] = []

    async def slow_handler(work: UnitOfWork, event: CloudEvent) -> None:
        await work.append(f"consumer-{event.id}", 0, [_event(1)])
        handler_appended.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(writer_committed.wait(), timeout=5)

    consumer = EventConsumer(
        database=database,
        schema=schema,
        subscription="slow",
        handlers={PersonDied.event_type: slow_handler},
    )
    died = new_cloud_event(
        PersonDied(national_id="5ZK7PQM", date_of_death=date(2026, 5, 1)), source="urn:test"
    )

    async def batch() -> None:
        await consumer.process([ReceivedRecord("registry", 0, 0, None, encode(died))])
        commit_order.append("batch")

    async def writer() -> None:
        await handler_appended.wait()
        async with unit_of_work(database, schema) as work:
            await work.append("http-writer", 0, [_event(2)])
        commit_order.append("writer")
        writer_committed.set()

    await asyncio.gather(batch(), writer())
    assert commit_order == ["writer", "batch"]


async def test_a_unit_of_work_reads_its_own_appends_and_a_savepoint_takes_them_back(
    database: Database, schema: str
) -> None:
    async with unit_of_work(database, schema) as work:
        await work.append("case-a", 0, [_event(1)])
        with pytest.raises(ValueError, match="changed my mind"):
            async with work.savepoint():
                await work.append("case-a", 1, [_event(2)])
                await work.append("case-b", 0, [_event(3)])
                assert await work.stream_version("case-a") == 2
                raise ValueError("changed my mind")
        assert [e.data["n"] for e in await work.read_stream("case-a")] == [1]
        assert await work.stream_version("case-b") == 0
        with pytest.raises(ConcurrencyError):
            await work.append("case-a", 0, [_event(4)])
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        assert [(e.stream_id, e.version) for e in await store.read_all(connection)] == [
            ("case-a", 1)
        ]
