"""A unit of work: one transaction in which a handler loads, appends and publishes.

Appends and outbox messages are collected while the handler runs and written together at
the commit: the event store's ordering lock is then held only for that last insert and the
commit, never while a handler (or a consumer's whole batch) is still working. A stale
expected version is reported as early as possible (against what is committed, when the
handler appends) and checked again, under the lock, at the commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from chassis import outbox
from chassis.aggregate import Aggregate
from chassis.database import Connection, Database
from chassis.event_types import EventTypes
from chassis.event_types import event_types as default_event_types
from chassis.eventstore import ConcurrencyError, EventStore, NewEvent, RecordedEvent, StreamAppend
from chassis.locks import lock_until_commit
from contracts import CloudEvent

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)
PublicEvents = Callable[[A, Any, str], Sequence[CloudEvent | outbox.OutboxMessage]]
"""What a saved domain event means to the outside: (aggregate, event, event id) to the
CloudEvents to publish (none for bookkeeping events), or to records already encoded (a
bulk writer's fast path; they carry their own correlation and causation ids)."""


@dataclass(frozen=True)
class SavedEvent:
    """A domain event as saved: its stored id (also the id of the CloudEvents published for
    it) and those CloudEvents."""

    event: Any
    event_id: str
    published: list[CloudEvent]


@dataclass
class _PendingStream:
    expected_version: int
    events: list[NewEvent] = field(default_factory=list)

    @property
    def version(self) -> int:
        return self.expected_version + len(self.events)


@dataclass(frozen=True)
class Savepoint:
    """What a unit of work had queued when a savepoint began."""

    messages: int
    appended: dict[str, int]


class UnitOfWork:
    """The connection of an open transaction, the service's event store, and what to write
    when (and only if) the transaction commits: appended events and outbox messages."""

    def __init__(
        self, connection: Connection, schema: str, event_types: EventTypes = default_event_types
    ) -> None:
        self.connection = connection
        self.schema = schema
        self.events = EventStore(schema)
        self.event_types = event_types
        self._messages: list[outbox.OutboxMessage] = []
        self._streams: dict[str, _PendingStream] = {}

    # --- publishing -----------------------------------------------------------------------

    def publish(self, event: CloudEvent, *, topic: str | None = None) -> None:
        """Queue `event` for its topic; it is written to the outbox with the commit."""
        self._messages.append(outbox.message_for(event, topic))

    def publish_raw(self, message: outbox.OutboxMessage) -> None:
        """Queue a ready-made record (dead letters keep the original bytes)."""
        self._messages.append(message)

    # --- event streams --------------------------------------------------------------------

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        check_now: bool = True,
    ) -> int:
        """Append `events` to `stream_id` after `expected_version` at the commit; returns
        the stream's new version. :class:`ConcurrencyError` at once if the stream is known
        to be elsewhere, or at the commit if another writer commits first. Without
        `check_now`, the committed version is not asked for now (a bulk writer that already
        knows it saves a round trip per stream; the commit checks anyway)."""
        pending = self._streams.get(stream_id)
        if pending is not None:
            current = pending.version
        elif check_now:
            current = await self.events.stream_version(self.connection, stream_id)
        else:
            current = expected_version
        if current != expected_version:
            raise ConcurrencyError(
                f"stream {stream_id} is at version {current}, expected {expected_version}"
            )
        if pending is None:
            pending = self._streams[stream_id] = _PendingStream(expected_version)
        pending.events.extend(events)
        return pending.version

    async def read_stream(self, stream_id: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events after `after_version`, including those appended in this unit
        of work and not yet committed (their `position` is 0 until then)."""
        stored = await self.events.read_stream(self.connection, stream_id, after_version)
        pending = self._streams.get(stream_id)
        if pending is None:
            return stored
        now = datetime.now(UTC)
        return stored + [
            RecordedEvent(
                position=0,
                stream_id=stream_id,
                version=version,
                event_id=event.event_id,
                event_type=event.event_type,
                schema_version=event.schema_version,
                data=dict(event.data),
                metadata=dict(event.metadata),
                recorded_at=now,
            )
            for version, event in enumerate(pending.events, start=pending.expected_version + 1)
            if version > after_version
        ]

    async def stream_version(self, stream_id: str) -> int:
        """The stream's version, counting what this unit of work appended to it."""
        pending = self._streams.get(stream_id)
        if pending is not None:
            return pending.version
        return await self.events.stream_version(self.connection, stream_id)

    # --- aggregates -------------------------------------------------------------------------

    async def load(self, aggregate_type: type[A], aggregate_id: str) -> A | None:
        """The aggregate as its stream (with this unit of work's appends) describes it, or
        None if it has no events."""
        stored = await self.read_stream(aggregate_type.stream_of(aggregate_id))
        if not stored:
            return None
        return aggregate_type.replay(
            aggregate_id, (self.event_types.from_recorded(event) for event in stored)
        )

    async def load_many(
        self, aggregate_type: type[A], aggregate_ids: Sequence[str]
    ) -> dict[str, A]:
        """The aggregates of `aggregate_ids` that have events, read in one round trip."""
        streams = {aggregate_type.stream_of(id_): id_ for id_ in aggregate_ids}
        stored = await self.events.read_streams(self.connection, list(streams))
        loaded: dict[str, A] = {}
        for stream_id, aggregate_id in streams.items():
            events = stored.get(stream_id, [])
            if stream_id in self._streams:
                events = await self.read_stream(stream_id)  # with this unit of work's appends
            if events:
                loaded[aggregate_id] = aggregate_type.replay(
                    aggregate_id, (self.event_types.from_recorded(event) for event in events)
                )
        return loaded

    async def save(
        self,
        aggregate: A,
        *,
        public_events: PublicEvents[A] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        check_now: bool = True,
    ) -> list[SavedEvent]:
        """Append the aggregate's pending events after the version it was loaded at
        (:class:`ConcurrencyError` if another writer moved the stream), and queue for the
        outbox the public events `public_events` makes of each, with the given correlation
        and causation ids. Returns what was saved, with each event's id. (`check_now`: see
        :meth:`append`.)"""
        if not aggregate.pending:
            return []
        rows = [self.event_types.to_new_event(event) for event in aggregate.pending]
        await self.append(aggregate.stream_id, aggregate.version, rows, check_now=check_now)
        events = aggregate.mark_saved()
        saved = []
        for event, row in zip(events, rows, strict=True):
            published = []
            for public in (
                public_events(aggregate, event, str(row.event_id)) if public_events else ()
            ):
                if isinstance(public, outbox.OutboxMessage):
                    self.publish_raw(public)
                    continue
                public = public.model_copy(
                    update={"correlationid": correlation_id, "causationid": causation_id}
                )
                self.publish(public)
                published.append(public)
            saved.append(SavedEvent(event, str(row.event_id), published))
        return saved

    # --- serialisation and savepoints -----------------------------------------------------

    async def serialize_on(self, name: str) -> None:
        """Make every other unit of work that serialises on `name` wait for this one to end
        (a transaction-scoped advisory lock): take it before reading what a decision
        depends on, so two decisions about the same thing never see the same past."""
        await lock_until_commit(self.connection, f"{self.schema}:{name}")

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[Savepoint]:
        """A nested transaction: if the block raises, its database writes are rolled back
        and so are the events and messages it queued; what was queued before it stays."""
        mark = Savepoint(
            len(self._messages), {stream: len(p.events) for stream, p in self._streams.items()}
        )
        try:
            async with self.connection.transaction():
                yield mark
        except BaseException:
            self._rollback_to(mark)
            raise

    def published_since(self, mark: Savepoint) -> list[outbox.OutboxMessage]:
        """The messages queued since `mark` was taken."""
        return self._messages[mark.messages :]

    def _rollback_to(self, mark: Savepoint) -> None:
        del self._messages[mark.messages :]
        for stream_id in list(self._streams):
            kept = mark.appended.get(stream_id)
            if kept is None:
                del self._streams[stream_id]
            else:
                del self._streams[stream_id].events[kept:]

    # --- commit ---------------------------------------------------------------------------

    async def flush(self) -> None:
        """Write the queued messages and events now, inside the transaction. The events go
        last: from here to the commit this transaction holds the store's ordering lock."""
        messages, self._messages = self._messages, []
        streams, self._streams = self._streams, {}
        await outbox.put(self.connection, self.schema, messages)
        await self.events.append_batch(
            self.connection,
            [
                StreamAppend(stream_id, pending.expected_version, pending.events)
                for stream_id, pending in streams.items()
            ],
        )


@asynccontextmanager
async def unit_of_work(database: Database, schema: str) -> AsyncIterator[UnitOfWork]:
    """Open a transaction; commit it with the queued events and outbox messages if the
    block succeeds, roll everything back if it raises."""
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
