"""A unit of work: one transaction in which a handler loads, appends and publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from chassis import outbox
from chassis.database import Connection, Database
from chassis.eventstore import ConcurrencyError, EventStore
from contracts import CloudEvent

T = TypeVar("T")


class UnitOfWork:
    """The connection of an open transaction, the service's event store, and the messages
    to publish when (and only if) the transaction commits."""

    def __init__(self, connection: Connection, schema: str) -> None:
        self.connection = connection
        self.schema = schema
        self.events = EventStore(schema)
        self._pending: list[outbox.OutboxMessage] = []

    def publish(self, event: CloudEvent, *, topic: str | None = None) -> None:
        """Queue `event` for its topic; it is written to the outbox with the commit."""
        self._pending.append(outbox.message_for(event, topic))

    def publish_raw(self, message: outbox.OutboxMessage) -> None:
        """Queue a ready-made record (dead letters keep the original bytes)."""
        self._pending.append(message)

    def drop_pending(self) -> None:
        """Forget queued messages (their savepoint was rolled back)."""
        self._pending.clear()

    async def flush(self) -> None:
        """Write queued messages to the outbox now, inside the transaction."""
        pending, self._pending = self._pending, []
        await outbox.put(self.connection, self.schema, pending)


@asynccontextmanager
async def unit_of_work(database: Database, schema: str) -> AsyncIterator[UnitOfWork]:
    """Open a transaction; commit it with the queued outbox messages if the block succeeds,
    roll everything back if it raises."""
    async with database.pool.acquire() as connection, connection.transaction():
        work = UnitOfWork(connection, schema)
        yield work
        await work.flush()


async def run_in_unit_of_work(
    database: Database,
    schema: str,
    action: Callable[[UnitOfWork], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """Run `action` in a fresh unit of work, again from the load if another writer moved
    the stream first (:class:`ConcurrencyError`), up to `attempts` times."""
    for attempt in range(1, attempts + 1):
        try:
            async with unit_of_work(database, schema) as work:
                return await action(work)
        except ConcurrencyError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
