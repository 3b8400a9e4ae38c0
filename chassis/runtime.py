"""What every service runs alongside its routes: the pool and migrations, the Kafka broker
with its subscribers, the outbox relay and the projection runners. Started and stopped
in the app's lifespan; nothing connects at import time. The service reports ready only once
every topic it reads or writes exists with the configured number of partitions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from opentelemetry.metrics import Observation

from chassis import dead_letters, redrive
from chassis.asyncapi import Subscription
from chassis.consumer import EventConsumer, subscribe
from chassis.consumer_lag import consumer_lag
from chassis.database import Database, migrate, ping
from chassis.jobs import JobKind, JobRunner
from chassis.projections import Projection, ProjectionRunner
from chassis.redrive import DeadLetterRedrive
from chassis.relay import relay_for
from chassis.settings import ChassisSettings
from chassis.telemetry import meter, setup_telemetry, shutdown_telemetry
from chassis.topics import TopicLayout, topic_problems
from contracts import EventData
from contracts.topics import dead_letter_topic

log = logging.getLogger(__name__)
_meter = meter("dost.chassis.runtime")


def _gauge(name: str, description: str, labels: Callable[[Any], dict[str, str]]) -> dict[Any, int]:
    """An observable gauge read from the dict returned (key -> value; `labels` names a key)."""
    values: dict[Any, int] = {}

    def observe(_options: object) -> list[Observation]:
        return [Observation(value, labels(key)) for key, value in list(values.items())]

    _meter.create_observable_gauge(name, callbacks=[observe], description=description)
    return values


_open_dead_letters = _gauge(
    "dost_dead_letters_open",
    "Dead letters not yet redriven or discarded, per subscription",
    lambda subscription: {"subscription": subscription},
)
_outbox_backlog = _gauge(
    "dost_outbox_backlog",
    "Outbox messages not yet acknowledged by the broker, per schema",
    lambda schema: {"schema": schema},
)
_consumer_lag = _gauge(
    "dost_consumer_lag",
    "Records of a partition a subscription has not yet committed",
    lambda key: {"subscription": key[0], "topic": key[1], "partition": str(key[2])},
)
# Keyed by (schema, kind, job): each runtime replaces its own schema's running jobs.
_job_done = _gauge(
    "dost_job_done",
    "Work a running job (a payment run, a rebuild) has done",
    lambda key: {"kind": key[1], "job": key[2]},
)
_job_total = _gauge(
    "dost_job_total",
    "Work a running job has in all, when known",
    lambda key: {"kind": key[1], "job": key[2]},
)


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
        # Consumers only: events leave through the outbox relay, and topics are created by
        # the operator's tooling, never on the fly by a subscriber.
        self.broker = KafkaBroker(
            settings.kafka_bootstrap_servers,
            client_id=f"dost-{name}",
            logger=logging.getLogger(f"dost.{name}.broker"),
            consumer_only=True,
            allow_auto_create_topics=False,
        )
        self._admin: AIOKafkaAdminClient | None = None  # readiness: does the cluster answer
        self.topics: set[str] = set()
        self.topic_problems: list[str] | None = None  # None until checked
        self.topic_check_interval = 15.0
        self._consuming = False
        self.relay = relay_for(settings, self.schema)
        self.projections = [ProjectionRunner(self.database, self.schema, p) for p in projections]
        self.consumers: dict[str, EventConsumer] = {}
        self.subscriptions: list[Subscription] = []  # for the AsyncAPI document
        self.published: list[type[EventData]] = []
        self.jobs = JobRunner(
            self.database,
            self.schema,
            {redrive.KIND: DeadLetterRedrive(self.consumers)},
            lease_seconds=settings.job_lease_seconds,
        )
        self._alongside: dict[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(
        self, consumer: EventConsumer, topics: str | Sequence[str], *, description: str
    ) -> None:
        """Run `consumer` on `topics` (and write its dead letters to their `.dlq` topics)."""
        names = [topics] if isinstance(topics, str) else list(topics)
        subscribe(self.broker, consumer, names, self.settings, description=description)
        self.consumers[consumer.subscription] = consumer
        self.subscriptions.append(
            Subscription(consumer.subscription, names, consumer.handled_models(), description)
        )
        self.topics.update(names)
        self.topics.update(dead_letter_topic(name) for name in names)

    def run_jobs_of(self, *kinds: JobKind) -> None:
        """Run the jobs of these kinds (submitted with :func:`chassis.jobs.submit`)."""
        for kind in kinds:
            self.jobs.kinds[kind.kind] = kind

    def run_alongside(
        self, name: str, loop: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
    ) -> None:
        """Run `loop(stop)` in the background while the service runs (a service's own
        worker, e.g. the notifications dispatcher); it must return soon after `stop` is set."""
        self._alongside[name] = loop

    def document_events(self, *models: type[EventData]) -> None:
        """List the events this service publishes in its AsyncAPI document. (They are
        published through the outbox, never through these FastStream publishers.)"""
        self.topics.update(model.topic for model in models)
        self.published += models
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
        self._tasks.append(asyncio.create_task(self.jobs.run(self._stop), name=f"{self.name}-jobs"))
        self._tasks += [
            asyncio.create_task(loop(self._stop), name=f"{self.name}-{name}")
            for name, loop in self._alongside.items()
        ]
        self._tasks.append(
            asyncio.create_task(self._observe_backlogs(self._stop), name=f"{self.name}-gauges")
        )
        # Consume at once when the topics are right; otherwise keep checking in the
        # background (not ready meanwhile) until an operator has created them.
        if not await self._start_consuming():
            self._tasks.append(
                asyncio.create_task(
                    self._start_consuming_when_topics_are_right(self._stop),
                    name=f"{self.name}-topics",
                )
            )

    async def stop(self) -> None:
        """Stop consuming first, then let the relay flush what it holds, then close."""
        if self._consuming:
            await self.broker.stop()
            self._consuming = False
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
            self._admin = None
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

    async def _observe_backlogs(self, stop: asyncio.Event, lag_every: int = 3) -> None:
        """Keep the gauges read when /metrics is scraped current: open dead letters, the
        outbox backlog and running jobs' progress every `METRICS_REFRESH_SECONDS`, consumer
        lag (which asks the broker) every `lag_every` refreshes."""
        interval = self.settings.metrics_refresh_s
        rounds_since_lag: int | None = None
        while not stop.is_set():
            try:
                await self._observe_database()
            except Exception:  # the database is away; the gauges keep their last values
                log.debug("could not read the backlogs of %s", self.schema)
            if self._consuming and (rounds_since_lag is None or rounds_since_lag >= lag_every):
                rounds_since_lag = 0
                try:
                    await self._observe_lag()
                except Exception:  # the broker is away; the gauge keeps its last values
                    log.debug("could not read the consumer lag of %s", self.schema)
            elif rounds_since_lag is not None:
                rounds_since_lag += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _observe_database(self) -> None:
        counts = await dead_letters.open_counts(self.database.pool, self.schema)
        for subscription in self.consumers:
            _open_dead_letters[subscription] = counts.get(subscription, 0)
        _outbox_backlog[self.schema] = await self.database.pool.fetchval(
            f"SELECT count(*) FROM {self.schema}.outbox"
        )
        running = await self.database.pool.fetch(
            f"SELECT kind, name, done, total FROM {self.schema}.jobs WHERE status = 'running'"
        )
        for gauge in (_job_done, _job_total):
            for key in [key for key in gauge if key[0] == self.schema]:
                del gauge[key]  # a finished job leaves the gauges
        for job in running:
            key = (self.schema, job["kind"], job["name"])
            _job_done[key] = job["done"]
            if job["total"] is not None:
                _job_total[key] = job["total"]

    async def _observe_lag(self) -> None:
        groups = {subscription.name: subscription.topics for subscription in self.subscriptions}
        for lag in await consumer_lag(self.settings.kafka_bootstrap_servers, groups):
            _consumer_lag[(lag.group, lag.topic, lag.partition)] = lag.lag

    async def _start_consuming_when_topics_are_right(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.topic_check_interval)
            if not stop.is_set() and await self._start_consuming():
                return

    async def _start_consuming(self) -> bool:
        """Start the subscribers if every topic the service uses is as configured; True
        once they run. What is wrong is kept for /readyz and logged once."""
        try:
            problems = await topic_problems(
                self.settings.kafka_bootstrap_servers,
                sorted(self.topics),
                TopicLayout.from_settings(self.settings),
            )
        except Exception as error:  # the broker is unreachable or refuses: not ready yet
            problems = [f"the broker could not describe the topics: {type(error).__name__}"]
        if problems != self.topic_problems:
            for problem in problems:
                log.error("%s: %s", self.name, problem)
        self.topic_problems = problems
        if problems:
            return False
        try:
            await self.broker.start()
        except Exception as error:  # e.g. a topic deleted since the check: try again later
            log.error("%s: consumers could not start: %s", self.name, type(error).__name__)
            with contextlib.suppress(Exception):
                await self.broker.stop()
            return False
        self._consuming = True
        return True

    async def _broker_answers(self) -> bool:
        try:
            async with asyncio.timeout(3):
                if self._admin is None:
                    admin = AIOKafkaAdminClient(
                        bootstrap_servers=self.settings.kafka_bootstrap_servers,
                        request_timeout_ms=3_000,
                    )
                    await admin.start()
                    self._admin = admin
                return bool(await self._admin.describe_cluster())
        except Exception:  # a broken connection is "not ready", whatever its exception type
            return False

    async def readiness(self) -> dict[str, bool]:
        """Each dependency and whether it is usable now."""
        database_ok = await ping(self.database.pool) if self._tasks else False
        background_ok = bool(self._tasks) and not any(
            task.done() for task in self._tasks if not task.get_name().endswith("-topics")
        )
        return {
            "database": database_ok,
            "broker": await self._broker_answers(),
            "topics": self.topic_problems == [],
            "consumers": self._consuming,
            "background_tasks": background_ok,
        }
