"""Chassis pieces running in the test's event loop against the real servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from faststream.kafka import KafkaBroker

from chassis.consumer import EventConsumer, subscribe
from chassis.relay import OutboxRelay, kafka_producer
from chassis.settings import ChassisSettings


@contextlib.asynccontextmanager
async def running_relay(
    settings: ChassisSettings, schema: str, batch_size: int = 100, lease_seconds: float = 5.0
) -> AsyncIterator[OutboxRelay]:
    relay = OutboxRelay(
        dsn=settings.database_url,
        schema=schema,
        producer_factory=lambda: kafka_producer(
            settings.kafka_bootstrap_servers,
            enable_idempotence=settings.kafka_enable_idempotence,
        ),
        batch_size=batch_size,
        poll_interval=0.2,
        lease_seconds=lease_seconds,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


@contextlib.asynccontextmanager
async def running_consumer(
    settings: ChassisSettings, consumer: EventConsumer, topic: str
) -> AsyncIterator[KafkaBroker]:
    """`consumer` subscribed to `topic`, with the relay of its schema publishing dead letters."""
    broker = KafkaBroker(settings.kafka_bootstrap_servers)
    subscribe(broker, consumer, topic, settings, description="test subscription")
    async with running_relay(settings, consumer.schema):
        await broker.start()
        try:
            yield broker
        finally:
            await broker.stop()
