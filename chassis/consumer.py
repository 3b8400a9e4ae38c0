"""Idempotent, dead-lettering event consumers on FastStream.

A batch of records is processed in one transaction: the inbox claims the records' ids,
each new record runs its handler inside a savepoint, dead letters are written through the
outbox, and only after the commit does FastStream commit the offsets (ack policy
NACK_ON_ERROR, never ACK_FIRST). A transient failure (database or network) rolls the whole
batch back and rewinds the partitions, so no record is ever passed over by a later commit.
"""

from __future__ import annotations

import asyncio
import logging
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
from chassis.dead_letters import DeadLetter, ReceivedRecord
from chassis.eventstore import ConcurrencyError
from chassis.settings import ChassisSettings
from chassis.telemetry import context_from_traceparent, meter, tracer
from chassis.unit_of_work import UnitOfWork, unit_of_work
from contracts import CloudEvent, ContractError, InvalidEventData, decode

log = logging.getLogger(__name__)
EventHandler = Callable[[UnitOfWork, CloudEvent], Awaitable[None]]
RejectionHandler = Callable[[UnitOfWork, CloudEvent, InvalidEventData], Awaitable[None]]

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.QueryCanceledError,
)

RETRY_BATCH_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, ConcurrencyError)

_processed = meter("dost.chassis.consumer").create_counter(
    "dost_consumed_messages",
    description="Messages a subscription handled, skipped or dead-lettered",
)


class EventConsumer:
    """Dispatches the records of one subscription to handlers by CloudEvent type.

    Registered types without a handler go to `fallback_handler`, or are skipped. Records
    that cannot be decoded, whose type no contract knows, whose data is invalid (unless a
    `rejection_handler` answers the sender for that type), or whose handler keeps failing
    are dead-lettered with the reason, and the consumer goes on."""

    def __init__(
        self,
        *,
        database: Database,
        schema: str,
        subscription: str,
        handlers: Mapping[str, EventHandler],
        fallback_handler: EventHandler | None = None,
        rejection_handlers: Mapping[str, RejectionHandler] | None = None,
        message_id: Callable[[CloudEvent, ReceivedRecord], str] | None = None,
        max_attempts: int = 3,
        transient_backoff: float = 1.0,
    ) -> None:
        self.database = database
        self.schema = schema
        self.subscription = subscription
        self.handlers = dict(handlers)
        self.fallback_handler = fallback_handler
        self.rejection_handlers = dict(rejection_handlers or {})
        self.message_id = message_id or (lambda event, _record: event.id)
        self.max_attempts = max_attempts
        self.transient_backoff = transient_backoff

    async def process(self, records: Sequence[ReceivedRecord]) -> None:
        """Handle `records` (in order) in one transaction; raise only for transient errors,
        after a back-off, so the batch is delivered again."""
        try:
            await self._process(records)
        except RETRY_BATCH_ERRORS as error:
            log.warning(
                "subscription %s: batch of %d will be redelivered: %s",
                self.subscription,
                len(records),
                type(error).__name__,
            )
            await asyncio.sleep(self.transient_backoff)
            raise

    async def _process(self, records: Sequence[ReceivedRecord]) -> None:
        incoming = [self._decode(record) for record in records]
        async with unit_of_work(self.database, self.schema) as work:
            ids = [message.message_id for message in incoming]
            new_ids = await inbox.claim(work.connection, self.schema, self.subscription, ids)
            subjects = [m.event.subject for m in incoming if m.event and m.event.subject]
            blocked = await dead_letters.blocked_subjects(
                work.connection, self.schema, self.subscription, subjects
            )
            for message in incoming:
                if message.message_id not in new_ids:
                    self._count("duplicate")
                    continue
                new_ids.discard(message.message_id)  # the same id twice in a batch: first wins
                subject = message.event.subject if message.event else None
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

    async def _dispatch(self, work: UnitOfWork, message: _Incoming) -> tuple[str, str] | None:
        """Run the right handler; the (reason, error) to dead-letter with, if any."""
        event, error = message.event, message.error
        if error is not None:
            rejection = self.rejection_handlers.get(event.type) if event else None
            if event is None or rejection is None or not isinstance(error, InvalidEventData):
                return error.reason, str(error)

            async def reject(work: UnitOfWork, envelope: CloudEvent) -> None:
                await rejection(work, envelope, error)

            failure = await self._handle(work, reject, event)
            return None if failure is None else ("rejection_failed", failure)
        assert event is not None
        handler = self.handlers.get(event.type, self.fallback_handler)
        if handler is None:
            self._count("ignored")
            return None
        failure = await self._handle(work, handler, event)
        return None if failure is None else ("handler_failed", failure)

    def _decode(self, record: ReceivedRecord) -> _Incoming:
        try:
            event = decode(record.value)
        except InvalidEventData as error:
            envelope: CloudEvent = error.envelope
            return _Incoming(record, self.message_id(envelope, record), envelope, error)
        except ContractError as error:
            coordinates = f"kafka:{record.topic}/{record.partition}/{record.offset}"
            return _Incoming(record, coordinates, None, error)
        return _Incoming(record, self.message_id(event, record), event, None)

    async def _handle(
        self, work: UnitOfWork, handler: EventHandler, event: CloudEvent
    ) -> str | None:
        """Run `handler` in a savepoint, up to `max_attempts` times; the failure, if any."""
        parent = context_from_traceparent(event.traceparent)
        failure = ""
        for attempt in range(1, self.max_attempts + 1):
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
                try:
                    async with work.connection.transaction():
                        await handler(work, event)
                        await work.flush()
                except TRANSIENT_ERRORS:
                    raise
                except ConcurrencyError:
                    work.drop_pending()
                    if attempt == self.max_attempts:
                        raise
                    continue
                except Exception as error:  # anything else: retried here, then dead-lettered
                    work.drop_pending()
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR))
                    failure = f"{type(error).__name__}: {error}"
                    log.warning(
                        "subscription %s: handler for %s failed (attempt %d): %s",
                        self.subscription,
                        event.type,
                        attempt,
                        type(error).__name__,
                    )
                    continue
                self._count("handled")
                return None
        return failure

    async def _dead_letter(
        self, work: UnitOfWork, message: _Incoming, reason: str, error: str
    ) -> None:
        subject = message.event.subject if message.event else None
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
