"""The servers tests talk to: embedded by default, existing ones when DATABASE_URL and
KAFKA_BOOTSTRAP_SERVERS are set, testcontainers when DOST_TEST_INFRA=containers."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from deploy.local.broker import LocalBroker
from deploy.local.postgres import LocalPostgres
from deploy.local.processes import free_port
from deploy.topics import ensure_topics


@dataclass(frozen=True)
class Infrastructure:
    database_url: str
    bootstrap_servers: str
    state_dir: Path


@contextmanager
def test_infrastructure() -> Iterator[Infrastructure]:
    """Start (or find) PostgreSQL and a Kafka-protocol broker for the whole test session."""
    state_dir = Path(tempfile.mkdtemp(prefix="dost-test-"))
    try:
        with ExitStack() as cleanup:
            mode = os.environ.get("DOST_TEST_INFRA", "embedded")
            if mode == "containers":
                database_url, bootstrap = _containers(cleanup)
            else:
                database_url = os.environ.get("DATABASE_URL") or _embedded_postgres(
                    state_dir, cleanup
                )
                bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or _embedded_broker(
                    state_dir, cleanup
                )
            asyncio.run(ensure_topics(bootstrap))
            yield Infrastructure(database_url, bootstrap, state_dir)
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
