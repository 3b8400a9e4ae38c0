"""A unit of work: one transaction in which a handler loads, appends and publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chassis import outbox
from chassis.database import Connection, Database
from chassis.eventstore import EventStore
from contracts import CloudEvent


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
