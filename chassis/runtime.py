"""What every service runs alongside its routes: the pool and migrations, the Kafka broker
with its subscribers, the outbox relay and the projection runners. Started and stopped
in the app's lifespan; nothing connects at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

from faststream.kafka import KafkaBroker

from chassis.database import Database, migrate, ping
from chassis.projections import Projection, ProjectionRunner
from chassis.relay import OutboxRelay, kafka_producer
from chassis.settings import ChassisSettings
from chassis.telemetry import setup_telemetry, shutdown_telemetry
from contracts import EventData

log = logging.getLogger(__name__)


class ServiceRuntime:
    """One service's infrastructure, built from settings."""

    def __init__(
        self,
        *,
        name: str,
        settings: ChassisSettings,
        schema: str | None = None,
        migrations: Sequence[Path] = (),
        projections: Sequence[Projection] = (),
    ) -> None:
        self.name = name
        self.schema = schema or name
        self.settings = settings
        self.migrations = tuple(migrations)
        self.database = Database(
            settings.database_url,
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
        )
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"dost-{name}",
            enable_idempotence=settings.kafka_enable_idempotence,
            acks="all",
            logger=logging.getLogger(f"dost.{name}.broker"),
        )
        self.relay = OutboxRelay(
            dsn=settings.database_url,
            schema=self.schema,
            producer_factory=lambda: kafka_producer(
                settings.kafka_bootstrap_servers,
                enable_idempotence=settings.kafka_enable_idempotence,
            ),
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval_s,
        )
        self.projections = [ProjectionRunner(self.database, self.schema, p) for p in projections]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def document_events(self, *models: type[EventData]) -> None:
        """List the events this service publishes in its AsyncAPI document. (They are
        published through the outbox, never through these FastStream publishers.)"""
        for model in models:
            self.broker.publisher(
                model.topic,
                schema=model,
                title=model.event_type,
                description=(
                    f"`data` of a CloudEvent of type `{model.event_type}`. {model.__doc__ or ''}"
                ),
            )

    async def start(self) -> None:
        """Open the pool, migrate, start the relay, projections and subscribers."""
        setup_telemetry(
            self.name,
            state_dir=self.settings.state_dir,
            otlp_endpoint=self.settings.otel_exporter_otlp_endpoint,
            log_level=self.settings.log_level,
        )
        await self.database.open()
        async with self.database.pool.acquire() as connection:
            applied = await migrate(connection, self.schema, self.migrations)
        if applied:
            log.info("%s: applied migrations %s", self.name, ", ".join(applied))
        self._stop.clear()
        self._tasks = [asyncio.create_task(self.relay.run(self._stop), name=f"{self.name}-relay")]
        self._tasks += [
            asyncio.create_task(
                runner.run(self._stop), name=f"{self.name}-{runner.projection.name}"
            )
            for runner in self.projections
        ]
        await self.broker.start()

    async def stop(self) -> None:
        """Stop consuming first, then let the relay flush what it holds, then close."""
        await self.broker.stop()
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await asyncio.wait_for(task, timeout=10)
                except TimeoutError:
                    log.warning("%s did not stop in time", task.get_name())
        self._tasks = []
        await self.database.close()
        shutdown_telemetry()

    async def readiness(self) -> dict[str, bool]:
        """Each dependency and whether it is usable now."""
        database_ok = await ping(self.database.pool) if self._tasks else False
        try:
            broker_ok = bool(await self.broker.ping(timeout=2.0))
        except Exception:  # a broken connection is "not ready", whatever its exception type
            broker_ok = False
        background_ok = bool(self._tasks) and not any(task.done() for task in self._tasks)
        return {"database": database_ok, "broker": broker_ok, "background_tasks": background_ok}
