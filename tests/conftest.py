"""Session-wide real servers, and a fresh database schema per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from chassis.database import Database, migrate
from chassis.settings import ChassisSettings
from tests.infrastructure import Infrastructure, test_infrastructure


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with test_infrastructure() as servers:
        yield servers


@pytest.fixture(scope="session")
def settings(infrastructure: Infrastructure) -> ChassisSettings:
    """Shared settings for tests; short group timeouts so consumers join quickly."""
    return ChassisSettings(
        **infrastructure.environment,  # type: ignore[arg-type]
        KAFKA_SESSION_TIMEOUT_MS=2000,
        KAFKA_HEARTBEAT_INTERVAL_MS=500,
        OUTBOX_RELAY_POLL_INTERVAL=0.2,
        METRICS_REFRESH_SECONDS=1,
    )


@pytest.fixture(scope="session")
async def database(infrastructure: Infrastructure) -> AsyncIterator[Database]:
    db = Database(infrastructure.database_url, min_size=2, max_size=30)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def schema(database: Database) -> str:
    """A new, migrated schema with the chassis tables, unique to the test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, name)
    return name


@pytest.fixture
def topic_prefix() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"
