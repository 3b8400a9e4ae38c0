"""The asyncpg pool and versioned, per-service schema migrations."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection of its own or one borrowed from the pool."""
Queryable = Connection | asyncpg.Pool
"""Anything that runs a query: a connection or the pool."""

CHASSIS_MIGRATIONS = Path(__file__).parent / "migrations"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def checked_schema(schema: str) -> str:
    """`schema` if it is a plain lower-case SQL identifier (it is interpolated into SQL)."""
    if not _IDENTIFIER.fullmatch(schema):
        raise ValueError(f"schema name {schema!r} is not a plain lower-case identifier")
    return schema


async def _init_connection(connection: asyncpg.Connection) -> None:
    # JSON columns read and write Python objects, in the binary format, so COPY (which is
    # binary) works for them as well as queries do. jsonb's binary form is a version byte.
    await connection.set_type_codec(
        "json",
        encoder=lambda value: json.dumps(value).encode(),
        decoder=lambda data: json.loads(data),
        schema="pg_catalog",
        format="binary",
    )
    await connection.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + json.dumps(value).encode(),
        decoder=lambda data: json.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections read and write JSON columns as Python objects."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60
    )
    return pool


# A long-lived connection whose peer vanishes (host died, network cut) is noticed within
# about half a minute by both ends, instead of the kernels' default two hours.
_KEEPALIVE_SETTINGS = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "30000",
}


async def connect(dsn: str, *, keepalive: bool = False) -> asyncpg.Connection:
    """One connection with the same codecs as the pool (for long-lived listeners). With
    `keepalive`, the server probes the connection and drops it soon after its peer is gone,
    and no statement may take longer than a minute."""
    connection: asyncpg.Connection = await asyncpg.connect(
        dsn,
        command_timeout=60 if keepalive else None,
        server_settings=_KEEPALIVE_SETTINGS if keepalive else None,
    )
    await _init_connection(connection)
    return connection


async def migrate(connection: Connection, schema: str, folders: Sequence[Path] = ()) -> list[str]:
    """Create `schema` and apply, once each and in order, the chassis's migrations and then
    those in `folders` (files `NNN_name.sql`, `{schema}` substituted). Safe to run from many
    replicas at once: an advisory lock serialises them. Returns the names applied now."""
    checked_schema(schema)
    applied_now: list[str] = []
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await connection.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {
            row["name"]
            for row in await connection.fetch(f"SELECT name FROM {schema}.schema_migrations")
        }
        for folder in (CHASSIS_MIGRATIONS, *folders):
            prefix = "chassis" if folder == CHASSIS_MIGRATIONS else "service"
            for script in sorted(folder.glob("*.sql")):
                name = f"{prefix}/{script.name}"
                if name in done:
                    continue
                await connection.execute(script.read_text().replace("{schema}", schema))
                await connection.execute(
                    f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", name
                )
                applied_now.append(name)
    return applied_now


class Database:
    """A service's pool, opened in the app's lifespan (nothing connects at import time)."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the database pool is not open")
        return self._pool

    async def open(self) -> None:
        if self._pool is None:
            self._pool = await create_pool(self.dsn, min_size=self.min_size, max_size=self.max_size)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def ping(pool: asyncpg.Pool) -> bool:
    """True when the database answers a trivial query."""
    try:
        async with pool.acquire(timeout=2) as connection:
            value: Any = await connection.fetchval("SELECT 1")
            return bool(value == 1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False
