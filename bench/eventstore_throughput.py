"""Event-store append throughput: the chassis store against the `eventsourcing` library's
PostgreSQL recorder, on the same server, same events, same batch sizes.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python -m bench.eventstore_throughput [--events 200000] [--batch 1000]

Uses DATABASE_URL if set, else starts an embedded PostgreSQL for the run. Goal (issue 2):
at least twice the library's throughput for batch appends (a payment run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from chassis.database import Database, migrate
from chassis.eventstore import EventStore, NewEvent, StreamAppend
from deploy.local.postgres import LocalPostgres
from deploy.local.processes import free_port

PAYLOAD = {"instruction_id": "x" * 36, "amount": "316.00", "period": "2026-11"}


async def chassis_batches(dsn: str, events: int, batch: int) -> float:
    database = Database(dsn, min_size=1, max_size=2)
    await database.open()
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    store = EventStore(schema)
    async with database.pool.acquire() as connection:
        await migrate(connection, schema)
        started = time.perf_counter()
        for _ in range(events // batch):
            appends = [
                StreamAppend(
                    str(uuid.uuid4()), 0, [NewEvent("payments.PaymentInstructionIssued", PAYLOAD)]
                )
                for _ in range(batch)
            ]
            async with connection.transaction():
                await store.append_batch(connection, appends)
        elapsed = time.perf_counter() - started
    await database.close()
    return events / elapsed


def eventsourcing_batches(dsn: str, events: int, batch: int) -> float:
    import json

    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    url = urlparse(dsn)
    schema = f"bench_es_{uuid.uuid4().hex[:8]}"
    datastore = PostgresDatastore(
        dbname=url.path.lstrip("/"),
        host=url.hostname or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password or "",
        schema=schema,
    )
    with datastore.get_connection() as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")  # type: ignore[arg-type]
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    started = time.perf_counter()
    for _ in range(events // batch):
        recorder.insert_events(
            [
                StoredEvent(
                    uuid.uuid4(),
                    1,
                    "payments:PaymentInstructionIssued",
                    json.dumps(PAYLOAD).encode(),  # both sides serialise every event
                )
                for _ in range(batch)
            ]
        )
    elapsed = time.perf_counter() - started
    datastore.close()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    arguments = parser.parse_args()
    server = None
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        server = LocalPostgres(
            Path(tempfile.mkdtemp(prefix="dost-bench-")) / "data", port=free_port()
        )
        dsn = server.start(fresh=True)
    try:
        ours = asyncio.run(chassis_batches(dsn, arguments.events, arguments.batch))
        theirs = eventsourcing_batches(dsn, arguments.events, arguments.batch)
    finally:
        if server is not None:
            server.stop()
    print(f"events={arguments.events} batch={arguments.batch}")
    print(f"chassis EventStore.append_batch   {ours:>10,.0f} events/s")
    print(f"eventsourcing PostgresRecorder    {theirs:>10,.0f} events/s")
    print(f"ratio                              {ours / theirs:>10.2f}x")


if __name__ == "__main__":
    main()
