"""Append-only event streams in PostgreSQL, one schema per service.

Global positions are handed out in commit order: an append takes the schema's ordering
lock (a transaction-scoped advisory lock, not a table lock) just before its insert and
holds it until its transaction ends, so a reader that tracks the last position it saw
never skips an event that committed late. The lock blocks only other appends, never
readers, other writes or autovacuum; append last in a transaction so it is held for the
insert and the commit only. :class:`chassis.unit_of_work.UnitOfWork` does exactly that: it
collects a transaction's appends and writes them all at its commit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from chassis.database import Connection, Queryable, checked_schema
from chassis.locks import lock_until_commit


class ConcurrencyError(Exception):
    """The stream moved on since it was loaded: reload and decide again."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append: its type name and schema version are stored explicitly."""

    event_type: str
    data: Mapping[str, Any]
    schema_version: int = 1
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored, with its place in its stream and in the global order."""

    position: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime


@dataclass(frozen=True)
class StreamAppend:
    """Events for one stream, appended after `expected_version` (0 for a new stream)."""

    stream_id: str
    expected_version: int
    events: Sequence[NewEvent]


_COLUMNS = (
    "position, stream_id, version, event_id, event_type, schema_version, data, metadata,"
    " recorded_at"
)


class EventStore:
    """Event streams in `<schema>.events`."""

    def __init__(self, schema: str) -> None:
        self.schema = checked_schema(schema)
        self._table = f"{self.schema}.events"

    async def append(
        self,
        connection: Connection,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
    ) -> int:
        """Append `events` after `expected_version`; returns the stream's new version.

        Raises :class:`ConcurrencyError`, writing nothing, if the stream is not at
        `expected_version`."""
        await self.append_batch(connection, [StreamAppend(stream_id, expected_version, events)])
        return expected_version + len(events)

    async def append_batch(self, connection: Connection, appends: Sequence[StreamAppend]) -> None:
        """Append to many streams in one round trip of checks and one multi-row insert.

        All or nothing: one stale expected version raises :class:`ConcurrencyError`."""
        appends = [append for append in appends if append.events]
        if not appends:
            return
        if len({append.stream_id for append in appends}) != len(appends):
            raise ValueError("append_batch takes each stream at most once")
        if not connection.is_in_transaction():
            async with connection.transaction():
                await self._append_locked(connection, appends)
        else:
            await self._append_locked(connection, appends)

    async def _append_locked(self, connection: Connection, appends: Sequence[StreamAppend]) -> None:
        await lock_until_commit(connection, f"dost.eventstore:{self.schema}")
        stream_ids = [append.stream_id for append in appends]
        current: dict[str, int] = dict(
            await connection.fetch(  # type: ignore[arg-type]
                f"SELECT stream_id, max(version) FROM {self._table}"
                " WHERE stream_id = ANY($1::text[]) GROUP BY stream_id",
                stream_ids,
            )
        )
        stale = [
            append
            for append in appends
            if current.get(append.stream_id, 0) != append.expected_version
        ]
        if stale:
            first = stale[0]
            raise ConcurrencyError(
                f"stream {first.stream_id} is at version {current.get(first.stream_id, 0)},"
                f" expected {first.expected_version} ({len(stale)} stale stream(s))"
            )
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [])
        metadata: Any = None
        metadata_json = ""
        for append in appends:
            for offset, event in enumerate(append.events, start=1):
                columns[0].append(append.stream_id)
                columns[1].append(append.expected_version + offset)
                columns[2].append(event.event_id)
                columns[3].append(event.event_type)
                columns[4].append(event.schema_version)
                columns[5].append(json.dumps(event.data, separators=(",", ":")))
                if event.metadata != metadata:  # a batch's events mostly share theirs
                    metadata = event.metadata
                    metadata_json = json.dumps(metadata, separators=(",", ":"))
                columns[6].append(metadata_json)
        try:
            await connection.execute(
                f"INSERT INTO {self._table}"
                " (stream_id, version, event_id, event_type, schema_version, data, metadata)"
                " SELECT s, v, i, t, sv, d::jsonb, m::jsonb FROM unnest("
                "$1::text[], $2::int[], $3::uuid[], $4::text[], $5::smallint[],"
                " $6::text[], $7::text[]"
                ") AS u(s, v, i, t, sv, d, m)",
                *columns,
            )
        except asyncpg.UniqueViolationError as error:
            raise ConcurrencyError(str(error)) from error

    async def read_stream(
        self, connection: Queryable, stream_id: str, after_version: int = 0
    ) -> list[RecordedEvent]:
        """The stream's events after `after_version`, oldest first."""
        rows = await connection.fetch(
            f"SELECT {_COLUMNS} FROM {self._table}"
            " WHERE stream_id = $1 AND version > $2 ORDER BY version",
            stream_id,
            after_version,
        )
        return [_recorded(row) for row in rows]

    async def read_streams(
        self, connection: Queryable, stream_ids: Sequence[str]
    ) -> dict[str, list[RecordedEvent]]:
        """The events of each of `stream_ids` (oldest first), in one round trip; streams
        without events are left out."""
        rows = await connection.fetch(
            f"SELECT {_COLUMNS} FROM {self._table}"
            " WHERE stream_id = ANY($1::text[]) ORDER BY stream_id, version",
            list(dict.fromkeys(stream_ids)),
        )
        streams: dict[str, list[RecordedEvent]] = {}
        for row in rows:
            streams.setdefault(row["stream_id"], []).append(_recorded(row))
        return streams

    async def chunks(
        self, connection: Queryable, after_position: int = 0, chunk: int = 1000
    ) -> AsyncIterator[list[RecordedEvent]]:
        """Every event after `after_position` in global (commit) order, `chunk` at a time,
        without holding a transaction open between chunks (keyset reads by position)."""
        position = after_position
        while events := await self.read_all(connection, position, chunk):
            yield events
            position = events[-1].position

    async def last_position(self, connection: Queryable) -> int:
        """The position of the last event committed so far (0 if none)."""
        return int(
            await connection.fetchval(f"SELECT coalesce(max(position), 0) FROM {self._table}")
        )

    async def read_all(
        self,
        connection: Queryable,
        after_position: int = 0,
        limit: int = 1000,
    ) -> list[RecordedEvent]:
        """Up to `limit` events after `after_position` in global (commit) order."""
        rows = await connection.fetch(
            f"SELECT {_COLUMNS} FROM {self._table} WHERE position > $1 ORDER BY position LIMIT $2",
            after_position,
            limit,
        )
        return [_recorded(row) for row in rows]

    async def stream_version(self, connection: Queryable, stream_id: str) -> int:
        """The stream's current version, 0 if it has no events."""
        version = await connection.fetchval(
            f"SELECT coalesce(max(version), 0) FROM {self._table} WHERE stream_id = $1", stream_id
        )
        return int(version)


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        position=row["position"],
        stream_id=row["stream_id"],
        version=row["version"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        data=row["data"],
        metadata=row["metadata"],
        recorded_at=row["recorded_at"],
    )
