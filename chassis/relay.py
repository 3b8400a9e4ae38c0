"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

One relay per schema is active at a time (a PostgreSQL advisory lock elects it), so a
case's messages leave in the order they were written. A batch is deleted only after the
broker acknowledged every record of it: a relay killed mid-batch publishes the unacknowledged
part again when it (or another replica) takes over. Rows are never skipped: the relay
tracks no high-water mark, it reads whatever is committed and still there, oldest first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from chassis.database import Connection, checked_schema, connect
from chassis.settings import ChassisSettings
from chassis.telemetry import meter, setup_telemetry, tracer

log = logging.getLogger(__name__)
_relayed = meter("dost.chassis.relay").create_counter(
    "dost_outbox_relayed_messages", description="Outbox messages acknowledged by the broker"
)


def kafka_producer(bootstrap_servers: str, *, enable_idempotence: bool = False) -> AIOKafkaProducer:
    """The producer every relay uses: acknowledged by all in-sync replicas."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=enable_idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30_000,
    )


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
    ) -> None:
        self.dsn = dsn
        self.schema = checked_schema(schema)
        self.producer_factory = producer_factory
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.is_leader = False
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; survives database and broker outages by retrying."""
        while not stop.is_set():
            try:
                await self._lead(stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, KafkaError) as error:
                log.warning("outbox relay for %s interrupted: %s; retrying", self.schema, error)
            finally:
                self.is_leader = False
            await _wait(stop, self.poll_interval)

    async def _lead(self, stop: asyncio.Event) -> None:
        connection = await connect(self.dsn)
        try:
            while not await connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"relay:{self.schema}"
            ):
                if await _wait(stop, self.poll_interval):
                    return
            self.is_leader = True
            await connection.add_listener(f"{self.schema}_outbox", self._on_notify)
            producer = self.producer_factory()
            await producer.start()
            try:
                while not stop.is_set():
                    relayed = await self.relay_batch(connection, producer)
                    if relayed < self.batch_size:
                        self._wake.clear()
                        await _wait_any(stop, self._wake, self.poll_interval)
            finally:
                await producer.stop()
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)

    def _on_notify(self, *_args: object) -> None:
        self._wake.set()

    async def relay_batch(self, connection: Connection, producer: AIOKafkaProducer) -> int:
        """Publish the oldest committed rows (up to a batch) and delete them once acked."""
        rows = await connection.fetch(
            f"SELECT position, topic, message_key, payload, headers FROM {self.schema}.outbox"
            " ORDER BY position LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        with tracer("dost.chassis.relay").start_as_current_span(
            "outbox relay batch",
            attributes={"dost.schema": self.schema, "messaging.batch.message_count": len(rows)},
        ):
            deliveries = [
                await producer.send(
                    row["topic"],
                    value=row["payload"],
                    key=row["message_key"],
                    headers=[(name, value.encode()) for name, value in row["headers"]],
                )
                for row in rows
            ]
            await asyncio.gather(*deliveries)
            await connection.execute(
                f"DELETE FROM {self.schema}.outbox WHERE position = ANY($1::bigint[])",
                [row["position"] for row in rows],
            )
        _relayed.add(len(rows), {"schema": self.schema})
        return len(rows)


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
    relay = OutboxRelay(
        dsn=settings.database_url,
        schema=arguments.schema,
        producer_factory=lambda: kafka_producer(
            settings.kafka_bootstrap_servers, enable_idempotence=settings.kafka_enable_idempotence
        ),
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval_s,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await relay.run(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
