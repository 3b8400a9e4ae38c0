"""Idempotent, dead-lettering event consumers on FastStream.

A batch of records is processed in one transaction: the inbox claims the records' ids
(CloudEvents `source` + `id`), each new record runs its handler inside a savepoint, dead
letters are written through the outbox, and only after the commit does FastStream commit
the offsets (ack policy NACK_ON_ERROR, never ACK_FIRST).

What can go wrong, and what happens then:
- a handler fails: it is retried with back-off in its savepoint, then dead-lettered
  (`handler_failed`); the batch goes on;
- the database or network is down (the database does not answer a ping after the
  failure): nothing is dead-lettered because of it; the batch is rolled back and, after a
  growing back-off, the partitions are rewound so it is delivered again;
- anything else fails the batch outside a handler (a record the database refuses, a bug):
  the batch is retried a few times with back-off, then split in halves until the record
  that fails alone is found; that one is dead-lettered (`unprocessable`) and the rest go
  on. One record can never hold its partition.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry.trace import SpanKind, Status, StatusCode

from chassis import dead_letters, inbox
from chassis.database import Database
from chassis.dead_letters import DeadLetter, ReceivedRecord, StoredDeadLetter
from chassis.eventstore import ConcurrencyError
from chassis.settings import ChassisSettings
from chassis.telemetry import context_from_traceparent, meter, redact, tracer
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts import (
    CloudEvent,
    ContractError,
    EventData,
    InvalidEventData,
    registered_types,
)
from contracts.kafka_binding import decode_record

log = logging.getLogger(__name__)
EventHandler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]
RejectionHandler = Callable[[UnitOfWork, CloudEvent, InvalidEventData], Awaitable[None]]

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    asyncpg.PostgresConnectionError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)
"""Errors that may say the database or the network is unavailable rather than that a record
is bad: a handler does not retry them, the batch decides (by pinging the database)."""

CONTENTION_ERRORS: tuple[type[BaseException], ...] = (
    ConcurrencyError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
)
"""Errors that say another writer got there first: try again from the load."""

UNPROCESSABLE = "unprocessable"

_processed = meter("dost.chassis.consumer").create_counter(
    "dost_consumed_messages",
    description="Messages a subscription handled, skipped or dead-lettered",
)
_handling = meter("dost.chassis.consumer").create_histogram(
    "dost_event_handling_seconds",
    unit="s",
    description="Time a handler took for one event (its savepoint included), by event type",
)
_handled = meter("dost.chassis.consumer").create_counter(
    "dost_events_handled", description="Events a subscription's handlers applied, by type"
)


class Unprocessable(Exception):
    """Raised by a handler for a message that can never be processed (an unknown reference,
    say): it is dead-lettered at once with `reason`, without retries."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def by_subject(event: CloudEvent) -> str | None:
    """Dead letters are sequenced by the CloudEvent subject (the case) by default."""
    return event.subject


def source_and_id(event: CloudEvent, _record: ReceivedRecord) -> str:
    """The inbox id of an event: CloudEvents makes `source` + `id` unique, not `id` alone."""
    return f"{event.source}|{event.id}"


class EventConsumer:
    """Dispatches the records of one subscription to handlers by CloudEvent type.

    Registered types without a handler go to `fallback_handler`, or are skipped. Records
    that cannot be decoded, whose type no contract knows, whose data is invalid (unless a
    `rejection_handler` answers the sender for that type), or whose handler keeps failing
    are dead-lettered with the reason, and the consumer goes on. With `answers_duplicates`,
    what a handler published in answer to a message is kept, and a duplicate of the
    message gets that answer again (same event ids) instead of silence."""

    def __init__(
        self,
        *,
        database: Database,
        schema: str,
        subscription: str,
        handlers: Mapping[str, EventHandler],
        fallback_handler: EventHandler | None = None,
        rejection_handlers: Mapping[str, RejectionHandler] | None = None,
        message_id: Callable[[CloudEvent, ReceivedRecord], str] = source_and_id,
        answers_duplicates: bool = False,
        sequence_key: Callable[[CloudEvent], str | None] = by_subject,
        max_attempts: int = 3,
        retry_backoff: float = 0.05,
        batch_attempts: int = 3,
        transient_backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.database = database
        self.schema = schema
        self.subscription = subscription
        self.handlers = dict(handlers)
        self.fallback_handler = fallback_handler
        self.rejection_handlers = dict(rejection_handlers or {})
        self.message_id = message_id
        self.answers_duplicates = answers_duplicates
        self.sequence_key = sequence_key
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.batch_attempts = batch_attempts
        self.transient_backoff = transient_backoff
        self.max_backoff = max_backoff
        self._outages = 0

    async def process(self, records: Sequence[ReceivedRecord]) -> None:
        """Handle `records` (in order). Raises only when the database is unavailable,
        after a back-off, so that the batch is delivered again."""
        await self._process_isolating(list(records))

    async def _process_isolating(self, records: list[ReceivedRecord]) -> None:
        failures = 0
        while True:
            try:
                await self._process(records)
            except Exception as error:
                if not await self._database_answers():
                    await self._back_off_outage(len(records), error)
                    raise
                failures += 1
                log.warning(
                    "subscription %s: batch of %d failed (attempt %d): %s",
                    self.subscription,
                    len(records),
                    failures,
                    type(error).__name__,
                )
                if failures < self.batch_attempts:
                    await asyncio.sleep(self._backoff(failures))
                    continue
                if len(records) > 1:
                    middle = len(records) // 2
                    await self._process_isolating(records[:middle])
                    await self._process_isolating(records[middle:])
                    return
                await self._dead_letter_unprocessable(records[0], error)
                return
            self._outages = 0
            return

    async def _process(self, records: Sequence[ReceivedRecord]) -> None:
        incoming = []
        for record in records:
            message = self._decode(record)
            if self._wanted(message):
                incoming.append(message)
            else:  # a type nobody here handles: nothing to claim or remember
                self._count("ignored")
        if not incoming:
            return
        async with unit_of_work(self.database, self.schema) as work:
            ids = [message.message_id for message in incoming]
            new_ids = await inbox.claim(work.connection, self.schema, self.subscription, ids)
            subjects = [key for m in incoming if (key := self._sequence_key(m))]
            blocked = await dead_letters.blocked_subjects(
                work.connection, self.schema, self.subscription, subjects
            )
            duplicates: list[str] = []
            for message in incoming:
                if message.message_id not in new_ids:
                    self._count("duplicate")
                    duplicates.append(message.message_id)
                    continue
                new_ids.discard(message.message_id)  # the same id twice in a batch: first wins
                subject = self._sequence_key(message)
                if subject and subject in blocked:
                    await self._dead_letter(
                        work,
                        message,
                        dead_letters.BLOCKED_BY_EARLIER,
                        f"an earlier message of subject {subject} is dead-lettered",
                    )
                    continue
                failure = await self._dispatch(work, message)
                if failure is not None:
                    await self._dead_letter(work, message, *failure)
                    if subject:
                        blocked.add(subject)
            if self.answers_duplicates and duplicates:
                await self._answer_again(work, duplicates)

    def _wanted(self, message: _Incoming) -> bool:
        """Whether a message needs handling (or dead-lettering), not only skipping: what
        cannot be read at all is dead-lettered; a readable envelope (even with invalid
        data) of a type nobody here handles is skipped."""
        if message.event is None:
            return True
        kind = message.event.type
        return (
            self.fallback_handler is not None
            or kind in self.handlers
            or (message.error is not None and kind in self.rejection_handlers)
        )

    async def _dispatch(self, work: UnitOfWork, message: _Incoming) -> tuple[str, str] | None:
        """Run the right handler; the (reason, error) to dead-letter with, if any."""
        event, error = message.event, message.error
        if error is not None:
            rejection = self.rejection_handlers.get(event.type) if event else None
            if event is None or rejection is None or not isinstance(error, InvalidEventData):
                return error.reason, str(error)

            async def reject(work: UnitOfWork, envelope: CloudEvent) -> None:
                await rejection(work, envelope, error)

            failure = await self._handle(work, reject, event, message.message_id)
            return None if failure is None else ("rejection_failed", failure[1])
        assert event is not None
        handler = self.handlers.get(event.type, self.fallback_handler)
        if handler is None:  # (a dead letter of a type no longer handled, redriven)
            self._count("ignored")
            return None
        return await self._handle(work, handler, event, message.message_id)

    def _decode(self, record: ReceivedRecord) -> _Incoming:
        try:
            event = decode_record(record.value, record.headers)
        except InvalidEventData as error:
            envelope: CloudEvent = error.envelope
            return _Incoming(record, self.message_id(envelope, record), envelope, error)
        except ContractError as error:
            return _Incoming(record, _coordinates(record), None, error)
        return _Incoming(record, self.message_id(event, record), event, None)

    async def _handle(
        self, work: UnitOfWork, handler: EventHandler, event: CloudEvent, message_id: str
    ) -> tuple[str, str] | None:
        """Run `handler` in a savepoint, up to `max_attempts` times with back-off; the
        (reason, error) to dead-letter with, if it kept failing or said it never can
        (:class:`Unprocessable`). Outages, and contention that outlasts the attempts, are
        raised: they concern the batch, not this record."""
        parent = context_from_traceparent(event.traceparent)
        failure = ""
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self._backoff(attempt - 1, self.retry_backoff))
            with tracer("dost.chassis.consumer").start_as_current_span(
                f"consume {event.type}",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.consumer.group.name": self.subscription,
                    "messaging.message.id": event.id,
                    "dost.case_id": event.subject or "",
                    "dost.attempt": attempt,
                },
            ) as span:
                started = time.perf_counter()
                try:
                    async with work.savepoint() as mark:
                        await handler(work, event)
                        if self.answers_duplicates:
                            reply = work.published_since(mark)
                            await inbox.remember_reply(
                                work.connection, self.schema, self.subscription, message_id, reply
                            )
                except OUTAGE_ERRORS:
                    raise
                except Unprocessable as error:
                    self._count("unprocessable")
                    return error.reason, _describe(error)
                except CONTENTION_ERRORS:
                    if attempt == self.max_attempts:
                        raise
                    continue
                except Exception as error:  # anything else: retried here, then dead-lettered
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR))
                    failure = _describe(error)
                    log.warning(
                        "subscription %s: handler for %s failed (attempt %d): %s",
                        self.subscription,
                        event.type,
                        attempt,
                        type(error).__name__,
                    )
                    continue
                labels = {"subscription": self.subscription, "type": event.type}
                _handling.record(time.perf_counter() - started, labels)
                _handled.add(1, labels)
                self._count("handled")
                return None
        return "handler_failed", failure

    async def redrive(self, work: UnitOfWork, letter: StoredDeadLetter) -> str | None:
        """Run a dead letter's record through the normal path again, its inbox claim
        released; None if it went through now, else why not (the letter stays open)."""
        try:
            message = self._decode(letter.record)
        except Exception as error:  # its id cannot even be computed
            return _describe(error)
        for message_id in {letter.message_id, message.message_id}:
            await inbox.forget(work.connection, self.schema, self.subscription, message_id)
        if not self._wanted(message):  # parked, of a type nobody here handles: let it go
            self._count("ignored")
            return None
        await inbox.claim(work.connection, self.schema, self.subscription, [message.message_id])
        failure = await self._dispatch(work, message)
        return None if failure is None else f"{failure[0]}: {failure[1]}"

    async def _answer_again(self, work: UnitOfWork, message_ids: Sequence[str]) -> None:
        answers = await inbox.replies(work.connection, self.schema, self.subscription, message_ids)
        for message_id in message_ids:
            for message in answers.get(message_id, ()):
                work.publish_raw(message)
                self._count("answered_again")

    async def _dead_letter(
        self, work: UnitOfWork, message: _Incoming, reason: str, error: str
    ) -> None:
        subject = self._sequence_key(message)
        letter = DeadLetter(message.record, message.message_id, subject, reason, error)
        await dead_letters.record(work.connection, self.schema, self.subscription, letter)
        work.publish_raw(dead_letters.dead_letter_message(letter, self.subscription))
        self._count("dead_lettered")
        log.warning(
            "subscription %s: dead-lettered %s[%d]@%d: %s",
            self.subscription,
            message.record.topic,
            message.record.partition,
            message.record.offset,
            reason,
        )

    async def _dead_letter_unprocessable(
        self, record: ReceivedRecord, error: BaseException
    ) -> None:
        """Dead-letter a record that fails on its own outside any handler. Its inbox id is
        its coordinates: whatever made it fail may be in its own id."""
        try:
            event: CloudEvent | None = decode_record(record.value, record.headers)
        except InvalidEventData as invalid:
            event = invalid.envelope
        except ContractError:
            event = None
        message = _Incoming(record, f"{UNPROCESSABLE}:{_coordinates(record)}", event, None)
        async with unit_of_work(self.database, self.schema) as work:
            claimed = await inbox.claim(
                work.connection, self.schema, self.subscription, [message.message_id]
            )
            if claimed:
                await self._dead_letter(work, message, UNPROCESSABLE, _describe(error))

    async def _database_answers(self) -> bool:
        try:
            async with self.database.pool.acquire(timeout=5) as connection:
                return bool(await connection.fetchval("SELECT 1", timeout=5) == 1)
        except Exception:  # whatever the reason, the database is not usable now
            return False

    async def _back_off_outage(self, size: int, error: BaseException) -> None:
        self._outages += 1
        delay = self._backoff(self._outages, self.transient_backoff)
        log.warning(
            "subscription %s: batch of %d will be delivered again in %.1fs: %s",
            self.subscription,
            size,
            delay,
            type(error).__name__,
        )
        await asyncio.sleep(delay)

    def _sequence_key(self, message: _Incoming) -> str | None:
        if message.event is None:
            return None
        try:
            return self.sequence_key(message.event)
        except Exception:  # undecoded data: nothing to sequence by
            return None

    def _backoff(self, failures: int, base: float | None = None) -> float:
        return float(min((base or self.retry_backoff) * 2 ** (failures - 1), self.max_backoff))

    def handled_models(self) -> list[type[EventData]]:
        """The contracts this subscription applies: those it has a handler for, or every
        registered one when a fallback handler takes the rest."""
        known = registered_types()
        if self.fallback_handler is not None:
            return sorted(known.values(), key=lambda model: model.event_type)
        return [known[name] for name in sorted(self.handlers) if name in known]

    def _count(self, outcome: str) -> None:
        _processed.add(1, {"subscription": self.subscription, "outcome": outcome})


@dataclass(frozen=True)
class _Incoming:
    """A record with its inbox id and what decoding made of it (for invalid data, `event` is
    the envelope with undecoded data and `error` says why)."""

    record: ReceivedRecord
    message_id: str
    event: CloudEvent | None
    error: ContractError | None


def _coordinates(record: ReceivedRecord) -> str:
    return f"kafka:{record.topic}/{record.partition}/{record.offset}"


def _describe(error: BaseException) -> str:
    """The error for a dead letter's headers: its type and message, personal data masked."""
    return redact(f"{type(error).__name__}: {error}")[:2000]


def received(record: ConsumerRecord[Any, Any]) -> ReceivedRecord:
    """An aiokafka record as the chassis sees it."""
    return ReceivedRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers=tuple(record.headers or ()),
    )


async def _raw_bodies(message: StreamMessage[Any]) -> Any:
    # Never let FastStream parse the payload: undecodable bytes must reach the dead-letter
    # path instead of failing before the handler (which would redeliver them forever).
    return message.body


def subscribe(
    broker: KafkaBroker | KafkaRouter,
    consumer: EventConsumer,
    topics: str | Sequence[str],
    settings: ChassisSettings,
    *,
    description: str,
) -> None:
    """Register `consumer` on `topics` as a batch subscriber of its own consumer group."""
    names = [topics] if isinstance(topics, str) else list(topics)

    @broker.subscriber(
        *names,
        group_id=consumer.subscription,
        batch=True,
        max_records=settings.kafka_max_batch_records,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        decoder=_raw_bodies,
        title=f"{','.join(names)}:{consumer.subscription}",
        description=description,
    )
    async def consume(bodies: list[bytes], message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        await consumer.process([received(record) for record in records])
