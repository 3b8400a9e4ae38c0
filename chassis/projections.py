"""Checkpointed read models fed from the event store, rebuildable from scratch.

A runner applies events in global (commit) order and moves the projection's checkpoint in
the same transaction as the read-model writes, so a crash never applies an event twice or
skips one. The checkpoint row is locked while a batch is applied: two replicas running the
same projection take turns instead of racing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from chassis.database import Connection, Database, checked_schema
from chassis.eventstore import EventStore, RecordedEvent


class Projection(Protocol):
    """A read model: a name, how to apply one event, and how to empty itself."""

    name: str

    async def apply(self, connection: Connection, event: RecordedEvent) -> None: ...

    async def clear(self, connection: Connection) -> None: ...


class ProjectionRunner:
    """Keeps one projection up to date with `<schema>.events`."""

    def __init__(
        self, database: Database, schema: str, projection: Projection, batch_size: int = 1000
    ) -> None:
        self.database = database
        self.schema = checked_schema(schema)
        self.projection = projection
        self.batch_size = batch_size
        self.store = EventStore(schema)

    async def catch_up(self) -> int:
        """Apply every event committed so far; returns how many were applied."""
        applied = 0
        while True:
            count = await self._apply_batch()
            applied += count
            if count < self.batch_size:
                return applied

    async def rebuild(self) -> int:
        """Empty the read model, reset the checkpoint, and replay the whole store."""
        async with self.database.pool.acquire() as connection, connection.transaction():
            await self._lock_checkpoint(connection)
            await self.projection.clear(connection)
            await connection.execute(
                f"UPDATE {self.schema}.projection_checkpoints SET position = 0, updated_at = now()"
                " WHERE projection = $1",
                self.projection.name,
            )
        return await self.catch_up()

    async def checkpoint(self) -> int:
        """The global position of the last event applied."""
        position = await self.database.pool.fetchval(
            f"SELECT position FROM {self.schema}.projection_checkpoints WHERE projection = $1",
            self.projection.name,
        )
        return int(position or 0)

    async def run(self, stop: asyncio.Event, poll_interval: float = 0.5) -> None:
        """Catch up, then follow new events until `stop` is set."""
        while not stop.is_set():
            await self.catch_up()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_interval)

    async def _apply_batch(self) -> int:
        async with self.database.pool.acquire() as connection, connection.transaction():
            position = await self._lock_checkpoint(connection)
            events = await self.store.read_all(connection, position, self.batch_size)
            for event in events:
                await self.projection.apply(connection, event)
            if events:
                await connection.execute(
                    f"UPDATE {self.schema}.projection_checkpoints"
                    " SET position = $2, updated_at = now() WHERE projection = $1",
                    self.projection.name,
                    events[-1].position,
                )
            return len(events)

    async def _lock_checkpoint(self, connection: Connection) -> int:
        await connection.execute(
            f"INSERT INTO {self.schema}.projection_checkpoints (projection, position)"
            " VALUES ($1, 0) ON CONFLICT DO NOTHING",
            self.projection.name,
        )
        position = await connection.fetchval(
            f"SELECT position FROM {self.schema}.projection_checkpoints"
            " WHERE projection = $1 FOR UPDATE",
            self.projection.name,
        )
        return int(position)
