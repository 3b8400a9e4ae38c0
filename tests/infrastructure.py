"""The servers tests talk to: embedded by default, existing ones when DATABASE_URL and
KAFKA_BOOTSTRAP_SERVERS are set, testcontainers when DOST_TEST_INFRA=containers."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from chassis.settings import ChassisSettings
from chassis.topics import TopicLayout
from deploy.local.broker import LocalBroker
from deploy.local.postgres import LocalPostgres
from deploy.local.processes import free_port
from deploy.local.stack import local_broker_environment
from deploy.topics import ensure_topics


@dataclass(frozen=True)
class Infrastructure:
    database_url: str
    bootstrap_servers: str
    state_dir: Path
    broker_settings: dict[str, str] = field(default_factory=dict)

    @property
    def environment(self) -> dict[str, str]:
        """What a service process needs in its environment to use these servers."""
        return {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "DOST_STATE_DIR": str(self.state_dir),
            **self.broker_settings,
        }


@contextmanager
def test_infrastructure() -> Iterator[Infrastructure]:
    """Start (or find) PostgreSQL and a Kafka-protocol broker for the whole test session."""
    state_dir = Path(tempfile.mkdtemp(prefix="dost-test-"))
    try:
        with ExitStack() as cleanup:
            mode = os.environ.get("DOST_TEST_INFRA", "embedded")
            # Single-node brokers: one copy of each topic. The embedded one also lacks the
            # idempotent producer. A broker given by KAFKA_BOOTSTRAP_SERVERS keeps whatever
            # the environment says.
            broker_settings = {
                "KAFKA_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "1",
            }
            if mode == "containers":
                database_url, bootstrap = _containers(cleanup)
            else:
                database_url = os.environ.get("DATABASE_URL") or _embedded_postgres(
                    state_dir, cleanup
                )
                bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
                if not bootstrap:
                    bootstrap = _embedded_broker(state_dir, cleanup)
                    broker_settings.update(local_broker_environment())
                else:
                    broker_settings = {}
            servers = Infrastructure(database_url, bootstrap, state_dir, broker_settings)
            layout = TopicLayout.from_settings(
                ChassisSettings(**servers.environment)  # type: ignore[arg-type]
            )
            asyncio.run(ensure_topics(bootstrap, layout=layout))
            yield servers
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def _embedded_postgres(state_dir: Path, cleanup: ExitStack) -> str:
    server = LocalPostgres(state_dir / "postgres" / "data", port=free_port())
    cleanup.callback(server.stop)
    return server.start(fresh=True)


def _embedded_broker(state_dir: Path, cleanup: ExitStack) -> str:
    broker = LocalBroker(state_dir / "broker.log", port=free_port())
    cleanup.callback(broker.stop)
    return broker.start()


def _containers(cleanup: ExitStack) -> tuple[str, str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    postgres = cleanup.enter_context(PostgresContainer("postgres:16-alpine", dbname="dost"))
    kafka = cleanup.enter_context(KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft())
    return postgres.get_connection_url(driver=None), kafka.get_bootstrap_server()
