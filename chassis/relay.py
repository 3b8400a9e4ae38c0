"""The outbox relay: publishes committed outbox rows to Kafka, in order per key, at least once.

One relay per schema is active at a time, elected by a lease (:mod:`chassis.leases`) that
it renews before every round and that a frozen or cut-off leader loses within its time to
live. The relay tracks no high-water mark: each round it reads the oldest committed rows
still there, so a row committed late is simply picked up by the next round.

A round sends at most one record batch per partition, built from that partition's oldest
rows in order, and waits for every batch's acknowledgement (`acks=all`) before the next
round. Kafka writes a batch whole or not at all, so a batch that fails cannot be overtaken
by a later batch of its partition: its rows are still the oldest and lead the next round.
Acknowledged rows are deleted at once, even when another partition failed, and are never
sent again. A row the broker refuses for good (too large, unknown topic, not authorised)
is parked with its error; the rows of its topic and key wait behind it, all others go on.
Killed mid-round, the unacknowledged rows are sent again: delivery is at least once, and
consumers deduplicate by event id.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    UnsupportedForMessageFormatError,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from chassis import outbox
from chassis.database import Connection, checked_schema, connect
from chassis.leases import Lease
from chassis.outbox import QueuedMessage
from chassis.settings import ChassisSettings
from chassis.telemetry import meter, setup_telemetry, tracer

log = logging.getLogger(__name__)

MAX_RECORD_BYTES = 1024 * 1024
"""The largest record the relay sends (Kafka's default `max.message.bytes` is about this)."""

PERMANENT_SEND_ERRORS: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    InvalidTopicError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
    CorruptRecordException,
    UnsupportedForMessageFormatError,
)
"""What a broker answers to a record it will not take however often it is sent."""

_meter = meter("dost.chassis.relay")
_relayed = _meter.create_counter(
    "dost_outbox_relayed_messages", description="Outbox messages acknowledged by the broker"
)
_send_failures = _meter.create_counter(
    "dost_outbox_send_failures", description="Record batches the broker did not acknowledge"
)
_parked_by_schema: dict[str, int] = {}


def _observe_parked(_options: object) -> list[object]:
    from opentelemetry.metrics import Observation

    return [Observation(count, {"schema": schema}) for schema, count in _parked_by_schema.items()]


_meter.create_observable_gauge(
    "dost_outbox_parked_messages",
    callbacks=[_observe_parked],  # type: ignore[list-item]
    description="Outbox messages the broker refused for good, waiting for a retry",
)


def kafka_producer(
    bootstrap_servers: str,
    *,
    enable_idempotence: bool = False,
    request_timeout_ms: int = 15_000,
) -> AIOKafkaProducer:
    """The producer every relay uses: acknowledged by all in-sync replicas; idempotent where
    the broker supports it (the relay's ordering does not depend on it)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
        max_request_size=MAX_RECORD_BYTES,
        request_timeout_ms=request_timeout_ms,
    )


@dataclass(frozen=True)
class RoundResult:
    """What one round did: rows acknowledged, and whether any batch failed."""

    delivered: int
    failed: bool
    permanent_failure: bool


class OutboxRelay:
    """Moves `<schema>.outbox` rows to Kafka."""

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        producer_factory: Callable[[], AIOKafkaProducer],
        batch_size: int = 500,
        poll_interval: float = 1.0,
        lease_seconds: float = 30.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.dsn = dsn
        self.schema = checked_schema(schema)
        self.producer_factory = producer_factory
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease = Lease(schema, "outbox-relay", lease_seconds)
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._isolated: set[tuple[str, int]] = set()
        self._failed_rounds = 0

    @property
    def is_leader(self) -> bool:
        """Whether this relay holds the schema's lease now."""
        return self.lease.held

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; survives database and broker outages by retrying."""
        while not stop.is_set():
            try:
                await self._lead(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as error:
                log.warning("outbox relay for %s interrupted: %s; retrying", self.schema, error)
            except Exception:  # a bug must not end the relay for good: log it, start over
                log.exception("outbox relay for %s failed; retrying", self.schema)
            await _wait(stop, self.poll_interval)

    async def _lead(self, stop: asyncio.Event) -> None:
        connection = await connect(self.dsn, keepalive=True)
        try:
            while not await self.lease.acquire(connection):
                if await _wait(stop, self.poll_interval):
                    return
            log.info("outbox relay for %s leads (lease token %s)", self.schema, self.lease.token)
            await connection.add_listener(f"{self.schema}_outbox", self._on_notify)
            try:
                await self._relay_while_leading(connection, stop)
            finally:
                with contextlib.suppress(Exception):
                    await self.lease.release(connection)
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)

    async def _relay_while_leading(self, connection: Connection, stop: asyncio.Event) -> None:
        producer = await self._started_producer()
        try:
            while not stop.is_set():
                if not await self.lease.renew(connection):
                    log.warning("outbox relay for %s lost its lease", self.schema)
                    return
                try:
                    # A round never outlives the lease: a leader frozen mid-round stops here
                    # when it wakes instead of sending beside its successor.
                    async with asyncio.timeout(max(self.lease.seconds_left() - 1.0, 0.5)):
                        result = await self.relay_round(connection, producer)
                except TimeoutError:
                    log.warning("outbox relay for %s: round outlived its lease", self.schema)
                    return
                _parked_by_schema[self.schema] = await outbox.parked_count(connection, self.schema)
                if result.permanent_failure:
                    # An idempotent producer's sequence is broken by a refused batch.
                    await _stop_producer(producer)
                    producer = await self._started_producer()
                if result.failed:
                    self._failed_rounds += 1
                    delay = min(0.1 * 2 ** (self._failed_rounds - 1), self.max_backoff)
                    await _wait(stop, delay)
                    continue
                self._failed_rounds = 0
                if result.delivered < self.batch_size:
                    self._wake.clear()
                    await _wait_any(stop, self._wake, self.poll_interval)
        finally:
            await _stop_producer(producer)

    async def _started_producer(self) -> AIOKafkaProducer:
        producer = self.producer_factory()
        await producer.start()
        return producer

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def relay_round(self, connection: Connection, producer: AIOKafkaProducer) -> RoundResult:
        """Send the oldest rows that may leave, at most one batch per partition; delete the
        acknowledged ones, park the refused ones."""
        rows = await outbox.next_to_send(connection, self.schema, self.batch_size)
        if not rows:
            return RoundResult(0, failed=False, permanent_failure=False)
        with tracer("dost.chassis.relay").start_as_current_span(
            "outbox relay round",
            attributes={"dost.schema": self.schema, "messaging.batch.message_count": len(rows)},
        ):
            batches, refused = await self._batches(producer, rows)
            for error, refused_rows in refused.items():
                positions = [row.position for row in refused_rows]
                await outbox.park(connection, self.schema, positions, error)
            sent = [
                (await producer.send_batch(batch.builder, batch.topic, partition=batch.partition))
                for batch in batches
            ]
            outcomes = await asyncio.gather(*sent, return_exceptions=True)
            delivered: list[int] = []
            failed = permanent = False
            for batch, outcome in zip(batches, outcomes, strict=True):
                if not isinstance(outcome, BaseException):
                    delivered += [row.position for row in batch.rows]
                    self._isolated.discard((batch.topic, batch.partition))
                    continue
                if not isinstance(outcome, Exception):
                    raise outcome
                failed = True
                permanent = permanent or await self._after_failure(connection, batch, outcome)
            await outbox.delete(connection, self.schema, delivered)
        _relayed.add(len(delivered), {"schema": self.schema})
        return RoundResult(len(delivered), failed=failed, permanent_failure=permanent)

    async def _after_failure(
        self, connection: Connection, batch: _PartitionBatch, error: Exception
    ) -> bool:
        """Note a failed batch; True if the broker refused it for good."""
        permanent = isinstance(error, PERMANENT_SEND_ERRORS)
        _send_failures.add(
            1,
            {
                "schema": self.schema,
                "error": type(error).__name__,
                "kind": "permanent" if permanent else "transient",
            },
        )
        log.warning(
            "outbox relay for %s: batch of %d to %s[%d] failed: %s",
            self.schema,
            len(batch.rows),
            batch.topic,
            batch.partition,
            type(error).__name__,
        )
        if not permanent:
            return False
        if len(batch.rows) == 1:
            await outbox.park(connection, self.schema, [batch.rows[0].position], _describe(error))
            self._isolated.discard((batch.topic, batch.partition))
        else:
            # Which row the broker refused is not known: send this partition one row at a
            # time until the refused one is parked.
            self._isolated.add((batch.topic, batch.partition))
        return True

    async def _batches(
        self, producer: AIOKafkaProducer, rows: Sequence[QueuedMessage]
    ) -> tuple[list[_PartitionBatch], dict[str, list[QueuedMessage]]]:
        """One batch per partition from the oldest rows of each, in order; and the rows
        refused before sending (unknown topic, too large), by error."""
        refused: dict[str, list[QueuedMessage]] = defaultdict(list)
        by_topic: dict[str, list[QueuedMessage]] = defaultdict(list)
        for row in rows:
            by_topic[row.topic].append(row)
        batches: list[_PartitionBatch] = []
        for topic, topic_rows in by_topic.items():
            partitions = await _partitions_of(producer, topic)
            if not partitions:
                refused[f"UnknownTopicOrPartitionError: topic {topic} does not exist"] += topic_rows
                continue
            by_partition: dict[int, _PartitionBatch] = {}
            held_keys: set[bytes] = set()
            for row in topic_rows:
                if row.key is not None and row.key in held_keys:
                    continue  # an earlier row of its key was refused in this round
                if _record_size(row) > MAX_RECORD_BYTES:
                    refused[f"MessageSizeTooLargeError: {_record_size(row)} bytes"].append(row)
                    if row.key is not None:
                        held_keys.add(row.key)
                    continue
                partition = _PARTITIONER(row.key, partitions, partitions)
                batch = by_partition.get(partition)
                if batch is None:
                    batch = by_partition[partition] = _PartitionBatch(
                        topic, partition, producer.create_batch()
                    )
                batch.add(row, single=(topic, partition) in self._isolated)
            for batch in by_partition.values():
                batch.builder.close()
                if batch.rows:
                    batches.append(batch)
        return batches, refused


_PARTITIONER = DefaultPartitioner()


class _PartitionBatch:
    """The rows of one partition sent together this round, in order."""

    def __init__(self, topic: str, partition: int, builder: Any) -> None:
        self.topic = topic
        self.partition = partition
        self.builder = builder
        self.rows: list[QueuedMessage] = []
        self.full = False

    def add(self, row: QueuedMessage, *, single: bool) -> None:
        """Append `row` unless the batch is full; once full, nothing later of this
        partition may join this round, or it would overtake the rows left out."""
        if self.full or (single and self.rows):
            self.full = True
            return
        appended = self.builder.append(
            timestamp=None,
            key=row.key,
            value=row.payload,
            headers=[(name, value.encode()) for name, value in row.headers],
        )
        if appended is None:
            self.full = True
            return
        self.rows.append(row)


def _record_size(row: QueuedMessage) -> int:
    headers = [(name, value.encode()) for name, value in row.headers]
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(row.key, row.payload, headers)
    return size


async def _partitions_of(producer: AIOKafkaProducer, topic: str) -> list[int]:
    """The topic's partitions, asking the cluster once if they are not known yet; empty if
    the broker does not know the topic (no waiting for it to appear)."""
    cluster = producer.client.cluster
    known = cluster.partitions_for_topic(topic)
    if not known:
        await producer.client.add_topic(topic)
        known = cluster.partitions_for_topic(topic)
    if not known:
        await producer.client.force_metadata_update()  # it may have been created since
        known = cluster.partitions_for_topic(topic)
    return sorted(known or ())


async def _stop_producer(producer: AIOKafkaProducer) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(10):
            await producer.stop()


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True if `stop` was set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def relay_for(settings: ChassisSettings, schema: str) -> OutboxRelay:
    """The relay of `schema` as the settings describe it."""
    return OutboxRelay(
        dsn=settings.database_url,
        schema=schema,
        producer_factory=lambda: kafka_producer(
            settings.kafka_bootstrap_servers,
            enable_idempotence=settings.kafka_enable_idempotence,
            request_timeout_ms=settings.kafka_request_timeout_ms,
        ),
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval_s,
        lease_seconds=settings.relay_lease_seconds,
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m chassis.relay --schema NAME`: run one relay as its own process."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schema", required=True)
    arguments = parser.parse_args(argv)
    settings = ChassisSettings()
    setup_telemetry(
        f"relay-{arguments.schema}",
        state_dir=settings.state_dir,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        log_level=settings.log_level,
    )
    relay = relay_for(settings, arguments.schema)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await relay.run(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
